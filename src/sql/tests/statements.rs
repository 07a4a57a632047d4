//! Statements: SELECT clauses, SET/SHOW/RESET, transactions, unsupported ones.

use super::*;

#[test]
fn select_with_no_targets_returns_one_empty_row() {
    let r = run("select").unwrap();
    assert_eq!(r.columns, Some(vec![]));
    assert_eq!(r.rows, vec![Vec::<Option<String>>::new()]);
    assert_eq!(r.tag, "SELECT 1");
}

#[test]
fn session_functions_read_the_session() {
    assert_eq!(
        row("select current_user, session_user, current_database(), current_schema, current_schema(), pg_backend_pid(), current_setting('work_mem')"),
        ["alice", "alice", "bank", "public", "public", "4242", "4MB"]
    );
    assert!(value("select version()").starts_with("PostgreSQL 15"));
    assert_eq!(
        error("select current_setting('nope')").1,
        "unrecognized configuration parameter \"nope\""
    );
    assert_eq!(value("select current_setting('nope', true)"), "NULL");
}

#[test]
fn pg_sleep_returns_void_and_stops_on_cancel() {
    assert_eq!(
        columns("select pg_sleep(0.01)"),
        [("pg_sleep".to_string(), 2278, -1)]
    );
    assert_eq!(value("select pg_sleep(0)"), "");
    let mut session = TestSession::new();
    session.cancel_after_checks = Some(3);
    let started = std::time::Instant::now();
    let e = run_in(&mut session, "select pg_sleep(10)").unwrap_err();
    assert_eq!(e.sqlstate, "57014");
    assert!(started.elapsed() < std::time::Duration::from_millis(500));
}

#[test]
fn missing_names_are_reported_at_their_position() {
    assert_eq!(
        error("select x"),
        ("42703", "column \"x\" does not exist".into(), Some(8))
    );
    assert_eq!(error("select 1, abs(x)").2, Some(15));
    assert_eq!(
        error("select t.x"),
        (
            "42P01",
            "missing FROM-clause entry for table \"t\"".into(),
            Some(8)
        )
    );
    assert_eq!(
        error("select 1 from t"),
        ("42P01", "relation \"t\" does not exist".into(), Some(15))
    );
    assert_eq!(
        error("select x from public.t1").1,
        "relation \"public.t1\" does not exist"
    );
    assert_eq!(
        error("select 1, *"),
        (
            "42601",
            "SELECT * with no tables specified is not valid".into(),
            Some(11)
        )
    );
    assert_eq!(
        error("select $1"),
        ("42P02", "there is no parameter $1".into(), Some(8))
    );
    // Positions count characters of the whole string.
    assert_eq!(error("select 'é', x").2, Some(13));
}

#[test]
fn where_order_by_limit_and_offset() {
    let rows = |sql: &str| run(sql).unwrap().rows.len();
    assert_eq!(rows("select 1 where false"), 0);
    assert_eq!(rows("select 1 where null"), 0);
    assert_eq!(rows("select 1 where 'true'"), 1);
    assert_eq!(run("select 1 where false").unwrap().tag, "SELECT 0");
    assert_eq!(rows("select 1 limit 0"), 0);
    assert_eq!(rows("select 1 offset 1"), 0);
    assert_eq!(rows("select 1 limit null offset null"), 1);
    assert_eq!(rows("select 1 limit 1.5"), 1);
    assert_eq!(rows("select 1 as x order by x"), 1);
    assert_eq!(
        error("select 1 limit -1"),
        ("2201W", "LIMIT must not be negative".into(), None)
    );
    assert_eq!(error("select 1 offset -1").1, "OFFSET must not be negative");
    assert_eq!(
        error("select 1 limit 'a'").1,
        "invalid input syntax for type bigint: \"a\""
    );
    assert_eq!(
        error("select 1 order by 2"),
        (
            "42P10",
            "ORDER BY position 2 is not in select list".into(),
            Some(19)
        )
    );
    assert_eq!(
        error("select 1 as x, 2 as x order by x").1,
        "ORDER BY \"x\" is ambiguous"
    );
    assert_eq!(
        error("select 1 order by y").1,
        "column \"y\" does not exist"
    );
}

#[test]
fn constants_fold_before_rows_as_in_postgres() {
    // Plan-time folding reports errors even when no row is produced...
    assert_eq!(error("select 1/0 where false").1, "division by zero");
    assert_eq!(
        error("select 'a' where 1/0 = 1 and false").1,
        "division by zero"
    );
    // ...but never evaluates what simplification removed.
    assert_eq!(value("select case when false then 1/0 else 1 end"), "1");
    assert_eq!(value("select false and 1/0 = 1"), "f");
    assert_eq!(value("select true or 1/0 = 1"), "t");
    assert_eq!(value("select coalesce(1, 1/0)"), "1");
}

#[test]
fn float_output_follows_extra_float_digits() {
    // Every expected value below was printed by PostgreSQL 15.
    let mut s = TestSession::new();
    let sums = "select 0.1::float8 + 0.2::float8, 1::float8 / 3, 1e16::float8, 1.1::float4";
    assert_eq!(
        row_in(&mut s, sums),
        ["0.30000000000000004", "0.3333333333333333", "1e+16", "1.1"]
    );
    run_in(&mut s, "set extra_float_digits = 0").unwrap();
    assert_eq!(
        row_in(&mut s, sums),
        ["0.3", "0.333333333333333", "1e+16", "1.1"]
    );
    assert_eq!(
        row_in(
            &mut s,
            "select (0.1::float8 + 0.2::float8)::text, 1.1::float4::float8"
        ),
        ["0.3", "1.10000002384186"]
    );
    run_in(&mut s, "set extra_float_digits = -3").unwrap();
    assert_eq!(
        row_in(&mut s, sums),
        ["0.3", "0.333333333333", "1e+16", "1.1"]
    );
    run_in(&mut s, "set extra_float_digits = 3").unwrap();
    assert_eq!(row_in(&mut s, sums)[0], "0.30000000000000004");
    // set_config in the select list changes the output of the same row (PostgreSQL
    // prints a row after computing it) but not a cast folded before it ran.
    run_in(&mut s, "set extra_float_digits = 1").unwrap();
    assert_eq!(
        row_in(
            &mut s,
            "select set_config('extra_float_digits', '0', false), 0.1::float8 + 0.2::float8, (0.1::float8 + 0.2::float8)::text"
        ),
        ["0", "0.3", "0.30000000000000004"]
    );
}

#[test]
fn a_select_reads_the_output_settings_a_fixed_number_of_times() {
    let mut s = TestSession::new();
    run_in(&mut s, "select 1.5::float8").unwrap();
    let one_column = s.setting_reads.replace(0);
    run_in(
        &mut s,
        "select 1.5::float8, 2.5::float8, 3.5::float4, 4.5::float8::text, 5.5::float8 where true limit 1",
    )
    .unwrap();
    assert_eq!(s.setting_reads.get(), one_column);
    assert!(one_column <= 2, "{one_column} reads");
}

#[test]
fn set_show_and_reset_talk_to_the_session() {
    let mut s = TestSession::new();
    assert_eq!(run_in(&mut s, "set work_mem = '8MB'").unwrap().tag, "SET");
    run_in(&mut s, "set local work_mem to 1024").unwrap();
    run_in(&mut s, "set session work_mem to default").unwrap();
    run_in(
        &mut s,
        "set search_path = public, \"$user\", \"Foo\", \"select\", a_b1",
    )
    .unwrap();
    run_in(&mut s, "set time zone 'UTC'").unwrap();
    assert_eq!(
        s.sets,
        [
            ("work_mem".into(), Some("8MB".into()), false),
            ("work_mem".into(), Some("1024".into()), true),
            ("work_mem".into(), None, false),
            (
                "search_path".into(),
                Some("public, \"$user\", \"Foo\", \"select\", a_b1".into()),
                false
            ),
            ("timezone".into(), Some("UTC".into()), false),
        ]
    );
    let show = run_in(&mut s, "show time zone").unwrap();
    assert_eq!(show.columns.unwrap()[0].name, "TimeZone");
    assert_eq!(
        (show.rows, show.tag.as_str()),
        (vec![vec![Some("UTC".to_string())]], "SHOW")
    );
    let all = run_in(&mut s, "show all").unwrap();
    let names: Vec<String> = all.columns.unwrap().into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["name", "setting", "description"]);
    assert_eq!(run_in(&mut s, "reset work_mem").unwrap().tag, "RESET");
    assert_eq!(run_in(&mut s, "reset all").unwrap().tag, "RESET");
    assert_eq!(s.sets.last().unwrap().0, "reset all");
    assert_eq!(
        error("show foo").1,
        "unrecognized configuration parameter \"foo\""
    );
}

#[test]
fn transaction_commands_go_to_the_session() {
    let mut s = TestSession::new();
    assert_eq!(run_in(&mut s, "begin").unwrap().tag, "BEGIN");
    assert!(s.in_block);
    assert_eq!(run_in(&mut s, "end").unwrap().tag, "COMMIT");
    assert_eq!(
        run_in(&mut s, "start transaction isolation level serializable")
            .unwrap()
            .tag,
        "START TRANSACTION"
    );
    assert_eq!(
        s.sets.last().unwrap(),
        &(
            "transaction_isolation".to_string(),
            Some("serializable".to_string()),
            true
        )
    );
    assert_eq!(run_in(&mut s, "abort").unwrap().tag, "ROLLBACK");
    let kinds: Vec<Option<TxnCommand>> = [
        "begin",
        "start transaction",
        "commit",
        "end",
        "rollback",
        "abort",
        "savepoint a",
        "rollback and chain",
        "select 1",
    ]
    .iter()
    .map(|sql| parse_query(sql).unwrap()[0].txn_command())
    .collect();
    use TxnCommand::*;
    assert_eq!(
        kinds,
        [
            Some(Begin),
            Some(Begin),
            Some(Commit),
            Some(Commit),
            Some(Rollback),
            Some(Rollback),
            None,
            None,
            None
        ]
    );
    assert_eq!(
        error("savepoint a"),
        ("0A000", "SAVEPOINT is not supported yet".into(), None)
    );
    assert_eq!(
        error("prepare transaction 'x'").1,
        "PREPARE TRANSACTION is not supported yet"
    );
}

#[test]
fn transaction_modes_are_set_for_the_current_transaction_only() {
    // Every warning, message and SQLSTATE below is PostgreSQL 15's.
    let mut s = TestSession::new();
    let warning = |message: &str| ("WARNING", "25P01", message.to_string());
    // Outside a block SET TRANSACTION and RESET of the isolation level warn, and
    // nothing reaches the session: the statement's own transaction ends at once.
    assert_eq!(
        run_in(&mut s, "set transaction isolation level serializable")
            .unwrap()
            .tag,
        "SET"
    );
    run_in(&mut s, "set transaction_isolation = 'serializable'").unwrap();
    assert_eq!(
        run_in(&mut s, "reset transaction_isolation").unwrap().tag,
        "RESET"
    );
    run_in(&mut s, "set transaction_read_only to default").unwrap();
    assert_eq!(
        s.notices,
        [
            warning("SET TRANSACTION can only be used in transaction blocks"),
            warning("RESET TRANSACTION can only be used in transaction blocks"),
        ]
    );
    assert!(s.sets.is_empty(), "{:?}", s.sets);
    let e = run_in(&mut s, "set transaction_isolation = 'bogus'").unwrap_err();
    assert_eq!(
        (e.sqlstate, e.message.as_str()),
        (
            "22023",
            "invalid value for parameter \"transaction_isolation\": \"bogus\""
        )
    );
    assert_eq!(
        value("select set_config('transaction_read_only', 'on', false)"),
        "on"
    );

    // BEGIN copies the defaults into the block's modes; inside the block every
    // form is SET LOCAL.
    s.settings
        .insert("transaction_read_only".into(), "on".into());
    run_in(&mut s, "begin").unwrap();
    run_in(
        &mut s,
        "set transaction isolation level repeatable read, read only",
    )
    .unwrap();
    run_in(&mut s, "set transaction_deferrable = on").unwrap();
    run_in(&mut s, "reset transaction_isolation").unwrap();
    run_in(
        &mut s,
        "set session characteristics as transaction read only",
    )
    .unwrap();
    assert_eq!(
        s.sets,
        [
            (
                "transaction_isolation".into(),
                Some("read committed".into()),
                true
            ),
            ("transaction_read_only".into(), Some("on".into()), true),
            ("transaction_deferrable".into(), Some("off".into()), true),
            (
                "transaction_isolation".into(),
                Some("repeatable read".into()),
                true
            ),
            ("transaction_read_only".into(), Some("on".into()), true),
            ("transaction_deferrable".into(), Some("on".into()), true),
            ("transaction_isolation".into(), None, true),
            (
                "default_transaction_read_only".into(),
                Some("on".into()),
                false
            ),
        ]
    );
    assert_eq!(s.notices.len(), 2, "no new warnings in a block");
}

#[test]
fn set_config_cannot_change_transaction_modes_after_a_query() {
    // The SELECT calling set_config has run a query, so PostgreSQL's check hooks
    // refuse these (SQLSTATE 25001).
    let mut s = TestSession::new();
    let refused = |s: &mut TestSession, sql: &str| {
        let e = run_in(s, sql).unwrap_err();
        assert_eq!(e.sqlstate, "25001", "{sql}");
        e.message
    };
    assert_eq!(
        refused(
            &mut s,
            "select set_config('transaction_isolation', 'serializable', false)"
        ),
        "SET TRANSACTION ISOLATION LEVEL must be called before any query"
    );
    assert_eq!(
        refused(
            &mut s,
            "select set_config('transaction_deferrable', 'off', false)"
        ),
        "SET TRANSACTION [NOT] DEFERRABLE must be called before any query"
    );
    assert_eq!(
        row_in(
            &mut s,
            "select set_config('transaction_isolation', 'READ COMMITTED', false)"
        ),
        ["read committed"]
    );
    run_in(&mut s, "begin").unwrap();
    s.settings
        .insert("transaction_read_only".into(), "on".into());
    assert_eq!(
        refused(
            &mut s,
            "select set_config('transaction_read_only', 'off', false)"
        ),
        "transaction read-write mode must be set before any query"
    );
}

#[test]
fn unsupported_statements_name_their_command_tag() {
    for (sql, tag) in [
        ("create table t (a int)", "CREATE TABLE"),
        ("insert into t values (1)", "INSERT"),
        ("update t set a = 1", "UPDATE"),
        ("delete from t", "DELETE"),
        ("drop table t", "DROP TABLE"),
        ("drop index i", "DROP INDEX"),
        ("create index on t (a)", "CREATE INDEX"),
        ("vacuum", "VACUUM"),
        ("analyze", "ANALYZE"),
        ("copy t from stdin", "COPY"),
        ("truncate t", "TRUNCATE TABLE"),
    ] {
        assert_eq!(
            error(sql),
            ("0A000", format!("{tag} is not supported yet"), None),
            "{sql}"
        );
        assert_eq!(parse_query(sql).unwrap()[0].command_tag(), tag);
    }
}
