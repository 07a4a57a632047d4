--
-- TRANSACTIONS
-- BEGIN, COMMIT, ROLLBACK and their synonyms; the failed-transaction state; the
-- warnings for COMMIT/ROLLBACK outside a transaction and BEGIN inside one.
--
begin;
select 1 as in_transaction;
commit;
begin;
select 2 as in_transaction;
rollback;
start transaction;
select 3 as in_transaction;
end;
begin work;
select 4 as in_transaction;
abort;
begin transaction;
commit transaction;
begin;
rollback work;
-- an error aborts the transaction: later statements are refused until it ends
begin;
select 1 / 0;
select 1;
select 'still refused';
rollback;
select 'after rollback' as ok;
-- COMMIT of a failed transaction rolls back
begin;
select 'abc'::int;
commit;
select 'after commit of failed transaction' as ok;
-- ... and so undoes a SET made in it
begin;
set application_name = 'never committed';
select 1 / 0;
commit;
show application_name;
-- a syntax error aborts it too
begin;
selec 1;
select 1;
rollback;
-- ending a transaction that is not there
commit;
rollback;
end;
abort;
-- beginning one twice
begin;
begin;
select 'still in the first transaction' as ok;
commit;
commit;
-- several statements in one query string (psql's \;) run as one implicit transaction:
-- an error stops the rest and undoes the earlier ones
select 1 as first \; select 2 as second;
set application_name = 'implicit' \; select 1 / 0 \; select 'not run';
show application_name;
begin \; select 'explicit' as inside \; commit;
-- an error outside a transaction block affects only its own statement
select 1 / 0;
select 'next statement' as ok;
