-- char(n) columns: blank-padded, trailing spaces insignificant, length enforced
create table ct_char (a char, b char(3), c character(2), d bpchar(4));
insert into ct_char values ('x', 'ab', 'a', 'abc');
insert into ct_char values ('y', 'abc   ', NULL, '');
insert into ct_char values ('xy');
insert into ct_char (b) values ('abcd');
select a, b, b || '|' as b_text, c, length(b), octet_length(b), d from ct_char order by a;
select a from ct_char where b = 'ab';
select a from ct_char where b = 'ab ';
update ct_char set c = 'zz' where a = 'x';
update ct_char set c = 'zzz' where a = 'x';
select a, c from ct_char order by a;
drop table ct_char;
-- storage parameters: fillfactor is checked as PostgreSQL checks it
create table ct_ff (a int4) with (fillfactor = 100);
insert into ct_ff values (1);
select * from ct_ff;
drop table ct_ff;
create table ct_ff (a int4) with (fillfactor = 5);
create table ct_ff (a int4) with (fillfactor = 'abc');
create table ct_ff (a int4) with (foo = 5);
-- types a column cannot have yet are refused before anything is written
create table ct_bad (a nosuchtype);
create table ct_bad (a varchar(0));
create table ct_bad (a char(0));
create table ct_bad (a int4(3));
