//! Writing the bootstrap catalogs into a fresh data directory (the heap-table part of
//! PostgreSQL's `initdb` bootstrap mode).
//!
//! Every catalog of `include/catalog.txt` becomes an ordinary heap relation, filled
//! through the buffer pool with [`heap_insert`], so each row is WAL-logged like any
//! data: a crash at any point after the WAL is flushed loses nothing (redo rebuilds
//! the pages, creating missing files), and no special "catalog write" path exists.
//!
//! **Rows are frozen.** Every bootstrap tuple has `xmin = FrozenTransactionId (2)`,
//! as PostgreSQL's bootstrap rows do: visible to every snapshot without consulting the
//! clog, which does not know any transaction yet.
//!
//! **Relfilenode = OID.** A bootstrap catalog's file is named after its OID
//! (`global/1262`, `base/5/1259`), PostgreSQL's initial relation mapping
//! (`pg_filenode.map`) for its mapped catalogs. Quill has no relation mapper: the
//! mapping is fixed until something rewrites a catalog (VACUUM FULL, CLUSTER), which
//! will need one. pg_class's `relfilenode` column says so (PostgreSQL stores 0 there
//! for mapped catalogs and asks the mapper; we store the answer).
//!
//! **Where.** Shared catalogs (`pg_database`, `pg_authid`) are written once, in
//! tablespace pg_global (1664, database 0, files under `global/`). The others are
//! written into every database listed in `pg_database` (template1, template0,
//! postgres), as `initdb` would by copying template1, under `base/<db>/`.
//!
//! **What is generated.** Besides the rows the file lists, pg_class gets one row per
//! catalog, pg_attribute one per catalog column (user columns only: the system
//! columns ctid, xmin, … are not listed yet), and pg_type one composite type per
//! catalog with a `rowtype` (PostgreSQL's genbki.pl does the same).
//!
//! Requires: a fresh data directory (no catalog file has blocks: bootstrapping twice
//! is an error); the caller runs it before any backend starts, then checkpoints. A
//! crash part-way leaves partial catalogs, as a crashed `initdb` does: the data
//! directory must be removed and initialized again.

use std::path::Path;

use crate::access::heap::heapam::heap_insert;
use crate::access::heap::tuple::{form_tuple, HeapTupleHeader};
use crate::access::heap::visibility::FROZEN_TRANSACTION_ID;
use crate::error::{sqlstate, QuillError, QuillResult};
use crate::storage::buffer::BufferPool;
use crate::storage::ids::{ForkNumber, Oid, RelFileNode, GLOBAL_TABLESPACE_OID};
use crate::wal::xlog::Wal;
use crate::wal::Lsn;

use super::defs::{catalog_defs, CatalogDef, CatalogDefs, Datum};

/// The file of catalog `def` in database `db_oid` (shared catalogs ignore it).
pub fn catalog_relfilenode(def: &CatalogDef, db_oid: Oid) -> RelFileNode {
    RelFileNode {
        spc_oid: def.tablespace(),
        db_oid: if def.shared { 0 } else { db_oid },
        rel_number: def.oid,
    }
}

/// What [`bootstrap_catalogs`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootstrapSummary {
    /// The databases whose per-database catalogs were written.
    pub databases: Vec<Oid>,
    pub rows_inserted: usize,
    /// WAL is flushed up to here: the catalogs survive a crash from now on.
    pub flushed_lsn: Lsn,
}

fn bootstrap_error(message: String) -> QuillError {
    QuillError::new(sqlstate::INTERNAL_ERROR, message)
}

fn io_error(what: &str, dir: &str, e: std::io::Error) -> QuillError {
    QuillError::new(
        sqlstate::IO_ERROR,
        format!("could not {what} \"{dir}\": {e}"),
    )
}

/// Writes every bootstrap catalog (module doc) with `superuser` as the bootstrap
/// superuser's name (OID 10), then flushes WAL.
pub fn bootstrap_catalogs(
    pool: &BufferPool,
    wal: &Wal,
    superuser: &str,
    full_page_writes: bool,
) -> QuillResult<BootstrapSummary> {
    let defs = catalog_defs();
    let pg_database = defs.catalog("pg_database");
    let oid_col = pg_database.column_index("oid");
    let mut databases = Vec::new();
    for row in &pg_database.rows {
        let values = pg_database
            .form_values(row, superuser)
            .map_err(bootstrap_error)?;
        let Datum::Int4(oid) = values[oid_col] else {
            return Err(bootstrap_error("pg_database row without an oid".into()));
        };
        databases.push(oid as Oid);
    }

    let io = pool.smgr().file_io();
    let mut dirs = vec!["global".to_string()];
    dirs.extend(databases.iter().map(|db| format!("base/{db}")));
    for dir in &dirs {
        io.create_dir_all(Path::new(dir))
            .map_err(|e| io_error("create directory", dir, e))?;
    }
    // Make the directories durable: redo creates missing files, not directories.
    for dir in ["global", "base", ""] {
        io.sync_dir(Path::new(dir))
            .map_err(|e| io_error("fsync directory", dir, e))?;
    }

    let mut rows_inserted = 0;
    for def in &defs.catalogs {
        let rows = catalog_rows(defs, def, superuser)?;
        let targets: Vec<Oid> = if def.shared {
            vec![0]
        } else {
            databases.clone()
        };
        for db in targets {
            let rel = catalog_relfilenode(def, db);
            rows_inserted += write_catalog(pool, wal, def, rel, &rows, full_page_writes)?;
        }
    }
    let end = wal.shared().reserved_end();
    wal.flush(end)?;
    Ok(BootstrapSummary {
        databases,
        rows_inserted,
        flushed_lsn: end,
    })
}

/// Creates `rel`'s file and inserts `rows` as frozen tuples; returns how many.
fn write_catalog(
    pool: &BufferPool,
    wal: &Wal,
    def: &CatalogDef,
    rel: RelFileNode,
    rows: &[Vec<Datum>],
    full_page_writes: bool,
) -> QuillResult<usize> {
    let smgr = pool.smgr();
    if smgr.exists(rel, ForkNumber::Main) && smgr.nblocks(rel, ForkNumber::Main)? > 0 {
        return Err(bootstrap_error(format!(
            "catalog {} already exists in \"{}\"",
            def.name,
            rel.relative_path(ForkNumber::Main)
        )));
    }
    smgr.create(rel, ForkNumber::Main)?;
    let header = HeapTupleHeader::for_insert(FROZEN_TRANSACTION_ID, 0);
    for values in rows {
        let heap_values: Vec<_> = values.iter().map(Datum::as_heap_value).collect();
        let tuple = form_tuple(&def.attrs, &heap_values, &header)?;
        heap_insert(pool, wal, rel, &tuple, full_page_writes)?;
    }
    Ok(rows.len())
}

/// Every row of `def`: the file's rows, then the generated ones (module doc).
pub fn catalog_rows(
    defs: &CatalogDefs,
    def: &CatalogDef,
    superuser: &str,
) -> QuillResult<Vec<Vec<Datum>>> {
    let mut rows = Vec::new();
    for row in &def.rows {
        rows.push(def.form_values(row, superuser).map_err(bootstrap_error)?);
    }
    let generated: Vec<Vec<(&str, Datum)>> = match def.name.as_str() {
        "pg_class" => defs.catalogs.iter().map(pg_class_fields).collect(),
        "pg_attribute" => defs
            .catalogs
            .iter()
            .flat_map(|cat| pg_attribute_fields(defs, cat))
            .collect(),
        "pg_type" => defs
            .catalogs
            .iter()
            .filter(|cat| cat.rowtype_oid != 0)
            .map(composite_type_fields)
            .collect(),
        _ => Vec::new(),
    };
    for fields in generated {
        rows.push(def.values_from(fields).map_err(bootstrap_error)?);
    }
    Ok(rows)
}

fn name(s: &str) -> Datum {
    Datum::name(s).expect("catalog names fit in a name")
}

fn pg_class_fields(cat: &CatalogDef) -> Vec<(&'static str, Datum)> {
    let tablespace = if cat.shared { GLOBAL_TABLESPACE_OID } else { 0 };
    vec![
        ("oid", Datum::oid(cat.oid)),
        ("relname", name(&cat.name)),
        ("reltype", Datum::oid(cat.rowtype_oid)),
        ("relfilenode", Datum::oid(cat.oid)),
        ("reltablespace", Datum::oid(tablespace)),
        ("relisshared", Datum::Bool(cat.shared)),
        ("relnatts", Datum::Int2(cat.columns.len() as i16)),
    ]
}

fn pg_attribute_fields(defs: &CatalogDefs, cat: &CatalogDef) -> Vec<Vec<(&'static str, Datum)>> {
    cat.columns
        .iter()
        .enumerate()
        .map(|(i, col)| {
            let collation = defs.types.get(&col.type_oid).map_or(0, |t| t.typcollation);
            vec![
                ("attrelid", Datum::oid(cat.oid)),
                ("attname", name(&col.name)),
                ("atttypid", Datum::oid(col.type_oid)),
                ("attlen", Datum::Int2(col.attr.typlen)),
                ("attnum", Datum::Int2(i as i16 + 1)),
                ("attbyval", Datum::Bool(col.typbyval)),
                ("attalign", Datum::Char(col.attr.typalign)),
                ("attstorage", Datum::Char(col.attr.typstorage)),
                ("attnotnull", Datum::Bool(!col.nullable)),
                ("attcollation", Datum::oid(collation)),
            ]
        })
        .collect()
}

fn composite_type_fields(cat: &CatalogDef) -> Vec<(&'static str, Datum)> {
    vec![
        ("oid", Datum::oid(cat.rowtype_oid)),
        ("typname", name(&cat.name)),
        ("typlen", Datum::Int2(-1)),
        ("typbyval", Datum::Bool(false)),
        ("typtype", Datum::Char(b'c')),
        ("typcategory", Datum::Char(b'C')),
        ("typrelid", Datum::oid(cat.oid)),
        ("typalign", Datum::Char(b'd')),
        ("typstorage", Datum::Char(b'x')),
    ]
}
