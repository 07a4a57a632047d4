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
//!
//! The current transaction's modes (`transaction_isolation`,
//! `transaction_read_only`, `transaction_deferrable`) never outlive the
//! transaction in PostgreSQL: each transaction starts from the `default_`
//! settings. So every SET or RESET of one goes to the session as SET LOCAL
//! ([`set_setting`]); outside a transaction block it only checks the value, and
//! SET TRANSACTION / RESET of `transaction_isolation` warn as PostgreSQL does.
//! BEGIN first sets each mode to its default's current value, as PostgreSQL's
//! transaction start copies them, so a default changed inside the block leaves
//! the block's modes alone.
//! Not done: PostgreSQL's "must be called before any query" errors for a mode
//! changed after the block's first query (the session does not say whether one
//! ran); `set_config` inside a SELECT, where a query always ran, does check.

use pg_query::protobuf::{self, a_const, KeywordKind, TransactionStmtKind, VariableSetKind};
use pg_query::{Node, NodeEnum};

use super::analyze::Analyzer;
use super::parse::Statement;
use super::types::SqlType;
use super::{Column, QueryResult, SessionContext, TxnCommand};
use crate::error::{sqlstate, QuillError, QuillResult};

/// Settings whose list values are quoted as identifiers (PostgreSQL's
/// GUC_LIST_QUOTE flag).
const LIST_QUOTE_SETTINGS: &[&str] = &[
    "search_path",
    "temp_tablespaces",
    "session_preload_libraries",
    "shared_preload_libraries",
    "local_preload_libraries",
];

/// The current transaction's modes: set only for the current transaction.
const TRANSACTION_MODES: &[&str] = &[
    "transaction_isolation",
    "transaction_read_only",
    "transaction_deferrable",
];

/// Whether `name` is one of the current transaction's modes.
pub fn is_transaction_mode(name: &str) -> bool {
    TRANSACTION_MODES
        .iter()
        .any(|m| m.eq_ignore_ascii_case(name))
}

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
    let an = Analyzer::new(stmt.source());
    match VariableSetKind::try_from(s.kind).unwrap_or(VariableSetKind::Undefined) {
        VariableSetKind::VarSetValue => {
            let value = flatten_set_args(&an, &s.name, &s.args)?;
            set_setting(ctx, &s.name, Some(&value), s.is_local)?;
            Ok(command_done("SET"))
        }
        VariableSetKind::VarSetDefault if s.is_local => {
            // The session warns about SET LOCAL outside a block before this one.
            set_setting(ctx, &s.name, None, true)?;
            reset_transaction_warning(ctx, &s.name);
            Ok(command_done("SET"))
        }
        VariableSetKind::VarSetDefault => {
            reset_transaction_warning(ctx, &s.name);
            set_setting(ctx, &s.name, None, false)?;
            Ok(command_done("SET"))
        }
        VariableSetKind::VarSetMulti if s.name == "SESSION CHARACTERISTICS" => {
            // SET SESSION CHARACTERISTICS AS TRANSACTION ...: the session defaults.
            for option in &s.args {
                let (name, value) = transaction_option(&an, option)?;
                ctx.set_setting(&format!("default_{name}"), Some(&value), false)?;
            }
            Ok(command_done("SET"))
        }
        VariableSetKind::VarSetMulti => {
            // SET TRANSACTION ...: this transaction's modes.
            if ctx.in_transaction_block() == Some(false) {
                ctx.notice(
                    "WARNING",
                    sqlstate::NO_ACTIVE_SQL_TRANSACTION,
                    "SET TRANSACTION can only be used in transaction blocks".to_string(),
                );
            }
            for option in &s.args {
                let (name, value) = transaction_option(&an, option)?;
                set_setting(ctx, name, Some(&value), false)?;
            }
            Ok(command_done("SET"))
        }
        VariableSetKind::VarReset if is_transaction_mode(&s.name) => {
            reset_transaction_warning(ctx, &s.name);
            set_setting(ctx, &s.name, None, false)?;
            Ok(command_done("RESET"))
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

/// `SET name = value` (`value` None: `SET name TO DEFAULT` / `RESET name`) through
/// the session, with the transaction modes made local to the transaction (see
/// the module doc). Outside a transaction block such a SET only checks its value:
/// PostgreSQL applies it to the statement's own transaction, which then ends.
pub fn set_setting(
    ctx: &mut dyn SessionContext,
    name: &str,
    value: Option<&str>,
    is_local: bool,
) -> QuillResult<()> {
    if !is_transaction_mode(name) {
        return ctx.set_setting(name, value, is_local);
    }
    if is_local || ctx.in_transaction_block() != Some(false) {
        return ctx.set_setting(name, value, true);
    }
    match value {
        Some(value) => crate::config::check_value(name, value).map(|_| ()),
        None => Ok(()),
    }
}

/// PostgreSQL's warning for `RESET transaction_isolation` (and `SET
/// transaction_isolation TO DEFAULT`) outside a transaction block.
fn reset_transaction_warning(ctx: &mut dyn SessionContext, name: &str) {
    let isolation = name.eq_ignore_ascii_case("transaction_isolation");
    if isolation && ctx.in_transaction_block() == Some(false) {
        ctx.notice(
            "WARNING",
            sqlstate::NO_ACTIVE_SQL_TRANSACTION,
            "RESET TRANSACTION can only be used in transaction blocks".to_string(),
        );
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
    let an = Analyzer::new(stmt.source());
    let Some(command) = txn_command_of(t) else {
        let what = match TransactionStmtKind::try_from(t.kind) {
            Ok(TransactionStmtKind::TransStmtCommit) => "COMMIT AND CHAIN",
            Ok(TransactionStmtKind::TransStmtRollback) => "ROLLBACK AND CHAIN",
            Ok(TransactionStmtKind::TransStmtRollbackTo) => "ROLLBACK TO SAVEPOINT",
            _ => super::tags::command_tag(stmt.node()),
        };
        return Err(an.unsupported(what, -1));
    };
    let starts_block = ctx.in_transaction_block() != Some(true);
    let mut tag = ctx.transaction_command(command)?;
    if command == TxnCommand::Begin {
        if starts_block {
            // PostgreSQL's StartTransaction: the block's modes start as copies of
            // the default_ settings, which the block may then change freely.
            for mode in TRANSACTION_MODES {
                let value = ctx.show_setting(mode)?;
                ctx.set_setting(mode, Some(&value), true)?;
            }
        }
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
