//! The command loop: read a message, act on it, answer, repeat — PostgreSQL's
//! PostgresMain.
//!
//! Simple Query runs each statement of the string in turn and stops at the first
//! error. The extended protocol's messages go to [`super::extended`]; after an
//! error among them everything up to Sync is skipped, as PostgreSQL does. Sync
//! commits the implicit transaction of the messages before it and answers
//! ReadyForQuery.

use pgwire::messages::PgWireFrontendMessage;

use super::extended::{Extended, Outcome};
use super::interrupts;
use super::protocol::messages::{self, TxnStatus};
use super::protocol::{Connection, Incoming};
use super::session::Session;
use crate::error::{sqlstate, QuillError};
use crate::sql::{self, TxnCommand};

/// Serves the session until the client leaves or a FATAL ends it; returns the exit
/// code for the process.
pub fn run(conn: &mut Connection, session: &mut Session) -> i32 {
    let mut skipping_until_sync = false;
    let mut extended = Extended::default();
    // Whether extended-protocol messages arrived since the last ReadyForQuery.
    let mut in_pipeline = false;
    loop {
        if conn.flush().is_err() {
            return 0; // the client went away
        }
        let read = conn.read_message();
        // As PostgreSQL: a SIGHUP that arrived while waiting is acted on after the
        // command is read and before it runs, so the command sees the new settings.
        if interrupts::take_reload() {
            session.reload_config();
        }
        let message = match read {
            Ok(Incoming::Eof) => return 0,
            Ok(Incoming::Message(message)) => message,
            Err(error) if error.is_fatal() => return fatal(conn, &error),
            Err(error) => {
                // A well-framed message with bad content (e.g. invalid UTF-8). As in
                // PostgreSQL: a bad Sync ends any skipping and is answered; a bad
                // extended-protocol message starts skipping until Sync (and is not
                // even parsed, so not reported, while skipping); a bad Query or
                // FunctionCall is answered with ReadyForQuery.
                match conn.last_message_type() {
                    b'S' => skipping_until_sync = false,
                    b'P' | b'B' | b'E' | b'D' | b'C' | b'H' => {
                        if !skipping_until_sync {
                            conn.send_error(&error);
                            if let Err(abort_error) = session.end_statement(false) {
                                log::error!("could not abort transaction: {}", abort_error.message);
                            }
                            session.statement_failed();
                            extended.transaction_ended();
                            skipping_until_sync = true;
                            in_pipeline = true;
                        }
                        continue;
                    }
                    _ => {}
                }
                conn.send_error(&error);
                session.statement_failed();
                conn.send(messages::ready_for_query(session.txn_status()));
                continue;
            }
        };
        // After an error in an extended-query sequence PostgreSQL ignores every
        // message, Query and Terminate included, until Sync.
        if skipping_until_sync {
            if matches!(message, PgWireFrontendMessage::Sync(_)) {
                skipping_until_sync = false;
                in_pipeline = false;
                sync(conn, session, &mut extended);
            }
            continue;
        }
        // A cancel that arrived while the session was idle is void (PostgreSQL
        // ignores one that comes while it reads a command); one that arrives
        // while a pipeline's messages are handled applies to them.
        if !in_pipeline {
            interrupts::clear_cancel();
        }
        let outcome = match message {
            PgWireFrontendMessage::Query(query) => {
                extended.before_simple_query();
                session.before_simple_query();
                if let Some(code) = simple_query(conn, session, &query.query) {
                    return code;
                }
                session.leave_implicit_block();
                if session.txn_status() == TxnStatus::Idle {
                    extended.transaction_ended();
                }
                conn.send(messages::ready_for_query(session.txn_status()));
                in_pipeline = false;
                continue;
            }
            PgWireFrontendMessage::Terminate(_) => return 0,
            PgWireFrontendMessage::Sync(_) => {
                in_pipeline = false;
                sync(conn, session, &mut extended);
                continue;
            }
            PgWireFrontendMessage::Flush(_) => continue,
            PgWireFrontendMessage::Parse(m) => extended.parse(conn, session, m),
            PgWireFrontendMessage::Bind(m) => extended.bind(conn, session, m),
            PgWireFrontendMessage::Describe(m) => extended.describe(conn, session, m),
            PgWireFrontendMessage::Execute(m) => extended.execute(conn, session, m),
            PgWireFrontendMessage::Close(m) => extended.close(conn, m),
            // Copy messages outside COPY are ignored, as PostgreSQL does.
            PgWireFrontendMessage::CopyData(_)
            | PgWireFrontendMessage::CopyDone(_)
            | PgWireFrontendMessage::CopyFail(_) => continue,
            other => {
                let error = QuillError::protocol_violation(format!(
                    "unexpected message type {:?} after startup",
                    message_name(&other)
                ));
                return fatal(conn, &error);
            }
        };
        in_pipeline = true;
        match outcome {
            Outcome::Done => {}
            Outcome::Failed => skipping_until_sync = true,
            Outcome::Exit(code) => return code,
        }
    }
}

/// Sync: commits the implicit transaction of the messages since the last one
/// (a failed commit is reported), then ReadyForQuery.
fn sync(conn: &mut Connection, session: &mut Session, extended: &mut Extended) {
    if let Err(error) = session.sync() {
        conn.send_error(&error);
        session.statement_failed();
    }
    if session.txn_status() == TxnStatus::Idle {
        extended.transaction_ended();
    }
    conn.send(messages::ready_for_query(session.txn_status()));
}

fn message_name(message: &PgWireFrontendMessage) -> &'static str {
    match message {
        PgWireFrontendMessage::PasswordMessageFamily(_) => "password",
        PgWireFrontendMessage::Startup(_) => "startup",
        PgWireFrontendMessage::CancelRequest(_) => "cancel",
        _ => "other",
    }
}

/// Reports a FATAL and returns the exit code for it.
fn fatal(conn: &mut Connection, error: &QuillError) -> i32 {
    conn.report_fatal(error);
    1
}

/// Runs one simple-Query string. `Some(code)` means the session must end.
fn simple_query(conn: &mut Connection, session: &mut Session, text: &str) -> Option<i32> {
    let statements = match sql::parse_query(text) {
        Ok(statements) => statements,
        Err(error) => {
            conn.send_error(&error);
            session.statement_failed();
            return None;
        }
    };
    if statements.is_empty() {
        conn.send(messages::empty_query_response());
        return None;
    }
    // Several statements in one Query message run as one implicit transaction.
    let multi = statements.len() > 1;
    let outcome = run_statements(conn, session, &statements, multi);
    if multi {
        session.leave_implicit_block();
    }
    outcome
}

fn run_statements(
    conn: &mut Connection,
    session: &mut Session,
    statements: &[sql::Statement],
    multi: bool,
) -> Option<i32> {
    for (i, statement) in statements.iter().enumerate() {
        if multi {
            session.enter_implicit_block(i + 1 < statements.len());
        }
        let ends_block = matches!(
            statement.txn_command(),
            Some(TxnCommand::Commit | TxnCommand::Rollback)
        );
        if session.txn_status() == TxnStatus::Failed && !ends_block {
            conn.send_error(&QuillError::new(
                sqlstate::IN_FAILED_SQL_TRANSACTION,
                "current transaction is aborted, commands ignored until end of transaction block",
            ));
            return None;
        }
        let generation = session.settings_generation();
        interrupts::arm_statement_timeout(session.config().statement_timeout_ms());
        let outcome = if statement.is_copy() {
            super::copy::run_copy(conn, session, statement)
        } else {
            sql::execute(statement, session)
        };
        interrupts::arm_statement_timeout(0);
        // Outside a block the statement was its own transaction: commit or abort it
        // now, before its result is reported (a commit that fails is an error).
        let outcome = match outcome {
            Ok(result) => session.end_statement(true).map(|_| result),
            Err(error) => {
                if let Err(abort_error) = session.end_statement(false) {
                    log::error!("could not abort transaction: {}", abort_error.message);
                }
                Err(error)
            }
        };
        let notices = session.take_notices();
        for (severity, notice) in notices
            .into_iter()
            .filter(|(severity, _)| session.config().sends_to_client(severity))
        {
            conn.send(messages::notice_response(severity, &notice));
        }
        match outcome {
            Ok(result) => {
                if let Some(columns) = &result.columns {
                    conn.send(messages::row_description(columns));
                }
                for row in &result.rows {
                    conn.send(messages::data_row(row));
                }
                conn.send(messages::command_complete(&result.tag));
                if session.settings_generation() != generation {
                    for (name, value) in session.changed_reported_parameters() {
                        conn.send(messages::parameter_status(&name, &value));
                    }
                }
            }
            Err(error) if error.is_fatal() => return Some(fatal(conn, &error)),
            Err(error) => {
                conn.send_error(&error);
                session.statement_failed();
                if session.settings_generation() != generation {
                    for (name, value) in session.changed_reported_parameters() {
                        conn.send(messages::parameter_status(&name, &value));
                    }
                }
                return None;
            }
        }
    }
    None
}
