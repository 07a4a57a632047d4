//! The postmaster's life cycle: smart, fast and immediate shutdown, `quill status`,
//! the postmaster.pid lock (live and stale), a port already in use, SIGHUP reload.

mod common;

use std::time::{Duration, Instant};

use common::{stdout, unsafe_kill, wire, TestServer, SUPERUSER};

#[test]
fn smart_shutdown_waits_for_the_open_session_then_exits_0() {
    let mut server = TestServer::start();
    let mut client = server.connect();
    unsafe_kill(server.postmaster_pid(), libc::SIGTERM);
    assert!(server.wait_for_log("received smart shutdown request", Duration::from_secs(5)));

    // The open session goes on; new ones are refused; the postmaster stays.
    std::thread::sleep(Duration::from_millis(300));
    assert!(server.is_running(), "postmaster left with a session open");
    client
        .simple_query("select 1")
        .expect("session still served");
    let error = server.try_connect().err().expect("new session refused");
    assert_eq!(
        common::sqlstate(&error).as_deref(),
        Some("57P03"),
        "{error}"
    );
    assert_eq!(
        error.as_db_error().unwrap().message(),
        "the database system is shutting down"
    );
    assert!(server.is_running());

    drop(client);
    assert_eq!(server.wait_exit(Duration::from_secs(10)), Some(0));
    assert!(!server.data_dir().join("postmaster.pid").exists());
    assert!(server.log().contains("database system is shut down"));
}

#[test]
fn fast_shutdown_terminates_the_open_session_and_exits_0() {
    let mut server = TestServer::start();
    let (mut raw, _, _) = wire::login(server.port, SUPERUSER);
    let mut client = server.connect();

    assert_eq!(server.stop("fast"), Some(0));
    assert!(!server.data_dir().join("postmaster.pid").exists());
    for leftover in [".s.PGSQL.{}", ".s.PGSQL.{}.lock"] {
        let path = server
            .socket_dir()
            .join(leftover.replace("{}", &server.port.to_string()));
        assert!(!path.exists(), "{} left behind", path.display());
    }

    // The idle session was told why before the connection closed.
    let said = wire::read_until_closed(&mut raw);
    let error = said
        .iter()
        .find(|m| m.is_error())
        .expect("an ErrorResponse");
    assert_eq!(
        error.error(),
        (
            "FATAL".to_string(),
            "57P01".to_string(),
            "terminating connection due to administrator command".to_string()
        )
    );
    let error = client.simple_query("select 1").expect_err("session ended");
    assert!(
        common::sqlstate(&error).as_deref() == Some("57P01") || error.is_closed(),
        "{error}"
    );
    let log = server.log();
    assert!(log.contains("received fast shutdown request"), "{log}");
    assert!(log.contains("database system is shut down"), "{log}");
}

#[test]
fn fast_shutdown_interrupts_a_running_statement() {
    let mut server = TestServer::start();
    let (mut raw, _, _) = wire::login(server.port, SUPERUSER);
    wire::send(&mut raw, &wire::query("select pg_sleep(10)"));
    std::thread::sleep(Duration::from_millis(200));

    let started = Instant::now();
    assert_eq!(server.stop("fast"), Some(0));
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "fast shutdown took {took:?}");
    let said = wire::read_until_closed(&mut raw);
    let error = said
        .iter()
        .find(|m| m.is_error())
        .expect("an ErrorResponse");
    assert_eq!(
        error.error(),
        (
            "FATAL".to_string(),
            "57P01".to_string(),
            "terminating connection due to administrator command".to_string()
        )
    );
}

#[test]
fn immediate_shutdown_exits_promptly_and_warns_the_open_session() {
    let mut server = TestServer::start();
    let (mut raw, _, _) = wire::login(server.port, SUPERUSER);
    wire::send(&mut raw, &wire::query("select pg_sleep(10)"));
    std::thread::sleep(Duration::from_millis(100));

    let started = Instant::now();
    assert_eq!(server.stop("immediate"), Some(0));
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "immediate shutdown took {took:?}"
    );
    assert!(!server.data_dir().join("postmaster.pid").exists());

    let said = wire::read_until_closed(&mut raw);
    let warning = said
        .iter()
        .find(|m| m.kind == b'N')
        .unwrap_or_else(|| panic!("a WARNING notice: {said:?}"));
    let fields = warning.fields();
    assert_eq!(fields[&'S'], "WARNING");
    assert_eq!(fields[&'C'], "57P01");
    assert_eq!(
        fields[&'M'],
        "terminating connection due to immediate shutdown command"
    );
    assert!(server.log().contains("received immediate shutdown request"));
}

#[test]
fn quill_status_is_0_while_running_and_3_after_stop() {
    let mut server = TestServer::start();
    let out = server.quill("status", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).contains(&format!("PID: {}", server.postmaster_pid())),
        "{}",
        stdout(&out)
    );
    assert_eq!(server.stop("fast"), Some(0));
    let out = server.quill("status", &[]);
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("no server running"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn second_start_on_the_same_data_directory_fails_on_the_lock_file() {
    let server = TestServer::start();
    let (code, output) = server.start_expecting_exit(Duration::from_secs(10));
    assert_eq!(code, Some(1), "{output}");
    assert!(
        output.contains("lock file \"postmaster.pid\" already exists"),
        "{output}"
    );
    assert!(
        output.contains(&format!(
            "Is another postmaster (PID {}) running in data directory",
            server.postmaster_pid()
        )),
        "{output}"
    );
    // The running server is untouched.
    assert_eq!(server.pidfile_pid(), Some(server.postmaster_pid()));
    let out = server.psql("select 1");
    assert_eq!(stdout(&out), "1");
}

#[test]
fn stale_postmaster_pid_of_a_killed_server_is_replaced() {
    let mut server = TestServer::start();
    let _session = server.connect();
    let old_pid = server.postmaster_pid();
    server.kill_everything_hard();
    assert_eq!(
        server.pidfile_pid(),
        Some(old_pid),
        "the lock file stays behind"
    );

    server.launch();
    let new_pid = server.postmaster_pid();
    assert_ne!(new_pid, old_pid);
    assert_eq!(server.pidfile_pid(), Some(new_pid));
    let out = server.psql("select 1");
    assert_eq!(stdout(&out), "1", "{}", common::stderr(&out));
    // Over the Unix socket too: its stale lock file was replaced as well.
    let dir = server.socket_dir().display().to_string();
    let out = server.psql_args(&["-h", &dir, "-c", "select 2"]);
    assert_eq!(stdout(&out), "2", "{}", common::stderr(&out));
    assert_eq!(server.stop("fast"), Some(0));
}

#[test]
fn port_already_in_use_fails_start_with_exit_1() {
    let server = TestServer::init_with(&[]);
    let _squatter = std::net::TcpListener::bind(("127.0.0.1", server.port)).unwrap();
    let (code, output) = server.start_expecting_exit(Duration::from_secs(10));
    assert_eq!(code, Some(1), "{output}");
    assert!(
        output.contains("could not bind IPv4 address \"127.0.0.1\": Address already in use"),
        "{output}"
    );
    assert!(
        output.contains("could not create any TCP/IP sockets"),
        "{output}"
    );
    // Nothing is left behind that would block the next start.
    assert!(!server.data_dir().join("postmaster.pid").exists());
    assert!(!server
        .socket_dir()
        .join(format!(".s.PGSQL.{}.lock", server.port))
        .exists());
}

#[test]
fn sighup_reloads_postgresql_conf_for_new_sessions() {
    let server = TestServer::start();
    server.psql("select 1");
    assert!(!server.log().contains("connection authorized"));

    let conf = server.data_dir().join("postgresql.conf");
    let mut text = std::fs::read_to_string(&conf).unwrap();
    text.push_str("\nlog_connections = on\n");
    std::fs::write(&conf, text).unwrap();
    unsafe_kill(server.postmaster_pid(), libc::SIGHUP);
    assert!(server.wait_for_log(
        "received SIGHUP, reloading configuration files",
        Duration::from_secs(5)
    ));

    let out = server.psql("select 1");
    assert_eq!(stdout(&out), "1");
    assert!(
        server.wait_for_log(
            &format!("connection authorized: user={SUPERUSER} database=postgres"),
            Duration::from_secs(5)
        ),
        "{}",
        server.log()
    );
    assert!(server.log().contains("connection received: host=127.0.0.1"));
}

#[test]
fn sighup_reaches_an_idle_session_before_its_next_command() {
    let server = TestServer::start();
    let mut client = server.connect();
    assert_eq!(
        common::first_value(&mut client, "show checkpoint_timeout"),
        "5min"
    );

    let conf = server.data_dir().join("postgresql.conf");
    let mut text = std::fs::read_to_string(&conf).unwrap();
    text.push_str("\ncheckpoint_timeout = 7min\n");
    std::fs::write(&conf, text).unwrap();
    unsafe_kill(server.postmaster_pid(), libc::SIGHUP);
    assert!(server.wait_for_log(
        "received SIGHUP, reloading configuration files",
        Duration::from_secs(5)
    ));
    // The postmaster forwards the signal after logging; give it time to land.
    std::thread::sleep(Duration::from_millis(500));
    // PostgreSQL re-reads the file after reading the next command, before running it.
    assert_eq!(
        common::first_value(&mut client, "show checkpoint_timeout"),
        "7min"
    );
}
