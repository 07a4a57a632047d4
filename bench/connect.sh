#!/usr/bin/env bash
# Connection benchmark: time from start to accepting connections, the cost of a
# whole connection (fork + startup + `select 1` + exit) measured as N sequential
# `psql -c 'select 1'` runs, and pgbench's "average connection time" with -C (a new
# connection per transaction: the server's fork + startup + authentication alone) —
# for Quill and for PostgreSQL 15 on the same machine, in the same run. Prints each
# figure and the Quill/PostgreSQL ratio.
#
# Usage: bash bench/connect.sh [N=1000] [ROUNDS=3]
source "$(dirname "$0")/lib.sh"
N=${1:-1000}
ROUNDS=${2:-3}

now_ms() { date +%s%3N; }
wait_ready() { # host port
  until pg_isready -q -h "$1" -p "$2" -U "$USER_NAME" -d postgres; do sleep 0.002; done
}

start_quill() {
  "$QUILL" start -D "$TMP/quill" -c port="$QPORT" -c unix_socket_directories="$TMP" \
    -c listen_addresses=127.0.0.1 >>"$TMP/quill.log" 2>&1 &
}
start_pg() {
  as_pg "$PGBIN/pg_ctl" -D "$TMP/pg" -l "$TMP/pg.log" \
    -o "-p $PPORT -k $TMP -c listen_addresses=127.0.0.1" start >/dev/null
}
stop_quill() { "$QUILL" stop -D "$TMP/quill" -m fast >/dev/null; }
stop_pg() { as_pg "$PGBIN/pg_ctl" -D "$TMP/pg" -m fast stop >/dev/null; }


startup_ms() { # name
  local t0 t1
  t0=$(now_ms)
  if [ "$1" = quill ]; then start_quill; wait_ready "$TMP" "$QPORT"; else start_pg; wait_ready "$TMP" "$PPORT"; fi
  t1=$(now_ms)
  echo $((t1 - t0))
}

connections_ms() { # port
  local t0 t1
  t0=$(now_ms)
  for _ in $(seq "$N"); do
    psql -X -q -h 127.0.0.1 -p "$1" -U "$USER_NAME" -d postgres -c 'select 1' >/dev/null
  done
  t1=$(now_ms)
  echo $((t1 - t0))
}

pgbench_conn_ms() { # port -> average connection time in ms
  echo 'select 1;' > "$TMP/select1.sql"
  pgbench -n -C -M simple -f "$TMP/select1.sql" -t "$N" -c 1 -h 127.0.0.1 -p "$1" \
    -U "$USER_NAME" postgres 2>/dev/null | awk '/average connection time/ {print $5}'
}

q_start=(); p_start=(); q_conn=(); p_conn=(); q_fork=(); p_fork=()
for round in $(seq "$ROUNDS"); do
  q_start+=("$(startup_ms quill)"); p_start+=("$(startup_ms pg)")
  q_conn+=("$(connections_ms "$QPORT")"); p_conn+=("$(connections_ms "$PPORT")")
  q_fork+=("$(pgbench_conn_ms "$QPORT")"); p_fork+=("$(pgbench_conn_ms "$PPORT")")
  stop_quill; stop_pg
  echo "round $round: start quill ${q_start[-1]} ms, pg ${p_start[-1]} ms;" \
       "$N connections quill ${q_conn[-1]} ms, pg ${p_conn[-1]} ms"
done

qs=$(printf '%s\n' "${q_start[@]}" | median); ps=$(printf '%s\n' "${p_start[@]}" | median)
qc=$(printf '%s\n' "${q_conn[@]}" | median); pc=$(printf '%s\n' "${p_conn[@]}" | median)
qf=$(printf '%s\n' "${q_fork[@]}" | median); pf=$(printf '%s\n' "${p_fork[@]}" | median)
echo
echo "median over $ROUNDS rounds          quill      postgres   ratio"
awk -v qs="$qs" -v ps="$ps" -v qc="$qc" -v pc="$pc" -v qf="$qf" -v pf="$pf" -v n="$N" 'BEGIN {
  printf "start to accepting (ms)        %8d   %8d   %5.2f\n", qs, ps, qs / ps
  printf "per connection, psql (ms)      %8.2f   %8.2f   %5.2f\n", qc / n, pc / n, qc / pc
  printf "connection time, pgbench -C (ms) %6.3f   %8.3f   %5.2f\n", qf, pf, qf / pf
}'
