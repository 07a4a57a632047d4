--
-- AGGREGATES
-- count, sum, avg, min, max, bool_and/bool_or over one table, with and without
-- GROUP BY and HAVING; SELECT DISTINCT and DISTINCT ON; PostgreSQL's grouping
-- errors. Grouped output has no defined order: every multi-row query says ORDER BY.
--
create table agg_t (id int not null, g int, v int, big bigint, small smallint,
                    f float8, s text, vc varchar(5), ok bool);
insert into agg_t values
  (1, 1, 10, 100, 1, 1.5, 'a', 'x', true),
  (2, 1, 20, 200, 2, 2.5, 'b', 'y', true),
  (3, 2, null, null, null, null, null, null, null),
  (4, 2, 40, 9223372036854775807, 4, -0.5, 'd', 'x', false),
  (5, 3, 50, 9223372036854775807, 5, 0.25, 'b', 'y', true),
  (6, null, 60, 600, 6, 6, 'f', 'z', false);
-- whole-table aggregates and their result types
select count(*), count(v), count(s), count(distinct s), count(distinct vc) from agg_t;
select sum(v), sum(big), sum(small), sum(f), sum(f::real) from agg_t;
select avg(v), avg(big), avg(small), avg(f), avg(f::real) from agg_t;
select min(v), max(v), min(s), max(s), min(vc), max(vc), min(f), max(f) from agg_t;
select bool_and(ok), bool_or(ok), every(ok) from agg_t;
select pg_typeof(sum(v)), pg_typeof(sum(big)), pg_typeof(avg(v)), pg_typeof(avg(f)),
       pg_typeof(min(vc)), pg_typeof(count(*)) from agg_t;
select sum(distinct g), count(distinct g), avg(distinct v) from agg_t;
select count(*) filter (where ok), sum(v) filter (where g = 1) from agg_t;
select sum(v) + 1 as s1, max(v) - min(v) as spread, count(*) * 2 from agg_t;
select pg_catalog.count(*) from agg_t;
-- over no rows: count is 0, the others NULL
select count(*), count(v), sum(v), avg(v), min(s), bool_and(ok) from agg_t where id > 100;
-- without FROM
select count(*);
select count(*) where false;
select sum(1), avg(2), max('a'), min(2.5);
-- GROUP BY columns, expressions, positions and output names
select g, count(*), sum(v), min(s) from agg_t group by g order by g;
select g, count(*) from agg_t group by 1 order by 1 desc;
select g as grp, count(*) from agg_t group by grp order by grp nulls first;
select g * 10 as g10, count(*) from agg_t group by g * 10 order by g10;
select g + 1 from agg_t group by g order by 1;
select s, vc, count(*) from agg_t group by s, vc order by s, vc;
select count(*) from agg_t group by g order by count(*), 1;
select ok, count(*) from agg_t group by ok order by ok;
select g from agg_t where v > 10 group by g order by g;
select count(*) from agg_t where id > 100 group by g;
-- HAVING
select g, sum(v) from agg_t group by g having sum(v) > 40 order by g;
select g from agg_t group by g having count(*) > 1 order by g;
select g, count(*) from agg_t group by g having g > 1 order by g;
select count(*) from agg_t having count(*) > 100;
select 1 as one from agg_t having count(*) > 1;
-- ORDER BY over grouped output
select g, max(v) from agg_t group by g order by max(v) desc;
select vc, sum(v) from agg_t group by vc order by sum(v) desc nulls last, vc;
select g, count(*) from agg_t group by g order by g limit 2 offset 1;
-- errors
select g, v from agg_t group by g;
select v from agg_t group by g;
select agg_t.v from agg_t group by g;
select v + 1 from agg_t group by v + 2;
select g, count(*) from agg_t group by g order by v;
select count(*) from agg_t having v > 1;
select v, count(*) from agg_t;
select id from agg_t where count(*) > 1;
select sum(sum(v)) from agg_t;
select count(*) from agg_t group by count(*);
select id from agg_t limit count(*);
select g from agg_t group by 9;
select g from agg_t group by 'x';
select sum(s) from agg_t;
select sum('1') from agg_t;
select min(ok) from agg_t;
select count(v, g) from agg_t;
update agg_t set v = count(*);
delete from agg_t where sum(v) > 1;
insert into agg_t (id) values (count(*));
select a.v from agg_t a group by g;
-- overflow while summing a bigint column as numeric is fine; int sums in bigint
select sum(big) from agg_t where big > 1000;
-- DISTINCT
select distinct g from agg_t order by g;
select distinct vc, ok from agg_t order by vc, ok;
select distinct s from agg_t order by s desc;
select distinct g % 2 as parity from agg_t order by parity;
select distinct g, count(*) from agg_t group by g, v order by g;
select distinct on (vc) vc, id from agg_t order by vc, id desc;
select distinct on (g) g, v from agg_t order by g, v;
select distinct on (g) g, s from agg_t order by g nulls first, s desc;
select distinct s from agg_t order by id;
select distinct on (g) g, v from agg_t order by v;
drop table agg_t;
