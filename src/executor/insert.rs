//! INSERT ... VALUES (and DEFAULT VALUES): every row's expressions are analyzed
//! (with assignment coercion to the column types), computed and checked before the
//! first tuple is written.

use pg_query::protobuf;
use pg_query::{Node, NodeEnum};

use super::{command, unsupported, StorageContext, Table, XidSource};
use crate::access::heap::heapam::heap_insert;
use crate::error::{sqlstate, QuillError, QuillResult};
use crate::sql::aggregate::AggCollector;
use crate::sql::analyze::{node_location, Analyzer};
use crate::sql::eval::{eval, fold};
use crate::sql::expr::Expr;
use crate::sql::value::{Datum, OutputFormat};
use crate::sql::{QueryResult, SessionContext};

/// The target columns: the listed ones, or all in order.
fn target_columns(
    an: &Analyzer,
    s: &protobuf::InsertStmt,
    table: &Table,
) -> QuillResult<Vec<usize>> {
    if s.cols.is_empty() {
        return Ok((0..table.rel.columns.len()).collect());
    }
    let mut out = Vec::with_capacity(s.cols.len());
    for c in &s.cols {
        let Some(NodeEnum::ResTarget(t)) = &c.node else {
            return Err(QuillError::internal("INSERT column is not a ResTarget"));
        };
        let i = table.target_column(an, t)?;
        if !t.indirection.is_empty() {
            return Err(unsupported("subscripts and fields in INSERT columns"));
        }
        if out.contains(&i) {
            return Err(an.at(
                QuillError::syntax(
                    format!("column \"{}\" specified more than once", t.name),
                    None,
                ),
                t.location,
            ));
        }
        out.push(i);
    }
    Ok(out)
}

/// One VALUES item for column `i`: DEFAULT is NULL (no column has a default yet).
fn value_expr(an: &Analyzer, table: &Table, i: usize, item: &Node) -> QuillResult<Expr> {
    let col = &table.scope.columns[i];
    if let Some(NodeEnum::SetToDefault(d)) = &item.node {
        return Ok(Expr::constant(Datum::Null, col.ty, col.typmod, d.location));
    }
    let expr = an.expr(item)?;
    an.coerce_for_assignment(expr, col.ty, col.typmod, &col.name)
}

/// An analyzed INSERT: the table, and per row the (column, expression) pairs.
pub(super) struct InsertPlan {
    table: Table,
    rows: Vec<Vec<(usize, Expr)>>,
}

/// Analyzes an INSERT without running it (also what Parse/Describe do).
pub(super) fn plan(s: &protobuf::InsertStmt, ctx: &StorageContext<'_>) -> QuillResult<InsertPlan> {
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
    let table = Table::open(ctx, rv, false)?;
    table.check_writable()?;
    if table.rel.kind != b'r' {
        return Err(QuillError::new(
            sqlstate::FEATURE_NOT_SUPPORTED,
            format!("cannot insert into relation \"{}\"", table.rel.name),
        ));
    }
    let aggs = AggCollector::forbidding("VALUES");
    let an = Analyzer::with_scope(ctx.query, &table.scope).with_aggregates(&aggs);
    let targets = target_columns(&an, s, &table)?;

    // The rows' expressions, one per target column given.
    let lists: Vec<&[Node]> = match s.select_stmt.as_deref().and_then(|n| n.node.as_ref()) {
        None => vec![&[]], // DEFAULT VALUES
        Some(NodeEnum::SelectStmt(sel)) if !sel.values_lists.is_empty() => {
            let mut lists = Vec::with_capacity(sel.values_lists.len());
            for list in &sel.values_lists {
                let Some(NodeEnum::List(items)) = &list.node else {
                    return Err(QuillError::internal("VALUES row is not a list"));
                };
                lists.push(items.items.as_slice());
            }
            lists
        }
        Some(_) => return Err(unsupported("INSERT ... SELECT")),
    };
    if let Some(first) = lists.first() {
        if let Some(odd) = lists.iter().find(|l| l.len() != first.len()) {
            let location = odd.first().map_or(-1, node_location);
            return Err(an.at(
                QuillError::syntax("VALUES lists must all be the same length", None),
                location,
            ));
        }
    }
    let explicit = !s.cols.is_empty();
    let mut planned: Vec<Vec<(usize, Expr)>> = Vec::with_capacity(lists.len());
    for items in &lists {
        if items.len() > targets.len() {
            return Err(an.at(
                QuillError::syntax("INSERT has more expressions than target columns", None),
                node_location(&items[targets.len()]),
            ));
        }
        if explicit && items.len() < targets.len() {
            let location = s.cols.get(items.len()).map_or(-1, node_location);
            return Err(an.at(
                QuillError::syntax("INSERT has more target columns than expressions", None),
                location,
            ));
        }
        let mut row = Vec::with_capacity(items.len());
        for (item, &i) in items.iter().zip(&targets) {
            row.push((i, value_expr(&an, &table, i, item)?));
        }
        planned.push(row);
    }
    Ok(InsertPlan {
        table,
        rows: planned,
    })
}

pub(super) fn insert(
    s: &protobuf::InsertStmt,
    ctx: &StorageContext<'_>,
    xids: &mut dyn XidSource,
    session: &mut dyn SessionContext,
    format: OutputFormat,
) -> QuillResult<QueryResult> {
    let InsertPlan {
        table,
        rows: planned,
    } = plan(s, ctx)?;

    // Compute and check every row before writing any.
    let mut rows = Vec::with_capacity(planned.len());
    for exprs in planned {
        let mut row = vec![Datum::Null; table.rel.columns.len()];
        for (i, expr) in exprs {
            let expr = fold(expr, session, format)?;
            row[i] = eval(&expr, session, format)?;
        }
        table.check_not_null(&row, format)?;
        rows.push(row);
    }

    let xid = xids.ensure_xid()?;
    let node = table.node(ctx);
    for row in &rows {
        let tuple = table.form(row, xid, ctx.cid)?;
        heap_insert(ctx.pool, ctx.wal, node, &tuple, ctx.full_page_writes)?;
    }
    Ok(command(format!("INSERT 0 {}", rows.len())))
}
