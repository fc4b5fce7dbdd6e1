"""Loopback load test: N asyncpg clients run the product document's queries
against a running `trail serve` for a fixed time; samples the server's RSS.

    python3 load.py --port 5433 --clients 32 --duration 60 --server-pid PID

Prints queries/s, p50/p99 latency (overall and per query), errors and the
RSS samples; exits 1 on any error.
"""
import argparse
import asyncio
import json
import os
import pathlib
import random
import statistics
import sys
import time

import asyncpg

HERE = pathlib.Path(__file__).resolve().parent


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


async def client(i, args, queries, users, deadline, latencies, errors, counts):
    rng = random.Random(i)
    conn = await asyncpg.connect(host=args.host, port=args.port, user="trail", database="trail")
    try:
        n = i  # each client starts at a different query, then cycles
        while time.monotonic() < deadline:
            q = queries[n % len(queries)]
            n += 1
            params = [rng.choice(users)] if q.get("param") else []
            started = time.perf_counter()
            try:
                rows = await conn.fetch(q["sql"], *params)
                if q["name"] != "recommendations" and not rows:
                    raise RuntimeError("no rows")
            except Exception as e:  # noqa: BLE001
                errors.append(f"{q['name']}: {type(e).__name__}: {e}")
                continue
            latencies.setdefault(q["name"], []).append(time.perf_counter() - started)
            counts[0] += 1
    finally:
        await conn.close()


async def sample_rss(pid, deadline, samples):
    while time.monotonic() < deadline:
        v = rss_kib(pid)
        if v is not None:
            samples.append(v)
        await asyncio.sleep(1)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--duration", type=float, default=60)
    ap.add_argument("--server-pid", type=int)
    args = ap.parse_args()

    queries = json.loads((HERE / "queries.json").read_text())["queries"]
    conn = await asyncpg.connect(host=args.host, port=args.port, user="trail", database="trail")
    users = [r[0] for r in await conn.fetch("SELECT DISTINCT user_id FROM events")]
    events = (await conn.fetchrow("SELECT count(*) FROM events"))[0]
    # Warm up: every query once, so the measured run is steady state.
    for q in queries:
        await conn.fetch(q["sql"], *([users[0]] if q.get("param") else []))
    await conn.close()
    rss_before = rss_kib(args.server_pid) if args.server_pid else None

    latencies, errors, counts, samples = {}, [], [0], []
    started = time.monotonic()
    deadline = started + args.duration
    tasks = [client(i, args, queries, users, deadline, latencies, errors, counts) for i in range(args.clients)]
    if args.server_pid:
        tasks.append(sample_rss(args.server_pid, deadline, samples))
    await asyncio.gather(*tasks)
    elapsed = time.monotonic() - started
    rss_after = rss_kib(args.server_pid) if args.server_pid else None

    every = sorted(v for vs in latencies.values() for v in vs)
    ms = lambda s: f"{s * 1000:.1f} ms"  # noqa: E731
    print(f"data: {events} events, {len(users)} users; {args.clients} clients for {elapsed:.1f} s")
    print(f"queries: {counts[0]} ok, {len(errors)} errors; {counts[0] / elapsed:.1f} queries/s")
    print(f"latency: p50 {ms(percentile(every, 50))}, p99 {ms(percentile(every, 99))}, max {ms(every[-1]) if every else '-'}")
    for q in queries:
        vs = sorted(latencies.get(q["name"], []))
        print(f"  {q['name']:<18} n={len(vs):<6} p50 {ms(percentile(vs, 50)):>10}  p99 {ms(percentile(vs, 99)):>10}  mean {ms(statistics.fmean(vs)) if vs else '-':>10}")
    if samples:
        print(f"server RSS: {rss_before / 1024:.0f} MiB before, max {max(samples) / 1024:.0f} MiB during "
              f"({len(samples)} samples, 1/s), {rss_after / 1024:.0f} MiB after")
    for e in errors[:10]:
        print("error:", e)
    return 1 if errors or not counts[0] else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
