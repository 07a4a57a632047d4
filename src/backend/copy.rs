//! The COPY sub-protocol over the connection ([`crate::sql::CopyChannel`]): the
//! executor asks for the client's data or hands rows to send; this file turns
//! that into CopyInResponse / CopyData / CopyDone / CopyFail and CopyOutResponse
//! / CopyData / CopyDone messages, as PostgreSQL's `copyfromparse.c` and
//! `copyto.c` do.
//!
//! Staying in sync: once CopyInResponse is sent, the client sends data until
//! CopyDone or CopyFail whatever happens. If the statement fails before reading
//! that far, [`ConnectionCopy::finish`] discards the rest (PostgreSQL's
//! behaviour), so the next message read is the client's next command. Flush
//! and Sync are ignored meanwhile; any other message is a protocol violation.

use pgwire::messages::copy::{CopyData, CopyDone, CopyInResponse, CopyOutResponse};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};

use super::protocol::{Connection, Incoming};
use crate::error::{sqlstate, QuillError, QuillResult};
use crate::sql::{self, CopyChannel, CopyInput};

/// Queued output is written out once it reaches this many bytes, so COPY TO of
/// a large table does not buffer it all.
const COPY_OUT_FLUSH_BYTES: usize = 64 * 1024;

/// One COPY statement's view of the connection.
pub struct ConnectionCopy<'a> {
    conn: &'a mut Connection,
    /// CopyInResponse was sent and CopyDone/CopyFail has not arrived yet.
    copy_in_open: bool,
    /// CopyOutResponse was sent (CopyDone is owed if the statement succeeds).
    copy_out_open: bool,
}

impl<'a> ConnectionCopy<'a> {
    pub fn new(conn: &'a mut Connection) -> ConnectionCopy<'a> {
        ConnectionCopy {
            conn,
            copy_in_open: false,
            copy_out_open: false,
        }
    }

    /// Ends COPY mode after the statement: on success COPY OUT's CopyDone is
    /// sent; in any case the client's unread COPY IN data is discarded. An
    /// error here (the client went away, or broke the protocol) replaces the
    /// statement's outcome.
    pub fn finish(mut self, succeeded: bool) -> QuillResult<()> {
        if self.copy_out_open && succeeded {
            self.conn
                .send(PgWireBackendMessage::CopyDone(CopyDone::new()));
        }
        while self.copy_in_open {
            self.next_copy_in()?;
        }
        Ok(())
    }
}

impl CopyChannel for ConnectionCopy<'_> {
    fn begin_copy_in(&mut self, columns: usize) -> QuillResult<()> {
        let columns = i16::try_from(columns)
            .map_err(|_| QuillError::internal("too many columns for COPY"))?;
        self.conn
            .send(PgWireBackendMessage::CopyInResponse(CopyInResponse::new(
                0,
                columns,
                vec![0; columns as usize],
            )));
        self.copy_in_open = true;
        self.conn.flush().map_err(|e| client_gone(&e))
    }

    fn next_copy_in(&mut self) -> QuillResult<CopyInput> {
        if !self.copy_in_open {
            return Err(QuillError::internal("COPY data read outside COPY IN"));
        }
        loop {
            let message = match self.conn.read_message() {
                Ok(Incoming::Message(message)) => message,
                Ok(Incoming::Eof) => {
                    self.copy_in_open = false;
                    return Err(QuillError::fatal(
                        sqlstate::PROTOCOL_VIOLATION,
                        "unexpected EOF on client connection with an open transaction",
                    ));
                }
                Err(error) if error.is_fatal() => {
                    self.copy_in_open = false;
                    return Err(error);
                }
                // A well-framed message with bad content: PostgreSQL's COPY
                // reads CopyData and CopyDone without such checks, so only a
                // bad CopyFail can get here; take it as a failure.
                Err(error) => {
                    self.copy_in_open = false;
                    return Err(error);
                }
            };
            match message {
                PgWireFrontendMessage::CopyData(data) => {
                    return Ok(CopyInput::Data(data.data.to_vec()))
                }
                PgWireFrontendMessage::CopyDone(_) => {
                    self.copy_in_open = false;
                    return Ok(CopyInput::Done);
                }
                PgWireFrontendMessage::CopyFail(fail) => {
                    self.copy_in_open = false;
                    return Ok(CopyInput::Fail(fail.message));
                }
                PgWireFrontendMessage::Flush(_) | PgWireFrontendMessage::Sync(_) => continue,
                _ => {
                    self.copy_in_open = false;
                    return Err(QuillError::new(
                        sqlstate::PROTOCOL_VIOLATION,
                        format!(
                            "unexpected message type 0x{:02X} during COPY from stdin",
                            self.conn.last_message_type()
                        ),
                    ));
                }
            }
        }
    }

    fn begin_copy_out(&mut self, columns: usize) -> QuillResult<()> {
        let columns = i16::try_from(columns)
            .map_err(|_| QuillError::internal("too many columns for COPY"))?;
        self.conn
            .send(PgWireBackendMessage::CopyOutResponse(CopyOutResponse::new(
                0,
                columns,
                vec![0; columns as usize],
            )));
        self.copy_out_open = true;
        Ok(())
    }

    fn copy_out(&mut self, data: &[u8]) -> QuillResult<()> {
        self.conn.send(PgWireBackendMessage::CopyData(CopyData::new(
            bytes::Bytes::copy_from_slice(data),
        )));
        if self.conn.pending_output_len() >= COPY_OUT_FLUSH_BYTES {
            self.conn.flush().map_err(|e| client_gone(&e))?;
        }
        Ok(())
    }
}

/// Runs a COPY, its data moving over the connection; afterwards the client's
/// unread COPY data is discarded, so the session stays in sync after an error.
pub fn run_copy(
    conn: &mut Connection,
    session: &mut super::session::Session,
    statement: &sql::Statement,
) -> Result<sql::QueryResult, QuillError> {
    let mut channel = ConnectionCopy::new(conn);
    let outcome = sql::execute_copy(statement, session, &mut channel);
    match channel.finish(outcome.is_ok()) {
        Ok(()) => outcome,
        // A fatal error of the statement itself outranks one found while
        // discarding the rest of the data.
        Err(error) => match outcome {
            Err(first) if first.is_fatal() || !error.is_fatal() => Err(first),
            _ => Err(error),
        },
    }
}

/// Writing to the client failed: it went away, so the session ends (PostgreSQL's
/// "could not send data to client", 08006).
fn client_gone(e: &std::io::Error) -> QuillError {
    QuillError::fatal("08006", format!("could not send data to client: {e}"))
}
