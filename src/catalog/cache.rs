//! The per-backend catalog cache (a small PostgreSQL `catcache`/`relcache`): catalog
//! rows already looked up, by the keys the lookups use.
//!
//! **Only positive answers are cached.** A lookup that finds nothing is not
//! remembered, so a relation created by a transaction that commits later is found by
//! the next lookup whose snapshot sees it, without any message.
//!
//! **Invalidation.** A cached row may become stale when another transaction changes
//! the catalog (DROP, ALTER, a rename). As in PostgreSQL, the committing transaction
//! sends invalidation messages through a shared queue and every backend drops the
//! affected entries ([`CatCache::invalidate_relation`], or everything with
//! [`CatCache::invalidate_all`]) before its next statement's lookups: the protocol is
//! in `inval.rs`. A transaction's own uncommitted rows may be cached while it runs;
//! its own DROP removes the entry at once, and an abort resets the whole cache.

use std::collections::HashMap;

use crate::storage::ids::Oid;

use super::lookup::{DatabaseInfo, NamespaceInfo, RelationInfo, RoleInfo, TypeInfo};

/// Cached catalog rows of one backend. Not shared: no locking.
#[derive(Debug, Default)]
pub struct CatCache {
    pub(crate) namespaces: HashMap<String, NamespaceInfo>,
    /// By (namespace OID, relation name).
    pub(crate) relations: HashMap<(Oid, String), RelationInfo>,
    /// Names known to be absent from pg_catalog. Nothing adds a relation there
    /// after `quill init` (CREATE TABLE refuses it, as PostgreSQL does), so these
    /// never go stale; they spare every unqualified name, which the search path
    /// looks up in pg_catalog first, a scan of pg_class.
    pub(crate) absent_from_pg_catalog: std::collections::HashSet<String>,
    pub(crate) types: HashMap<Oid, TypeInfo>,
    pub(crate) databases: HashMap<String, DatabaseInfo>,
    pub(crate) roles: HashMap<String, RoleInfo>,
    hits: u64,
    misses: u64,
}

/// Counters, for tests and monitoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub entries: usize,
}

impl CatCache {
    /// Drops every entry (module doc: the hook the invalidation queue will call).
    pub fn invalidate_all(&mut self) {
        self.namespaces.clear();
        self.relations.clear();
        self.absent_from_pg_catalog.clear();
        self.types.clear();
        self.databases.clear();
        self.roles.clear();
    }

    /// Drops the entries of relation `rel_oid` (an invalidation message, or this
    /// backend's own DROP).
    pub fn invalidate_relation(&mut self, rel_oid: Oid) {
        self.relations.retain(|_, rel| rel.oid != rel_oid);
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits,
            misses: self.misses,
            entries: self.namespaces.len()
                + self.relations.len()
                + self.types.len()
                + self.databases.len()
                + self.roles.len(),
        }
    }

    /// Counts a lookup's outcome and passes the cached value through.
    pub(crate) fn count<T>(&mut self, found: Option<T>) -> Option<T> {
        if found.is_some() {
            self.hits += 1;
        } else {
            self.misses += 1;
        }
        found
    }
}
