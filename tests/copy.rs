//! COPY FROM STDIN and COPY TO STDOUT in text format through the real server, with
//! the `postgres` crate's copy_in/copy_out and with real psql (`\copy` and a script
//! with inline data): round trips with NULLs and escapes, column lists, bad data
//! and CopyFail leaving the session usable, rollback, and a pgbench-sized load.

mod common;

use std::io::{Read, Write};

use common::wire;
use common::{first_value, rows, TestServer, SUPERUSER};

fn copy_out(client: &mut postgres::Client, sql: &str) -> String {
    let mut out = String::new();
    client
        .copy_out(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .read_to_string(&mut out)
        .expect("read COPY data");
    out
}

fn copy_in(client: &mut postgres::Client, sql: &str, data: &[u8]) -> Result<u64, postgres::Error> {
    let mut writer = client.copy_in(sql)?;
    writer.write_all(data).expect("write COPY data");
    writer.finish()
}

#[test]
fn copy_round_trip_keeps_nulls_and_escapes() {
    let server = TestServer::start();
    let mut client = server.connect();
    client
        .batch_execute("create table t (a int4 not null, b text, c varchar(5))")
        .unwrap();
    let data = "1\thello\tabc\n2\t\\N\t\\N\n3\ttab\\there\\\\back\\nnl\t\n";
    // Rows split across CopyData messages anywhere, even inside an escape.
    let mut writer = client.copy_in("copy t from stdin").unwrap();
    for chunk in data.as_bytes().chunks(3) {
        writer.write_all(chunk).unwrap();
        writer.flush().unwrap();
    }
    assert_eq!(writer.finish().unwrap(), 3);
    assert_eq!(
        rows(&mut client, "select b, c from t where a = 3"),
        vec![vec![
            Some("tab\there\\back\nnl".into()),
            Some(String::new())
        ]]
    );
    assert_eq!(
        rows(
            &mut client,
            "select b is null, c is null from t where a = 2"
        ),
        vec![vec![Some("t".into()), Some("t".into())]]
    );
    assert_eq!(copy_out(&mut client, "copy t to stdout"), data);
}

#[test]
fn copy_column_lists_leave_other_columns_null() {
    let server = TestServer::start();
    let mut client = server.connect();
    client
        .batch_execute("create table t (a int4, b text, c int8)")
        .unwrap();
    assert_eq!(
        copy_in(&mut client, "copy t (c, a) from stdin", b"30\t3\n").unwrap(),
        1
    );
    assert_eq!(
        rows(&mut client, "select a, b, c from t"),
        vec![vec![Some("3".into()), None, Some("30".into())]]
    );
    assert_eq!(
        copy_out(
            &mut client,
            "copy t (b, a) to stdout with (delimiter '|', null 'NULL')"
        ),
        "NULL|3\n"
    );
}

#[test]
fn bad_copy_data_fails_the_statement_and_the_session_goes_on() {
    let server = TestServer::start();
    let mut client = server.connect();
    client
        .batch_execute("create table t (a int4 not null, b text)")
        .unwrap();
    // Many rows after the bad one: the server discards them up to CopyDone.
    let mut data = b"1\tok\nx\ty\n".to_vec();
    for i in 0..2000 {
        data.extend_from_slice(format!("{i}\tmore\n").as_bytes());
    }
    let error = copy_in(&mut client, "copy t from stdin", &data).unwrap_err();
    let db = error.as_db_error().expect("a server error");
    assert_eq!(db.code().code(), "22P02");
    assert_eq!(db.message(), "invalid input syntax for type integer: \"x\"");
    assert_eq!(db.where_(), Some("COPY t, line 2, column a: \"x\""));

    let error = copy_in(&mut client, "copy t from stdin", b"1\n").unwrap_err();
    let db = error.as_db_error().unwrap();
    assert_eq!(db.code().code(), "22P04");
    assert_eq!(db.message(), "missing data for column \"b\"");
    let error = copy_in(&mut client, "copy t from stdin", b"1\ta\tb\n").unwrap_err();
    assert_eq!(error.as_db_error().unwrap().code().code(), "22P04");
    let error = copy_in(&mut client, "copy t from stdin", b"\\N\ta\n").unwrap_err();
    assert_eq!(error.as_db_error().unwrap().code().code(), "23502");

    assert_eq!(first_value(&mut client, "select count(*) from t"), "0");
    assert_eq!(
        copy_in(&mut client, "copy t from stdin", b"5\tfine\n").unwrap(),
        1
    );
    assert_eq!(first_value(&mut client, "select count(*) from t"), "1");
}

#[test]
fn copy_fail_from_the_client_aborts_the_copy() {
    let server = TestServer::start();
    let mut client = server.connect();
    client.batch_execute("create table t (a int4)").unwrap();
    {
        let mut writer = client.copy_in("copy t from stdin").unwrap();
        writer.write_all(b"1\n2\n").unwrap();
        // Dropped without finish(): the client sends CopyFail.
    }
    assert_eq!(first_value(&mut client, "select count(*) from t"), "0");

    // On the wire: CopyFail's reason comes back as PostgreSQL's 57014, after
    // which the connection is in sync and serves the next query.
    let (mut stream, _, _) = wire::login(server.port, SUPERUSER);
    wire::send(&mut stream, &wire::query("copy t from stdin"));
    let response = wire::read_message(&mut stream).unwrap();
    assert_eq!(response.kind, b'G', "CopyInResponse expected: {response:?}");
    let mut copy = wire::message(b'd', b"1\n");
    copy.extend(wire::message(b'f', b"boom\0"));
    wire::send(&mut stream, &copy);
    let messages = wire::read_until_ready(&mut stream);
    let error = messages.iter().find(|m| m.is_error()).expect("an error");
    let (_, code, message) = error.error();
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("57014", "COPY from stdin failed: boom")
    );
    wire::send(&mut stream, &wire::query("select count(*) from t"));
    let messages = wire::read_until_ready(&mut stream);
    assert_eq!(
        wire::data_rows(&messages),
        vec![vec![Some("0".to_string())]]
    );
}

#[test]
fn copy_in_a_rolled_back_transaction_leaves_nothing() {
    let server = TestServer::start();
    let mut client = server.connect();
    client.batch_execute("create table t (a int4)").unwrap();
    client.batch_execute("begin").unwrap();
    assert_eq!(
        copy_in(&mut client, "copy t from stdin", b"1\n2\n").unwrap(),
        2
    );
    assert_eq!(first_value(&mut client, "select count(*) from t"), "2");
    client.batch_execute("rollback").unwrap();
    assert_eq!(first_value(&mut client, "select count(*) from t"), "0");
}

#[test]
fn copy_freeze_needs_a_table_created_in_the_transaction() {
    let server = TestServer::start();
    let mut client = server.connect();
    client.batch_execute("create table t (a int4)").unwrap();
    let error = copy_in(&mut client, "copy t from stdin with (freeze on)", b"1\n").unwrap_err();
    assert_eq!(error.as_db_error().unwrap().code().code(), "55000");
    client
        .batch_execute("begin; create table f (a int4)")
        .unwrap();
    assert_eq!(
        copy_in(&mut client, "copy f from stdin with (freeze on)", b"1\n").unwrap(),
        1
    );
    client.batch_execute("commit").unwrap();
    assert_eq!(first_value(&mut client, "select count(*) from f"), "1");
}

#[test]
fn copy_of_ten_thousand_pgbench_accounts_rows() {
    let server = TestServer::start();
    let mut client = server.connect();
    client
        .batch_execute(
            "create table pgbench_accounts(aid int not null,bid int,abalance int,filler char(84)) with (fillfactor=100)",
        )
        .unwrap();
    let mut data = Vec::new();
    for aid in 1..=10_000 {
        data.extend_from_slice(format!("{aid}\t1\t0\t\n").as_bytes());
    }
    // pgbench sends one CopyData per row.
    let mut writer = client.copy_in("copy pgbench_accounts from stdin").unwrap();
    for line in data.split_inclusive(|&b| b == b'\n') {
        writer.write_all(line).unwrap();
    }
    assert_eq!(writer.finish().unwrap(), 10_000);
    assert_eq!(
        rows(
            &mut client,
            "select count(*), sum(aid), min(octet_length(filler)) from pgbench_accounts"
        ),
        vec![vec![
            Some("10000".into()),
            Some("50005000".into()),
            Some("84".into())
        ]]
    );
    let out = copy_out(&mut client, "copy pgbench_accounts (aid, bid) to stdout");
    assert_eq!(out.lines().count(), 10_000);
    assert!(out.starts_with("1\t1\n2\t1\n"));
}

#[test]
fn psql_copy_meta_command_and_inline_script_data() {
    let server = TestServer::start();
    let dir = tempfile_dir();
    let data_path = dir.join("in.txt");
    std::fs::write(&data_path, "1\tone\n2\t\\N\n").unwrap();
    let script_path = dir.join("script.sql");
    std::fs::write(
        &script_path,
        "create table t (a int4, b text);\ncopy t from stdin;\n3\tthree\n\\.\nselect count(*) from t;\n",
    )
    .unwrap();
    let script = script_path.to_str().unwrap();
    let out = server.psql_args(&["-h", "127.0.0.1", "-f", script]);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        ["CREATE TABLE", "COPY 1", "1"]
    );

    let copy_cmd = format!("\\copy t from '{}'", data_path.display());
    let out = server.psql_args(&["-h", "127.0.0.1", "-c", &copy_cmd]);
    assert!(out.status.success(), "{out:?}");
    let out = server.psql_args(&["-h", "127.0.0.1", "-c", "\\copy t to stdout"]);
    assert!(out.status.success(), "{out:?}");
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    assert_eq!(lines, vec!["1\tone", "2\t\\N", "3\tthree"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A fresh scratch directory for files psql reads.
fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "quill_copy_test_{}_{}",
        std::process::id(),
        common::free_port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn csv_copy_round_trip_with_quoted_newlines() {
    let server = TestServer::start();
    let mut client = server.connect();
    client
        .batch_execute("create table t (a int4, b text)")
        .unwrap();
    let data = "1,\"\"\n2,\n3,\"x,\"\"y\"\"\nz\"\n";
    let mut writer = client
        .copy_in("copy t from stdin with (format csv)")
        .unwrap();
    for chunk in data.as_bytes().chunks(2) {
        writer.write_all(chunk).unwrap();
        writer.flush().unwrap();
    }
    assert_eq!(writer.finish().unwrap(), 3);
    assert_eq!(
        rows(&mut client, "select b from t order by a"),
        vec![
            vec![Some(String::new())],
            vec![None],
            vec![Some("x,\"y\"\nz".into())]
        ]
    );
    assert_eq!(
        copy_out(&mut client, "copy t to stdout with (format csv)"),
        data
    );
}
