//! Utility statements that need no storage: SET / RESET / SHOW and the
//! transaction-block commands. The session ([`SessionContext`]) owns the settings
//! and the block state; this module turns statements into calls on it, in
//! PostgreSQL's shapes:
//! * SET values are flattened to one string as `flatten_set_variable_args`
//!   does: numbers as written, strings and identifiers unquoted (quoted again
//!   as identifiers for list settings like `search_path`), joined by ", ";
//! * SHOW returns one text column named after the setting (PostgreSQL's
//!   mixed-case names for DateStyle, IntervalStyle, TimeZone); SHOW ALL three;
//! * BEGIN options become SET LOCAL of `transaction_isolation` & co. after the
//!   block has begun, as PostgreSQL applies them.

use pg_query::protobuf::{self, a_const, KeywordKind, TransactionStmtKind, VariableSetKind};
use pg_query::{Node, NodeEnum};

use super::analyze::Analyzer;
use super::parse::Statement;
use super::types::SqlType;
use super::{Column, QueryResult, SessionContext, TxnCommand};
use crate::error::{QuillError, QuillResult};

/// Settings whose list values are quoted as identifiers (PostgreSQL's
/// GUC_LIST_QUOTE flag).
const LIST_QUOTE_SETTINGS: &[&str] = &[
    "search_path",
    "temp_tablespaces",
    "session_preload_libraries",
    "shared_preload_libraries",
    "local_preload_libraries",
];

/// Settings PostgreSQL spells with capitals (SHOW uses that spelling).
const MIXED_CASE_SETTINGS: &[&str] = &["DateStyle", "IntervalStyle", "TimeZone"];

fn command_done(tag: &str) -> QueryResult {
    QueryResult {
        columns: None,
        rows: Vec::new(),
        tag: tag.to_string(),
    }
}

/// SET, SET LOCAL, SET ... TO DEFAULT, RESET, RESET ALL, SET TRANSACTION.
pub fn set(
    stmt: &Statement,
    s: &protobuf::VariableSetStmt,
    ctx: &mut dyn SessionContext,
) -> QuillResult<QueryResult> {
    let an = Analyzer::new(stmt.query());
    match VariableSetKind::try_from(s.kind).unwrap_or(VariableSetKind::Undefined) {
        VariableSetKind::VarSetValue => {
            let value = flatten_set_args(&an, &s.name, &s.args)?;
            ctx.set_setting(&s.name, Some(&value), s.is_local)?;
            Ok(command_done("SET"))
        }
        VariableSetKind::VarSetDefault => {
            ctx.set_setting(&s.name, None, s.is_local)?;
            Ok(command_done("SET"))
        }
        VariableSetKind::VarSetMulti => {
            // SET TRANSACTION ... applies to this transaction (SET LOCAL);
            // SET SESSION CHARACTERISTICS AS TRANSACTION ... to the session defaults.
            let session = s.name == "SESSION CHARACTERISTICS";
            for option in &s.args {
                let (name, value) = transaction_option(&an, option)?;
                let name = if session {
                    format!("default_{name}")
                } else {
                    name.to_string()
                };
                ctx.set_setting(&name, Some(&value), !session)?;
            }
            Ok(command_done("SET"))
        }
        VariableSetKind::VarReset => {
            ctx.reset_setting(&s.name)?;
            Ok(command_done("RESET"))
        }
        VariableSetKind::VarResetAll => {
            ctx.reset_setting("all")?;
            Ok(command_done("RESET"))
        }
        VariableSetKind::VarSetCurrent => Err(an.unsupported("SET ... FROM CURRENT", -1)),
        VariableSetKind::Undefined => Err(QuillError::internal("SET of undefined kind")),
    }
}

/// PostgreSQL's `flatten_set_variable_args`.
fn flatten_set_args(an: &Analyzer, name: &str, args: &[Node]) -> QuillResult<String> {
    let quote = LIST_QUOTE_SETTINGS.contains(&name);
    let mut parts = Vec::with_capacity(args.len());
    for arg in args {
        let part = match &arg.node {
            Some(NodeEnum::AConst(c)) => match &c.val {
                Some(a_const::Val::Ival(i)) => i.ival.to_string(),
                Some(a_const::Val::Fval(f)) => f.fval.clone(),
                Some(a_const::Val::Sval(s)) if quote => quote_identifier(&s.sval),
                Some(a_const::Val::Sval(s)) => s.sval.clone(),
                Some(a_const::Val::Boolval(b)) => {
                    if b.boolval { "true" } else { "false" }.to_string()
                }
                _ => return Err(an.unsupported("this SET value", c.location)),
            },
            Some(NodeEnum::TypeCast(t)) => {
                return Err(an.unsupported("SET TIME ZONE INTERVAL", t.location));
            }
            _ => return Err(an.unsupported("this SET value", -1)),
        };
        parts.push(part);
    }
    Ok(parts.join(", "))
}

/// PostgreSQL's `quote_identifier`: quotes unless the name is lower-case
/// letters, digits and underscores and not a reserved keyword.
pub fn quote_identifier(ident: &str) -> String {
    let simple = ident
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && ident
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    let keyword = simple
        && pg_query::scan_tokens(ident).is_ok_and(|tokens| {
            tokens.len() == 1
                && tokens[0].keyword_kind != KeywordKind::NoKeyword as i32
                && tokens[0].keyword_kind != KeywordKind::UnreservedKeyword as i32
        });
    if simple && !keyword {
        ident.to_string()
    } else {
        format!("\"{}\"", ident.replace('"', "\"\""))
    }
}

/// One `ISOLATION LEVEL x` / `READ ONLY` / `DEFERRABLE` item as (setting, value).
fn transaction_option<'n>(an: &Analyzer, option: &'n Node) -> QuillResult<(&'n str, String)> {
    let Some(NodeEnum::DefElem(d)) = &option.node else {
        return Err(QuillError::internal("transaction option is not a DefElem"));
    };
    let value = match d.arg.as_deref().and_then(|a| a.node.as_ref()) {
        Some(NodeEnum::AConst(c)) => match &c.val {
            Some(a_const::Val::Sval(s)) => s.sval.clone(),
            Some(a_const::Val::Ival(i)) => if i.ival != 0 { "on" } else { "off" }.to_string(),
            _ => return Err(an.unsupported("this transaction option", d.location)),
        },
        _ => return Err(an.unsupported("this transaction option", d.location)),
    };
    Ok((d.defname.as_str(), value))
}

/// SHOW name / SHOW ALL.
pub fn show(
    s: &protobuf::VariableShowStmt,
    ctx: &mut dyn SessionContext,
) -> QuillResult<QueryResult> {
    let text_column = |name: &str| Column::new(name.to_string(), SqlType::Text, -1);
    if s.name == "all" {
        let rows = ctx
            .show_all_settings()
            .into_iter()
            .map(|(name, setting, description)| vec![Some(name), Some(setting), Some(description)])
            .collect();
        return Ok(QueryResult {
            columns: Some(vec![
                text_column("name"),
                text_column("setting"),
                text_column("description"),
            ]),
            rows,
            tag: "SHOW".to_string(),
        });
    }
    let value = ctx.show_setting(&s.name)?;
    let column = MIXED_CASE_SETTINGS
        .iter()
        .find(|m| m.eq_ignore_ascii_case(&s.name))
        .map_or(s.name.as_str(), |m| m);
    Ok(QueryResult {
        columns: Some(vec![text_column(column)]),
        rows: vec![vec![Some(value)]],
        tag: "SHOW".to_string(),
    })
}

/// Classifies a transaction statement for [`Statement::txn_command`]: `None`
/// for the ones Quill does not support (savepoints, two-phase, AND CHAIN).
pub fn txn_command_of(t: &protobuf::TransactionStmt) -> Option<TxnCommand> {
    match TransactionStmtKind::try_from(t.kind).ok()? {
        TransactionStmtKind::TransStmtBegin | TransactionStmtKind::TransStmtStart => {
            Some(TxnCommand::Begin)
        }
        TransactionStmtKind::TransStmtCommit if !t.chain => Some(TxnCommand::Commit),
        TransactionStmtKind::TransStmtRollback if !t.chain => Some(TxnCommand::Rollback),
        _ => None,
    }
}

/// BEGIN / START TRANSACTION / COMMIT / END / ROLLBACK / ABORT.
pub fn transaction(
    stmt: &Statement,
    t: &protobuf::TransactionStmt,
    ctx: &mut dyn SessionContext,
) -> QuillResult<QueryResult> {
    let an = Analyzer::new(stmt.query());
    let Some(command) = txn_command_of(t) else {
        let what = match TransactionStmtKind::try_from(t.kind) {
            Ok(TransactionStmtKind::TransStmtCommit) => "COMMIT AND CHAIN",
            Ok(TransactionStmtKind::TransStmtRollback) => "ROLLBACK AND CHAIN",
            Ok(TransactionStmtKind::TransStmtRollbackTo) => "ROLLBACK TO SAVEPOINT",
            _ => super::tags::command_tag(stmt.node()),
        };
        return Err(an.unsupported(what, -1));
    };
    let mut tag = ctx.transaction_command(command)?;
    if command == TxnCommand::Begin {
        for option in &t.options {
            let (name, value) = transaction_option(&an, option)?;
            ctx.set_setting(name, Some(&value), true)?;
        }
        if t.kind == TransactionStmtKind::TransStmtStart as i32 && tag == "BEGIN" {
            tag = "START TRANSACTION".to_string();
        }
    }
    Ok(command_done(&tag))
}
