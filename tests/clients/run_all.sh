#!/usr/bin/env bash
# Starts the real `trail serve` on a free loopback port over a temporary data
# directory holding testdata/fixture.ndjson (its {{D-n}} placeholders filled in
# from today, UTC), runs every real-driver client against it (run.sh), and
# stops the server.
#   tests/clients/run_all.sh              # every client
#   tests/clients/run_all.sh psql jdbc    # some
# Optional: TRAIL_BIN (default target/debug/trail, built with
# `cargo build --workspace` when missing), KEEP_DATA=1 keeps the temp dir.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${TRAIL_BIN:-$root/target/debug/trail}
if [ ! -x "$bin" ]; then
  (cd "$root" && cargo build --workspace)
fi
# The venv of tests/clients/README.md, when there is one.
if [ -x "$root/.venv/bin/python3" ]; then
  export PATH="$root/.venv/bin:$PATH"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/trail-clients.XXXXXX")
server_pid=
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ "${KEEP_DATA:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

today=$(date -u +%F)
export TRAIL_FIXTURE_TODAY=$today
python3 - "$root/testdata/fixture.ndjson" "$work/fixture.ndjson" "$today" <<'EOF'
import datetime, re, sys
src, dst, today = sys.argv[1], sys.argv[2], datetime.date.fromisoformat(sys.argv[3])
text = open(src, encoding="utf-8").read()
text = re.sub(r"\{\{D-(\d+)\}\}", lambda m: (today - datetime.timedelta(days=int(m.group(1)))).isoformat(), text)
assert "{{" not in text, "unknown placeholder in the fixture"
open(dst, "w", encoding="utf-8").write(text)
EOF
"$bin" import --data "$work/data" "$work/fixture.ndjson"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# No password: the server accepts loopback connections only, without authentication.
unset TRAIL_PASSWORD
started=0
for attempt in 1 2 3; do
  port=$(free_port)
  "$bin" serve --data "$work/data" --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 100); do
    if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then started=1; break; fi
    sleep 0.1
  done
  [ "$started" = 1 ] && break
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  echo "server did not start on port $port (attempt $attempt):"
  cat "$work/server.log"
done
[ "$started" = 1 ] || exit 1
echo "trail serve (pid $server_pid) on 127.0.0.1:$port, fixture of $today"

status=0
TRAIL_PG_HOST=127.0.0.1 TRAIL_PG_PORT=$port "$here/run.sh" "$@" || status=$?
if ! kill -0 "$server_pid" 2>/dev/null; then
  echo "FAILED: the server died during the run"
  status=1
fi
if [ "$status" != 0 ]; then
  echo "--- server log"
  cat "$work/server.log"
fi
exit "$status"
