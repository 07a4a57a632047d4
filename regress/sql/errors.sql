--
-- ERRORS
-- Syntax errors with their position (LINE n: and a caret), unknown functions, columns
-- and relations, and empty statements.
--
-- empty statements
;
;;
select 1 as after_empty;;
-- syntax errors
selec 1;
select 1 +;
select 1 2;
select from where;
select 1 as;
select 'one' 'two';
select 1,
  2 +,
  3;
select
  case when true then 1
  else 2;
-- unknown names
select nosuchcolumn;
select 1 + nosuchcolumn as x;
select nosuchfunction();
select nosuchfunction(1, 'a');
select length(1, 2);
select upper(42);
select * from nosuchtable;
select 1 from nosuchschema.nosuchtable;
-- type errors
select 'a' + 1;
select true + 1;
select 1 and true;
select case when 1 then 2 end;
select 'abc' || true, 1 || true;
select 1 = 'a';
-- the session still works
select 'done' as ok;
-- psql sends an unterminated last statement at the end of the script
select 1 +
