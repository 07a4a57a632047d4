//! CREATE TABLE: the column types a table may have, the catalog rows, the file.

use pg_query::protobuf::{self, ConstrType};
use pg_query::NodeEnum;

use super::{command, schema_of, unsupported, SessionCatalog, StorageContext, XidSource};
use crate::catalog::{CatalogSnapshot, NewColumn, NewRelation, FIRST_NORMAL_OBJECT_ID};
use crate::error::{sqlstate, QuillError, QuillResult};
use crate::sql::types::SqlType;
use crate::sql::QueryResult;
use crate::storage::ids::ForkNumber;
use crate::txn::snapshot::ClogOracle;

/// A column's type and typmod, resolved as any written type name is (the
/// analyzer's rules and errors), then limited to the types a table may have.
fn column_type(
    an: &crate::sql::analyze::Analyzer<'_>,
    t: &protobuf::TypeName,
) -> QuillResult<(SqlType, i32)> {
    let (ty, typmod) = an.type_name(t)?;
    match ty {
        SqlType::Bool
        | SqlType::Int2
        | SqlType::Int4
        | SqlType::Int8
        | SqlType::Float8
        | SqlType::Text
        | SqlType::Varchar
        | SqlType::Bpchar => Ok((ty, typmod)),
        other => Err(an.at(
            QuillError::feature_not_supported(format!(
                "columns of type {} are not supported yet",
                other.display_name()
            )),
            t.location,
        )),
    }
}

/// `WITH (...)` storage parameters, checked as PostgreSQL checks them. Only
/// `fillfactor` is accepted, and it changes nothing yet: there is no free-space
/// map, and an insert fills the last page whatever the setting (`pgbench -i` asks
/// for 100, the default). It is not stored in pg_class either.
fn check_storage_parameters(options: &[pg_query::Node]) -> QuillResult<()> {
    const OTHER_HEAP_PARAMETERS: [&str; 6] = [
        "parallel_workers",
        "user_catalog_table",
        "vacuum_index_cleanup",
        "vacuum_truncate",
        "log_autovacuum_min_duration",
        "toast_tuple_target",
    ];
    for option in options {
        let Some(NodeEnum::DefElem(d)) = &option.node else {
            return Err(QuillError::internal("storage parameter is not a DefElem"));
        };
        let name = d.defname.as_str();
        if name != "fillfactor" {
            if OTHER_HEAP_PARAMETERS.contains(&name)
                || name.starts_with("autovacuum_")
                || name.starts_with("toast.")
            {
                return Err(QuillError::feature_not_supported(format!(
                    "storage parameter \"{name}\" is not supported yet"
                )));
            }
            return Err(QuillError::new(
                sqlstate::INVALID_PARAMETER_VALUE,
                format!("unrecognized parameter \"{name}\""),
            ));
        }
        let value = match d.arg.as_deref().and_then(|a| a.node.as_ref()) {
            Some(NodeEnum::Integer(i)) => Some(i.ival),
            Some(NodeEnum::String(s)) => s.sval.trim().parse().ok(),
            Some(NodeEnum::Float(f)) => f.fval.trim().parse().ok(),
            _ => None,
        };
        let shown = match d.arg.as_deref().and_then(|a| a.node.as_ref()) {
            Some(NodeEnum::String(s)) => s.sval.clone(),
            Some(NodeEnum::Float(f)) => f.fval.clone(),
            _ => String::new(),
        };
        let Some(value) = value else {
            return Err(QuillError::new(
                sqlstate::INVALID_PARAMETER_VALUE,
                format!("invalid value for integer option \"{name}\": {shown}"),
            ));
        };
        if !(10..=100).contains(&value) {
            return Err(QuillError::new(
                sqlstate::INVALID_PARAMETER_VALUE,
                format!("value {value} out of bounds for option \"{name}\""),
            )
            .with_detail("Valid values are between \"10\" and \"100\"."));
        }
    }
    Ok(())
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
    if !s.tablespacename.is_empty() || !s.access_method.is_empty() {
        return Err(unsupported("TABLESPACE and USING in CREATE TABLE"));
    }
    check_storage_parameters(&s.options)?;
    if !s.constraints.is_empty() {
        return Err(unsupported("table constraints"));
    }
    let analyzer = crate::sql::analyze::Analyzer::new(ctx.query);
    let mut columns = Vec::new();
    for elt in &s.table_elts {
        match &elt.node {
            Some(NodeEnum::ColumnDef(c)) => {
                let t = c
                    .type_name
                    .as_ref()
                    .ok_or_else(|| QuillError::internal("column without a type"))?;
                let (ty, typmod) = column_type(&analyzer, t)?;
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
pub(super) fn pick_oid(ctx: &StorageContext<'_>, snap: &CatalogSnapshot<'_>) -> QuillResult<u32> {
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
