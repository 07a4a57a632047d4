-- COPY FROM STDIN / TO STDOUT in text format
CREATE TABLE copy_t (a int4 NOT NULL, b text, c varchar(3));
COPY copy_t FROM stdin;
1	hello	abc
2	\N	\N
3	tab\there\\back\nnl	x
4		
\.
SELECT a, b, c, b IS NULL AS b_null FROM copy_t ORDER BY a;
COPY copy_t TO stdout;
COPY copy_t (c, a) TO stdout WITH (DELIMITER '|', NULL 'NULL');
COPY copy_t (a) TO stdout WITH (HEADER);
-- column lists: the others are NULL
COPY copy_t (b, a) FROM stdin;
x	10
\.
SELECT * FROM copy_t WHERE a = 10;
-- octal and hex escapes, an escaped delimiter
COPY copy_t FROM stdin WITH (DELIMITER ',');
11,\101\x42\,c,z
\.
SELECT * FROM copy_t WHERE a = 11;
-- bad data
COPY copy_t FROM stdin;
20	ok	ok
x	y	z
\.
COPY copy_t FROM stdin;
21
\.
COPY copy_t FROM stdin;
22	a	b	c
\.
COPY copy_t FROM stdin;
\N	a	b
\.
COPY copy_t FROM stdin;
23	a	abcd
\.
SELECT count(*) FROM copy_t;
-- options
COPY copy_t FROM stdin WITH (FREEZE);
24	a	b
\.
COPY copy_t FROM stdin WITH (FREEZE false);
\.
-- (psql sends a COPY's data lines even when the COPY fails at once)
COPY copy_t FROM stdin WITH (DELIMITER ',,');
\.
COPY copy_t FROM stdin WITH (bogus 1);
\.
COPY copy_t FROM stdin WITH (FREEZE, FREEZE);
\.
COPY copy_t FROM stdin WITH (FORMAT xx);
\.
COPY copy_t (a, zz) FROM stdin;
\.
COPY copy_t (a, a) FROM stdin;
\.
COPY nosuch FROM stdin;
\.
-- COPY TO with another delimiter
COPY copy_t (a) TO stdout WITH (DELIMITER ';');
-- FREEZE on a table created in the same transaction
BEGIN;
CREATE TABLE copy_f (a int4);
COPY copy_f FROM stdin WITH (FREEZE on);
1
2
\.
COMMIT;
SELECT * FROM copy_f;
-- COPY inside a transaction that rolls back
BEGIN;
COPY copy_f FROM stdin;
3
\.
SELECT count(*) FROM copy_f;
ROLLBACK;
SELECT count(*) FROM copy_f;
DROP TABLE copy_t;
DROP TABLE copy_f;
-- CSV
CREATE TABLE copy_c (a int4, b text, c text);
COPY copy_c FROM stdin WITH (FORMAT csv);
1,"",
2,"x,y","q""z"
3,"l1
l2", sp 
\.
COPY copy_c FROM stdin WITH (FORMAT csv, HEADER, DELIMITER ';', QUOTE '''', NULL 'nil');
a;b;c
4;'it''s';nil
\.
COPY copy_c FROM stdin CSV;
5,"unterminated
\.
SELECT a, b, c, b IS NULL AS b_null, c IS NULL AS c_null FROM copy_c ORDER BY a;
COPY copy_c TO stdout WITH (FORMAT csv);
COPY copy_c (b) TO stdout WITH (FORMAT csv);
COPY copy_c TO stdout WITH (FORMAT csv, HEADER, DELIMITER ';');
COPY copy_c TO stdout WITH (QUOTE '"');
DROP TABLE copy_c;
