//! Raw protocol v3 over `std::net::TcpStream`, for tests that send what no driver
//! would: hand-made startup packets and messages, and a reader that never hangs
//! (every read has a timeout).

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

pub const PROTOCOL_3_0: u32 = 3 << 16;
pub const CANCEL_REQUEST_CODE: u32 = (1234 << 16) | 5678;
pub const SSL_REQUEST_CODE: u32 = (1234 << 16) | 5679;
pub const GSSENC_REQUEST_CODE: u32 = (1234 << 16) | 5680;

/// How long a test waits for the server to answer or hang up.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// A startup-phase packet: length word, `code`, then `body` as given.
pub fn packet(code: u32, body: &[u8]) -> Vec<u8> {
    let mut v = ((8 + body.len()) as i32).to_be_bytes().to_vec();
    v.extend_from_slice(&code.to_be_bytes());
    v.extend_from_slice(body);
    v
}

/// A protocol 3.0 StartupMessage with these parameters (and the final terminator).
pub fn startup(params: &[(&str, &str)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (k, v) in params {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    packet(PROTOCOL_3_0, &body)
}

/// A regular message: type byte, length word, body.
pub fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![kind];
    v.extend_from_slice(&((4 + body.len()) as i32).to_be_bytes());
    v.extend_from_slice(body);
    v
}

/// A simple Query message.
pub fn query(sql: &str) -> Vec<u8> {
    let mut body = sql.as_bytes().to_vec();
    body.push(0);
    message(b'Q', &body)
}

pub fn cancel_request(pid: i32, key: i32) -> Vec<u8> {
    let mut body = pid.to_be_bytes().to_vec();
    body.extend_from_slice(&key.to_be_bytes());
    packet(CANCEL_REQUEST_CODE, &body)
}

/// One message from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendMessage {
    pub kind: u8,
    pub body: Vec<u8>,
}

impl BackendMessage {
    /// The fields of an ErrorResponse/NoticeResponse, by field code.
    pub fn fields(&self) -> HashMap<char, String> {
        let mut fields = HashMap::new();
        for part in self.body.split(|&b| b == 0) {
            if let Some((&code, value)) = part.split_first() {
                fields.insert(code as char, String::from_utf8_lossy(value).into_owned());
            }
        }
        fields
    }

    pub fn is_error(&self) -> bool {
        self.kind == b'E'
    }

    /// `(severity, sqlstate, message)` of an ErrorResponse.
    pub fn error(&self) -> (String, String, String) {
        assert!(self.is_error(), "not an ErrorResponse: {self:?}");
        let f = self.fields();
        (
            f.get(&'S').cloned().unwrap_or_default(),
            f.get(&'C').cloned().unwrap_or_default(),
            f.get(&'M').cloned().unwrap_or_default(),
        )
    }
}

/// How a read of everything the server sent ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The server closed the connection (EOF or a reset).
    Closed,
    /// Nothing more came within the timeout and the connection stayed open.
    Open,
}

pub fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect raw");
    stream.set_read_timeout(Some(REPLY_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(REPLY_TIMEOUT)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// Writes bytes; a server that already hung up (EPIPE/ECONNRESET) is not an error
/// here, since the test then checks what it said before hanging up.
pub fn send(stream: &mut TcpStream, bytes: &[u8]) {
    match stream.write_all(bytes) {
        Ok(()) => {}
        Err(e) if matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset) => {}
        Err(e) => panic!("write failed: {e}"),
    }
}

/// Reads until the server closes the connection or `quiet` passes without a byte
/// (then the connection is `Open`). Never longer than REPLY_TIMEOUT in total beyond
/// the last byte received.
pub fn read_all(stream: &mut TcpStream, quiet: Duration) -> (Vec<u8>, Ending) {
    stream.set_read_timeout(Some(quiet)).unwrap();
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    let ending = loop {
        match stream.read(&mut buf) {
            Ok(0) => break Ending::Closed,
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break Ending::Open
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break Ending::Closed, // ECONNRESET: closed with unread input
        }
    };
    stream.set_read_timeout(Some(REPLY_TIMEOUT)).unwrap();
    (data, ending)
}

/// Waits for the server to hang up; returns what it sent before. Panics if it is
/// still open after REPLY_TIMEOUT.
pub fn read_until_closed(stream: &mut TcpStream) -> Vec<BackendMessage> {
    let (data, ending) = read_all(stream, REPLY_TIMEOUT);
    assert_eq!(
        ending,
        Ending::Closed,
        "server kept the connection open; it sent {:?}",
        parse(&data)
    );
    parse(&data)
}

/// Splits a byte stream into messages (a trailing partial message is returned with
/// whatever body bytes arrived).
pub fn parse(mut data: &[u8]) -> Vec<BackendMessage> {
    let mut out = Vec::new();
    while !data.is_empty() {
        if data.len() < 5 {
            out.push(BackendMessage {
                kind: data[0],
                body: data[1..].to_vec(),
            });
            break;
        }
        let len = i32::from_be_bytes([data[1], data[2], data[3], data[4]]).max(4) as usize;
        let end = (1 + len).min(data.len());
        out.push(BackendMessage {
            kind: data[0],
            body: data[5..end].to_vec(),
        });
        data = &data[end..];
    }
    out
}

/// Reads one message (blocking up to REPLY_TIMEOUT).
pub fn read_message(stream: &mut TcpStream) -> std::io::Result<BackendMessage> {
    let mut header = [0u8; 5];
    stream.read_exact(&mut header)?;
    let len = i32::from_be_bytes([header[1], header[2], header[3], header[4]]);
    assert!(len >= 4, "bad length from server: {len}");
    let mut body = vec![0u8; len as usize - 4];
    stream.read_exact(&mut body)?;
    Ok(BackendMessage {
        kind: header[0],
        body,
    })
}

/// Reads messages up to and including ReadyForQuery.
pub fn read_until_ready(stream: &mut TcpStream) -> Vec<BackendMessage> {
    let deadline = Instant::now() + REPLY_TIMEOUT;
    let mut out = Vec::new();
    loop {
        let m = read_message(stream)
            .unwrap_or_else(|e| panic!("no ReadyForQuery ({e}); got so far {out:?}"));
        let done = m.kind == b'Z';
        out.push(m);
        if done {
            return out;
        }
        assert!(Instant::now() < deadline, "no ReadyForQuery: {out:?}");
    }
}

/// A logged-in raw session: startup sent, everything up to ReadyForQuery read.
/// Returns the stream and the backend's (pid, cancel key).
pub fn login(port: u16, user: &str) -> (TcpStream, i32, i32) {
    let mut stream = connect(port);
    send(
        &mut stream,
        &startup(&[("user", user), ("database", "postgres")]),
    );
    let messages = read_until_ready(&mut stream);
    assert!(
        messages.iter().all(|m| !m.is_error()),
        "login failed: {messages:?}"
    );
    let key_data = messages
        .iter()
        .find(|m| m.kind == b'K')
        .expect("BackendKeyData");
    let b = &key_data.body;
    let pid = i32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let key = i32::from_be_bytes([b[4], b[5], b[6], b[7]]);
    (stream, pid, key)
}

/// The text values of the DataRows among `messages`, row by row.
pub fn data_rows(messages: &[BackendMessage]) -> Vec<Vec<Option<String>>> {
    messages
        .iter()
        .filter(|m| m.kind == b'D')
        .map(|m| {
            let b = &m.body;
            let n = i16::from_be_bytes([b[0], b[1]]) as usize;
            let mut pos = 2;
            let mut row = Vec::new();
            for _ in 0..n {
                let len = i32::from_be_bytes([b[pos], b[pos + 1], b[pos + 2], b[pos + 3]]);
                pos += 4;
                if len < 0 {
                    row.push(None);
                } else {
                    let end = pos + len as usize;
                    row.push(Some(String::from_utf8_lossy(&b[pos..end]).into_owned()));
                    pos = end;
                }
            }
            row
        })
        .collect()
}
