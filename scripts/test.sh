#!/usr/bin/env bash
# The one test command (README.md; .ci/run runs exactly this): sets up the machine,
# builds, runs the unit and integration tests, then the regression suite with the
# real psql.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --bins
cargo test --no-fail-fast -- --test-threads=4
bash regress/run.sh --bin target/debug/quill
