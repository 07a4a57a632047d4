//! Reading the system catalogs: [`Catalog`], a backend's handle on one database's
//! catalogs (and the shared ones), answering `relation_by_name`, `type_by_oid`,
//! `namespace_by_name`, `database_by_name`, `role_by_name` by sequential heap scans
//! under an MVCC snapshot, through the per-backend [`CatCache`].
//!
//! **Visibility.** Catalog rows obey MVCC like any row: every lookup takes a
//! [`CatalogSnapshot`] (snapshot + transaction-status oracle, e.g. a snapshot from
//! `txn::snapshot::get_snapshot` and a `txn::snapshot::ClogOracle`), so a table
//! created by an uncommitted transaction is seen by that transaction only, and DDL is
//! transactional. Bootstrap rows are frozen and visible to every snapshot.
//!
//! **Cost.** There are no catalog indexes yet: a miss scans the catalog (pg_class,
//! then pg_attribute for the columns). The cache makes repeated lookups free.
//!
//! Locks: only buffer content locks, one page at a time, inside `heap_scan`. Callers:
//! the backend (later: the SQL layer's name resolution).

use crate::access::heap::heapam::heap_scan;
use crate::access::heap::tuple::{deform_tuple, AttrDesc, HeapValue, ItemPointer};
use crate::access::heap::visibility::{Snapshot, XidStatusOracle};
use crate::error::{sqlstate, QuillError, QuillResult};
use crate::storage::buffer::BufferPool;
use crate::storage::ids::{ForkNumber, Oid, RelFileNode};

use super::bootstrap::catalog_relfilenode;
use super::cache::{CacheStats, CatCache};
use super::defs::{attr_desc, catalog_defs, CatalogDef, Datum};

/// What a catalog lookup sees: an MVCC snapshot and who decides transaction outcomes.
#[derive(Clone, Copy)]
pub struct CatalogSnapshot<'s> {
    pub snapshot: &'s Snapshot,
    pub oracle: &'s dyn XidStatusOracle,
}

/// A pg_namespace row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceInfo {
    pub oid: Oid,
    pub name: String,
    pub owner: Oid,
}

/// One user column of a relation (a pg_attribute row with attnum > 0, not dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnInfo {
    pub name: String,
    pub type_oid: Oid,
    pub typlen: i16,
    pub typbyval: bool,
    pub typalign: u8,
    pub typstorage: u8,
    pub attnum: i16,
    /// pg_attribute.atttypmod: -1 when the type has no modifier, else e.g.
    /// `varchar(3)` → 7 (`n + VARHDRSZ`), as PostgreSQL stores it. RowDescription
    /// reports it and INSERT coerces to it.
    pub typmod: i32,
    pub not_null: bool,
}

impl ColumnInfo {
    /// How the heap's tuple code stores this column.
    pub fn attr_desc(&self) -> AttrDesc {
        attr_desc(
            self.type_oid,
            self.typlen,
            self.typbyval,
            self.typalign,
            self.typstorage,
        )
    }
}

/// A pg_class row and its columns in attnum order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationInfo {
    pub oid: Oid,
    pub name: String,
    pub relfilenode: Oid,
    pub namespace: Oid,
    /// relkind: b'r' table, b'i' index, b'v' view, …
    pub kind: u8,
    pub shared: bool,
    pub columns: Vec<ColumnInfo>,
}

impl RelationInfo {
    /// The relation's files (`db_oid` is the database of the catalog it came from).
    pub fn rel_file_node(&self, db_oid: Oid) -> RelFileNode {
        use crate::storage::ids::{DEFAULT_TABLESPACE_OID, GLOBAL_TABLESPACE_OID};
        RelFileNode {
            spc_oid: if self.shared {
                GLOBAL_TABLESPACE_OID
            } else {
                DEFAULT_TABLESPACE_OID
            },
            db_oid: if self.shared { 0 } else { db_oid },
            rel_number: self.relfilenode,
        }
    }

    /// The tuple descriptor of the relation's rows.
    pub fn attrs(&self) -> Vec<AttrDesc> {
        self.columns.iter().map(ColumnInfo::attr_desc).collect()
    }
}

/// A pg_type row (the columns Quill uses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeInfo {
    pub oid: Oid,
    pub name: String,
    pub namespace: Oid,
    pub typlen: i16,
    pub typbyval: bool,
    pub typtype: u8,
    pub typcategory: u8,
    pub typrelid: Oid,
    pub typelem: Oid,
    pub typarray: Oid,
    pub typalign: u8,
    pub typstorage: u8,
    pub typcollation: Oid,
}

/// A pg_database row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseInfo {
    pub oid: Oid,
    pub name: String,
    pub owner: Oid,
    pub is_template: bool,
    pub allow_connections: bool,
    pub tablespace: Oid,
}

/// A pg_authid row (without the password).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleInfo {
    pub oid: Oid,
    pub name: String,
    pub superuser: bool,
    pub can_login: bool,
}

/// A decoded catalog row; getters name the column (a wrong name or type is a bug in
/// this module, and panics).
pub(crate) struct CatalogRow<'d> {
    def: &'d CatalogDef,
    values: Vec<Datum>,
    /// Where the row version is, for `heap_delete` (DROP).
    pub(crate) tid: ItemPointer,
}

impl<'d> CatalogRow<'d> {
    /// The row stored in `tuple` at `tid` (a version found other than by a scan,
    /// e.g. by following an update chain).
    pub(crate) fn decode(
        def: &'d CatalogDef,
        tid: ItemPointer,
        tuple: &[u8],
    ) -> QuillResult<CatalogRow<'d>> {
        let values = deform_tuple(&def.attrs, tuple)?
            .into_iter()
            .map(|v| owned(v, def))
            .collect::<QuillResult<Vec<_>>>()?;
        Ok(CatalogRow { def, values, tid })
    }

    /// The row's values in column order.
    pub(crate) fn values(&self) -> &[Datum] {
        &self.values
    }

    fn get(&self, col: &str) -> &Datum {
        &self.values[self.def.column_index(col)]
    }

    pub(crate) fn oid(&self, col: &str) -> Oid {
        match self.get(col) {
            Datum::Int4(v) => *v as Oid,
            other => panic!("{}.{col} is not an oid: {other:?}", self.def.name),
        }
    }

    pub(crate) fn int2(&self, col: &str) -> i16 {
        match self.get(col) {
            Datum::Int2(v) => *v,
            other => panic!("{}.{col} is not an int2: {other:?}", self.def.name),
        }
    }

    pub(crate) fn int4(&self, col: &str) -> i32 {
        match self.get(col) {
            Datum::Int4(v) => *v,
            other => panic!("{}.{col} is not an int4: {other:?}", self.def.name),
        }
    }

    pub(crate) fn bool(&self, col: &str) -> bool {
        match self.get(col) {
            Datum::Bool(v) => *v,
            other => panic!("{}.{col} is not a bool: {other:?}", self.def.name),
        }
    }

    pub(crate) fn char(&self, col: &str) -> u8 {
        match self.get(col) {
            Datum::Char(v) => *v,
            other => panic!("{}.{col} is not a char: {other:?}", self.def.name),
        }
    }

    /// A `name` column, without its NUL padding.
    pub(crate) fn name(&self, col: &str) -> String {
        match self.get(col) {
            Datum::Bytes(b) => {
                let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
                String::from_utf8_lossy(&b[..end]).into_owned()
            }
            other => panic!("{}.{col} is not a name: {other:?}", self.def.name),
        }
    }
}

fn owned(value: HeapValue<'_>, def: &CatalogDef) -> QuillResult<Datum> {
    Ok(match value {
        HeapValue::Null => Datum::Null,
        HeapValue::Bool(v) => Datum::Bool(v),
        HeapValue::Char(v) => Datum::Char(v),
        HeapValue::Int2(v) => Datum::Int2(v),
        HeapValue::Int4(v) => Datum::Int4(v),
        HeapValue::Int8(v) => Datum::Int8(v),
        HeapValue::Float4(v) => Datum::Float4(v),
        HeapValue::Float8(v) => Datum::Float8(v),
        HeapValue::Bytes(b) => Datum::Bytes(b.to_vec()),
        HeapValue::Toasted(_) => {
            return Err(QuillError::new(
                sqlstate::DATA_CORRUPTED,
                format!("unexpected TOASTed value in catalog {}", def.name),
            ))
        }
    })
}

/// Every row of catalog `def` (in database `db_oid`) that `snap` sees and `keep`
/// accepts.
pub(crate) fn scan_catalog<'d>(
    pool: &BufferPool,
    def: &'d CatalogDef,
    db_oid: Oid,
    snap: &CatalogSnapshot<'_>,
    mut keep: impl FnMut(&CatalogRow<'d>) -> bool,
) -> QuillResult<Vec<CatalogRow<'d>>> {
    let rel = catalog_relfilenode(def, db_oid);
    if !pool.smgr().exists(rel, ForkNumber::Main) {
        return Err(QuillError::new(
            sqlstate::DATA_CORRUPTED,
            format!(
                "catalog {} is missing (\"{}\")",
                def.name,
                rel.relative_path(ForkNumber::Main)
            ),
        ));
    }
    let mut rows = Vec::new();
    for item in heap_scan(pool, rel, snap.snapshot, snap.oracle)? {
        let (tid, tuple) = item?;
        let values = deform_tuple(&def.attrs, &tuple)?
            .into_iter()
            .map(|v| owned(v, def))
            .collect::<QuillResult<Vec<_>>>()?;
        let row = CatalogRow { def, values, tid };
        if keep(&row) {
            rows.push(row);
        }
    }
    Ok(rows)
}

/// A backend's handle on the catalogs of database `db_oid` (module doc).
pub struct Catalog<'p> {
    pub(crate) pool: &'p BufferPool,
    db_oid: Oid,
    pub(crate) cache: CatCache,
}

impl<'p> Catalog<'p> {
    pub fn new(pool: &'p BufferPool, db_oid: Oid) -> Catalog<'p> {
        Catalog {
            pool,
            db_oid,
            cache: CatCache::default(),
        }
    }

    /// A handle that starts from (and can hand back) a cache kept across
    /// statements by the session.
    pub fn with_cache(pool: &'p BufferPool, db_oid: Oid, cache: CatCache) -> Catalog<'p> {
        Catalog {
            pool,
            db_oid,
            cache,
        }
    }

    /// The cache, to keep for the session's next statement.
    pub fn into_cache(self) -> CatCache {
        self.cache
    }

    pub fn db_oid(&self) -> Oid {
        self.db_oid
    }

    /// Drops every cached row (see `cache.rs`: call at transaction boundaries until
    /// the shared invalidation queue exists).
    pub fn invalidate_all(&mut self) {
        self.cache.invalidate_all();
    }

    pub fn cache_stats(&self) -> CacheStats {
        self.cache.stats()
    }

    pub(crate) fn scan<'d>(
        &self,
        def: &'d CatalogDef,
        snap: &CatalogSnapshot<'_>,
        keep: impl FnMut(&CatalogRow<'d>) -> bool,
    ) -> QuillResult<Vec<CatalogRow<'d>>> {
        scan_catalog(self.pool, def, self.db_oid, snap, keep)
    }

    pub fn namespace_by_name(
        &mut self,
        snap: &CatalogSnapshot<'_>,
        name: &str,
    ) -> QuillResult<Option<NamespaceInfo>> {
        if let Some(hit) = self.cache.count(self.cache.namespaces.get(name).cloned()) {
            return Ok(Some(hit));
        }
        let def = catalog_defs().catalog("pg_namespace");
        let rows = self.scan(def, snap, |r| r.name("nspname") == name)?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let info = NamespaceInfo {
            oid: row.oid("oid"),
            name: row.name("nspname"),
            owner: row.oid("nspowner"),
        };
        self.cache.namespaces.insert(name.to_string(), info.clone());
        Ok(Some(info))
    }

    /// The relation `namespace.name` with its columns, if `snap` sees it.
    pub fn relation_by_name(
        &mut self,
        snap: &CatalogSnapshot<'_>,
        namespace: &str,
        name: &str,
    ) -> QuillResult<Option<RelationInfo>> {
        let Some(ns) = self.namespace_by_name(snap, namespace)? else {
            return Ok(None);
        };
        let key = (ns.oid, name.to_string());
        if let Some(hit) = self.cache.count(self.cache.relations.get(&key).cloned()) {
            return Ok(Some(hit));
        }
        let in_pg_catalog = ns.oid == super::defs::PG_CATALOG_NAMESPACE;
        if in_pg_catalog && self.cache.absent_from_pg_catalog.contains(name) {
            return Ok(None);
        }
        let pg_class = catalog_defs().catalog("pg_class");
        let rows = self.scan(pg_class, snap, |r| {
            r.oid("relnamespace") == ns.oid && r.name("relname") == name
        })?;
        let Some(row) = rows.first() else {
            if in_pg_catalog {
                self.cache.absent_from_pg_catalog.insert(name.to_string());
            }
            return Ok(None);
        };
        let oid = row.oid("oid");
        let info = RelationInfo {
            oid,
            name: row.name("relname"),
            relfilenode: row.oid("relfilenode"),
            namespace: ns.oid,
            kind: row.char("relkind"),
            shared: row.bool("relisshared"),
            columns: self.columns_of(snap, oid)?,
        };
        self.cache.relations.insert(key, info.clone());
        Ok(Some(info))
    }

    /// The user columns of relation `relid`, in attnum order.
    fn columns_of(&self, snap: &CatalogSnapshot<'_>, relid: Oid) -> QuillResult<Vec<ColumnInfo>> {
        let pg_attribute = catalog_defs().catalog("pg_attribute");
        let rows = self.scan(pg_attribute, snap, |r| {
            r.oid("attrelid") == relid && r.int2("attnum") > 0 && !r.bool("attisdropped")
        })?;
        let mut columns: Vec<ColumnInfo> = rows
            .iter()
            .map(|r| ColumnInfo {
                name: r.name("attname"),
                type_oid: r.oid("atttypid"),
                typlen: r.int2("attlen"),
                typbyval: r.bool("attbyval"),
                typalign: r.char("attalign"),
                typstorage: r.char("attstorage"),
                attnum: r.int2("attnum"),
                typmod: r.int4("atttypmod"),
                not_null: r.bool("attnotnull"),
            })
            .collect();
        columns.sort_by_key(|c| c.attnum);
        Ok(columns)
    }

    pub fn type_by_oid(
        &mut self,
        snap: &CatalogSnapshot<'_>,
        oid: Oid,
    ) -> QuillResult<Option<TypeInfo>> {
        if let Some(hit) = self.cache.count(self.cache.types.get(&oid).cloned()) {
            return Ok(Some(hit));
        }
        let pg_type = catalog_defs().catalog("pg_type");
        let rows = self.scan(pg_type, snap, |r| r.oid("oid") == oid)?;
        let Some(r) = rows.first() else {
            return Ok(None);
        };
        let info = TypeInfo {
            oid,
            name: r.name("typname"),
            namespace: r.oid("typnamespace"),
            typlen: r.int2("typlen"),
            typbyval: r.bool("typbyval"),
            typtype: r.char("typtype"),
            typcategory: r.char("typcategory"),
            typrelid: r.oid("typrelid"),
            typelem: r.oid("typelem"),
            typarray: r.oid("typarray"),
            typalign: r.char("typalign"),
            typstorage: r.char("typstorage"),
            typcollation: r.oid("typcollation"),
        };
        self.cache.types.insert(oid, info.clone());
        Ok(Some(info))
    }

    /// The database with OID `oid`, from the shared pg_database (not cached: for
    /// the rare three-part name).
    pub fn database_by_oid(
        &mut self,
        snap: &CatalogSnapshot<'_>,
        oid: Oid,
    ) -> QuillResult<Option<DatabaseInfo>> {
        let def = catalog_defs().catalog("pg_database");
        let rows = self.scan(def, snap, |r| r.oid("oid") == oid)?;
        let Some(r) = rows.first() else {
            return Ok(None);
        };
        let name = r.name("datname");
        self.database_by_name(snap, &name)
    }

    /// A database, from the shared pg_database.
    pub fn database_by_name(
        &mut self,
        snap: &CatalogSnapshot<'_>,
        name: &str,
    ) -> QuillResult<Option<DatabaseInfo>> {
        if let Some(hit) = self.cache.count(self.cache.databases.get(name).cloned()) {
            return Ok(Some(hit));
        }
        let def = catalog_defs().catalog("pg_database");
        let rows = self.scan(def, snap, |r| r.name("datname") == name)?;
        let Some(r) = rows.first() else {
            return Ok(None);
        };
        let info = DatabaseInfo {
            oid: r.oid("oid"),
            name: r.name("datname"),
            owner: r.oid("datdba"),
            is_template: r.bool("datistemplate"),
            allow_connections: r.bool("datallowconn"),
            tablespace: r.oid("dattablespace"),
        };
        self.cache.databases.insert(name.to_string(), info.clone());
        Ok(Some(info))
    }

    /// A role, from the shared pg_authid.
    pub fn role_by_name(
        &mut self,
        snap: &CatalogSnapshot<'_>,
        name: &str,
    ) -> QuillResult<Option<RoleInfo>> {
        if let Some(hit) = self.cache.count(self.cache.roles.get(name).cloned()) {
            return Ok(Some(hit));
        }
        let def = catalog_defs().catalog("pg_authid");
        let rows = self.scan(def, snap, |r| r.name("rolname") == name)?;
        let Some(r) = rows.first() else {
            return Ok(None);
        };
        let info = RoleInfo {
            oid: r.oid("oid"),
            name: r.name("rolname"),
            superuser: r.bool("rolsuper"),
            can_login: r.bool("rolcanlogin"),
        };
        self.cache.roles.insert(name.to_string(), info.clone());
        Ok(Some(info))
    }
}
