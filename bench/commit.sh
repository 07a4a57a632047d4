#!/usr/bin/env bash
# Commit benchmark: single-row INSERT transactions with real pgbench
# (`pgbench -n -f insert.sql`), 1 and 8 clients, synchronous_commit on and off, for
# Quill and PostgreSQL 15 on the same machine in the same run. Prints commits/s (the
# median of ROUNDS runs, Quill and PostgreSQL alternating), the Quill/PostgreSQL ratio,
# the mean latency of the median run, and WAL flushes (fdatasyncs) per commit: group
# commit at work. Quill is restarted for every case and its flushes are read from its
# shutdown log line ("WAL statistics: ... N flushes since start"); PostgreSQL's from
# pg_stat_wal.wal_sync, reset before every case. Commits are pgbench's "number of
# transactions actually processed", summed over the rounds. The reference for commit
# latency is one fdatasync of an 8 KiB write as pg_test_fsync measures it on the same
# file system, taken before and after the synchronous 1-client case (the mean of both).
# Next to the whole-transaction latency pgbench sees (client round trip, parse and
# execution included), Quill's own figure for the commit alone is printed: the mean
# time its synchronous commits waited from asking for the flush of their commit
# record to having it durable (same shutdown log line).
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
stop_quill() { # prints the flushes of the server's life that just ended, and the mean
  # wait of its synchronous commits for durability in µs
  "$QUILL" stop -D "$TMP/quill" -m fast >/dev/null
  grep "WAL statistics" "$TMP/quill.log" | tail -1 \
    | sed 's/.* \([0-9]*\) flushes since start.* waited \([0-9]*\) us.*/\1 \2/'
}
start_pg() { # synchronous_commit
  as_pg "$PGBIN/pg_ctl" -D "$TMP/pg" -l "$TMP/pg.log" \
    -o "-p $PPORT -k $TMP -c listen_addresses=127.0.0.1 -c synchronous_commit=$1" start >/dev/null
}
sql() { psql -X -q -At -h 127.0.0.1 -p "$1" -U "$USER_NAME" -d postgres -c "$2"; }
run_pgbench() { # port clients threads -> "tps transactions latency_ms"
  pgbench -n -f "$TMP/insert.sql" -c "$2" -j "$3" -T "$SECONDS_PER_RUN" -h 127.0.0.1 -p "$1" \
    -U "$USER_NAME" postgres 2>/dev/null | awk '
      /^number of transactions actually processed/ {n = $NF}
      /^latency average/ {l = $4}
      /^tps/ {t = $3}
      END {print t, n, l}'
}

fdatasync_us() { # pg_test_fsync's "fdatasync" with one 8 kB write, in µs per operation
  "$PGBIN/pg_test_fsync" -s 1 -f "$TMP/pg_test_fsync.out" 2>/dev/null \
    | awk '/^ +fdatasync / {print $(NF-1); exit}'
}

start_quill on
sql "$QPORT" "create table bench_insert (id int4, v text)" >/dev/null
stop_quill >/dev/null
printf '%-22s %10s %10s %6s %9s %9s %10s %10s\n' "case" "quill tps" "pg tps" "ratio" \
  "quill ms" "pg ms" "quill fl/c" "pg fl/c"
for sync in on off; do
  start_pg "$sync"
  sql "$PPORT" "create table if not exists bench_insert (id int4, v text)" 2>/dev/null
  for clients in 1 8; do
    threads=$(( clients > 1 ? 2 : 1 ))
    [ "$sync$clients" = on1 ] && fsync_before=$(fdatasync_us)
    start_quill "$sync"
    sql "$PPORT" "select pg_stat_reset_shared('wal')" >/dev/null
    q=(); p=(); qn=0; pn=0
    for _ in $(seq "$ROUNDS"); do
      read -r t n l <<<"$(run_pgbench "$QPORT" "$clients" "$threads")"; q+=("$t $l"); qn=$((qn + n))
      read -r t n l <<<"$(run_pgbench "$PPORT" "$clients" "$threads")"; p+=("$t $l"); pn=$((pn + n))
    done
    pg_syncs=$(sql "$PPORT" "select wal_sync from pg_stat_wal")
    read -r quill_syncs quill_wait_us <<<"$(stop_quill)"
    read -r qt ql <<<"$(printf '%s\n' "${q[@]}" | sort -n | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}')"
    read -r pt pl <<<"$(printf '%s\n' "${p[@]}" | sort -n | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}')"
    awk -v c="sync=$sync clients=$clients" -v qt="$qt" -v pt="$pt" -v ql="$ql" -v pl="$pl" \
      -v qs="$quill_syncs" -v qn="$qn" -v ps="$pg_syncs" -v pn="$pn" \
      'BEGIN {printf "%-22s %10.0f %10.0f %6.2f %9.3f %9.3f %10.3f %10.3f\n", c, qt, pt, qt/pt, ql, pl, qs/qn, ps/pn}'
    if [ "$sync$clients" = on1 ]; then
      fsync_after=$(fdatasync_us)
      awk -v a="$fsync_before" -v b="$fsync_after" -v ql="$ql" -v pl="$pl" -v qw="$quill_wait_us" 'BEGIN {
        f = (a + b) / 2000
        printf "  one fdatasync (pg_test_fsync, 8kB): %.3f ms (%s, %s us); 1-client latency / fdatasync: quill %.2fx, pg %.2fx\n", f, a, b, ql / f, pl / f
        printf "  quill server-side commit wait (commit record to durable): %.3f ms = %.2fx fdatasync\n", qw / 1000, qw / 1000 / f}'
    fi
  done
  as_pg "$PGBIN/pg_ctl" -D "$TMP/pg" -m fast stop >/dev/null
done
