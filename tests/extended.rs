//! The extended query protocol against the real server: through the `postgres`
//! crate (Parse/Describe/Bind/Execute with binary formats), through raw messages
//! for what no driver sends on purpose (row limits, errors mid-pipeline), and
//! through real pgbench in `-M extended` and `-M prepared`. Expected replies are
//! what PostgreSQL 15 sends for the same messages.

mod common;

use std::net::TcpStream;
use std::process::Command;

use common::wire::{self, BackendMessage};
use common::{rows, some, sqlstate, TestServer, SUPERUSER};
use postgres::types::Type;

fn cstr(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

fn parse(name: &str, sql: &str, types: &[u32]) -> Vec<u8> {
    let mut body = cstr(name);
    body.extend(cstr(sql));
    body.extend((types.len() as i16).to_be_bytes());
    for t in types {
        body.extend(t.to_be_bytes());
    }
    wire::message(b'P', &body)
}

fn bind(
    portal: &str,
    stmt: &str,
    params: &[Option<&[u8]>],
    formats: &[i16],
    results: &[i16],
) -> Vec<u8> {
    let mut body = cstr(portal);
    body.extend(cstr(stmt));
    body.extend((formats.len() as i16).to_be_bytes());
    for f in formats {
        body.extend(f.to_be_bytes());
    }
    body.extend((params.len() as i16).to_be_bytes());
    for p in params {
        match p {
            None => body.extend((-1i32).to_be_bytes()),
            Some(bytes) => {
                body.extend((bytes.len() as i32).to_be_bytes());
                body.extend_from_slice(bytes);
            }
        }
    }
    body.extend((results.len() as i16).to_be_bytes());
    for f in results {
        body.extend(f.to_be_bytes());
    }
    wire::message(b'B', &body)
}

fn execute(portal: &str, max_rows: i32) -> Vec<u8> {
    let mut body = cstr(portal);
    body.extend(max_rows.to_be_bytes());
    wire::message(b'E', &body)
}

fn describe(kind: u8, name: &str) -> Vec<u8> {
    let mut body = vec![kind];
    body.extend(cstr(name));
    wire::message(b'D', &body)
}

fn close(kind: u8, name: &str) -> Vec<u8> {
    let mut body = vec![kind];
    body.extend(cstr(name));
    wire::message(b'C', &body)
}

fn sync() -> Vec<u8> {
    wire::message(b'S', &[])
}

/// Sends the messages as one pipeline and reads up to `readies` ReadyForQuery.
fn exchange(stream: &mut TcpStream, messages: &[Vec<u8>], readies: usize) -> Vec<BackendMessage> {
    wire::send(stream, &messages.concat());
    (0..readies)
        .flat_map(|_| wire::read_until_ready(stream))
        .collect()
}

/// Message kinds, with an ErrorResponse shown as its SQLSTATE and CommandComplete
/// as its tag: a compact picture of a reply.
fn picture(messages: &[BackendMessage]) -> Vec<String> {
    messages
        .iter()
        .map(|m| match m.kind {
            b'E' => format!("E {}", m.error().1),
            b'C' => format!("C {}", String::from_utf8_lossy(&m.body[..m.body.len() - 1])),
            b'Z' => format!("Z {}", m.body[0] as char),
            k => (k as char).to_string(),
        })
        .collect()
}

fn login(server: &TestServer) -> TcpStream {
    wire::login(server.port, SUPERUSER).0
}

#[test]
fn untyped_parameters_take_their_type_from_context() {
    let server = TestServer::start();
    let mut client = server.connect();
    client
        .batch_execute("create table acct (id int4 not null, bal int8, name text)")
        .unwrap();
    let insert = client
        .prepare("insert into acct values ($1, $2, $3)")
        .unwrap();
    assert_eq!(insert.params(), &[Type::INT4, Type::INT8, Type::TEXT]);
    for id in 1..=3i32 {
        client
            .execute(&insert, &[&id, &(i64::from(id) * 100), &format!("n{id}")])
            .unwrap();
    }
    let update = client
        .prepare("update acct set bal = bal + $1 where id = $2")
        .unwrap();
    assert_eq!(update.params(), &[Type::INT8, Type::INT4]);
    assert_eq!(client.execute(&update, &[&5i64, &2i32]).unwrap(), 1);
    let select = client
        .prepare("select bal, name from acct where id = $1 limit $2")
        .unwrap();
    assert_eq!(select.params(), &[Type::INT4, Type::INT8]);
    let row = client.query_one(&select, &[&2i32, &10i64]).unwrap();
    assert_eq!(row.get::<_, i64>(0), 205);
    assert_eq!(row.get::<_, String>(1), "n2");
    // A bare select-list parameter is text; one nothing decides is 42P18.
    let echo = client.prepare("select $1").unwrap();
    assert_eq!(echo.params(), &[Type::TEXT]);
    let error = client.prepare("select $1 is null").unwrap_err();
    assert_eq!(sqlstate(&error).as_deref(), Some("42P18"));
    assert_eq!(
        error.as_db_error().map(|e| e.message()),
        Some("could not determine data type of parameter $1")
    );
}

#[test]
fn typed_parameters_and_binary_results_of_the_basic_types() {
    let server = TestServer::start();
    let mut client = server.connect();
    let stmt = client
        .prepare_typed(
            "select $1, $2, $3, $4, $5, $6, $7, $8::varchar, $9::name",
            &[
                Type::BOOL,
                Type::INT2,
                Type::INT4,
                Type::INT8,
                Type::FLOAT4,
                Type::FLOAT8,
                Type::TEXT,
                Type::TEXT,
                Type::TEXT,
            ],
        )
        .unwrap();
    let row = client
        .query_one(
            &stmt,
            &[
                &true,
                &-7i16,
                &123456i32,
                &-9_000_000_000i64,
                &1.5f32,
                &0.1f64,
                &"héllo",
                &"v",
                &"nm",
            ],
        )
        .unwrap();
    assert!(row.get::<_, bool>(0));
    assert_eq!(row.get::<_, i16>(1), -7);
    assert_eq!(row.get::<_, i32>(2), 123456);
    assert_eq!(row.get::<_, i64>(3), -9_000_000_000);
    assert_eq!(row.get::<_, f32>(4), 1.5);
    assert_eq!(row.get::<_, f64>(5), 0.1);
    assert_eq!(row.get::<_, String>(6), "héllo");
    assert_eq!(row.get::<_, String>(7), "v");
    assert_eq!(row.get::<_, String>(8), "nm");
    // Table columns come back in binary too.
    client
        .batch_execute("create table t (a int2, b float8, c varchar(5), d bool)")
        .unwrap();
    client
        .execute(
            "insert into t values ($1, $2, $3, $4)",
            &[&3i16, &2.5f64, &"abc", &false],
        )
        .unwrap();
    let row = client.query_one("select a, b, c, d from t", &[]).unwrap();
    assert_eq!(row.get::<_, i16>(0), 3);
    assert_eq!(row.get::<_, f64>(1), 2.5);
    assert_eq!(row.get::<_, String>(2), "abc");
    assert!(!row.get::<_, bool>(3));
}

#[test]
fn null_parameters_are_sql_nulls() {
    let server = TestServer::start();
    let mut client = server.connect();
    client
        .batch_execute("create table n (a int4, b text)")
        .unwrap();
    client
        .execute(
            "insert into n values ($1, $2)",
            &[&None::<i32>, &None::<String>],
        )
        .unwrap();
    let row = client
        .query_one("select a, b, a is null from n where b is null", &[])
        .unwrap();
    assert_eq!(row.get::<_, Option<i32>>(0), None);
    assert_eq!(row.get::<_, Option<String>>(1), None);
    assert!(row.get::<_, bool>(2));
    let row = client
        .query_one("select $1::int4 + 1", &[&None::<i32>])
        .unwrap();
    assert_eq!(row.get::<_, Option<i32>>(0), None);
}

#[test]
fn numeric_parameters_and_results_in_binary() {
    let server = TestServer::start();
    let (mut s, _, _) = wire::login(server.port, SUPERUSER);
    // numeric_send(12345.678) as PostgreSQL 15 encodes it.
    let value: &[u8] = &[0, 3, 0, 1, 0, 0, 0, 3, 0, 1, 0x09, 0x29, 0x1a, 0x7c];
    let replies = exchange(
        &mut s,
        &[
            parse("", "select $1::numeric, $1::numeric::text", &[1700]),
            bind("", "", &[Some(value)], &[1], &[1, 0]),
            execute("", 0),
            sync(),
        ],
        1,
    );
    let row = replies.iter().find(|m| m.kind == b'D').unwrap();
    // Two columns: the binary value back unchanged, then its text.
    let mut expected = 2i16.to_be_bytes().to_vec();
    expected.extend((value.len() as i32).to_be_bytes());
    expected.extend_from_slice(value);
    expected.extend(9i32.to_be_bytes());
    expected.extend_from_slice(b"12345.678");
    assert_eq!(row.body, expected);
}

#[test]
fn bad_parameters_get_postgres_errors() {
    let server = TestServer::start();
    let mut s = login(&server);
    let cases: Vec<(Vec<Vec<u8>>, &str)> = vec![
        // Eight bytes for an int4: bytes left over.
        (
            vec![
                parse("", "select $1::int4", &[]),
                bind("", "", &[Some(&7i64.to_be_bytes())], &[1], &[]),
            ],
            "22P03",
        ),
        // Three bytes: PostgreSQL's pq_getmsgint runs out.
        (
            vec![
                parse("", "select $1::int4", &[]),
                bind("", "", &[Some(&[0, 0, 1])], &[1], &[]),
            ],
            "08P01",
        ),
        (
            vec![
                parse("", "select $1::int4", &[]),
                bind("", "", &[Some(b"x")], &[], &[]),
            ],
            "22P02",
        ),
        (
            vec![
                parse("", "select $1::int4", &[]),
                bind("", "", &[], &[], &[]),
            ],
            "08P01",
        ),
        (
            vec![
                parse("", "select $1::int4", &[]),
                bind("", "", &[Some(b"1")], &[2], &[]),
            ],
            "22023",
        ),
        (
            vec![parse("", "select 1", &[]), bind("", "", &[], &[], &[0, 0])],
            "08P01",
        ),
        (vec![parse("", "select 1; select 2", &[])], "42601"),
        (vec![parse("", "select $0", &[])], "42P02"),
        (vec![parse("", "select $1 + $2", &[])], "42725"),
        (vec![parse("", "select 1", &[0, 0])], "42P18"),
        (vec![bind("", "nope", &[], &[], &[])], "26000"),
        (vec![execute("nope", 0)], "34000"),
        (vec![describe(b'P', "nope")], "34000"),
        (vec![describe(b'S', "nope")], "26000"),
    ];
    for (mut messages, code) in cases {
        messages.push(sync());
        let replies = exchange(&mut s, &messages, 1);
        let errors: Vec<_> = replies.iter().filter(|m| m.is_error()).collect();
        assert_eq!(errors.len(), 1, "{replies:?}");
        let (severity, got, message) = errors[0].error();
        assert_eq!(
            (severity.as_str(), got.as_str()),
            ("ERROR", code),
            "{message}"
        );
        assert_eq!(replies.last().unwrap().kind, b'Z');
    }
    // The session is fine afterwards.
    let replies = exchange(&mut s, &[wire::query("select 42")], 1);
    assert_eq!(wire::data_rows(&replies), vec![some(&["42"])]);
}

#[test]
fn an_error_mid_pipeline_skips_to_sync_and_rolls_the_pipeline_back() {
    let server = TestServer::start();
    let mut s = login(&server);
    exchange(&mut s, &[wire::query("create table p (a int4)")], 1);
    let replies = exchange(
        &mut s,
        &[
            parse("", "insert into p values (1)", &[]),
            bind("", "", &[], &[], &[]),
            execute("", 0),
            parse("", "select 1/$1::int4", &[]),
            bind("", "", &[Some(b"0")], &[], &[]),
            execute("", 0),
            // Skipped: everything until Sync, a Query included.
            parse("", "insert into p values (2)", &[]),
            bind("", "", &[], &[], &[]),
            execute("", 0),
            wire::query("insert into p values (3)"),
            sync(),
        ],
        1,
    );
    let picture = picture(&replies);
    assert_eq!(picture.first().map(String::as_str), Some("1"));
    assert!(picture.contains(&"C INSERT 0 1".to_string()), "{picture:?}");
    assert_eq!(&picture[picture.len() - 2..], ["E 22012", "Z I"]);
    // The implicit transaction up to Sync was rolled back as a whole.
    let replies = exchange(&mut s, &[wire::query("select a from p")], 1);
    assert!(wire::data_rows(&replies).is_empty(), "{replies:?}");
    // Without an error, Sync commits it.
    exchange(
        &mut s,
        &[
            parse("", "insert into p values ($1)", &[]),
            bind("", "", &[Some(b"7")], &[], &[]),
            execute("", 0),
            sync(),
        ],
        1,
    );
    let replies = exchange(&mut s, &[wire::query("select a from p")], 1);
    assert_eq!(wire::data_rows(&replies), vec![some(&["7"])]);
}

#[test]
fn portals_hand_out_rows_max_rows_at_a_time() {
    let server = TestServer::start();
    let mut s = login(&server);
    exchange(
        &mut s,
        &[wire::query(
            "create table r (a int4); insert into r values (1), (2), (3), (4), (5)",
        )],
        1,
    );
    let replies = exchange(
        &mut s,
        &[
            parse("", "select a from r order by a", &[]),
            bind("", "", &[], &[], &[]),
            execute("", 2),
            execute("", 2),
            execute("", 2),
            execute("", 2),
            sync(),
        ],
        1,
    );
    // PostgreSQL 15's exact reply: the last Execute counts only its own rows.
    assert_eq!(
        picture(&replies),
        [
            "1",
            "2",
            "D",
            "D",
            "s",
            "D",
            "D",
            "s",
            "D",
            "C SELECT 1",
            "C SELECT 0",
            "Z I"
        ]
    );
    assert_eq!(wire::data_rows(&replies).len(), 5);
    // A named portal inside a block survives Sync, and ends with the block.
    let replies = exchange(
        &mut s,
        &[
            wire::query("begin"),
            parse("s", "select a from r where a > $1 order by a", &[]),
            bind("cur", "s", &[Some(b"3")], &[], &[]),
            execute("cur", 1),
            sync(),
            execute("cur", 1),
            execute("cur", 1),
            sync(),
            wire::query("commit"),
            execute("cur", 1),
            sync(),
        ],
        5,
    );
    assert_eq!(
        picture(&replies),
        [
            "C BEGIN",
            "Z T",
            "1",
            "2",
            "D",
            "s",
            "Z T",
            "D",
            "s",
            "C SELECT 0",
            "Z T",
            "C COMMIT",
            "Z I",
            "E 34000",
            "Z I"
        ]
    );
    assert_eq!(wire::data_rows(&replies), vec![some(&["4"]), some(&["5"])]);
}

#[test]
fn named_statements_are_reused_closed_and_described() {
    let server = TestServer::start();
    let mut s = login(&server);
    let replies = exchange(
        &mut s,
        &[
            parse("q", "select $1::int4 * 2", &[]),
            describe(b'S', "q"),
            sync(),
        ],
        1,
    );
    assert_eq!(picture(&replies), ["1", "t", "T", "Z I"]);
    for n in [1, 2, 3] {
        let arg = n.to_string();
        let replies = exchange(
            &mut s,
            &[
                bind("", "q", &[Some(arg.as_bytes())], &[], &[]),
                describe(b'P', ""),
                execute("", 0),
                sync(),
            ],
            1,
        );
        assert_eq!(
            wire::data_rows(&replies),
            vec![vec![Some((n * 2).to_string())]]
        );
    }
    let replies = exchange(&mut s, &[parse("q", "select 1", &[]), sync()], 1);
    assert_eq!(picture(&replies), ["E 42P05", "Z I"]);
    let replies = exchange(
        &mut s,
        &[
            close(b'S', "q"),
            close(b'S', "q"),
            close(b'P', "never"),
            bind("", "q", &[], &[], &[]),
            sync(),
        ],
        1,
    );
    assert_eq!(picture(&replies), ["3", "3", "3", "E 26000", "Z I"]);
    // Empty query: NoData for Describe, EmptyQueryResponse for Execute.
    let replies = exchange(
        &mut s,
        &[
            parse("", "", &[]),
            bind("", "", &[], &[], &[]),
            describe(b'P', ""),
            execute("", 0),
            sync(),
        ],
        1,
    );
    assert_eq!(picture(&replies), ["1", "2", "n", "I", "Z I"]);
}

#[test]
fn transactions_and_utility_statements_through_the_extended_protocol() {
    let server = TestServer::start();
    let mut client = server.connect();
    client.execute("create table x (a int4)", &[]).unwrap();
    // BEGIN/COMMIT as prepared statements.
    client.execute("begin", &[]).unwrap();
    client
        .execute("insert into x values ($1)", &[&1i32])
        .unwrap();
    client.execute("rollback", &[]).unwrap();
    client.execute("begin", &[]).unwrap();
    client
        .execute("insert into x values ($1)", &[&2i32])
        .unwrap();
    let error = client.execute("select 1/0", &[]).unwrap_err();
    assert_eq!(sqlstate(&error).as_deref(), Some("22012"));
    let error = client.execute("select 1", &[]).unwrap_err();
    assert_eq!(sqlstate(&error).as_deref(), Some("25P02"));
    client.execute("rollback", &[]).unwrap();
    let mut txn = client.transaction().unwrap();
    txn.execute("insert into x values ($1)", &[&3i32]).unwrap();
    txn.commit().unwrap();
    assert_eq!(rows(&mut client, "select a from x"), vec![some(&["3"])]);
    // SET and SHOW.
    client.execute("set work_mem = '2MB'", &[]).unwrap();
    let row = client.query_one("show work_mem", &[]).unwrap();
    assert_eq!(row.get::<_, String>(0), "2MB");
    // SET LOCAL outside a block only warns, as in PostgreSQL.
    client.execute("set local work_mem = '3MB'", &[]).unwrap();
    let row = client.query_one("show work_mem", &[]).unwrap();
    assert_eq!(row.get::<_, String>(0), "2MB");
}

#[test]
fn statement_timeout_applies_to_each_execute() {
    let server = TestServer::start();
    let mut client = server.connect();
    client.batch_execute("set statement_timeout = 200").unwrap();
    let error = client.query("select pg_sleep(2)", &[]).unwrap_err();
    assert_eq!(sqlstate(&error).as_deref(), Some("57014"));
    let row = client.query_one("select $1::int4 + 1", &[&1i32]).unwrap();
    assert_eq!(row.get::<_, i32>(0), 2);
}

/// Runs pgbench with a custom script in `mode` and returns its output.
fn pgbench(server: &TestServer, mode: &str, script: &std::path::Path) -> std::process::Output {
    Command::new("pgbench")
        .args([
            "-n",
            "-M",
            mode,
            "-f",
            script.to_str().unwrap(),
            "-t",
            "200",
            "-c",
            "4",
            "-h",
            "127.0.0.1",
            "-p",
            &server.port.to_string(),
            "-U",
            SUPERUSER,
            "postgres",
        ])
        .output()
        .expect("run pgbench")
}

#[test]
fn pgbench_extended_and_prepared_finish_without_failures() {
    if Command::new("pgbench").arg("--version").output().is_err() {
        println!("pgbench is not installed: skipping (scripts/setup.sh installs it)");
        return;
    }
    let server = TestServer::start();
    let mut client = server.connect();
    client
        .batch_execute("create table acct (id int4 not null, bal int8)")
        .unwrap();
    let insert = client.prepare("insert into acct values ($1, 0)").unwrap();
    for id in 1..=100i32 {
        client.execute(&insert, &[&id]).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("script.sql");
    std::fs::write(
        &script,
        "\\set id random(1, 100)\n\
         \\set delta random(-5000, 5000)\n\
         begin;\n\
         update acct set bal = bal + :delta where id = :id;\n\
         select bal from acct where id = :id;\n\
         end;\n\
         update acct set bal = bal - :delta where id = :id;\n",
    )
    .unwrap();
    for mode in ["extended", "prepared"] {
        let out = pgbench(&server, mode, &script);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "pgbench -M {mode}: {stdout}\n{stderr}"
        );
        assert!(
            stdout.contains("number of transactions actually processed: 800/800"),
            "pgbench -M {mode}: {stdout}\n{stderr}"
        );
        assert!(
            stdout.contains("number of failed transactions: 0"),
            "pgbench -M {mode}: {stdout}"
        );
    }
    // Every transaction added and then took away the same delta.
    let rows = rows(&mut client, "select id from acct where bal <> 0");
    assert!(rows.is_empty(), "{rows:?}");
}

/// Aggregates, GROUP BY, DISTINCT and catalog columns through Parse/Describe/Bind:
/// the described types are the ones the rows are sent in (the postgres crate
/// decodes binary results by the described type, so a mismatch fails here).
#[test]
fn aggregates_and_catalog_columns_are_described_with_their_types() {
    let server = TestServer::start();
    let mut client = server.connect();
    client
        .batch_execute(
            "create table agg (g int4, v int4, f float8); \
             insert into agg values (1, 10, 0.5), (1, 20, 1.5), (2, 5, null)",
        )
        .unwrap();
    let got = client
        .query(
            "select g, count(*), sum(v), max(f) from agg where v > $1 group by g order by g",
            &[&0i32],
        )
        .unwrap();
    let columns: Vec<Type> = got[0].columns().iter().map(|c| c.type_().clone()).collect();
    assert_eq!(columns, [Type::INT4, Type::INT8, Type::INT8, Type::FLOAT8]);
    let decoded: Vec<(i32, i64, i64, Option<f64>)> = got
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(decoded, [(1, 2, 30, Some(1.5)), (2, 1, 5, None)]);
    let avg = client
        .query_one("select avg(v)::float8 from agg where g = $1", &[&1i32])
        .unwrap();
    assert_eq!(avg.get::<_, f64>(0), 15.0);
    let distinct = client
        .query("select distinct g from agg order by g", &[])
        .unwrap();
    assert_eq!(distinct.len(), 2);
    let oid = client
        .query_one("select oid from pg_class where relname = $1", &[&"agg"])
        .unwrap();
    assert!(oid.get::<_, u32>(0) >= 16384);
}
