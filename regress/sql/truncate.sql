--
-- TRUNCATE: transactional, one or several tables, and PostgreSQL's errors
--
CREATE TABLE trunc_a (x int, y text);
CREATE TABLE trunc_b (z bool);
INSERT INTO trunc_a VALUES (1, 'one'), (2, 'two');
INSERT INTO trunc_b VALUES (true);
TRUNCATE trunc_a;
SELECT * FROM trunc_a;
SELECT * FROM trunc_b;
-- the table still takes rows
INSERT INTO trunc_a VALUES (3, 'three');
SELECT * FROM trunc_a;
-- rolled back: the rows come back
BEGIN;
TRUNCATE TABLE trunc_a, trunc_b;
SELECT count(*) FROM trunc_a;
SELECT count(*) FROM trunc_b;
ROLLBACK;
SELECT * FROM trunc_a;
SELECT * FROM trunc_b;
-- truncate, insert, truncate again, insert, in one transaction
BEGIN;
TRUNCATE trunc_a;
INSERT INTO trunc_a VALUES (4, 'four');
SELECT * FROM trunc_a;
TRUNCATE trunc_a;
INSERT INTO trunc_a VALUES (5, 'five');
COMMIT;
SELECT * FROM trunc_a;
-- the same, rolled back
BEGIN;
TRUNCATE trunc_a;
INSERT INTO trunc_a VALUES (6, 'six');
TRUNCATE trunc_a;
ROLLBACK;
SELECT * FROM trunc_a;
-- a table created in the transaction
BEGIN;
CREATE TABLE trunc_c (x int);
INSERT INTO trunc_c VALUES (1);
TRUNCATE trunc_c;
INSERT INTO trunc_c VALUES (2);
SELECT * FROM trunc_c;
COMMIT;
SELECT * FROM trunc_c;
-- options that change nothing here; a name twice
TRUNCATE ONLY trunc_b RESTART IDENTITY CASCADE;
TRUNCATE TABLE trunc_a, public.trunc_a CONTINUE IDENTITY RESTRICT;
SELECT * FROM trunc_a;
SELECT * FROM trunc_b;
-- errors: nothing is truncated
INSERT INTO trunc_a VALUES (7, 'seven');
TRUNCATE trunc_nosuch;
TRUNCATE trunc_a, trunc_nosuch;
TRUNCATE public.trunc_nosuch;
TRUNCATE nosuchschema.trunc_a;
TRUNCATE pg_class;
TRUNCATE TABLE pg_catalog.pg_attribute;
SELECT * FROM trunc_a;
-- an error inside a block aborts it; the truncate before it is undone
BEGIN;
TRUNCATE trunc_a;
TRUNCATE trunc_nosuch;
SELECT * FROM trunc_a;
ROLLBACK;
SELECT * FROM trunc_a;
-- truncate then drop in one transaction
BEGIN;
TRUNCATE trunc_c;
DROP TABLE trunc_c;
COMMIT;
SELECT * FROM trunc_c;
DROP TABLE trunc_a, trunc_b;
