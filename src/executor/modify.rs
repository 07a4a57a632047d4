//! UPDATE and DELETE on one table, with PostgreSQL's READ COMMITTED behaviour when
//! another transaction changes the same row (`ExecUpdate`/`ExecDelete` with
//! `EvalPlanQual`, reduced to one table).
//!
//! # How a row is changed
//! The scan yields each row version the statement's snapshot sees and passes WHERE.
//! [`heap_update`]/[`heap_delete`] then decide on the version as it is *now*:
//!
//! * `Ok`: done.
//! * `BeingModified(xid)`: another transaction still running changed or deleted it.
//!   Wait for that transaction to end ([`XidSource::wait_for_xid`], which may fail
//!   with 40P01 on a deadlock or 57014 on a cancel), then try the same version again:
//!   if the holder aborted the version is ours to change; if it committed the retry
//!   reports `Updated` or `Deleted`.
//! * `Updated(ctid)`: a committed transaction replaced the version. Follow t_ctid to
//!   its newer version, re-check WHERE against it, and — if it still qualifies —
//!   compute the new values from **it** and try again there (EvalPlanQual). This is
//!   what makes two concurrent `SET v = v + 1` both count.
//! * `Deleted`: gone; skip it. `SelfModified`: this statement already changed it
//!   (reached twice through a ctid chain); skip it, as PostgreSQL does.
//!
//! The versions this statement writes carry its command id, which its snapshot's
//! `curcid` hides, so the scan never visits them (no Halloween problem).

use pg_query::protobuf;
use pg_query::NodeEnum;

use super::{command, unsupported, StorageContext, Table, TxnOracle, XidSource};
use crate::access::heap::heapam::{
    heap_delete, heap_fetch, heap_scan, heap_update, HeapUpdateResult,
};
use crate::access::heap::tuple::ItemPointer;
use crate::error::{QuillError, QuillResult};
use crate::sql::aggregate::AggCollector;
use crate::sql::analyze::Analyzer;
use crate::sql::eval::{eval_row, fold};
use crate::sql::expr::Expr;
use crate::sql::value::{Datum, OutputFormat};
use crate::sql::{QueryResult, SessionContext};

/// What to do with each qualifying row.
enum Action {
    /// New values for some columns: (column index, expression over the old row).
    Update(Vec<(usize, Expr)>),
    Delete,
}

/// A planned UPDATE or DELETE.
pub(super) struct ModifyPlan {
    table: Table,
    filter: Option<Expr>,
    action: Action,
}

/// The SET list: each column once, its value coerced to the column's type.
fn set_list(
    an: &Analyzer,
    s: &protobuf::UpdateStmt,
    table: &Table,
) -> QuillResult<Vec<(usize, Expr)>> {
    let mut sets: Vec<(usize, Expr)> = Vec::with_capacity(s.target_list.len());
    for node in &s.target_list {
        let Some(NodeEnum::ResTarget(t)) = &node.node else {
            return Err(QuillError::internal("SET item is not a ResTarget"));
        };
        let i = table.target_column(an, t)?;
        if !t.indirection.is_empty() {
            return Err(an.unsupported_plural("subscripts and fields in SET", t.location));
        }
        let value = t
            .val
            .as_deref()
            .ok_or_else(|| QuillError::internal("SET without a value"))?;
        let col = &table.scope.columns[i];
        let expr = match &value.node {
            Some(NodeEnum::MultiAssignRef(_)) => {
                return Err(an.unsupported("SET (...) = (...)", t.location))
            }
            // No column has a default yet: DEFAULT is NULL.
            Some(NodeEnum::SetToDefault(d)) => {
                Expr::constant(Datum::Null, col.ty, col.typmod, d.location)
            }
            _ => {
                let expr = an.expr(value)?;
                an.coerce_for_assignment(expr, col.ty, col.typmod, &col.name)?
            }
        };
        if sets.iter().any(|(j, _)| *j == i) {
            return Err(QuillError::syntax(
                format!("multiple assignments to same column \"{}\"", t.name),
                None,
            ));
        }
        sets.push((i, expr));
    }
    Ok(sets)
}

pub(super) fn plan_update(
    ctx: &StorageContext<'_>,
    s: &protobuf::UpdateStmt,
) -> QuillResult<ModifyPlan> {
    if s.with_clause.is_some() {
        return Err(unsupported("WITH"));
    }
    if !s.from_clause.is_empty() {
        return Err(unsupported("UPDATE ... FROM"));
    }
    if s.returning_clause.is_some() {
        return Err(unsupported("RETURNING"));
    }
    let rv = s
        .relation
        .as_ref()
        .ok_or_else(|| QuillError::internal("UPDATE without a relation"))?;
    let table = Table::open(ctx, rv, true)?;
    table.check_writable()?;
    let aggs = AggCollector::forbidding("UPDATE");
    let an = Analyzer::with_scope(ctx.query, &table.scope).with_aggregates(&aggs);
    let sets = set_list(&an, s, &table)?;
    aggs.set_clause(Some("WHERE"));
    let filter = where_clause(&an, &s.where_clause)?;
    Ok(ModifyPlan {
        table,
        filter,
        action: Action::Update(sets),
    })
}

pub(super) fn plan_delete(
    ctx: &StorageContext<'_>,
    s: &protobuf::DeleteStmt,
) -> QuillResult<ModifyPlan> {
    if s.with_clause.is_some() {
        return Err(unsupported("WITH"));
    }
    if !s.using_clause.is_empty() {
        return Err(unsupported("DELETE ... USING"));
    }
    if s.returning_clause.is_some() {
        return Err(unsupported("RETURNING"));
    }
    let rv = s
        .relation
        .as_ref()
        .ok_or_else(|| QuillError::internal("DELETE without a relation"))?;
    let table = Table::open(ctx, rv, true)?;
    table.check_writable()?;
    let aggs = AggCollector::forbidding("WHERE");
    let an = Analyzer::with_scope(ctx.query, &table.scope).with_aggregates(&aggs);
    let filter = where_clause(&an, &s.where_clause)?;
    Ok(ModifyPlan {
        table,
        filter,
        action: Action::Delete,
    })
}

fn where_clause(an: &Analyzer, clause: &Option<Box<pg_query::Node>>) -> QuillResult<Option<Expr>> {
    match clause {
        Some(w) => Ok(Some(an.coerce_to_boolean(an.expr(w)?, "WHERE")?)),
        None => Ok(None),
    }
}

pub(super) fn update(
    s: &protobuf::UpdateStmt,
    ctx: &StorageContext<'_>,
    xids: &mut dyn XidSource,
    session: &mut dyn SessionContext,
    format: OutputFormat,
) -> QuillResult<QueryResult> {
    let plan = plan_update(ctx, s)?;
    let n = run(plan, ctx, xids, session, format)?;
    Ok(command(format!("UPDATE {n}")))
}

pub(super) fn delete(
    s: &protobuf::DeleteStmt,
    ctx: &StorageContext<'_>,
    xids: &mut dyn XidSource,
    session: &mut dyn SessionContext,
    format: OutputFormat,
) -> QuillResult<QueryResult> {
    let plan = plan_delete(ctx, s)?;
    let n = run(plan, ctx, xids, session, format)?;
    Ok(command(format!("DELETE {n}")))
}

/// Everything one row change needs.
struct Modifier<'a, 'c> {
    ctx: &'a StorageContext<'c>,
    table: &'a Table,
    filter: Option<&'a Expr>,
    action: &'a Action,
    oracle: &'a TxnOracle<'c>,
    format: OutputFormat,
    /// The transaction's xid, once assigned.
    xid: Option<u32>,
}

/// Folds the plan's expressions, scans, and changes every qualifying row; returns
/// how many were changed.
fn run(
    mut plan: ModifyPlan,
    ctx: &StorageContext<'_>,
    xids: &mut dyn XidSource,
    session: &mut dyn SessionContext,
    format: OutputFormat,
) -> QuillResult<u64> {
    if let Action::Update(sets) = &mut plan.action {
        for (_, expr) in sets.iter_mut() {
            let e = std::mem::replace(expr, Expr::constant(Datum::Null, expr.ty, -1, -1));
            *expr = fold(e, session, format)?;
        }
    }
    let filter = plan.filter.map(|f| fold(f, session, format)).transpose()?;
    if let Some(Datum::Bool(false) | Datum::Null) = filter.as_ref().and_then(Expr::as_const) {
        return Ok(0); // PostgreSQL's planner skips the scan for a constant-false qual
    }
    let oracle = TxnOracle::new(ctx);
    let mut m = Modifier {
        ctx,
        table: &plan.table,
        filter: filter.as_ref(),
        action: &plan.action,
        oracle: &oracle,
        format,
        xid: None,
    };
    let mut count = 0;
    for item in heap_scan(ctx.pool, plan.table.node(ctx), ctx.snapshot, &oracle)? {
        let (tid, tuple) = item?;
        let row = plan.table.row_of(&tuple)?;
        if !m.qualifies(&row, session)? {
            continue;
        }
        if m.change_row(tid, row, xids, session)? {
            count += 1;
        }
    }
    Ok(count)
}

impl Modifier<'_, '_> {
    fn qualifies(&self, row: &[Datum], session: &mut dyn SessionContext) -> QuillResult<bool> {
        match self.filter {
            Some(f) => Ok(eval_row(f, row, session, self.format)? == Datum::Bool(true)),
            None => Ok(true),
        }
    }

    fn ensure_xid(&mut self, xids: &mut dyn XidSource) -> QuillResult<u32> {
        if let Some(xid) = self.xid {
            return Ok(xid);
        }
        let xid = xids.ensure_xid()?;
        self.oracle.set_my_xid(xid);
        self.xid = Some(xid);
        Ok(xid)
    }

    /// Updates or deletes the version at `tid` whose values are `row` (it passed
    /// WHERE), following concurrent updates as the module doc says. Returns whether
    /// a row was changed.
    fn change_row(
        &mut self,
        mut tid: ItemPointer,
        mut row: Vec<Datum>,
        xids: &mut dyn XidSource,
        session: &mut dyn SessionContext,
    ) -> QuillResult<bool> {
        let ctx = self.ctx;
        let node = self.table.node(ctx);
        loop {
            let result = match self.action {
                Action::Update(sets) => {
                    let mut new_row = row.clone();
                    for (i, expr) in sets {
                        new_row[*i] = eval_row(expr, &row, session, self.format)?;
                    }
                    self.table.check_not_null(&new_row, self.format)?;
                    let xid = self.ensure_xid(xids)?;
                    let tuple = self.table.form(&new_row, xid, ctx.cid)?;
                    heap_update(
                        ctx.pool,
                        ctx.wal,
                        node,
                        tid,
                        &tuple,
                        ctx.cid,
                        self.oracle,
                        ctx.full_page_writes,
                    )?
                }
                Action::Delete => heap_delete(
                    ctx.pool,
                    ctx.wal,
                    node,
                    tid,
                    self.ensure_xid(xids)?,
                    ctx.cid,
                    self.oracle,
                    ctx.full_page_writes,
                )?,
            };
            match result {
                HeapUpdateResult::Ok(_) => return Ok(true),
                HeapUpdateResult::SelfModified | HeapUpdateResult::Deleted => return Ok(false),
                HeapUpdateResult::Invisible => {
                    return Err(QuillError::internal("attempted to update invisible tuple"))
                }
                HeapUpdateResult::BeingModified(holder) => {
                    let xid = self.ensure_xid(xids)?;
                    xids.wait_for_xid(xid, holder, session)?;
                }
                HeapUpdateResult::Updated(newer) => {
                    // EvalPlanQual: the newer version, if it still qualifies.
                    let Some(tuple) = heap_fetch(ctx.pool, node, newer)? else {
                        return Ok(false);
                    };
                    let newer_row = self.table.row_of(&tuple)?;
                    if !self.qualifies(&newer_row, session)? {
                        return Ok(false);
                    }
                    tid = newer;
                    row = newer_row;
                }
            }
        }
    }
}
