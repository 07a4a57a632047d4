//! SELECT without tables: analyze the select list, WHERE, ORDER BY and
//! LIMIT/OFFSET in PostgreSQL's order (so the first error reported is the one
//! PostgreSQL reports), fold constants, then produce zero or one row.
//!
//! A SELECT with FROM goes to the session's storage (`crate::executor`, which
//! reuses [`limit_clause`], [`row_count`] and [`reject_unsupported`]); in a session
//! without storage a FROM clause naming a table fails with PostgreSQL's "relation
//! does not exist". Aggregates in the select list make one group of the zero or
//! one row (`select count(*) where false` is 0). Clauses that need real row sets
//! (GROUP BY and HAVING without FROM, set operations, WITH, …) are reported as not
//! supported.

use pg_query::protobuf::{self, a_const, SetOperation};
use pg_query::{Node, NodeEnum};

use super::aggregate::AggCollector;
use super::analyze::{node_location, Analyzer};
use super::cast::{can_cast, CastContext};
use super::colname::figure_colname;
use super::eval::{eval, eval_row, fold};
use super::expr::Expr;
use super::grouping::{rewrite_grouped, Grouping, HashAggregate};
use super::parse::Statement;
use super::types::SqlType;
use super::value::{Datum, OutputFormat};
use super::{output_format, Column, QueryResult, SessionContext};
use crate::error::{sqlstate, QuillError, QuillResult};

/// A SELECT after analysis: what to compute and how many rows to keep.
struct SelectPlan {
    /// Over the one grouped row when `grouping` is set.
    targets: Vec<(String, Expr)>,
    /// Aggregates in the select list: one group over the zero or one row.
    grouping: Option<Grouping>,
    filter: Option<Expr>,
    offset: Option<Expr>,
    limit: Option<Expr>,
}

/// Runs a SELECT statement.
pub fn execute(
    stmt: &Statement,
    select: &protobuf::SelectStmt,
    ctx: &mut dyn SessionContext,
) -> QuillResult<QueryResult> {
    let aggs = AggCollector::new();
    let analyzer = Analyzer::new(stmt.source()).with_aggregates(&aggs);
    let plan = analyze(&analyzer, &aggs, select)?;
    // Casts to text, folded or run, print with the settings the statement started with.
    let format = output_format(ctx)?;
    // Plan-time constant folding, in PostgreSQL's order: targets, WHERE, OFFSET, LIMIT.
    let mut targets = Vec::with_capacity(plan.targets.len());
    for (name, expr) in plan.targets {
        targets.push((name, fold(expr, ctx, format)?));
    }
    let filter = plan.filter.map(|f| fold(f, ctx, format)).transpose()?;
    let grouping = match plan.grouping {
        Some(mut g) => {
            for call in &mut g.calls {
                call.arg = call.arg.take().map(|a| fold(a, ctx, format)).transpose()?;
                call.filter = call
                    .filter
                    .take()
                    .map(|f| fold(f, ctx, format))
                    .transpose()?;
            }
            Some(g)
        }
        None => None,
    };
    let offset = plan.offset.map(|o| fold(o, ctx, format)).transpose()?;
    let limit = plan.limit.map(|l| fold(l, ctx, format)).transpose()?;

    let columns = targets
        .iter()
        .map(|(name, e)| Column::new(name.clone(), e.ty, e.typmod))
        .collect();
    let mut rows = Vec::new();
    // The Limit node computes its counts before pulling from the filtered row.
    let skip = row_count(
        offset.as_ref(),
        ctx,
        format,
        "OFFSET",
        sqlstate::INVALID_ROW_COUNT_IN_RESULT_OFFSET_CLAUSE,
    )?;
    let keep = row_count(
        limit.as_ref(),
        ctx,
        format,
        "LIMIT",
        sqlstate::INVALID_ROW_COUNT_IN_LIMIT_CLAUSE,
    )?;
    let passes = match &filter {
        Some(f) => eval(f, ctx, format)? == Datum::Bool(true),
        None => true,
    };
    // Aggregates make one row even when WHERE removed the input row.
    if (passes || grouping.is_some()) && skip.unwrap_or(0) == 0 && keep != Some(0) {
        let row = match &grouping {
            Some(g) => {
                let mut aggregate = HashAggregate::new(g);
                if passes {
                    aggregate.add(&[], ctx, format)?;
                }
                aggregate.finish()?.pop().unwrap_or_default()
            }
            None => Vec::new(),
        };
        let mut values = Vec::with_capacity(targets.len());
        for (_, expr) in &targets {
            values.push(eval_row(expr, &row, ctx, format)?);
        }
        // The rows print with the settings as they are once the first row is
        // computed (read once, not per row): PostgreSQL's printtup runs the output
        // functions when it sends a row, so `set_config('extra_float_digits', …)`
        // in the select list already applies to that row.
        let output = output_format(ctx)?;
        rows.push(values.iter().map(|v| v.to_text(output)).collect());
    }
    Ok(QueryResult {
        columns: Some(columns),
        tag: format!("SELECT {}", rows.len()),
        rows,
    })
}

/// The columns a SELECT without tables returns, after analyzing it as
/// [`execute`] would (deciding its parameters' types) but computing nothing.
pub fn describe(stmt: &Statement, select: &protobuf::SelectStmt) -> QuillResult<Vec<Column>> {
    let aggs = AggCollector::new();
    let analyzer = Analyzer::new(stmt.source()).with_aggregates(&aggs);
    let plan = analyze(&analyzer, &aggs, select)?;
    Ok(plan
        .targets
        .into_iter()
        .map(|(name, e)| Column::new(name, e.ty, e.typmod))
        .collect())
}

/// Evaluates a LIMIT/OFFSET count: NULL means none; negative is an error.
pub(crate) fn row_count(
    expr: Option<&Expr>,
    ctx: &mut dyn SessionContext,
    format: OutputFormat,
    clause: &str,
    code: &'static str,
) -> QuillResult<Option<i64>> {
    let Some(expr) = expr else {
        return Ok(None);
    };
    match eval(expr, ctx, format)? {
        Datum::Int8(n) if n < 0 => Err(QuillError::new(
            code,
            format!("{clause} must not be negative"),
        )),
        Datum::Int8(n) => Ok(Some(n)),
        _ => Ok(None),
    }
}

/// The select list: (output name, expression) per output column; `*` and `rel.*`
/// expand to the scope's columns (an error without one, as in PostgreSQL).
pub fn target_list(an: &Analyzer, target_list: &[Node]) -> QuillResult<Vec<(String, Expr)>> {
    let mut targets = Vec::with_capacity(target_list.len());
    for node in target_list {
        let Some(NodeEnum::ResTarget(target)) = &node.node else {
            return Err(QuillError::internal("select-list item is not a ResTarget"));
        };
        let value = target
            .val
            .as_deref()
            .ok_or_else(|| QuillError::internal("ResTarget without a value"))?;
        if let Some(star) = super::scope::is_star(value) {
            targets.extend(an.star_columns(star)?);
            continue;
        }
        let expr = an.resolve_unknown(an.expr(value)?)?;
        let name = if target.name.is_empty() {
            figure_colname(value)
        } else {
            target.name.clone()
        };
        targets.push((name, expr));
    }
    Ok(targets)
}

fn analyze(
    an: &Analyzer,
    aggs: &AggCollector,
    s: &protobuf::SelectStmt,
) -> QuillResult<SelectPlan> {
    reject_unsupported(an, s)?;
    if !s.group_clause.is_empty() || s.having_clause.is_some() {
        return Err(an.unsupported("GROUP BY and HAVING without FROM", -1));
    }
    if s.distinct_clause.iter().any(|d| d.node.is_some()) {
        return Err(an.unsupported("SELECT DISTINCT ON without FROM", -1));
    }
    for item in &s.from_clause {
        from_item(an, item)?;
    }
    let mut targets = target_list(an, &s.target_list)?;
    aggs.set_clause(Some("WHERE"));
    let filter = match &s.where_clause {
        Some(w) => Some(an.coerce_to_boolean(an.expr(w)?, "WHERE")?),
        None => None,
    };
    aggs.set_clause(None);
    for sort in &s.sort_clause {
        order_by_item(an, sort, &targets)?;
    }
    aggs.set_clause(Some("OFFSET"));
    let offset = limit_clause(an, &s.limit_offset, "OFFSET")?;
    aggs.set_clause(Some("LIMIT"));
    let limit = limit_clause(an, &s.limit_count, "LIMIT")?;
    let grouping = if aggs.has_aggregates() {
        for (_, e) in &mut targets {
            rewrite_grouped(an, e, &[])?;
        }
        Some(Grouping {
            keys: Vec::new(),
            calls: aggs.take_calls(),
        })
    } else {
        None
    };
    Ok(SelectPlan {
        targets,
        grouping,
        filter,
        offset,
        limit,
    })
}

pub(crate) fn reject_unsupported(an: &Analyzer, s: &protobuf::SelectStmt) -> QuillResult<()> {
    let unsupported = |what: &str| Err(an.unsupported(what, -1));
    let unsupported_plural = |what: &str| Err(an.unsupported_plural(what, -1));
    if s.with_clause.is_some() {
        return unsupported("WITH");
    }
    if s.op != SetOperation::SetopNone as i32 {
        return unsupported_plural("UNION, INTERSECT and EXCEPT");
    }
    if !s.values_lists.is_empty() {
        return unsupported("VALUES");
    }
    if s.into_clause.is_some() {
        return unsupported("SELECT INTO");
    }
    if !s.window_clause.is_empty() {
        return unsupported("WINDOW");
    }
    if !s.locking_clause.is_empty() {
        return unsupported("FOR UPDATE/SHARE");
    }
    // LIMIT_OPTION_WITH_TIES
    if s.limit_option == protobuf::LimitOption::WithTies as i32 {
        return unsupported("FETCH ... WITH TIES");
    }
    Ok(())
}

/// A FROM item: every table is missing until there is storage.
fn from_item(an: &Analyzer, item: &Node) -> QuillResult<()> {
    match &item.node {
        Some(NodeEnum::RangeVar(r)) => {
            let name = [&r.catalogname, &r.schemaname, &r.relname]
                .iter()
                .filter(|p| !p.is_empty())
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(".");
            Err(an.at(
                QuillError::new(
                    sqlstate::UNDEFINED_TABLE,
                    format!("relation \"{name}\" does not exist"),
                ),
                r.location,
            ))
        }
        Some(NodeEnum::JoinExpr(j)) => {
            for side in [&j.larg, &j.rarg].into_iter().flatten() {
                from_item(an, side)?;
            }
            Err(an.unsupported("JOIN", -1))
        }
        Some(NodeEnum::RangeFunction(_)) => Err(an.unsupported_plural("functions in FROM", -1)),
        Some(NodeEnum::RangeSubselect(_)) => Err(an.unsupported_plural("subqueries in FROM", -1)),
        _ => Err(an.unsupported("this kind of FROM item", -1)),
    }
}

/// Checks an ORDER BY item the way PostgreSQL resolves it (output column
/// number, output column name, or expression). With at most one row the order
/// itself does not matter.
fn order_by_item(an: &Analyzer, sort: &Node, targets: &[(String, Expr)]) -> QuillResult<()> {
    let Some(NodeEnum::SortBy(sort_by)) = &sort.node else {
        return Err(QuillError::internal("ORDER BY item is not a SortBy"));
    };
    let Some(node) = sort_by.node.as_deref() else {
        return Ok(());
    };
    match &node.node {
        Some(NodeEnum::AConst(c)) => match &c.val {
            Some(a_const::Val::Ival(i)) if i.ival >= 1 && i.ival as usize <= targets.len() => {
                Ok(())
            }
            Some(a_const::Val::Ival(i)) => Err(an.at(
                QuillError::new(
                    sqlstate::INVALID_COLUMN_REFERENCE,
                    format!("ORDER BY position {} is not in select list", i.ival),
                ),
                c.location,
            )),
            _ => Err(an.at(
                QuillError::syntax("non-integer constant in ORDER BY", None),
                c.location,
            )),
        },
        Some(NodeEnum::ColumnRef(c)) if c.fields.len() == 1 => {
            let name = super::analyze::str_value(&c.fields[0]);
            let matches = targets.iter().filter(|(n, _)| n == name).count();
            match matches {
                0 => an.expr(node).map(|_| ()),
                1 => Ok(()),
                _ => Err(an.at(
                    QuillError::new(
                        sqlstate::AMBIGUOUS_COLUMN,
                        format!("ORDER BY \"{name}\" is ambiguous"),
                    ),
                    node_location(node),
                )),
            }
        }
        _ => an.expr(node).map(|_| ()),
    }
}

/// PostgreSQL's `transformLimitClause`: the count must become bigint.
pub(crate) fn limit_clause(
    an: &Analyzer,
    node: &Option<Box<Node>>,
    clause: &str,
) -> QuillResult<Option<Expr>> {
    let Some(node) = node else {
        return Ok(None);
    };
    let expr = an.expr(node)?;
    if expr.ty == SqlType::Int8 {
        return Ok(Some(expr));
    }
    // PostgreSQL's coerce_to_specific_type: assignment casts are allowed.
    if !can_cast(expr.ty, SqlType::Int8, CastContext::Assignment) {
        return Err(an.at(
            QuillError::new(
                sqlstate::DATATYPE_MISMATCH,
                format!(
                    "argument of {clause} must be type bigint, not type {}",
                    expr.ty.display_name()
                ),
            ),
            expr.location,
        ));
    }
    let location = expr.location;
    an.coerce(expr, SqlType::Int8, -1, CastContext::Assignment, location)
        .map(Some)
}
