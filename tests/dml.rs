//! UPDATE, DELETE and WHERE end to end through the real server, including two
//! sessions writing the same row: the second waits for the first and then follows
//! PostgreSQL's READ COMMITTED rules (re-check the newest version), and a deadlock
//! between two sessions makes exactly one of them fail with 40P01.

mod common;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{first_value, rows, TestServer};
use postgres::SimpleQueryMessage;

/// The first column of every row, NULL as "null".
fn column(client: &mut postgres::Client, sql: &str) -> Vec<String> {
    rows(client, sql)
        .into_iter()
        .map(|r| r[0].clone().unwrap_or_else(|| "null".into()))
        .collect()
}

/// The row count of a command's CommandComplete.
fn count(client: &mut postgres::Client, sql: &str) -> u64 {
    client
        .simple_query(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .find_map(|m| match m {
            SimpleQueryMessage::CommandComplete(n) => Some(n),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{sql}: no CommandComplete"))
}

fn sqlstate_of(result: Result<u64, postgres::Error>) -> Option<String> {
    result.err().and_then(|e| common::sqlstate(&e))
}

fn setup(server: &TestServer) -> postgres::Client {
    let mut c = server.connect();
    c.batch_execute("create table t (id int not null, v int, s text)")
        .unwrap();
    c.batch_execute("insert into t values (1, 10, 'a'), (2, null, 'b'), (3, 30, null)")
        .unwrap();
    c
}

#[test]
fn where_uses_three_valued_logic() {
    let server = TestServer::start();
    let mut c = setup(&server);
    assert_eq!(column(&mut c, "select id from t where v > 5"), ["1", "3"]);
    assert_eq!(column(&mut c, "select id from t where not (v > 20)"), ["1"]);
    assert_eq!(
        column(&mut c, "select id from t where v = null"),
        Vec::<String>::new()
    );
    assert_eq!(column(&mut c, "select id from t where v is null"), ["2"]);
    assert_eq!(
        column(&mut c, "select id from t where v > 20 or s is not null"),
        ["1", "2", "3"]
    );
    assert_eq!(
        column(&mut c, "select id from t where (v > 20) is not true"),
        ["1", "2"]
    );
    assert_eq!(
        column(&mut c, "select v + 1 from t where id <> 3"),
        ["11", "null"]
    );
    let error = c.batch_execute("select * from t where v").unwrap_err();
    assert_eq!(common::sqlstate(&error).as_deref(), Some("42804"));
    assert_eq!(
        error.as_db_error().unwrap().message(),
        "argument of WHERE must be type boolean, not type integer"
    );
}

#[test]
fn update_and_delete_report_counts_and_are_visible() {
    let server = TestServer::start();
    let mut c = setup(&server);
    assert_eq!(
        count(&mut c, "update t set v = v * 2 where v is not null"),
        2
    );
    assert_eq!(count(&mut c, "update t set s = 'z' where id = 99"), 0);
    assert_eq!(
        column(&mut c, "select v from t order by id"),
        ["20", "null", "60"]
    );
    // A second session sees the committed changes.
    let mut other = server.connect();
    assert_eq!(
        column(&mut other, "select v from t order by id"),
        ["20", "null", "60"]
    );
    assert_eq!(count(&mut c, "delete from t where v > 50"), 1);
    assert_eq!(
        column(&mut other, "select id from t order by id"),
        ["1", "2"]
    );
    // Every row updated once, even though new versions land in the same table.
    assert_eq!(count(&mut c, "update t set v = coalesce(v, 0) + 1"), 2);
    assert_eq!(column(&mut c, "select v from t order by id"), ["21", "1"]);
    assert_eq!(count(&mut c, "delete from t"), 2);
    assert_eq!(rows(&mut other, "select * from t").len(), 0);
}

#[test]
fn rolled_back_update_and_delete_leave_no_trace() {
    let server = TestServer::start();
    let mut c = setup(&server);
    c.batch_execute("begin").unwrap();
    assert_eq!(count(&mut c, "update t set v = 0"), 3);
    assert_eq!(count(&mut c, "delete from t where id = 1"), 1);
    // Inside the transaction: its own changes.
    assert_eq!(column(&mut c, "select v from t order by id"), ["0", "0"]);
    // Outside: nothing yet.
    let mut other = server.connect();
    assert_eq!(
        column(&mut other, "select v from t order by id"),
        ["10", "null", "30"]
    );
    c.batch_execute("rollback").unwrap();
    assert_eq!(
        column(&mut c, "select v from t order by id"),
        ["10", "null", "30"]
    );
    // A failed UPDATE (NOT NULL) changes nothing either.
    let error = c
        .batch_execute("update t set id = null where id = 2")
        .unwrap_err();
    assert_eq!(common::sqlstate(&error).as_deref(), Some("23502"));
    assert_eq!(
        error.as_db_error().unwrap().detail(),
        Some("Failing row contains (null, null, b).")
    );
    assert_eq!(
        column(&mut c, "select id from t order by id"),
        ["1", "2", "3"]
    );
}

/// Runs `sql` on a new connection in a thread; the result comes back on the channel.
fn spawn_command(
    server: &TestServer,
    setup_sql: &str,
    sql: &'static str,
) -> (
    std::thread::JoinHandle<postgres::Client>,
    mpsc::Receiver<Result<u64, postgres::Error>>,
) {
    let mut client = server.connect();
    if !setup_sql.is_empty() {
        client.batch_execute(setup_sql).unwrap();
    }
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let result = client.simple_query(sql).map(|messages| {
            messages
                .into_iter()
                .find_map(|m| match m {
                    SimpleQueryMessage::CommandComplete(n) => Some(n),
                    _ => None,
                })
                .unwrap_or(0)
        });
        tx.send(result).unwrap();
        client
    });
    (handle, rx)
}

/// Session one runs `first` (changing one row) in an open transaction; session
/// two's `second` must block behind it until session one ends with `end`, then
/// report `changed` rows. Returns session one, for checking the outcome.
fn blocked_writer(
    first: &str,
    second: &'static str,
    end: &str,
    changed: u64,
) -> (TestServer, postgres::Client) {
    let server = TestServer::start();
    let mut one = setup(&server);
    one.batch_execute("begin").unwrap();
    assert_eq!(count(&mut one, first), 1);
    let (handle, rx) = spawn_command(&server, "", second);
    // Blocked while the first transaction is open.
    assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
    one.batch_execute(end).unwrap();
    let result = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("second statement finished");
    assert_eq!(result.unwrap(), changed);
    handle.join().unwrap();
    (server, one)
}

#[test]
fn second_updater_waits_then_updates_the_new_version() {
    let increment = "update t set v = v + 1 where id = 1";
    let (_server, mut one) = blocked_writer(increment, increment, "commit", 1);
    assert_eq!(column(&mut one, "select v from t where id = 1"), ["12"]);
    assert_eq!(rows(&mut one, "select * from t").len(), 3);
}

#[test]
fn second_updater_rechecks_where_against_the_new_version() {
    let (_server, mut one) = blocked_writer(
        "update t set v = 100 where id = 1",
        "delete from t where v = 10",
        "commit",
        0, // the newest version no longer has v = 10
    );
    assert_eq!(column(&mut one, "select v from t where id = 1"), ["100"]);
}

#[test]
fn second_updater_proceeds_on_the_old_version_when_the_first_rolls_back() {
    let increment = "update t set v = v + 1 where id = 1";
    let (_server, mut one) = blocked_writer(increment, increment, "rollback", 1);
    assert_eq!(column(&mut one, "select v from t where id = 1"), ["11"]);
}

#[test]
fn deleted_row_is_skipped_by_a_waiting_updater() {
    let (_server, mut one) = blocked_writer(
        "delete from t where id = 1",
        "update t set v = 0 where id = 1",
        "commit",
        0,
    );
    assert_eq!(column(&mut one, "select id from t order by id"), ["2", "3"]);
}

/// Runs `sql` in a thread on `client`; on an error the thread rolls back at once
/// (as a client would), and reports the error's SQLSTATE.
fn spawn_in_transaction(
    mut client: postgres::Client,
    sql: &'static str,
) -> std::thread::JoinHandle<(postgres::Client, Option<String>)> {
    std::thread::spawn(move || {
        let state = match client.simple_query(sql) {
            Ok(_) => None,
            Err(e) => {
                client.batch_execute("rollback").unwrap();
                Some(common::sqlstate(&e).unwrap_or_default())
            }
        };
        (client, state)
    })
}

#[test]
fn deadlock_fails_exactly_one_of_two_sessions() {
    let server = TestServer::start_with(&[("deadlock_timeout", "200ms")]);
    let mut a = setup(&server);
    let mut b = server.connect();
    a.batch_execute("begin").unwrap();
    b.batch_execute("begin").unwrap();
    assert_eq!(count(&mut a, "update t set v = 1 where id = 1"), 1);
    assert_eq!(count(&mut b, "update t set v = 2 where id = 2"), 1);
    // a waits for b; then b waits for a: a cycle.
    let started = Instant::now();
    let a_wait = spawn_in_transaction(a, "update t set v = 1 where id = 2");
    std::thread::sleep(Duration::from_millis(50));
    let b_wait = spawn_in_transaction(b, "update t set v = 2 where id = 1");
    let (mut a, a_state) = a_wait.join().unwrap();
    let (mut b, b_state) = b_wait.join().unwrap();
    let states = [a_state.clone(), b_state.clone()];
    assert_eq!(
        states
            .iter()
            .filter(|s| s.as_deref() == Some("40P01"))
            .count(),
        1,
        "a: {a_state:?}, b: {b_state:?}"
    );
    assert_eq!(states.iter().filter(|s| s.is_none()).count(), 1);
    assert!(started.elapsed() >= Duration::from_millis(200));
    // The survivor commits; the victim already rolled back.
    let (survivor, expected) = if a_state.is_none() {
        (&mut a, ["1", "1"])
    } else {
        (&mut b, ["2", "2"])
    };
    survivor.batch_execute("commit").unwrap();
    let v = column(&mut b, "select v from t where id in (1, 2) order by id");
    assert_eq!(v, expected);
    drop(a);
}

#[test]
fn waiting_update_is_ended_by_statement_timeout() {
    let server = TestServer::start();
    let mut first = setup(&server);
    first.batch_execute("begin").unwrap();
    assert_eq!(count(&mut first, "update t set v = 0 where id = 3"), 1);
    let (handle, rx) = spawn_command(
        &server,
        "set statement_timeout = '300ms'",
        "update t set v = 5 where id = 3",
    );
    let result = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(sqlstate_of(result).as_deref(), Some("57014"));
    let mut second = handle.join().unwrap();
    first.batch_execute("commit").unwrap();
    assert_eq!(column(&mut second, "select v from t where id = 3"), ["0"]);
}

#[test]
fn concurrent_increments_are_never_lost() {
    let server = TestServer::start();
    let mut c = setup(&server);
    const CLIENTS: usize = 4;
    const ROUNDS: usize = 25;
    let handles: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let mut client = server.connect();
            std::thread::spawn(move || {
                for round in 0..ROUNDS {
                    // Mix autocommit statements and two-statement transactions.
                    if (round + i) % 2 == 0 {
                        client
                            .batch_execute("update t set v = v + 1 where id = 1")
                            .unwrap();
                    } else {
                        client
                            .batch_execute(
                                "begin; update t set v = v + 1 where id = 1; \
                                 update t set v = v + 1 where id = 3; commit",
                            )
                            .unwrap();
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let v1: i64 = first_value(&mut c, "select v from t where id = 1")
        .parse()
        .unwrap();
    let v3: i64 = first_value(&mut c, "select v from t where id = 3")
        .parse()
        .unwrap();
    assert_eq!(v1, 10 + (CLIENTS * ROUNDS) as i64);
    let txns = (0..CLIENTS)
        .map(|i| (0..ROUNDS).filter(|r| (r + i) % 2 == 1).count())
        .sum::<usize>();
    assert_eq!(v3, 30 + txns as i64);
    assert_eq!(rows(&mut c, "select * from t").len(), 3);
}

/// An error inside BEGIN ... COMMIT aborts the transaction at once, as in
/// PostgreSQL: a session waiting on its rows goes on without waiting for the
/// client's ROLLBACK, and the block stays failed until then.
#[test]
fn an_error_in_a_block_releases_its_rows_before_rollback() {
    let server = TestServer::start();
    let mut first = setup(&server);
    first.batch_execute("begin").unwrap();
    assert_eq!(count(&mut first, "update t set v = 0 where id = 1"), 1);
    assert!(first.batch_execute("select 1/0").is_err());
    let mut second = server.connect();
    second
        .batch_execute("set statement_timeout = '5s'")
        .unwrap();
    assert_eq!(count(&mut second, "update t set v = 11 where id = 1"), 1);
    let error = first.batch_execute("select 1").unwrap_err();
    assert_eq!(
        common::sqlstate(&error).as_deref(),
        Some("25P02"),
        "{error}"
    );
    first.batch_execute("rollback").unwrap();
    assert_eq!(column(&mut first, "select v from t where id = 1"), ["11"]);
}
