//! The system catalog (DESIGN.md §6).
//!
//! System catalogs are ordinary heap tables with PostgreSQL's names, OIDs and column
//! names, defined in `include/catalog.txt` (rules in `README.md`):
//!
//! | file | idea |
//! |---|---|
//! | `defs.rs` | parsing `include/catalog.txt`: catalogs, columns, built-in types, [`defs::Datum`] |
//! | `bootstrap.rs` | writing the catalogs as frozen heap rows into a fresh data directory |
//! | `lookup.rs` | [`lookup::Catalog`]: MVCC lookups by name/OID through the cache |
//! | `cache.rs` | the per-backend cache and its `invalidate_all` hook |
//! | `create.rs` | pg_class + pg_attribute rows for a new relation; `allocate_oid` |
//! | `drop.rs` | deleting a relation's pg_class + pg_attribute rows (DROP TABLE) |
//! | `truncate.rs` | a relation's new relfilenode in its pg_class row (TRUNCATE) |
//! | `inval.rs` | cache invalidation across backends over the shared queue |
//!
//! Callers: `quill init` (bootstrap), backends (lookups, CREATE TABLE, DROP TABLE, TRUNCATE). Locks:
//! only buffer content locks inside the heap access method, one page at a time.
//! Everything goes through the heap AM and WAL, so catalog changes are transactional
//! and crash-safe exactly like data.
//!
//! **Not wired in yet.** The server still reads the small text file below,
//! `global/pg_catalog_bootstrap`, written once by `quill init`: the bootstrap
//! superuser and the databases with PostgreSQL's OIDs (template1 = 1, template0 = 4,
//! postgres = 5). It is read-only after init, so it needs no locking.

pub mod bootstrap;
pub mod cache;
pub mod create;
pub mod defs;
pub mod drop;
#[cfg(test)]
mod drop_tests;
#[cfg(test)]
mod heap_catalog_tests;
pub mod inval;
pub mod lookup;
pub mod truncate;

pub use bootstrap::{bootstrap_catalogs, BootstrapSummary};
pub use cache::{CacheStats, CatCache};
pub use create::{allocate_oid, NewColumn, NewRelation, OidCounter, FIRST_NORMAL_OBJECT_ID};
pub use drop::DropOutcome;
pub use inval::{InvalReader, PendingInvals};
pub use lookup::{
    Catalog, CatalogSnapshot, ColumnInfo, DatabaseInfo, NamespaceInfo, RelationInfo, RoleInfo,
    TypeInfo,
};
pub use truncate::NewFileOutcome;

/// PostgreSQL's OIDs for the initial databases.
pub const TEMPLATE1_OID: u32 = 1;
pub const TEMPLATE0_OID: u32 = 4;
pub const POSTGRES_OID: u32 = 5;
