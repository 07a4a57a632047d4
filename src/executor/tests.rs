//! CREATE TABLE / INSERT / SELECT against a real WAL, buffer pool, catalogs and clog
//! over a `SimulatedDisk` (the heap tests' harness).

use std::sync::Arc;

use super::*;
use crate::access::heap::heapam::tests::{new_disk, start, Node};
use crate::catalog::bootstrap_catalogs;
use crate::shmem::TestSegment;
use crate::storage::file_io::FileIo;
use crate::txn::clog::{Clog, TransactionStatus};
use crate::txn::TxnShared;

struct Server {
    node: Node,
    clog: Clog,
}

fn server() -> Server {
    let disk = new_disk();
    let node = start(&disk, 64).unwrap();
    bootstrap_catalogs(&node.pool, &node.wal, "alice", true).unwrap();
    Clog::create_dir(node.io.as_ref()).unwrap();
    let segment = Box::leak(Box::new(TestSegment::new(crate::txn::SHMEM_BYTES)));
    let shared = segment.struct_at::<TxnShared>(0);
    let io: Arc<dyn FileIo> = Arc::clone(&node.io);
    let clog = Clog::attach(&shared.clog, io, node.wal.clone());
    clog.extend_for(0, node.wal.as_ref()).unwrap();
    Server { node, clog }
}

/// A transaction with a fixed xid, assigned on first write.
struct Txn {
    xid: u32,
    assigned: bool,
    cid: u32,
}

impl XidSource for Txn {
    fn ensure_xid(&mut self) -> QuillResult<u32> {
        self.assigned = true;
        Ok(self.xid)
    }
}

impl Txn {
    fn new(xid: u32) -> Txn {
        Txn {
            xid,
            assigned: false,
            cid: 0,
        }
    }

    fn commit(self, s: &Server) {
        if self.assigned {
            crate::txn::xact::commit(self.xid, s.node.wal.as_ref(), &s.clog, true).unwrap();
        }
    }
}

fn snapshot(running: &[u32]) -> Snapshot {
    Snapshot {
        xmin: running.iter().copied().min().unwrap_or(10_000),
        xmax: 10_000,
        xip: running.to_vec(),
        curcid: 0,
    }
}

fn run_with(s: &Server, txn: &mut Txn, snap: &Snapshot, sql: &str) -> QuillResult<QueryResult> {
    let parsed = pg_query::parse(sql, 0).unwrap();
    let stmt = parsed.protobuf.stmts[0].stmt.as_ref().unwrap();
    let node = stmt.node.as_ref().unwrap();
    let mut snap = snap.clone();
    snap.curcid = txn.cid;
    // A fresh cache per statement, as a session that invalidates at every boundary.
    let cache = std::cell::RefCell::new(crate::catalog::CatCache::default());
    let ctx = StorageContext {
        wal: &s.node.wal,
        pool: &s.node.pool,
        clog: &s.clog,
        db_oid: 5,
        full_page_writes: true,
        snapshot: &snap,
        my_xid: if txn.assigned { txn.xid } else { 0 },
        cid: txn.cid,
        query: sql,
        catalog_cache: &cache,
    };
    let result = execute_storage_statement(node, &ctx, txn, OutputFormat::DEFAULT);
    txn.cid += 1;
    result
}

fn run(s: &Server, txn: &mut Txn, sql: &str) -> QuillResult<QueryResult> {
    run_with(s, txn, &snapshot(&[]), sql)
}

fn err(r: QuillResult<QueryResult>) -> (&'static str, String) {
    let e = r.unwrap_err();
    (e.sqlstate, e.message)
}

fn rows(r: &QueryResult) -> Vec<Vec<Option<&str>>> {
    r.rows
        .iter()
        .map(|row| row.iter().map(|v| v.as_deref()).collect())
        .collect()
}

#[test]
fn create_insert_select_round_trip() {
    let s = server();
    let mut t = Txn::new(100);
    let r = run(
        &s,
        &mut t,
        "CREATE TABLE items (id int NOT NULL, name text, price double precision, ok boolean, code varchar(5), big bigint, small smallint)",
    )
    .unwrap();
    assert_eq!(r.tag, "CREATE TABLE");
    assert!(r.columns.is_none());
    let r = run(
        &s,
        &mut t,
        "INSERT INTO items VALUES (1, 'one', 1.5, true, 'a', 9999999999, -3), \
         (2, NULL, -2, 'f', 'bb', -1, 7), (3, 'three', '0.1'::float8, NULL, NULL, NULL, NULL)",
    )
    .unwrap();
    assert_eq!(r.tag, "INSERT 0 3");
    let r = run(&s, &mut t, "SELECT * FROM items").unwrap();
    assert_eq!(r.tag, "SELECT 3");
    let cols: Vec<_> = r
        .columns
        .as_ref()
        .unwrap()
        .iter()
        .map(|c| (c.name.as_str(), c.type_oid, c.type_len, c.type_mod))
        .collect();
    assert_eq!(
        cols,
        [
            ("id", 23, 4, -1),
            ("name", 25, -1, -1),
            ("price", 701, 8, -1),
            ("ok", 16, 1, -1),
            ("code", 1043, -1, 9), // varchar(5): atttypmod 5 + VARHDRSZ, as PostgreSQL reports it
            ("big", 20, 8, -1),
            ("small", 21, 2, -1),
        ]
    );
    assert_eq!(
        rows(&r),
        [
            vec![
                Some("1"),
                Some("one"),
                Some("1.5"),
                Some("t"),
                Some("a"),
                Some("9999999999"),
                Some("-3")
            ],
            vec![
                Some("2"),
                None,
                Some("-2"),
                Some("f"),
                Some("bb"),
                Some("-1"),
                Some("7")
            ],
            vec![
                Some("3"),
                Some("three"),
                Some("0.1"),
                None,
                None,
                None,
                None
            ],
        ]
    );

    // Column lists, aliases, qualified names.
    let r = run(&s, &mut t, "SELECT name, id AS key, items.ok FROM items").unwrap();
    let names: Vec<_> = r
        .columns
        .as_ref()
        .unwrap()
        .iter()
        .map(|c| c.name.clone())
        .collect();
    assert_eq!(names, ["name", "key", "ok"]);
    assert_eq!(rows(&r)[1], [None, Some("2"), Some("f")]);
    let r = run(
        &s,
        &mut t,
        "INSERT INTO items (name, id) VALUES ('four', 4)",
    )
    .unwrap();
    assert_eq!(r.tag, "INSERT 0 1");
    let r = run(&s, &mut t, "SELECT id, name, price FROM items").unwrap();
    assert_eq!(rows(&r)[3], [Some("4"), Some("four"), None]);
    t.commit(&s);

    // Another transaction sees the committed table and rows; read-only, no xid.
    let mut t2 = Txn::new(101);
    let r = run(&s, &mut t2, "SELECT id FROM public.items").unwrap();
    assert_eq!(r.tag, "SELECT 4");
    assert!(!t2.assigned);
}

#[test]
fn uncommitted_rows_are_invisible_to_others() {
    let s = server();
    let mut t = Txn::new(100);
    run(&s, &mut t, "CREATE TABLE t (a int)").unwrap();
    t.commit(&s);
    let mut writer = Txn::new(101);
    run(&s, &mut writer, "INSERT INTO t VALUES (1), (2)").unwrap();
    let mut reader = Txn::new(102);
    let r = run_with(&s, &mut reader, &snapshot(&[101]), "SELECT * FROM t").unwrap();
    assert_eq!(r.tag, "SELECT 0");
    s.clog
        .set_status(101, TransactionStatus::Aborted, crate::wal::Lsn::INVALID)
        .unwrap();
    let r = run(&s, &mut reader, "SELECT * FROM t").unwrap();
    assert_eq!(r.tag, "SELECT 0");
}

#[test]
fn errors_match_postgres() {
    let s = server();
    let mut t = Txn::new(100);
    run(&s, &mut t, "CREATE TABLE t (a int NOT NULL, b text)").unwrap();
    assert_eq!(
        err(run(&s, &mut t, "CREATE TABLE t (x int)")),
        ("42P07", "relation \"t\" already exists".into())
    );
    assert_eq!(
        err(run(&s, &mut t, "CREATE TABLE u (x foo)")),
        ("42704", "type \"foo\" does not exist".into())
    );
    assert_eq!(
        err(run(&s, &mut t, "INSERT INTO t VALUES (NULL, 'x')")),
        (
            "23502",
            "null value in column \"a\" of relation \"t\" violates not-null constraint".into()
        )
    );
    assert_eq!(
        err(run(&s, &mut t, "INSERT INTO t (b) VALUES ('x')")),
        (
            "23502",
            "null value in column \"a\" of relation \"t\" violates not-null constraint".into()
        )
    );
    assert_eq!(
        err(run(&s, &mut t, "INSERT INTO nope VALUES (1)")),
        ("42P01", "relation \"nope\" does not exist".into())
    );
    assert_eq!(
        err(run(&s, &mut t, "SELECT * FROM nope")),
        ("42P01", "relation \"nope\" does not exist".into())
    );
    assert_eq!(
        err(run(&s, &mut t, "SELECT x FROM t")),
        ("42703", "column \"x\" does not exist".into())
    );
    assert_eq!(
        err(run(&s, &mut t, "INSERT INTO t (a, x) VALUES (1, 2)")),
        (
            "42703",
            "column \"x\" of relation \"t\" does not exist".into()
        )
    );
    assert_eq!(
        err(run(&s, &mut t, "SELECT * FROM t WHERE a = 1")),
        ("0A000", "WHERE is not supported yet".into())
    );
    assert_eq!(
        err(run(&s, &mut t, "INSERT INTO t VALUES ('x', 'y')")),
        (
            "22P02",
            "invalid input syntax for type integer: \"x\"".into()
        )
    );
    assert_eq!(
        err(run(&s, &mut t, "INSERT INTO t VALUES (true, 'y')")).0,
        "42804"
    );
    assert_eq!(
        err(run(&s, &mut t, "INSERT INTO t VALUES (1, 'y', 3)")),
        (
            "42601",
            "INSERT has more expressions than target columns".into()
        )
    );
    // None of the failed statements wrote a row.
    let r = run(&s, &mut t, "SELECT * FROM t").unwrap();
    assert_eq!(r.tag, "SELECT 0");
    // A negative literal and a rounded decimal.
    run(
        &s,
        &mut t,
        "INSERT INTO t VALUES (-5, 'neg'), (2.5, 'round')",
    )
    .unwrap();
    let r = run(&s, &mut t, "SELECT a FROM t").unwrap();
    assert_eq!(rows(&r), [[Some("-5")], [Some("3")]]);
}

#[test]
fn read_only_errors_assign_no_xid() {
    let s = server();
    let mut t = Txn::new(100);
    assert!(run(&s, &mut t, "INSERT INTO nope VALUES (1)").is_err());
    assert!(run(&s, &mut t, "CREATE TABLE u (x foo)").is_err());
    assert!(!t.assigned);
}
