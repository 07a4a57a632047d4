//! Crash tests (3)/(4) against the real server, DESIGN.md §4 rule 6: after kill -9 the
//! tail of the WAL is damaged — zeroed, cut in the middle of a record, or one byte
//! flipped inside a record followed by valid ones — and recovery must stop at the
//! last valid record, say so in the log (`redo done at ...`), keep exactly the
//! committed rows whose commit records lie before the damage, and cut the WAL there so
//! that the stale records after it never come back, not even after a second crash.
//! (The reader's handling of each kind of damage is unit-tested in src/wal/reader.rs.)

mod common;

use std::os::unix::fs::FileExt;
use std::time::Duration;

use common::{stdout, TestServer};

const WAL_SEGMENT_SIZE: u64 = 16 << 20;
const XLOG_BLCKSZ: u64 = 8192;
const ROWS: i32 = 40;

/// One line of `quill waldump`.
#[derive(Debug, Clone)]
struct Record {
    rmgr: String,
    total_len: u64,
    xid: u32,
    lsn: u64,
    desc: String,
}

fn parse_lsn(text: &str) -> u64 {
    let (hi, lo) = text.split_once('/').expect("an LSN");
    (u64::from_str_radix(hi, 16).unwrap() << 32) | u64::from_str_radix(lo, 16).unwrap()
}

fn lsn_text(lsn: u64) -> String {
    format!("{:X}/{:X}", lsn >> 32, lsn & 0xFFFF_FFFF)
}

/// `rmgr: Heap        len (rec/tot):      3/    79, tx:          4, lsn: 0/1018530, prev 0/1018508, desc: ...`
fn parse_record(line: &str) -> Record {
    let field = |name: &str| -> &str {
        let start = line
            .find(name)
            .unwrap_or_else(|| panic!("{name} in {line}"))
            + name.len();
        line[start..].split(',').next().unwrap().trim()
    };
    Record {
        rmgr: field("rmgr:")
            .split_whitespace()
            .next()
            .unwrap()
            .to_string(),
        total_len: field("len (rec/tot):")
            .split('/')
            .nth(1)
            .unwrap()
            .trim()
            .parse()
            .unwrap(),
        xid: field("tx:").parse().unwrap(),
        lsn: parse_lsn(field("lsn:")),
        desc: line[line.find("desc:").unwrap()..].to_string(),
    }
}

fn waldump(server: &TestServer) -> Vec<Record> {
    let out = server.quill("waldump", &[]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    stdout(&out).lines().map(parse_record).collect()
}

/// For each row id (inserted in order, one autocommit INSERT each): its heap insert
/// record and its commit record.
struct RowRecords {
    insert: Record,
    commit: Record,
}

/// A server, killed with SIGKILL after `ROWS` single-row commits into `t`, and where
/// each row's records are in WAL.
fn crashed_after_committing_rows() -> (TestServer, Vec<RowRecords>) {
    let mut server = TestServer::start();
    let mut client = server.connect();
    client
        .batch_execute("create table t (id int4, v text)")
        .unwrap();
    let node = std::fs::read_dir(server.data_dir().join("base/5"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&oid| oid >= 16384)
        .max()
        .expect("the table's file");
    for id in 0..ROWS {
        client
            .batch_execute(&format!("insert into t values ({id}, 'row {id}')"))
            .unwrap();
    }
    drop(client);
    server.kill_everything_hard();

    let records = waldump(&server);
    let table_ref = format!("rel 1663/5/{node} fork Main");
    let mut rows = Vec::new();
    for (i, rec) in records.iter().enumerate() {
        if rec.rmgr == "Heap" && rec.desc.contains(&table_ref) {
            let commit = records[i + 1..]
                .iter()
                .find(|r| r.rmgr == "Transaction" && r.xid == rec.xid)
                .unwrap_or_else(|| panic!("no commit record for {rec:?}"))
                .clone();
            rows.push(RowRecords {
                insert: rec.clone(),
                commit,
            });
        }
    }
    assert_eq!(rows.len(), ROWS as usize, "{records:#?}");
    (server, rows)
}

/// The WAL segment file holding `lsn`, and `lsn`'s offset in it.
fn segment_of(server: &TestServer, lsn: u64) -> (std::fs::File, u64) {
    let segno = lsn / WAL_SEGMENT_SIZE;
    let name = format!("{:08X}{:08X}{:08X}", 1, segno >> 8, segno & 0xFF);
    let path = server.data_dir().join("pg_wal").join(name);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (file, lsn % WAL_SEGMENT_SIZE)
}

/// Zeroes the WAL from `lsn` to the end of its segment (all later segments are empty
/// in these tests: one segment holds everything).
fn zero_wal_from(server: &TestServer, lsn: u64) {
    let (file, offset) = segment_of(server, lsn);
    file.write_all_at(&vec![0u8; (WAL_SEGMENT_SIZE - offset) as usize], offset)
        .unwrap();
    file.sync_all().unwrap();
}

fn flip_wal_byte(server: &TestServer, lsn: u64) {
    let (file, offset) = segment_of(server, lsn);
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, offset).unwrap();
    file.write_all_at(&[byte[0] ^ 0x5A], offset).unwrap();
    file.sync_all().unwrap();
}

/// A row to damage: the first from id 25 whose insert and commit records each lie
/// within one WAL page (so the byte positions below are inside record data, never
/// inside a page header).
fn victim(rows: &[RowRecords]) -> usize {
    let within_a_page = |r: &Record| r.lsn % XLOG_BLCKSZ + r.total_len <= XLOG_BLCKSZ;
    (25..rows.len())
        .find(|&k| within_a_page(&rows[k].insert) && within_a_page(&rows[k].commit))
        .expect("a row whose records do not cross a WAL page")
}

fn ids(client: &mut postgres::Client) -> Vec<i32> {
    let mut ids: Vec<i32> = client
        .simple_query("select id from t")
        .unwrap()
        .into_iter()
        .filter_map(|m| match m {
            postgres::SimpleQueryMessage::Row(row) => Some(row.get(0).unwrap().parse().unwrap()),
            _ => None,
        })
        .collect();
    ids.sort_unstable();
    ids
}

/// Restarts and checks the log of that recovery (`check_log`) and the rows; then makes
/// sure the cut is permanent: a new commit, a second kill -9 and recovery, a clean
/// stop and `quill verify`.
fn restart_and_check(mut server: TestServer, check_log: impl FnOnce(&str), survivors: Vec<i32>) {
    server.launch();
    let mut client = server.connect_eventually(Duration::from_secs(20));
    check_log(&server.log());
    assert_eq!(ids(&mut client), survivors, "log:\n{}", server.log());
    client
        .batch_execute("insert into t values (1000, 'after the cut')")
        .unwrap();
    drop(client);
    server.kill_everything_hard();
    server.launch();
    let mut client = server.connect_eventually(Duration::from_secs(20));
    let mut expected = survivors;
    expected.push(1000);
    assert_eq!(
        ids(&mut client),
        expected,
        "after a second crash; log:\n{}",
        server.log()
    );
    drop(client);
    assert_eq!(server.stop("fast"), Some(0));
    let verify = server.quill("verify", &[]);
    assert!(verify.status.success(), "{}", stdout(&verify));
}

fn assert_redo_stopped(log: &str, why: &str, last_valid: u64) {
    assert!(log.contains(why), "expected \"{why}\" in:\n{log}");
    let done = format!("redo done at {} ", lsn_text(last_valid));
    assert!(log.contains(&done), "expected \"{done}\" in:\n{log}");
}

#[test]
fn a_zeroed_wal_tail_ends_recovery_at_the_last_record_before_it() {
    let (server, rows) = crashed_after_committing_rows();
    let k = victim(&rows);
    zero_wal_from(&server, rows[k].insert.lsn);
    let why = format!(
        "invalid record length at {}: wanted 24, got 0",
        lsn_text(rows[k].insert.lsn)
    );
    let last_valid = rows[k - 1].commit.lsn;
    restart_and_check(
        server,
        |log| assert_redo_stopped(log, &why, last_valid),
        (0..k as i32).collect(),
    );
}

/// The commit record of row k is cut short (as a crash in the middle of its write
/// leaves it): row k's insert is replayed, but without its commit the transaction is
/// aborted and the row stays invisible.
#[test]
fn a_commit_record_cut_short_ends_recovery_and_its_transaction_is_aborted() {
    let (server, rows) = crashed_after_committing_rows();
    let k = victim(&rows);
    let commit = &rows[k].commit;
    zero_wal_from(&server, commit.lsn + commit.total_len / 2);
    // Its header is whole, so the reader sees a record whose CRC fails (PostgreSQL
    // reports the same).
    let why = format!(
        "incorrect resource manager data checksum in record at {}",
        lsn_text(commit.lsn)
    );
    let last_valid = rows[k].insert.lsn;
    restart_and_check(
        server,
        |log| {
            assert_redo_stopped(log, &why, last_valid);
            assert!(
                log.contains("marked 1 transactions without a commit record as aborted"),
                "{log}"
            );
        },
        (0..k as i32).collect(),
    );
}

/// One flipped byte inside row k's insert record: its CRC fails, and although the
/// records after it are intact, recovery must stop there (they may depend on it) —
/// and then zero them, so that a later recovery cannot find and replay them.
#[test]
fn a_record_with_a_bad_crc_ends_recovery_even_before_valid_records() {
    let (server, rows) = crashed_after_committing_rows();
    let k = victim(&rows);
    let insert = &rows[k].insert;
    flip_wal_byte(&server, insert.lsn + insert.total_len - 3);
    let why = format!(
        "incorrect resource manager data checksum in record at {}",
        lsn_text(insert.lsn)
    );
    let last_valid = rows[k - 1].commit.lsn;
    restart_and_check(
        server,
        |log| assert_redo_stopped(log, &why, last_valid),
        (0..k as i32).collect(),
    );
}
