#!/usr/bin/env python3
"""Side-by-side benchmark: Trail (in process and over the wire) vs DuckDB vs chDB.

Usually started by benches/compare/run.sh. Steps for one size:

  prepare   trail gen -> NDJSON; trail import (timed, /usr/bin/time -v);
            bytes on disk per event; the live Parquet files from the Delta log
  verify    every workload once on every engine; answers normalised and
            compared; a mismatch stops the run (unless --keep-going)
  bench     cold run (page cache dropped, fresh process) and warm runs
            (median of --runs) per engine and workload, with peak RSS
  report    benches/RESULTS.md from every results/<size>.json

Engines:
  trail      `trail sql --format json` one process per query (the process
             start and table open are included; `SELECT 1` measures that
             fixed cost, which is reported and subtracted in the "net" column)
  trail-wire psycopg to `trail serve` (one server per workload; the server's
             VmHWM is its peak memory)
  duckdb     DuckDB Python package, in a worker subprocess (`worker` command)
  chdb       chDB Python package, in a worker subprocess
"""

import argparse
import datetime as dt
import json
import math
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import workloads as W  # noqa: E402

REPO = HERE.parent.parent
ENGINES = ["trail", "trail-wire", "duckdb", "chdb"]


# --------------------------------------------------------------------------- utils
def log(*a):
    print(f"[{dt.datetime.now().strftime('%H:%M:%S')}]", *a, file=sys.stderr, flush=True)


def drop_caches():
    try:
        subprocess.run(["sync"], check=True)
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def parse_time_v(stderr):
    """Max RSS (KiB) and wall seconds from /usr/bin/time -v output."""
    rss = None
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)
    if m:
        rss = int(m.group(1))
    return rss


def strip_time_v(stderr):
    i = stderr.find("\tCommand being timed:")
    return stderr[:i] if i >= 0 else stderr


def fill(sql, meta):
    return sql.format(**meta["params"])


# ------------------------------------------------------------------ normalising
def norm_value(v):
    if v is None:
        return None
    if isinstance(v, bool):
        return float(int(v))
    if isinstance(v, (int, float)):
        f = float(v)
        if math.isnan(f):
            return "NaN"
        return round(f, 4)
    if hasattr(v, "is_finite") or type(v).__name__ == "Decimal":
        return round(float(v), 4)
    if isinstance(v, (list, tuple)):
        return tuple(norm_value(x) for x in v)
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    if isinstance(v, str):
        s = v.strip()
        if s.startswith("{") and s.endswith("}") and not s.startswith('{"'):
            # PostgreSQL text array
            inner = s[1:-1]
            return tuple(norm_value(x.strip('"')) for x in re.findall(r'"(?:[^"\\]|\\.)*"|[^,]+', inner)) if inner else ()
        try:
            return round(float(s), 4)
        except ValueError:
            return s
    return str(v)


def norm_rows(rows):
    return [tuple(norm_value(v) for v in r) for r in rows]


def sort_key(row):
    return json.dumps(row, default=str)


def compare_answers(check, ref, other):
    """None when equal, else a short description of the difference."""
    a, b = norm_rows(ref), norm_rows(other)
    if check == "rows":
        sa, sb = sorted(a, key=sort_key), sorted(b, key=sort_key)
        if sa == sb:
            return None
        only_a = [r for r in sa if r not in sb][:5]
        only_b = [r for r in sb if r not in sa][:5]
        return f"{len(sa)} vs {len(sb)} rows; only in reference: {only_a}; only in other: {only_b}"
    _, col = check
    if len(a) != len(b):
        return f"{len(a)} vs {len(b)} rows"
    ka = sorted((r[col] for r in a), key=sort_key)
    kb = sorted((r[col] for r in b), key=sort_key)
    if ka != kb:
        return f"ordering column differs: {ka[:10]} vs {kb[:10]}"
    if not a:
        return None
    cut_a = a[-1][col]
    strict_a = sorted([r for r in a if r[col] != cut_a], key=sort_key)
    strict_b = sorted([r for r in b if r[col] != cut_a], key=sort_key)
    if strict_a != strict_b:
        only_a = [r for r in strict_a if r not in strict_b][:3]
        only_b = [r for r in strict_b if r not in strict_a][:3]
        return f"rows above the LIMIT tie differ; only in reference: {only_a}; only in other: {only_b}"
    return None


# ---------------------------------------------------------------------- workers
def worker_main(args):
    """Runs in its own process (under /usr/bin/time -v): one engine, one query,
    cold run first, then warm runs; prints JSON on stdout."""
    meta = json.loads(Path(args.meta).read_text())
    sql = Path(args.sql_file).read_text()
    os.environ["TZ"] = "UTC"
    if args.engine == "duckdb":
        import duckdb

        con = duckdb.connect()
        for s in W.DUCKDB_SETUP:
            con.execute(fill(s, meta))

        def run():
            cur = con.execute(sql)
            return cur.fetchall()
    elif args.engine == "chdb":
        from chdb import session

        sess = session.Session()
        for s in W.CHDB_SETUP:
            sess.query(fill(s, meta))
        q = sql + W.CHDB_QUERY_SETTINGS

        def run():
            t = sess.query(q, "ArrowTable")
            return [list(r.values()) for r in t.to_pylist()]
    else:
        raise SystemExit(f"unknown engine {args.engine}")
    times, rows = [], None
    for i in range(args.runs):
        t0 = time.perf_counter()
        rows = run()
        times.append(time.perf_counter() - t0)
    print(json.dumps({"times": times, "rows": rows}, default=str))


def run_worker(engine, sql, meta_path, runs, work):
    sql_file = work / "current.sql"
    sql_file.write_text(sql)
    cmd = ["/usr/bin/time", "-v", sys.executable, str(HERE / "compare.py"), "worker", "--engine", engine,
           "--meta", str(meta_path), "--sql-file", str(sql_file), "--runs", str(runs)]
    p = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TZ": "UTC"})
    rss = parse_time_v(p.stderr)
    if p.returncode != 0:
        return {"error": strip_time_v(p.stderr).strip()[-2000:] or f"exit {p.returncode}", "rss_kib": rss}
    out = json.loads(p.stdout.strip().splitlines()[-1])
    out["rss_kib"] = rss
    return out


def run_trail_sql(trail, data, sql):
    cmd = ["/usr/bin/time", "-v", trail, "sql", "--data", str(data), "--format", "json", sql]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TZ": "UTC"})
    wall = time.perf_counter() - t0
    rss = parse_time_v(p.stderr)
    if p.returncode != 0:
        return {"error": strip_time_v(p.stderr).strip()[-2000:] or f"exit {p.returncode}", "rss_kib": rss}
    text = p.stdout.strip()
    rows = []
    if text:
        objs = json.loads(text)
        cols = merged_key_order(objs)
        rows = [[o.get(c) for c in cols] for o in objs]
    return {"time": wall, "rows": rows, "rss_kib": rss}


def merged_key_order(objs):
    """Column order from arrow's JSON rows, which omit null fields: merge the
    per-row key sequences (each is in column order). A column null in every
    row cannot be recovered and is missing (the answer check then reports it)."""
    order = []
    for o in objs:
        prev = -1
        for k in o.keys():
            if k in order:
                prev = order.index(k)
            else:
                order.insert(prev + 1, k)
                prev += 1
    return order


class TrailServer:
    def __init__(self, trail, data, port, logdir):
        self.trail, self.data, self.port, self.logdir = trail, data, port, logdir
        self.proc = None

    def start(self, timeout=120):
        self.log = open(self.logdir / f"serve-{self.port}.log", "ab")
        self.proc = subprocess.Popen(
            [self.trail, "serve", "--data", str(self.data), "--listen", f"127.0.0.1:{self.port}"],
            stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, "TZ": "UTC"})
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"trail serve exited with {self.proc.returncode} (log: {self.log.name})")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("trail serve did not listen in time")

    def peak_rss_kib(self):
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        except OSError:
            return None
        return None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()


def wire_connect(port):
    import psycopg

    conn = psycopg.connect(host="127.0.0.1", port=port, user="trail", dbname="trail", autocommit=True,
                           connect_timeout=10)
    return conn


def wire_query(conn, sql):
    t0 = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute(sql)
        rows = cur.fetchall() if cur.description else []
    return time.perf_counter() - t0, [list(r) for r in rows]


def run_wire(trail, data, sql, runs, port, work, cold):
    """One server per call; first query (after an optional cache drop) is the cold run."""
    srv = TrailServer(trail, data, port, work)
    try:
        if cold:
            drop_caches()
        srv.start()
        conn = wire_connect(port)
        times, rows = [], None
        for _ in range(runs):
            t, rows = wire_query(conn, sql)
            times.append(t)
        conn.close()
        return {"times": times, "rows": rows, "rss_kib": srv.peak_rss_kib()}
    except Exception as e:  # noqa: BLE001 - reported, not hidden
        return {"error": f"{type(e).__name__}: {e}"[-2000:]}
    finally:
        srv.stop()


# ---------------------------------------------------------------------- prepare
def du_bytes(path):
    return int(subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=True).stdout.split()[0])


def prepare(args, work):
    from deltalake import DeltaTable

    data = work / "data"
    meta_path = work / "meta.json"
    if meta_path.exists() and args.reuse:
        log(f"reusing {data}")
        return {**json.loads(meta_path.read_text()), "reused": True}, meta_path
    if data.exists():
        shutil.rmtree(data)
    end = args.end or dt.datetime.now(dt.timezone.utc).date().isoformat()
    n = args.events
    info = {"events_requested": n, "end": end, "days": 30, "seed": 42}
    gen_cmd = [args.trail, "gen", "--events", str(n), "--days", "30", "--seed", "42", "--end", end]
    if args.stream:
        # 100M: never materialise the NDJSON; gen | import, both timed together.
        log(f"gen | import {n} events (streamed)")
        t0 = time.perf_counter()
        gen = subprocess.Popen(gen_cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        imp = subprocess.run(["/usr/bin/time", "-v", args.trail, "import", "--data", str(data), "-"],
                             stdin=gen.stdout, capture_output=True, text=True)
        gen.stdout.close()
        gen.wait()
        wall = time.perf_counter() - t0
        info["import_mode"] = "trail gen | trail import - (generation runs concurrently and is included)"
    else:
        ndjson = work / "events.ndjson"
        log(f"gen {n} events -> {ndjson}")
        t0 = time.perf_counter()
        with open(ndjson, "wb") as f:
            subprocess.run(gen_cmd, stdout=f, check=True, stderr=subprocess.DEVNULL)
        info["gen_seconds"] = time.perf_counter() - t0
        info["ndjson_bytes"] = ndjson.stat().st_size
        log(f"import {ndjson}")
        drop_caches()
        t0 = time.perf_counter()
        imp = subprocess.run(["/usr/bin/time", "-v", args.trail, "import", "--data", str(data), str(ndjson)],
                             capture_output=True, text=True)
        wall = time.perf_counter() - t0
        info["import_mode"] = "trail import FILE (NDJSON file written beforehand, page cache dropped)"
    if imp.returncode != 0:
        raise SystemExit(f"trail import failed:\n{imp.stdout}\n{strip_time_v(imp.stderr)}")
    out = (imp.stdout + strip_time_v(imp.stderr)).strip()
    info["import_output"] = out
    m = re.search(r"(\d+) events imported", out)
    imported = int(m.group(1)) if m else n
    m2 = re.search(r"([\d.]+) events/s", out)
    info["import_reported_events_per_s"] = float(m2.group(1)) if m2 else None
    info["events"] = imported
    info["import_seconds"] = wall
    info["import_events_per_s"] = imported / wall
    info["import_rss_kib"] = parse_time_v(imp.stderr)
    if not args.stream:
        (work / "events.ndjson").unlink()
    info["events_dir_bytes"] = du_bytes(data / "events")
    info["users_dir_bytes"] = du_bytes(data / "users")
    info["bytes_per_event"] = info["events_dir_bytes"] / imported
    ev = DeltaTable(str(data / "events"))
    us = DeltaTable(str(data / "users"))
    ev_files = [u.replace("file://", "") for u in ev.file_uris()]
    us_files = [u.replace("file://", "") for u in us.file_uris()]
    info["events_files"] = len(ev_files)
    info["live_parquet_bytes"] = sum(os.path.getsize(f) for f in ev_files)
    on_disk = sorted(str(p) for p in (data / "events").rglob("*.parquet"))
    info["unreferenced_parquet_files"] = len(set(on_disk) - set(ev_files))
    import pyarrow.parquet as pq

    ev_cols = [f.name for f in pq.read_schema(ev_files[0])]
    us_cols = [f.name for f in pq.read_schema(us_files[0])]
    info["promoted_event_keys"] = [c[4:] for c in ev_cols if c.startswith("ep__")]
    info["promoted_user_keys"] = [c[4:] for c in us_cols if c.startswith("up__")]

    def glob_of(files, root):
        rel = [os.path.relpath(f, root) for f in files]
        return f"{root}/{{{','.join(rel)}}}" if len(rel) > 1 else f"{root}/{rel[0]}"

    end_d = dt.date.fromisoformat(end)
    d0 = end_d - dt.timedelta(days=14)
    params = {
        "events_files": json.dumps(ev_files).replace('"', "'"),
        "users_files": json.dumps(us_files).replace('"', "'"),
        "events_glob": glob_of(ev_files, str(data / "events")),
        "users_glob": glob_of(us_files, str(data / "users")),
        "today": end,
    }
    for i in range(8):
        params[f"d{i}"] = (d0 + dt.timedelta(days=i)).isoformat()
    params.update(W.prop_exprs(ev_cols, us_cols))
    # The recommendations query's user: the surviving user with the most events.
    import duckdb

    con = duckdb.connect()
    for s in W.DUCKDB_SETUP:
        con.execute(s.format(**params))
    uid = con.execute("SELECT user_id FROM ev GROUP BY user_id ORDER BY COUNT(*) DESC, user_id LIMIT 1").fetchone()[0]
    params["uid"] = uid
    con.close()
    meta = {"info": info, "params": params, "data": str(data)}
    meta_path.write_text(json.dumps(meta, indent=1))
    log(f"imported {imported} events in {wall:.1f}s ({imported / wall:,.0f} events/s), "
        f"{info['bytes_per_event']:.1f} bytes/event")
    return meta, meta_path


# ------------------------------------------------------------------ verify/bench
def selected_workloads(args):
    names = set(args.only.split(",")) if args.only else None
    known = {w["name"] for w in W.WORKLOADS}
    if names is not None and not names <= known:
        # A misspelt name would silently run nothing for it.
        sys.exit(f"--only: unknown workload(s) {', '.join(sorted(names - known))}; "
                 f"known: {', '.join(sorted(known))}")
    return [w for w in W.WORKLOADS if names is None or w["name"] in names]


def engine_sql(w, engine, meta):
    key = "trail" if engine.startswith("trail") else engine
    return fill(w[key], meta)


def first_rows(res):
    if "rows" in res:
        return res["rows"]
    return None


def verify(args, meta, meta_path, work, engines):
    """Each workload once on each engine; returns {workload: status}."""
    status = {}
    port = args.port
    for w in selected_workloads(args):
        answers = {}
        for eng in engines:
            sql = engine_sql(w, eng, meta)
            if eng == "trail":
                res = run_trail_sql(args.trail, meta["data"], sql)
            elif eng == "trail-wire":
                res = run_wire(args.trail, meta["data"], sql, 1, port, work, cold=False)
            else:
                res = run_worker(eng, sql, meta_path, 1, work)
            answers[eng] = res
        ref_eng = "duckdb" if "rows" in answers.get("duckdb", {}) else None
        st = {"engines": {}}
        for eng, res in answers.items():
            if "error" in res:
                st["engines"][eng] = {"ok": False, "error": res["error"]}
                continue
            st["engines"][eng] = {"ok": True, "rows": len(res["rows"])}
            if ref_eng and eng != ref_eng:
                diff = compare_answers(w["check"], answers[ref_eng]["rows"], res["rows"])
                if diff:
                    st["engines"][eng] = {"ok": False, "mismatch": diff}
        sample = answers.get(ref_eng or "trail", {}).get("rows")
        st["sample"] = (sample or [])[:3]
        status[w["name"]] = st
        summary = ", ".join(
            f"{e}: " + ("ok" if s.get("ok") else ("ERROR" if "error" in s else "MISMATCH"))
            for e, s in st["engines"].items())
        log(f"verify {w['name']}: {summary}")
        for e, s in st["engines"].items():
            if not s.get("ok"):
                log(f"    {e}: {s.get('error') or s.get('mismatch')}"[:1500])
    return status


def bench(args, meta, meta_path, work, engines, status):
    results = {}
    port = args.port
    runs = args.runs
    # Fixed cost of one `trail sql` process: median of SELECT 1.
    overhead = []
    for _ in range(max(runs, 5)):
        r = run_trail_sql(args.trail, meta["data"], W.TRIVIAL["trail"])
        if "error" in r:
            raise SystemExit(f"trail sql SELECT 1 fails: {r['error']}")
        overhead.append(r["time"])
    ov = statistics.median(overhead)
    results["_trail_overhead"] = {"median": ov, "times": overhead, "rss_kib": r["rss_kib"]}
    log(f"trail sql fixed cost (SELECT 1): {ov * 1000:.0f} ms")
    for eng in ("duckdb", "chdb"):
        if eng in engines:
            r = run_worker(eng, W.TRIVIAL[eng], meta_path, 1, work)
            results[f"_{eng}_baseline_rss_kib"] = r.get("rss_kib")
    for w in selected_workloads(args):
        name = w["name"]
        results[name] = {}
        for eng in engines:
            st = status[name]["engines"].get(eng, {})
            if not st.get("ok"):
                results[name][eng] = {"not_measured": st.get("error") or st.get("mismatch") or "not verified"}
                continue
            sql = engine_sql(w, eng, meta)
            if eng == "trail":
                drop_caches()
                cold = run_trail_sql(args.trail, meta["data"], sql)
                warm = [run_trail_sql(args.trail, meta["data"], sql) for _ in range(runs)]
                errs = [x["error"] for x in [cold] + warm if "error" in x]
                if errs:
                    results[name][eng] = {"not_measured": errs[0]}
                    continue
                times = [x["time"] for x in warm]
                res = {"cold": cold["time"], "warm_times": times, "warm": statistics.median(times),
                       "rss_kib": max(x["rss_kib"] or 0 for x in [cold] + warm)}
                res["warm_net"] = max(res["warm"] - ov, 0.0)
                res["cold_net"] = max(res["cold"] - ov, 0.0)
            elif eng == "trail-wire":
                r = run_wire(args.trail, meta["data"], sql, runs + 1, port, work, cold=True)
                if "error" in r:
                    results[name][eng] = {"not_measured": r["error"]}
                    continue
                res = {"cold": r["times"][0], "warm_times": r["times"][1:],
                       "warm": statistics.median(r["times"][1:]), "rss_kib": r["rss_kib"]}
            else:
                drop_caches()
                r = run_worker(eng, sql, meta_path, runs + 1, work)
                if "error" in r:
                    results[name][eng] = {"not_measured": r["error"]}
                    continue
                res = {"cold": r["times"][0], "warm_times": r["times"][1:],
                       "warm": statistics.median(r["times"][1:]), "rss_kib": r["rss_kib"]}
            results[name][eng] = res
            log(f"bench {name} {eng}: cold {res['cold'] * 1000:.0f} ms, warm {res['warm'] * 1000:.0f} ms"
                + (f" (net {res['warm_net'] * 1000:.0f} ms)" if "warm_net" in res else "")
                + f", max RSS {(res['rss_kib'] or 0) / 1024:.0f} MiB")
    return results


# --------------------------------------------------------------------- profile
def profile(args, meta, work, names):
    """perf record of `trail sql` for the named workloads; top symbols."""
    out = {}
    if not shutil.which("perf"):
        return {"_": "perf not installed"}
    for w in W.WORKLOADS:
        if w["name"] not in names:
            continue
        sql = fill(w["trail"], meta)
        pdata = work / f"perf-{w['name']}.data"
        p = subprocess.run(["perf", "record", "-F", "499", "-g", "-o", str(pdata), "--", args.trail, "sql",
                            "--data", meta["data"], "--format", "json", sql], capture_output=True, text=True)
        if p.returncode != 0:
            out[w["name"]] = f"perf record failed: {p.stderr[-500:]}"
            continue
        rep = subprocess.run(["perf", "report", "-i", str(pdata), "--no-children", "--sort", "symbol",
                              "--stdio", "--percent-limit", "2", "-g", "none"], capture_output=True, text=True)
        lines = [ln for ln in rep.stdout.splitlines() if ln.strip() and not ln.startswith("#")]
        out[w["name"]] = lines[:15]
        pdata.unlink(missing_ok=True)
    return out


def merge_remeasured(previous, run):
    """An `--only` run replaces its workloads' rows in the size's earlier results
    instead of the whole file; the report names the commit and command of each
    re-measured row."""
    merged = dict(previous)
    merged["results"] = {**previous["results"], **{k: v for k, v in run["results"].items() if not k.startswith("_")}}
    merged["verify"] = {**previous.get("verify", {}), **run["verify"]}
    merged["remeasured"] = dict(previous.get("remeasured") or {})
    for name in run["verify"]:
        merged["remeasured"][name] = {"commit": run["commit"], "date": run["date"], "command": run["command"]}
    if not run.get("reused"):
        # The data was imported again: its import figures replace the earlier ones.
        merged["info"] = run["info"]
        merged["import_remeasured"] = {"commit": run["commit"], "date": run["date"], "command": run["command"]}
    return merged


# ---------------------------------------------------------------------- report
def machine_info():
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import chdb
    import deltalake
    import duckdb
    import psycopg

    return {"cpu": cpu, "cores": os.cpu_count(), "mem_gib": round(mem, 1), "kernel": platform.release(),
            "python": platform.python_version(), "duckdb": duckdb.__version__, "chdb": chdb.__version__,
            "deltalake": deltalake.__version__, "psycopg": psycopg.__version__}


def fmt_ms(x):
    if x is None:
        return "—"
    return f"{x * 1000:,.0f}" if x >= 0.0995 else f"{x * 1000:.1f}"


def fmt_ratio(a, b):
    if a is None or b is None or b <= 0:
        return "—"
    return f"{a / b:.2f}"


def write_report(results_dir, out_path):
    files = sorted(results_dir.glob("*.json"), key=lambda p: int(p.stem) if p.stem.isdigit() else 0)
    runs = [json.loads(p.read_text()) for p in files]
    L = []
    L.append("# Trail vs DuckDB vs chDB — side-by-side results")
    L.append("")
    L.append("Generated by `benches/compare/run.sh` (driver `benches/compare/compare.py`, queries in "
             "`benches/compare/workloads.py`). Every number below was measured by that harness on the machine "
             "described; nothing is estimated. Raw data: `benches/compare/results/<events>.json`.")
    L.append("")
    if not runs:
        L.append("No results yet.")
        out_path.write_text("\n".join(L) + "\n")
        return
    m = runs[-1]["machine"]
    L.append("## Machine")
    L.append("")
    L.append(f"- CPU: {m['cpu']}, {m['cores']} cores; memory {m['mem_gib']} GiB; Linux {m['kernel']}")
    L.append("- Trail: release build (`cargo build --workspace --release`) of the commit named with each size")
    L.append(f"- Python {m['python']}: duckdb {m['duckdb']}, chdb {m['chdb']}, deltalake {m['deltalake']}, "
             f"psycopg {m['psycopg']}")
    L.append("")
    L.append("## How it is measured")
    L.append("")
    L.append("- Data: `trail gen --events N --days 30 --seed 42 --end <run date>`, imported with `trail import`. "
             "DuckDB and chDB read exactly the Parquet files the Delta log references (`DeltaTable.file_uris()`), "
             "events with hive partitioning, joined to the users Parquet for merged user ids and user properties, "
             "as Trail's `events` table does.")
    L.append("- Before timing, every workload runs once on every engine; answers are normalised (rows sorted, "
             "floats rounded to 4 places, numeric strings compared as numbers; for `ORDER BY … LIMIT` queries the "
             "multiset of the ordering column plus every row above the tie at the cut) and compared with DuckDB's. "
             "A workload that errors or disagrees is not timed for that engine and is listed below.")
    L.append("- **cold**: OS page cache dropped (`echo 3 > /proc/sys/vm/drop_caches`), fresh process, first run. "
             "**warm**: median of the following runs (`--runs`).")
    L.append("- **Trail (in process)** = one `trail sql --format json` process per query: the time includes process "
             "start, opening the Delta tables, planning and printing. `SELECT 1` measures that fixed cost; the "
             "**net** column subtracts it (median). DuckDB and chDB are timed inside their Python worker "
             "process (query + fetch only), so *net* is the fair column to compare.")
    L.append("- **Trail (wire)** = psycopg 3 (extended protocol) to `trail serve` on 127.0.0.1, one server per "
             "workload, cold = first query after server start with caches dropped; time = execute + fetchall.")
    L.append("- **Memory** = peak RSS: `/usr/bin/time -v` for `trail sql` and the Python workers (the worker's "
             "figure includes the Python interpreter and library, baseline given), VmHWM for `trail serve`.")
    L.append("")
    for run in runs:
        info = run["info"]
        n = info["events"]
        L.append(f"## {n:,} events")
        L.append("")
        L.append(f"Command: `{run['command']}` — run on {run['date']} at commit {run.get('commit', '?')}, "
                 f"{run.get('runs')} warm runs.")
        for wname, again in (run.get("remeasured") or {}).items():
            L.append(f"`{wname}` was re-measured alone on {again['date']} at commit {again['commit']} "
                     f"(`{again['command']}`); its rows below are from that run.")
        if run.get("import_remeasured"):
            again = run["import_remeasured"]
            L.append(f"The import was re-measured on {again['date']} at commit {again['commit']} "
                     f"(`{again['command']}`); the Import table below is from that run.")
        if run.get("trail_memory_limit"):
            L.append(f"Trail ran with a memory limit of {run['trail_memory_limit']} (`TRAIL_MEMORY_LIMIT`): "
                     "sorts and aggregates spill to disk beyond it.")
        L.append("")
        L.append("### Import")
        L.append("")
        L.append("| metric | value |")
        L.append("|---|---|")
        L.append(f"| events imported | {n:,} |")
        L.append(f"| import mode | {info['import_mode']} |")
        L.append(f"| import wall time | {info['import_seconds']:.1f} s |")
        L.append(f"| **import throughput** | **{info['import_events_per_s']:,.0f} events/s** (goal ≥ 500,000) |")
        if info.get("import_reported_events_per_s"):
            L.append(f"| throughput `trail import` reports | {info['import_reported_events_per_s']:,.0f} events/s |")
        L.append(f"| import peak RSS | {(info['import_rss_kib'] or 0) / 1024:,.0f} MiB |")
        L.append(f"| `du -sb DIR/events` | {info['events_dir_bytes']:,} bytes |")
        L.append(f"| **bytes on disk per event** | **{info['bytes_per_event']:.1f}** (goal < 40) |")
        L.append(f"| live Parquet files / bytes | {info['events_files']} / {info['live_parquet_bytes']:,} |")
        if info.get("ndjson_bytes"):
            L.append(f"| NDJSON input | {info['ndjson_bytes']:,} bytes ({info['ndjson_bytes'] / n:.0f} bytes/event); "
                     f"`trail gen` took {info['gen_seconds']:.1f} s |")
        L.append(f"| promoted event keys | {', '.join(info['promoted_event_keys'])} |")
        L.append(f"| promoted user keys | {', '.join(info['promoted_user_keys'])} |")
        L.append("")
        res = run["results"]
        ov = res.get("_trail_overhead", {})
        ov_min = min(ov["times"]) if ov.get("times") else None
        if ov_min is not None:
            for wname, per in res.items():
                t = per.get("trail") if isinstance(per, dict) else None
                if isinstance(t, dict) and "warm" in t:
                    t["warm_net"] = max(t["warm"] - ov_min, 0.0)
                    t["cold_net"] = max(t["cold"] - ov_min, 0.0)
        L.append(f"`trail sql` fixed cost (`SELECT 1`, {len(ov.get('times', []))} runs): median "
                 f"{fmt_ms(ov.get('median'))} ms, fastest **{fmt_ms(ov_min)} ms** (the *net* columns subtract the "
                 f"fastest, so they never subtract more start-up than was observed), peak RSS {(ov.get('rss_kib') or 0) / 1024:.0f} MiB. "
                 f"Python worker baseline RSS (`SELECT 1`): DuckDB "
                 f"{(res.get('_duckdb_baseline_rss_kib') or 0) / 1024:.0f} MiB, chDB "
                 f"{(res.get('_chdb_baseline_rss_kib') or 0) / 1024:.0f} MiB.")
        L.append("")
        L.append("### Warm medians (ms)")
        L.append("")
        L.append("| workload | Trail in process (raw) | Trail in process (**net**) | Trail wire | DuckDB | chDB | "
                 "Trail net / DuckDB | Trail net / chDB | wire / in-process net |")
        L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        wl = [w for w in W.WORKLOADS if w["name"] in res]
        notes = []
        for w in wl:
            r = res[w["name"]]

            def g(e, k):
                x = r.get(e, {})
                return x.get(k) if isinstance(x, dict) else None

            def cell(e, k):
                x = r.get(e, {})
                if "not_measured" in x:
                    notes.append((w["name"], e, x["not_measured"]))
                    return "not measured"
                return fmt_ms(x.get(k))

            L.append(f"| {w['name']} | {cell('trail', 'warm')} | {fmt_ms(g('trail', 'warm_net'))} | "
                     f"{cell('trail-wire', 'warm')} | {cell('duckdb', 'warm')} | {cell('chdb', 'warm')} | "
                     f"{fmt_ratio(g('trail', 'warm_net'), g('duckdb', 'warm'))} | "
                     f"{fmt_ratio(g('trail', 'warm_net'), g('chdb', 'warm'))} | "
                     f"{fmt_ratio(g('trail-wire', 'warm'), g('trail', 'warm_net'))} |")
        L.append("")
        L.append("### Cold (ms, page cache dropped, fresh process / fresh server)")
        L.append("")
        L.append("| workload | Trail in process (raw) | Trail in process (net) | Trail wire | DuckDB | chDB |")
        L.append("|---|---:|---:|---:|---:|---:|")
        for w in wl:
            r = res[w["name"]]

            def c(e, k):
                x = r.get(e, {})
                return "—" if "not_measured" in x else fmt_ms(x.get(k))

            L.append(f"| {w['name']} | {c('trail', 'cold')} | {c('trail', 'cold_net')} | {c('trail-wire', 'cold')} | "
                     f"{c('duckdb', 'cold')} | {c('chdb', 'cold')} |")
        L.append("")
        L.append("### Peak memory (MiB, max RSS)")
        L.append("")
        L.append("| workload | Trail in process | Trail serve (VmHWM) | DuckDB worker | chDB worker |")
        L.append("|---|---:|---:|---:|---:|")
        for w in wl:
            r = res[w["name"]]

            def mm(e):
                x = r.get(e, {})
                v = x.get("rss_kib")
                return "—" if v is None else f"{v / 1024:,.0f}"

            L.append(f"| {w['name']} | {mm('trail')} | {mm('trail-wire')} | {mm('duckdb')} | {mm('chdb')} |")
        L.append("")
        if notes:
            L.append("### Not measured")
            L.append("")
            seen = set()
            for name, e, why in notes:
                if (name, e) in seen:
                    continue
                seen.add((name, e))
                why1 = " ".join(str(why).split())[:600]
                L.append(f"- **{name}** on **{e}**: {why1}")
            L.append("")
        prof = run.get("profile")
        if prof:
            L.append("### Profiles (perf record -g of `trail sql`, self time by symbol, ≥ 2 %)")
            L.append("")
            for name, lines in prof.items():
                L.append(f"**{name}**")
                L.append("")
                L.append("```")
                L.extend([ln.rstrip(" -") for ln in lines] if isinstance(lines, list) else [str(lines)])
                L.append("```")
                L.append("")
    extra = results_dir.parent / "ANALYSIS.md"
    if extra.exists():
        L.append(extra.read_text())
    out_path.write_text("\n".join(L) + "\n")


# ------------------------------------------------------------------------ main
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="prepare + verify + bench one size")
    r.add_argument("--events", type=int, required=True)
    r.add_argument("--trail", default=str(REPO / "target/release/trail"))
    r.add_argument("--work", default=None, help="work dir (default benches/data/compare/<events>)")
    r.add_argument("--runs", type=int, default=5)
    r.add_argument("--end", default=None)
    r.add_argument("--port", type=int, default=55433)
    r.add_argument("--stream", action="store_true", help="gen | import without an NDJSON file (100M)")
    r.add_argument("--reuse", action="store_true", help="reuse an imported data set of the work dir")
    r.add_argument("--keep-going", action="store_true", help="time what verifies even if a workload disagrees")
    r.add_argument("--only", default=None, help="comma-separated workload names")
    r.add_argument("--engines", default=",".join(ENGINES))
    r.add_argument("--trail-memory-limit", default=None,
                   help="memory limit of Trail's queries (e.g. 3G; TRAIL_MEMORY_LIMIT): sorts and aggregates spill beyond it")
    r.add_argument("--profile", default="", help="comma-separated workloads to perf-profile on Trail")
    r.add_argument("--command", default=None, help="the command line to record in RESULTS.md")
    w = sub.add_parser("worker")
    w.add_argument("--engine", required=True)
    w.add_argument("--meta", required=True)
    w.add_argument("--sql-file", required=True)
    w.add_argument("--runs", type=int, default=1)
    rp = sub.add_parser("report")
    rp.add_argument("--results", default=str(HERE / "results"))
    rp.add_argument("--out", default=str(REPO / "benches/RESULTS.md"))
    args = ap.parse_args()
    if args.cmd == "run":
        selected_workloads(args)  # an unknown --only name stops here, before any import
    if args.cmd == "worker":
        return worker_main(args)
    if args.cmd == "report":
        write_report(Path(args.results), Path(args.out))
        return 0
    os.environ["TZ"] = "UTC"
    if args.trail_memory_limit:
        os.environ["TRAIL_MEMORY_LIMIT"] = args.trail_memory_limit
    work = Path(args.work or (REPO / "benches/data/compare" / str(args.events))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    if not Path(args.trail).exists():
        raise SystemExit(f"{args.trail} not found: build it with `cargo build --workspace --release`")
    can_drop = drop_caches()
    if not can_drop:
        log("cannot drop the page cache (not root?): cold runs are first runs in a fresh process only")
    meta, meta_path = prepare(args, work)
    engines = [e for e in args.engines.split(",") if e]
    today = dt.datetime.now(dt.timezone.utc).date().isoformat()
    if today != meta["info"]["end"]:
        log(f"WARNING: data ends {meta['info']['end']} but today is {today}; CURRENT_DATE() windows shift")
    status = verify(args, meta, meta_path, work, engines)
    bad = {n: {e: s for e, s in st["engines"].items() if not s.get("ok")} for n, st in status.items()}
    bad = {n: b for n, b in bad.items() if b}
    mismatches = {n: b for n, b in bad.items() if any("mismatch" in s for s in b.values())}
    (work / "verify.json").write_text(json.dumps(status, indent=1, default=str))
    if mismatches and not args.keep_going:
        log("ANSWERS DIFFER — stopping before timing. Details in " + str(work / "verify.json"))
        for n, b in mismatches.items():
            for e, s in b.items():
                log(f"  {n} / {e}: {s.get('mismatch') or s.get('error')}"[:2000])
        return 2
    results = bench(args, meta, meta_path, work, engines, status)
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    out = {"info": meta["info"], "params": {k: v for k, v in meta["params"].items() if "files" not in k and "glob" not in k},
           "machine": machine_info(), "commit": commit, "runs": args.runs,
           "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "command": args.command or " ".join(sys.argv), "cold_cache_dropped": can_drop,
           "reused": bool(args.reuse and meta.get("reused")),
           "trail_memory_limit": args.trail_memory_limit,
           "verify": {n: st["engines"] for n, st in status.items()}, "results": results}
    if args.profile:
        out["profile"] = profile(args, meta, work, set(args.profile.split(",")))
    rdir = HERE / "results"
    rdir.mkdir(exist_ok=True)
    path = rdir / f"{meta['info']['events']}.json"
    if args.only and path.exists():
        out = merge_remeasured(json.loads(path.read_text()), out)
    path.write_text(json.dumps(out, indent=1, default=str))
    write_report(rdir, REPO / "benches/RESULTS.md")
    log("wrote benches/RESULTS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main() or 0)
