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
//! | `create.rs` | pg_class + pg_attribute rows for a new relation; `next_oid` |
//!
//! Callers: `quill init` (bootstrap), backends (lookups; CREATE TABLE later). Locks:
//! only buffer content locks inside the heap access method, one page at a time.
//! Everything goes through the heap AM and WAL, so catalog changes are transactional
//! and crash-safe exactly like data.
//!
//! **Not wired in yet.** The server still reads the small text file below,
//! `global/pg_catalog_bootstrap`, written once by `quill init`: the bootstrap
//! superuser and the databases with PostgreSQL's OIDs (template1 = 1, template0 = 4,
//! postgres = 5). It is read-only after init, so it needs no locking.
//! [`BootstrapCatalog`] stays until the backend reads pg_database/pg_authid instead.

use std::path::Path;

pub mod bootstrap;
pub mod cache;
pub mod create;
pub mod defs;
#[cfg(test)]
mod heap_catalog_tests;
pub mod lookup;

pub use bootstrap::{bootstrap_catalogs, BootstrapSummary};
pub use cache::CacheStats;
pub use create::{next_oid, NewColumn, NewRelation, FIRST_NORMAL_OBJECT_ID};
pub use lookup::{
    Catalog, CatalogSnapshot, ColumnInfo, DatabaseInfo, NamespaceInfo, RelationInfo, RoleInfo,
    TypeInfo,
};

pub const BOOTSTRAP_FILE: &str = "global/pg_catalog_bootstrap";

/// PostgreSQL's OIDs for the initial databases.
pub const TEMPLATE1_OID: u32 = 1;
pub const TEMPLATE0_OID: u32 = 4;
pub const POSTGRES_OID: u32 = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootstrapCatalog {
    pub superuser: String,
    pub databases: Vec<(u32, String)>,
}

impl BootstrapCatalog {
    pub fn initial(superuser: &str) -> BootstrapCatalog {
        BootstrapCatalog {
            superuser: superuser.to_string(),
            databases: vec![
                (TEMPLATE1_OID, "template1".into()),
                (TEMPLATE0_OID, "template0".into()),
                (POSTGRES_OID, "postgres".into()),
            ],
        }
    }

    pub fn to_text(&self) -> String {
        let mut text = format!("role {}\n", self.superuser);
        for (oid, name) in &self.databases {
            text.push_str(&format!("database {oid} {name}\n"));
        }
        text
    }

    pub fn parse(text: &str) -> Option<BootstrapCatalog> {
        let mut superuser = None;
        let mut databases = Vec::new();
        for line in text.lines() {
            match line.split_once(' ')? {
                ("role", name) => superuser = Some(name.to_string()),
                ("database", rest) => {
                    let (oid, name) = rest.split_once(' ')?;
                    databases.push((oid.parse().ok()?, name.to_string()));
                }
                _ => return None,
            }
        }
        Some(BootstrapCatalog {
            superuser: superuser?,
            databases,
        })
    }

    pub fn load(data_dir: &Path) -> std::io::Result<BootstrapCatalog> {
        let path = data_dir.join(BOOTSTRAP_FILE);
        let text = std::fs::read_to_string(&path)?;
        BootstrapCatalog::parse(&text).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("invalid catalog file \"{}\"", path.display()),
            )
        })
    }

    pub fn database_oid(&self, name: &str) -> Option<u32> {
        self.databases
            .iter()
            .find(|(_, n)| n == name)
            .map(|(oid, _)| *oid)
    }

    pub fn role_exists(&self, name: &str) -> bool {
        self.superuser == name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_text() {
        let c = BootstrapCatalog::initial("alice");
        assert_eq!(BootstrapCatalog::parse(&c.to_text()), Some(c.clone()));
        assert_eq!(c.database_oid("postgres"), Some(POSTGRES_OID));
        assert!(c.role_exists("alice") && !c.role_exists("bob"));
        assert_eq!(BootstrapCatalog::parse("junk"), None);
    }
}
