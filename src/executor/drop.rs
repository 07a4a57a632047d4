//! `DROP TABLE [IF EXISTS] name [, ...] [CASCADE | RESTRICT]` (PostgreSQL's
//! `RemoveRelations` + `heap_drop_with_catalog`).
//!
//! Each name is resolved in turn, as PostgreSQL does: an unqualified name through
//! the search path (`pg_catalog`, then `public`), a qualified one in its schema. A
//! missing schema or table is an error (`3F000`, `42P01 table "t" does not exist`),
//! or with IF EXISTS a NOTICE "…, skipping"; a relation in `pg_catalog` or
//! `pg_toast` is refused (`42501 permission denied: "pg_class" is a system catalog`).
//! The first error ends the statement; the transaction then aborts and nothing is
//! dropped.
//!
//! Dropping deletes the pg_class and pg_attribute rows as the current transaction
//! (`catalog::drop`) and hands the relation to the session ([`XidSource::relation_ddl`]):
//! its files are removed once the transaction has committed, and other sessions'
//! catalog caches are told then. CASCADE and RESTRICT change nothing: nothing can
//! depend on a table yet (no views, foreign keys or sequences).
//!
//! Concurrent drops of one table: the second waits until the first transaction ends
//! (PostgreSQL waits for its AccessExclusiveLock), then finds the table gone (42P01)
//! or, if the first aborted, drops it.

use pg_query::protobuf::{self, ObjectType};
use pg_query::NodeEnum;

use crate::catalog::{CatalogSnapshot, DropOutcome, RelationInfo};
use crate::error::{sqlstate, QuillError, QuillResult};
use crate::sql::{QueryResult, SessionContext};
use crate::storage::ids::Oid;
use crate::txn::snapshot::ClogOracle;

use super::{
    command, refuse_system_catalog, require_table, str_value, unsupported, SessionCatalog,
    StorageContext, XidSource, SEARCH_PATH,
};

pub(super) fn drop_statement(
    s: &protobuf::DropStmt,
    ctx: &StorageContext<'_>,
    xids: &mut dyn XidSource,
    session: &mut dyn SessionContext,
) -> QuillResult<QueryResult> {
    if s.remove_type() != ObjectType::ObjectTable {
        return Err(unsupported("DROP of objects other than tables"));
    }
    if s.concurrent {
        return Err(unsupported("DROP TABLE CONCURRENTLY"));
    }
    let mut dropped: Vec<Oid> = Vec::new();
    for object in &s.objects {
        let Some(NodeEnum::List(list)) = &object.node else {
            return Err(QuillError::internal("DROP TABLE object is not a name list"));
        };
        let names: Vec<&str> = list.items.iter().map(str_value).collect();
        let Some(rel) = resolve(ctx, &names, s.missing_ok, xids)? else {
            continue;
        };
        if dropped.contains(&rel.oid) {
            continue; // the same table twice: PostgreSQL drops it once, silently
        }
        if drop_one(ctx, &rel, s.missing_ok, xids, session)? {
            dropped.push(rel.oid);
        }
    }
    Ok(command("DROP TABLE".to_string()))
}

/// 42P01 `table "t" does not exist`, or with IF EXISTS the NOTICE.
fn missing_table(name: &str, missing_ok: bool, xids: &mut dyn XidSource) -> QuillResult<()> {
    if !missing_ok {
        return Err(QuillError::new(
            sqlstate::UNDEFINED_TABLE,
            format!("table \"{name}\" does not exist"),
        ));
    }
    xids.notice(
        sqlstate::SUCCESSFUL_COMPLETION,
        format!("table \"{name}\" does not exist, skipping"),
    );
    Ok(())
}

/// The table `names` denotes, `None` if it (or its schema) does not exist and
/// IF EXISTS was given (the NOTICE is sent).
fn resolve(
    ctx: &StorageContext<'_>,
    names: &[&str],
    missing_ok: bool,
    xids: &mut dyn XidSource,
) -> QuillResult<Option<RelationInfo>> {
    let (database, schema, name) = match *names {
        [name] => (None, None, name),
        [schema, name] => (None, Some(schema), name),
        [database, schema, name] => (Some(database), Some(schema), name),
        _ => {
            return Err(QuillError::new(
                sqlstate::SYNTAX_ERROR,
                format!(
                    "improper relation name (too many dotted names): {}",
                    names.join(".")
                ),
            ))
        }
    };
    let mut catalog = SessionCatalog::open(ctx);
    let oracle = ClogOracle::new(ctx.clog, ctx.my_xid);
    let snap = CatalogSnapshot {
        snapshot: ctx.snapshot,
        oracle: &oracle,
    };
    if let Some(database) = database {
        let current = catalog.database_by_oid(&snap, ctx.db_oid)?;
        if current.is_none_or(|db| db.name != database) {
            return Err(QuillError::feature_not_supported(format!(
                "cross-database references are not implemented: \"{}\"",
                names.join(".")
            )));
        }
    }
    let found = match schema {
        Some(schema) => {
            if catalog.namespace_by_name(&snap, schema)?.is_none() {
                if !missing_ok {
                    return Err(QuillError::new(
                        sqlstate::INVALID_SCHEMA_NAME,
                        format!("schema \"{schema}\" does not exist"),
                    ));
                }
                xids.notice(
                    sqlstate::SUCCESSFUL_COMPLETION,
                    format!("schema \"{schema}\" does not exist, skipping"),
                );
                return Ok(None);
            }
            catalog
                .relation_by_name(&snap, schema, name)?
                .map(|rel| (schema, rel))
        }
        None => {
            let mut found = None;
            for schema in SEARCH_PATH {
                if let Some(rel) = catalog.relation_by_name(&snap, schema, name)? {
                    found = Some((schema, rel));
                    break;
                }
            }
            found
        }
    };
    let Some((schema, rel)) = found else {
        missing_table(name, missing_ok, xids)?;
        return Ok(None);
    };
    refuse_system_catalog(schema, &rel)?;
    require_table(&rel)?;
    Ok(Some(rel))
}

/// Deletes `rel`'s catalog rows and schedules its files' removal; waits for a
/// concurrent dropper (module doc). Returns whether this statement dropped it.
fn drop_one(
    ctx: &StorageContext<'_>,
    rel: &RelationInfo,
    missing_ok: bool,
    xids: &mut dyn XidSource,
    session: &mut dyn SessionContext,
) -> QuillResult<bool> {
    let xid = xids.ensure_xid()?;
    let oracle = ClogOracle::new(ctx.clog, xid);
    let snap = CatalogSnapshot {
        snapshot: ctx.snapshot,
        oracle: &oracle,
    };
    loop {
        let mut catalog = SessionCatalog::open(ctx);
        let outcome = catalog.delete_relation_entries(
            ctx.wal,
            &snap,
            rel,
            xid,
            ctx.cid,
            ctx.full_page_writes,
        )?;
        drop(catalog);
        match outcome {
            DropOutcome::Deleted => {
                xids.relation_ddl(rel.oid, rel.rel_file_node(ctx.db_oid), false)?;
                return Ok(true);
            }
            DropOutcome::AlreadyGone => {
                missing_table(&rel.name, missing_ok, xids)?;
                return Ok(false);
            }
            DropOutcome::BeingDropped(other) => xids.wait_for_xid(xid, other, session)?,
        }
    }
}
