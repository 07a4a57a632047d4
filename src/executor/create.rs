//! CREATE TABLE: the column types a table may have, the catalog rows, the file.

use pg_query::protobuf::{self, a_const, ConstrType};
use pg_query::NodeEnum;

use super::{
    command, schema_of, str_value, unsupported, SessionCatalog, StorageContext, XidSource,
};
use crate::catalog::{CatalogSnapshot, NewColumn, NewRelation, FIRST_NORMAL_OBJECT_ID};
use crate::error::{sqlstate, QuillError, QuillResult};
use crate::sql::types::SqlType;
use crate::sql::QueryResult;
use crate::storage::ids::ForkNumber;
use crate::txn::snapshot::ClogOracle;

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

pub(super) fn create_table(
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
    if schema == super::PG_CATALOG_NAMESPACE {
        return Err(QuillError::new(
            sqlstate::INSUFFICIENT_PRIVILEGE,
            format!("permission denied to create \"{schema}.{}\"", rv.relname),
        )
        .with_detail("System catalog modifications are currently disallowed."));
    }

    let xid = xids.ensure_xid()?;
    let oracle = ClogOracle::new(ctx.clog, xid);
    let snap = CatalogSnapshot {
        snapshot: ctx.snapshot,
        oracle: &oracle,
    };
    let oid = match xids.next_oid()? {
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
