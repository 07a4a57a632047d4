--
-- ARITHMETIC
-- Operators + - * / % on smallint, integer, bigint, numeric and float8 constants,
-- comparisons, and the out-of-range and division-by-zero errors.
--
-- integer arithmetic and precedence
select 1 + 2, 7 - 10, 6 * 7, 7 / 2, -7 / 2, 7 % 3, -7 % 3, 7 % -3;
select 2 + 3 * 4, (2 + 3) * 4, -2 * -3, - (1 + 1);
select 10 - 2 - 3, 100 / 10 / 5, 2 * 3 % 4;
-- mixed widths: the result takes the wider type
select 32767::int2 + 1, 2147483647 + 1::int8, 3::int2 * 4::int2;
select 9223372036854775807 - 1, -9223372036854775807 - 1;
-- numeric
select 1.5 + 2.25, 1.5 - 2, 1.5 * 2, 0.1 + 0.2, 2.50 * 2.0;
select 1 + 1.5, 10 % 3.5;
select 10.0 / 3, 1 / 3.0, 2.0 / 4, 7 / 2.0, -7.5 / 2;
select 0.1 + 0.2 = 0.3, 1.10 = 1.1, 2.5 > 2.49, -0.0;
-- float8
select 1.5::float8 + 2.25::float8, 0.1::float8 + 0.2::float8, 1::float8 / 3;
select 2::float8 * 3, -1.5::float8, 1e100::float8 * 1e100::float8;
select 7::float8 / 2, 5 - 0.5::float8;
select 1e15::float8, 1e16::float8, 123456789012345678::float8, 1e-4::float8, 1e-5::float8;
select 100::float8 / 7, -1::float8 / 3, 2::float8 ^ 10;
-- comparisons
select 1 < 2, 1 <= 1, 2 > 3, 3 >= 3, 1 = 1, 1 <> 2, 1 != 1;
select 'abc' = 'abc', 'abc' < 'abd', 'b' > 'abc', '' = '';
select 1 = 1.0, 1.5 > 1, 2::int8 = 2::int2, 0.1::float8 + 0.2::float8 = 0.3::float8;
select true = true, true > false, null = null, 1 = null, null <> 1;
select 1 < 2 and 2 < 3, 1 > 2 or 2 > 3;
-- integer overflow
select 2147483647 + 1;
select -2147483647 - 2;
select 1073741824 * 2;
select (-2147483647 - 1) / -1;
select 9223372036854775807 + 1;
select -9223372036854775807 - 2;
select 4611686018427387904 * 2;
select 32767::int2 + 1::int2;
select (-32768)::int2 * (-1)::int2;
select -(-2147483647 - 1);
-- division and modulo by zero
select 1 / 0;
select 1 % 0;
select 1::int8 / 0::int8;
select 1::int2 / 0::int2;
select 1.5 / 0;
select 1.5 % 0;
select 1::float8 / 0;
select 0::float8 / 0::float8;
-- float overflow and underflow
select 1e300::float8 * 1e300::float8;
select 1e-300::float8 * 1e-300::float8;
-- the statement after an error runs normally
select 1 + 1 as still_works;
