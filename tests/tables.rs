//! Tables end to end: CREATE TABLE, INSERT, SELECT through the real server, with
//! transactions, and durability across kill -9 of the whole server.

mod common;

use std::time::Duration;

use common::{rows, some, TestServer};

#[test]
fn create_insert_select_round_trip() {
    let server = TestServer::start();
    let mut client = server.connect();
    client
        .batch_execute("create table t (id int4 not null, name text, ok bool)")
        .unwrap();
    client
        .batch_execute("insert into t values (1, 'one', true), (2, 'two', false)")
        .unwrap();
    client
        .batch_execute("insert into t (id) values (3)")
        .unwrap();
    let got = rows(&mut client, "select * from t");
    assert_eq!(
        got,
        vec![
            some(&["1", "one", "t"]),
            some(&["2", "two", "f"]),
            vec![Some("3".to_string()), None, None],
        ]
    );
    let error = client
        .batch_execute("insert into t (name) values ('x')")
        .unwrap_err();
    assert_eq!(
        common::sqlstate(&error).as_deref(),
        Some("23502"),
        "{error}"
    );
    let error = client.batch_execute("select * from nosuch").unwrap_err();
    assert_eq!(
        common::sqlstate(&error).as_deref(),
        Some("42P01"),
        "{error}"
    );
}

#[test]
fn rolled_back_and_uncommitted_rows_are_invisible_to_others() {
    let server = TestServer::start();
    let mut a = server.connect();
    let mut b = server.connect();
    a.batch_execute("create table t (id int8)").unwrap();
    a.batch_execute("begin; insert into t values (1)").unwrap();
    assert!(
        rows(&mut b, "select * from t").is_empty(),
        "uncommitted row seen"
    );
    assert_eq!(
        rows(&mut a, "select * from t"),
        vec![some(&["1"])],
        "own row not seen"
    );
    a.batch_execute("rollback").unwrap();
    assert!(rows(&mut a, "select * from t").is_empty());
    a.batch_execute("begin; insert into t values (2); commit")
        .unwrap();
    assert_eq!(rows(&mut b, "select * from t"), vec![some(&["2"])]);
}

#[test]
fn committed_rows_survive_kill_9_and_open_transactions_do_not() {
    let mut server = TestServer::start();
    let mut client = server.connect();
    client
        .batch_execute("create table t (id int4, v text)")
        .unwrap();
    for i in 0..50 {
        client
            .batch_execute(&format!("insert into t values ({i}, 'row {i}')"))
            .unwrap();
    }
    let mut open = server.connect();
    open.batch_execute("begin; insert into t values (999, 'never committed')")
        .unwrap();
    server.kill_everything_hard();
    server.launch();
    let mut client = server.connect_eventually(Duration::from_secs(20));
    let got = rows(&mut client, "select id from t");
    assert_eq!(got.len(), 50, "log:\n{}", server.log());
    assert!(!got.contains(&some(&["999"])));
    drop(client);
    drop(open);
    assert_eq!(server.stop("fast"), Some(0));
    let verify = server.quill("verify", &[]);
    assert!(verify.status.success(), "{}", common::stdout(&verify));
}

#[test]
fn concurrent_inserts_into_a_new_table_all_land_exactly_once() {
    let server = TestServer::start();
    let mut client = server.connect();
    client
        .batch_execute("create table t (writer int4, n int4)")
        .unwrap();
    let threads: Vec<_> = (0..8)
        .map(|writer| {
            let conn = server.conn_string();
            std::thread::spawn(move || {
                let mut c = postgres::Client::connect(&conn, postgres::NoTls).unwrap();
                for n in 0..150 {
                    c.batch_execute(&format!("insert into t values ({writer}, {n})"))
                        .unwrap_or_else(|e| panic!("writer {writer} row {n}: {e}"));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut got = rows(&mut client, "select writer, n from t");
    got.sort();
    got.dedup();
    assert_eq!(got.len(), 8 * 150, "rows lost or duplicated");
}

#[test]
fn a_rolled_back_create_table_is_forgotten_by_its_own_session() {
    let server = TestServer::start();
    let mut client = server.connect();
    client
        .batch_execute("begin; create table gone (id int4); insert into gone values (1)")
        .unwrap();
    assert_eq!(rows(&mut client, "select * from gone"), vec![some(&["1"])]);
    client.batch_execute("rollback").unwrap();
    let error = client.batch_execute("select * from gone").unwrap_err();
    assert_eq!(
        common::sqlstate(&error).as_deref(),
        Some("42P01"),
        "{error}"
    );
    // The name is free again.
    client.batch_execute("create table gone (id int4)").unwrap();
    assert!(rows(&mut client, "select * from gone").is_empty());
}

/// PostgreSQL's implicit transaction block: the statements of one Query message
/// commit together, an error undoes all of them, BEGIN makes the block explicit,
/// and a COMMIT inside it commits what came before (the rest starts a new block).
#[test]
fn statements_of_one_query_message_form_one_implicit_transaction() {
    let server = TestServer::start();
    let mut client = server.connect();
    let mut other = server.connect();
    client.batch_execute("create table m (a int4)").unwrap();

    // An error in the last statement undoes the earlier inserts of the message.
    let error = client
        .batch_execute("insert into m values (1); insert into m values (2); select 1/0")
        .unwrap_err();
    assert_eq!(
        common::sqlstate(&error).as_deref(),
        Some("22012"),
        "{error}"
    );
    assert!(rows(&mut other, "select a from m").is_empty());

    // Statements after an error are not run at all.
    client
        .batch_execute("insert into m values (3); select 1/0; insert into m values (4)")
        .unwrap_err();
    assert!(rows(&mut other, "select a from m").is_empty());

    // COMMIT inside the block commits the part before it; the error then undoes
    // only the part after it.
    client
        .batch_execute("insert into m values (5); commit; insert into m values (6); select 1/0")
        .unwrap_err();
    assert_eq!(rows(&mut other, "select a from m"), vec![some(&["5"])]);

    // A successful message commits once, after its last statement.
    client
        .batch_execute("insert into m values (7); insert into m values (8)")
        .unwrap();
    assert_eq!(
        rows(&mut other, "select a from m"),
        vec![some(&["5"]), some(&["7"]), some(&["8"])]
    );

    // BEGIN makes the block explicit: the first insert is part of the open
    // transaction, invisible to others until COMMIT, and gone after ROLLBACK.
    client
        .batch_execute("insert into m values (9); begin; insert into m values (10)")
        .unwrap();
    assert_eq!(rows(&mut other, "select a from m").len(), 3);
    client.batch_execute("rollback").unwrap();
    assert_eq!(rows(&mut other, "select a from m").len(), 3);

    // A setting changed in a failed message is undone; one before a COMMIT stays.
    client
        .batch_execute("set work_mem = '2MB'; commit; set work_mem = '3MB'; select 1/0")
        .unwrap_err();
    assert_eq!(common::first_value(&mut client, "show work_mem"), "2MB");
}
