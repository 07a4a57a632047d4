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
use crate::error::sqlstate::PROTOCOL_VIOLATION;
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
    /// A communication error happened: report it to the log only.
    comm_error: bool,
    /// The startup packet asked for protocol 1.x or 2.x.
    old_protocol_client: bool,
    last_type: u8,
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
            comm_error: false,
            old_protocol_client: false,
            last_type: 0,
        }
    }

    pub fn raw_fd(&self) -> i32 {
        self.stream.raw_fd()
    }

    pub fn is_unix_socket(&self) -> bool {
        self.stream.is_unix()
    }

    /// Makes sure `n` bytes are buffered. `Ok(false)` means EOF before any byte of
    /// the message arrived; EOF in the middle is the communication error
    /// `incomplete` ("incomplete message from client").
    fn fill(&mut self, n: usize, incomplete: &str) -> QuillResult<bool> {
        let mut chunk = [0u8; 8192];
        while self.read_buf.len() < n {
            if interrupts::terminate_pending() {
                return Err(interrupts::terminate_error());
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    if interrupts::terminate_pending() {
                        return Err(interrupts::terminate_error());
                    }
                    if self.read_buf.is_empty() {
                        return Ok(false);
                    }
                    return Err(self.comm_error(incomplete));
                }
                Ok(got) => self.read_buf.extend_from_slice(&chunk[..got]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    if interrupts::terminate_pending() {
                        return Err(interrupts::terminate_error());
                    }
                }
                Err(e) => {
                    let message = format!(
                        "could not receive data from client: {}",
                        crate::postmaster::listen::describe_io_error(&e)
                    );
                    return Err(self.comm_error(&message));
                }
            }
        }
        Ok(true)
    }

    /// A framing error or a lost client: the byte stream can no longer be trusted,
    /// so, like PostgreSQL's COMMERROR, the error is logged but not sent
    /// ([`Connection::report_fatal`]).
    fn comm_error(&mut self, message: &str) -> QuillError {
        self.comm_error = true;
        QuillError::protocol_violation(message)
    }

    /// Ends the session with `error`: sent to the client and logged as FATAL, or
    /// only logged (as LOG) after a communication error.
    pub fn report_fatal(&mut self, error: &QuillError) {
        if self.comm_error {
            log::info!("{}", error.message);
        } else {
            if self.old_protocol_client {
                // Protocol 2.0's ErrorResponse: 'E' and one string (PostgreSQL sends
                // it so an old client can show why it was refused).
                let text = format!("{}:  {}\n", error.severity.as_str(), error.message);
                self.send_raw(b"E");
                self.send_raw(text.as_bytes());
                self.send_raw(b"\0");
            } else {
                self.send_error(error);
            }
            let _ = self.flush();
            log::error!(target: crate::logging::FATAL_TARGET, "{}", error.message);
        }
    }

    /// Reads the first packet of a connection (startup, SSL/GSS request, cancel).
    pub fn read_startup_packet(&mut self) -> QuillResult<Incoming<startup::StartupPacket>> {
        const INCOMPLETE: &str = "incomplete startup packet";
        if !self.fill(4, INCOMPLETE)? {
            return Ok(Incoming::Eof);
        }
        // The length counts itself; PostgreSQL allows 8..=MAX_STARTUP_PACKET_LENGTH + 4.
        let len = (&self.read_buf[..4]).get_i32();
        if len < 8 || len as usize > MAX_STARTUP_PACKET_LENGTH + 4 {
            return Err(self.comm_error("invalid length of startup packet"));
        }
        self.fill(len as usize, INCOMPLETE)?;
        let frame = self.read_buf.split_to(len as usize);
        let code = (&frame[4..8]).get_u32();
        if code == startup::CANCEL_REQUEST_CODE && frame.len() != 16 {
            return Err(self.comm_error("invalid length of startup packet"));
        }
        // A protocol 1.x/2.x client reads errors in the old format.
        self.old_protocol_client = code >> 16 < 3;
        startup::parse_startup_packet(frame).map(Incoming::Message)
    }

    /// Reads the next regular message, validated and decoded.
    ///
    /// An unknown type byte is FATAL (message boundaries are lost), a bad length a
    /// communication error; a well-framed message with bad content is an ERROR
    /// (08P01, or 22021 for bad UTF-8) and the session goes on, as in PostgreSQL.
    /// [`Connection::last_message_type`] tells which message it was.
    pub fn read_message(&mut self) -> QuillResult<Incoming<PgWireFrontendMessage>> {
        const INCOMPLETE: &str = "incomplete message from client";
        // PostgreSQL judges the type byte before it reads the length.
        if !self.fill(1, INCOMPLETE)? {
            return Ok(Incoming::Eof);
        }
        let kind = self.read_buf[0];
        self.last_type = kind;
        if !is_known_frontend_type(kind) {
            return Err(QuillError::protocol_violation(format!(
                "invalid frontend message type {kind}"
            )));
        }
        self.fill(5, INCOMPLETE)?;
        // The length counts itself (PostgreSQL's pq_getmessage).
        let len = (&self.read_buf[1..5]).get_i32();
        if len < 4 || len as usize > message_length_limit(kind) {
            return Err(self.comm_error("invalid message length"));
        }
        let total = 1 + len as usize;
        self.fill(total, INCOMPLETE)?;
        let frame = self.read_buf.split_to(total);
        validate_frame(&frame)?;
        let mut buf = frame;
        let ctx = &self.decode_ctx;
        // The checks above make the codec's reads stay in bounds; should one still
        // panic, it costs this message, not a crash restart of every session.
        let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            PgWireFrontendMessage::decode(&mut buf, ctx)
        }));
        match decoded {
            Ok(Ok(Some(message))) => Ok(Incoming::Message(message)),
            _ => Err(QuillError::new(
                PROTOCOL_VIOLATION,
                "invalid message format",
            )),
        }
    }

    /// The type byte of the message last read (or being read).
    pub fn last_message_type(&self) -> u8 {
        self.last_type
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

    /// Bytes queued for the client but not yet written.
    pub fn pending_output_len(&self) -> usize {
        self.write_buf.len()
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
        b'Q' | b'P' | b'B' | b'E' | b'D' | b'C' | b'H' | b'S' | b'X' | b'd' | b'c' | b'f' | b'F'
    )
}

fn message_length_limit(kind: u8) -> usize {
    match kind {
        b'Q' | b'P' | b'B' | b'd' | b'F' => LARGE_MESSAGE_LIMIT,
        _ => SMALL_MESSAGE_LIMIT,
    }
}

/// Checks PostgreSQL makes while it parses a message body (pq_getmsg*), with its
/// error texts: strings end with NUL and are valid UTF-8, counts and lengths stay
/// inside the message, nothing is left over. Errors are ERRORs: the framing is
/// intact, so the session goes on.
fn validate_frame(frame: &[u8]) -> QuillResult<()> {
    let kind = frame[0];
    let mut m = MessageReader {
        body: &frame[5..],
        pos: 0,
    };
    match kind {
        b'Q' => {
            m.string()?;
        }
        b'P' => {
            m.string()?;
            m.string()?;
            let types = m.uint(2)?;
            for _ in 0..types {
                m.uint(4)?;
            }
        }
        b'B' => {
            m.string()?;
            m.string()?;
            let formats = m.uint(2)?;
            for _ in 0..formats {
                m.uint(2)?;
            }
            let params = m.uint(2)?;
            for _ in 0..params {
                let len = m.uint(4)? as u32 as i32;
                if len != -1 {
                    m.bytes(len)?;
                }
            }
            let result_formats = m.uint(2)?;
            for _ in 0..result_formats {
                m.uint(2)?;
            }
        }
        b'E' => {
            m.string()?;
            m.uint(4)?;
        }
        b'D' | b'C' => {
            let subtype = m.byte()?;
            m.string()?;
            m.end()?;
            if subtype != b'S' && subtype != b'P' {
                let what = if kind == b'D' { "DESCRIBE" } else { "CLOSE" };
                return Err(QuillError::new(
                    PROTOCOL_VIOLATION,
                    format!("invalid {what} message subtype {subtype}"),
                ));
            }
        }
        b'F' => {
            m.uint(4)?;
            return Err(QuillError::feature_not_supported(
                "fastpath function calls are not supported",
            ));
        }
        b'S' | b'H' => {}
        // Terminate and the COPY messages outside COPY are not parsed (PostgreSQL
        // ignores their bodies).
        _ => return Ok(()),
    }
    m.end()
}

/// PostgreSQL's pq_getmsg* over one message body.
struct MessageReader<'a> {
    body: &'a [u8],
    pos: usize,
}

impl MessageReader<'_> {
    fn insufficient() -> QuillError {
        QuillError::new(PROTOCOL_VIOLATION, "insufficient data left in message")
    }

    fn byte(&mut self) -> QuillResult<u8> {
        let b = *self
            .body
            .get(self.pos)
            .ok_or_else(|| QuillError::new(PROTOCOL_VIOLATION, "no data left in message"))?;
        self.pos += 1;
        Ok(b)
    }

    /// A big-endian unsigned integer of `n` bytes.
    fn uint(&mut self, n: usize) -> QuillResult<u64> {
        let bytes = self.bytes(n as i32)?;
        Ok(bytes.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b)))
    }

    fn bytes(&mut self, n: i32) -> QuillResult<&[u8]> {
        if n < 0 || n as usize > self.body.len() - self.pos {
            return Err(Self::insufficient());
        }
        let bytes = &self.body[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(bytes)
    }

    /// A NUL-terminated string, which must be valid UTF-8.
    fn string(&mut self) -> QuillResult<&[u8]> {
        let rest = &self.body[self.pos..];
        let Some(nul) = rest.iter().position(|&b| b == 0) else {
            return Err(QuillError::new(
                PROTOCOL_VIOLATION,
                "invalid string in message",
            ));
        };
        self.pos += nul + 1;
        check_utf8(&rest[..nul])?;
        Ok(&rest[..nul])
    }

    fn end(&self) -> QuillResult<()> {
        if self.pos != self.body.len() {
            return Err(QuillError::new(
                PROTOCOL_VIOLATION,
                "invalid message format",
            ));
        }
        Ok(())
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
