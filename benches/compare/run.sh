#!/usr/bin/env bash
# Side-by-side benchmark: Trail (in process + over the wire) vs DuckDB vs chDB
# on the same Parquet files. Writes benches/RESULTS.md.
#
#   benches/compare/run.sh --events 1000000             # one size
#   benches/compare/run.sh --events 1000000,10000000    # several sizes
#   benches/compare/run.sh --events 10000000 --with-100m
#
# Options (anything else is passed to compare.py run):
#   --events N[,N...]  sizes (default 1000000)
#   --with-100m        also 100M events, streamed (gen | import, no NDJSON file)
#   --runs R           warm runs per query (default 5)
#   --no-build         use the existing target/release/trail
#   --keep-going       time the workloads that agree even if another disagrees
#   --reuse            reuse imported data in benches/data/compare/<N>
#   --profile a,b      perf-profile these Trail workloads (names in workloads.py)
#   --only a,b         re-measure only these workloads; their rows replace those of
#                      the size's earlier results (the report names their commit)
# Needs: root for dropping the page cache (cold runs), /usr/bin/time, python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

SIZES=1000000
WITH_100M=0
BUILD=1
PASS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --events) SIZES=$2; shift 2 ;;
    --with-100m) WITH_100M=1; shift ;;
    --no-build) BUILD=0; shift ;;
    *) PASS+=("$1"); shift ;;
  esac
done

if [[ ! -x /usr/bin/time ]]; then
  echo "installing GNU time (for peak memory)" >&2
  apt-get install -y time >/dev/null
fi

if [[ $BUILD == 1 ]]; then
  # Always the whole workspace: building one package alone rebuilds DataFusion
  # with different features.
  cargo build --workspace --release
fi
TRAIL=$ROOT/target/release/trail
[[ -x $TRAIL ]] || { echo "no $TRAIL (build with cargo build --workspace --release)" >&2; exit 1; }

if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
.venv/bin/python -c 'import duckdb, chdb, deltalake, psycopg, pyarrow' 2>/dev/null ||
  .venv/bin/pip install -q duckdb chdb deltalake 'psycopg[binary]' pyarrow

CMDLINE="benches/compare/run.sh $*"
status=0
IFS=',' read -ra NS <<<"$SIZES"
for n in "${NS[@]}"; do
  .venv/bin/python benches/compare/compare.py run --events "$n" --trail "$TRAIL" \
    --command "benches/compare/run.sh --events $n ${PASS[*]:-}" "${PASS[@]}" || status=$?
done
if [[ $WITH_100M == 1 ]]; then
  .venv/bin/python benches/compare/compare.py run --events 100000000 --stream --trail "$TRAIL" \
    --command "benches/compare/run.sh --with-100m ${PASS[*]:-}" "${PASS[@]}" || status=$?
fi
.venv/bin/python benches/compare/compare.py report
echo "wrote benches/RESULTS.md" >&2
exit $status
