//! Expression semantics: types, names, operators, functions, casts, errors.

use super::*;

#[test]
fn constants_have_postgres_types_and_column_names() {
    let cols =
        columns("select 1, 'a', 1.5, true, null, 1::int8 as x, 2147483648, 9223372036854775808");
    let expected = [
        ("?column?", 23),
        ("?column?", 25),
        ("?column?", 1700),
        ("?column?", 16),
        ("?column?", 25),
        ("x", 20),
        ("?column?", 20),
        ("?column?", 1700),
    ];
    let got: Vec<(&str, u32)> = cols.iter().map(|(n, o, _)| (n.as_str(), *o)).collect();
    assert_eq!(got, expected);
    assert_eq!(
        row("select 1, 'a', 1.5, true, null, -2147483648, 1e3, .5"),
        ["1", "a", "1.5", "t", "NULL", "-2147483648", "1000", "0.5"]
    );
}

#[test]
fn column_names_follow_figure_colname() {
    let names: Vec<String> = columns(
        "select 1::int8, 'a'::text, cast(1 as bigint), 1::integer, 1::double precision, \
         'x'::varchar(3), length('a'), current_user, user, session_user, current_schema, \
         case when true then 1 end, coalesce(1), nullif(1, 2), 1 + 1, 1 as \"Mixed\", \
         greatest(1, 2), pg_catalog.length('a')",
    )
    .into_iter()
    .map(|c| c.0)
    .collect();
    assert_eq!(
        names,
        [
            "int8",
            "text",
            "int8",
            "int4",
            "float8",
            "varchar",
            "length",
            "current_user",
            "user",
            "session_user",
            "current_schema",
            "case",
            "coalesce",
            "nullif",
            "?column?",
            "Mixed",
            "greatest",
            "length"
        ]
    );
    // Types and typmods of casts and session functions.
    assert_eq!(
        columns("select 'x'::varchar(3), 12.3::numeric(5,2), 'ab'::char(3), current_user"),
        [
            ("varchar".into(), 1043, 7),
            ("numeric".into(), 1700, 327686),
            ("bpchar".into(), 1042, 7),
            ("current_user".into(), 19, -1)
        ]
    );
}

#[test]
fn integer_arithmetic_matches_postgres() {
    assert_eq!(
        row("select 1 + 2, 1 - 2, 2 * 3, 7 / 2, -7 / 2, 7 % 3, -7 % 3, -2147483648 % -1"),
        ["3", "-1", "6", "3", "-3", "1", "-1", "0"]
    );
    assert_eq!(columns("select 1::int2 + 1::int2")[0].1, 21);
    assert_eq!(columns("select 1::int2 + 1")[0].1, 23);
    assert_eq!(columns("select 1 + 1::int8")[0].1, 20);
    for (sql, message) in [
        ("select 2147483647 + 1", "integer out of range"),
        ("select 9223372036854775807 + 1", "bigint out of range"),
        ("select 32767::int2 + 1::int2", "smallint out of range"),
        ("select (-2147483648)::int4 / -1", "integer out of range"),
        ("select -32768::int2", "smallint out of range"),
        ("select @ (-2147483648)", "integer out of range"),
    ] {
        assert_eq!(error(sql), ("22003", message.to_string(), None), "{sql}");
    }
    for sql in [
        "select 1 / 0",
        "select 5 % 0",
        "select 1.5 / 0",
        "select 1.0::float8 / 0",
    ] {
        assert_eq!(
            error(sql),
            ("22012", "division by zero".to_string(), None),
            "{sql}"
        );
    }
}

#[test]
fn numeric_and_float_results_match_postgres() {
    assert_eq!(
        row("select 1 + 1.5, 1.5 * 2, 10 / 3.0, 1 / 3.0, 2.0 / 3, 1.5 % 1, 100.0 / 7"),
        [
            "2.5",
            "3.0",
            "3.3333333333333333",
            "0.33333333333333333333",
            "0.66666666666666666667",
            "0.5",
            "14.2857142857142857"
        ]
    );
    assert_eq!(
        row("select 1e100::float8, 1e15::float8, 1e14::float8, 0.00001::float8, 0.1::float8 + 0.2::float8"),
        ["1e+100", "1e+15", "100000000000000", "1e-05", "0.30000000000000004"]
    );
    assert_eq!(
        row("select 1.1::float4, 1e6::float4, 3.4e38::float4 * 10, 1::float4 + 1"),
        ["1.1", "1e+06", "3.399999952144364e+39", "2"]
    );
    let types: Vec<u32> = columns("select 1::float4 + 1, 1.5 + 1::float4, 1 + 1.5, 2 ^ 3, sqrt(2)")
        .into_iter()
        .map(|c| c.1)
        .collect();
    assert_eq!(types, [701, 701, 1700, 701, 701]);
    assert_eq!(
        row("select 'NaN'::float8, '-inf'::float8, 'NaN'::float8 = 'NaN'::float8, 'NaN'::numeric > 1e100"),
        ["NaN", "-Infinity", "t", "t"]
    );
    assert_eq!(
        error("select 1e308::float8 * 10").1,
        "value out of range: overflow"
    );
    assert_eq!(
        error("select 1e-300::float8 * 1e-300::float8").1,
        "value out of range: underflow"
    );
    assert_eq!(
        row("select (0.1 + 0.2)::float8::numeric, 1.5::int4, 2.5::int4, (-0.5)::int, 2.5::float8::int4"),
        ["0.3", "2", "3", "-1", "2"]
    );
}

#[test]
fn casts_convert_like_postgres() {
    assert_eq!(
        row("select ' 12 '::int4, 't'::bool, 'off'::bool, 1::bool, true::int, true::text, 'abc'::varchar(2), 12.345::numeric(5,2)"),
        ["12", "t", "f", "t", "1", "true", "ab", "12.35"]
    );
}

#[test]
fn bad_literals_fail_like_postgres() {
    let cases: &[(&str, &str, &str, Option<u32>)] = &[
        (
            "select 'abc'::int",
            "22P02",
            "invalid input syntax for type integer: \"abc\"",
            Some(8),
        ),
        (
            "select 'abc'::int8",
            "22P02",
            "invalid input syntax for type bigint: \"abc\"",
            Some(8),
        ),
        (
            "select '1e3'::int4",
            "22P02",
            "invalid input syntax for type integer: \"1e3\"",
            Some(8),
        ),
        (
            "select '99999999999'::int4",
            "22003",
            "value \"99999999999\" is out of range for type integer",
            Some(8),
        ),
        (
            "select 'x'::bool",
            "22P02",
            "invalid input syntax for type boolean: \"x\"",
            Some(8),
        ),
        (
            "select 'abc'::float8",
            "22P02",
            "invalid input syntax for type double precision: \"abc\"",
            Some(8),
        ),
        (
            "select 'abc'::numeric",
            "22P02",
            "invalid input syntax for type numeric: \"abc\"",
            Some(8),
        ),
    ];
    for &(sql, code, message, position) in cases {
        assert_eq!(error(sql), (code, message.to_string(), position), "{sql}");
    }
}

#[test]
fn impossible_casts_and_bad_type_names_fail_like_postgres() {
    let cases: &[(&str, &str, &str, Option<u32>)] = &[
        (
            "select 1::int8::bool",
            "42846",
            "cannot cast type bigint to boolean",
            Some(15),
        ),
        (
            "select 1.5::bool",
            "42846",
            "cannot cast type numeric to boolean",
            Some(11),
        ),
        (
            "select 1::foo",
            "42704",
            "type \"foo\" does not exist",
            Some(11),
        ),
        (
            "select 1::numeric(0,0)",
            "22023",
            "NUMERIC precision 0 must be between 1 and 1000",
            Some(11),
        ),
        (
            "select 'a'::varchar(0)",
            "22023",
            "length for type varchar must be at least 1",
            Some(13),
        ),
        (
            "select 1::int4(5)",
            "42601",
            "type modifier is not allowed for type \"int4\"",
            Some(11),
        ),
        (
            "select 999.999::numeric(5,2)",
            "22003",
            "numeric field overflow",
            None,
        ),
        (
            "select 1e39::float4",
            "22003",
            "\"1000000000000000000000000000000000000000\" is out of range for type real",
            None,
        ),
        (
            "select 1e1000000",
            "22003",
            "value overflows numeric format",
            Some(8),
        ),
        (
            "select 'NaN'::numeric::int",
            "0A000",
            "cannot convert NaN to integer",
            None,
        ),
    ];
    for &(sql, code, message, position) in cases {
        assert_eq!(error(sql), (code, message.to_string(), position), "{sql}");
    }
}

#[test]
fn boolean_logic_is_three_valued() {
    assert_eq!(
        row("select true and null, false and null, true or null, false or null, not null::bool, null is null, 1 is not null"),
        ["NULL", "f", "t", "NULL", "NULL", "t", "t"]
    );
    assert_eq!(
        row("select true is true, null is true, null is not true, null is unknown, 1 is distinct from null, null is not distinct from null"),
        ["t", "f", "t", "t", "t", "t"]
    );
    assert_eq!(
        row("select 1 in (2, null), 1 not in (2, null), 1 between symmetric 2 and 0"),
        ["NULL", "NULL", "t"]
    );
    for (sql, message, position) in [
        (
            "select 1 and true",
            "argument of AND must be type boolean, not type integer",
            8,
        ),
        (
            "select not 1",
            "argument of NOT must be type boolean, not type integer",
            12,
        ),
        (
            "select 1 where 1",
            "argument of WHERE must be type boolean, not type integer",
            16,
        ),
        (
            "select case when 1 then 1 end",
            "argument of CASE/WHEN must be type boolean, not type integer",
            18,
        ),
    ] {
        assert_eq!(
            error(sql),
            ("42804", message.to_string(), Some(position)),
            "{sql}"
        );
    }
}

#[test]
fn case_coalesce_nullif_resolve_common_types() {
    assert_eq!(
        row("select case when true then 1 else 2 end, case when false then 1 end, case 1 when 1 then 'one' else 'other' end, case when true then 1 else 2.5 end"),
        ["1", "NULL", "one", "1"]
    );
    assert_eq!(
        columns("select case when true then 1 else 2.5 end")[0].1,
        1700
    );
    assert_eq!(
        row("select coalesce(null, 1), coalesce(null, null), coalesce(1, 2.5), nullif(1, 1), nullif('a', 'b'), nullif(1.0, 1)"),
        ["1", "NULL", "1", "NULL", "a", "NULL"]
    );
    assert_eq!(columns("select nullif(null, 1)")[0].1, 23);
    assert_eq!(columns("select coalesce(1::int2, 2::int8)")[0].1, 20);
    assert_eq!(
        error("select case when true then 1 else true end"),
        (
            "42804",
            "CASE types boolean and integer cannot be matched".into(),
            Some(28)
        )
    );
    assert_eq!(
        error("select coalesce(1, true)"),
        (
            "42804",
            "COALESCE types integer and boolean cannot be matched".into(),
            Some(20)
        )
    );
    assert_eq!(
        error("select case when true then 1 else 'a' end").2,
        Some(35)
    );
    assert_eq!(
        error("select nullif(1, true)").1,
        "operator does not exist: integer = boolean"
    );
}

#[test]
fn operator_resolution_errors_match_postgres() {
    let hint = |sql: &str| run(sql).unwrap_err().hint.unwrap();
    assert_eq!(
        error("select 1 || 2"),
        (
            "42883",
            "operator does not exist: integer || integer".into(),
            Some(10)
        )
    );
    assert_eq!(
        hint("select 1 || 2"),
        "No operator matches the given name and argument types. You might need to add explicit type casts."
    );
    assert_eq!(
        error("select '1' + '2'"),
        (
            "42725",
            "operator is not unique: unknown + unknown".into(),
            Some(12)
        )
    );
    assert_eq!(
        error("select 'a'::text + 'b'"),
        (
            "42883",
            "operator does not exist: text + unknown".into(),
            Some(18)
        )
    );
    assert_eq!(
        error("select -'a'::text").1,
        "operator does not exist: - text"
    );
    assert_eq!(
        hint("select -true"),
        "No operator matches the given name and argument type. You might need to add an explicit type cast."
    );
    assert_eq!(
        error("select 1 like 'a'").1,
        "operator does not exist: integer ~~ unknown"
    );
    assert_eq!(
        error("select 1.5 % 1::float8").1,
        "operator does not exist: numeric % double precision"
    );
    // Unknown literals take the other side's type.
    assert_eq!(
        error("select 'a' + 1"),
        (
            "22P02",
            "invalid input syntax for type integer: \"a\"".into(),
            Some(8)
        )
    );
    assert_eq!(error("select 1 = 1, 1 = 'a'").2, Some(19));
    assert_eq!(error("select 1 in (1, 'a')").2, Some(17));
}

#[test]
fn text_operators_and_functions() {
    assert_eq!(
        row("select 'a' || 1, 1 || 'a', 'a' || 'b' || 1 || 2.5 || true, null || 'a', 'ab'::char(3) || 'x'"),
        ["a1", "1a", "ab12.5true", "NULL", "abx"]
    );
    assert_eq!(
        row("select 'abc' like 'a_c', 'a%' like 'a\\%', 'ABC' like 'a%', 'abc' ilike 'A_C', 'a' < 'B', 'ab '::char(3) = 'ab'"),
        ["t", "t", "f", "t", "f", "t"]
    );
    assert_eq!(
        row("select length('héllo'), octet_length('é'), upper('straße'), lower('ÄB'), length('ab '::char(3)), upper(null)"),
        ["5", "2", "STRAßE", "äb", "2", "NULL"]
    );
}

#[test]
fn functions_resolve_and_report_like_postgres() {
    assert_eq!(
        row("select abs(-3), abs(-1.5), abs('-5'), sqrt(4::int), round(2.5), round(2.5::float8), round(1234.5, -2), mod(-7, 3), floor(-1.5), ceil(1.2)"),
        ["3", "1.5", "5", "2", "3", "2", "1200", "-1", "-2", "2"]
    );
    assert_eq!(
        columns("select abs('-5'), round(1), length(null)")
            .iter()
            .map(|c| c.1)
            .collect::<Vec<_>>(),
        [701, 701, 23]
    );
    assert_eq!(
        row("select pg_typeof(1), pg_typeof('a'), pg_typeof(1.5 + 1::float4), pg_typeof('x'::varchar(3))"),
        ["integer", "unknown", "double precision", "character varying"]
    );
    let not_found = "No function matches the given name and argument types. You might need to add explicit type casts.";
    let e = run("select foo(1)").unwrap_err();
    assert_eq!(
        (e.sqlstate, e.message.as_str(), e.position),
        ("42883", "function foo(integer) does not exist", Some(8))
    );
    assert_eq!(e.hint.as_deref(), Some(not_found));
    assert_eq!(
        error("select length(1)").1,
        "function length(integer) does not exist"
    );
    assert_eq!(
        error("select public.foo(1)").1,
        "function public.foo(integer) does not exist"
    );
    assert_eq!(
        error("select foo(1, 2.5, 'a', null)").1,
        "function foo(integer, numeric, unknown, unknown) does not exist"
    );
    assert_eq!(error("select row_number() over ()").0, "0A000");
}

#[test]
fn aggregates_without_from_see_one_row() {
    // Results checked against PostgreSQL 15.
    assert_eq!(row("select count(*)"), ["1"]);
    assert_eq!(row("select count(*) where false"), ["0"]);
    assert_eq!(
        row("select sum(1), avg(2), max('a'), min(2.5), bool_and(true)"),
        ["1", "2.0000000000000000", "a", "2.5", "t"]
    );
    assert_eq!(row("select sum(1) where false"), ["NULL"]);
    assert_eq!(
        columns("select sum(1), sum(1::int8), avg(1.5::float4)"),
        [
            ("sum".to_string(), 20, -1),
            ("sum".to_string(), 1700, -1),
            ("avg".to_string(), 701, -1)
        ]
    );
    assert_eq!(
        error("select count(*) where count(*) > 0"),
        (
            "42803",
            "aggregate functions are not allowed in WHERE".to_string(),
            Some(23)
        )
    );
    assert_eq!(
        error("select sum(sum(1))"),
        (
            "42803",
            "aggregate function calls cannot be nested".to_string(),
            Some(12)
        )
    );
    assert_eq!(
        error("select sum('a')"),
        (
            "42725",
            "function sum(unknown) is not unique".to_string(),
            Some(8)
        )
    );
    assert_eq!(
        error("select min(true)"),
        (
            "42883",
            "function min(boolean) does not exist".to_string(),
            Some(8)
        )
    );
}
