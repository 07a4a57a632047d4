//! Column references against a [`Scope`]: resolution, errors with PostgreSQL's
//! messages and positions, folding that leaves columns alone, and evaluation over a
//! row with three-valued logic. (Expected values checked against PostgreSQL 15 with
//! `create table t (id int not null, v int, s text, c varchar(3))`.)

use super::*;
use crate::sql::analyze::Analyzer;
use crate::sql::eval::{eval_row, fold};
use crate::sql::expr::{Expr, ExprKind};
use crate::sql::scope::{Scope, ScopeColumn};

fn scope(alias: Option<&str>, visible: bool) -> Scope {
    let col = |name: &str, ty, typmod| ScopeColumn {
        name: name.into(),
        ty,
        typmod,
        unsupported_type: None,
    };
    Scope {
        relname: "t".into(),
        schema: "public".into(),
        alias: alias.map(str::to_string),
        columns: vec![
            col("id", SqlType::Int4, -1),
            col("v", SqlType::Int4, -1),
            col("s", SqlType::Text, -1),
            col("c", SqlType::Varchar, 7),
        ],
        visible,
    }
}

/// Analyzes the WHERE clause of `select * from t <where>`-shaped text, or the
/// first select-list item of `sql`.
fn analyze_in(scope: &Scope, sql: &str) -> QuillResult<Expr> {
    let statements = parse_query(sql)?;
    let NodeEnum::SelectStmt(select) = statements[0].node() else {
        panic!("not a SELECT: {sql}");
    };
    let an = Analyzer::with_scope(sql, scope);
    if let Some(w) = &select.where_clause {
        return an.coerce_to_boolean(an.expr(w)?, "WHERE");
    }
    let Some(NodeEnum::ResTarget(t)) = &select.target_list[0].node else {
        panic!("no target");
    };
    an.expr(t.val.as_deref().unwrap())
}

fn analyze(sql: &str) -> QuillResult<Expr> {
    analyze_in(&scope(None, true), sql)
}

fn analysis_error_in(
    scope: &Scope,
    sql: &str,
) -> (&'static str, String, Option<u32>, Option<String>) {
    let e = analyze_in(scope, sql).unwrap_err();
    (e.sqlstate, e.message, e.position, e.hint)
}

fn analysis_error(sql: &str) -> (&'static str, String, Option<u32>, Option<String>) {
    analysis_error_in(&scope(None, true), sql)
}

/// Folds and evaluates `sql`'s expression over `row`, printed ("NULL" for NULL).
fn eval_over(sql: &str, row: &[Datum]) -> String {
    let mut session = TestSession::new();
    let expr = analyze(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let expr = fold(expr, &mut session, OutputFormat::DEFAULT).unwrap();
    eval_row(&expr, row, &mut session, OutputFormat::DEFAULT)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .to_text(OutputFormat::DEFAULT)
        .unwrap_or_else(|| "NULL".into())
}

fn row(id: i32, v: Option<i32>, s: Option<&str>) -> Vec<Datum> {
    vec![
        Datum::Int4(id),
        v.map_or(Datum::Null, Datum::Int4),
        s.map_or(Datum::Null, |s| Datum::Text(s.into())),
        Datum::Null,
    ]
}

#[test]
fn column_references_resolve_to_columns_with_their_types() {
    let e = analyze("select v from t").unwrap();
    assert!(matches!(e.kind, ExprKind::Column(1)));
    assert_eq!((e.ty, e.typmod, e.location), (SqlType::Int4, -1, 7));
    let e = analyze("select t.c from t").unwrap();
    assert!(matches!(e.kind, ExprKind::Column(3)));
    assert_eq!((e.ty, e.typmod), (SqlType::Varchar, 7));
    let e = analyze("select public.t.s from t").unwrap();
    assert!(matches!(e.kind, ExprKind::Column(2)));
    let e = analyze_in(&scope(Some("a"), true), "select a.id from t a").unwrap();
    assert!(matches!(e.kind, ExprKind::Column(0)));
}

#[test]
fn column_reference_errors_match_postgres() {
    assert_eq!(
        analysis_error("select x from t"),
        ("42703", "column \"x\" does not exist".into(), Some(8), None)
    );
    assert_eq!(
        analysis_error("select t.x from t"),
        ("42703", "column t.x does not exist".into(), Some(8), None)
    );
    assert_eq!(
        analysis_error("select 1 + q.id from t"),
        (
            "42P01",
            "missing FROM-clause entry for table \"q\"".into(),
            Some(12),
            None
        )
    );
    assert_eq!(
        analysis_error_in(&scope(Some("a"), true), "select t.id from t a"),
        (
            "42P01",
            "invalid reference to FROM-clause entry for table \"t\"".into(),
            Some(8),
            Some("Perhaps you meant to reference the table alias \"a\".".into())
        )
    );
    assert_eq!(
        analysis_error("select * from t where v"),
        (
            "42804",
            "argument of WHERE must be type boolean, not type integer".into(),
            Some(23),
            None
        )
    );
    assert_eq!(
        analysis_error("select * from t where s = 1"),
        (
            "42883",
            "operator does not exist: text = integer".into(),
            Some(25),
            Some("No operator matches the given name and argument types. You might need to add explicit type casts.".into())
        )
    );
    assert_eq!(
        analysis_error("select * from t where id = 'abc'"),
        (
            "22P02",
            "invalid input syntax for type integer: \"abc\"".into(),
            Some(28),
            None
        )
    );
    // INSERT's VALUES may not name the target's columns.
    let hidden = scope(None, false);
    assert_eq!(
        analysis_error_in(&hidden, "select id"),
        (
            "42703",
            "column \"id\" does not exist".into(),
            Some(8),
            Some("There is a column named \"id\" in table \"t\", but it cannot be referenced from this part of the query.".into())
        )
    );
    assert_eq!(
        analysis_error_in(&hidden, "select t.id"),
        (
            "42P01",
            "invalid reference to FROM-clause entry for table \"t\"".into(),
            Some(8),
            Some("There is an entry for table \"t\", but it cannot be referenced from this part of the query.".into())
        )
    );
}

#[test]
fn assignment_coercion_follows_postgres() {
    let an_scope = scope(None, true);
    let sql = "select 'x'::text";
    let an = Analyzer::with_scope(sql, &an_scope);
    let statements = parse_query(sql).unwrap();
    let NodeEnum::SelectStmt(select) = statements[0].node() else {
        unreachable!()
    };
    let Some(NodeEnum::ResTarget(t)) = &select.target_list[0].node else {
        unreachable!()
    };
    let e = an.expr(t.val.as_deref().unwrap()).unwrap();
    let err = an
        .coerce_for_assignment(e.clone(), SqlType::Int4, -1, "v")
        .unwrap_err();
    assert_eq!(
        (
            err.sqlstate,
            err.message.as_str(),
            err.position,
            err.hint.as_deref()
        ),
        (
            "42804",
            "column \"v\" is of type integer but expression is of type text",
            Some(8),
            Some("You will need to rewrite or cast the expression.")
        )
    );
    // text → varchar(3) is an assignment cast; the length is checked when computed.
    let e = an
        .coerce_for_assignment(e, SqlType::Varchar, 7, "c")
        .unwrap();
    assert_eq!((e.ty, e.typmod), (SqlType::Varchar, 7));
    let mut session = TestSession::new();
    let err = fold(e, &mut session, OutputFormat::DEFAULT);
    assert!(err.is_ok(), "'x' fits varchar(3)");
}

#[test]
fn folding_keeps_columns_and_evaluation_reads_the_row() {
    let mut session = TestSession::new();
    let e = analyze("select v + (1 + 2) from t").unwrap();
    let e = fold(e, &mut session, OutputFormat::DEFAULT).unwrap();
    let ExprKind::Op { args, .. } = &e.kind else {
        panic!("not folded to a constant: {e:?}")
    };
    assert!(matches!(args[0].kind, ExprKind::Column(1)));
    assert_eq!(args[1].as_const(), Some(&Datum::Int4(3)));
    // A strict operator with a NULL constant is NULL without reading the row.
    let e = analyze("select v = null from t").unwrap();
    let e = fold(e, &mut session, OutputFormat::DEFAULT).unwrap();
    assert_eq!(e.as_const(), Some(&Datum::Null));
    assert_eq!(
        eval_over("select v * 2 + id from t", &row(1, Some(10), None)),
        "21"
    );
    assert_eq!(
        eval_over("select upper(s) || id from t", &row(7, None, Some("ab"))),
        "AB7"
    );
}

#[test]
fn where_uses_three_valued_logic() {
    let null_v = row(2, None, Some("b"));
    let ten = row(1, Some(10), None);
    let cases = [
        ("select * from t where v > 5", "NULL", "t"),
        ("select * from t where not (v > 5)", "NULL", "f"),
        ("select * from t where v > 5 and s = 'b'", "NULL", "NULL"),
        ("select * from t where v > 5 or s = 'b'", "t", "t"),
        ("select * from t where v > 50 or s = 'b'", "t", "NULL"),
        ("select * from t where v > 50 and s = 'b'", "NULL", "f"),
        ("select * from t where v is null", "t", "f"),
        ("select * from t where (v > 5) is not true", "t", "f"),
        ("select * from t where (v > 5) is unknown", "t", "f"),
        ("select * from t where coalesce(v, 0) = 0", "t", "f"),
        ("select * from t where v in (10, null)", "NULL", "t"),
        ("select * from t where v not in (1, null)", "NULL", "NULL"),
        ("select * from t where v between 5 and 15", "NULL", "t"),
        ("select * from t where v is distinct from 10", "t", "f"),
        (
            "select * from t where case when v > 5 then true else false end",
            "f",
            "t",
        ),
    ];
    for (sql, on_null, on_ten) in cases {
        assert_eq!(
            (eval_over(sql, &null_v), eval_over(sql, &ten)),
            (on_null.to_string(), on_ten.to_string()),
            "{sql}"
        );
    }
}
