//! Removing a relation's catalog entries (the catalog half of PostgreSQL's
//! `heap_drop_with_catalog`): its pg_class row and its pg_attribute rows are deleted
//! MVCC-style — `heap_delete` sets their xmax to the dropping transaction, WAL-logged
//! like any delete — so the relation disappears for others only when that transaction
//! commits, and comes back untouched if it aborts. (Quill writes no pg_type row for a
//! table, so there is none to delete.)
//!
//! The caller (DROP TABLE) decides what may be dropped, schedules the relation's files
//! for removal at commit and its invalidation message (`inval.rs`); this module only
//! deletes rows, and drops the relation from this backend's cache at once so the
//! transaction's next statement does not find it.

use crate::access::heap::heapam::{heap_delete, HeapUpdateResult};
use crate::access::heap::tuple::{CommandId, TransactionId};
use crate::access::heap::visibility::xid_is_normal;
use crate::error::{QuillError, QuillResult};
use crate::wal::xlog::Wal;

use super::bootstrap::catalog_relfilenode;
use super::defs::{catalog_defs, CatalogDef};
use super::lookup::{Catalog, CatalogRow, CatalogSnapshot, RelationInfo};

/// What deleting a relation's entries found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropOutcome {
    /// The rows now carry the caller's xmax.
    Deleted,
    /// The pg_class row is gone already: deleted earlier in this transaction (the
    /// same name twice in one DROP), or by a transaction that committed after the
    /// caller's snapshot. Nothing was changed.
    AlreadyGone,
    /// Another transaction, still running, deleted or changed the pg_class row: the
    /// caller may wait for it and try again. Nothing was changed.
    BeingDropped(TransactionId),
}

impl Catalog<'_> {
    /// Deletes the pg_class row and the pg_attribute rows of `rel` as transaction
    /// `xid`, command `cid` (module doc). `snap` must be the caller's snapshot with
    /// an oracle that knows `xid` as the current transaction.
    pub fn delete_relation_entries(
        &mut self,
        wal: &Wal,
        snap: &CatalogSnapshot<'_>,
        rel: &RelationInfo,
        xid: TransactionId,
        cid: CommandId,
        full_page_writes: bool,
    ) -> QuillResult<DropOutcome> {
        assert!(
            xid_is_normal(xid),
            "catalog rows need a normal xid, got {xid}"
        );
        let defs = catalog_defs();
        let pg_class = defs.catalog("pg_class");
        let class_rows = self.scan(pg_class, snap, |r| r.oid("oid") == rel.oid)?;
        let Some(class_row) = class_rows.first() else {
            return Ok(DropOutcome::AlreadyGone);
        };
        match self.delete_row(wal, snap, pg_class, class_row, xid, cid, full_page_writes)? {
            HeapUpdateResult::Ok(_) => {}
            HeapUpdateResult::SelfModified
            | HeapUpdateResult::Deleted
            | HeapUpdateResult::Updated(_) => return Ok(DropOutcome::AlreadyGone),
            HeapUpdateResult::BeingModified(other) => return Ok(DropOutcome::BeingDropped(other)),
            HeapUpdateResult::Invisible => {
                return Err(QuillError::internal(format!(
                    "pg_class row of relation {} is not visible to its dropper",
                    rel.oid
                )))
            }
        }
        // Whoever deletes the pg_class row owns the pg_attribute rows: every other
        // writer of them (a DROP, later ALTER) deletes or locks the pg_class row first.
        let pg_attribute = defs.catalog("pg_attribute");
        let attribute_rows = self.scan(pg_attribute, snap, |r| r.oid("attrelid") == rel.oid)?;
        for row in &attribute_rows {
            let result =
                self.delete_row(wal, snap, pg_attribute, row, xid, cid, full_page_writes)?;
            if !matches!(result, HeapUpdateResult::Ok(_)) {
                return Err(QuillError::internal(format!(
                    "could not delete pg_attribute row {} of relation {}: {result:?}",
                    row.tid, rel.oid
                )));
            }
        }
        self.cache.invalidate_relation(rel.oid);
        Ok(DropOutcome::Deleted)
    }

    #[allow(clippy::too_many_arguments)]
    fn delete_row(
        &self,
        wal: &Wal,
        snap: &CatalogSnapshot<'_>,
        def: &CatalogDef,
        row: &CatalogRow<'_>,
        xid: TransactionId,
        cid: CommandId,
        full_page_writes: bool,
    ) -> QuillResult<HeapUpdateResult> {
        let file = catalog_relfilenode(def, self.db_oid());
        heap_delete(
            self.pool,
            wal,
            file,
            row.tid,
            xid,
            cid,
            snap.oracle,
            full_page_writes,
        )
    }
}
