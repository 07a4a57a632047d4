//! Cancel requests: the right key cancels the running statement with 57014 and the
//! session goes on; a wrong key does nothing.

mod common;

use std::time::{Duration, Instant};

use common::{sqlstate, wire, TestServer, SUPERUSER};

#[test]
fn cancel_request_ends_pg_sleep_with_57014_and_the_session_stays_usable() {
    let server = TestServer::start();
    let mut client = server.connect();
    let token = client.cancel_token();
    let canceller = std::thread::spawn(move || {
        // Let the statement start before cancelling it.
        std::thread::sleep(Duration::from_millis(300));
        token.cancel_query(postgres::NoTls)
    });
    let started = Instant::now();
    let error = client
        .simple_query("select pg_sleep(10)")
        .expect_err("pg_sleep(10) must be cancelled");
    let took = started.elapsed();
    canceller.join().unwrap().expect("send cancel request");
    assert_eq!(sqlstate(&error).as_deref(), Some("57014"), "{error}");
    assert_eq!(
        error.as_db_error().unwrap().message(),
        "canceling statement due to user request"
    );
    assert_eq!(error.as_db_error().unwrap().severity(), "ERROR");
    assert!(took < Duration::from_secs(3), "cancel took {took:?}");

    let rows = client.simple_query("select 1").expect("session usable");
    assert!(rows
        .iter()
        .any(|m| matches!(m, postgres::SimpleQueryMessage::Row(r) if r.get(0) == Some("1"))));
}

#[test]
fn cancel_request_with_a_wrong_key_does_nothing() {
    let server = TestServer::start();
    let (mut session, pid, key) = wire::login(server.port, SUPERUSER);
    wire::send(&mut session, &wire::query("select pg_sleep(1)"));
    std::thread::sleep(Duration::from_millis(200));
    // Same pid, wrong key: the server must neither cancel nor answer.
    let mut cancel = wire::connect(server.port);
    wire::send(&mut cancel, &wire::cancel_request(pid, key.wrapping_add(1)));
    let said = wire::read_until_closed(&mut cancel);
    assert!(said.is_empty(), "a cancel request gets no reply: {said:?}");

    let reply = wire::read_until_ready(&mut session);
    assert!(
        reply.iter().all(|m| !m.is_error()),
        "the statement must complete: {reply:?}"
    );
    assert!(reply.iter().any(|m| m.kind == b'C'), "{reply:?}");
    assert!(server.wait_for_log(
        &format!("wrong key in cancel request for process {pid}"),
        Duration::from_secs(5)
    ));
}

#[test]
fn cancel_request_while_idle_does_not_cancel_the_next_statement() {
    let server = TestServer::start();
    let (mut session, pid, key) = wire::login(server.port, SUPERUSER);
    let mut cancel = wire::connect(server.port);
    wire::send(&mut cancel, &wire::cancel_request(pid, key));
    wire::read_until_closed(&mut cancel);
    // Give the SIGINT time to land while the backend waits for a command.
    std::thread::sleep(Duration::from_millis(200));
    wire::send(&mut session, &wire::query("select pg_sleep(0.1)"));
    let reply = wire::read_until_ready(&mut session);
    assert!(reply.iter().all(|m| !m.is_error()), "{reply:?}");
}
