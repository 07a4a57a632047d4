//! `TRUNCATE [TABLE] [ONLY] name [, ...] [RESTART IDENTITY | CONTINUE IDENTITY]
//! [CASCADE | RESTRICT]` (PostgreSQL's `ExecuteTruncate` with
//! `RelationSetNewRelfilenode`): each table gets a new, empty file, transactionally.
//!
//! Every name is resolved first, as PostgreSQL does before truncating anything: an
//! unqualified name through the search path, a qualified one in its schema (`3F000`
//! if the schema is missing); a missing table is `42P01 relation "t" does not exist`
//! (without a position, as in PostgreSQL), a relation that is not a table `42809`, a system catalog `42501
//! permission denied: "pg_class" is a system catalog`. A table named twice is
//! truncated once.
//!
//! Then, per table: a new relfilenode is allocated like a new relation's OID, its
//! file created and scheduled for removal if the transaction aborts; the pg_class
//! row is updated to name it (`catalog::truncate`, WAL-logged under the
//! transaction), and the old file is scheduled for removal at commit. The commit
//! (abort) record lists the file to remove, so crash recovery ends the same way,
//! and other sessions hear of the new relfilenode through the invalidation queue
//! at commit (the same end-of-transaction work as DROP TABLE, [`XidSource::relation_ddl`]).
//! The truncating session's own cache entry is dropped at once, so its next
//! statement reads the new (empty) file. Truncating the same table again in the
//! transaction replaces the file the first TRUNCATE made, which then goes at
//! commit or abort alike.
//!
//! ONLY, RESTART/CONTINUE IDENTITY and CASCADE/RESTRICT change nothing: there is no
//! inheritance, no sequence and no foreign key yet.
//!
//! Not covered (no relation locks yet, as for DROP TABLE): PostgreSQL's
//! AccessExclusiveLock makes a concurrent writer of the table wait for the
//! TRUNCATE's end; here a row another session inserts into the old file while the
//! TRUNCATE's transaction runs is lost when it commits. A concurrent TRUNCATE of
//! the same table waits for the first one's transaction (through the pg_class row).

use pg_query::protobuf;
use pg_query::NodeEnum;

use crate::catalog::{CatalogSnapshot, NewFileOutcome, RelationInfo};
use crate::error::{sqlstate, QuillError, QuillResult};
use crate::sql::{QueryResult, SessionContext};
use crate::storage::ids::ForkNumber;
use crate::txn::snapshot::ClogOracle;

use super::{
    command, lookup_relation, refuse_system_catalog, require_table, SessionCatalog, StorageContext,
    XidSource,
};

/// How many allocated OIDs whose file already exists are skipped before giving up.
const MAX_RELFILENODE_ATTEMPTS: u32 = 1000;

pub(super) fn truncate_statement(
    s: &protobuf::TruncateStmt,
    ctx: &StorageContext<'_>,
    xids: &mut dyn XidSource,
    session: &mut dyn SessionContext,
) -> QuillResult<QueryResult> {
    let mut tables: Vec<RelationInfo> = Vec::with_capacity(s.relations.len());
    for node in &s.relations {
        let Some(NodeEnum::RangeVar(rv)) = &node.node else {
            return Err(QuillError::internal("TRUNCATE relation is not a RangeVar"));
        };
        let rel = resolve(ctx, rv)?;
        if !tables.iter().any(|t| t.oid == rel.oid) {
            tables.push(rel);
        }
    }
    for rel in &tables {
        truncate_one(ctx, rel, xids, session)?;
    }
    Ok(command("TRUNCATE TABLE".to_string()))
}

/// The table `rv` names, checked as PostgreSQL's `truncate_check_rel` does.
fn resolve(ctx: &StorageContext<'_>, rv: &protobuf::RangeVar) -> QuillResult<RelationInfo> {
    let mut catalog = SessionCatalog::open(ctx);
    let oracle = ClogOracle::new(ctx.clog, ctx.my_xid);
    let snap = CatalogSnapshot {
        snapshot: ctx.snapshot,
        oracle: &oracle,
    };
    if !rv.schemaname.is_empty()
        && rv.catalogname.is_empty()
        && catalog.namespace_by_name(&snap, &rv.schemaname)?.is_none()
    {
        return Err(QuillError::new(
            sqlstate::INVALID_SCHEMA_NAME,
            format!("schema \"{}\" does not exist", rv.schemaname),
        ));
    }
    // PostgreSQL reports a missing table here without a position (TRUNCATE looks
    // names up outside the parser).
    let (rel, schema) =
        lookup_relation(&mut catalog, &snap, rv, ctx.query.text).map_err(|mut e| {
            e.position = None;
            e
        })?;
    require_table(&rel)?;
    refuse_system_catalog(&schema, &rel)?;
    Ok(rel)
}

/// Gives `rel` a new empty file under the transaction (module doc); waits for a
/// concurrent changer of its pg_class row.
fn truncate_one(
    ctx: &StorageContext<'_>,
    rel: &RelationInfo,
    xids: &mut dyn XidSource,
    session: &mut dyn SessionContext,
) -> QuillResult<()> {
    let xid = xids.ensure_xid()?;
    let oracle = ClogOracle::new(ctx.clog, xid);
    let snap = CatalogSnapshot {
        snapshot: ctx.snapshot,
        oracle: &oracle,
    };
    // An OID whose file exists (left by a crash before its creator committed) is
    // skipped, as PostgreSQL's GetNewRelFileNode does.
    let mut attempts = 0;
    let (new_relfilenode, new_node) = loop {
        let oid = match xids.next_oid()? {
            Some(oid) => oid,
            None => super::create::pick_oid(ctx, &snap)?,
        };
        let node = RelationInfo {
            relfilenode: oid,
            ..rel.clone()
        }
        .rel_file_node(ctx.db_oid);
        if !ctx.pool.smgr().exists(node, ForkNumber::Main) {
            break (oid, node);
        }
        attempts += 1;
        if attempts >= MAX_RELFILENODE_ATTEMPTS {
            return Err(QuillError::internal(format!(
                "could not find a free relfilenode for \"{}\"",
                rel.name
            )));
        }
    };
    ctx.pool.smgr().create(new_node, ForkNumber::Main)?;
    // From here on an abort removes the new file.
    xids.relation_ddl(rel.oid, new_node, true)?;
    loop {
        let mut catalog = SessionCatalog::open(ctx);
        let outcome = catalog.set_relfilenode(
            ctx.wal,
            &snap,
            rel.oid,
            new_relfilenode,
            xid,
            ctx.cid,
            ctx.full_page_writes,
        )?;
        drop(catalog);
        match outcome {
            NewFileOutcome::Replaced { old } => {
                let old_rel = RelationInfo {
                    relfilenode: old,
                    ..rel.clone()
                };
                xids.relation_ddl(rel.oid, old_rel.rel_file_node(ctx.db_oid), false)?;
                return Ok(());
            }
            NewFileOutcome::Gone => {
                return Err(QuillError::new(
                    sqlstate::UNDEFINED_TABLE,
                    format!("relation \"{}\" does not exist", rel.name),
                ))
            }
            NewFileOutcome::BeingModified(other) => xids.wait_for_xid(xid, other, session)?,
        }
    }
}
