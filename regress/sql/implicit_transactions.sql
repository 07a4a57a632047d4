-- Several statements in one Query message (psql's \;) form one implicit
-- transaction block.
create table implicit_t (a int4, b text);
insert into implicit_t values (1, 'one') \; insert into implicit_t values (2, 'two');
select * from implicit_t;
-- an error undoes the whole message, and later statements do not run
insert into implicit_t values (3, 'three') \; select 1/0 \; insert into implicit_t values (4, 'four');
select * from implicit_t;
-- COMMIT inside the block commits what came before it, with a warning
insert into implicit_t values (5, 'five') \; commit \; insert into implicit_t values (6, 'six') \; select 1/0;
select * from implicit_t;
-- ROLLBACK inside the block undoes what came before it
insert into implicit_t values (7, 'seven') \; rollback \; insert into implicit_t values (8, 'eight');
select * from implicit_t;
-- BEGIN turns the block into an explicit one
insert into implicit_t values (9, 'nine') \; begin \; insert into implicit_t values (10, 'ten');
rollback;
select * from implicit_t;
-- settings: an error undoes SET, SET LOCAL lasts until the block ends
set work_mem = '2MB' \; select 1/0;
show work_mem;
set local work_mem = '3MB' \; show work_mem;
show work_mem;
