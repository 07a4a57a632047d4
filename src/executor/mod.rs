//! The storage executor: the first statements that read and write user tables —
//! `CREATE TABLE`, `DROP TABLE` (`drop.rs`), `INSERT ... VALUES` and `SELECT ... FROM`
//! one table (no WHERE yet).
//!
//! The caller (the backend, through the SQL dispatch) owns the transaction: it takes
//! the statement's snapshot (with `curcid` set), hands out the xid on the first write
//! ([`XidSource`]), and commits or aborts. This module only reads the catalogs under
//! that snapshot, writes catalog and heap rows stamped with `(xid, cid)`, and formats
//! results as PostgreSQL does (texts and SQLSTATEs).
//!
//! Not yet: WHERE, expressions beyond constants in VALUES, DEFAULTs, constraints other
//! than NOT NULL, numeric, float4, char(n) columns. A column's typmod
//! (`ColumnInfo::typmod`, e.g. `varchar(3)`) is reported in RowDescription and applied
//! to values INSERT assigns.

use pg_query::protobuf::{self, a_const, ConstrType};
use pg_query::NodeEnum;

use crate::access::heap::heapam::{heap_insert, heap_scan};
use crate::access::heap::tuple::{deform_tuple, form_tuple, HeapTupleHeader, HeapValue};
use crate::access::heap::visibility::Snapshot;
use crate::catalog::{
    Catalog, CatalogSnapshot, NewColumn, NewRelation, RelationInfo, FIRST_NORMAL_OBJECT_ID,
};
use crate::error::{sqlstate, QuillError, QuillResult};
use crate::sql::types::SqlType;
use crate::sql::value::{datum_from_text, Datum, OutputFormat};
use crate::sql::{Column, QueryResult};
use crate::storage::ids::ForkNumber;
use crate::txn::snapshot::ClogOracle;

mod drop;
#[cfg(test)]
mod tests;

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
    /// The whole query string the statement came from, for error positions.
    pub query: &'a str,
    /// The session's catalog cache, kept across statements (taken and put back by
    /// each statement; an error leaves it empty, which is always safe).
    pub catalog_cache: &'a std::cell::RefCell<crate::catalog::CatCache>,
}

/// A statement's catalog handle over the session's cache: takes the cache when
/// opened and puts it back when dropped (on error paths too).
struct SessionCatalog<'a> {
    catalog: Option<Catalog<'a>>,
    slot: &'a std::cell::RefCell<crate::catalog::CatCache>,
}

impl<'a> SessionCatalog<'a> {
    fn open(ctx: &StorageContext<'a>) -> SessionCatalog<'a> {
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

/// Hands out the transaction's xid on its first write (the caller assigns it).
pub trait XidSource {
    fn ensure_xid(&mut self) -> QuillResult<u32>;

    /// The next OID for a new relation (the shared `next_oid` counter through
    /// `crate::catalog::next_oid`). `None` (the default) makes CREATE TABLE pick one
    /// above every OID visible in pg_class whose file does not exist yet.
    fn next_oid(&mut self) -> Option<u32> {
        None
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

    /// Sends a NOTICE to the client (e.g. DROP TABLE IF EXISTS skipping a name).
    fn notice(&mut self, _sqlstate: &'static str, _message: String) {}
}

/// Runs CREATE TABLE, INSERT ... VALUES, or SELECT ... FROM one table.
pub fn execute_storage_statement(
    node: &NodeEnum,
    ctx: &StorageContext<'_>,
    xids: &mut dyn XidSource,
    format: OutputFormat,
) -> QuillResult<QueryResult> {
    match node {
        NodeEnum::CreateStmt(s) => create_table(s, ctx, xids),
        NodeEnum::InsertStmt(s) => insert(s, ctx, xids),
        NodeEnum::SelectStmt(s) => select(s, ctx, format),
        NodeEnum::DropStmt(s) => drop::drop_statement(s, ctx, xids),
        _ => Err(unsupported("this statement on tables")),
    }
}

fn unsupported(what: &str) -> QuillError {
    QuillError::feature_not_supported(format!("{what} is not supported yet"))
}

fn command(tag: String) -> QueryResult {
    QueryResult {
        columns: None,
        rows: Vec::new(),
        tag,
    }
}

fn str_value(node: &protobuf::Node) -> &str {
    match &node.node {
        Some(NodeEnum::String(s)) => &s.sval,
        _ => "",
    }
}

/// The namespace name of a RangeVar (`public` when unqualified).
fn schema_of(rv: &protobuf::RangeVar) -> QuillResult<&str> {
    if !rv.catalogname.is_empty() {
        return Err(unsupported("cross-database references"));
    }
    Ok(if rv.schemaname.is_empty() {
        "public"
    } else {
        &rv.schemaname
    })
}

fn lookup_relation(
    catalog: &mut Catalog<'_>,
    snap: &CatalogSnapshot<'_>,
    rv: &protobuf::RangeVar,
    query: &str,
) -> QuillResult<RelationInfo> {
    let schema = schema_of(rv)?;
    let shown = if rv.schemaname.is_empty() {
        rv.relname.clone()
    } else {
        format!("{}.{}", rv.schemaname, rv.relname)
    };
    catalog
        .relation_by_name(snap, schema, &rv.relname)?
        .ok_or_else(|| {
            QuillError::new(
                sqlstate::UNDEFINED_TABLE,
                format!("relation \"{shown}\" does not exist"),
            )
            .with_position_opt(crate::sql::char_position(query, rv.location))
        })
}

// ------------------------------------------------------------------ CREATE TABLE

/// The column types a table may have, and their typmod.
fn column_type(t: &protobuf::TypeName) -> QuillResult<(SqlType, i32)> {
    let names: Vec<&str> = t.names.iter().map(str_value).collect();
    let last = names.last().copied().unwrap_or("");
    let qualified = names.len() > 1 && names[0] != "pg_catalog";
    let ty = SqlType::from_sql_name(last).filter(|_| !qualified);
    let Some(ty) = ty else {
        return Err(QuillError::new(
            sqlstate::UNDEFINED_OBJECT,
            format!("type \"{}\" does not exist", names.join(".")),
        ));
    };
    if t.setof || t.pct_type {
        return Err(unsupported("%TYPE and SETOF"));
    }
    if !t.array_bounds.is_empty() {
        return Err(QuillError::feature_not_supported(
            "arrays are not supported yet",
        ));
    }
    match ty {
        SqlType::Bool
        | SqlType::Int2
        | SqlType::Int4
        | SqlType::Int8
        | SqlType::Float8
        | SqlType::Text
        | SqlType::Varchar => {}
        other => {
            return Err(QuillError::feature_not_supported(format!(
                "columns of type {} are not supported yet",
                other.display_name()
            )))
        }
    }
    let mut typmod = -1;
    if !t.typmods.is_empty() {
        let mods: Vec<Option<i32>> = t
            .typmods
            .iter()
            .map(|m| match &m.node {
                Some(NodeEnum::AConst(protobuf::AConst {
                    val: Some(a_const::Val::Ival(i)),
                    ..
                })) => Some(i.ival),
                _ => None,
            })
            .collect();
        match (ty, mods.as_slice()) {
            (SqlType::Varchar, &[Some(n)]) => {
                if n < 1 {
                    return Err(QuillError::new(
                        sqlstate::INVALID_PARAMETER_VALUE,
                        "length for type varchar must be at least 1",
                    ));
                }
                if n > crate::sql::types::MAX_CHAR_LENGTH {
                    return Err(QuillError::new(
                        sqlstate::INVALID_PARAMETER_VALUE,
                        format!(
                            "length for type varchar cannot exceed {}",
                            crate::sql::types::MAX_CHAR_LENGTH
                        ),
                    ));
                }
                typmod = crate::sql::types::char_typmod(n);
            }
            (SqlType::Varchar, _) => {
                return Err(QuillError::new(
                    sqlstate::SYNTAX_ERROR,
                    "invalid type modifier",
                ))
            }
            _ => {
                return Err(QuillError::new(
                    sqlstate::SYNTAX_ERROR,
                    format!("type modifier is not allowed for type \"{last}\""),
                ))
            }
        }
    }
    Ok((ty, typmod))
}

fn create_table(
    s: &protobuf::CreateStmt,
    ctx: &StorageContext<'_>,
    xids: &mut dyn XidSource,
) -> QuillResult<QueryResult> {
    let rv = s
        .relation
        .as_ref()
        .ok_or_else(|| QuillError::internal("CREATE TABLE without a relation"))?;
    if rv.relpersistence != "p" && !rv.relpersistence.is_empty() {
        return Err(unsupported("CREATE TEMPORARY/UNLOGGED TABLE"));
    }
    if !s.inh_relations.is_empty() {
        return Err(unsupported("INHERITS"));
    }
    if s.partspec.is_some() || s.partbound.is_some() {
        return Err(unsupported("partitioned tables"));
    }
    if s.of_typename.is_some() {
        return Err(unsupported("CREATE TABLE OF"));
    }
    if !s.options.is_empty() || !s.tablespacename.is_empty() || !s.access_method.is_empty() {
        return Err(unsupported("CREATE TABLE storage options"));
    }
    if !s.constraints.is_empty() {
        return Err(unsupported("table constraints"));
    }
    let mut columns = Vec::new();
    for elt in &s.table_elts {
        match &elt.node {
            Some(NodeEnum::ColumnDef(c)) => {
                let t = c
                    .type_name
                    .as_ref()
                    .ok_or_else(|| QuillError::internal("column without a type"))?;
                let (ty, typmod) = column_type(t)?;
                let mut not_null = c.is_not_null;
                for con in &c.constraints {
                    let Some(NodeEnum::Constraint(con)) = &con.node else {
                        continue;
                    };
                    match con.contype() {
                        ConstrType::ConstrNotnull => not_null = true,
                        ConstrType::ConstrNull => {}
                        ConstrType::ConstrPrimary => return Err(unsupported("PRIMARY KEY")),
                        ConstrType::ConstrUnique => return Err(unsupported("UNIQUE")),
                        ConstrType::ConstrDefault => return Err(unsupported("DEFAULT")),
                        ConstrType::ConstrCheck => return Err(unsupported("CHECK")),
                        ConstrType::ConstrForeign => return Err(unsupported("REFERENCES")),
                        _ => return Err(unsupported("this column constraint")),
                    }
                }
                if c.raw_default.is_some() || c.cooked_default.is_some() {
                    return Err(unsupported("DEFAULT"));
                }
                columns.push(NewColumn {
                    name: c.colname.clone(),
                    type_oid: ty.oid(),
                    typmod,
                    not_null,
                });
            }
            Some(NodeEnum::Constraint(_)) => return Err(unsupported("table constraints")),
            _ => return Err(unsupported("LIKE and other table elements")),
        }
    }

    let schema = schema_of(rv)?;
    let mut catalog = SessionCatalog::open(ctx);
    let read_oracle = ClogOracle::new(ctx.clog, ctx.my_xid);
    let read_snap = CatalogSnapshot {
        snapshot: ctx.snapshot,
        oracle: &read_oracle,
    };
    let ns = catalog
        .namespace_by_name(&read_snap, schema)?
        .ok_or_else(|| {
            QuillError::new(
                sqlstate::INVALID_SCHEMA_NAME,
                format!("schema \"{schema}\" does not exist"),
            )
        })?;
    if s.if_not_exists
        && catalog
            .relation_by_name(&read_snap, schema, &rv.relname)?
            .is_some()
    {
        // PostgreSQL adds NOTICE: relation "t" already exists, skipping.
        return Ok(command("CREATE TABLE".to_string()));
    }

    let xid = xids.ensure_xid()?;
    let oracle = ClogOracle::new(ctx.clog, xid);
    let snap = CatalogSnapshot {
        snapshot: ctx.snapshot,
        oracle: &oracle,
    };
    let oid = match xids.next_oid() {
        Some(oid) => oid,
        None => pick_oid(ctx, &snap)?,
    };
    let new = NewRelation::table(oid, ns.oid, &rv.relname, columns);
    let info = catalog.create_relation_entries(
        ctx.wal,
        &snap,
        &new,
        xid,
        ctx.cid,
        ctx.full_page_writes,
    )?;
    let node = info.rel_file_node(ctx.db_oid);
    if !ctx.pool.smgr().exists(node, ForkNumber::Main) {
        ctx.pool.smgr().create(node, ForkNumber::Main)?;
    }
    xids.relation_ddl(info.oid, node, true)?;
    Ok(command("CREATE TABLE".to_string()))
}

/// An OID above every one pg_class shows us (and above what this process handed out),
/// whose relation file does not exist yet. Used only without a shared OID counter.
fn pick_oid(ctx: &StorageContext<'_>, snap: &CatalogSnapshot<'_>) -> QuillResult<u32> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static LAST: AtomicU32 = AtomicU32::new(0);
    let pg_class = crate::catalog::defs::catalog_defs().catalog("pg_class");
    let mut max = FIRST_NORMAL_OBJECT_ID - 1;
    crate::catalog::lookup::scan_catalog(ctx.pool, pg_class, ctx.db_oid, snap, |r| {
        max = max.max(r.oid("oid")).max(r.oid("relfilenode"));
        false
    })?;
    let mut oid = max.max(LAST.load(Ordering::SeqCst)) + 1;
    loop {
        let node = crate::storage::ids::RelFileNode {
            spc_oid: crate::storage::ids::DEFAULT_TABLESPACE_OID,
            db_oid: ctx.db_oid,
            rel_number: oid,
        };
        if !ctx.pool.smgr().exists(node, ForkNumber::Main) {
            break;
        }
        oid += 1;
    }
    LAST.fetch_max(oid, Ordering::SeqCst);
    Ok(oid)
}

// ------------------------------------------------------------------ INSERT

/// A constant's type as PostgreSQL's parser sees it before assignment.
#[derive(Clone, Copy, PartialEq)]
enum ConstKind {
    Null,
    /// An integer literal (int4, or int8/numeric when larger).
    Integer,
    /// A decimal literal (numeric).
    Decimal,
    Bool,
    /// A string literal: unknown, takes the column's type.
    Unknown,
    Typed(SqlType),
}

/// A constant from VALUES, as text for the column type's input function.
fn constant(node: &protobuf::Node) -> QuillResult<(ConstKind, Option<String>)> {
    match &node.node {
        Some(NodeEnum::AConst(c)) => {
            if c.isnull {
                return Ok((ConstKind::Null, None));
            }
            Ok(match &c.val {
                Some(a_const::Val::Ival(i)) => (ConstKind::Integer, Some(i.ival.to_string())),
                Some(a_const::Val::Fval(f)) => {
                    let integer = f
                        .fval
                        .trim_start_matches('-')
                        .bytes()
                        .all(|b| b.is_ascii_digit());
                    let kind = if integer {
                        ConstKind::Integer
                    } else {
                        ConstKind::Decimal
                    };
                    (kind, Some(f.fval.clone()))
                }
                Some(a_const::Val::Sval(s)) => (ConstKind::Unknown, Some(s.sval.clone())),
                Some(a_const::Val::Boolval(b)) => (
                    ConstKind::Bool,
                    Some(if b.boolval { "true" } else { "false" }.to_string()),
                ),
                Some(a_const::Val::Bsval(_)) => return Err(unsupported("bit strings")),
                None => (ConstKind::Null, None),
            })
        }
        Some(NodeEnum::TypeCast(tc)) => {
            let arg = tc
                .arg
                .as_deref()
                .ok_or_else(|| QuillError::internal("cast without an argument"))?;
            let (_, text) = constant(arg)?;
            let t = tc
                .type_name
                .as_ref()
                .ok_or_else(|| QuillError::internal("cast without a type"))?;
            let (ty, typmod) = cast_type(t)?;
            let Some(text) = text else {
                return Ok((ConstKind::Typed(ty), None));
            };
            let datum = datum_from_text(ty, typmod, &text)?;
            Ok((
                ConstKind::Typed(ty),
                datum.to_text(OutputFormat {
                    extra_float_digits: 3,
                }),
            ))
        }
        Some(NodeEnum::AExpr(e))
            if e.kind() == protobuf::AExprKind::AexprOp
                && e.lexpr.is_none()
                && e.name.len() == 1
                && str_value(&e.name[0]) == "-" =>
        {
            let arg = e
                .rexpr
                .as_deref()
                .ok_or_else(|| QuillError::internal("unary minus without an operand"))?;
            match constant(arg)? {
                (k @ (ConstKind::Integer | ConstKind::Decimal), Some(t)) => {
                    let negated = match t.strip_prefix('-') {
                        Some(rest) => rest.to_string(),
                        None => format!("-{t}"),
                    };
                    Ok((k, Some(negated)))
                }
                _ => Err(unsupported("expressions in VALUES")),
            }
        }
        Some(NodeEnum::SetToDefault(_)) => Ok((ConstKind::Null, None)),
        _ => Err(QuillError::feature_not_supported(
            "only constants are supported in INSERT ... VALUES yet",
        )),
    }
}

/// A cast's target type: any type the SQL module knows (not only column types).
fn cast_type(t: &protobuf::TypeName) -> QuillResult<(SqlType, i32)> {
    let names: Vec<&str> = t.names.iter().map(str_value).collect();
    let last = names.last().copied().unwrap_or("");
    match SqlType::from_sql_name(last) {
        Some(SqlType::Varchar)
        | Some(SqlType::Bool)
        | Some(SqlType::Int2)
        | Some(SqlType::Int4)
        | Some(SqlType::Int8)
        | Some(SqlType::Float8)
        | Some(SqlType::Text) => column_type(t),
        Some(ty) if t.typmods.is_empty() => Ok((ty, -1)),
        Some(_) => Err(unsupported("this cast in VALUES")),
        None => Err(QuillError::new(
            sqlstate::UNDEFINED_OBJECT,
            format!("type \"{}\" does not exist", names.join(".")),
        )),
    }
}

fn is_numeric_type(ty: SqlType) -> bool {
    matches!(
        ty,
        SqlType::Int2
            | SqlType::Int4
            | SqlType::Int8
            | SqlType::Float4
            | SqlType::Float8
            | SqlType::Numeric
    )
}

fn is_string_type(ty: SqlType) -> bool {
    matches!(
        ty,
        SqlType::Text | SqlType::Varchar | SqlType::Bpchar | SqlType::Name
    )
}

/// Converts a VALUES constant to a column's type (PostgreSQL's assignment coercion,
/// for constants).
fn assign(
    kind: ConstKind,
    text: Option<String>,
    column: &str,
    ty: SqlType,
    typmod: i32,
) -> QuillResult<Datum> {
    let Some(text) = text else {
        return Ok(Datum::Null);
    };
    let source = match kind {
        ConstKind::Null => return Ok(Datum::Null),
        ConstKind::Unknown => return datum_from_text(ty, typmod, &text),
        ConstKind::Integer => {
            if text.parse::<i32>().is_ok() {
                SqlType::Int4
            } else if text.parse::<i64>().is_ok() {
                SqlType::Int8
            } else {
                SqlType::Numeric
            }
        }
        ConstKind::Decimal => SqlType::Numeric,
        ConstKind::Bool => SqlType::Bool,
        ConstKind::Typed(t) => t,
    };
    let allowed = source == ty
        || (is_numeric_type(source) && is_numeric_type(ty))
        || (is_string_type(source) && is_string_type(ty))
        || is_string_type(ty);
    if !allowed {
        return Err(QuillError::new(
            sqlstate::DATATYPE_MISMATCH,
            format!(
                "column \"{column}\" is of type {} but expression is of type {}",
                ty.display_name(),
                source.display_name()
            ),
        )
        .with_hint("You will need to rewrite or cast the expression."));
    }
    if is_string_type(ty) && !is_string_type(source) {
        // Assignment through the source type's output function.
        return datum_from_text(ty, typmod, &text);
    }
    let integer_target = matches!(ty, SqlType::Int2 | SqlType::Int4 | SqlType::Int8);
    if integer_target && !matches!(source, SqlType::Int2 | SqlType::Int4 | SqlType::Int8) {
        // numeric/float → integer rounds half away from zero.
        let v: f64 = text.trim().parse().map_err(|_| {
            QuillError::new(
                sqlstate::INVALID_TEXT_REPRESENTATION,
                format!(
                    "invalid input syntax for type {}: \"{text}\"",
                    ty.display_name()
                ),
            )
        })?;
        let r = v.round();
        let (min, max) = match ty {
            SqlType::Int2 => (i16::MIN as f64, i16::MAX as f64),
            SqlType::Int4 => (i32::MIN as f64, i32::MAX as f64),
            _ => (i64::MIN as f64, i64::MAX as f64),
        };
        if !r.is_finite() || r < min || r > max {
            let name = match ty {
                SqlType::Int2 => "smallint",
                SqlType::Int4 => "integer",
                _ => "bigint",
            };
            return Err(QuillError::new(
                sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
                format!("{name} out of range"),
            ));
        }
        return datum_from_text(ty, typmod, &format!("{}", r as i128));
    }
    datum_from_text(ty, typmod, &text).map_err(|e| {
        if e.sqlstate == sqlstate::NUMERIC_VALUE_OUT_OF_RANGE && integer_target {
            let name = match ty {
                SqlType::Int2 => "smallint",
                SqlType::Int4 => "integer",
                _ => "bigint",
            };
            QuillError::new(
                sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
                format!("{name} out of range"),
            )
        } else {
            e
        }
    })
}

/// Applies a column's typmod to a value assigned to it (PostgreSQL's assignment
/// length coercion): `varchar(n)` rejects a longer value (22001 "value too long for
/// type character varying(n)") unless only spaces are cut.
fn assignment_typmod(ty: SqlType, typmod: i32, value: Datum) -> QuillResult<Datum> {
    match value {
        Datum::Text(s) if matches!(ty, SqlType::Varchar | SqlType::Bpchar) => Ok(Datum::Text(
            crate::sql::value::apply_char_typmod(ty, typmod, s, false)?,
        )),
        other => Ok(other),
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

fn column_sql_type(rel: &RelationInfo, i: usize) -> QuillResult<SqlType> {
    let col = &rel.columns[i];
    SqlType::from_oid(col.type_oid).ok_or_else(|| {
        QuillError::feature_not_supported(format!(
            "column \"{}\" has type OID {}, which is not supported yet",
            col.name, col.type_oid
        ))
    })
}

fn insert(
    s: &protobuf::InsertStmt,
    ctx: &StorageContext<'_>,
    xids: &mut dyn XidSource,
) -> QuillResult<QueryResult> {
    if s.with_clause.is_some() {
        return Err(unsupported("WITH"));
    }
    if s.on_conflict_clause.is_some() {
        return Err(unsupported("ON CONFLICT"));
    }
    if s.returning_clause.is_some() {
        return Err(unsupported("RETURNING"));
    }
    let rv = s
        .relation
        .as_ref()
        .ok_or_else(|| QuillError::internal("INSERT without a relation"))?;
    let mut catalog = SessionCatalog::open(ctx);
    let oracle = ClogOracle::new(ctx.clog, ctx.my_xid);
    let snap = CatalogSnapshot {
        snapshot: ctx.snapshot,
        oracle: &oracle,
    };
    let rel = lookup_relation(&mut catalog, &snap, rv, ctx.query)?;
    if rel.kind != b'r' {
        return Err(QuillError::new(
            sqlstate::FEATURE_NOT_SUPPORTED,
            format!("cannot insert into relation \"{}\"", rel.name),
        ));
    }

    // Target columns: explicit, or all in order.
    let explicit = !s.cols.is_empty();
    let targets: Vec<usize> = if explicit {
        let mut out = Vec::new();
        for c in &s.cols {
            let Some(NodeEnum::ResTarget(t)) = &c.node else {
                return Err(QuillError::internal("INSERT column is not a ResTarget"));
            };
            if !t.indirection.is_empty() {
                return Err(unsupported("subscripts and fields in INSERT columns"));
            }
            let i = rel
                .columns
                .iter()
                .position(|col| col.name == t.name)
                .ok_or_else(|| {
                    QuillError::new(
                        sqlstate::UNDEFINED_COLUMN,
                        format!(
                            "column \"{}\" of relation \"{}\" does not exist",
                            t.name, rel.name
                        ),
                    )
                })?;
            if out.contains(&i) {
                return Err(QuillError::new(
                    sqlstate::SYNTAX_ERROR,
                    format!("column \"{}\" specified more than once", t.name),
                ));
            }
            out.push(i);
        }
        out
    } else {
        (0..rel.columns.len()).collect()
    };

    let Some(NodeEnum::SelectStmt(sel)) = s.select_stmt.as_deref().and_then(|n| n.node.as_ref())
    else {
        return Err(unsupported("INSERT ... DEFAULT VALUES"));
    };
    if sel.values_lists.is_empty() {
        return Err(unsupported("INSERT ... SELECT"));
    }

    // Convert and check every row before writing any.
    let mut rows: Vec<Vec<Datum>> = Vec::new();
    for list in &sel.values_lists {
        let Some(NodeEnum::List(items)) = &list.node else {
            return Err(QuillError::internal("VALUES row is not a list"));
        };
        let items = &items.items;
        if items.len() > targets.len() {
            return Err(QuillError::syntax(
                "INSERT has more expressions than target columns",
                None,
            ));
        }
        if explicit && items.len() < targets.len() {
            return Err(QuillError::syntax(
                "INSERT has more target columns than expressions",
                None,
            ));
        }
        let mut row = vec![Datum::Null; rel.columns.len()];
        for (item, &i) in items.iter().zip(&targets) {
            let (kind, text) = constant(item)?;
            let ty = column_sql_type(&rel, i)?;
            let value = assign(kind, text, &rel.columns[i].name, ty, -1)?;
            row[i] = assignment_typmod(ty, rel.columns[i].typmod, value)?;
        }
        for (col, value) in rel.columns.iter().zip(&row) {
            if col.not_null && value.is_null() {
                let shown: Vec<String> = row
                    .iter()
                    .map(|d| {
                        d.to_text(OutputFormat::DEFAULT)
                            .unwrap_or_else(|| "null".into())
                    })
                    .collect();
                return Err(QuillError::new(
                    sqlstate::NOT_NULL_VIOLATION,
                    format!(
                        "null value in column \"{}\" of relation \"{}\" violates not-null constraint",
                        col.name, rel.name
                    ),
                )
                .with_detail(format!("Failing row contains ({}).", shown.join(", "))));
            }
        }
        for i in 0..rel.columns.len() {
            column_sql_type(&rel, i)?;
        }
        rows.push(row);
    }

    let xid = xids.ensure_xid()?;
    let attrs = rel.attrs();
    let node = rel.rel_file_node(ctx.db_oid);
    let header = HeapTupleHeader::for_insert(xid, ctx.cid);
    for row in &rows {
        let values = row
            .iter()
            .map(heap_value)
            .collect::<QuillResult<Vec<_>>>()?;
        let tuple = form_tuple(&attrs, &values, &header)?;
        heap_insert(ctx.pool, ctx.wal, node, &tuple, ctx.full_page_writes)?;
    }
    Ok(command(format!("INSERT 0 {}", rows.len())))
}

// ------------------------------------------------------------------ SELECT

fn datum_of(value: HeapValue<'_>, ty: SqlType) -> QuillResult<Datum> {
    Ok(match value {
        HeapValue::Null => Datum::Null,
        HeapValue::Bool(v) => Datum::Bool(v),
        HeapValue::Char(v) => Datum::Text((v as char).to_string()),
        HeapValue::Int2(v) => Datum::Int2(v),
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

fn select(
    s: &protobuf::SelectStmt,
    ctx: &StorageContext<'_>,
    format: OutputFormat,
) -> QuillResult<QueryResult> {
    if s.where_clause.is_some() {
        return Err(unsupported("WHERE"));
    }
    if s.op() != protobuf::SetOperation::SetopNone {
        return Err(unsupported("UNION, INTERSECT and EXCEPT on tables"));
    }
    if !s.values_lists.is_empty() {
        return Err(unsupported("VALUES"));
    }
    if s.into_clause.is_some() {
        return Err(unsupported("SELECT INTO"));
    }
    if !s.distinct_clause.is_empty()
        || !s.group_clause.is_empty()
        || s.having_clause.is_some()
        || !s.window_clause.is_empty()
        || !s.sort_clause.is_empty()
        || s.limit_count.is_some()
        || s.limit_offset.is_some()
        || !s.locking_clause.is_empty()
        || s.with_clause.is_some()
    {
        return Err(unsupported(
            "DISTINCT, GROUP BY, HAVING, WINDOW, ORDER BY, LIMIT, OFFSET, FOR UPDATE and WITH on tables",
        ));
    }
    let [from] = s.from_clause.as_slice() else {
        return Err(unsupported("SELECT from more than one table"));
    };
    let Some(NodeEnum::RangeVar(rv)) = &from.node else {
        return Err(unsupported("joins and subqueries in FROM"));
    };
    if !rv.inh {
        return Err(unsupported("ONLY"));
    }
    let qualifier = rv
        .alias
        .as_ref()
        .map(|a| a.aliasname.clone())
        .unwrap_or_else(|| rv.relname.clone());

    let mut catalog = SessionCatalog::open(ctx);
    let oracle = ClogOracle::new(ctx.clog, ctx.my_xid);
    let snap = CatalogSnapshot {
        snapshot: ctx.snapshot,
        oracle: &oracle,
    };
    let rel = lookup_relation(&mut catalog, &snap, rv, ctx.query)?;

    // Output columns: (index into the relation's columns, output name).
    let mut outputs: Vec<(usize, String)> = Vec::new();
    for target in &s.target_list {
        let Some(NodeEnum::ResTarget(t)) = &target.node else {
            return Err(QuillError::internal("target is not a ResTarget"));
        };
        let Some(NodeEnum::ColumnRef(cr)) = t.val.as_deref().and_then(|v| v.node.as_ref()) else {
            return Err(unsupported("expressions in a SELECT list with FROM"));
        };
        let fields: Vec<&protobuf::Node> = cr.fields.iter().collect();
        let (qual, last) = match fields.as_slice() {
            [last] => (None, *last),
            [q, last] => (Some(str_value(q)), *last),
            _ => return Err(unsupported("qualified names with more than two parts")),
        };
        if let Some(q) = qual {
            if q != qualifier {
                return Err(QuillError::new(
                    sqlstate::UNDEFINED_TABLE,
                    format!("missing FROM-clause entry for table \"{q}\""),
                ));
            }
        }
        match &last.node {
            Some(NodeEnum::AStar(_)) => {
                for (i, c) in rel.columns.iter().enumerate() {
                    outputs.push((i, c.name.clone()));
                }
            }
            Some(NodeEnum::String(name)) => {
                let i = rel
                    .columns
                    .iter()
                    .position(|c| c.name == name.sval)
                    .ok_or_else(|| {
                        let shown = match qual {
                            Some(q) => format!("{q}.{}", name.sval),
                            None => name.sval.clone(),
                        };
                        QuillError::new(
                            sqlstate::UNDEFINED_COLUMN,
                            format!("column {} does not exist", quote_ident_path(&shown)),
                        )
                    })?;
                let out = if t.name.is_empty() {
                    name.sval.clone()
                } else {
                    t.name.clone()
                };
                outputs.push((i, out));
            }
            _ => return Err(unsupported("this column reference")),
        }
    }

    let mut columns = Vec::with_capacity(outputs.len());
    let mut types = Vec::with_capacity(rel.columns.len());
    for i in 0..rel.columns.len() {
        types.push(column_sql_type(&rel, i)?);
    }
    for (i, name) in &outputs {
        columns.push(Column::new(name.clone(), types[*i], rel.columns[*i].typmod));
    }

    let attrs = rel.attrs();
    let node = rel.rel_file_node(ctx.db_oid);
    let mut rows = Vec::new();
    for item in heap_scan(ctx.pool, node, ctx.snapshot, &oracle)? {
        let (_, tuple) = item?;
        let values = deform_tuple(&attrs, &tuple)?;
        let mut row = Vec::with_capacity(outputs.len());
        for (i, _) in &outputs {
            row.push(datum_of(values[*i], types[*i])?.to_text(format));
        }
        rows.push(row);
    }
    let n = rows.len();
    Ok(QueryResult {
        columns: Some(columns),
        rows,
        tag: format!("SELECT {n}"),
    })
}

/// PostgreSQL prints `column "x" does not exist` and `column t.x does not exist`.
fn quote_ident_path(shown: &str) -> String {
    if shown.contains('.') {
        shown.to_string()
    } else {
        format!("\"{shown}\"")
    }
}
