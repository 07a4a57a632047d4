//! The WAL in the running server: the startup process bootstraps and recovers, the
//! checkpointer writes checkpoints into pg_control, and the tools read both.

mod common;

use std::time::Duration;

use common::{stdout, TestServer};

fn controldata(server: &TestServer) -> String {
    let out = server.quill("controldata", &[]);
    assert!(out.status.success(), "controldata failed: {out:?}");
    stdout(&out)
}

fn field<'a>(controldata: &'a str, name: &str) -> &'a str {
    controldata
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim())
        .unwrap_or_else(|| panic!("no {name} in:\n{controldata}"))
}

#[test]
fn first_start_bootstraps_wal_and_clean_shutdown_writes_a_shutdown_checkpoint() {
    let mut server = TestServer::start();
    assert!(server
        .data_dir()
        .join("pg_wal/000000010000000000000001")
        .exists());
    let running = controldata(&server);
    assert_eq!(field(&running, "Database cluster state"), "in production");
    assert_eq!(server.stop("fast"), Some(0));
    let stopped = controldata(&server);
    assert_eq!(field(&stopped, "Database cluster state"), "shut down");
    assert!(server.log().contains("shutting down"), "{}", server.log());
    let dump = stdout(&server.quill("waldump", &[]));
    assert!(dump.contains("CHECKPOINT_SHUTDOWN"), "{dump}");
    let verify = server.quill("verify", &[]);
    assert!(verify.status.success(), "{}", stdout(&verify));
    assert!(stdout(&verify).contains("OK: every page checksum valid"));
    // quill init wrote the system catalogs as heap tables (shared ones in global/).
    assert!(server.data_dir().join("global/1262").exists());
    assert!(server.data_dir().join("base/5/1259").exists());
    assert!(!stdout(&verify).contains("checked 0 relation files"));
    // A clean restart needs no redo.
    server.launch();
    assert!(server.log().contains("database system was shut down at"));
    assert!(!server.log().contains("redo starts"));
}

#[test]
fn restart_after_kill_9_of_everything_runs_crash_recovery() {
    let mut server = TestServer::start();
    server.kill_everything_hard();
    server.launch();
    let log = server.log();
    assert!(
        log.contains("database system was interrupted; last known up at"),
        "{log}"
    );
    assert!(
        log.contains("database system was not properly shut down; automatic recovery in progress"),
        "{log}"
    );
    let mut client = server.connect();
    client.simple_query("select 1").unwrap();
    assert_eq!(
        field(&controldata(&server), "Database cluster state"),
        "in production"
    );
}

#[test]
fn crash_restart_after_a_backend_crash_runs_the_startup_process_again() {
    let server = TestServer::start();
    let mut victim = server.connect();
    let pid: i32 = common::first_value(&mut victim, "select pg_backend_pid()")
        .parse()
        .unwrap();
    common::unsafe_kill(pid, libc::SIGKILL);
    assert!(server.wait_for_log(
        "all server processes terminated; reinitializing",
        Duration::from_secs(10)
    ));
    let mut client = server.connect_eventually(Duration::from_secs(20));
    client.simple_query("select 1").unwrap();
    assert!(server.log_count("database system is ready to accept connections") >= 2);
    assert!(
        server.log().contains("automatic recovery in progress"),
        "{}",
        server.log()
    );
}

#[test]
fn checkpoint_command_moves_the_control_files_checkpoint() {
    let server = TestServer::start();
    let before = field(&controldata(&server), "Latest checkpoint location").to_string();
    let out = server.psql("checkpoint");
    assert!(out.status.success(), "{}", common::stderr(&out));
    let after = field(&controldata(&server), "Latest checkpoint location").to_string();
    assert_ne!(before, after);
    let dump = stdout(&server.quill("waldump", &[]));
    assert!(dump.contains("CHECKPOINT_ONLINE"), "{dump}");
}

/// Group commit with `commit_delay` (and `commit_siblings = 0`, so every flusher
/// waits): concurrent committers share fdatasyncs, and every acknowledged commit
/// survives kill -9 of the whole server. The shutdown line reports the flushes.
#[test]
fn commits_under_commit_delay_from_concurrent_clients_survive_kill_9() {
    const WRITERS: i32 = 6;
    const ROWS: i32 = 40;
    let mut server = TestServer::start_with(&[("commit_delay", "200"), ("commit_siblings", "0")]);
    let mut client = server.connect();
    client
        .batch_execute("create table t (writer int4, n int4)")
        .unwrap();
    let threads: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let conn = server.conn_string();
            std::thread::spawn(move || {
                let mut c = postgres::Client::connect(&conn, postgres::NoTls).unwrap();
                for n in 0..ROWS {
                    c.batch_execute(&format!("insert into t values ({writer}, {n})"))
                        .unwrap_or_else(|e| panic!("writer {writer} row {n}: {e}"));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // A session may change commit_delay (superuser) and commit_siblings.
    client
        .batch_execute(
            "set commit_delay = 50; set commit_siblings = 1; insert into t values (-1, -1)",
        )
        .unwrap();
    drop(client);
    server.kill_everything_hard();
    server.launch();
    let mut client = server.connect_eventually(Duration::from_secs(20));
    let mut got: Vec<(String, String)> = client
        .simple_query("select writer, n from t")
        .unwrap()
        .into_iter()
        .filter_map(|m| match m {
            postgres::SimpleQueryMessage::Row(r) => {
                Some((r.get(0).unwrap().to_string(), r.get(1).unwrap().to_string()))
            }
            _ => None,
        })
        .collect();
    got.sort();
    got.dedup();
    assert_eq!(
        got.len(),
        (WRITERS * ROWS + 1) as usize,
        "acknowledged commits lost"
    );
    drop(client);
    assert_eq!(server.stop("fast"), Some(0));
    assert!(
        server.log().contains("flushes since start"),
        "{}",
        server.log()
    );
}
