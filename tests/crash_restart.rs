//! Crash restart: a backend killed with SIGKILL makes the postmaster end every other
//! session, reinitialise shared memory and accept connections again — under the same
//! postmaster.

mod common;

use std::time::Duration;

use common::{first_value, unsafe_kill, wire, TestServer, SUPERUSER};

#[test]
fn killing_a_backend_restarts_every_session_under_the_same_postmaster_three_times() {
    let server = TestServer::start();
    let postmaster = server.postmaster_pid();
    for round in 1..=3 {
        let mut victim = server.connect_eventually(Duration::from_secs(10));
        let victim_pid: i32 = first_value(&mut victim, "select pg_backend_pid()")
            .parse()
            .unwrap();
        let mut bystander = server.connect();
        let bystander_pid: i32 = first_value(&mut bystander, "select pg_backend_pid()")
            .parse()
            .unwrap();
        let (mut raw_bystander, _, _) = wire::login(server.port, SUPERUSER);

        unsafe_kill(victim_pid, libc::SIGKILL);

        // The other sessions are ended with PostgreSQL's crash warning.
        let said = wire::read_until_closed(&mut raw_bystander);
        let warning = said
            .iter()
            .find(|m| m.kind == b'N')
            .unwrap_or_else(|| panic!("round {round}: no WARNING: {said:?}"));
        let fields = warning.fields();
        assert_eq!(fields[&'S'], "WARNING");
        assert_eq!(fields[&'C'], "57P02");
        assert_eq!(
            fields[&'M'],
            "terminating connection because of crash of another server process"
        );
        // The postmaster SIGQUITs the children one by one: once this one is gone,
        // its session's next query must fail.
        assert!(
            common::wait_until(Duration::from_secs(10), || common::process_gone(
                bystander_pid
            )),
            "round {round}: backend {bystander_pid} survived"
        );
        assert!(bystander.simple_query("select 1").is_err(), "round {round}");

        assert!(
            server.wait_for_log(
                &format!("server process (PID {victim_pid}) was terminated by signal 9: Killed"),
                Duration::from_secs(5)
            ),
            "round {round}: {}",
            server.log()
        );
        let mut fresh = server.connect_eventually(Duration::from_secs(20));
        assert_eq!(first_value(&mut fresh, "select 41 + 1"), "42");

        let log = server.log();
        assert_eq!(
            log.matches("terminating any other active server processes")
                .count(),
            round,
            "{log}"
        );
        assert_eq!(
            log.matches("all server processes terminated; reinitializing")
                .count(),
            round,
            "{log}"
        );
        assert_eq!(server.postmaster_pid(), postmaster);
        assert_eq!(server.pidfile_pid(), Some(postmaster));
        assert!(common::process_gone(victim_pid));
    }
}

#[test]
fn a_backend_exiting_normally_is_not_a_crash() {
    let server = TestServer::start();
    let mut bystander = server.connect();
    for _ in 0..5 {
        let mut c = server.connect();
        first_value(&mut c, "select 1");
        drop(c); // Terminate: exit code 0
                 // A FATAL ends a session with exit code 1: not a crash either.
        assert!(server
            .try_connect_as(SUPERUSER, "no_such_database")
            .is_err());
    }
    assert_eq!(first_value(&mut bystander, "select 2"), "2");
    assert!(!server
        .log()
        .contains("terminating any other active server processes"));
}
