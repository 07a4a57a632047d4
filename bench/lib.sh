# Shared set-up for the benchmark scripts (sourced, not run): builds the release
# binary if needed, makes a temporary directory with a fresh Quill and PostgreSQL 15
# data directory, picks two free ports, and stops both servers and removes
# everything on exit. Defines: QUILL PGBIN TMP QPORT PPORT USER_NAME, as_pg, median.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PGBIN=/usr/lib/postgresql/15/bin
QUILL=${QUILL:-target/release/quill}
[ -x "$QUILL" ] || cargo build --release --bins >/dev/null 2>&1

TMP=$(mktemp -d /tmp/quill-bench-XXXXXX)
chmod 777 "$TMP"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
QPORT=$(free_port)
PPORT=$(free_port)
USER_NAME=$(id -un)
# PostgreSQL refuses to run as root: run its tools as the postgres OS user then.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

bench_cleanup() {
  "$QUILL" stop -D "$TMP/quill" -m immediate >/dev/null 2>&1 || true
  as_pg "$PGBIN/pg_ctl" -D "$TMP/pg" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap bench_cleanup EXIT

"$QUILL" init -D "$TMP/quill" -U "$USER_NAME" >/dev/null
as_pg "$PGBIN/initdb" -D "$TMP/pg" -U "$USER_NAME" >/dev/null 2>&1
