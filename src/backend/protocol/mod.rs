//! Frontend/backend protocol v3 (DESIGN.md §7): framing, limits, and message
//! encoding for one client connection.
//!
//! Owns: the socket, the read and write buffers, and the rules for what a frame may
//! look like. Message bodies are decoded and encoded with `pgwire`'s codec; the
//! checks PostgreSQL makes before decoding (lengths, known types, string
//! terminators, UTF-8) are made here, so any malformed input becomes a FATAL 08P01
//! `protocol_violation` for this session alone and never a panic.
//!
//! Limits (PostgreSQL's): a startup packet is 8..=10000 bytes; a Query, Parse,
//! Bind, Execute-like or CopyData message may be up to 1 GiB - 1; every other
//! message up to 10000 bytes.

pub mod messages;
pub mod startup;

use std::io::{self, Read, Write};

use bytes::{Buf, BufMut, BytesMut};
use pgwire::messages::{
    DecodeContext, PgWireBackendMessage, PgWireFrontendMessage, ProtocolVersion,
};

use crate::backend::interrupts;
use crate::error::{QuillError, QuillResult};
use crate::postmaster::listen::ClientStream;

/// PostgreSQL's PQ_LARGE_MESSAGE_LIMIT: 1 GiB - 1.
pub const LARGE_MESSAGE_LIMIT: usize = 0x3fff_ffff - 1;
/// PostgreSQL's PQ_SMALL_MESSAGE_LIMIT.
pub const SMALL_MESSAGE_LIMIT: usize = 10000;
/// PostgreSQL's MAX_STARTUP_PACKET_LENGTH.
pub const MAX_STARTUP_PACKET_LENGTH: usize = 10000;

/// One client connection's transport.
pub struct Connection {
    stream: ClientStream,
    read_buf: BytesMut,
    write_buf: BytesMut,
    decode_ctx: DecodeContext,
}

/// What reading from the client gave.
pub enum Incoming<T> {
    Message(T),
    /// The client closed the connection (cleanly, between messages).
    Eof,
}

impl Connection {
    pub fn new(stream: ClientStream) -> Connection {
        let mut decode_ctx = DecodeContext::new(ProtocolVersion::PROTOCOL3_0);
        decode_ctx.awaiting_frontend_ssl = false;
        decode_ctx.awaiting_frontend_startup = false;
        Connection {
            stream,
            read_buf: BytesMut::with_capacity(8192),
            write_buf: BytesMut::with_capacity(8192),
            decode_ctx,
        }
    }

    pub fn raw_fd(&self) -> i32 {
        self.stream.raw_fd()
    }

    pub fn is_unix_socket(&self) -> bool {
        self.stream.is_unix()
    }

    /// Makes sure `n` bytes are buffered. `Ok(false)` means EOF before any byte of
    /// them arrived; EOF in the middle is an error ("incomplete message").
    fn fill(&mut self, n: usize) -> QuillResult<bool> {
        let start_len = self.read_buf.len();
        let mut chunk = [0u8; 8192];
        while self.read_buf.len() < n {
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    if self.read_buf.len() == start_len && start_len == 0 {
                        return Ok(false);
                    }
                    return Err(QuillError::protocol_violation(
                        "incomplete message from client",
                    ));
                }
                Ok(got) => self.read_buf.extend_from_slice(&chunk[..got]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    if interrupts::terminate_pending() {
                        return Err(interrupts::terminate_error());
                    }
                }
                Err(e) => {
                    return Err(QuillError::protocol_violation(format!(
                        "could not receive data from client: {}",
                        crate::postmaster::listen::describe_io_error(&e)
                    )));
                }
            }
        }
        Ok(true)
    }

    /// Reads the next frame's bytes: `(type byte or None for startup, body)`.
    fn read_frame(
        &mut self,
        typed: bool,
        max_len: impl Fn(u8) -> usize,
    ) -> QuillResult<Incoming<(u8, BytesMut)>> {
        let header = if typed { 5 } else { 4 };
        if !self.fill(header)? {
            return Ok(Incoming::Eof);
        }
        let kind = if typed { self.read_buf[0] } else { 0 };
        let offset = header - 4;
        let len = (&self.read_buf[offset..header]).get_i32();
        let limit = max_len(kind);
        if len < 4 || len as usize > limit + 4 {
            return Err(QuillError::protocol_violation(if typed {
                format!("invalid message length")
            } else {
                "invalid length of startup packet".to_string()
            }));
        }
        let total = offset + len as usize;
        self.fill(total)?;
        let frame = self.read_buf.split_to(total);
        Ok(Incoming::Message((kind, frame)))
    }

    /// Reads the first packet of a connection (startup, SSL/GSS request, cancel).
    pub fn read_startup_packet(&mut self) -> QuillResult<Incoming<startup::StartupPacket>> {
        match self.read_frame(false, |_| MAX_STARTUP_PACKET_LENGTH)? {
            Incoming::Eof => Ok(Incoming::Eof),
            Incoming::Message((_, frame)) => {
                if frame.len() < 8 {
                    return Err(QuillError::protocol_violation(
                        "invalid length of startup packet",
                    ));
                }
                startup::parse_startup_packet(frame).map(Incoming::Message)
            }
        }
    }

    /// Reads the next regular message, validated and decoded.
    pub fn read_message(&mut self) -> QuillResult<Incoming<PgWireFrontendMessage>> {
        let frame = match self.read_frame(true, message_length_limit)? {
            Incoming::Eof => return Ok(Incoming::Eof),
            Incoming::Message((kind, frame)) => {
                if !is_known_frontend_type(kind) {
                    return Err(QuillError::protocol_violation(format!(
                        "invalid frontend message type {kind}"
                    )));
                }
                frame
            }
        };
        validate_frame(&frame)?;
        let mut buf = frame;
        match PgWireFrontendMessage::decode(&mut buf, &self.decode_ctx) {
            Ok(Some(message)) => Ok(Incoming::Message(message)),
            Ok(None) => Err(QuillError::protocol_violation(
                "incomplete message from client",
            )),
            Err(e) => Err(QuillError::protocol_violation(format!(
                "invalid message format: {e}"
            ))),
        }
    }

    /// Queues a message; it is sent by the next [`Connection::flush`].
    pub fn send(&mut self, message: PgWireBackendMessage) {
        if let Err(e) = message.encode(&mut self.write_buf) {
            // Only an oversized message can fail to encode; report it instead.
            log::warn!("could not encode message: {e}");
        }
    }

    /// Queues raw bytes (e.g. the single-byte SSL refusal).
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.write_buf.put_slice(bytes);
    }

    pub fn send_error(&mut self, error: &QuillError) {
        self.send(messages::error_response(error));
    }

    /// Writes everything queued. A client that went away makes this fail; the caller
    /// then ends the session.
    pub fn flush(&mut self) -> io::Result<()> {
        while !self.write_buf.is_empty() {
            match self.stream.write(&self.write_buf) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.write_buf.advance(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Bytes buffered but not yet consumed (pipelined messages).
    pub fn has_pending_input(&self) -> bool {
        !self.read_buf.is_empty()
    }
}

/// The message types a frontend may send after startup.
fn is_known_frontend_type(kind: u8) -> bool {
    matches!(
        kind,
        b'Q' | b'P'
            | b'B'
            | b'E'
            | b'D'
            | b'C'
            | b'H'
            | b'S'
            | b'X'
            | b'd'
            | b'c'
            | b'f'
            | b'p'
            | b'F'
    )
}

fn message_length_limit(kind: u8) -> usize {
    match kind {
        b'Q' | b'P' | b'B' | b'd' | b'p' | b'F' => LARGE_MESSAGE_LIMIT,
        _ => SMALL_MESSAGE_LIMIT,
    }
}

/// Checks PostgreSQL makes before it trusts a message body: strings end with NUL and
/// are valid UTF-8 where the codec would otherwise guess, fixed-size messages have
/// their size.
fn validate_frame(frame: &[u8]) -> QuillResult<()> {
    let kind = frame[0];
    let body = &frame[5..];
    match kind {
        b'Q' => {
            let Some(nul) = body.iter().position(|&b| b == 0) else {
                return Err(QuillError::protocol_violation("invalid string in message"));
            };
            if nul + 1 != body.len() {
                return Err(QuillError::protocol_violation("invalid message format"));
            }
            check_utf8(&body[..nul])
        }
        b'S' | b'H' | b'X' | b'c' if !body.is_empty() => {
            Err(QuillError::protocol_violation("invalid message format"))
        }
        b'P' | b'B' | b'E' | b'D' | b'C' | b'f' | b'p' | b'F' if body.is_empty() => {
            Err(QuillError::protocol_violation("invalid message format"))
        }
        _ => Ok(()),
    }
}

/// Text from the client must be valid UTF-8 (server_encoding is UTF8).
pub fn check_utf8(bytes: &[u8]) -> QuillResult<()> {
    match std::str::from_utf8(bytes) {
        Ok(_) => Ok(()),
        Err(e) => {
            let bad = &bytes[e.valid_up_to()..];
            let shown: Vec<String> = bad
                .iter()
                .take(e.error_len().unwrap_or(bad.len()).max(1))
                .map(|b| format!("0x{b:02x}"))
                .collect();
            Err(QuillError::new(
                crate::error::sqlstate::CHARACTER_NOT_IN_REPERTOIRE,
                format!(
                    "invalid byte sequence for encoding \"UTF8\": {}",
                    shown.join(" ")
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_frame_must_be_terminated_and_utf8() {
        let mut ok = vec![b'Q', 0, 0, 0, 13];
        ok.extend_from_slice(b"select 1\0");
        assert!(validate_frame(&ok).is_ok());
        let mut unterminated = vec![b'Q', 0, 0, 0, 12];
        unterminated.extend_from_slice(b"select 1");
        assert_eq!(
            validate_frame(&unterminated).unwrap_err().sqlstate,
            crate::error::sqlstate::PROTOCOL_VIOLATION
        );
        let bad_utf8 = [b'Q', 0, 0, 0, 7, 0xff, 0];
        assert_eq!(
            validate_frame(&bad_utf8).unwrap_err().message,
            "invalid byte sequence for encoding \"UTF8\": 0xff"
        );
    }

    #[test]
    fn sync_with_payload_is_rejected() {
        assert!(validate_frame(&[b'S', 0, 0, 0, 4]).is_ok());
        assert!(validate_frame(&[b'S', 0, 0, 0, 5, 1]).is_err());
    }
}
