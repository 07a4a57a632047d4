//! Describing a table statement without running it: what the extended query
//! protocol's Parse and Describe need — the statement analyzed (so its errors and
//! its parameters' types are decided, as PostgreSQL's `parse_analyze_varparams`
//! does at Parse) and the columns it would return. Nothing is scanned, computed
//! or written.
//!
//! INSERT, UPDATE and DELETE reuse their own planners. SELECT repeats the analysis
//! steps of `select.rs` (select list, WHERE, ORDER BY, LIMIT/OFFSET, in that
//! order) because that file fuses analysis with the scan; keep the two in step
//! when SELECT learns new clauses.

use pg_query::protobuf::{self, a_const};
use pg_query::NodeEnum;

use super::{insert, modify, unsupported, StorageContext, Table};
use crate::error::QuillResult;
use crate::sql::analyze::{str_value, Analyzer};
use crate::sql::select::{limit_clause, reject_unsupported, target_list};
use crate::sql::Column;

/// The result columns of a table statement (`None`: it returns no rows), after
/// analyzing it as execution would.
pub fn describe_storage_statement(
    node: &NodeEnum,
    ctx: &StorageContext<'_>,
) -> QuillResult<Option<Vec<Column>>> {
    match node {
        NodeEnum::SelectStmt(s) => select_columns(s, ctx).map(Some),
        NodeEnum::InsertStmt(s) => insert::plan(s, ctx).map(|_| None),
        NodeEnum::UpdateStmt(s) => modify::plan_update(ctx, s).map(|_| None),
        NodeEnum::DeleteStmt(s) => modify::plan_delete(ctx, s).map(|_| None),
        // Utility statements are analyzed when they run, as in PostgreSQL.
        _ => Ok(None),
    }
}

fn select_columns(s: &protobuf::SelectStmt, ctx: &StorageContext<'_>) -> QuillResult<Vec<Column>> {
    if !s.distinct_clause.is_empty() {
        return Err(unsupported("DISTINCT on tables"));
    }
    let [from] = s.from_clause.as_slice() else {
        return Err(unsupported("SELECT from more than one table"));
    };
    let Some(NodeEnum::RangeVar(rv)) = &from.node else {
        return Err(unsupported("joins and subqueries in FROM"));
    };
    let table = Table::open(ctx, rv, true)?;
    let an = Analyzer::with_scope(ctx.query, &table.scope);
    reject_unsupported(&an, s)?;
    let targets = target_list(&an, &s.target_list)?;
    if let Some(w) = &s.where_clause {
        an.coerce_to_boolean(an.expr(w)?, "WHERE")?;
    }
    for sort in &s.sort_clause {
        let Some(NodeEnum::SortBy(sort_by)) = &sort.node else {
            continue;
        };
        let Some(node) = sort_by.node.as_deref() else {
            continue;
        };
        // Output column numbers and names were checked by nothing that decides a
        // parameter type; only expressions are analyzed here.
        let names_output = match &node.node {
            Some(NodeEnum::AConst(c)) => matches!(c.val, Some(a_const::Val::Ival(_))),
            Some(NodeEnum::ColumnRef(c)) => {
                c.fields.len() == 1 && targets.iter().any(|(n, _)| n == str_value(&c.fields[0]))
            }
            _ => false,
        };
        if !names_output {
            an.resolve_unknown(an.expr(node)?)?;
        }
    }
    limit_clause(&an, &s.limit_offset, "OFFSET")?;
    limit_clause(&an, &s.limit_count, "LIMIT")?;
    Ok(targets
        .into_iter()
        .map(|(name, e)| Column::new(name, e.ty, e.typmod))
        .collect())
}
