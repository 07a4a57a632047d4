//! SQL: from query text to results (DESIGN.md §7), for the statements that need
//! no storage — SELECT of expressions, SET/SHOW/RESET, and the transaction-block
//! commands — and the expression machinery the storage executor
//! (`crate::executor`) uses for statements on tables, which [`execute`] hands to
//! the session's storage.
//!
//! # What it owns
//! * Parsing ([`parse_query`]): PostgreSQL's own grammar through `pg_query`,
//!   with PostgreSQL's syntax errors and positions (`parse.rs`, the only
//!   `unsafe` in this folder: one call into libpg_query's C API for the error
//!   position).
//! * Values and types (`types.rs`, `value.rs`, `numeric.rs` with `digits.rs`,
//!   `float.rs`): PostgreSQL's type OIDs, typmods, and text input/output
//!   functions. These do not depend on the parse tree; the storage layer
//!   reuses them.
//! * Expressions: analysis (`analyze.rs`, `coerce.rs`, `operators.rs`,
//!   `funcs.rs`, and `scope.rs` for column references to the one relation a
//!   statement names), constant folding and evaluation (`eval.rs`, `arith.rs`,
//!   `cast.rs`), and output column names (`colname.rs`).
//! * Aggregates and grouping: aggregate calls and their transition states
//!   (`aggregate.rs`); GROUP BY items, the ungrouped-column check, hash
//!   aggregation and the value identity of GROUP BY/DISTINCT (`grouping.rs`).
//!   The storage executor runs them over table rows; a SELECT without FROM
//!   aggregates its one row here.
//! * Statement execution ([`execute`]): `select.rs`, `utility.rs`, and the
//!   command tags of everything else (`tags.rs`).
//!
//! # The pipeline
//! 1. **parse**: text → `pg_query` raw parse trees, one [`Statement`] each,
//!    keeping the whole query string so positions count from its start.
//! 2. **analyze**: raw tree → typed `expr::Expr`: names resolved, operators
//!    and functions chosen by PostgreSQL's rules, implicit casts made explicit,
//!    string literals converted to the type their context needs.
//! 3. **fold**: constant subexpressions computed once, as PostgreSQL's planner
//!    does (so `SELECT 1/0 WHERE false` fails as it does there).
//! 4. **evaluate**: per row (here: at most one), in text format for the client,
//!    printed with the session's [`OutputFormat`] (`extra_float_digits`), which
//!    a statement reads once, never per row.
//!
//! # Rules
//! 1. PostgreSQL 15 is the specification: results, column names, type OIDs and
//!    typmods, SQLSTATEs, messages, hints and positions are PostgreSQL's; every
//!    behaviour the tests pin was checked against a real PostgreSQL 15.
//! 2. Errors are values. Nothing a client sends may panic: analysis and
//!    evaluation return [`QuillError`]s; an "internal" error means a bug here.
//! 3. Positions are 1-based character positions in the whole query string,
//!    attached where PostgreSQL attaches them: to analysis errors (unknown
//!    column, bad literal, no such operator), never to run-time errors
//!    (division by zero, overflow).
//! 4. What Quill does not do yet fails with SQLSTATE 0A000 and a message naming
//!    the feature ("CREATE TABLE is not supported yet"), never with a wrong
//!    answer.
//! 5. The session (settings, transaction block, cancel flag) lives behind
//!    [`SessionContext`]; this module keeps no state between statements.
//!
//! Callers: the backend's command loop (`crate::backend`), and the storage
//! executor (`crate::executor`), which analyzes and evaluates expressions over
//! table rows with `analyze`, `scope`, `eval` and `colname`. This module calls
//! nothing below it: table statements reach storage through
//! [`SessionContext::run_storage_statement`].

pub(crate) mod aggregate;
pub(crate) mod analyze;
pub(crate) mod arith;
pub mod binary;
pub(crate) mod cast;
mod coerce;
pub(crate) mod colname;
mod digits;
pub(crate) mod eval;
pub(crate) mod expr;
pub mod float;
mod funcs;
pub(crate) mod grouping;
pub mod numeric;
mod operators;
pub mod params;
mod parse;
pub(crate) mod scope;
pub(crate) mod select;
mod tags;
pub mod types;
mod utility;
pub mod value;

#[cfg(test)]
mod tests;

pub use numeric::Numeric;
pub use params::{ParamList, QuerySource};
pub use parse::{char_position, parse_query, Statement};
pub use types::SqlType;
pub use value::{Datum, OutputFormat};

use pg_query::NodeEnum;

use crate::error::{QuillError, QuillResult};

/// The transaction-block commands the protocol layer must recognise (only
/// COMMIT and ROLLBACK may run in an aborted block).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnCommand {
    /// BEGIN / START TRANSACTION.
    Begin,
    /// COMMIT / END.
    Commit,
    /// ROLLBACK / ABORT.
    Rollback,
}

/// What SQL execution needs from the session it runs in.
pub trait SessionContext {
    fn current_user(&self) -> &str;
    fn current_database(&self) -> &str;
    fn backend_pid(&self) -> i32;
    /// Err(57014 "canceling statement due to user request") once a cancel arrived (or 57P01 on shutdown).
    fn check_for_interrupts(&mut self) -> QuillResult<()>;
    fn show_setting(&self, name: &str) -> QuillResult<String>;
    /// (name, setting, description) rows for SHOW ALL.
    fn show_all_settings(&self) -> Vec<(String, String, String)>;
    /// value None = DEFAULT. is_local = SET LOCAL.
    fn set_setting(&mut self, name: &str, value: Option<&str>, is_local: bool) -> QuillResult<()>;
    /// name "all" = RESET ALL.
    fn reset_setting(&mut self, name: &str) -> QuillResult<()>;
    /// Applies BEGIN/COMMIT/ROLLBACK to the session's transaction block; returns the command tag ("BEGIN", "COMMIT", "ROLLBACK") and may emit notices/warnings itself.
    /// (For START TRANSACTION, [`execute`] turns a returned "BEGIN" into "START TRANSACTION".)
    fn transaction_command(&mut self, cmd: TxnCommand) -> QuillResult<String>;
    /// Send a NOTICE/WARNING to the client (severity text like "WARNING", sqlstate, message).
    fn notice(&mut self, severity: &'static str, sqlstate: &'static str, message: String);
    /// Whether a transaction block is open, failed or not (PostgreSQL's
    /// `IsTransactionBlock`; an implicit block of several statements in one query
    /// counts). Outside one, `SET TRANSACTION` only warns and a `SET` of a
    /// transaction mode changes nothing. `None` when the session does not say: such
    /// a `SET` then goes to `set_setting` as `SET LOCAL`, whose own check decides.
    fn in_transaction_block(&self) -> Option<bool> {
        None
    }

    /// Asks the checkpointer for an immediate checkpoint and waits for it (the
    /// CHECKPOINT command). Sessions without a server behind them cannot.
    fn request_checkpoint(&mut self) -> QuillResult<()> {
        Err(QuillError::feature_not_supported(
            "CHECKPOINT is not supported here",
        ))
    }

    /// Whether the session has tables (a server session does; unit tests' sessions
    /// do not, and a SELECT … FROM there reports the relation as missing).
    fn has_storage(&self) -> bool {
        false
    }

    /// Runs a statement that reads or writes tables (CREATE TABLE, INSERT, UPDATE,
    /// DELETE, SELECT with FROM) through the session's storage; sessions without
    /// storage refuse. The executor evaluates expressions through this same session
    /// (functions, settings, interrupts while it waits for a row).
    fn run_storage_statement(
        &mut self,
        stmt: &Statement,
        _format: OutputFormat,
    ) -> QuillResult<QueryResult> {
        Err(QuillError::feature_not_supported(format!(
            "{} is not supported yet",
            stmt.command_tag()
        )))
    }

    /// Runs `COPY ... FROM STDIN` / `TO STDOUT`, moving the data through
    /// `channel` (the client connection, which this layer never sees itself).
    fn run_copy(
        &mut self,
        stmt: &Statement,
        _format: OutputFormat,
        _channel: &mut dyn CopyChannel,
    ) -> QuillResult<QueryResult> {
        Err(QuillError::feature_not_supported(format!(
            "{} is not supported yet",
            stmt.command_tag()
        )))
    }

    /// Analyzes a table statement without running it and returns its result
    /// columns (`None`: no rows), for the extended protocol's Parse/Describe.
    fn describe_storage_statement(&mut self, stmt: &Statement) -> QuillResult<Option<Vec<Column>>> {
        Err(QuillError::feature_not_supported(format!(
            "{} is not supported yet",
            stmt.command_tag()
        )))
    }
}

/// What the client sent during `COPY FROM STDIN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyInput {
    /// The next piece of the data stream (any split: rows may span messages).
    Data(Vec<u8>),
    /// CopyDone: the data is complete.
    Done,
    /// CopyFail with the client's reason.
    Fail(String),
}

/// The COPY sub-protocol as the executor sees it: the backend implements it over
/// the connection (CopyInResponse/CopyData/CopyDone, CopyOutResponse/CopyData).
pub trait CopyChannel {
    /// Enters COPY IN mode (CopyInResponse, text format, `columns` columns).
    fn begin_copy_in(&mut self, columns: usize) -> QuillResult<()>;
    /// The next message of the data stream. Only after `begin_copy_in`.
    fn next_copy_in(&mut self) -> QuillResult<CopyInput>;
    /// Enters COPY OUT mode (CopyOutResponse, text format).
    fn begin_copy_out(&mut self, columns: usize) -> QuillResult<()>;
    /// Sends one row's bytes (one CopyData). Only after `begin_copy_out`.
    fn copy_out(&mut self, data: &[u8]) -> QuillResult<()>;
}

/// Runs a COPY statement in the session, its data through `channel`.
pub fn execute_copy(
    stmt: &Statement,
    ctx: &mut dyn SessionContext,
    channel: &mut dyn CopyChannel,
) -> QuillResult<QueryResult> {
    let format = output_format(ctx)?;
    ctx.run_copy(stmt, format, channel)
}

/// The outcome of one statement.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    /// RowDescription, if the statement returns rows (even zero of them).
    pub columns: Option<Vec<Column>>,
    /// Text-format values; None = NULL.
    pub rows: Vec<Vec<Option<String>>>,
    /// The CommandComplete tag ("SELECT 1", "SET", "SHOW").
    pub tag: String,
}

/// One RowDescription field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub type_oid: u32,
    pub type_len: i16,
    pub type_mod: i32,
}

impl Column {
    pub fn new(name: String, ty: SqlType, type_mod: i32) -> Column {
        Column {
            name,
            type_oid: ty.oid(),
            type_len: ty.typlen(),
            type_mod,
        }
    }
}

impl Statement {
    /// Which transaction-block command this is, if any that Quill runs.
    pub fn txn_command(&self) -> Option<TxnCommand> {
        match self.node() {
            NodeEnum::TransactionStmt(t) => utility::txn_command_of(t),
            _ => None,
        }
    }

    /// Whether this is a COPY, which the backend runs with [`execute_copy`].
    pub fn is_copy(&self) -> bool {
        matches!(self.node(), NodeEnum::CopyStmt(_))
    }

    /// PostgreSQL's command tag for this kind of statement ("CREATE TABLE").
    pub fn command_tag(&self) -> &'static str {
        tags::command_tag(self.node())
    }
}

/// The session's output settings ([`OutputFormat`]), read once per statement.
fn output_format(ctx: &dyn SessionContext) -> QuillResult<OutputFormat> {
    let text = ctx.show_setting("extra_float_digits")?;
    let extra_float_digits = text.parse().map_err(|_| {
        QuillError::internal(format!("extra_float_digits is not an integer: \"{text}\""))
    })?;
    Ok(OutputFormat { extra_float_digits })
}

/// Whether [`execute`] hands this statement to the session's storage.
fn is_storage_statement(node: &NodeEnum, ctx: &dyn SessionContext) -> bool {
    ctx.has_storage()
        && match node {
            NodeEnum::SelectStmt(select) => !select.from_clause.is_empty(),
            NodeEnum::DropStmt(d) => d.remove_type() == pg_query::protobuf::ObjectType::ObjectTable,
            NodeEnum::CreateStmt(_)
            | NodeEnum::InsertStmt(_)
            | NodeEnum::UpdateStmt(_)
            | NodeEnum::DeleteStmt(_)
            | NodeEnum::TruncateStmt(_) => true,
            _ => false,
        }
}

/// Analyzes a statement without running it, as PostgreSQL does at Parse: its
/// analysis errors are reported, its parameters' types decided (through the
/// statement's [`ParamList`]), and the columns it returns (`None`: no rows)
/// given for RowDescription. Utility statements are not analyzed (PostgreSQL
/// analyzes them when they run); SHOW's single column is known up front.
pub fn describe(
    stmt: &Statement,
    ctx: &mut dyn SessionContext,
) -> QuillResult<Option<Vec<Column>>> {
    if is_storage_statement(stmt.node(), ctx) {
        return ctx.describe_storage_statement(stmt);
    }
    match stmt.node() {
        NodeEnum::SelectStmt(select) => select::describe(stmt, select).map(Some),
        // SHOW has no side effects: its columns are those it answers with.
        NodeEnum::VariableShowStmt(show) => utility::show(show, ctx).map(|r| r.columns),
        _ => Ok(None),
    }
}

/// Executes one statement in the given session.
pub fn execute(stmt: &Statement, ctx: &mut dyn SessionContext) -> QuillResult<QueryResult> {
    match stmt.node() {
        NodeEnum::SelectStmt(select) if !select.from_clause.is_empty() && ctx.has_storage() => {
            let format = output_format(ctx)?;
            ctx.run_storage_statement(stmt, format)
        }
        NodeEnum::DropStmt(d)
            if d.remove_type() == pg_query::protobuf::ObjectType::ObjectTable
                && ctx.has_storage() =>
        {
            let format = output_format(ctx)?;
            ctx.run_storage_statement(stmt, format)
        }
        NodeEnum::CreateStmt(_)
        | NodeEnum::InsertStmt(_)
        | NodeEnum::UpdateStmt(_)
        | NodeEnum::DeleteStmt(_)
        | NodeEnum::TruncateStmt(_)
            if ctx.has_storage() =>
        {
            let format = output_format(ctx)?;
            ctx.run_storage_statement(stmt, format)
        }
        NodeEnum::SelectStmt(select) => select::execute(stmt, select, ctx),
        NodeEnum::VariableSetStmt(set) => utility::set(stmt, set, ctx),
        NodeEnum::VariableShowStmt(show) => utility::show(show, ctx),
        NodeEnum::TransactionStmt(t) => utility::transaction(stmt, t, ctx),
        NodeEnum::CheckPointStmt(_) => {
            ctx.request_checkpoint()?;
            Ok(QueryResult {
                columns: None,
                rows: Vec::new(),
                tag: "CHECKPOINT".to_string(),
            })
        }
        other => Err(QuillError::feature_not_supported(format!(
            "{} is not supported yet",
            tags::command_tag(other)
        ))),
    }
}
