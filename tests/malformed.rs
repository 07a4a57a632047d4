//! Hand-made bad packets over raw TCP, each on its own connection. Every one must be
//! refused the way PostgreSQL 15 refuses it (replies checked against a real
//! PostgreSQL 15 where it has the feature) and harm no one: afterwards the server
//! still answers, a session opened before the attack still works, no backend is left
//! behind and no crash restart happened.

mod common;

use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use common::wire::{self, BackendMessage, Ending};
use common::{first_value, stdout, wait_until, TestServer, SUPERUSER};

enum Step {
    Send(Vec<u8>),
    /// Let the server act on what it has before more arrives.
    Pause,
    /// shutdown(SHUT_WR): the server reads EOF, the test can still read.
    HalfClose,
}

enum Expect {
    /// The server hangs up without a word (PostgreSQL's COMMERROR cases: the byte
    /// stream cannot be trusted, so nothing is sent).
    Closed,
    /// A FATAL with this SQLSTATE and message, then the connection closes.
    Fatal(&'static str, &'static str),
    /// An ERROR with this SQLSTATE and message; the session goes on.
    Error(&'static str, &'static str),
    /// Exactly these bytes, then the connection closes.
    Bytes(&'static [u8]),
    /// The connection ends up logged in (ReadyForQuery, no error).
    LoggedIn,
    /// No error; ReadyForQuery; the session goes on.
    Ready,
    /// The client vanishes: nothing to read; the final checks show the server coped.
    ClientGone,
}

struct Case {
    name: String,
    /// Log in first (the bad bytes come after startup).
    login: bool,
    /// Single-byte 'N' answers (SSL/GSS refusals) expected before any message.
    refusals: usize,
    steps: Vec<Step>,
    expect: Expect,
}

fn case(name: &str, login: bool, steps: Vec<Step>, expect: Expect) -> Case {
    Case {
        name: name.to_string(),
        login,
        refusals: 0,
        steps,
        expect,
    }
}

fn send(bytes: Vec<u8>) -> Step {
    Step::Send(bytes)
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn be(n: i32) -> [u8; 4] {
    n.to_be_bytes()
}

fn login_params() -> Vec<u8> {
    wire::startup(&[("user", SUPERUSER), ("database", "postgres")])
}

/// Runs one case on a fresh connection and checks what the server did.
fn run(server: &TestServer, case: &Case) {
    let name = &case.name;
    let mut stream = if case.login {
        wire::login(server.port, SUPERUSER).0
    } else {
        wire::connect(server.port)
    };
    for step in &case.steps {
        match step {
            Step::Send(bytes) => wire::send(&mut stream, bytes),
            Step::Pause => std::thread::sleep(Duration::from_millis(50)),
            Step::HalfClose => {
                let _ = stream.shutdown(Shutdown::Write);
            }
        }
    }
    if matches!(case.expect, Expect::ClientGone) {
        return; // dropping the stream closes it
    }
    for i in 0..case.refusals {
        let mut byte = [0u8; 1];
        std::io::Read::read_exact(&mut stream, &mut byte)
            .unwrap_or_else(|e| panic!("{name}: refusal byte {i}: {e}"));
        assert_eq!(byte[0], b'N', "{name}: SSL/GSS refusal");
    }
    match &case.expect {
        Expect::Closed => {
            let said = read_to_close(&mut stream, name);
            assert!(said.is_empty(), "{name}: expected silence, got {said:?}");
        }
        Expect::Fatal(code, message) => {
            let said = read_to_close(&mut stream, name);
            assert_eq!(said.len(), 1, "{name}: one ErrorResponse, got {said:?}");
            assert_eq!(
                said[0].error(),
                ("FATAL".to_string(), code.to_string(), message.to_string()),
                "{name}"
            );
        }
        Expect::Error(code, message) => {
            let said = wire::read_until_ready(&mut stream);
            let errors: Vec<_> = said.iter().filter(|m| m.is_error()).collect();
            assert_eq!(errors.len(), 1, "{name}: one ErrorResponse, got {said:?}");
            assert_eq!(
                errors[0].error(),
                ("ERROR".to_string(), code.to_string(), message.to_string()),
                "{name}"
            );
            assert_session_usable(&mut stream, name);
        }
        Expect::Bytes(bytes) => {
            let (data, ending) = wire::read_all(&mut stream, wire::REPLY_TIMEOUT);
            assert_eq!(ending, Ending::Closed, "{name}: still open");
            assert_eq!(
                String::from_utf8_lossy(&data),
                String::from_utf8_lossy(bytes),
                "{name}"
            );
        }
        Expect::LoggedIn | Expect::Ready => {
            let said = wire::read_until_ready(&mut stream);
            assert!(said.iter().all(|m| !m.is_error()), "{name}: {said:?}");
            if matches!(case.expect, Expect::LoggedIn) {
                assert!(said.iter().any(|m| m.kind == b'K'), "{name}: {said:?}");
            }
            assert_session_usable(&mut stream, name);
        }
        Expect::ClientGone => unreachable!(),
    }
}

fn read_to_close(stream: &mut TcpStream, name: &str) -> Vec<BackendMessage> {
    let (data, ending) = wire::read_all(stream, wire::REPLY_TIMEOUT);
    assert_eq!(
        ending,
        Ending::Closed,
        "{name}: server kept the connection open after {:?}",
        wire::parse(&data)
    );
    wire::parse(&data)
}

fn assert_session_usable(stream: &mut TcpStream, name: &str) {
    wire::send(stream, &wire::query("select 1"));
    let said = wire::read_until_ready(stream);
    assert_eq!(
        wire::data_rows(&said),
        vec![vec![Some("1".to_string())]],
        "{name}: session not usable afterwards: {said:?}"
    );
}

/// Runs the cases against one server with a session open the whole time, then
/// checks nobody was harmed.
fn attack(cases: &[Case], context: &str) -> TestServer {
    let server = TestServer::start();
    let mut before = server.connect();
    assert_eq!(first_value(&mut before, "select 1"), "1");
    for case in cases {
        run(&server, case);
    }

    assert_eq!(
        first_value(&mut before, "select 2"),
        "2",
        "{context}: the session opened before the attack"
    );
    let out = server.psql("select 3");
    assert_eq!(stdout(&out), "3", "{context}: {}", common::stderr(&out));
    // Every attacking connection's backend has gone; only `before` remains.
    assert!(
        wait_until(Duration::from_secs(10), || server.backend_pids().len() == 1),
        "{context}: backends left behind: {:?}",
        server.backend_pids()
    );
    let log = server.log();
    assert!(
        !log.contains("terminating any other active server processes"),
        "{context}: a crash restart happened:\n{log}"
    );
    assert!(!log.contains("panicked"), "{context}: a panic:\n{log}");
    server
}

#[test]
fn bad_startup_packets_are_refused_and_harm_no_one() {
    use Expect::*;
    use Step::HalfClose;
    let p3 = wire::PROTOCOL_3_0;
    let cases = vec![
        // Lengths. The length word counts itself: 8..=10004 is allowed.
        case(
            "length < 8",
            false,
            vec![send(cat(&[&be(7), b"\0\0\0"]))],
            Closed,
        ),
        case(
            "length 0",
            false,
            vec![send(cat(&[&be(0), b"\0\0\0\0"]))],
            Closed,
        ),
        case(
            "negative length",
            false,
            vec![send(cat(&[&be(-5), &be(0)]))],
            Closed,
        ),
        case(
            "length 10005",
            false,
            vec![send(cat(&[&be(10005), &be(p3 as i32)]))],
            Closed,
        ),
        case(
            "length i32::MAX",
            false,
            vec![send(cat(&[&be(i32::MAX), &be(p3 as i32)]))],
            Closed,
        ),
        case(
            "partial length word",
            false,
            vec![send(vec![0, 0]), HalfClose],
            Closed,
        ),
        case(
            "length claims more than sent, then the client stops",
            false,
            vec![send(cat(&[&be(100), &be(p3 as i32), b"user\0"])), HalfClose],
            Closed,
        ),
        case(
            "length claims fewer bytes than the parameters",
            false,
            vec![send(cat(&[
                &be(16),
                &be(p3 as i32),
                b"user\0tester\0database\0postgres\0\0",
            ]))],
            Fatal(
                "08P01",
                "invalid startup packet layout: expected terminator as last byte",
            ),
        ),
        case(
            "garbage 8 bytes",
            false,
            vec![send(vec![0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4])],
            Closed,
        ),
        case("connect and say nothing", false, vec![HalfClose], Closed),
        // Versions.
        case(
            "protocol 2.0 gets the old-style error",
            false,
            vec![send(wire::packet(2 << 16, b"user\0tester\0\0"))],
            Bytes(b"EFATAL:  unsupported frontend protocol 2.0: server supports 3.0 to 3.0\n\0"),
        ),
        case(
            "protocol 4.0",
            false,
            vec![send(wire::packet(4 << 16, b"user\0tester\0\0"))],
            Fatal(
                "0A000",
                "unsupported frontend protocol 4.0: server supports 3.0 to 3.0",
            ),
        ),
        case(
            "protocol 3.5 is negotiated down to 3.0",
            false,
            vec![send(wire::packet(
                p3 | 5,
                b"user\0tester\0database\0postgres\0\0",
            ))],
            LoggedIn,
        ),
        case(
            "_pq_ protocol option is negotiated away",
            false,
            vec![send(wire::startup(&[
                ("user", SUPERUSER),
                ("database", "postgres"),
                ("_pq_.nonsense", "1"),
            ]))],
            LoggedIn,
        ),
        // Layout.
        case(
            "missing final terminator",
            false,
            vec![send(wire::packet(p3, b"user\0tester"))],
            Fatal(
                "08P01",
                "invalid startup packet layout: expected terminator as last byte",
            ),
        ),
        case(
            "missing list terminator",
            false,
            vec![send(wire::packet(p3, b"user\0tester\0"))],
            Fatal(
                "08P01",
                "invalid startup packet layout: expected terminator as last byte",
            ),
        ),
        case(
            "odd number of strings",
            false,
            vec![send(wire::packet(p3, b"user\0tester\0database\0\0"))],
            Fatal(
                "08P01",
                "invalid startup packet layout: expected terminator as last byte",
            ),
        ),
        case(
            "no user",
            false,
            vec![send(wire::packet(p3, b"database\0postgres\0\0"))],
            Fatal(
                "28000",
                "no PostgreSQL user name specified in startup packet",
            ),
        ),
        case(
            "no parameters at all",
            false,
            vec![send(wire::packet(p3, b"\0"))],
            Fatal(
                "28000",
                "no PostgreSQL user name specified in startup packet",
            ),
        ),
        // PostgreSQL answers 28000 `role "te\xffster" does not exist` (echoing the
        // invalid bytes); Quill refuses the packet itself.
        case(
            "user name with invalid UTF-8",
            false,
            vec![send(wire::packet(p3, b"user\0te\xffster\0\0"))],
            Fatal("08P01", "invalid byte sequence in startup packet"),
        ),
        case(
            "unknown role",
            false,
            vec![send(wire::startup(&[("user", "nobody")]))],
            Fatal("28000", "role \"nobody\" does not exist"),
        ),
        case(
            "repeated user: the last one counts",
            false,
            vec![send(wire::startup(&[
                ("user", SUPERUSER),
                ("user", "nobody"),
            ]))],
            Fatal("28000", "role \"nobody\" does not exist"),
        ),
        case(
            "unknown setting",
            false,
            vec![send(wire::startup(&[
                ("user", SUPERUSER),
                ("database", "postgres"),
                ("nosuch", "1"),
            ]))],
            Fatal("42704", "unrecognized configuration parameter \"nosuch\""),
        ),
        case(
            "options with a dangling -c",
            false,
            vec![send(wire::startup(&[
                ("user", SUPERUSER),
                ("database", "postgres"),
                ("options", "-c"),
            ]))],
            Fatal(
                "42601",
                "invalid command-line argument for server process: -c",
            ),
        ),
        // Cancel requests never get an answer.
        case(
            "cancel request too short",
            false,
            vec![send(wire::packet(wire::CANCEL_REQUEST_CODE, &be(1)))],
            Closed,
        ),
        case(
            "cancel request too long",
            false,
            vec![send(wire::packet(wire::CANCEL_REQUEST_CODE, &[0; 12]))],
            Closed,
        ),
        case(
            "cancel request for no backend",
            false,
            vec![send(wire::cancel_request(1, 2))],
            Closed,
        ),
        // Encryption negotiation: refused once each, then a real startup must follow.
        case(
            "SSLRequest then garbage",
            false,
            vec![
                send(wire::packet(wire::SSL_REQUEST_CODE, b"")),
                Step::Pause,
                send(b"garbagegarbage".to_vec()),
            ],
            Closed,
        ),
        case(
            "SSLRequest twice",
            false,
            vec![
                send(wire::packet(wire::SSL_REQUEST_CODE, b"")),
                Step::Pause,
                send(wire::packet(wire::SSL_REQUEST_CODE, b"")),
            ],
            Fatal(
                "0A000",
                "unsupported frontend protocol 1234.5679: server supports 3.0 to 3.0",
            ),
        ),
        case(
            "SSLRequest then the client gives up",
            false,
            vec![
                send(wire::packet(wire::SSL_REQUEST_CODE, b"")),
                Step::Pause,
                HalfClose,
            ],
            Closed,
        ),
        case(
            "GSSENCRequest is refused, then startup succeeds",
            false,
            vec![
                send(wire::packet(wire::GSSENC_REQUEST_CODE, b"")),
                Step::Pause,
                send(login_params()),
            ],
            LoggedIn,
        ),
        case(
            "SSLRequest and GSSENCRequest, then startup succeeds",
            false,
            vec![
                send(wire::packet(wire::SSL_REQUEST_CODE, b"")),
                Step::Pause,
                send(wire::packet(wire::GSSENC_REQUEST_CODE, b"")),
                Step::Pause,
                send(login_params()),
            ],
            LoggedIn,
        ),
        case(
            "client disconnects in the middle of the startup packet",
            false,
            vec![send(cat(&[&be(40), &be(p3 as i32), b"user\0te"]))],
            ClientGone,
        ),
    ];
    let refusals = |name: &str| match name {
        "SSLRequest then garbage"
        | "SSLRequest twice"
        | "SSLRequest then the client gives up"
        | "GSSENCRequest is refused, then startup succeeds" => 1,
        "SSLRequest and GSSENCRequest, then startup succeeds" => 2,
        _ => 0,
    };
    let cases: Vec<Case> = cases
        .into_iter()
        .map(|mut c| {
            c.refusals = refusals(&c.name);
            c
        })
        .collect();
    assert!(cases.len() >= 30, "{} cases", cases.len());
    let server = attack(&cases, "startup packets");
    let log = server.log();
    assert!(
        log.contains("LOG:  invalid length of startup packet"),
        "{log}"
    );
    assert!(log.contains("LOG:  incomplete startup packet"), "{log}");
}

#[test]
fn bad_messages_after_startup_are_refused_and_harm_no_one() {
    use Expect::*;
    use Step::HalfClose;
    let sync = || send(wire::message(b'S', b""));
    let cases = vec![
        // Type bytes: judged before the length is read.
        case(
            "unknown type 'x'",
            true,
            vec![send(b"x".to_vec())],
            Fatal("08P01", "invalid frontend message type 120"),
        ),
        case(
            "a second startup packet",
            true,
            vec![send(login_params())],
            Fatal("08P01", "invalid frontend message type 0"),
        ),
        case(
            "password message after startup",
            true,
            vec![send(wire::message(b'p', b"secret\0"))],
            Fatal("08P01", "invalid frontend message type 112"),
        ),
        // Lengths: the byte stream is lost, the server hangs up silently.
        case(
            "Query with length 3",
            true,
            vec![send(cat(&[b"Q", &be(3)]))],
            Closed,
        ),
        case(
            "Query with negative length",
            true,
            vec![send(cat(&[b"Q", &be(-1)]))],
            Closed,
        ),
        case(
            "Query longer than 1 GiB",
            true,
            vec![send(cat(&[b"Q", &be(0x4000_0001), b"select"]))],
            Closed,
        ),
        case(
            "Query of 1 GiB - 1 (one over the limit)",
            true,
            vec![send(cat(&[b"Q", &be(0x3fff_ffff), b"select"]))],
            Closed,
        ),
        case(
            "Sync longer than the small-message limit",
            true,
            vec![send(cat(&[b"S", &be(10001)]))],
            Closed,
        ),
        case(
            "Terminate in the middle of a message",
            true,
            vec![
                send(cat(&[b"Q", &be(20), b"sel"])),
                Step::Pause,
                send(wire::message(b'X', b"")),
                HalfClose,
            ],
            Closed,
        ),
        case(
            "client stops sending in the middle of a message",
            true,
            vec![send(cat(&[b"Q", &be(20), b"sel"])), HalfClose],
            Closed,
        ),
        case(
            "client disconnects in the middle of a message",
            true,
            vec![send(cat(&[b"Q", &be(1000), b"select"]))],
            ClientGone,
        ),
        // Well-framed messages with bad content: an ERROR, and the session goes on.
        case(
            "Query without NUL terminator",
            true,
            vec![send(wire::message(b'Q', b"select 1"))],
            Error("08P01", "invalid string in message"),
        ),
        case(
            "Query with bytes after the NUL",
            true,
            vec![send(wire::message(b'Q', b"select 1\0junk"))],
            Error("08P01", "invalid message format"),
        ),
        case(
            "Query with invalid UTF-8",
            true,
            vec![send(wire::message(b'Q', b"select '\xff'\0"))],
            Error("22021", "invalid byte sequence for encoding \"UTF8\": 0xff"),
        ),
        case(
            "Sync with a payload",
            true,
            vec![send(wire::message(b'S', b"\x01"))],
            Error("08P01", "invalid message format"),
        ),
        case(
            "Flush with a payload, then Sync",
            true,
            vec![send(wire::message(b'H', b"\x01")), sync()],
            Error("08P01", "invalid message format"),
        ),
        case(
            "Bind without strings",
            true,
            vec![send(wire::message(b'B', b"\xff\xff\xff")), sync()],
            Error("08P01", "invalid string in message"),
        ),
        case(
            "Parse without query terminator",
            true,
            vec![send(wire::message(b'P', b"\0select 1")), sync()],
            Error("08P01", "invalid string in message"),
        ),
        case(
            "Parse with invalid UTF-8",
            true,
            vec![send(wire::message(b'P', b"\0select \xff\0\0\0")), sync()],
            Error("22021", "invalid byte sequence for encoding \"UTF8\": 0xff"),
        ),
        case(
            "Execute too short",
            true,
            vec![send(wire::message(b'E', b"\0\0\0")), sync()],
            Error("08P01", "insufficient data left in message"),
        ),
        case(
            "Describe with no body",
            true,
            vec![send(wire::message(b'D', b"")), sync()],
            Error("08P01", "no data left in message"),
        ),
        case(
            "Describe of an unknown kind",
            true,
            vec![send(wire::message(b'D', b"Xfoo\0")), sync()],
            Error("08P01", "invalid DESCRIBE message subtype 88"),
        ),
        case(
            "Close of an unknown kind",
            true,
            vec![send(wire::message(b'C', b"Xfoo\0")), sync()],
            Error("08P01", "invalid CLOSE message subtype 88"),
        ),
        // Quill-only checks (PostgreSQL looks the statement up before reading the
        // parameters): counts and lengths that point past the message.
        case(
            "Bind with 65535 parameters and no data",
            true,
            vec![send(wire::message(b'B', b"\0\0\0\0\xff\xff")), sync()],
            Error("08P01", "insufficient data left in message"),
        ),
        case(
            "Bind with a negative parameter length",
            true,
            vec![
                send(wire::message(
                    b'B',
                    &cat(&[b"\0\0\0\0\0\x01", &be(-5), b"\0\0"]),
                )),
                sync(),
            ],
            Error("08P01", "insufficient data left in message"),
        ),
        case(
            "Parse with 65535 parameter types and no data",
            true,
            vec![send(wire::message(b'P', b"\0select 1\0\xff\xff")), sync()],
            Error("08P01", "insufficient data left in message"),
        ),
        // PostgreSQL: 42883 "function with OID 1 does not exist".
        case(
            "FunctionCall",
            true,
            vec![send(wire::message(b'F', &cat(&[&be(1), b"\0\0\0\0\0\0"])))],
            Error("0A000", "fastpath function calls are not supported"),
        ),
        case(
            "COPY messages outside COPY are ignored",
            true,
            vec![
                send(wire::message(b'd', b"abc")),
                send(wire::message(b'c', b"junk")),
                send(wire::message(b'f', b"oops\0")),
                send(wire::query("select 0")),
            ],
            Ready,
        ),
        case(
            "Terminate with a payload still terminates",
            true,
            vec![send(wire::message(b'X', b"abc"))],
            Closed,
        ),
    ];
    assert!(cases.len() >= 25, "{} cases", cases.len());
    let server = attack(&cases, "messages after startup");
    let log = server.log();
    assert!(log.contains("LOG:  invalid message length"), "{log}");
    assert!(
        log.contains("LOG:  incomplete message from client"),
        "{log}"
    );
}

#[test]
fn an_invalid_query_inside_a_transaction_block_aborts_it() {
    let server = TestServer::start();
    let (mut s, _, _) = wire::login(server.port, SUPERUSER);
    wire::send(&mut s, &wire::query("begin"));
    let said = wire::read_until_ready(&mut s);
    assert_eq!(said.last().unwrap().body, b"T");
    wire::send(&mut s, &wire::message(b'Q', b"select 1"));
    let said = wire::read_until_ready(&mut s);
    assert_eq!(said[0].error().1, "08P01");
    assert_eq!(said.last().unwrap().body, b"E", "the block is now failed");
    wire::send(&mut s, &wire::query("select 1"));
    let said = wire::read_until_ready(&mut s);
    assert_eq!(said[0].error().1, "25P02");
    wire::send(&mut s, &wire::query("rollback"));
    let said = wire::read_until_ready(&mut s);
    assert_eq!(said.last().unwrap().body, b"I");
}

#[test]
fn a_client_that_never_finishes_startup_is_dropped_after_authentication_timeout() {
    let server = TestServer::start_with(&[("authentication_timeout", "1s")]);
    let mut silent = wire::connect(server.port);
    let mut slow = wire::connect(server.port);
    wire::send(&mut slow, &be(100)); // a length word, then nothing
    let started = std::time::Instant::now();
    for stream in [&mut silent, &mut slow] {
        let said = read_to_close(stream, "authentication timeout");
        assert!(said.is_empty(), "{said:?}");
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(4), "took {took:?}");
    assert!(
        wait_until(Duration::from_secs(5), || server.backend_pids().is_empty()),
        "{:?}",
        server.backend_pids()
    );
    assert_eq!(stdout(&server.psql("select 1")), "1");
    assert!(!server
        .log()
        .contains("terminating any other active server processes"));
}

#[test]
fn a_flood_of_connections_beyond_max_connections_is_refused_cleanly() {
    let server = TestServer::start_with(&[
        ("max_connections", "2"),
        ("superuser_reserved_connections", "0"),
    ]);
    let mut held: Vec<_> = (0..2)
        .map(|_| server.connect_eventually(Duration::from_secs(10)))
        .collect();
    let flood: Vec<_> = (0..30)
        .map(|_| {
            let mut s = wire::connect(server.port);
            wire::send(&mut s, &login_params());
            s
        })
        .collect();
    for mut s in flood {
        let (data, ending) = wire::read_all(&mut s, wire::REPLY_TIMEOUT);
        assert_eq!(ending, Ending::Closed);
        // Refused with 53300, or (beyond the dead-end cap) just closed.
        for m in wire::parse(&data) {
            assert_eq!(
                m.error(),
                (
                    "FATAL".to_string(),
                    "53300".to_string(),
                    "sorry, too many clients already".to_string()
                )
            );
        }
    }
    for c in &mut held {
        assert_eq!(first_value(c, "select 1"), "1");
    }
    assert!(!server
        .log()
        .contains("terminating any other active server processes"));
}

/// xorshift64*: small, seeded, good enough to make garbage.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn seed() -> u64 {
    std::env::var("QUILL_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_f00d_u64)
}

/// Random bytes, as a first packet and after a valid login; every connection is
/// half-closed at the end, so the server must hang up (not wait), and whatever it
/// says on the way must be well-formed.
#[test]
fn random_bytes_are_refused_and_harm_no_one() {
    let seed = seed();
    let mut rng = XorShift(seed | 1);
    let server = TestServer::start();
    let mut before = server.connect();
    let frontend_types = b"QPBEDCHSXdcfF";
    for i in 0..20 {
        let login = i % 2 == 1;
        let garbage = if i % 4 >= 2 {
            // A plausible frame: a real type byte (or a startup length) and a
            // correct length around random content.
            let len = rng.below(64) as usize;
            let body = rng.bytes(len);
            if login {
                let kind = frontend_types[rng.below(frontend_types.len() as u64) as usize];
                wire::message(kind, &body)
            } else {
                wire::packet(wire::PROTOCOL_3_0, &body)
            }
        } else {
            let n = 1 + rng.below(200) as usize;
            rng.bytes(n)
        };
        let context = format!("seed {seed} (QUILL_TEST_SEED), case {i}, bytes {garbage:02x?}");
        let mut stream = if login {
            wire::login(server.port, SUPERUSER).0
        } else {
            wire::connect(server.port)
        };
        wire::send(&mut stream, &garbage);
        let _ = stream.shutdown(Shutdown::Write);
        let (data, ending) = wire::read_all(&mut stream, wire::REPLY_TIMEOUT);
        assert_eq!(ending, Ending::Closed, "{context}: server did not hang up");
        // SSL/GSS-like garbage may earn single-byte refusals first.
        let mut data = &data[..];
        while !login && data.first() == Some(&b'N') && !plausible_message(data) {
            data = &data[1..];
        }
        for m in wire::parse(data) {
            assert!(
                b"ERSKZTDCINv".contains(&m.kind),
                "{context}: unexpected message {m:?}"
            );
            if m.is_error() {
                let (severity, code, _) = m.error();
                assert!(
                    severity == "ERROR" || severity == "FATAL",
                    "{context}: {m:?}"
                );
                assert_eq!(code.len(), 5, "{context}: {m:?}");
            }
        }
    }
    assert_eq!(first_value(&mut before, "select 1"), "1", "seed {seed}");
    assert_eq!(stdout(&server.psql("select 2")), "2", "seed {seed}");
    assert!(
        wait_until(Duration::from_secs(10), || server.backend_pids().len() == 1),
        "seed {seed}: backends left behind"
    );
    let log = server.log();
    assert!(
        !log.contains("terminating any other active server processes") && !log.contains("panicked"),
        "seed {seed}: a crash:\n{log}"
    );
}

/// True if `data` starts with a whole, sane message (so a leading 'N' is a
/// NoticeResponse rather than an SSL refusal byte).
fn plausible_message(data: &[u8]) -> bool {
    data.len() >= 5 && {
        let len = i32::from_be_bytes([data[1], data[2], data[3], data[4]]);
        len >= 4 && (len as usize) < data.len()
    }
}

#[test]
fn after_an_extended_query_error_everything_until_sync_is_ignored() {
    let server = TestServer::start();
    let (mut stream, _, _) = wire::login(server.port, common::SUPERUSER);
    // Parse a statement that fails at Parse (its table does not exist).
    let mut parse = b"\0select * from no_such_table\0".to_vec();
    parse.extend_from_slice(&0i16.to_be_bytes());
    let mut bytes = wire::message(b'P', &parse);
    bytes.extend(wire::query("select 42"));
    bytes.extend(wire::message(b'S', &[]));
    wire::send(&mut stream, &bytes);
    let replies = wire::read_until_ready(&mut stream);
    let kinds: Vec<u8> = replies.iter().map(|m| m.kind).collect();
    assert_eq!(
        kinds,
        vec![b'E', b'Z'],
        "the Query before Sync must not run"
    );
    // After Sync the session works normally.
    wire::send(&mut stream, &wire::query("select 42"));
    let replies = wire::read_until_ready(&mut stream);
    assert_eq!(
        wire::data_rows(&replies),
        vec![vec![Some("42".to_string())]]
    );
}
