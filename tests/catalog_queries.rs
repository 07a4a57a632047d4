//! The system catalogs read with SQL through the real server: unqualified names
//! resolve through the search path (pg_catalog, then public), catalog column types
//! (oid, name, "char", xid) read as in PostgreSQL, a table created in a
//! transaction shows in pg_class to that transaction only, and catalog rows cannot
//! be changed with DML.

mod common;

use common::{first_value, rows, some, TestServer};

#[test]
fn pg_class_lists_tables_by_namespace() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.batch_execute("create table t1 (a int, b text); create table t2 (c bool)")
        .unwrap();
    assert_eq!(
        rows(
            &mut c,
            "select relname, relkind, relnatts from pg_class where relnamespace = 2200 order by 1"
        ),
        vec![some(&["t1", "r", "2"]), some(&["t2", "r", "1"])]
    );
    assert_eq!(
        rows(
            &mut c,
            "select pg_typeof(oid), pg_typeof(relname), pg_typeof(relkind), pg_typeof(relnatts), \
             pg_typeof(relfrozenxid) from pg_class where relname = 't1'"
        ),
        vec![some(&["oid", "name", "\"char\"", "smallint", "xid"])]
    );
    // Every user column has its pg_attribute row.
    assert_eq!(
        first_value(
            &mut c,
            "select count(*) from pg_attribute where attname in ('a', 'b', 'c') and attnum > 0"
        ),
        "3"
    );
    let total: i64 = first_value(&mut c, "select count(*) from pg_attribute")
        .parse()
        .unwrap();
    assert!(total > 3, "{total}");
}

#[test]
fn uncommitted_tables_show_only_to_their_transaction() {
    let server = TestServer::start();
    let mut a = server.connect();
    let mut b = server.connect();
    a.batch_execute("begin; create table pending (x int)")
        .unwrap();
    let count = "select count(*) from pg_class where relname = 'pending'";
    assert_eq!(first_value(&mut a, count), "1");
    assert_eq!(first_value(&mut b, count), "0");
    a.batch_execute("commit").unwrap();
    assert_eq!(first_value(&mut b, count), "1");
}

#[test]
fn catalog_rows_cannot_be_modified() {
    let server = TestServer::start();
    let mut c = server.connect();
    for sql in [
        "delete from pg_class where false",
        "update pg_namespace set nspname = nspname where false",
        "insert into pg_namespace values (1, 'x', 10)",
    ] {
        let e = c.simple_query(sql).expect_err(sql);
        assert_eq!(common::sqlstate(&e).as_deref(), Some("0A000"), "{sql}: {e}");
    }
    assert_eq!(
        first_value(&mut c, "select count(*) from pg_namespace"),
        "3"
    );
    // A public table of the same name is reachable only qualified.
    c.batch_execute("create table pg_type (x int); insert into public.pg_type values (7)")
        .unwrap();
    assert_eq!(first_value(&mut c, "select x from public.pg_type"), "7");
    assert_eq!(
        first_value(&mut c, "select typname from pg_type where oid = 23"),
        "int4"
    );
}
