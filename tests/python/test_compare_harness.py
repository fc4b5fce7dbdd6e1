"""The benchmark harness's command line: a misspelt workload name stops the
run before it generates or imports anything."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_unknown_only_name_stops_before_any_work(tmp_path):
    work = tmp_path / "work"
    run = subprocess.run(
        [sys.executable, str(REPO / "benches/compare/compare.py"), "run", "--events", "1000",
         "--work", str(work), "--only", "count_star,full_scan_count"],
        capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert "unknown workload(s) full_scan_count" in run.stderr
    assert "count_star" in run.stderr  # the known names are listed
    assert not work.exists()
