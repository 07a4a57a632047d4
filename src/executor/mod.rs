//! The storage executor: the statements that read and write user tables —
//! `CREATE TABLE` (`create.rs`), `INSERT ... VALUES` (`insert.rs`), `SELECT ... FROM`
//! one table with WHERE, expressions, aggregates with GROUP BY and HAVING,
//! DISTINCT [ON], ORDER BY and LIMIT (`select.rs`), and `UPDATE` / `DELETE` with
//! PostgreSQL's READ COMMITTED handling of concurrent writers (`modify.rs`).
//!
//! Relation names resolve as in PostgreSQL: a qualified name in its schema, an
//! unqualified one through [`SEARCH_PATH`] (pg_catalog first), so SELECT reads the
//! system catalogs like any table. Catalog columns of types Quill lacks exist in
//! the scope but cannot be named (0A000); INSERT, UPDATE and DELETE refuse catalogs
//! (0A000), since the backends' catalog caches would not hear of such changes.
//!
//! The caller (the backend, through the SQL dispatch) owns the transaction: it takes
//! the statement's snapshot (with `curcid` set), hands out the xid on the first write
//! ([`XidSource`]), and commits or aborts. This module only reads the catalogs under
//! that snapshot, writes catalog and heap rows stamped with `(xid, cid)`, and formats
//! results as PostgreSQL does (texts and SQLSTATEs). Expressions are analyzed and
//! evaluated by `crate::sql` against the table's `Scope`; functions that need the
//! session (settings, `current_user`, interrupts) reach it through the
//! [`SessionContext`] the caller passes.
//!
//! # Rules
//! 1. A statement sees its snapshot only: rows it writes itself carry its `cid`,
//!    which the snapshot's `curcid` hides, so an UPDATE never re-visits the versions
//!    it created (the Halloween problem) and the scan never visits blocks added
//!    after it started.
//! 2. A row version another transaction is changing is waited for
//!    ([`crate::txn::wait`]), never overwritten; see `modify.rs` for what happens
//!    after the wait (PostgreSQL's EvalPlanQual).
//! 3. Every value written has the column's type: assignment coercion at analysis,
//!    NOT NULL checked on the whole new row before the heap is touched.
//!
//! `COPY ... FROM STDIN` / `TO STDOUT` in text format is in `copy.rs` (the
//! format itself in `copy_text.rs`); its data moves through the
//! [`crate::sql::CopyChannel`] the backend implements over the connection.
//!
//! `DROP TABLE` is in `drop.rs`, `TRUNCATE` in `truncate.rs`. A column's typmod (`ColumnInfo::typmod`, e.g.
//! `varchar(3)`) is reported in RowDescription and applied to assigned values.
//!
//! Not yet: DEFAULTs (DEFAULT in VALUES/SET means NULL, as for a column without
//! one), constraints other than NOT NULL, joins, subqueries, `RETURNING`,
//! numeric and float4 columns.

use pg_query::protobuf;
use pg_query::NodeEnum;

use crate::access::heap::tuple::{deform_tuple, form_tuple, AttrDesc, HeapTupleHeader, HeapValue};
use crate::access::heap::visibility::{Snapshot, XidStatus, XidStatusOracle};
use crate::catalog::{Catalog, CatalogSnapshot, ColumnInfo, RelationInfo};
use crate::error::{sqlstate, QuillError, QuillResult};
use crate::sql::scope::{Scope, ScopeColumn};
use crate::sql::types::SqlType;
use crate::sql::value::{Datum, OutputFormat};
use crate::sql::{QueryResult, SessionContext};
use crate::txn::snapshot::ClogOracle;

mod copy;
mod copy_text;
mod create;
mod describe;
mod drop;
mod insert;
mod modify;
mod select;
#[cfg(test)]
mod tests;
mod truncate;

/// What a storage statement runs against.
pub struct StorageContext<'a> {
    pub wal: &'a crate::wal::xlog::Wal,
    pub pool: &'a crate::storage::buffer::BufferPool,
    pub clog: &'a crate::txn::clog::Clog,
    pub db_oid: u32,
    pub full_page_writes: bool,
    /// Taken by the caller for this statement; `curcid` already set.
    pub snapshot: &'a Snapshot,
    /// The transaction's xid, 0 if it has none yet (read-only so far).
    pub my_xid: u32,
    /// Command id of this statement within the transaction.
    pub cid: u32,
    /// The whole query string the statement came from (for error positions) and
    /// its parameters.
    pub query: crate::sql::QuerySource<'a>,
    /// The session's catalog cache, kept across statements (taken and put back by
    /// each statement; an error leaves it empty, which is always safe).
    pub catalog_cache: &'a std::cell::RefCell<crate::catalog::CatCache>,
}

/// A statement's catalog handle over the session's cache: takes the cache when
/// opened and puts it back when dropped (on error paths too).
pub(super) struct SessionCatalog<'a> {
    catalog: Option<Catalog<'a>>,
    slot: &'a std::cell::RefCell<crate::catalog::CatCache>,
}

impl<'a> SessionCatalog<'a> {
    pub(super) fn open(ctx: &StorageContext<'a>) -> SessionCatalog<'a> {
        let cache = ctx.catalog_cache.take();
        SessionCatalog {
            catalog: Some(Catalog::with_cache(ctx.pool, ctx.db_oid, cache)),
            slot: ctx.catalog_cache,
        }
    }
}

impl<'a> std::ops::Deref for SessionCatalog<'a> {
    type Target = Catalog<'a>;
    fn deref(&self) -> &Catalog<'a> {
        self.catalog.as_ref().expect("catalog present until drop")
    }
}

impl<'a> std::ops::DerefMut for SessionCatalog<'a> {
    fn deref_mut(&mut self) -> &mut Catalog<'a> {
        self.catalog.as_mut().expect("catalog present until drop")
    }
}

impl Drop for SessionCatalog<'_> {
    fn drop(&mut self) {
        if let Some(catalog) = self.catalog.take() {
            self.slot.replace(catalog.into_cache());
        }
    }
}

/// Hands out the transaction's xid on its first write (the caller assigns it), and
/// waits for other transactions.
pub trait XidSource {
    fn ensure_xid(&mut self) -> QuillResult<u32>;

    /// Waits until transaction `xid` (which holds a row this statement wants) has
    /// ended; `my_xid` is ours. The default waits on the shared proc array
    /// ([`crate::txn::wait::wait_for_xid`]), checking the session's interrupts and,
    /// after its `deadlock_timeout`, for a deadlock (40P01).
    fn wait_for_xid(
        &mut self,
        my_xid: u32,
        xid: u32,
        session: &mut dyn SessionContext,
    ) -> QuillResult<()> {
        let Some(shmem) = crate::shmem::try_shmem() else {
            return Err(serialization_failure());
        };
        let timeout = deadlock_timeout(session);
        crate::txn::wait::wait_for_xid(shmem.procs(), my_xid, xid, timeout, &mut || {
            session.check_for_interrupts()
        })
    }

    /// The next OID for a new relation (the shared counter, through
    /// `crate::catalog::allocate_oid`). `None` (the default) makes CREATE TABLE pick
    /// one above every OID visible in pg_class whose file does not exist yet.
    fn next_oid(&mut self) -> QuillResult<Option<u32>> {
        Ok(None)
    }

    /// DDL's side effects at the transaction's end (`drop.rs`): `created` says CREATE
    /// TABLE made `rel`'s file (removed if the transaction aborts), otherwise DROP
    /// TABLE removed relation `relid` (its files go when the transaction commits).
    /// Either way other sessions' catalog caches hear of `relid` at commit. Sessions
    /// that cannot do this refuse DROP (the default).
    fn relation_ddl(
        &mut self,
        _relid: u32,
        _rel: crate::storage::ids::RelFileNode,
        created: bool,
    ) -> QuillResult<()> {
        if created {
            Ok(())
        } else {
            Err(unsupported("DROP TABLE"))
        }
    }

    /// Whether the transaction created `rel`'s file (COPY FREEZE's precondition).
    fn created_in_transaction(&self, _rel: crate::storage::ids::RelFileNode) -> bool {
        false
    }

    /// Sends a NOTICE to the client (e.g. DROP TABLE IF EXISTS skipping a name).
    fn notice(&mut self, _sqlstate: &'static str, _message: String) {}
}

/// Runs CREATE TABLE, INSERT, SELECT ... FROM one table, UPDATE or DELETE.
/// `session` evaluates functions that need it and is asked for interrupts while a
/// statement waits.
pub fn execute_storage_statement(
    node: &NodeEnum,
    ctx: &StorageContext<'_>,
    xids: &mut dyn XidSource,
    session: &mut dyn SessionContext,
    format: OutputFormat,
) -> QuillResult<QueryResult> {
    match node {
        NodeEnum::CreateStmt(s) => create::create_table(s, ctx, xids),
        NodeEnum::InsertStmt(s) => insert::insert(s, ctx, xids, session, format),
        NodeEnum::SelectStmt(s) => select::select(s, ctx, session, format),
        NodeEnum::UpdateStmt(s) => modify::update(s, ctx, xids, session, format),
        NodeEnum::DeleteStmt(s) => modify::delete(s, ctx, xids, session, format),
        NodeEnum::DropStmt(s) => drop::drop_statement(s, ctx, xids, session),
        NodeEnum::TruncateStmt(s) => truncate::truncate_statement(s, ctx, xids, session),
        _ => Err(unsupported("this statement on tables")),
    }
}

pub use copy::execute_copy;
pub use describe::describe_storage_statement;

/// `deadlock_timeout` as the session sees it (PostgreSQL's default, 1s, if it
/// cannot say).
fn deadlock_timeout(session: &dyn SessionContext) -> std::time::Duration {
    let ms = session
        .show_setting("deadlock_timeout")
        .ok()
        .and_then(|text| duration_ms(&text))
        .unwrap_or(1000);
    std::time::Duration::from_millis(ms)
}

/// A time setting as SHOW prints it ("1s", "200ms", "2min") in milliseconds.
fn duration_ms(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let value: u64 = text[..split].parse().ok()?;
    let factor = match text[split..].trim() {
        "" | "ms" => 1,
        "s" => 1000,
        "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    value.checked_mul(factor)
}

/// 40001, when a concurrent change cannot be waited for.
fn serialization_failure() -> QuillError {
    QuillError::new(
        sqlstate::SERIALIZATION_FAILURE,
        "could not serialize access due to concurrent update",
    )
}

pub(super) fn unsupported(what: &str) -> QuillError {
    QuillError::feature_not_supported(format!("{what} is not supported yet"))
}

pub(super) fn command(tag: String) -> QueryResult {
    QueryResult {
        columns: None,
        rows: Vec::new(),
        tag,
    }
}

pub(super) fn str_value(node: &protobuf::Node) -> &str {
    match &node.node {
        Some(NodeEnum::String(s)) => &s.sval,
        _ => "",
    }
}

/// The namespace name of a RangeVar (`public` when unqualified).
pub(super) fn schema_of(rv: &protobuf::RangeVar) -> QuillResult<&str> {
    if !rv.catalogname.is_empty() {
        return Err(unsupported("cross-database references"));
    }
    Ok(if rv.schemaname.is_empty() {
        "public"
    } else {
        &rv.schemaname
    })
}

/// PostgreSQL's namespace of the system catalogs.
pub(super) const PG_CATALOG_NAMESPACE: &str = "pg_catalog";

/// The search path for unqualified names (PostgreSQL's default, with pg_catalog
/// implicitly first; `"$user"` names no schema here). New tables go to `public`,
/// the first schema the path names explicitly.
pub(super) const SEARCH_PATH: [&str; 2] = [PG_CATALOG_NAMESPACE, "public"];

/// PostgreSQL's other namespace of system relations (`IsSystemClass`).
const PG_TOAST_NAMESPACE: &str = "pg_toast";

/// DROP and TRUNCATE of a system catalog: 42501, as PostgreSQL.
pub(super) fn refuse_system_catalog(schema: &str, rel: &RelationInfo) -> QuillResult<()> {
    if schema == PG_CATALOG_NAMESPACE || schema == PG_TOAST_NAMESPACE {
        return Err(QuillError::new(
            sqlstate::INSUFFICIENT_PRIVILEGE,
            format!("permission denied: \"{}\" is a system catalog", rel.name),
        ));
    }
    Ok(())
}

/// A statement that works on tables only, given another kind of relation: 42809.
pub(super) fn require_table(rel: &RelationInfo) -> QuillResult<()> {
    if rel.kind != b'r' {
        return Err(QuillError::new(
            "42809", // wrong_object_type
            format!("\"{}\" is not a table", rel.name),
        ));
    }
    Ok(())
}

/// The relation a RangeVar names, and the schema it was found in: a qualified
/// name in its schema, an unqualified one through [`SEARCH_PATH`].
pub(super) fn lookup_relation(
    catalog: &mut Catalog<'_>,
    snap: &CatalogSnapshot<'_>,
    rv: &protobuf::RangeVar,
    query: &str,
) -> QuillResult<(RelationInfo, String)> {
    let qualified = schema_of(rv)?;
    let schemas: &[&str] = if rv.schemaname.is_empty() {
        &SEARCH_PATH
    } else {
        std::slice::from_ref(&qualified)
    };
    for schema in schemas {
        if let Some(rel) = catalog.relation_by_name(snap, schema, &rv.relname)? {
            return Ok((rel, schema.to_string()));
        }
    }
    let shown = if rv.schemaname.is_empty() {
        rv.relname.clone()
    } else {
        format!("{}.{}", rv.schemaname, rv.relname)
    };
    Err(QuillError::new(
        sqlstate::UNDEFINED_TABLE,
        format!("relation \"{shown}\" does not exist"),
    )
    .with_position_opt(crate::sql::char_position(query, rv.location)))
}

/// The typmod of a stored column (pg_attribute.atttypmod; -1 when it has none).
pub(super) fn column_typmod(col: &ColumnInfo) -> i32 {
    col.typmod
}

/// The commit log as a modifying statement sees it: its own xid may be assigned in
/// the middle of the statement (on its first write), after the scan began.
pub(super) struct TxnOracle<'a> {
    clog: ClogOracle<'a>,
    my_xid: std::cell::Cell<u32>,
}

impl<'a> TxnOracle<'a> {
    pub(super) fn new(ctx: &StorageContext<'a>) -> TxnOracle<'a> {
        TxnOracle {
            clog: ClogOracle::new(ctx.clog, 0),
            my_xid: std::cell::Cell::new(ctx.my_xid),
        }
    }

    pub(super) fn set_my_xid(&self, xid: u32) {
        self.my_xid.set(xid);
    }
}

impl XidStatusOracle for TxnOracle<'_> {
    fn status(&self, xid: u32) -> XidStatus {
        self.clog.status(xid)
    }

    fn is_current(&self, xid: u32) -> bool {
        xid != 0 && xid == self.my_xid.get()
    }
}

/// A user table opened for a statement: its catalog entry, its columns' types, and
/// the scope its expressions resolve column names in.
pub(super) struct Table {
    pub rel: RelationInfo,
    pub types: Vec<SqlType>,
    pub attrs: Vec<AttrDesc>,
    pub scope: Scope,
}

impl Table {
    /// The column an INSERT column list or UPDATE SET item names (42703 `column
    /// "x" of relation "t" does not exist` otherwise, at the item).
    pub(super) fn target_column(
        &self,
        an: &crate::sql::analyze::Analyzer,
        t: &protobuf::ResTarget,
    ) -> QuillResult<usize> {
        self.scope.column_index(&t.name).ok_or_else(|| {
            an.at(
                QuillError::new(
                    sqlstate::UNDEFINED_COLUMN,
                    format!(
                        "column \"{}\" of relation \"{}\" does not exist",
                        t.name, self.rel.name
                    ),
                ),
                t.location,
            )
        })
    }

    /// Looks the relation up under the statement's snapshot; its alias (`FROM t AS
    /// a`) comes from `rv`. `visible`: whether expressions may name its columns
    /// (false for INSERT's target, as in PostgreSQL).
    pub(super) fn open(
        ctx: &StorageContext<'_>,
        rv: &protobuf::RangeVar,
        visible: bool,
    ) -> QuillResult<Table> {
        if !rv.inh {
            return Err(unsupported("ONLY"));
        }
        let mut catalog = SessionCatalog::open(ctx);
        let oracle = ClogOracle::new(ctx.clog, ctx.my_xid);
        let snap = CatalogSnapshot {
            snapshot: ctx.snapshot,
            oracle: &oracle,
        };
        let (rel, schema) = lookup_relation(&mut catalog, &snap, rv, ctx.query.text)?;
        drop(catalog);
        let mut types = Vec::with_capacity(rel.columns.len());
        let mut columns = Vec::with_capacity(rel.columns.len());
        for col in &rel.columns {
            // A column of a type Quill lacks (only catalogs have them) may exist
            // as long as the statement does not name it.
            let ty = SqlType::from_oid(col.type_oid);
            types.push(ty.unwrap_or(SqlType::Unknown));
            columns.push(ScopeColumn {
                name: col.name.clone(),
                ty: ty.unwrap_or(SqlType::Unknown),
                typmod: column_typmod(col),
                unsupported_type: ty.is_none().then_some(col.type_oid),
            });
        }
        let scope = Scope {
            relname: rel.name.clone(),
            schema,
            alias: rv.alias.as_ref().map(|a| a.aliasname.clone()),
            columns,
            visible,
        };
        Ok(Table {
            attrs: rel.attrs(),
            rel,
            types,
            scope,
        })
    }

    pub(super) fn node(&self, ctx: &StorageContext<'_>) -> crate::storage::ids::RelFileNode {
        self.rel.rel_file_node(ctx.db_oid)
    }

    /// A stored tuple's values, in column order (NULL for columns of types Quill
    /// lacks, which a statement cannot name).
    pub(super) fn row_of(&self, tuple: &[u8]) -> QuillResult<Vec<Datum>> {
        let values = deform_tuple(&self.attrs, tuple)?;
        values
            .into_iter()
            .zip(&self.types)
            .zip(&self.scope.columns)
            .map(|((v, ty), col)| match col.unsupported_type {
                Some(_) => Ok(Datum::Null),
                None => datum_of(v, *ty),
            })
            .collect()
    }

    /// Refuses to change a system catalog's rows (PostgreSQL lets a superuser;
    /// Quill's catalog caches would not hear of it).
    pub(super) fn check_writable(&self) -> QuillResult<()> {
        if self.scope.schema == PG_CATALOG_NAMESPACE {
            return Err(unsupported(&format!(
                "modifying system catalog \"{}\"",
                self.rel.name
            )));
        }
        Ok(())
    }

    /// A new tuple (header as for an insert by `xid`/`cid`) holding `row`.
    pub(super) fn form(&self, row: &[Datum], xid: u32, cid: u32) -> QuillResult<Vec<u8>> {
        let values = row
            .iter()
            .map(heap_value)
            .collect::<QuillResult<Vec<_>>>()?;
        let header = HeapTupleHeader::for_insert(xid, cid);
        Ok(form_tuple(&self.attrs, &values, &header)?)
    }

    /// PostgreSQL's NOT NULL check on a whole new row (23502 with the row).
    pub(super) fn check_not_null(&self, row: &[Datum], format: OutputFormat) -> QuillResult<()> {
        for (col, value) in self.rel.columns.iter().zip(row) {
            if col.not_null && value.is_null() {
                let shown: Vec<String> = row
                    .iter()
                    .map(|d| d.to_text(format).unwrap_or_else(|| "null".into()))
                    .collect();
                return Err(QuillError::new(
                    sqlstate::NOT_NULL_VIOLATION,
                    format!(
                        "null value in column \"{}\" of relation \"{}\" violates not-null constraint",
                        col.name, self.rel.name
                    ),
                )
                .with_detail(format!("Failing row contains ({}).", shown.join(", "))));
            }
        }
        Ok(())
    }
}

fn heap_value(d: &Datum) -> QuillResult<HeapValue<'_>> {
    Ok(match d {
        Datum::Null => HeapValue::Null,
        Datum::Bool(v) => HeapValue::Bool(*v),
        Datum::Int2(v) => HeapValue::Int2(*v),
        Datum::Int4(v) => HeapValue::Int4(*v),
        Datum::Int8(v) => HeapValue::Int8(*v),
        Datum::Float4(v) => HeapValue::Float4(*v),
        Datum::Float8(v) => HeapValue::Float8(*v),
        Datum::Text(s) => HeapValue::Bytes(s.as_bytes()),
        Datum::Numeric(_) => return Err(unsupported("storing numeric values")),
    })
}

fn datum_of(value: HeapValue<'_>, ty: SqlType) -> QuillResult<Datum> {
    Ok(match value {
        HeapValue::Null => Datum::Null,
        HeapValue::Bool(v) => Datum::Bool(v),
        // "char": the zero byte shows as an empty string; other bytes past
        // ASCII as PostgreSQL's charout's octal escape.
        HeapValue::Char(0) => Datum::Text(String::new()),
        HeapValue::Char(v) if v.is_ascii() => Datum::Text((v as char).to_string()),
        HeapValue::Char(v) => Datum::Text(format!("\\{v:03o}")),
        HeapValue::Int2(v) => Datum::Int2(v),
        // oid and xid are unsigned.
        HeapValue::Int4(v) if matches!(ty, SqlType::Oid | SqlType::Xid) => {
            Datum::Int8((v as u32).into())
        }
        HeapValue::Int4(v) => Datum::Int4(v),
        HeapValue::Int8(v) => Datum::Int8(v),
        HeapValue::Float4(v) => Datum::Float4(v),
        HeapValue::Float8(v) => Datum::Float8(v),
        HeapValue::Bytes(b) => {
            let b = if ty == SqlType::Name {
                let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
                &b[..end]
            } else {
                b
            };
            Datum::Text(String::from_utf8_lossy(b).into_owned())
        }
        HeapValue::Toasted(_) => return Err(unsupported("reading TOASTed values")),
    })
}
