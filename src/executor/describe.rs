//! Describing a table statement without running it: what the extended query
//! protocol's Parse and Describe need — the statement analyzed (so its errors and
//! its parameters' types are decided, as PostgreSQL's `parse_analyze_varparams`
//! does at Parse) and the columns it would return. Nothing is scanned, computed
//! or written.
//!
//! Each statement kind reuses the analysis its execution runs (`select.rs`,
//! `insert.rs`, `modify.rs`), so Describe and Execute cannot disagree.

use pg_query::NodeEnum;

use super::{insert, modify, select, StorageContext};
use crate::error::QuillResult;
use crate::sql::Column;

/// The result columns of a table statement (`None`: it returns no rows), after
/// analyzing it as execution would.
pub fn describe_storage_statement(
    node: &NodeEnum,
    ctx: &StorageContext<'_>,
) -> QuillResult<Option<Vec<Column>>> {
    match node {
        NodeEnum::SelectStmt(s) => select::describe(s, ctx).map(Some),
        NodeEnum::InsertStmt(s) => insert::plan(s, ctx).map(|_| None),
        NodeEnum::UpdateStmt(s) => modify::plan_update(ctx, s).map(|_| None),
        NodeEnum::DeleteStmt(s) => modify::plan_delete(ctx, s).map(|_| None),
        // Utility statements are analyzed when they run, as in PostgreSQL.
        _ => Ok(None),
    }
}
