--
-- CATALOGS
-- The system catalogs are tables: unqualified names find pg_catalog first, then
-- public; oid, name and "char" columns read and compare as in PostgreSQL. Quill
-- has fewer catalog rows and columns than PostgreSQL, so every query here picks
-- rows both have.
--
create table cat_t (cat_id int not null, cat_name varchar(10), cat_flag bool);
create table cat_u (cat_big bigint);
select relname, relkind, relnatts, relpersistence, relisshared
  from pg_class where relnamespace = 2200 order by relname;
select relname, relkind from pg_catalog.pg_class where relname = 'pg_class';
select oid, relname, relnamespace, relkind from pg_class
  where oid in (1247, 1249, 1259) order by oid;
select relkind, count(*) from pg_class where relnamespace = 2200 group by relkind;
select count(*) from pg_class where relname in ('cat_t', 'cat_u', 'pg_type');
select attname, atttypid, attlen, attnum, attnotnull, atttypmod, attisdropped
  from pg_attribute where attname like 'cat\_%' and attnum > 0 order by attname;
select count(*) > 0 as has_columns from pg_attribute;
select nspname, oid from pg_namespace where nspname in ('pg_catalog', 'public') order by oid;
select typname, typlen, typbyval, typcategory, typispreferred, typelem, typarray
  from pg_type where oid in (16, 18, 19, 20, 21, 23, 25, 26, 700, 701, 1043) order by oid;
select pg_typeof(oid), pg_typeof(relname), pg_typeof(relkind), pg_typeof(relnatts),
       pg_typeof(reltuples) from pg_class where relname = 'pg_class';
-- oid and "char" behave as in PostgreSQL
select 1259::oid, '1259'::oid = 1259, (-1)::oid, 4294967295::oid::int4, 12::oid::int8;
select 'r'::"char", 'rel'::"char", ''::"char" = '', 65::"char", 'A'::"char"::int;
select relkind = 'r' as is_table, relkind::text from pg_class where relname = 'cat_t';
select max(oid) >= 1259 as big_enough, min(relkind::text) <= 'r' as kinds from pg_class where relnamespace = 11;
select relnamespace + 1 from pg_class;
select '-5000000000'::oid;
select 'x'::oid;
-- a public table shadows nothing in pg_catalog: pg_catalog comes first
create table pg_class (x int);
select count(*) > 1 from pg_class;
select count(*) from public.pg_class;
drop table public.pg_class;
drop table cat_t;
drop table cat_u;
select relname from pg_class where relnamespace = 2200;
