//! The extended query protocol: Parse, Bind, Describe, Execute, Close (Sync and
//! Flush are the command loop's) — PostgreSQL's `exec_parse_message`,
//! `exec_bind_message`, `exec_describe_*_message` and `exec_execute_message`.
//!
//! # What it owns
//! The session's prepared statements and portals. A prepared statement is the
//! parsed statement, its parameter types (declared, or inferred at Parse) and
//! the columns it returns; it is analyzed at Parse, so its errors come there, and
//! again at each Execute (Quill keeps no plans; the table it names is looked up
//! afresh). A portal is a statement with bound parameter values and result
//! formats; its rows are computed by the first Execute and handed out
//! `max_rows` at a time (PortalSuspended between).
//!
//! # Rules (PostgreSQL 15's)
//! 1. Every error ends the message sequence: the command loop skips to Sync, and
//!    the transaction the messages ran in is aborted (or the block made failed).
//! 2. Outside a transaction block the messages up to Sync form one implicit
//!    transaction ([`Session::enter_extended_implicit`]); Sync commits it.
//!    Portals live until their transaction ends; statements until Close (the
//!    unnamed one until the next Parse or simple Query).
//! 3. In a failed block only COMMIT/ROLLBACK may be parsed, bound or run (25P02).
//! 4. Parameter values are converted by their type's input (text) or receive
//!    (binary) function at Bind and reach the analyzer as constants
//!    (`crate::sql::params`); they are never pasted into SQL text.
//! 5. `statement_timeout` and cancel apply to each Execute separately.

use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::sync::Arc;

use pgwire::messages::extendedquery::{Bind, Close, Describe, Execute, Parse};

use super::interrupts;
use super::protocol::messages::{self, TxnStatus};
use super::protocol::{check_utf8, Connection};
use super::session::Session;
use crate::error::{sqlstate, QuillError, QuillResult};
use crate::sql::binary::{datum_from_binary, text_to_binary};
use crate::sql::value::{datum_from_text, Datum};
use crate::sql::{self, Column, ParamList, SqlType, Statement, TxnCommand};

/// A statement prepared by Parse.
struct PreparedStatement {
    /// None for an empty query string.
    stmt: Option<Statement>,
    param_types: Vec<SqlType>,
    /// What it returns (None: no rows), as analyzed at Parse.
    columns: Option<Vec<Column>>,
}

impl PreparedStatement {
    /// COMMIT or ROLLBACK: the only statements a failed block runs.
    fn ends_block(&self) -> bool {
        self.stmt.as_ref().is_some_and(|s| {
            matches!(
                s.txn_command(),
                Some(TxnCommand::Commit | TxnCommand::Rollback)
            )
        })
    }
}

/// Where a portal's execution stands.
enum PortalState {
    /// Bound, not executed yet.
    Ready,
    /// Executed; these rows (text form) are still to be sent.
    Rows(VecDeque<Vec<Option<String>>>),
    /// Ran to completion: a row-returning portal then returns no more rows, any
    /// other "cannot be run" again.
    Done,
}

/// A statement with its parameters bound (Bind).
struct Portal {
    prepared: Rc<PreparedStatement>,
    /// The statement with its bound parameters.
    bound: Option<Statement>,
    /// One format code per result column.
    result_formats: Vec<i16>,
    state: PortalState,
}

/// The session's prepared statements and portals ("" is the unnamed one).
#[derive(Default)]
pub struct Extended {
    statements: HashMap<String, Rc<PreparedStatement>>,
    portals: HashMap<String, Portal>,
}

/// What handling a message asks of the command loop.
pub enum Outcome {
    Done,
    /// An error was reported: skip to Sync.
    Failed,
    /// A FATAL error: end the session with this exit code.
    Exit(i32),
}

fn in_failed_transaction() -> QuillError {
    QuillError::new(
        sqlstate::IN_FAILED_SQL_TRANSACTION,
        "current transaction is aborted, commands ignored until end of transaction block",
    )
}

fn unknown_statement(name: &str) -> QuillError {
    let message = if name.is_empty() {
        "unnamed prepared statement does not exist".to_string()
    } else {
        format!("prepared statement \"{name}\" does not exist")
    };
    QuillError::new(sqlstate::INVALID_SQL_STATEMENT_NAME, message)
}

fn unknown_portal(name: &str) -> QuillError {
    QuillError::new(
        sqlstate::INVALID_CURSOR_NAME,
        format!("portal \"{name}\" does not exist"),
    )
}

fn unsupported_format(code: i16) -> QuillError {
    QuillError::new(
        sqlstate::INVALID_PARAMETER_VALUE,
        format!("unsupported format code: {code}"),
    )
}

/// Format codes as the client gave them, spread to one per item: none means
/// all text, one applies to all.
fn spread_formats(codes: &[i16], count: usize) -> Option<Vec<i16>> {
    match codes.len() {
        0 => Some(vec![0; count]),
        1 => Some(vec![codes[0]; count]),
        n if n == count => Some(codes.to_vec()),
        _ => None,
    }
}

impl Extended {
    /// A simple Query drops the unnamed statement and portal (PostgreSQL's
    /// `exec_simple_query`).
    pub fn before_simple_query(&mut self) {
        self.statements.remove("");
        self.portals.remove("");
    }

    /// The transaction ended (commit, rollback, or an error aborted it): its
    /// portals are gone.
    pub fn transaction_ended(&mut self) {
        self.portals.clear();
    }

    /// Reports `error` for the current message: the transaction is aborted (a
    /// block becomes failed) and its portals dropped.
    fn fail(&mut self, conn: &mut Connection, session: &mut Session, error: QuillError) -> Outcome {
        if error.is_fatal() {
            conn.report_fatal(&error);
            return Outcome::Exit(1);
        }
        if let Err(abort_error) = session.end_statement(false) {
            log::error!("could not abort transaction: {}", abort_error.message);
        }
        conn.send_error(&error);
        session.statement_failed();
        self.transaction_ended();
        Outcome::Failed
    }

    pub fn parse(&mut self, conn: &mut Connection, session: &mut Session, msg: Parse) -> Outcome {
        match self.prepare(session, msg) {
            Ok(()) => {
                conn.send(messages::parse_complete());
                Outcome::Done
            }
            Err(error) => self.fail(conn, session, error),
        }
    }

    fn prepare(&mut self, session: &mut Session, msg: Parse) -> QuillResult<()> {
        let name = msg.name.unwrap_or_default();
        if !name.is_empty() && self.statements.contains_key(&name) {
            return Err(QuillError::new(
                sqlstate::DUPLICATE_PREPARED_STATEMENT,
                format!("prepared statement \"{name}\" already exists"),
            ));
        }
        let mut statements = sql::parse_query(&msg.query)?;
        if statements.len() > 1 {
            return Err(QuillError::syntax(
                "cannot insert multiple commands into a prepared statement",
                None,
            ));
        }
        let mut declared = Vec::with_capacity(msg.type_oids.len());
        for &oid in &msg.type_oids {
            declared.push(match oid {
                0 => SqlType::Unknown,
                oid => SqlType::from_oid(oid).ok_or_else(|| {
                    QuillError::feature_not_supported(format!(
                        "parameters of type OID {oid} are not supported yet"
                    ))
                })?,
            });
        }
        let prepared = match statements.pop() {
            None => PreparedStatement {
                stmt: None,
                param_types: declared,
                columns: None,
            },
            Some(stmt) => {
                let failed = session.txn_status() == TxnStatus::Failed;
                let exits = matches!(
                    stmt.txn_command(),
                    Some(TxnCommand::Commit | TxnCommand::Rollback)
                );
                if failed && !exits {
                    return Err(in_failed_transaction());
                }
                let params = Arc::new(ParamList::preparing(declared));
                let columns = if failed {
                    None
                } else {
                    session.enter_extended_implicit();
                    let columns = sql::describe(&stmt.with_params(Arc::clone(&params)), session)?;
                    session.end_statement(true)?;
                    columns
                };
                if let Some(number) = params.undetermined() {
                    return Err(QuillError::new(
                        sqlstate::INDETERMINATE_DATATYPE,
                        format!("could not determine data type of parameter ${number}"),
                    ));
                }
                PreparedStatement {
                    stmt: Some(stmt),
                    param_types: params.types(),
                    columns,
                }
            }
        };
        self.statements.insert(name, Rc::new(prepared));
        Ok(())
    }

    pub fn bind(&mut self, conn: &mut Connection, session: &mut Session, msg: Bind) -> Outcome {
        match self.bind_portal(session, msg) {
            Ok(()) => {
                conn.send(messages::bind_complete());
                Outcome::Done
            }
            Err(error) => self.fail(conn, session, error),
        }
    }

    fn bind_portal(&mut self, session: &mut Session, msg: Bind) -> QuillResult<()> {
        let statement_name = msg.statement_name.unwrap_or_default();
        let prepared = self
            .statements
            .get(&statement_name)
            .cloned()
            .ok_or_else(|| unknown_statement(&statement_name))?;
        let nparams = prepared.param_types.len();
        let formats = spread_formats(&msg.parameter_format_codes, msg.parameters.len())
            .ok_or_else(|| {
                QuillError::new(
                    sqlstate::PROTOCOL_VIOLATION,
                    format!(
                        "bind message has {} parameter formats but {} parameters",
                        msg.parameter_format_codes.len(),
                        msg.parameters.len()
                    ),
                )
            })?;
        if msg.parameters.len() != nparams {
            return Err(QuillError::new(sqlstate::PROTOCOL_VIOLATION, format!(
                "bind message supplies {} parameters, but prepared statement \"{statement_name}\" requires {nparams}",
                msg.parameters.len()
            )));
        }
        if session.txn_status() == TxnStatus::Failed && (!prepared.ends_block() || nparams != 0) {
            return Err(in_failed_transaction());
        }
        let portal_name = msg.portal_name.unwrap_or_default();
        if !portal_name.is_empty() && self.portals.contains_key(&portal_name) {
            return Err(QuillError::new(
                sqlstate::DUPLICATE_CURSOR,
                format!("cursor \"{portal_name}\" already exists"),
            ));
        }
        session.enter_extended_implicit();
        let mut values = Vec::with_capacity(nparams);
        for (i, (value, format)) in msg.parameters.iter().zip(&formats).enumerate() {
            let ty = prepared.param_types[i];
            values.push(match (value, format) {
                (None, _) => Datum::Null,
                (Some(bytes), 0) => {
                    check_utf8(bytes)?;
                    datum_from_text(ty, -1, &String::from_utf8_lossy(bytes))?
                }
                (Some(bytes), 1) => {
                    let input = datum_from_binary(ty, bytes)?;
                    if input.leftover {
                        return Err(QuillError::new(
                            sqlstate::INVALID_BINARY_REPRESENTATION,
                            format!("incorrect binary data format in bind parameter {}", i + 1),
                        ));
                    }
                    input.value
                }
                (Some(_), &code) => return Err(unsupported_format(code)),
            });
        }
        let ncolumns = prepared.columns.as_ref().map_or(0, Vec::len);
        let result_formats =
            spread_formats(&msg.result_column_format_codes, ncolumns).ok_or_else(|| {
                QuillError::new(
                    sqlstate::PROTOCOL_VIOLATION,
                    format!(
                        "bind message has {} result formats but query has {ncolumns} columns",
                        msg.result_column_format_codes.len()
                    ),
                )
            })?;
        if let Some(&code) = result_formats.iter().find(|&&c| c != 0 && c != 1) {
            return Err(unsupported_format(code));
        }
        let params = Arc::new(ParamList::bound(prepared.param_types.clone(), values));
        let bound = prepared.stmt.as_ref().map(|s| s.with_params(params));
        self.portals.insert(
            portal_name,
            Portal {
                prepared,
                bound,
                result_formats,
                state: PortalState::Ready,
            },
        );
        session.end_statement(true)?;
        Ok(())
    }

    pub fn describe(
        &mut self,
        conn: &mut Connection,
        session: &mut Session,
        msg: Describe,
    ) -> Outcome {
        let name = msg.name.unwrap_or_default();
        let failed = session.txn_status() == TxnStatus::Failed;
        if msg.target_type == b'S' {
            let Some(prepared) = self.statements.get(&name) else {
                return self.fail(conn, session, unknown_statement(&name));
            };
            if failed && prepared.columns.is_some() {
                return self.fail(conn, session, in_failed_transaction());
            }
            let oids = prepared.param_types.iter().map(|t| t.oid()).collect();
            conn.send(messages::parameter_description(oids));
            match &prepared.columns {
                Some(columns) => conn.send(messages::row_description(columns)),
                None => conn.send(messages::no_data()),
            }
        } else {
            let Some(portal) = self.portals.get(&name) else {
                return self.fail(conn, session, unknown_portal(&name));
            };
            if failed && portal.prepared.columns.is_some() {
                return self.fail(conn, session, in_failed_transaction());
            }
            match &portal.prepared.columns {
                Some(columns) => conn.send(messages::row_description_with_formats(
                    columns,
                    &portal.result_formats,
                )),
                None => conn.send(messages::no_data()),
            }
        }
        Outcome::Done
    }

    pub fn close(&mut self, conn: &mut Connection, msg: Close) -> Outcome {
        let name = msg.name.unwrap_or_default();
        if msg.target_type == b'S' {
            self.statements.remove(&name);
        } else {
            self.portals.remove(&name);
        }
        conn.send(messages::close_complete());
        Outcome::Done
    }

    pub fn execute(
        &mut self,
        conn: &mut Connection,
        session: &mut Session,
        msg: Execute,
    ) -> Outcome {
        let name = msg.name.unwrap_or_default();
        let max_rows = usize::try_from(msg.max_rows).ok().filter(|&n| n > 0);
        let Some(portal) = self.portals.get_mut(&name) else {
            return self.fail(conn, session, unknown_portal(&name));
        };
        if session.txn_status() == TxnStatus::Failed && !portal.prepared.ends_block() {
            return self.fail(conn, session, in_failed_transaction());
        }
        match std::mem::replace(&mut portal.state, PortalState::Done) {
            PortalState::Ready => {}
            PortalState::Rows(mut rows) => {
                let sent = send_rows(conn, portal, &mut rows, max_rows);
                return match sent {
                    Ok(suspended) => {
                        if suspended {
                            portal.state = PortalState::Rows(rows);
                        }
                        Outcome::Done
                    }
                    Err(error) => self.fail(conn, session, error),
                };
            }
            PortalState::Done => {
                if portal.prepared.columns.is_some() {
                    conn.send(messages::command_complete("SELECT 0"));
                    return Outcome::Done;
                }
                let error = QuillError::new(
                    sqlstate::OBJECT_NOT_IN_PREREQUISITE_STATE,
                    format!("portal \"{name}\" cannot be run"),
                );
                return self.fail(conn, session, error);
            }
        }
        let Some(stmt) = portal.bound.clone() else {
            conn.send(messages::empty_query_response());
            return Outcome::Done;
        };
        let described = portal.prepared.columns.clone();
        let block_before = session.txn_status();
        session.enter_extended_implicit();
        let generation = session.settings_generation();
        interrupts::arm_statement_timeout(session.config().statement_timeout_ms());
        let outcome = if stmt.is_copy() {
            super::copy::run_copy(conn, session, &stmt)
        } else {
            sql::execute(&stmt, session)
        };
        interrupts::arm_statement_timeout(0);
        let outcome = outcome.and_then(|result| check_result_type(described.as_deref(), result));
        let outcome = match outcome {
            Ok(result) => session.end_statement(true).map(|_| result),
            Err(error) => Err(error),
        };
        let notices = session.take_notices();
        for (severity, notice) in notices
            .into_iter()
            .filter(|(severity, _)| session.config().sends_to_client(severity))
        {
            conn.send(messages::notice_response(severity, &notice));
        }
        if session.settings_generation() != generation {
            for (name, value) in session.changed_reported_parameters() {
                conn.send(messages::parameter_status(&name, &value));
            }
        }
        let result = match outcome {
            Ok(result) => result,
            Err(error) => return self.fail(conn, session, error),
        };
        // COMMIT/ROLLBACK ended the block: its other portals are gone.
        if block_before != TxnStatus::Idle && session.txn_status() == TxnStatus::Idle {
            self.portals.retain(|n, _| *n == name);
        }
        let Some(portal) = self.portals.get_mut(&name) else {
            return Outcome::Done;
        };
        if result.columns.is_none() {
            conn.send(messages::command_complete(&result.tag));
            return Outcome::Done;
        }
        let mut rows: VecDeque<_> = result.rows.into();
        match send_rows(conn, portal, &mut rows, max_rows) {
            Ok(true) => portal.state = PortalState::Rows(rows),
            Ok(false) => {}
            Err(error) => return self.fail(conn, session, error),
        }
        Outcome::Done
    }
}

/// A statement whose table changed since Parse must still return what Describe
/// announced (PostgreSQL's "cached plan must not change result type").
fn check_result_type(
    described: Option<&[Column]>,
    result: sql::QueryResult,
) -> QuillResult<sql::QueryResult> {
    let same = match (described, &result.columns) {
        (Some(a), Some(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|(x, y)| x.type_oid == y.type_oid && x.type_mod == y.type_mod)
        }
        (None, None) => true,
        _ => false,
    };
    if same {
        Ok(result)
    } else {
        Err(QuillError::feature_not_supported(
            "cached plan must not change result type",
        ))
    }
}

/// Sends up to `max_rows` (all if None) of `rows` in the portal's formats, then
/// PortalSuspended if the limit was reached (`Ok(true)`: more may follow, as
/// PostgreSQL cannot tell either), else CommandComplete with the rows sent now.
fn send_rows(
    conn: &mut Connection,
    portal: &Portal,
    rows: &mut VecDeque<Vec<Option<String>>>,
    max_rows: Option<usize>,
) -> QuillResult<bool> {
    let columns = portal.prepared.columns.as_deref().unwrap_or(&[]);
    let mut sent = 0usize;
    while max_rows.is_none_or(|max| sent < max) {
        let Some(row) = rows.pop_front() else {
            break;
        };
        let mut values = Vec::with_capacity(row.len());
        for (i, value) in row.into_iter().enumerate() {
            let binary = portal.result_formats.get(i) == Some(&1);
            values.push(match value {
                None => None,
                Some(text) if binary => {
                    let ty = columns
                        .get(i)
                        .and_then(|c| SqlType::from_oid(c.type_oid))
                        .ok_or_else(|| QuillError::internal("result column without a type"))?;
                    Some(text_to_binary(ty, &text)?)
                }
                Some(text) => Some(text.into_bytes()),
            });
        }
        conn.send(messages::data_row_bytes(&values));
        sent += 1;
    }
    if max_rows.is_some_and(|max| sent == max) {
        conn.send(messages::portal_suspended());
        return Ok(true);
    }
    let tag = match portal.bound.as_ref().map(|s| s.command_tag()) {
        Some("SELECT") => format!("SELECT {sent}"),
        Some(tag) => tag.to_string(),
        None => String::new(),
    };
    conn.send(messages::command_complete(&tag));
    Ok(false)
}
