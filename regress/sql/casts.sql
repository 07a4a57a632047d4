--
-- CASTS
-- Conversions with ::type and CAST(... AS type) between int2, int4, int8, text,
-- bool, float8 and numeric, and the invalid-input and out-of-range errors.
--
-- text to numbers
select '42'::int, ' 42 '::int, '-7'::int, '+7'::int;
select '9223372036854775807'::int8, '-32768'::int2, '0'::int8;
select cast('12' as int), cast('12' as int8), cast('12' as smallint), cast('12' as integer);
select '1.5'::float8, '-0'::float8, '1e10'::float8, '  3.25  '::float8;
select 'NaN'::float8, 'Infinity'::float8, '-inf'::float8;
select '1.50'::numeric, cast('007' as numeric);
-- numbers to text
select 42::text, (-42)::text, 1.50::text, 2.5::float8::text, cast(12 as text);
select 1e15::float8::text, 1e16::float8::text, 0.1::float8::text;
select length(12345::text), 1 || 2::text;
-- between numeric types: numeric and float8 round to integers differently
select 3.7::int, 2.5::int, -2.5::int, 3.5::int8, 2.5::int2;
select 2.5::float8::int, 3.5::float8::int, -2.5::float8::int, 2.7::float8::int8;
select 7::float8, 7::numeric, 7::int8::int2, 1.25::float8::numeric;
select cast(1 as float8) / 4, cast(10 as numeric) / 4;
-- booleans
select 't'::bool, 'true'::bool, 'yes'::bool, 'on'::bool, '1'::bool;
select 'f'::bool, 'FALSE'::bool, 'no'::bool, 'off'::bool, '0'::bool, ' true '::bool;
select true::text, false::text, cast(true as text), 1::bool, 0::bool, true::int;
-- casts of NULL
select null::int, null::bool, cast(null as text), null::float8 is null;
-- nested casts
select '12'::int::text || '3', ('1' || '2')::int + 1;
-- invalid input syntax
select 'abc'::int;
select ''::int;
select '1.5'::int;
select '12abc'::int8;
select 'x'::int2;
select 'maybe'::bool;
select ''::bool;
select 'abc'::float8;
select '1.5.5'::numeric;
select cast('seven' as integer);
-- out of range input
select '2147483648'::int;
select '99999'::int2;
select '9223372036854775808'::int8;
select '1e400'::float8;
-- out of range conversions
select 2147483648::int8::int;
select 70000::int2;
select 1e10::float8::int;
select 1e20::int8;
select 'NaN'::float8::int;
-- the statement after an error runs normally
select '1'::int as still_works;
