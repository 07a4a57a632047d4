//! DROP TABLE end to end: the relation's file goes only when the dropping transaction
//! commits (and after crash recovery), other sessions' catalog caches follow DDL they
//! did not run, and varchar(n) columns keep their length.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use common::{rows, some, TestServer};

/// Column names of a query's result (its RowDescription), even with no rows.
fn column_names(client: &mut postgres::Client, sql: &str) -> Vec<String> {
    for m in client
        .simple_query(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    {
        if let postgres::SimpleQueryMessage::RowDescription(cols) = m {
            return cols.iter().map(|c| c.name().to_string()).collect();
        }
    }
    panic!("{sql}: no RowDescription")
}

fn error_of(client: &mut postgres::Client, sql: &str) -> (String, String) {
    let e = client
        .batch_execute(sql)
        .expect_err(&format!("{sql} should fail"));
    let message = e
        .as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_default();
    (common::sqlstate(&e).unwrap_or_default(), message)
}

/// The relation files of database `postgres` (OID 5), by name.
fn relation_files(server: &TestServer) -> BTreeSet<String> {
    let dir = server.data_dir().join("base/5");
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// Runs `create` and returns the path of the one relation file it made.
fn create_table(server: &TestServer, client: &mut postgres::Client, create: &str) -> PathBuf {
    let before = relation_files(server);
    client.batch_execute(create).unwrap();
    let after = relation_files(server);
    let new: Vec<_> = after.difference(&before).collect();
    assert_eq!(new.len(), 1, "{create} made files {new:?}");
    server.data_dir().join("base/5").join(new[0])
}

#[test]
fn dropped_table_file_goes_at_commit_and_stays_after_rollback() {
    let server = TestServer::start();
    let mut client = server.connect();
    let file = create_table(&server, &mut client, "create table t (id int4, name text)");
    client
        .batch_execute("insert into t values (1, 'one'), (2, 'two')")
        .unwrap();

    client.batch_execute("begin; drop table t").unwrap();
    assert!(file.exists(), "removed before the DROP committed");
    assert_eq!(error_of(&mut client, "select * from t").0, "42P01");
    client.batch_execute("rollback").unwrap();
    assert!(file.exists(), "a rolled-back DROP removed the file");
    assert_eq!(rows(&mut client, "select * from t").len(), 2);

    client.batch_execute("begin; drop table t").unwrap();
    assert!(file.exists());
    client.batch_execute("commit").unwrap();
    assert!(!file.exists(), "the file outlived the committed DROP");
    assert_eq!(
        error_of(&mut client, "select * from t"),
        ("42P01".into(), "relation \"t\" does not exist".into())
    );
    assert_eq!(
        error_of(&mut client, "drop table t"),
        ("42P01".into(), "table \"t\" does not exist".into())
    );
    client.batch_execute("drop table if exists t").unwrap();
    assert_eq!(
        error_of(&mut client, "drop table pg_class"),
        (
            "42501".into(),
            "permission denied: \"pg_class\" is a system catalog".into()
        )
    );
}

#[test]
fn aborted_create_table_removes_its_file() {
    let server = TestServer::start();
    let mut client = server.connect();
    client.batch_execute("begin").unwrap();
    let file = create_table(&server, &mut client, "create table t (id int4)");
    client.batch_execute("insert into t values (1)").unwrap();
    client.batch_execute("rollback").unwrap();
    assert!(!file.exists(), "the aborted CREATE TABLE left its file");
    assert_eq!(error_of(&mut client, "select * from t").0, "42P01");
}

#[test]
fn create_drop_recreate_same_name() {
    let server = TestServer::start();
    let mut client = server.connect();
    for round in 0..3 {
        let file = create_table(
            &server,
            &mut client,
            &format!("create table t (round int4, c{round} text)"),
        );
        client
            .batch_execute(&format!("insert into t values ({round}, 'r{round}')"))
            .unwrap();
        assert_eq!(
            column_names(&mut client, "select * from t"),
            vec!["round".to_string(), format!("c{round}")]
        );
        assert_eq!(
            rows(&mut client, "select * from t"),
            vec![some(&[&round.to_string(), &format!("r{round}")])]
        );
        client.batch_execute("drop table t").unwrap();
        assert!(!file.exists());
    }
    // All in one transaction: create, drop, create again.
    client
        .batch_execute(
            "begin; create table u (a int4); drop table u; create table u (b text); \
             insert into u values ('kept'); commit",
        )
        .unwrap();
    assert_eq!(column_names(&mut client, "select * from u"), vec!["b"]);
    assert_eq!(rows(&mut client, "select * from u"), vec![some(&["kept"])]);
}

#[test]
fn another_sessions_cache_follows_drop_and_recreate() {
    let server = TestServer::start();
    let mut a = server.connect();
    let mut b = server.connect();
    a.batch_execute("create table t (x int4); insert into t values (1)")
        .unwrap();
    // A caches t.
    assert_eq!(rows(&mut a, "select * from t"), vec![some(&["1"])]);
    assert_eq!(rows(&mut b, "select * from t"), vec![some(&["1"])]);

    // B drops it and creates another t with other columns.
    b.batch_execute("drop table t; create table t (y text, z bool)")
        .unwrap();
    b.batch_execute("insert into t values ('new', true)")
        .unwrap();
    assert_eq!(column_names(&mut a, "select * from t"), vec!["y", "z"]);
    assert_eq!(rows(&mut a, "select * from t"), vec![some(&["new", "t"])]);
    a.batch_execute("insert into t values ('from a', false)")
        .unwrap();
    assert_eq!(rows(&mut b, "select * from t").len(), 2);

    // A DROP that rolls back leaves t usable everywhere.
    b.batch_execute("begin; drop table t").unwrap();
    assert_eq!(rows(&mut a, "select * from t").len(), 2);
    b.batch_execute("rollback").unwrap();
    assert_eq!(rows(&mut a, "select * from t").len(), 2);
    assert_eq!(rows(&mut b, "select * from t").len(), 2);
    a.batch_execute("insert into t values ('after rollback', true)")
        .unwrap();
    assert_eq!(rows(&mut b, "select * from t").len(), 3);

    // A DROP that commits: A no longer finds t.
    b.batch_execute("drop table t").unwrap();
    assert_eq!(error_of(&mut a, "select * from t").0, "42P01");
    assert_eq!(
        error_of(&mut a, "insert into t values ('x', true)").0,
        "42P01"
    );
}

#[test]
fn concurrent_drop_waits_for_the_first_dropper() {
    let server = TestServer::start();
    let mut a = server.connect();
    a.batch_execute("create table t (x int4); create table u (x int4)")
        .unwrap();

    // The first dropper rolls back: the second then drops the table.
    a.batch_execute("begin; drop table t").unwrap();
    let mut b = server.connect();
    let waiter = std::thread::spawn(move || {
        let result = b.batch_execute("drop table t").map_err(|e| e.to_string());
        (b, result)
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(!waiter.is_finished(), "the second DROP did not wait");
    a.batch_execute("rollback").unwrap();
    let (mut b, result) = waiter.join().unwrap();
    result.unwrap();
    assert_eq!(error_of(&mut a, "select * from t").0, "42P01");

    // The first dropper commits: the second finds the table gone.
    a.batch_execute("begin; drop table u").unwrap();
    let waiter = std::thread::spawn(move || {
        let e = b.batch_execute("drop table u").unwrap_err();
        common::sqlstate(&e)
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(!waiter.is_finished(), "the second DROP did not wait");
    a.batch_execute("commit").unwrap();
    assert_eq!(waiter.join().unwrap().as_deref(), Some("42P01"));
}

#[test]
fn drop_survives_kill_9_and_recovery_removes_the_file() {
    let mut server = TestServer::start();
    let mut client = server.connect();
    // `kept` was made before a checkpoint; `gone` only exists in WAL since then, so
    // replay recreates its file from the inserts before the commit record removes it.
    let kept = create_table(&server, &mut client, "create table kept (x int4)");
    let early = create_table(&server, &mut client, "create table early (x int4)");
    client
        .batch_execute("insert into kept values (1); insert into early values (1); checkpoint")
        .unwrap();
    let gone = create_table(&server, &mut client, "create table gone (x int4)");
    client
        .batch_execute("insert into gone values (1), (2); insert into early values (2)")
        .unwrap();
    client.batch_execute("drop table gone, early").unwrap();
    assert!(!gone.exists() && !early.exists());
    // An open transaction's DROP is lost with the crash.
    let mut open = server.connect();
    open.batch_execute("begin; drop table kept").unwrap();

    server.kill_everything_hard();
    server.launch();
    server.wait_ready();
    let mut client = server.connect_eventually(Duration::from_secs(20));
    assert_eq!(error_of(&mut client, "select * from gone").0, "42P01");
    assert_eq!(error_of(&mut client, "select * from early").0, "42P01");
    assert!(!gone.exists(), "replay left the dropped table's file");
    assert!(!early.exists(), "replay left the dropped table's file");
    assert!(kept.exists());
    assert_eq!(rows(&mut client, "select * from kept"), vec![some(&["1"])]);
    // The name is free again.
    client
        .batch_execute("create table gone (y text); insert into gone values ('again')")
        .unwrap();
    assert_eq!(
        rows(&mut client, "select * from gone"),
        vec![some(&["again"])]
    );
    drop(client);
    drop(open);
    assert_eq!(server.stop("fast"), Some(0));
}

#[test]
fn varchar_columns_keep_their_length() {
    let server = TestServer::start();
    let mut client = server.connect();
    client
        .batch_execute("create table v (s varchar(3), t text)")
        .unwrap();
    assert_eq!(
        error_of(&mut client, "insert into v values ('abcd', 'x')"),
        (
            "22001".into(),
            "value too long for type character varying(3)".into()
        )
    );
    client
        .batch_execute("insert into v values ('abc  ', 'long text')")
        .unwrap();
    assert_eq!(
        rows(&mut client, "select * from v"),
        vec![some(&["abc", "long text"])]
    );
}
