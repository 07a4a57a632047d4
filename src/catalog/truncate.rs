//! Giving a relation a new relfilenode (the catalog half of PostgreSQL's
//! `RelationSetNewRelfilenode`, which TRUNCATE uses).
//!
//! The relation's pg_class row is replaced by `heap_update` as the current
//! transaction — WAL-logged like any update — with only `relfilenode` changed. So
//! other sessions keep reading the old file until the transaction commits (and then,
//! told by the invalidation queue, the new one), and an abort leaves the old row, and
//! the old file, in force. The caller (TRUNCATE) creates the new file before and
//! schedules the files' removal: the new one if the transaction aborts, the old one
//! (returned here) if it commits. This module drops the relation from this backend's
//! cache at once, so the transaction's next statement reads the new relfilenode.
//!
//! A concurrent change of the row: an update committed since the caller's snapshot
//! (another TRUNCATE) is followed along its update chain and the newest version is
//! replaced, so the file removed at commit is the one in force; a transaction still
//! changing the row is the caller's to wait for.

use crate::access::heap::heapam::{heap_fetch, heap_update, HeapUpdateResult};
use crate::access::heap::tuple::{form_tuple, CommandId, HeapTupleHeader, TransactionId};
use crate::access::heap::visibility::xid_is_normal;
use crate::error::{QuillError, QuillResult};
use crate::storage::ids::Oid;
use crate::wal::xlog::Wal;

use super::bootstrap::catalog_relfilenode;
use super::defs::{catalog_defs, Datum};
use super::lookup::{Catalog, CatalogRow, CatalogSnapshot};

/// What replacing a relation's relfilenode found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewFileOutcome {
    /// The pg_class row now names the new file; `old` is the relfilenode it named.
    Replaced { old: Oid },
    /// The relation is gone (dropped by a committed transaction, or earlier in
    /// this one). Nothing was changed.
    Gone,
    /// Another transaction, still running, deleted or changed the pg_class row: the
    /// caller may wait for it and try again. Nothing was changed.
    BeingModified(TransactionId),
}

impl Catalog<'_> {
    /// Makes relation `rel_oid`'s pg_class row name `new_relfilenode`, as
    /// transaction `xid`, command `cid` (module doc). `snap` must be the caller's
    /// snapshot with an oracle that knows `xid` as the current transaction.
    #[allow(clippy::too_many_arguments)]
    pub fn set_relfilenode(
        &mut self,
        wal: &Wal,
        snap: &CatalogSnapshot<'_>,
        rel_oid: Oid,
        new_relfilenode: Oid,
        xid: TransactionId,
        cid: CommandId,
        full_page_writes: bool,
    ) -> QuillResult<NewFileOutcome> {
        assert!(
            xid_is_normal(xid),
            "catalog rows need a normal xid, got {xid}"
        );
        let pg_class = catalog_defs().catalog("pg_class");
        let file = catalog_relfilenode(pg_class, self.db_oid());
        let rows = self.scan(pg_class, snap, |r| r.oid("oid") == rel_oid)?;
        let Some(first) = rows.into_iter().next() else {
            return Ok(NewFileOutcome::Gone);
        };
        let relfilenode_at = pg_class.column_index("relfilenode");
        let mut row: CatalogRow<'_> = first;
        // Each turn follows one committed update; a chain is finite.
        loop {
            let old = row.oid("relfilenode");
            let mut values: Vec<Datum> = row.values().to_vec();
            values[relfilenode_at] = Datum::oid(new_relfilenode);
            let heap_values: Vec<_> = values.iter().map(Datum::as_heap_value).collect();
            let header = HeapTupleHeader::for_insert(xid, cid);
            let tuple = form_tuple(&pg_class.attrs, &heap_values, &header)?;
            let result = heap_update(
                self.pool,
                wal,
                file,
                row.tid,
                &tuple,
                cid,
                snap.oracle,
                full_page_writes,
            )?;
            match result {
                HeapUpdateResult::Ok(_) => {
                    self.cache.invalidate_relation(rel_oid);
                    return Ok(NewFileOutcome::Replaced { old });
                }
                HeapUpdateResult::SelfModified | HeapUpdateResult::Deleted => {
                    return Ok(NewFileOutcome::Gone)
                }
                HeapUpdateResult::BeingModified(other) => {
                    return Ok(NewFileOutcome::BeingModified(other))
                }
                HeapUpdateResult::Updated(newer) => {
                    let Some(tuple) = heap_fetch(self.pool, file, newer)? else {
                        return Ok(NewFileOutcome::Gone);
                    };
                    row = CatalogRow::decode(pg_class, newer, &tuple)?;
                }
                HeapUpdateResult::Invisible => {
                    return Err(QuillError::internal(format!(
                        "pg_class row of relation {rel_oid} is not visible to its truncater"
                    )))
                }
            }
        }
    }
}
