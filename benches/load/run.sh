#!/usr/bin/env bash
# Bounded loopback load test: `trail serve --demo` (release build) on a free
# 127.0.0.1 port over a temporary data directory, then CLIENTS asyncpg
# connections running the product document's five queries for DURATION
# seconds (load.py). Zero errors required; the server's RSS is sampled.
#   benches/load/run.sh                       # 32 clients, 60 s
#   CLIENTS=8 DURATION=10 benches/load/run.sh # smaller
# Optional: TRAIL_BIN (default target/release/trail, built with
# `cargo build --workspace --release` when missing), MEMORY_LIMIT (passed
# to --memory-limit, e.g. 2G).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${TRAIL_BIN:-$root/target/release/trail}
clients=${CLIENTS:-32}
duration=${DURATION:-60}
if [ ! -x "$bin" ]; then
  (cd "$root" && cargo build --workspace --release)
fi
if [ -x "$root/.venv/bin/python3" ]; then
  export PATH="$root/.venv/bin:$PATH"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/trail-load.XXXXXX")
server_pid=
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

unset TRAIL_PASSWORD
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
extra=()
[ -n "${MEMORY_LIMIT:-}" ] && extra+=(--memory-limit "$MEMORY_LIMIT")
"$bin" serve --demo --data "$work/data" --listen "127.0.0.1:$port" "${extra[@]}" >"$work/server.log" 2>&1 &
server_pid=$!
# --demo generates and imports the demo data before it listens.
for _ in $(seq 1 1200); do
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log"; exit 1; }
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.25
done
echo "trail serve --demo (pid $server_pid, $bin) on 127.0.0.1:$port; $(nproc) CPUs"
status=0
python3 "$here/load.py" --port "$port" --clients "$clients" --duration "$duration" --server-pid "$server_pid" || status=$?
if ! kill -0 "$server_pid" 2>/dev/null; then
  echo "FAILED: the server died"
  status=1
fi
[ "$status" = 0 ] || { echo "--- server log"; tail -50 "$work/server.log"; }
exit "$status"
