--
-- DML
-- SELECT with WHERE and expressions over a table, UPDATE, DELETE, INSERT with
-- expressions; PostgreSQL's errors for column references and assignments.
-- (No DROP TABLE yet: every table has its own name and stays.)
--
create table dml_t (id int not null, v int, s text, ok bool);
insert into dml_t values (1, 10, 'a', true), (2, null, 'b', false), (3, 30, null, null);
insert into dml_t (id, s) values (2 * 2, 'd' || 'd');
insert into dml_t values (5, '50', 5, 't'), (5.5, 2.5, null, null);
select * from dml_t order by id;
-- WHERE with NULLs: three-valued logic
select id from dml_t where v > 20 order by id;
select id from dml_t where not (v > 20) order by id;
select id from dml_t where v = null;
select id from dml_t where v is null order by id;
select id from dml_t where v > 20 or s is not null order by id;
select id from dml_t where v > 20 and s is null;
select id from dml_t where ok order by id;
select id from dml_t where ok is not true order by id;
select id from dml_t where v in (10, null) order by id;
select id from dml_t where v not in (10, null);
select id from dml_t where coalesce(v, 0) between 0 and 10 order by id;
-- expressions and output names
select id, v + 1, v * 2 as dbl, -v, upper(s), s || '!', length(s), v > 10 from dml_t order by id;
select dml_t.id, x.* from dml_t x where x.id = 1;
select x.id, x.s from dml_t as x where x.id < 3 order by x.id desc;
select 'const' as c, 1 + 1 from dml_t where id = 1;
select id, case when v is null then 'none' when v > 20 then 'big' else 'small' end as size
  from dml_t order by 2, 1;
select id from dml_t order by v desc, id limit 3;
select id from dml_t order by v nulls first, id offset 2 limit 2;
select id as key from dml_t order by key limit 1;
-- errors
select x from dml_t;
select dml_t.x from dml_t;
select q.id from dml_t;
select dml_t.id from dml_t a;
select * from dml_t where v;
select * from dml_t where s;
select * from dml_t where s = 1;
select * from dml_t where id = 'abc';
select id from dml_t order by 7;
-- UPDATE
update dml_t set v = v + 1 where id = 1;
update dml_t set v = coalesce(v, 0) * 10, s = upper(s) where id <> 1;
select * from dml_t order by id;
update dml_t set v = v where false;
update dml_t set v = -1 where id = 99;
update dml_t set s = default where id = 4;
update dml_t t2 set v = t2.v + 1 where t2.id = 2;
select id, v, s from dml_t where id in (2, 4) order by id;
update dml_t set v = 'abc';
update dml_t set v = 'x'::text;
update dml_t set id = null where id = 1;
update dml_t set nosuch = 1;
update dml_t set v = nosuch;
update dml_t set v = 1, v = 2;
update dml_t set v = 1 where 1;
update dml_t t2 set v = dml_t.v;
update dml_t set v = 2147483647 + v where id = 1;
-- DELETE
delete from dml_t where v > 400;
delete from dml_t where id = 99;
select id from dml_t order by id;
delete from dml_t where nosuch = 1;
delete from dml_t a where dml_t.id = 1;
-- INSERT errors
insert into dml_t values (id);
insert into dml_t values (dml_t.id);
insert into dml_t values (null, 1);
insert into dml_t values (1, 'x'::text);
insert into dml_t values (1, 2147483648);
insert into dml_t values (1), (2, 3);
insert into dml_t values (1, 2, 'a', true, 5);
insert into dml_t (id, id) values (1, 2);
-- rollback of UPDATE and DELETE
begin;
update dml_t set v = 0;
delete from dml_t where id = 1;
select id, v from dml_t order by id;
rollback;
select id, v from dml_t order by id;
-- an UPDATE inside a transaction sees the transaction's earlier changes
begin;
insert into dml_t values (10, 100, 'ten', true);
update dml_t set v = v + 1 where id = 10;
update dml_t set v = v + 1 where id = 10;
delete from dml_t where id = 10 and v = 101;
select id, v from dml_t where id = 10;
commit;
select id, v, s from dml_t where id >= 10;
-- updating every row once, many times over (new versions never revisited)
create table dml_counter (n int not null, m int);
insert into dml_counter values (1, 0), (2, 0), (3, 0), (4, 0);
update dml_counter set m = m + n;
update dml_counter set m = m + n;
update dml_counter set m = m + n;
select n, m from dml_counter order by n;
delete from dml_counter where m % 2 = 0;
select n, m from dml_counter order by n;
