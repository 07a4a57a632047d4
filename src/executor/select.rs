//! SELECT from one table: a sequential scan under the statement's snapshot, the
//! WHERE clause, the select list (expressions, `*`, `t.*`), aggregates with GROUP BY
//! and HAVING (`crate::sql::grouping`), DISTINCT and DISTINCT ON, ORDER BY and
//! LIMIT/OFFSET. Analysis follows PostgreSQL's order (select list, WHERE, HAVING,
//! ORDER BY, GROUP BY, DISTINCT, LIMIT, then the grouping check), so the first
//! error reported is PostgreSQL's; constants are folded once before the scan.
//!
//! Rows flow: scan → WHERE → (grouped queries: hash aggregation → HAVING) → select
//! list and sort values → sort → DISTINCT (keeps the first row of each set, so
//! DISTINCT ON keeps the first in ORDER BY order) → OFFSET/LIMIT.

use std::cmp::Ordering;

use pg_query::protobuf::{self, a_const, SortByDir, SortByNulls};
use pg_query::{Node, NodeEnum};

use super::{unsupported, StorageContext, Table};
use crate::access::heap::heapam::heap_scan;
use crate::error::{sqlstate, QuillError, QuillResult};
use crate::sql::aggregate::AggCollector;
use crate::sql::analyze::{node_location, str_value, Analyzer};
use crate::sql::eval::{eval_row, fold};
use crate::sql::expr::Expr;
use crate::sql::grouping::{
    group_by_clause, keep_distinct, rewrite_grouped, row_key, Grouping, HashAggregate,
};
use crate::sql::select::{limit_clause, reject_unsupported, row_count};
use crate::sql::types::SqlType;
use crate::sql::value::{Datum, OutputFormat};
use crate::sql::{Column, QueryResult, SessionContext};
use crate::txn::snapshot::ClogOracle;

/// One ORDER BY key: what to compute, and how to order it.
struct SortKey {
    expr: Expr,
    descending: bool,
    nulls_first: bool,
    bpchar: bool,
    /// Where the ORDER BY item is, for errors found after its analysis.
    location: i32,
}

/// PostgreSQL's `findTargetlistEntrySQL92` then `SQL99` for ORDER BY and DISTINCT
/// ON (`clause`): an output column number, an output column name, or an
/// expression over the table's columns.
fn target_or_expr(
    an: &Analyzer,
    node: &Node,
    targets: &[(String, Expr)],
    clause: &str,
) -> QuillResult<Expr> {
    Ok(match &node.node {
        Some(NodeEnum::AConst(c)) => match &c.val {
            Some(a_const::Val::Ival(i)) if i.ival >= 1 && i.ival as usize <= targets.len() => {
                targets[i.ival as usize - 1].1.clone()
            }
            Some(a_const::Val::Ival(i)) => {
                return Err(an.at(
                    QuillError::new(
                        sqlstate::INVALID_COLUMN_REFERENCE,
                        format!("{clause} position {} is not in select list", i.ival),
                    ),
                    c.location,
                ))
            }
            _ => {
                return Err(an.at(
                    QuillError::syntax(format!("non-integer constant in {clause}"), None),
                    c.location,
                ))
            }
        },
        Some(NodeEnum::ColumnRef(c))
            if c.fields.len() == 1 && targets.iter().any(|(n, _)| n == str_value(&c.fields[0])) =>
        {
            let name = str_value(&c.fields[0]);
            let mut found = targets.iter().filter(|(n, _)| n == name);
            let first = found.next().map(|(_, e)| e.clone());
            if found.next().is_some() {
                return Err(an.at(
                    QuillError::new(
                        sqlstate::AMBIGUOUS_COLUMN,
                        format!("{clause} \"{name}\" is ambiguous"),
                    ),
                    node_location(node),
                ));
            }
            first.ok_or_else(|| QuillError::internal("ORDER BY target vanished"))?
        }
        _ => an.resolve_unknown(an.expr(node)?)?,
    })
}

/// One ORDER BY item.
fn sort_key(an: &Analyzer, sort: &Node, targets: &[(String, Expr)]) -> QuillResult<SortKey> {
    let Some(NodeEnum::SortBy(sort_by)) = &sort.node else {
        return Err(QuillError::internal("ORDER BY item is not a SortBy"));
    };
    if !sort_by.use_op.is_empty() {
        return Err(unsupported("ORDER BY ... USING"));
    }
    let node = sort_by
        .node
        .as_deref()
        .ok_or_else(|| QuillError::internal("ORDER BY without an expression"))?;
    let expr = target_or_expr(an, node, targets, "ORDER BY")?;
    let descending = sort_by.sortby_dir == SortByDir::SortbyDesc as i32;
    let nulls_first = match SortByNulls::try_from(sort_by.sortby_nulls) {
        Ok(SortByNulls::SortbyNullsFirst) => true,
        Ok(SortByNulls::SortbyNullsLast) => false,
        _ => descending,
    };
    Ok(SortKey {
        bpchar: expr.ty == SqlType::Bpchar,
        expr,
        descending,
        nulls_first,
        location: node_location(node),
    })
}

fn compare_keys(keys: &[SortKey], a: &[Datum], b: &[Datum]) -> Ordering {
    for ((key, x), y) in keys.iter().zip(a).zip(b) {
        let order = match (x.is_null(), y.is_null()) {
            (true, true) => Ordering::Equal,
            (true, false) if key.nulls_first => Ordering::Less,
            (true, false) => Ordering::Greater,
            (false, true) if key.nulls_first => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => {
                let order = crate::sql::arith::compare(x, y, key.bpchar);
                if key.descending {
                    order.reverse()
                } else {
                    order
                }
            }
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    Ordering::Equal
}

/// SELECT DISTINCT: none, on the whole output row, or on expressions.
enum Distinct {
    None,
    All,
    On(Vec<Expr>),
}

/// A SELECT after analysis.
struct SelectQuery {
    columns: Vec<Column>,
    /// The select list: over table rows, or over grouped rows when `grouping` is set.
    targets: Vec<Expr>,
    filter: Option<Expr>,
    grouping: Option<Grouping>,
    having: Option<Expr>,
    keys: Vec<SortKey>,
    distinct: Distinct,
    offset: Option<Expr>,
    limit: Option<Expr>,
}

/// One output row on its way out: sort values, DISTINCT ON values, the values.
struct OutRow {
    sort: Vec<Datum>,
    distinct_on: Vec<Datum>,
    values: Vec<Datum>,
}

/// PostgreSQL's `transformDistinctClause` / `transformDistinctOnClause`: plain
/// DISTINCT needs every ORDER BY expression in the select list; DISTINCT ON's
/// expressions must lead ORDER BY, and those ORDER BY lacks are added to it (so
/// DISTINCT ON without ORDER BY sorts by them, as PostgreSQL's plan does).
fn distinct_clause(
    an: &Analyzer,
    s: &protobuf::SelectStmt,
    targets: &[(String, Expr)],
    keys: &mut Vec<SortKey>,
) -> QuillResult<Distinct> {
    if s.distinct_clause.is_empty() {
        return Ok(Distinct::None);
    }
    if s.distinct_clause.iter().all(|d| d.node.is_none()) {
        if let Some(k) = keys
            .iter()
            .find(|k| !targets.iter().any(|(_, t)| t.same_as(&k.expr)))
        {
            return Err(an.at(
                QuillError::new(
                    sqlstate::INVALID_COLUMN_REFERENCE,
                    "for SELECT DISTINCT, ORDER BY expressions must appear in select list",
                ),
                k.location,
            ));
        }
        return Ok(Distinct::All);
    }
    let mut on = Vec::with_capacity(s.distinct_clause.len());
    for node in &s.distinct_clause {
        on.push((
            target_or_expr(an, node, targets, "DISTINCT ON")?,
            node_location(node),
        ));
    }
    let mismatch = |location: i32| {
        an.at(
            QuillError::new(
                sqlstate::INVALID_COLUMN_REFERENCE,
                "SELECT DISTINCT ON expressions must match initial ORDER BY expressions",
            ),
            location,
        )
    };
    let mut skipped = false;
    for k in keys.iter() {
        match on.iter().find(|(e, _)| e.same_as(&k.expr)) {
            Some((_, location)) if skipped => return Err(mismatch(*location)),
            Some(_) => {}
            None => skipped = true,
        }
    }
    for (expr, location) in &on {
        if keys.iter().any(|k| k.expr.same_as(expr)) {
            continue;
        }
        if skipped {
            return Err(mismatch(*location));
        }
        keys.push(SortKey {
            bpchar: expr.ty == SqlType::Bpchar,
            expr: expr.clone(),
            descending: false,
            nulls_first: false,
            location: *location,
        });
    }
    Ok(Distinct::On(on.into_iter().map(|(e, _)| e).collect()))
}

/// Analyzes a SELECT over `table` in PostgreSQL's clause order (module doc).
fn analyze(
    an: &Analyzer,
    aggs: &AggCollector,
    s: &protobuf::SelectStmt,
) -> QuillResult<SelectQuery> {
    let targets = crate::sql::select::target_list(an, &s.target_list)?;
    aggs.set_clause(Some("WHERE"));
    let filter = match &s.where_clause {
        Some(w) => Some(an.coerce_to_boolean(an.expr(w)?, "WHERE")?),
        None => None,
    };
    aggs.set_clause(None);
    let mut having = match &s.having_clause {
        Some(h) => Some(an.coerce_to_boolean(an.expr(h)?, "HAVING")?),
        None => None,
    };
    let mut keys = Vec::with_capacity(s.sort_clause.len());
    for sort in &s.sort_clause {
        keys.push(sort_key(an, sort, &targets)?);
    }
    aggs.set_clause(Some("GROUP BY"));
    let group_keys = group_by_clause(an, &s.group_clause, &targets)?;
    aggs.set_clause(None);
    let mut distinct = distinct_clause(an, s, &targets, &mut keys)?;
    aggs.set_clause(Some("OFFSET"));
    let offset = limit_clause(an, &s.limit_offset, "OFFSET")?;
    aggs.set_clause(Some("LIMIT"));
    let limit = limit_clause(an, &s.limit_count, "LIMIT")?;

    let mut columns = Vec::with_capacity(targets.len());
    let mut exprs = Vec::with_capacity(targets.len());
    for (name, expr) in targets {
        columns.push(Column::new(name, expr.ty, expr.typmod));
        exprs.push(expr);
    }
    let grouped = aggs.has_aggregates() || !group_keys.is_empty() || having.is_some();
    let grouping = if grouped {
        // PostgreSQL's parseCheckAggregates: the select list (with ORDER BY and
        // DISTINCT ON items), then HAVING.
        for e in &mut exprs {
            rewrite_grouped(an, e, &group_keys)?;
        }
        for k in &mut keys {
            rewrite_grouped(an, &mut k.expr, &group_keys)?;
        }
        if let Distinct::On(on) = &mut distinct {
            for e in on {
                rewrite_grouped(an, e, &group_keys)?;
            }
        }
        if let Some(h) = &mut having {
            rewrite_grouped(an, h, &group_keys)?;
        }
        Some(Grouping {
            keys: group_keys,
            calls: aggs.take_calls(),
        })
    } else {
        None
    };
    Ok(SelectQuery {
        columns,
        targets: exprs,
        filter,
        grouping,
        having,
        keys,
        distinct,
        offset,
        limit,
    })
}

/// Plan-time constant folding of every expression, in PostgreSQL's order.
fn fold_query(
    mut q: SelectQuery,
    session: &mut dyn SessionContext,
    format: OutputFormat,
) -> QuillResult<SelectQuery> {
    let fold_all = |exprs: &mut [Expr], session: &mut dyn SessionContext| {
        for e in exprs {
            let taken = std::mem::replace(e, Expr::constant(Datum::Null, SqlType::Unknown, -1, -1));
            *e = fold(taken, session, format)?;
        }
        QuillResult::Ok(())
    };
    fold_all(&mut q.targets, session)?;
    q.filter = q.filter.map(|f| fold(f, session, format)).transpose()?;
    if let Some(g) = &mut q.grouping {
        fold_all(&mut g.keys, session)?;
        for call in &mut g.calls {
            call.arg = call
                .arg
                .take()
                .map(|a| fold(a, session, format))
                .transpose()?;
            call.filter = call
                .filter
                .take()
                .map(|f| fold(f, session, format))
                .transpose()?;
        }
    }
    q.having = q.having.map(|h| fold(h, session, format)).transpose()?;
    for key in &mut q.keys {
        fold_all(std::slice::from_mut(&mut key.expr), session)?;
    }
    if let Distinct::On(on) = &mut q.distinct {
        fold_all(on, session)?;
    }
    q.offset = q.offset.map(|o| fold(o, session, format)).transpose()?;
    q.limit = q.limit.map(|l| fold(l, session, format)).transpose()?;
    Ok(q)
}

impl SelectQuery {
    /// The output row for one input row (a table row, or a grouped row).
    fn out_row(
        &self,
        row: &[Datum],
        session: &mut dyn SessionContext,
        format: OutputFormat,
    ) -> QuillResult<OutRow> {
        let eval_all = |exprs: &[Expr], session: &mut dyn SessionContext| {
            exprs
                .iter()
                .map(|e| eval_row(e, row, session, format))
                .collect::<QuillResult<Vec<_>>>()
        };
        let values = eval_all(&self.targets, session)?;
        let mut sort = Vec::with_capacity(self.keys.len());
        for k in &self.keys {
            sort.push(eval_row(&k.expr, row, session, format)?);
        }
        let distinct_on = match &self.distinct {
            Distinct::On(on) => eval_all(on, session)?,
            _ => Vec::new(),
        };
        Ok(OutRow {
            sort,
            distinct_on,
            values,
        })
    }
}

/// The one table a SELECT reads.
fn from_table(s: &protobuf::SelectStmt, ctx: &StorageContext<'_>) -> QuillResult<Table> {
    let [from] = s.from_clause.as_slice() else {
        return Err(unsupported("SELECT from more than one table"));
    };
    let Some(NodeEnum::RangeVar(rv)) = &from.node else {
        return Err(unsupported("joins and subqueries in FROM"));
    };
    Table::open(ctx, rv, true)
}

/// The columns a SELECT returns, after analyzing it exactly as [`select`] does
/// (so its errors come, and its parameters' types are decided) without reading
/// any row: what the extended protocol's Parse and Describe need.
pub(super) fn describe(
    s: &protobuf::SelectStmt,
    ctx: &StorageContext<'_>,
) -> QuillResult<Vec<Column>> {
    let table = from_table(s, ctx)?;
    let aggs = AggCollector::new();
    let an = Analyzer::with_scope(ctx.query, &table.scope).with_aggregates(&aggs);
    reject_unsupported(&an, s)?;
    Ok(analyze(&an, &aggs, s)?.columns)
}

pub(super) fn select(
    s: &protobuf::SelectStmt,
    ctx: &StorageContext<'_>,
    session: &mut dyn SessionContext,
    format: OutputFormat,
) -> QuillResult<QueryResult> {
    let table = from_table(s, ctx)?;
    let aggs = AggCollector::new();
    let an = Analyzer::with_scope(ctx.query, &table.scope).with_aggregates(&aggs);
    reject_unsupported(&an, s)?;
    let q = analyze(&an, &aggs, s)?;
    let q = fold_query(q, session, format)?;

    let skip = row_count(
        q.offset.as_ref(),
        session,
        format,
        "OFFSET",
        sqlstate::INVALID_ROW_COUNT_IN_RESULT_OFFSET_CLAUSE,
    )?;
    let keep = row_count(
        q.limit.as_ref(),
        session,
        format,
        "LIMIT",
        sqlstate::INVALID_ROW_COUNT_IN_LIMIT_CLAUSE,
    )?;
    // A plain scan without ORDER BY or DISTINCT can stop once LIMIT + OFFSET rows passed.
    let streaming =
        q.keys.is_empty() && q.grouping.is_none() && matches!(q.distinct, Distinct::None);
    let enough = match (streaming, keep) {
        (true, Some(n)) => Some(n.saturating_add(skip.unwrap_or(0))),
        _ => None,
    };

    let oracle = ClogOracle::new(ctx.clog, ctx.my_xid);
    let mut out: Vec<OutRow> = Vec::new();
    let mut aggregate = q.grouping.as_ref().map(HashAggregate::new);
    if enough != Some(0) {
        for item in heap_scan(ctx.pool, table.node(ctx), ctx.snapshot, &oracle)? {
            let (_, tuple) = item?;
            let row = table.row_of(&tuple)?;
            if let Some(f) = &q.filter {
                if eval_row(f, &row, session, format)? != Datum::Bool(true) {
                    continue;
                }
            }
            match &mut aggregate {
                Some(agg) => agg.add(&row, session, format)?,
                None => out.push(q.out_row(&row, session, format)?),
            }
            if enough.is_some_and(|n| out.len() as i64 >= n) {
                break;
            }
        }
    }
    if let Some(agg) = aggregate {
        for row in agg.finish()? {
            if let Some(h) = &q.having {
                if eval_row(h, &row, session, format)? != Datum::Bool(true) {
                    continue;
                }
            }
            out.push(q.out_row(&row, session, format)?);
        }
    }
    let rows = finish_rows(&q, out, skip, keep, format);
    Ok(QueryResult {
        columns: Some(q.columns),
        tag: format!("SELECT {}", rows.len()),
        rows,
    })
}

/// Sorts, removes duplicates (DISTINCT keeps the first of each set, in ORDER BY
/// order), applies OFFSET/LIMIT and prints the rows.
fn finish_rows(
    q: &SelectQuery,
    mut out: Vec<OutRow>,
    skip: Option<i64>,
    keep: Option<i64>,
    format: OutputFormat,
) -> Vec<Vec<Option<String>>> {
    if !q.keys.is_empty() {
        out.sort_by(|a, b| compare_keys(&q.keys, &a.sort, &b.sort));
    }
    out = match &q.distinct {
        Distinct::None => out,
        Distinct::All => {
            let types: Vec<SqlType> = q.targets.iter().map(|e| e.ty).collect();
            keep_distinct(out, |r| row_key(&r.values, &types))
        }
        Distinct::On(on) => {
            let types: Vec<SqlType> = on.iter().map(|e| e.ty).collect();
            keep_distinct(out, |r| row_key(&r.distinct_on, &types))
        }
    };
    let skip = usize::try_from(skip.unwrap_or(0)).unwrap_or(usize::MAX);
    let keep = keep.map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
    out.into_iter()
        .skip(skip)
        .take(keep)
        .map(|r| r.values.iter().map(|v| v.to_text(format)).collect())
        .collect()
}
