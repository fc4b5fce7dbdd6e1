#!/usr/bin/env bash
# Every test: lint, the Rust tests (one debug build), the independent-reader
# and differential tests in Python, and the real-driver client tests.
# Needs what .ci/run installs (a .venv with tests/requirements.txt, the apt
# packages listed there, node `pg` in tests/clients/node).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
# One build from scratch: incremental state would only take disk (GiBs with
# DataFusion) and CI's disk is not large.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}

cargo fmt --all -- --check
# clippy checks every target (benches included); `cargo test` then builds and
# links only what runs: libs, bins, examples and tests. The benches are not
# linked here, so their binaries (each some 250 MB in debug) take no disk.
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace

target=${CARGO_TARGET_DIR:-$PWD/target}
export TRAIL_BIN="$target/debug/trail"
export TRAIL_RUN_SQL="$target/debug/examples/run_sql"
test -x "$TRAIL_BIN" && test -x "$TRAIL_RUN_SQL"
"$PY" -m pytest -q tests/python tests/chdb
tests/clients/run_all.sh
