//! SELECT from one table: a sequential scan under the statement's snapshot, the
//! WHERE clause, the select list (expressions, `*`, `t.*`), ORDER BY and
//! LIMIT/OFFSET. Analysis follows PostgreSQL's order (select list, WHERE, ORDER BY,
//! LIMIT), so the first error reported is PostgreSQL's; constants are folded once
//! before the scan.

use std::cmp::Ordering;

use pg_query::protobuf::{self, a_const, SortByDir, SortByNulls};
use pg_query::{Node, NodeEnum};

use super::{unsupported, StorageContext, Table};
use crate::access::heap::heapam::heap_scan;
use crate::error::{sqlstate, QuillError, QuillResult};
use crate::sql::analyze::{node_location, str_value, Analyzer};
use crate::sql::eval::{eval_row, fold};
use crate::sql::expr::Expr;
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
}

/// PostgreSQL's `findTargetlistEntrySQL92` then `SQL99`: an output column number,
/// an output column name, or an expression over the table's columns.
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
    let expr = match &node.node {
        Some(NodeEnum::AConst(c)) => match &c.val {
            Some(a_const::Val::Ival(i)) if i.ival >= 1 && i.ival as usize <= targets.len() => {
                targets[i.ival as usize - 1].1.clone()
            }
            Some(a_const::Val::Ival(i)) => {
                return Err(an.at(
                    QuillError::new(
                        sqlstate::INVALID_COLUMN_REFERENCE,
                        format!("ORDER BY position {} is not in select list", i.ival),
                    ),
                    c.location,
                ))
            }
            _ => {
                return Err(an.at(
                    QuillError::syntax("non-integer constant in ORDER BY", None),
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
                        format!("ORDER BY \"{name}\" is ambiguous"),
                    ),
                    node_location(node),
                ));
            }
            first.ok_or_else(|| QuillError::internal("ORDER BY target vanished"))?
        }
        _ => an.resolve_unknown(an.expr(node)?)?,
    };
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

fn reject_on_tables(s: &protobuf::SelectStmt) -> QuillResult<()> {
    if !s.distinct_clause.is_empty() {
        return Err(unsupported("DISTINCT on tables"));
    }
    if !s.from_clause.is_empty() && s.from_clause.len() > 1 {
        return Err(unsupported("SELECT from more than one table"));
    }
    Ok(())
}

pub(super) fn select(
    s: &protobuf::SelectStmt,
    ctx: &StorageContext<'_>,
    session: &mut dyn SessionContext,
    format: OutputFormat,
) -> QuillResult<QueryResult> {
    reject_on_tables(s)?;
    let [from] = s.from_clause.as_slice() else {
        return Err(unsupported("SELECT from more than one table"));
    };
    let Some(NodeEnum::RangeVar(rv)) = &from.node else {
        return Err(unsupported("joins and subqueries in FROM"));
    };
    let table = Table::open(ctx, rv, true)?;
    let an = Analyzer::with_scope(ctx.query, &table.scope);
    reject_unsupported(&an, s)?;

    let targets = crate::sql::select::target_list(&an, &s.target_list)?;
    let filter = match &s.where_clause {
        Some(w) => Some(an.coerce_to_boolean(an.expr(w)?, "WHERE")?),
        None => None,
    };
    let mut keys = Vec::with_capacity(s.sort_clause.len());
    for sort in &s.sort_clause {
        keys.push(sort_key(&an, sort, &targets)?);
    }
    let offset = limit_clause(&an, &s.limit_offset, "OFFSET")?;
    let limit = limit_clause(&an, &s.limit_count, "LIMIT")?;

    // Plan-time folding, in PostgreSQL's order.
    let mut columns = Vec::with_capacity(targets.len());
    let mut exprs = Vec::with_capacity(targets.len());
    for (name, expr) in targets {
        columns.push(Column::new(name, expr.ty, expr.typmod));
        exprs.push(fold(expr, session, format)?);
    }
    let filter = filter.map(|f| fold(f, session, format)).transpose()?;
    for key in &mut keys {
        let expr = std::mem::replace(
            &mut key.expr,
            Expr::constant(Datum::Null, SqlType::Unknown, -1, -1),
        );
        key.expr = fold(expr, session, format)?;
    }
    let offset = offset.map(|o| fold(o, session, format)).transpose()?;
    let limit = limit.map(|l| fold(l, session, format)).transpose()?;
    let skip = row_count(
        offset.as_ref(),
        session,
        format,
        "OFFSET",
        sqlstate::INVALID_ROW_COUNT_IN_RESULT_OFFSET_CLAUSE,
    )?;
    let keep = row_count(
        limit.as_ref(),
        session,
        format,
        "LIMIT",
        sqlstate::INVALID_ROW_COUNT_IN_LIMIT_CLAUSE,
    )?;
    // Without ORDER BY the scan can stop once LIMIT + OFFSET rows passed.
    let enough = match (keys.is_empty(), keep) {
        (true, Some(n)) => Some(n.saturating_add(skip.unwrap_or(0))),
        _ => None,
    };

    let oracle = ClogOracle::new(ctx.clog, ctx.my_xid);
    let mut out: Vec<(Vec<Datum>, Vec<Datum>)> = Vec::new();
    if enough != Some(0) {
        for item in heap_scan(ctx.pool, table.node(ctx), ctx.snapshot, &oracle)? {
            let (_, tuple) = item?;
            let row = table.row_of(&tuple)?;
            if let Some(f) = &filter {
                if eval_row(f, &row, session, format)? != Datum::Bool(true) {
                    continue;
                }
            }
            let mut values = Vec::with_capacity(exprs.len());
            for e in &exprs {
                values.push(eval_row(e, &row, session, format)?);
            }
            let mut sort_values = Vec::with_capacity(keys.len());
            for k in &keys {
                sort_values.push(eval_row(&k.expr, &row, session, format)?);
            }
            out.push((sort_values, values));
            if enough.is_some_and(|n| out.len() as i64 >= n) {
                break;
            }
        }
    }
    if !keys.is_empty() {
        out.sort_by(|a, b| compare_keys(&keys, &a.0, &b.0));
    }
    let skip = usize::try_from(skip.unwrap_or(0)).unwrap_or(usize::MAX);
    let keep = keep.map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
    let rows: Vec<Vec<Option<String>>> = out
        .into_iter()
        .skip(skip)
        .take(keep)
        .map(|(_, values)| values.iter().map(|v| v.to_text(format)).collect())
        .collect();
    Ok(QueryResult {
        columns: Some(columns),
        tag: format!("SELECT {}", rows.len()),
        rows,
    })
}
