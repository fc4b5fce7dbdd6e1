#!/usr/bin/env bash
# Every test: lint, the Rust tests (one debug build), the independent-reader
# and differential tests in Python, and the real-driver client tests.
# Needs what .ci/run installs (a .venv with tests/requirements.txt, the apt
# packages listed there, node `pg` in tests/clients/node).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo build --workspace --all-targets
cargo test --workspace

target=${CARGO_TARGET_DIR:-$PWD/target}
export TRAIL_BIN="$target/debug/trail"
export TRAIL_RUN_SQL="$target/debug/examples/run_sql"
test -x "$TRAIL_BIN" && test -x "$TRAIL_RUN_SQL"
"$PY" -m pytest -q tests/python tests/chdb
tests/clients/run_all.sh
