//! TRUNCATE through the real server: a new empty file per table under the
//! transaction, the old file removed only at commit (the new one at abort), other
//! sessions seeing the new file only after commit, and the outcome surviving kill -9.

mod common;

use std::time::Duration;

use common::{rows, some, user_relation_files, TestServer};

fn relfilenode(client: &mut postgres::Client, table: &str) -> u32 {
    let value = common::first_value(
        client,
        &format!("select relfilenode from pg_class where relname = '{table}'"),
    );
    value.parse().unwrap()
}

fn filled_table(client: &mut postgres::Client, table: &str) {
    client
        .batch_execute(&format!(
            "create table {table} (x int4, y text); \
             insert into {table} values (1, 'one'), (2, 'two')"
        ))
        .unwrap();
}

#[test]
fn committed_truncate_empties_the_table_and_removes_the_old_file() {
    let server = TestServer::start();
    let mut client = server.connect();
    filled_table(&mut client, "t");
    let old = relfilenode(&mut client, "t");
    assert_eq!(user_relation_files(&server), vec![old]);
    client.batch_execute("truncate table t").unwrap();
    assert!(rows(&mut client, "select * from t").is_empty());
    let new = relfilenode(&mut client, "t");
    assert_ne!(new, old);
    assert_eq!(user_relation_files(&server), vec![new]);
    client
        .batch_execute("insert into t values (3, 'three')")
        .unwrap();
    assert_eq!(
        rows(&mut client, "select * from t"),
        vec![some(&["3", "three"])]
    );
}

#[test]
fn rolled_back_truncate_keeps_the_rows_and_the_file() {
    let server = TestServer::start();
    let mut client = server.connect();
    filled_table(&mut client, "t");
    let old = relfilenode(&mut client, "t");
    client.batch_execute("begin; truncate t").unwrap();
    assert!(rows(&mut client, "select * from t").is_empty());
    assert_eq!(user_relation_files(&server).len(), 2, "old and new file");
    client.batch_execute("rollback").unwrap();
    assert_eq!(
        rows(&mut client, "select * from t order by x"),
        vec![some(&["1", "one"]), some(&["2", "two"])]
    );
    assert_eq!(relfilenode(&mut client, "t"), old);
    assert_eq!(user_relation_files(&server), vec![old]);
}

#[test]
fn truncate_then_insert_in_one_transaction_commits_only_the_new_rows() {
    let server = TestServer::start();
    let mut client = server.connect();
    filled_table(&mut client, "t");
    filled_table(&mut client, "u");
    // As pgbench -i does it.
    client
        .batch_execute(
            "begin; truncate table t, u; \
             insert into t values (10, 'ten'); \
             truncate u; insert into u values (20, 'twenty'); commit",
        )
        .unwrap();
    assert_eq!(
        rows(&mut client, "select * from t"),
        vec![some(&["10", "ten"])]
    );
    assert_eq!(
        rows(&mut client, "select * from u"),
        vec![some(&["20", "twenty"])]
    );
    let mut files = vec![relfilenode(&mut client, "t"), relfilenode(&mut client, "u")];
    files.sort_unstable();
    assert_eq!(
        user_relation_files(&server),
        files,
        "only the files in force"
    );
}

#[test]
fn truncate_is_visible_to_another_session_only_after_commit() {
    let server = TestServer::start();
    let mut writer = server.connect();
    let mut reader = server.connect();
    filled_table(&mut writer, "t");
    // The reader caches the table's catalog entry first.
    assert_eq!(rows(&mut reader, "select * from t").len(), 2);
    writer.batch_execute("begin; truncate t").unwrap();
    assert_eq!(rows(&mut reader, "select * from t").len(), 2);
    writer
        .batch_execute("insert into t values (3, 'three')")
        .unwrap();
    assert_eq!(rows(&mut reader, "select * from t").len(), 2);
    writer.batch_execute("commit").unwrap();
    assert_eq!(
        rows(&mut reader, "select * from t"),
        vec![some(&["3", "three"])]
    );
    reader
        .batch_execute("insert into t values (4, 'four')")
        .unwrap();
    assert_eq!(rows(&mut writer, "select * from t order by x").len(), 2);
}

#[test]
fn truncate_of_a_missing_table_or_a_catalog_fails_as_in_postgres() {
    let server = TestServer::start();
    let mut client = server.connect();
    filled_table(&mut client, "t");
    let e = client.batch_execute("truncate t, nosuch").unwrap_err();
    assert_eq!(common::sqlstate(&e).as_deref(), Some("42P01"));
    let e = client.batch_execute("truncate pg_class").unwrap_err();
    assert_eq!(common::sqlstate(&e).as_deref(), Some("42501"));
    assert_eq!(rows(&mut client, "select * from t").len(), 2);
    assert_eq!(user_relation_files(&server).len(), 1);
}

#[test]
fn committed_truncate_survives_kill_9() {
    let mut server = TestServer::start();
    let mut client = server.connect();
    filled_table(&mut client, "t");
    client.batch_execute("checkpoint").unwrap();
    let old = relfilenode(&mut client, "t");
    client.batch_execute("begin; truncate t; commit").unwrap();
    drop(client);
    server.kill_everything_hard();
    server.launch();

    let mut client = server.connect_eventually(Duration::from_secs(20));
    assert!(rows(&mut client, "select * from t").is_empty());
    let new = relfilenode(&mut client, "t");
    assert_ne!(new, old);
    assert_eq!(user_relation_files(&server), vec![new]);
    client
        .batch_execute("insert into t values (5, 'five')")
        .unwrap();
    assert_eq!(
        rows(&mut client, "select * from t"),
        vec![some(&["5", "five"])]
    );
    drop(client);
    assert_eq!(server.stop("fast"), Some(0));
    let verify = server.quill("verify", &[]);
    assert!(verify.status.success(), "{}", common::stdout(&verify));
}

/// A second TRUNCATE of a table waits for the first one's transaction (through the
/// pg_class row), then replaces the version that committed: the file removed at its
/// commit is the one the first TRUNCATE made, and only the last file remains.
#[test]
fn concurrent_truncates_wait_and_leave_one_file() {
    let server = TestServer::start();
    let mut first = server.connect();
    let mut second = server.connect();
    filled_table(&mut first, "t");
    first.batch_execute("begin; truncate t").unwrap();
    let waiter = std::thread::spawn(move || {
        second
            .batch_execute("begin; truncate t; insert into t values (9, 'nine'); commit")
            .map(|_| second)
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(!waiter.is_finished(), "the second TRUNCATE did not wait");
    first
        .batch_execute("insert into t values (8, 'eight'); commit")
        .unwrap();
    let mut second = waiter.join().unwrap().unwrap();
    assert_eq!(
        rows(&mut second, "select * from t"),
        vec![some(&["9", "nine"])]
    );
    assert_eq!(
        rows(&mut first, "select * from t"),
        vec![some(&["9", "nine"])]
    );
    assert_eq!(
        user_relation_files(&server),
        vec![relfilenode(&mut first, "t")]
    );
}
