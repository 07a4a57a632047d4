//! Aggregates, GROUP BY/HAVING and DISTINCT end to end through the real server:
//! results over many rows and groups, that a concurrent session's uncommitted rows
//! are not aggregated, and PostgreSQL's grouping errors with their SQLSTATEs and
//! positions. (regress/sql/aggregates.sql pins the exact psql output.)

mod common;

use common::{first_value, rows, some, TestServer};

fn error_of(client: &mut postgres::Client, sql: &str) -> (String, String, Option<u32>) {
    let e = client
        .simple_query(sql)
        .expect_err(sql)
        .as_db_error()
        .cloned()
        .unwrap_or_else(|| panic!("{sql}: not a server error"));
    let position = match e.position() {
        Some(postgres::error::ErrorPosition::Original(p)) => Some(*p),
        _ => None,
    };
    (
        e.code().code().to_string(),
        e.message().to_string(),
        position,
    )
}

#[test]
fn group_by_over_many_rows_counts_every_group() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.batch_execute("create table nums (n int, tag text)")
        .unwrap();
    let values: Vec<String> = (1..=500).map(|n| format!("({n}, 't{}')", n % 7)).collect();
    c.batch_execute(&format!("insert into nums values {}", values.join(", ")))
        .unwrap();
    assert_eq!(
        rows(
            &mut c,
            "select count(*), sum(n), min(n), max(n), avg(n) from nums"
        ),
        vec![some(&["500", "125250", "1", "500", "250.5000000000000000"])]
    );
    let groups = rows(
        &mut c,
        "select n % 7, count(*), sum(n) from nums group by n % 7 order by 1",
    );
    assert_eq!(groups.len(), 7);
    assert_eq!(groups[0], some(&["0", "71", "17892"]));
    assert_eq!(groups[6], some(&["6", "71", "17821"]));
    assert_eq!(
        rows(
            &mut c,
            "select tag from nums group by tag having count(*) > 71 order by tag"
        ),
        vec![some(&["t1"]), some(&["t2"]), some(&["t3"])]
    );
    assert_eq!(
        first_value(&mut c, "select count(distinct tag) from nums"),
        "7"
    );
    assert_eq!(
        rows(&mut c, "select distinct n % 3 from nums order by 1 desc"),
        vec![some(&["2"]), some(&["1"]), some(&["0"])]
    );
    assert_eq!(
        rows(
            &mut c,
            "select distinct on (tag) tag, n from nums order by tag, n desc limit 2"
        ),
        vec![some(&["t0", "497"]), some(&["t1", "498"])]
    );
}

#[test]
fn aggregates_see_only_the_statement_snapshot() {
    let server = TestServer::start();
    let mut a = server.connect();
    let mut b = server.connect();
    a.batch_execute("create table acct (id int, balance int)")
        .unwrap();
    a.batch_execute("insert into acct values (1, 100), (2, 200)")
        .unwrap();
    b.batch_execute("begin; insert into acct values (3, 300); delete from acct where id = 1")
        .unwrap();
    assert_eq!(first_value(&mut a, "select sum(balance) from acct"), "300");
    assert_eq!(first_value(&mut b, "select sum(balance) from acct"), "500");
    b.batch_execute("commit").unwrap();
    assert_eq!(
        rows(&mut a, "select count(*), sum(balance) from acct"),
        vec![some(&["2", "500"])]
    );
}

#[test]
fn grouping_errors_match_postgres() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.batch_execute("create table t (x int, y int)").unwrap();
    let cases: &[(&str, &str, &str, Option<u32>)] = &[
        (
            "select x, y from t group by x",
            "42803",
            "column \"t.y\" must appear in the GROUP BY clause or be used in an aggregate function",
            Some(11),
        ),
        (
            "select x from t where count(*) > 0",
            "42803",
            "aggregate functions are not allowed in WHERE",
            Some(23),
        ),
        (
            "select max(min(x)) from t",
            "42803",
            "aggregate function calls cannot be nested",
            Some(12),
        ),
        (
            "select x from t group by 2",
            "42P10",
            "GROUP BY position 2 is not in select list",
            Some(26),
        ),
        (
            "select distinct x from t order by y",
            "42P10",
            "for SELECT DISTINCT, ORDER BY expressions must appear in select list",
            Some(35),
        ),
        (
            "update t set x = sum(y)",
            "42803",
            "aggregate functions are not allowed in UPDATE",
            Some(18),
        ),
    ];
    for (sql, state, message, position) in cases {
        assert_eq!(
            error_of(&mut c, sql),
            (state.to_string(), message.to_string(), *position),
            "{sql}"
        );
    }
    // The session is still usable, and empty groups behave as in PostgreSQL.
    assert_eq!(
        rows(&mut c, "select count(*), sum(x) from t"),
        vec![vec![Some("0".to_string()), None]]
    );
    assert!(rows(&mut c, "select count(*) from t group by x").is_empty());
}
