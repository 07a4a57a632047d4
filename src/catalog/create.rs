//! Catalog entries for a new relation (the catalog half of PostgreSQL's
//! `heap_create_with_catalog`), and OID assignment.
//!
//! [`Catalog::create_relation_entries`] inserts one pg_class row and one pg_attribute
//! row per column, stamped with the creating transaction's xid and command id: like
//! any row, they are seen by that transaction at once and by others only after it
//! commits, and an abort makes them dead. The caller (CREATE TABLE, later) assigns the
//! OID and relfilenode ([`allocate_oid`]), creates the relation's file, and handles
//! commit/abort; this module only writes catalog rows.
//!
//! **Uniqueness.** The name is checked against the pg_class rows the caller's snapshot
//! sees. Without a unique index, two transactions creating the same name concurrently
//! are not detected (PostgreSQL's `pg_class_relname_nsp_index` makes the second one
//! wait and fail); that needs catalog indexes.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::access::heap::heapam::heap_insert;
use crate::access::heap::tuple::{
    form_tuple, CommandId, HeapTupleHeader, TransactionId, MAX_HEAP_ATTRIBUTE_NUMBER,
};
use crate::access::heap::visibility::xid_is_normal;
use crate::error::{sqlstate, QuillError, QuillResult};
use crate::storage::ids::Oid;
use crate::wal::checkpoint::{next_oid_record, OID_PREFETCH};
use crate::wal::xlog::Wal;

use super::bootstrap::catalog_relfilenode;
use super::defs::{catalog_defs, CatalogDef, Datum, BOOTSTRAP_SUPERUSER_ID};
use super::lookup::{Catalog, CatalogSnapshot, ColumnInfo, RelationInfo};

// SQLSTATEs not yet in `error::sqlstate` (PostgreSQL's codes).
const NAME_TOO_LONG: &str = "42622";
const TOO_MANY_COLUMNS: &str = "54011";
const DUPLICATE_COLUMN: &str = "42701";

/// The first OID handed out after bootstrap (PostgreSQL's `FirstNormalObjectId`).
pub const FIRST_NORMAL_OBJECT_ID: Oid = 16384;

/// The shared state OIDs are handed out from: the xid generation lock (OIDs are
/// rare enough to share it), the next OID, and the limit a NEXTOID record in WAL
/// already covers.
pub struct OidCounter<'a> {
    pub lock: &'a crate::shmem::lwlock::LWLock,
    pub next_oid: &'a AtomicU32,
    pub logged_limit: &'a AtomicU32,
}

/// Hands out the next OID (PostgreSQL's `GetNewObjectId`). Before one at or above
/// the logged limit, a NEXTOID record covering [`OID_PREFETCH`] more is inserted, so
/// recovery, which replays those records, never hands out an OID already used (the
/// record needs no flush: anything made with the OID is logged after it). After
/// wraparound, values below [`FIRST_NORMAL_OBJECT_ID`] are skipped, since they
/// belong to built-in objects; uniqueness against existing objects after
/// wraparound is the caller's to check (PostgreSQL retries against the catalog's
/// OID index).
pub fn allocate_oid(counter: &OidCounter<'_>, wal: &dyn crate::txn::WalInsert) -> QuillResult<Oid> {
    let _gen = counter.lock.lock_exclusive();
    let mut oid = counter.next_oid.load(Ordering::SeqCst);
    if oid < FIRST_NORMAL_OBJECT_ID {
        oid = FIRST_NORMAL_OBJECT_ID; // wrapped, or a zeroed control region
    }
    let limit = counter.logged_limit.load(Ordering::SeqCst);
    // Covered when oid is in [limit - OID_PREFETCH, limit), wrapping included.
    if limit.wrapping_sub(oid).wrapping_sub(1) >= OID_PREFETCH {
        let new_limit = oid.wrapping_add(OID_PREFETCH);
        wal.insert(&next_oid_record(&new_limit.to_le_bytes()))?;
        counter.logged_limit.store(new_limit, Ordering::SeqCst);
    }
    counter
        .next_oid
        .store(oid.wrapping_add(1), Ordering::SeqCst);
    Ok(oid)
}

/// A column of a relation being created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewColumn {
    pub name: String,
    pub type_oid: Oid,
    /// pg_attribute.atttypmod: -1, or the type's modifier (`varchar(3)`: 7).
    pub typmod: i32,
    pub not_null: bool,
}

/// A relation being created (what CREATE TABLE has decided).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRelation {
    pub oid: Oid,
    pub relfilenode: Oid,
    pub name: String,
    pub namespace: Oid,
    /// relkind, b'r' for a table.
    pub kind: u8,
    pub owner: Oid,
    pub columns: Vec<NewColumn>,
}

impl NewRelation {
    /// A table owned by the bootstrap superuser, relfilenode = OID.
    pub fn table(oid: Oid, namespace: Oid, name: &str, columns: Vec<NewColumn>) -> NewRelation {
        NewRelation {
            oid,
            relfilenode: oid,
            name: name.to_string(),
            namespace,
            kind: b'r',
            owner: BOOTSTRAP_SUPERUSER_ID,
            columns,
        }
    }
}

fn name_datum(s: &str, what: &str) -> QuillResult<Datum> {
    Datum::name(s).map_err(|_| {
        QuillError::new(
            NAME_TOO_LONG,
            format!("{what} name \"{s}\" is too long (at most 63 bytes)"),
        )
    })
}

fn internal(e: String) -> QuillError {
    QuillError::internal(e)
}

impl Catalog<'_> {
    /// Inserts the pg_class and pg_attribute rows of `rel` as transaction `xid`,
    /// command `cid` (module doc), after checking the name, the columns and their
    /// types under `snap`. Returns the relation as lookups will describe it.
    pub fn create_relation_entries(
        &mut self,
        wal: &Wal,
        snap: &CatalogSnapshot<'_>,
        rel: &NewRelation,
        xid: TransactionId,
        cid: CommandId,
        full_page_writes: bool,
    ) -> QuillResult<RelationInfo> {
        assert!(
            xid_is_normal(xid),
            "catalog rows need a normal xid, got {xid}"
        );
        let info = self.check_new_relation(snap, rel)?;
        let defs = catalog_defs();
        let pg_class = defs.catalog("pg_class");
        let class_row = pg_class
            .values_from(vec![
                ("oid", Datum::oid(rel.oid)),
                ("relname", name_datum(&rel.name, "relation")?),
                ("relnamespace", Datum::oid(rel.namespace)),
                ("relowner", Datum::oid(rel.owner)),
                ("relfilenode", Datum::oid(rel.relfilenode)),
                ("relkind", Datum::Char(rel.kind)),
                ("relnatts", Datum::Int2(rel.columns.len() as i16)),
            ])
            .map_err(internal)?;
        let pg_attribute = defs.catalog("pg_attribute");
        let mut attribute_rows = Vec::new();
        for (col, new) in info.columns.iter().zip(&rel.columns) {
            let collation = self
                .type_by_oid(snap, col.type_oid)?
                .map_or(0, |t| t.typcollation);
            let row = pg_attribute
                .values_from(vec![
                    ("attrelid", Datum::oid(rel.oid)),
                    ("attname", name_datum(&new.name, "column")?),
                    ("atttypid", Datum::oid(col.type_oid)),
                    ("attlen", Datum::Int2(col.typlen)),
                    ("attnum", Datum::Int2(col.attnum)),
                    ("atttypmod", Datum::Int4(col.typmod)),
                    ("attbyval", Datum::Bool(col.typbyval)),
                    ("attalign", Datum::Char(col.typalign)),
                    ("attstorage", Datum::Char(col.typstorage)),
                    ("attnotnull", Datum::Bool(col.not_null)),
                    ("attcollation", Datum::oid(collation)),
                ])
                .map_err(internal)?;
            attribute_rows.push(row);
        }
        let header = HeapTupleHeader::for_insert(xid, cid);
        self.insert_row(wal, pg_class, &class_row, &header, full_page_writes)?;
        for row in &attribute_rows {
            self.insert_row(wal, pg_attribute, row, &header, full_page_writes)?;
        }
        Ok(info)
    }

    fn insert_row(
        &self,
        wal: &Wal,
        def: &CatalogDef,
        values: &[Datum],
        header: &HeapTupleHeader,
        full_page_writes: bool,
    ) -> QuillResult<()> {
        let heap_values: Vec<_> = values.iter().map(Datum::as_heap_value).collect();
        let tuple = form_tuple(&def.attrs, &heap_values, header)?;
        let rel = catalog_relfilenode(def, self.db_oid());
        heap_insert(self.pool, wal, rel, &tuple, full_page_writes)?;
        Ok(())
    }

    /// Checks `rel` before anything is written; returns its description.
    fn check_new_relation(
        &mut self,
        snap: &CatalogSnapshot<'_>,
        rel: &NewRelation,
    ) -> QuillResult<RelationInfo> {
        name_datum(&rel.name, "relation")?;
        if rel.columns.len() > MAX_HEAP_ATTRIBUTE_NUMBER {
            return Err(QuillError::new(
                TOO_MANY_COLUMNS,
                format!("tables can have at most {MAX_HEAP_ATTRIBUTE_NUMBER} columns"),
            ));
        }
        let pg_class = catalog_defs().catalog("pg_class");
        let clash = self.scan(pg_class, snap, |r| {
            r.oid("relnamespace") == rel.namespace && r.name("relname") == rel.name
        })?;
        if !clash.is_empty() {
            return Err(QuillError::new(
                sqlstate::DUPLICATE_TABLE,
                format!("relation \"{}\" already exists", rel.name),
            ));
        }
        let mut columns = Vec::new();
        for (i, col) in rel.columns.iter().enumerate() {
            name_datum(&col.name, "column")?;
            if rel.columns[..i].iter().any(|c| c.name == col.name) {
                return Err(QuillError::new(
                    DUPLICATE_COLUMN,
                    format!("column \"{}\" specified more than once", col.name),
                ));
            }
            let ty = self.type_by_oid(snap, col.type_oid)?.ok_or_else(|| {
                QuillError::new(
                    sqlstate::UNDEFINED_OBJECT,
                    format!("type with OID {} does not exist", col.type_oid),
                )
            })?;
            columns.push(ColumnInfo {
                name: col.name.clone(),
                type_oid: ty.oid,
                typlen: ty.typlen,
                typbyval: ty.typbyval,
                typalign: ty.typalign,
                typstorage: ty.typstorage,
                attnum: i as i16 + 1,
                typmod: col.typmod,
                not_null: col.not_null,
            });
        }
        Ok(RelationInfo {
            oid: rel.oid,
            name: rel.name.clone(),
            relfilenode: rel.relfilenode,
            namespace: rel.namespace,
            kind: rel.kind,
            shared: false,
            columns,
        })
    }
}
