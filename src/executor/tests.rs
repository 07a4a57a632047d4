//! CREATE TABLE / INSERT / SELECT / UPDATE / DELETE against a real WAL, buffer
//! pool, catalogs and clog over a `SimulatedDisk` (the heap tests' harness).
//! Concurrent writers are simulated: a transaction's wait for another one runs a
//! hook that ends the other one (commit or abort) in clog.

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

/// What a simulated wait does: given the holder's xid, end it (or fail).
type WaitHook<'h> = Box<dyn FnMut(u32) -> QuillResult<()> + 'h>;

/// A transaction with a fixed xid, assigned on first write.
struct Txn<'h> {
    xid: u32,
    assigned: bool,
    cid: u32,
    /// Runs when the transaction would wait for another one; None: 40001.
    on_wait: Option<WaitHook<'h>>,
    /// The xids it waited for, in order.
    waited_for: Vec<u32>,
}

impl XidSource for Txn<'_> {
    fn ensure_xid(&mut self) -> QuillResult<u32> {
        self.assigned = true;
        Ok(self.xid)
    }

    fn wait_for_xid(
        &mut self,
        my_xid: u32,
        xid: u32,
        _session: &mut dyn SessionContext,
    ) -> QuillResult<()> {
        assert_eq!(my_xid, self.xid);
        self.waited_for.push(xid);
        match self.on_wait.as_mut() {
            Some(hook) => hook(xid),
            None => Err(serialization_failure()),
        }
    }
}

impl<'h> Txn<'h> {
    fn new(xid: u32) -> Txn<'h> {
        Txn {
            xid,
            assigned: false,
            cid: 0,
            on_wait: None,
            waited_for: Vec::new(),
        }
    }

    fn abort(self, s: &Server) {
        if self.assigned {
            crate::txn::xact::abort(self.xid, s.node.wal.as_ref(), &s.clog).unwrap();
        }
    }

    fn commit(self, s: &Server) {
        if self.assigned {
            crate::txn::xact::commit(self.xid, s.node.wal.as_ref(), &s.clog, true).unwrap();
        }
    }
}

/// The session functions see: fixed names, no settings but extra_float_digits.
struct ExecSession;

impl SessionContext for ExecSession {
    fn current_user(&self) -> &str {
        "alice"
    }
    fn current_database(&self) -> &str {
        "bank"
    }
    fn backend_pid(&self) -> i32 {
        4242
    }
    fn check_for_interrupts(&mut self) -> QuillResult<()> {
        Ok(())
    }
    fn show_setting(&self, name: &str) -> QuillResult<String> {
        match name {
            "extra_float_digits" => Ok("1".into()),
            _ => Err(QuillError::new(
                sqlstate::UNDEFINED_OBJECT,
                format!("unrecognized configuration parameter \"{name}\""),
            )),
        }
    }
    fn show_all_settings(&self) -> Vec<(String, String, String)> {
        Vec::new()
    }
    fn set_setting(&mut self, _: &str, _: Option<&str>, _: bool) -> QuillResult<()> {
        Err(QuillError::feature_not_supported("SET in executor tests"))
    }
    fn reset_setting(&mut self, _: &str) -> QuillResult<()> {
        Ok(())
    }
    fn transaction_command(&mut self, _: crate::sql::TxnCommand) -> QuillResult<String> {
        Err(QuillError::feature_not_supported("BEGIN in executor tests"))
    }
    fn notice(&mut self, _: &'static str, _: &'static str, _: String) {}
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
        query: sql.into(),
        catalog_cache: &cache,
    };
    let mut session = ExecSession;
    let result = execute_storage_statement(node, &ctx, txn, &mut session, OutputFormat::DEFAULT);
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
        err(run(&s, &mut t, "SELECT * FROM t WHERE a")),
        (
            "42804",
            "argument of WHERE must be type boolean, not type integer".into()
        )
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

/// A committed table `t (id int not null, v int, s text)` with three rows.
fn table_with_rows(s: &Server) {
    let mut t = Txn::new(100);
    run(s, &mut t, "CREATE TABLE t (id int NOT NULL, v int, s text)").unwrap();
    run(
        s,
        &mut t,
        "INSERT INTO t VALUES (1, 10, 'a'), (2, NULL, 'b'), (3, 30, NULL)",
    )
    .unwrap();
    t.commit(s);
}

fn values(s: &Server, txn: &mut Txn, sql: &str) -> Vec<Vec<Option<String>>> {
    run(s, txn, sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .rows
}

fn strings(rows: &[&[Option<&str>]]) -> Vec<Vec<Option<String>>> {
    rows.iter()
        .map(|r| r.iter().map(|v| v.map(str::to_string)).collect())
        .collect()
}

#[test]
fn where_and_expressions_over_columns() {
    let s = server();
    table_with_rows(&s);
    let mut t = Txn::new(101);
    assert_eq!(
        values(&s, &mut t, "SELECT id FROM t WHERE v > 5 AND s IS NOT NULL"),
        strings(&[&[Some("1")]])
    );
    // NULL comparisons are unknown: neither the condition nor its negation holds.
    assert_eq!(
        values(&s, &mut t, "SELECT id FROM t WHERE v = NULL"),
        strings(&[])
    );
    assert_eq!(
        values(&s, &mut t, "SELECT id FROM t WHERE NOT (v > 15)"),
        strings(&[&[Some("1")]])
    );
    assert_eq!(
        values(&s, &mut t, "SELECT id FROM t WHERE v > 15 OR s = 'b'"),
        strings(&[&[Some("2")], &[Some("3")]])
    );
    let r = run(
        &s,
        &mut t,
        "SELECT id, v + 1, v * 2 AS dbl, upper(s), t.s || 'x' FROM t WHERE id < 3",
    )
    .unwrap();
    let cols: Vec<_> = r
        .columns
        .as_ref()
        .unwrap()
        .iter()
        .map(|c| (c.name.as_str(), c.type_oid))
        .collect();
    assert_eq!(
        cols,
        [
            ("id", 23),
            ("?column?", 23),
            ("dbl", 23),
            ("upper", 25),
            ("?column?", 25)
        ]
    );
    assert_eq!(
        rows(&r),
        [
            [Some("1"), Some("11"), Some("20"), Some("A"), Some("ax")],
            [Some("2"), None, None, Some("B"), Some("bx")]
        ]
    );
    // Functions that need the session work over tables too.
    assert_eq!(
        values(&s, &mut t, "SELECT current_user, id FROM t WHERE id = 3"),
        strings(&[&[Some("alice"), Some("3")]])
    );
    // ORDER BY (NULLs last ascending, first descending), LIMIT, OFFSET.
    assert_eq!(
        values(&s, &mut t, "SELECT v FROM t ORDER BY v"),
        strings(&[&[Some("10")], &[Some("30")], &[None]])
    );
    assert_eq!(
        values(&s, &mut t, "SELECT v AS w FROM t ORDER BY w DESC LIMIT 2"),
        strings(&[&[None], &[Some("30")]])
    );
    assert_eq!(
        values(&s, &mut t, "SELECT id FROM t ORDER BY 1 DESC OFFSET 1"),
        strings(&[&[Some("2")], &[Some("1")]])
    );
    assert_eq!(
        values(&s, &mut t, "SELECT id FROM t LIMIT 1"),
        strings(&[&[Some("1")]])
    );
    assert!(!t.assigned);
}

#[test]
fn column_reference_errors_match_postgres() {
    let s = server();
    table_with_rows(&s);
    let mut t = Txn::new(101);
    let cases: &[(&str, &str, &str, Option<u32>)] = &[
        (
            "SELECT x FROM t",
            "42703",
            "column \"x\" does not exist",
            Some(8),
        ),
        (
            "SELECT t.x FROM t",
            "42703",
            "column t.x does not exist",
            Some(8),
        ),
        (
            "SELECT q.id FROM t",
            "42P01",
            "missing FROM-clause entry for table \"q\"",
            Some(8),
        ),
        (
            "SELECT t.id FROM t a",
            "42P01",
            "invalid reference to FROM-clause entry for table \"t\"",
            Some(8),
        ),
        (
            "SELECT * FROM t WHERE s",
            "42804",
            "argument of WHERE must be type boolean, not type text",
            Some(23),
        ),
        (
            "UPDATE t SET v = 'x'::text",
            "42804",
            "column \"v\" is of type integer but expression is of type text",
            Some(18),
        ),
        (
            "UPDATE t SET nosuch = 1",
            "42703",
            "column \"nosuch\" of relation \"t\" does not exist",
            Some(14),
        ),
        (
            "UPDATE t SET v = 1, v = 2",
            "42601",
            "multiple assignments to same column \"v\"",
            None,
        ),
        (
            "DELETE FROM t WHERE nosuch = 1",
            "42703",
            "column \"nosuch\" does not exist",
            Some(21),
        ),
        (
            "INSERT INTO t VALUES (id)",
            "42703",
            "column \"id\" does not exist",
            Some(23),
        ),
        (
            "INSERT INTO t VALUES (1, 'abc')",
            "22P02",
            "invalid input syntax for type integer: \"abc\"",
            Some(26),
        ),
    ];
    for (sql, state, message, position) in cases {
        let e = run(&s, &mut t, sql).unwrap_err();
        assert_eq!(
            (e.sqlstate, e.message.as_str(), e.position),
            (*state, *message, *position),
            "{sql}"
        );
    }
    let e = run(&s, &mut t, "INSERT INTO t VALUES (id)").unwrap_err();
    assert_eq!(
        e.hint.as_deref(),
        Some("There is a column named \"id\" in table \"t\", but it cannot be referenced from this part of the query.")
    );
    let e = run(&s, &mut t, "SELECT t.id FROM t a").unwrap_err();
    assert_eq!(
        e.hint.as_deref(),
        Some("Perhaps you meant to reference the table alias \"a\".")
    );
    let e = run(&s, &mut t, "UPDATE t SET id = NULL WHERE id = 2").unwrap_err();
    assert_eq!(e.sqlstate, "23502");
    assert_eq!(
        e.detail.as_deref(),
        Some("Failing row contains (null, null, b).")
    );
    assert!(!t.assigned, "no row was written");
}

#[test]
fn update_and_delete_count_rows_and_never_revisit_their_own_versions() {
    let s = server();
    table_with_rows(&s);
    let mut t = Txn::new(101);
    // Every row gets one increment although each new version lands on the page
    // the scan is reading.
    assert_eq!(
        run(&s, &mut t, "UPDATE t SET v = coalesce(v, 0) + 1")
            .unwrap()
            .tag,
        "UPDATE 3"
    );
    assert_eq!(
        values(&s, &mut t, "SELECT id, v FROM t ORDER BY id"),
        strings(&[
            &[Some("1"), Some("11")],
            &[Some("2"), Some("1")],
            &[Some("3"), Some("31")]
        ])
    );
    assert_eq!(
        run(&s, &mut t, "UPDATE t SET v = v + 1 WHERE id = 1 OR id = 1")
            .unwrap()
            .tag,
        "UPDATE 1"
    );
    assert_eq!(
        run(&s, &mut t, "DELETE FROM t WHERE v > 20").unwrap().tag,
        "DELETE 1"
    );
    assert_eq!(
        run(&s, &mut t, "DELETE FROM t WHERE false").unwrap().tag,
        "DELETE 0"
    );
    assert_eq!(
        run(&s, &mut t, "UPDATE t SET s = DEFAULT WHERE id = 2")
            .unwrap()
            .tag,
        "UPDATE 1"
    );
    assert_eq!(
        values(&s, &mut t, "SELECT * FROM t ORDER BY id"),
        strings(&[
            &[Some("1"), Some("12"), Some("a")],
            &[Some("2"), Some("1"), None]
        ])
    );
    // Others do not see the uncommitted changes; after an abort nobody does.
    let mut other = Txn::new(102);
    let before = snapshot(&[101]);
    assert_eq!(
        run_with(&s, &mut other, &before, "SELECT v FROM t ORDER BY id")
            .unwrap()
            .rows,
        strings(&[&[Some("10")], &[None], &[Some("30")]])
    );
    t.abort(&s);
    let mut later = Txn::new(103);
    assert_eq!(
        values(&s, &mut later, "SELECT v FROM t ORDER BY id"),
        strings(&[&[Some("10")], &[None], &[Some("30")]])
    );
}

#[test]
fn insert_takes_general_expressions() {
    let s = server();
    table_with_rows(&s);
    let mut t = Txn::new(101);
    run(
        &s,
        &mut t,
        "INSERT INTO t VALUES (2 * 2, length('abc') + 1, 'x' || 'y'), (5, '6', 7), (6.5, NULL, DEFAULT)",
    )
    .unwrap();
    assert_eq!(
        values(&s, &mut t, "SELECT * FROM t WHERE id > 3 ORDER BY id"),
        strings(&[
            &[Some("4"), Some("4"), Some("xy")],
            &[Some("5"), Some("6"), Some("7")],
            &[Some("7"), None, None]
        ])
    );
    let e = run(&s, &mut t, "INSERT INTO t VALUES (1), (2, 3)").unwrap_err();
    assert_eq!(
        (e.sqlstate, e.message.as_str()),
        ("42601", "VALUES lists must all be the same length")
    );
    let e = run(&s, &mut t, "INSERT INTO t VALUES (2147483647 + 1)").unwrap_err();
    assert_eq!(e.message, "integer out of range");
}

/// Runs `UPDATE` as transaction 102 while 101 holds the row (its uncommitted update
/// in place); the wait hook ends 101 with `commit` or abort.
fn concurrent_update(commit: bool, second_sql: &str) -> (Server, Vec<u32>, String) {
    let s = server();
    table_with_rows(&s);
    let mut first = Txn::new(101);
    run(&s, &mut first, "UPDATE t SET v = v + 1 WHERE id = 1").unwrap();
    let server = &s;
    let mut second = Txn::new(102);
    second.on_wait = Some(Box::new(move |holder| {
        assert_eq!(holder, 101);
        if commit {
            crate::txn::xact::commit(101, server.node.wal.as_ref(), &server.clog, true).map(|_| ())
        } else {
            crate::txn::xact::abort(101, server.node.wal.as_ref(), &server.clog).map(|_| ())
        }
    }));
    let tag = run_with(&s, &mut second, &snapshot(&[101]), second_sql)
        .unwrap()
        .tag;
    let waited_for = std::mem::take(&mut second.waited_for);
    second.commit(&s);
    let mut reader = Txn::new(103);
    let v = values(&s, &mut reader, "SELECT v FROM t WHERE id = 1");
    let outcome = format!("{tag}: {}", v[0][0].clone().unwrap_or_default());
    (s, waited_for, outcome)
}

#[test]
fn waiting_updater_applies_to_the_committed_new_version() {
    let (_s, waited, outcome) = concurrent_update(true, "UPDATE t SET v = v + 1 WHERE id = 1");
    assert_eq!(waited, [101]);
    assert_eq!(outcome, "UPDATE 1: 12");
}

#[test]
fn waiting_updater_applies_to_the_old_version_after_an_abort() {
    let (_s, waited, outcome) = concurrent_update(false, "UPDATE t SET v = v + 1 WHERE id = 1");
    assert_eq!(waited, [101]);
    assert_eq!(outcome, "UPDATE 1: 11");
}

#[test]
fn waiting_updater_rechecks_where_on_the_new_version() {
    // 101 made v 11: the second statement's WHERE v = 10 no longer holds.
    let (_s, _, outcome) = concurrent_update(true, "UPDATE t SET v = 0 WHERE v = 10");
    assert_eq!(outcome, "UPDATE 0: 11");
    let (_s, _, outcome) = concurrent_update(true, "DELETE FROM t WHERE v = 10");
    assert!(outcome.starts_with("DELETE 0"), "{outcome}");
    let (_s, _, outcome) = concurrent_update(false, "UPDATE t SET v = 0 WHERE v = 10");
    assert_eq!(outcome, "UPDATE 1: 0");
}

#[test]
fn updating_a_version_replaced_after_the_snapshot_follows_the_chain() {
    // 101 committed its update after 102's snapshot was taken: no wait, but the
    // update still lands on the newest version (EvalPlanQual).
    let s = server();
    table_with_rows(&s);
    let mut first = Txn::new(101);
    run(&s, &mut first, "UPDATE t SET v = v + 1 WHERE id = 1").unwrap();
    first.commit(&s);
    let mut second = Txn::new(102);
    let r = run_with(
        &s,
        &mut second,
        &snapshot(&[101]),
        "UPDATE t SET v = v + 1 WHERE id = 1",
    )
    .unwrap();
    assert_eq!(r.tag, "UPDATE 1");
    assert!(second.waited_for.is_empty());
    second.commit(&s);
    let mut reader = Txn::new(103);
    assert_eq!(
        values(&s, &mut reader, "SELECT v FROM t WHERE id = 1"),
        strings(&[&[Some("12")]])
    );
}

#[test]
fn a_failed_wait_fails_the_statement() {
    let s = server();
    table_with_rows(&s);
    let mut first = Txn::new(101);
    run(&s, &mut first, "DELETE FROM t WHERE id = 2").unwrap();
    let mut second = Txn::new(102);
    second.on_wait = Some(Box::new(|_| {
        Err(QuillError::new(
            sqlstate::DEADLOCK_DETECTED,
            "deadlock detected",
        ))
    }));
    let e = run_with(&s, &mut second, &snapshot(&[101]), "UPDATE t SET v = 1").unwrap_err();
    assert_eq!(e.sqlstate, "40P01");
    assert_eq!(second.waited_for, [101]);
}

#[test]
fn deadlock_timeout_setting_is_parsed() {
    assert_eq!(duration_ms("1s"), Some(1000));
    assert_eq!(duration_ms("200ms"), Some(200));
    assert_eq!(duration_ms("2min"), Some(120_000));
    assert_eq!(duration_ms("15"), Some(15));
    assert_eq!(duration_ms("x"), None);
}
