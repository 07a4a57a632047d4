--
-- DROP TABLE, and varchar(n) columns
--
CREATE TABLE ddl_a (x int, y text);
INSERT INTO ddl_a VALUES (1, 'one'), (2, 'two');
SELECT * FROM ddl_a;
DROP TABLE ddl_a;
SELECT * FROM ddl_a;
DROP TABLE ddl_a;
DROP TABLE IF EXISTS ddl_a;
DROP TABLE IF EXISTS ddl_a, ddl_b;
-- recreate with another shape
CREATE TABLE ddl_a (z bool);
INSERT INTO ddl_a VALUES (true);
SELECT * FROM ddl_a;
-- several at once; a missing one drops none
CREATE TABLE ddl_b (x int);
DROP TABLE ddl_a, ddl_nosuch, ddl_b;
SELECT * FROM ddl_a;
SELECT * FROM ddl_b;
DROP TABLE IF EXISTS ddl_a, ddl_nosuch, ddl_b;
SELECT * FROM ddl_a;
-- the same name twice
CREATE TABLE ddl_c (x int);
DROP TABLE ddl_c, ddl_c;
DROP TABLE IF EXISTS ddl_c, ddl_c;
SELECT * FROM ddl_c;
-- CASCADE and RESTRICT
CREATE TABLE ddl_d (x int);
DROP TABLE ddl_d CASCADE;
CREATE TABLE ddl_d (x int);
DROP TABLE ddl_d RESTRICT;
-- qualified names
CREATE TABLE ddl_e (x int);
DROP TABLE public.ddl_e;
DROP TABLE public.ddl_e;
DROP TABLE nosuch_schema.ddl_e;
DROP TABLE IF EXISTS nosuch_schema.ddl_e;
DROP TABLE a.b.c.d;
DROP TABLE other_db.public.ddl_e;
-- system catalogs cannot be dropped
DROP TABLE pg_class;
DROP TABLE pg_catalog.pg_attribute;
DROP TABLE IF EXISTS pg_namespace;
DROP TABLE ddl_nosuch, pg_class;
-- transactions
CREATE TABLE ddl_f (x int);
INSERT INTO ddl_f VALUES (1);
BEGIN;
DROP TABLE ddl_f;
SELECT * FROM ddl_f;
ROLLBACK;
SELECT * FROM ddl_f;
BEGIN;
DROP TABLE ddl_f;
COMMIT;
SELECT * FROM ddl_f;
BEGIN;
CREATE TABLE ddl_g (x int);
INSERT INTO ddl_g VALUES (7);
SELECT * FROM ddl_g;
DROP TABLE ddl_g;
SELECT * FROM ddl_g;
COMMIT;
SELECT * FROM ddl_g;
BEGIN;
CREATE TABLE ddl_h (x int);
DROP TABLE ddl_h;
CREATE TABLE ddl_h (y text);
INSERT INTO ddl_h VALUES ('again');
COMMIT;
SELECT * FROM ddl_h;
DROP TABLE ddl_h;
-- varchar(n)
CREATE TABLE ddl_v (v varchar(3), w varchar(10), t text);
INSERT INTO ddl_v VALUES ('abcd', 'x', 'y');
INSERT INTO ddl_v VALUES ('abc  ', 'x', 'y');
INSERT INTO ddl_v VALUES ('ab', '0123456789', 'long text is fine here');
INSERT INTO ddl_v VALUES ('ab', '01234567890', 'y');
INSERT INTO ddl_v (w) VALUES ('only w');
SELECT * FROM ddl_v;
DROP TABLE ddl_v;
-- nothing new goes into pg_catalog
create table pg_catalog.not_allowed (a int4);
