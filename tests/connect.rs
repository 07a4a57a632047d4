//! Connecting: TCP and Unix socket, pg_isready, the `postgres` driver, many sessions
//! at once, max_connections, startup errors, startup options, ParameterStatus.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{first_value as simple_value, sqlstate, stderr, stdout, TestServer, SUPERUSER};

#[test]
fn select_1_over_tcp_and_unix_socket() {
    let server = TestServer::start();
    let tcp = server.psql("select 1");
    assert!(tcp.status.success(), "psql over TCP: {}", stderr(&tcp));
    assert_eq!(stdout(&tcp), "1");

    let socket_dir = server.socket_dir().display().to_string();
    let unix = server.psql_args(&["-h", &socket_dir, "-c", "select 1"]);
    assert!(
        unix.status.success(),
        "psql over Unix socket: {}",
        stderr(&unix)
    );
    assert_eq!(stdout(&unix), "1");
}

#[test]
fn pg_isready_accepting_while_running_and_no_response_after_stop() {
    let mut server = TestServer::start();
    let isready = |server: &TestServer| {
        Command::new("pg_isready")
            .args(["-h", "127.0.0.1", "-p", &server.port.to_string(), "-t", "5"])
            .output()
            .expect("run pg_isready")
    };
    let out = isready(&server);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("accepting connections"),
        "{}",
        stdout(&out)
    );

    assert_eq!(server.stop("fast"), Some(0));
    let out = isready(&server);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(stdout(&out).contains("no response"), "{}", stdout(&out));
}

#[test]
fn postgres_driver_runs_simple_queries() {
    let server = TestServer::start();
    let mut client = server.connect();
    let rows = client.simple_query("select 1, 'two'").unwrap();
    let row = rows
        .iter()
        .find_map(|m| match m {
            postgres::SimpleQueryMessage::Row(row) => Some(row),
            _ => None,
        })
        .expect("a row");
    assert_eq!(row.get(0), Some("1"));
    assert_eq!(row.get(1), Some("two"));
    client
        .batch_execute("begin; select 1; commit")
        .expect("batch_execute");
    assert_eq!(simple_value(&mut client, "select 40 + 2"), "42");
}

#[test]
fn extended_protocol_query_answers_and_the_session_goes_on() {
    let server = TestServer::start();
    let mut client = server.connect();
    // The driver uses Parse/Bind/Execute for `query`.
    let rows = client
        .query("select 1", &[])
        .expect("extended-protocol query");
    assert_eq!(rows[0].get::<_, i32>(0), 1);
    assert_eq!(simple_value(&mut client, "select 1"), "1");
}

#[test]
fn fifty_concurrent_sessions_all_succeed_with_distinct_backend_pids() {
    let server = TestServer::start();
    let conn_string = server.conn_string();
    let threads: Vec<_> = (0..50)
        .map(|i| {
            let conn_string = conn_string.clone();
            std::thread::spawn(move || {
                let mut client = postgres::Client::connect(&conn_string, postgres::NoTls)
                    .unwrap_or_else(|e| panic!("session {i}: connect: {e}"));
                for j in 0..3 {
                    let got = simple_value(&mut client, &format!("select {i} * 10 + {j}"));
                    assert_eq!(got, (i * 10 + j).to_string(), "session {i}");
                }
                let pid = simple_value(&mut client, "select pg_backend_pid()");
                (client, pid)
            })
        })
        .collect();
    // Keep every client open until all have their pid, so no pid can be reused.
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let mut pids: Vec<&str> = results.iter().map(|(_, pid)| pid.as_str()).collect();
    pids.sort();
    pids.dedup();
    assert_eq!(pids.len(), 50, "backend pids not distinct: {pids:?}");
}

#[test]
fn connection_beyond_max_connections_is_refused_with_53300() {
    let server = TestServer::start_with(&[
        ("max_connections", "3"),
        ("superuser_reserved_connections", "0"),
    ]);
    // (The harness's readiness probe may hold a slot for a moment: retry.)
    let mut held: Vec<_> = (0..3)
        .map(|_| server.connect_eventually(Duration::from_secs(10)))
        .collect();
    let error = server
        .try_connect()
        .err()
        .expect("a fourth connection must be refused");
    assert_eq!(sqlstate(&error).as_deref(), Some("53300"), "{error}");
    assert_eq!(
        error.as_db_error().unwrap().message(),
        "sorry, too many clients already"
    );

    drop(held.pop());
    // The slot frees once the postmaster has reaped the backend.
    let mut client = server.connect_eventually(Duration::from_secs(10));
    assert_eq!(simple_value(&mut client, "select 1"), "1");
    for c in &mut held {
        assert_eq!(simple_value(c, "select 2"), "2");
    }
}

#[test]
fn unknown_database_is_3d000_and_unknown_role_is_28000() {
    let server = TestServer::start();
    let connect = |user: &str, db: &str| server.try_connect_as(user, db);
    let error = connect(SUPERUSER, "no_such_db").err().unwrap();
    assert_eq!(sqlstate(&error).as_deref(), Some("3D000"), "{error}");
    assert_eq!(
        error.as_db_error().unwrap().message(),
        "database \"no_such_db\" does not exist"
    );
    assert_eq!(error.as_db_error().unwrap().severity(), "FATAL");

    let error = connect("no_such_role", "postgres").err().unwrap();
    assert_eq!(sqlstate(&error).as_deref(), Some("28000"), "{error}");
    assert_eq!(
        error.as_db_error().unwrap().message(),
        "role \"no_such_role\" does not exist"
    );
}

#[test]
fn startup_options_are_applied_and_explicit_parameters_win_over_them() {
    let server = TestServer::start();
    // psql sends application_name=psql as a startup parameter; as in PostgreSQL, an
    // explicit parameter is applied after the `options` switches and wins.
    let run = |options: &str, sql: &str| {
        let out = Command::new("psql")
            .args(["-X", "-A", "-t", "-h", "127.0.0.1"])
            .args([
                "-p",
                &server.port.to_string(),
                "-U",
                SUPERUSER,
                "-d",
                "postgres",
            ])
            .args(["-c", sql])
            .env("PGOPTIONS", options)
            .env_remove("PGAPPNAME")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    assert_eq!(run("-c search_path=foo", "show search_path"), "foo");
    assert_eq!(
        run("-c application_name=x", "show application_name"),
        "psql"
    );

    // The driver sends no application_name of its own: the option shows.
    let mut client = postgres::Client::connect(
        &format!("{} options='-c application_name=x'", server.conn_string()),
        postgres::NoTls,
    )
    .unwrap();
    assert_eq!(simple_value(&mut client, "show application_name"), "x");
    // An explicit parameter and an option: the parameter wins.
    let mut client = postgres::Client::connect(
        &format!(
            "{} application_name=explicit options='-c application_name=x'",
            server.conn_string()
        ),
        postgres::NoTls,
    )
    .unwrap();
    assert_eq!(
        simple_value(&mut client, "show application_name"),
        "explicit"
    );
}

#[test]
fn parameter_status_reports_a_postgresql_15_server() {
    let server = TestServer::start();
    let out = server.psql_args(&[
        "-h",
        "127.0.0.1",
        "-c",
        "\\echo :SERVER_VERSION_NAME :SERVER_VERSION_NUM",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let echoed = stdout(&out);
    assert!(echoed.starts_with("15"), "SERVER_VERSION_NAME: {echoed}");
    let num = echoed.split_whitespace().nth(1).unwrap();
    assert!(num.starts_with("150"), "SERVER_VERSION_NUM: {num}");

    let mut client = server.connect();
    assert!(simple_value(&mut client, "show server_version").starts_with("15"));
    // What the server reported at startup, as the raw protocol shows it.
    let mut stream = common::wire::connect(server.port);
    common::wire::send(
        &mut stream,
        &common::wire::startup(&[("user", SUPERUSER), ("database", "postgres")]),
    );
    let messages = common::wire::read_until_ready(&mut stream);
    let reported: std::collections::HashMap<String, String> = messages
        .iter()
        .filter(|m| m.kind == b'S')
        .map(|m| {
            let mut parts = m.body.split(|&b| b == 0);
            let name = String::from_utf8_lossy(parts.next().unwrap()).into_owned();
            let value = String::from_utf8_lossy(parts.next().unwrap()).into_owned();
            (name, value)
        })
        .collect();
    // PostgreSQL 15 reports exactly these at startup.
    let mut names: Vec<&str> = reported.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "DateStyle",
            "IntervalStyle",
            "TimeZone",
            "application_name",
            "client_encoding",
            "default_transaction_read_only",
            "in_hot_standby",
            "integer_datetimes",
            "is_superuser",
            "server_encoding",
            "server_version",
            "session_authorization",
            "standard_conforming_strings",
        ]
    );
    assert!(reported["server_version"].starts_with("15"), "{reported:?}");
    assert_eq!(reported["server_encoding"], "UTF8");
    assert_eq!(reported["client_encoding"], "UTF8");
    assert_eq!(reported["integer_datetimes"], "on");
    assert_eq!(reported["standard_conforming_strings"], "on");
    assert_eq!(reported["session_authorization"], SUPERUSER);
    assert_eq!(reported["is_superuser"], "on");
}

#[test]
fn roles_and_databases_come_from_the_catalog_heap_tables() {
    let server = TestServer::start();
    // template0 exists in pg_database but does not allow connections (datallowconn).
    let error = server.try_connect_as(SUPERUSER, "template0").err().unwrap();
    assert_eq!(sqlstate(&error).as_deref(), Some("55000"), "{error}");
    assert_eq!(
        error.as_db_error().unwrap().message(),
        "database \"template0\" is not currently accepting connections"
    );
    // template1 does; the bootstrap superuser is a superuser there too.
    let mut client = server.try_connect_as(SUPERUSER, "template1").unwrap();
    let rows = client.simple_query("show is_superuser").unwrap();
    let value = rows
        .iter()
        .find_map(|m| match m {
            postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
            _ => None,
        })
        .unwrap();
    assert_eq!(value, "on");
}
