//! Output column names for unnamed select-list items: PostgreSQL's
//! `FigureColname`, which looks at the raw parse tree, not the analyzed one.
//!
//! A function call is named after the function, a cast after the type as
//! written (`1::int8` → "int8") unless its argument has a better name, CASE is
//! "case", COALESCE "coalesce", and anything without a name is "?column?".

use pg_query::protobuf::{self, AExprKind, MinMaxOp, SqlValueFunctionOp};
use pg_query::{Node, NodeEnum};

use super::analyze::str_value;

/// The column name PostgreSQL gives an unnamed select-list expression.
pub fn figure_colname(node: &Node) -> String {
    match figure(node) {
        (Some(name), _) => name,
        (None, _) => "?column?".to_string(),
    }
}

/// (name, strength): 2 for a real name, 1 for a fallback (type or "case"),
/// 0 for none — PostgreSQL's `FigureColnameInternal`.
fn figure(node: &Node) -> (Option<String>, u8) {
    let Some(inner) = &node.node else {
        return (None, 0);
    };
    let strong = |s: &str| (Some(s.to_string()), 2);
    match inner {
        NodeEnum::ColumnRef(c) => {
            match c.fields.iter().rev().map(str_value).find(|s| !s.is_empty()) {
                Some(name) => strong(name),
                None => (None, 0),
            }
        }
        NodeEnum::FuncCall(f) => match f.funcname.last() {
            Some(name) => strong(str_value(name)),
            None => (None, 0),
        },
        NodeEnum::AExpr(a) if a.kind == AExprKind::AexprNullif as i32 => strong("nullif"),
        NodeEnum::TypeCast(t) => type_cast_name(t),
        NodeEnum::CollateClause(c) => c.arg.as_deref().map_or((None, 0), figure),
        NodeEnum::CaseExpr(c) => {
            let (name, strength) = c.defresult.as_deref().map_or((None, 0), figure);
            if strength <= 1 {
                (Some("case".to_string()), 1)
            } else {
                (name, strength)
            }
        }
        NodeEnum::AArrayExpr(_) => strong("array"),
        NodeEnum::RowExpr(_) => strong("row"),
        NodeEnum::CoalesceExpr(_) => strong("coalesce"),
        NodeEnum::MinMaxExpr(m) if m.op == MinMaxOp::IsGreatest as i32 => strong("greatest"),
        NodeEnum::MinMaxExpr(_) => strong("least"),
        NodeEnum::SqlvalueFunction(s) => strong(sql_value_function_name(s.op)),
        NodeEnum::SubLink(s) => match s.sub_link_type {
            // EXISTS_SUBLINK = 0, ARRAY_SUBLINK = 6 in PostgreSQL's numbering (+1 here).
            1 => strong("exists"),
            7 => strong("array"),
            _ => (None, 0),
        },
        NodeEnum::GroupingFunc(_) => strong("grouping"),
        _ => (None, 0),
    }
}

fn type_cast_name(t: &protobuf::TypeCast) -> (Option<String>, u8) {
    let (name, strength) = t.arg.as_deref().map_or((None, 0), figure);
    if strength <= 1 {
        if let Some(last) = t.type_name.as_ref().and_then(|tn| tn.names.last()) {
            return (Some(str_value(last).to_string()), 1);
        }
    }
    (name, strength)
}

fn sql_value_function_name(op: i32) -> &'static str {
    use SqlValueFunctionOp::*;
    match SqlValueFunctionOp::try_from(op).unwrap_or(SqlvalueFunctionOpUndefined) {
        SvfopCurrentDate => "current_date",
        SvfopCurrentTime | SvfopCurrentTimeN => "current_time",
        SvfopCurrentTimestamp | SvfopCurrentTimestampN => "current_timestamp",
        SvfopLocaltime | SvfopLocaltimeN => "localtime",
        SvfopLocaltimestamp | SvfopLocaltimestampN => "localtimestamp",
        SvfopCurrentRole => "current_role",
        SvfopCurrentUser => "current_user",
        SvfopUser => "user",
        SvfopSessionUser => "session_user",
        SvfopCurrentCatalog => "current_catalog",
        SvfopCurrentSchema => "current_schema",
        SqlvalueFunctionOpUndefined => "?column?",
    }
}
