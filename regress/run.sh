#!/usr/bin/env bash
# Quill's pg_regress-style regression suite.
#
# Runs every regress/sql/X.sql (sorted by name, or in the order of regress/schedule)
# through the real psql exactly as pg_regress does, and compares the output with
# regress/expected/X.out. The expected files are PostgreSQL 15's own output: they are
# produced with `--pg --accept`, never edited by hand to match Quill.
#
# Usage:
#   regress/run.sh [--bin PATH]       run against Quill (default: target/debug/quill)
#   regress/run.sh --pg               run against a scratch PostgreSQL 15
#   regress/run.sh --pg --accept      same, and write the outputs to regress/expected/
#   regress/run.sh ... TEST...        run only the named tests
#
# The runner does not build Quill. Every server it starts runs in a fresh temporary
# directory and is stopped (then killed if need be) when the runner exits.
set -euo pipefail

REGRESS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$REGRESS_DIR/.." && pwd)"
PG_BIN_DIR="${PG_BIN_DIR:-/usr/lib/postgresql/15/bin}"
READY_TIMEOUT_S=30

QUILL_BIN="$REPO_DIR/target/debug/quill"
USE_PG=0
ACCEPT=0
SELECTED_TESTS=()

usage() {
    sed -n '9,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
    case "$1" in
        --bin) [ $# -ge 2 ] || { echo "run.sh: --bin needs a path" >&2; exit 2; }
               QUILL_BIN="$2"; shift 2 ;;
        --bin=*) QUILL_BIN="${1#--bin=}"; shift ;;
        --pg) USE_PG=1; shift ;;
        --accept) ACCEPT=1; shift ;;
        -h|--help) usage; exit 0 ;;
        -*) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
        *) SELECTED_TESTS+=("${1%.sql}"); shift ;;
    esac
done

if [ "$ACCEPT" = 1 ] && [ "$USE_PG" = 0 ]; then
    echo "run.sh: --accept only with --pg: expected files are PostgreSQL 15's output" >&2
    exit 2
fi

# --- the client environment, identical in both modes (pg_regress does the same) ---
unset PGDATABASE PGUSER PGSERVICE PGSSLMODE PGREQUIRESSL PGCONNECT_TIMEOUT PGDATA \
      PGHOST PGHOSTADDR PGPORT PGOPTIONS PGPASSWORD PGPASSFILE PGCLIENTENCODING PSQLRC || true
export PGAPPNAME=pg_regress
export PGTZ=UTC
export PGDATESTYLE='ISO, MDY'
export LC_ALL=C
export LANG=C

# --- the list of tests ---
TESTS=()
if [ ${#SELECTED_TESTS[@]} -gt 0 ]; then
    TESTS=("${SELECTED_TESTS[@]}")
elif [ -f "$REGRESS_DIR/schedule" ]; then
    # One or more names per line, optionally after pg_regress's "test:"; # starts a comment.
    while IFS= read -r line; do
        line="${line%%#*}"
        line="${line#test:}"
        for name in $line; do TESTS+=("${name%.sql}"); done
    done < "$REGRESS_DIR/schedule"
else
    for file in "$REGRESS_DIR"/sql/*.sql; do
        [ -e "$file" ] || continue
        name="$(basename "$file")"
        TESTS+=("${name%.sql}")
    done
fi
if [ ${#TESTS[@]} -eq 0 ]; then
    echo "run.sh: no tests found in $REGRESS_DIR/sql" >&2
    exit 2
fi

# --- the scratch server ---
TMP_DIR="$(mktemp -d /tmp/quill_regress.XXXXXX)"
SERVER_PID=""
SERVER_KIND=""

pick_free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()' && return
    fi
    local port
    for port in $(seq 55432 55999); do
        if ! "$PG_BIN_DIR/pg_isready" -q -h 127.0.0.1 -p "$port" -t 1 >/dev/null 2>&1 \
           && ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"; return
        fi
    done
    echo "run.sh: no free port found" >&2
    return 1
}

# Runs a command as the postgres OS user when we are root (PostgreSQL refuses to run as
# root); as ourselves otherwise.
as_pg_user() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

stop_server() {
    [ -n "$SERVER_PID" ] || return 0
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        if [ "$SERVER_KIND" = quill ]; then
            "$QUILL_BIN" stop -D "$TMP_DIR/data" -m fast >>"$TMP_DIR/stop.log" 2>&1 || true
        else
            as_pg_user "$PG_BIN_DIR/pg_ctl" stop -D "$TMP_DIR/data" -m fast -w -t 20 \
                >>"$TMP_DIR/stop.log" 2>&1 || true
        fi
    fi
    # The server was started with setsid, so its pid is its process group: whatever is
    # left of it (postmaster, backends) is ended here.
    local waited=0
    while kill -0 "$SERVER_PID" 2>/dev/null && [ $waited -lt 50 ]; do
        sleep 0.1
        waited=$((waited + 1))
    done
    kill -9 -- "-$SERVER_PID" 2>/dev/null || true
    kill -9 "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}

cleanup() {
    local status=$?
    stop_server
    rm -rf "$TMP_DIR"
    exit $status
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PORT="$(pick_free_port)"
SOCKET_DIR="$TMP_DIR"

if [ "$USE_PG" = 1 ]; then
    SERVER_KIND=postgres
    # The superuser is named after the current OS user, as Quill's is by default, so the
    # same psql invocation connects as the same name in both modes.
    SUPERUSER="$(id -un)"
    if [ "$(id -u)" = 0 ]; then
        chown postgres: "$TMP_DIR"
    fi
    if ! as_pg_user "$PG_BIN_DIR/initdb" -D "$TMP_DIR/data" -U "$SUPERUSER" -A trust \
            -E UTF8 --locale=C --no-sync >"$TMP_DIR/initdb.log" 2>&1; then
        echo "run.sh: initdb failed:" >&2
        cat "$TMP_DIR/initdb.log" >&2
        exit 2
    fi
    PG_COMMAND=()
    if [ "$(id -u)" = 0 ]; then PG_COMMAND=(runuser -u postgres --); fi
    PG_COMMAND+=("$PG_BIN_DIR/postgres" -D "$TMP_DIR/data" -c "port=$PORT"
        -c listen_addresses=127.0.0.1 -c "unix_socket_directories=$SOCKET_DIR" -c fsync=off)
    setsid "${PG_COMMAND[@]}" >"$TMP_DIR/server.log" 2>&1 &
    SERVER_PID=$!
    SERVER_NAME="PostgreSQL 15 ($PG_BIN_DIR)"
else
    SERVER_KIND=quill
    case "$QUILL_BIN" in /*) ;; *) QUILL_BIN="$PWD/$QUILL_BIN" ;; esac
    if [ ! -x "$QUILL_BIN" ]; then
        echo "run.sh: no Quill binary at $QUILL_BIN (build it with cargo build, or pass --bin)" >&2
        exit 2
    fi
    setsid "$QUILL_BIN" start -D "$TMP_DIR/data" -c "port=$PORT" \
        -c listen_addresses=127.0.0.1 -c "unix_socket_directories=$SOCKET_DIR" \
        >"$TMP_DIR/server.log" 2>&1 &
    SERVER_PID=$!
    SERVER_NAME="Quill ($QUILL_BIN)"
fi

deadline=$((SECONDS + READY_TIMEOUT_S))
until "$PG_BIN_DIR/pg_isready" -q -h "$SOCKET_DIR" -p "$PORT" -t 1 >/dev/null 2>&1; do
    problem=""
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        problem="exited before accepting connections"
    elif [ $SECONDS -ge $deadline ]; then
        problem="did not accept connections within ${READY_TIMEOUT_S}s"
    fi
    if [ -n "$problem" ]; then
        echo "run.sh: $SERVER_NAME $problem (port $PORT, socket directory $SOCKET_DIR); server log:" >&2
        if [ -s "$TMP_DIR/server.log" ]; then cat "$TMP_DIR/server.log" >&2; else echo "(empty)" >&2; fi
        exit 2
    fi
    sleep 0.1
done
echo "# server: $SERVER_NAME, port $PORT, socket directory $SOCKET_DIR"

# --- the tests ---
RESULTS_DIR="$REGRESS_DIR/results"
EXPECTED_DIR="$REGRESS_DIR/expected"
DIFFS_FILE="$RESULTS_DIR/regression.diffs"
mkdir -p "$RESULTS_DIR"
rm -f "$RESULTS_DIR"/*.out
: >"$DIFFS_FILE"

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

passed=0
failed=0
number=0
for test in "${TESTS[@]}"; do
    number=$((number + 1))
    sql_file="$REGRESS_DIR/sql/$test.sql"
    result_file="$RESULTS_DIR/$test.out"
    expected_file="$EXPECTED_DIR/$test.out"
    if [ ! -f "$sql_file" ]; then
        echo "not ok $number - $test  (no file sql/$test.sql)"
        echo "no file $sql_file" >>"$DIFFS_FILE"
        failed=$((failed + 1))
        continue
    fi
    started_ms="$(now_ms)"
    # Exactly pg_regress's invocation: the script on stdin, so errors print without a
    # psql:file:line: prefix; stderr interleaved with stdout.
    "$PG_BIN_DIR/psql" -X -a -q -d postgres -h "$SOCKET_DIR" -p "$PORT" \
        <"$sql_file" >"$result_file" 2>&1 || true
    elapsed_ms=$(( $(now_ms) - started_ms ))
    if [ "$ACCEPT" = 1 ]; then
        cp "$result_file" "$expected_file"
        echo "ok $number - $test  $elapsed_ms ms (accepted into expected/$test.out)"
        passed=$((passed + 1))
    elif [ ! -f "$expected_file" ]; then
        echo "not ok $number - $test  $elapsed_ms ms (no file expected/$test.out)"
        echo "no file $expected_file" >>"$DIFFS_FILE"
        failed=$((failed + 1))
    elif diff -u "$expected_file" "$result_file" >>"$DIFFS_FILE"; then
        echo "ok $number - $test  $elapsed_ms ms"
        passed=$((passed + 1))
    else
        echo "not ok $number - $test  $elapsed_ms ms"
        failed=$((failed + 1))
    fi
done

if [ "$failed" -gt 0 ]; then
    echo
    echo "# differences (also in $DIFFS_FILE):"
    cat "$DIFFS_FILE"
    echo
else
    rm -f "$DIFFS_FILE"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
