#!/usr/bin/env bash
# Installs everything Quill's build and tests need on a fresh Debian machine, and
# nothing that is already there (safe to run again):
#   - the PostgreSQL 15 clients (psql, pg_isready) and server (pgbench, and the
#     reference PostgreSQL for comparisons and benchmarks),
#   - libclang for the pg_query crate's build (CRATES.md).
set -euo pipefail

packages=()
command -v psql >/dev/null 2>&1 || packages+=(postgresql-client)
command -v pg_isready >/dev/null 2>&1 || packages+=(postgresql-client)
[ -x /usr/lib/postgresql/15/bin/postgres ] || packages+=(postgresql)
[ -x /usr/lib/postgresql/15/bin/pgbench ] || packages+=(postgresql)
if ! ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1 \
    && ! ls /usr/lib/x86_64-linux-gnu/libclang*.so* >/dev/null 2>&1; then
  packages+=(libclang1-14 libclang-common-14-dev)
fi
command -v cc >/dev/null 2>&1 || packages+=(gcc)
command -v python3 >/dev/null 2>&1 || packages+=(python3)

if [ ${#packages[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "setup: installing ${packages[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${packages[@]}" >/dev/null
fi
echo "setup: ok ($(psql --version))"
