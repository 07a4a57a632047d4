--
-- SELECT_CONSTANTS
-- SELECT of constant expressions: literals of each type, NULL, column names and
-- aliases, boolean logic, CASE, COALESCE, NULLIF, || and a few built-in functions.
--
-- literals of each type, with their default column names
select 1;
select -42, 0;
select 2147483647, -2147483647;
select 2147483648, 9223372036854775807;
select 'hello';
select 'it''s', '';
select true, false;
select 1.5, -0.25, 1.50, 100.000;
select 1e3, 1.5e-3;
select null;
select '''', 'a''b' || 'c', 'tab	inside';
select -9223372036854775808, 9223372036854775808, 1.0e-10;
select null::int, null::text;
-- column aliases, with and without AS, quoted names keep their case
select 1 as one, 2 two, 'x' as "Mixed Case", 3 as "select";
select 1 AS A, 2 AS b;
select 1 as "a""b", 2 as "", 3 as "x y";
-- comments and line breaks inside a statement
select /* a block comment */ 1 as x, -- a line comment
  2 as y;
select
  1
  +
  2 as three;
-- several columns, several types
select 1, 'two', 3.0, true, null, 6::int8, 7::int2, 8.5::float8;
-- boolean logic and three-valued NULL
select true and false, true or false, not true, not false;
select true and null, false and null, true or null, false or null, not null::bool;
select null is null, 1 is null, null is not null, 1 is not null;
select true is true, null::bool is unknown, false is not false;
-- CASE, simple and searched
select case when 1 > 2 then 'a' when 2 > 1 then 'b' else 'c' end;
select case when false then 1 end;
select case 2 when 1 then 'one' when 2 then 'two' else 'many' end;
select case null::int when 1 then 'one' else 'other' end;
select case when true then 1 else 2.5 end, case when false then 1 else 2.5 end;
select case when 1 = 1 then 'yes' end as answer, case when 1 = 2 then 'yes' end as none;
-- COALESCE and NULLIF
select coalesce(null, 2, 3), coalesce(null::int, null), coalesce('a', 'b');
select nullif(1, 1), nullif(1, 2), nullif('a', 'b');
select coalesce(1, 2.5), coalesce(null, 'x'), coalesce(nullif(1, 1), 7);
-- concatenation
select 'abc' || 'def', 'abc' || null, 'x' || 1, 1 || 'x';
select 'a' || 'b' || 'c' as abc;
-- string functions
select length('hello'), length(''), length(null::text);
select upper('Hello World'), lower('Hello World'), upper(null::text);
select length(upper('abc') || lower('DEF'));
-- system information functions
select version() like 'PostgreSQL 15%' as is_pg15;
select current_database();
select current_user is not null as has_current_user, length(current_user) > 0 as named;
select pg_backend_pid() > 0 as has_pid;
select pg_sleep(0.01);
