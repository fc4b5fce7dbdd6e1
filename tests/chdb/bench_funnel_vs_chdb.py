"""Side-by-side timing: Trail's window_funnel vs ClickHouse's windowFunnel (chDB)
over the same Parquet file of generated events, and both against a plain
`count(*) GROUP BY user_id`.

    pip install chdb pyarrow numpy
    cargo build --workspace --release --examples
    python tests/chdb/bench_funnel_vs_chdb.py [--events 10000000] [--repeat 3]

Events are sorted by (user_id, time) as Trail's storage writes them. Times are
query times only (best of --repeat), file already in the page cache; Trail runs
`run_sql` with TRAIL_REPEAT so the process start and registration are not counted.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

import chdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[2]
TYPES = np.array(["view", "cart", "buy", "help", "other", "signup"])


def generate(path: Path, events: int, per_user: int = 50, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    users = events // per_user
    user_idx = np.repeat(np.arange(users), per_user)
    start = 1_709_251_200 + rng.integers(0, 7 * 86400, users)
    kind = rng.integers(0, 10, events)
    gaps = np.where(kind < 6, rng.integers(0, 120, events),
                    np.where(kind < 9, rng.integers(0, 4 * 3600, events), rng.integers(0, 3 * 86400, events)))
    gaps = gaps.reshape(users, per_user).cumsum(axis=1).ravel()
    seconds = np.repeat(start, per_user) + gaps
    etype = TYPES[rng.choice(6, events, p=[0.40, 0.20, 0.10, 0.10, 0.18, 0.02])]
    ids = np.char.add("user_", np.char.zfill(user_idx.astype(str), 8))
    table = pa.table({
        "user_id": pa.array(ids),
        "time": pa.array(seconds * 1_000_000, pa.timestamp("us", tz="UTC")),
        "event_type": pa.array(etype).dictionary_encode(),
    })
    pq.write_table(table, path, row_group_size=1_000_000)


def trail(binary: Path, path: Path, sql: str, repeat: int) -> float:
    env = dict(os.environ, TRAIL_REPEAT=str(repeat))
    out = subprocess.run([str(binary), str(path), sql], env=env, check=True, capture_output=True, text=True)
    return float(out.stderr.strip().split(":")[1].split()[0])


def clickhouse(path: Path, sql: str, repeat: int) -> float:
    sql = sql.replace("events", f"file('{path}', Parquet)")
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        chdb.query(sql, "Null")
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--binary", default=str(ROOT / "target/release/examples/run_sql"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "events.parquet"
        generate(path, args.events)
        steps_t = "event_type = 'view', event_type = 'cart', event_type = 'buy'"
        rows = [
            ("count(*) by user",
             "SELECT user_id, count(*) FROM events GROUP BY user_id",
             "SELECT user_id, count(*) FROM events GROUP BY user_id"),
            ("funnel, 1 h window",
             f"SELECT user_id, window_funnel(3600, time, {steps_t}) FROM events GROUP BY user_id",
             f"SELECT user_id, windowFunnel(3600)(toDateTime(time), {steps_t}) FROM events GROUP BY user_id"),
            ("funnel, strict_order",
             f"SELECT user_id, window_funnel(3600, 'strict_order', time, {steps_t}) FROM events GROUP BY user_id",
             f"SELECT user_id, windowFunnel(3600, 'strict_order')(toDateTime(time), {steps_t}) FROM events GROUP BY user_id"),
        ]
        print(f"{args.events:,} events, best of {args.repeat}")
        print(f"{'query':<24}{'trail s':>10}{'chdb s':>10}")
        for name, ours, theirs in rows:
            print(f"{name:<24}{trail(Path(args.binary), path, ours, args.repeat):>10.3f}"
                  f"{clickhouse(path, theirs, args.repeat):>10.3f}")


if __name__ == "__main__":
    main()
