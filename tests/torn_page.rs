//! Crash test (2), DESIGN.md §4 rule 4: a data page torn on disk (half old, half
//! garbage, as a power cut in the middle of an 8 KiB write can leave it) is repaired
//! by crash recovery from the full-page image logged by the first change to that page
//! after the last checkpoint — and without such an image, reading the page is a
//! checksum error (XX001), never garbage rows.
//!
//! The tear is simulated on a server killed with SIGKILL: the test overwrites half of
//! block 0 of the table's file under `base/5/<relfilenode>` before restarting.

mod common;

use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::time::Duration;

use common::{stdout, TestServer};

/// The `postgres` database's OID, whose directory holds the tests' tables.
const POSTGRES_DB_DIR: &str = "base/5";
const BLCKSZ: u64 = 8192;

fn relation_path(server: &TestServer, relfilenode: u32) -> PathBuf {
    server
        .data_dir()
        .join(POSTGRES_DB_DIR)
        .join(relfilenode.to_string())
}

/// Overwrites `len` bytes at `offset` of block `block` of the relation's file with a
/// pattern no page contains (never all zeros: a zero page is a valid new page).
fn tear_block(server: &TestServer, relfilenode: u32, block: u64, offset: u64, len: usize) {
    let path = relation_path(server, relfilenode);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(file.metadata().unwrap().len() >= (block + 1) * BLCKSZ);
    let garbage: Vec<u8> = (0..len)
        .map(|i| (i as u8).wrapping_mul(151) ^ 0xA5)
        .collect();
    file.write_all_at(&garbage, block * BLCKSZ + offset)
        .unwrap();
    file.sync_all().unwrap();
}

/// Rows of `select id, v from table`, sorted by id.
fn rows(client: &mut postgres::Client, table: &str) -> Result<Vec<(i32, String)>, postgres::Error> {
    let mut rows: Vec<(i32, String)> = client
        .simple_query(&format!("select id, v from {table}"))?
        .into_iter()
        .filter_map(|m| match m {
            postgres::SimpleQueryMessage::Row(row) => Some((
                row.get(0).unwrap().parse().unwrap(),
                row.get(1).unwrap().to_string(),
            )),
            _ => None,
        })
        .collect();
    rows.sort();
    Ok(rows)
}

fn value(id: i32) -> String {
    format!("row {id} {}", "p".repeat(40 + (id as usize * 7) % 60))
}

fn insert(client: &mut postgres::Client, table: &str, ids: std::ops::Range<i32>) {
    for id in ids {
        client
            .batch_execute(&format!(
                "insert into {table} values ({id}, '{}')",
                value(id)
            ))
            .unwrap();
    }
}

fn expected(ids: std::ops::Range<i32>) -> Vec<(i32, String)> {
    ids.map(|id| (id, value(id))).collect()
}

fn waldump(server: &TestServer) -> String {
    let out = server.quill("waldump", &[]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    stdout(&out)
}

#[test]
fn a_torn_page_is_restored_from_its_full_page_image_by_crash_recovery() {
    let mut server = TestServer::start();
    let mut client = server.connect();
    // Block 0 of each table: rows before the checkpoint, the checkpoint writes the
    // page, then more rows — the first of them logs a full-page image of block 0.
    client
        .batch_execute("create table torn_tail (id int4, v text)")
        .unwrap();
    client
        .batch_execute("create table torn_head (id int4, v text)")
        .unwrap();
    let [tail, head] = common::user_relation_files(&server)[..] else {
        panic!(
            "expected two relation files: {:?}",
            common::user_relation_files(&server)
        );
    };
    insert(&mut client, "torn_tail", 0..20);
    insert(&mut client, "torn_head", 0..20);
    client.batch_execute("checkpoint").unwrap();
    insert(&mut client, "torn_tail", 20..30);
    insert(&mut client, "torn_head", 20..30);
    let dump = waldump(&server);
    for node in [tail, head] {
        assert!(
            dump.contains(&format!("rel 1663/5/{node} fork Main blk 0 FPW")),
            "no full-page image of block 0 of {node} after the checkpoint:\n{dump}"
        );
    }
    drop(client);
    server.kill_everything_hard();

    // The tuples of the first 20 rows sit at the end of the page (they grow down
    // from it); the header and line pointers at its start.
    tear_block(&server, tail, 0, 4096, 4096);
    tear_block(&server, head, 0, 0, 4096);
    server.launch();
    let mut client = server.connect_eventually(Duration::from_secs(20));
    for table in ["torn_tail", "torn_head"] {
        let got = rows(&mut client, table)
            .unwrap_or_else(|e| panic!("{table}: {:?}; log:\n{}", e.as_db_error(), server.log()));
        assert_eq!(got, expected(0..30), "{table}; log:\n{}", server.log());
    }
    let log = server.log();
    assert!(log.contains("redo starts at"), "{log}");
    assert!(!log.contains("invalid page"), "{log}");
    // The repaired pages take new rows and survive a clean restart.
    insert(&mut client, "torn_tail", 30..32);
    drop(client);
    assert_eq!(server.stop("fast"), Some(0));
    let verify = server.quill("verify", &[]);
    assert!(verify.status.success(), "{}", stdout(&verify));
    server.launch();
    let mut client = server.connect();
    assert_eq!(rows(&mut client, "torn_tail").unwrap(), expected(0..32));
    assert_eq!(rows(&mut client, "torn_head").unwrap(), expected(0..30));
}

/// PostgreSQL 15: `ERROR:  invalid page in block 0 of relation base/5/16384` (XX001);
/// the server stays up and other tables stay readable.
fn assert_invalid_page(client: &mut postgres::Client, table: &str, relfilenode: u32) {
    let error = rows(client, table).expect_err("a torn page without an image was read");
    let db = error
        .as_db_error()
        .unwrap_or_else(|| panic!("not a server error: {error}"));
    assert_eq!(db.code().code(), "XX001", "{db:?}");
    assert_eq!(
        db.message(),
        format!("invalid page in block 0 of relation base/5/{relfilenode}")
    );
}

#[test]
fn a_torn_page_without_a_full_page_image_is_a_checksum_error_not_garbage() {
    let mut server = TestServer::start();
    let mut client = server.connect();
    client
        .batch_execute("create table torn (id int4, v text)")
        .unwrap();
    client
        .batch_execute("create table intact (id int4, v text)")
        .unwrap();
    let [torn, _intact] = common::user_relation_files(&server)[..] else {
        panic!(
            "expected two relation files: {:?}",
            common::user_relation_files(&server)
        );
    };
    insert(&mut client, "torn", 0..20);
    insert(&mut client, "intact", 0..5);
    drop(client);
    // A clean shutdown: its checkpoint wrote every page, and restart replays nothing,
    // so no full-page image can repair the tear.
    assert_eq!(server.stop("fast"), Some(0));
    tear_block(&server, torn, 0, 4096, 4096);

    let verify = server.quill("verify", &[]);
    assert!(!verify.status.success(), "{}", stdout(&verify));
    assert!(
        stdout(&verify).contains(&format!(
            "invalid page in block 0 of \"{}\"",
            std::path::Path::new(POSTGRES_DB_DIR)
                .join(torn.to_string())
                .display()
        )),
        "{}",
        stdout(&verify)
    );

    server.launch();
    assert!(server.log().contains("database system was shut down at"));
    let mut client = server.connect();
    assert_invalid_page(&mut client, "torn", torn);
    // Again (the bad page was not left in the buffer pool as valid).
    assert_invalid_page(&mut client, "torn", torn);
    assert_eq!(rows(&mut client, "intact").unwrap(), expected(0..5));
}

#[test]
fn crash_recovery_leaves_a_torn_page_that_no_wal_record_touches_failing_its_checksum() {
    let mut server = TestServer::start();
    let mut client = server.connect();
    client
        .batch_execute("create table torn (id int4, v text)")
        .unwrap();
    client
        .batch_execute("create table busy (id int4, v text)")
        .unwrap();
    let [torn, _busy] = common::user_relation_files(&server)[..] else {
        panic!(
            "expected two relation files: {:?}",
            common::user_relation_files(&server)
        );
    };
    insert(&mut client, "torn", 0..20);
    client.batch_execute("checkpoint").unwrap();
    // Redo after the kill replays these, none of which touches `torn`.
    insert(&mut client, "busy", 0..10);
    drop(client);
    server.kill_everything_hard();
    tear_block(&server, torn, 0, 4096, 4096);

    server.launch();
    let mut client = server.connect_eventually(Duration::from_secs(20));
    assert!(server.log().contains("redo starts at"), "{}", server.log());
    assert_invalid_page(&mut client, "torn", torn);
    assert_eq!(rows(&mut client, "busy").unwrap(), expected(0..10));
}

/// The control for the first test: with `full_page_writes = off` the same tear
/// cannot be repaired, and redo must not apply a change onto the torn page. As
/// PostgreSQL 15, the startup process fails (`FATAL:  invalid page in block 0 of
/// relation base/5/N`) and the postmaster gives up rather than start on a damaged
/// cluster.
#[test]
fn without_full_page_writes_recovery_refuses_to_replay_onto_a_torn_page() {
    let mut server = TestServer::start_with(&[("full_page_writes", "off")]);
    let mut client = server.connect();
    client
        .batch_execute("create table torn (id int4, v text)")
        .unwrap();
    let [torn] = common::user_relation_files(&server)[..] else {
        panic!(
            "expected one relation file: {:?}",
            common::user_relation_files(&server)
        );
    };
    insert(&mut client, "torn", 0..20);
    client.batch_execute("checkpoint").unwrap();
    insert(&mut client, "torn", 20..30);
    assert!(!waldump(&server).contains(" FPW"));
    drop(client);
    server.kill_everything_hard();
    tear_block(&server, torn, 0, 4096, 4096);

    let (code, out) = server.start_expecting_exit(Duration::from_secs(20));
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "FATAL:  invalid page in block 0 of relation base/5/{torn}"
        )),
        "{out}"
    );
    assert!(
        out.contains("aborting startup due to startup process failure"),
        "{out}"
    );
}
