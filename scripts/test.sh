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

export TRAIL_BIN="$PWD/target/debug/trail"
"$PY" -m pytest -q tests/python tests/chdb
tests/clients/run_all.sh
