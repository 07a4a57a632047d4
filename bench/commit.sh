#!/usr/bin/env bash
# Commit benchmark: single-row INSERT transactions with real pgbench
# (`pgbench -n -f insert.sql`), 1 and 8 clients, synchronous_commit on and off, for
# Quill and PostgreSQL 15 on the same machine in the same run. Prints commits/s, the
# Quill/PostgreSQL ratio, and WAL flushes per commit (group commit at work: Quill
# from its shutdown log line, PostgreSQL from pg_stat_wal.wal_sync).
#
# Usage: bash bench/commit.sh [SECONDS=10] [ROUNDS=3]
source "$(dirname "$0")/lib.sh"
SECONDS_PER_RUN=${1:-10}
ROUNDS=${2:-3}
echo "insert into bench_insert values (1, 'payload');" > "$TMP/insert.sql"

start_quill() { # synchronous_commit
  "$QUILL" start -D "$TMP/quill" -c port="$QPORT" -c unix_socket_directories="$TMP" \
    -c listen_addresses=127.0.0.1 -c synchronous_commit="$1" >>"$TMP/quill.log" 2>&1 &
  until pg_isready -q -h 127.0.0.1 -p "$QPORT"; do sleep 0.05; done
}
start_pg() { # synchronous_commit
  as_pg "$PGBIN/pg_ctl" -D "$TMP/pg" -l "$TMP/pg.log" \
    -o "-p $PPORT -k $TMP -c listen_addresses=127.0.0.1 -c synchronous_commit=$1" start >/dev/null
}
sql() { psql -X -q -At -h 127.0.0.1 -p "$1" -U "$USER_NAME" -d postgres -c "$2"; }
tps() { # port clients threads
  pgbench -n -f "$TMP/insert.sql" -c "$2" -j "$3" -T "$SECONDS_PER_RUN" -h 127.0.0.1 -p "$1" \
    -U "$USER_NAME" postgres 2>/dev/null | awk '/^tps/ {print $3}'
}

printf '%-30s %12s %12s %7s %14s %14s\n' "case" "quill tps" "pg tps" "ratio" "quill flush/c" "pg flush/c"
for sync in on off; do
  start_quill "$sync"; start_pg "$sync"
  sql "$QPORT" "create table if not exists bench_insert (id int4, v text)" 2>/dev/null \
    || sql "$QPORT" "create table bench_insert (id int4, v text)" 2>/dev/null || true
  sql "$PPORT" "create table if not exists bench_insert (id int4, v text)"
  for clients in 1 8; do
    threads=$(( clients > 1 ? 2 : 1 ))
    sql "$PPORT" "select pg_stat_reset_shared('wal')" >/dev/null
    q=(); p=()
    for _ in $(seq "$ROUNDS"); do
      q+=("$(tps "$QPORT" "$clients" "$threads")")
      p+=("$(tps "$PPORT" "$clients" "$threads")")
    done
    qt=$(printf '%s\n' "${q[@]}" | median); pt=$(printf '%s\n' "${p[@]}" | median)
    pg_syncs=$(sql "$PPORT" "select wal_sync from pg_stat_wal")
    pg_commits=$(awk -v t="$pt" -v s="$SECONDS_PER_RUN" -v r="$ROUNDS" 'BEGIN {print t*s*r}')
    awk -v c="sync=$sync clients=$clients" -v qt="$qt" -v pt="$pt" -v ps="$pg_syncs" -v pc="$pg_commits" \
      'BEGIN {printf "%-30s %12.0f %12.0f %7.2f %14s %14.3f\n", c, qt, pt, qt/pt, "(below)", ps/pc}'
  done
  "$QUILL" stop -D "$TMP/quill" -m fast >/dev/null
  as_pg "$PGBIN/pg_ctl" -D "$TMP/pg" -m fast stop >/dev/null
  stats=$(grep "WAL statistics" "$TMP/quill.log" | tail -1 | sed 's/.*WAL statistics: //')
  echo "  quill (sync=$sync, both client counts, all rounds): $stats"
done
