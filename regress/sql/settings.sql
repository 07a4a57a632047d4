--
-- SETTINGS
-- SHOW, SET and RESET of session settings, SHOW of read-only server settings whose
-- values are the same in Quill and PostgreSQL, and the errors for unknown and
-- non-settable parameters.
--
-- read-only server settings
show server_encoding;
show integer_datetimes;
show max_identifier_length;
show block_size;
show standard_conforming_strings;
show is_superuser;
-- settings sent by psql at connection start (PGAPPNAME, PGDATESTYLE, PGTZ)
show application_name;
show DateStyle;
show TimeZone;
-- names are case-insensitive; the column takes the name as written
show datestyle;
show APPLICATION_NAME;
-- SET, SHOW, RESET
set application_name = 'regress app';
show application_name;
set application_name to other_name;
show application_name;
reset application_name;
show application_name;
show extra_float_digits;
set extra_float_digits = 0;
show extra_float_digits;
select 0.1::float8 + 0.2::float8, 1::float8 / 3;
set extra_float_digits = -3;
select 0.1::float8 + 0.2::float8, 1::float8 / 3, 1e16::float8;
set extra_float_digits = 3;
select 0.1::float8 + 0.2::float8, 1::float8 / 3;
reset extra_float_digits;
select 0.1::float8 + 0.2::float8, 1::float8 / 3;
show search_path;
set search_path = public;
show search_path;
set search_path to pg_catalog, public;
show search_path;
set search_path = default;
show search_path;
show statement_timeout;
set statement_timeout = 1000;
show statement_timeout;
set statement_timeout = '2min';
show statement_timeout;
set statement_timeout to default;
show statement_timeout;
-- statement_timeout cancels a statement that runs too long
set statement_timeout = 10;
select pg_sleep(0.5);
select 'not canceled' as quick;
reset statement_timeout;
-- SET inside a transaction is undone by ROLLBACK and kept by COMMIT
begin;
set application_name = 'rolled back';
show application_name;
rollback;
show application_name;
begin;
set application_name = 'committed';
commit;
show application_name;
reset application_name;
-- errors
show no_such_setting;
set no_such_setting = 1;
reset no_such_setting;
set port = 1;
set server_version = '1';
set extra_float_digits = 'abc';
set extra_float_digits = 10;
set statement_timeout = 'soon';
-- the session still works after the errors
show extra_float_digits;
