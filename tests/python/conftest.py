"""Shared fixtures: a data directory filled by the real `trail` binary.

`TRAIL_BIN` names the binary (default: target/debug/trail, built by
`cargo build --workspace`)."""

import csv
import io
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
TRAIL = os.environ.get("TRAIL_BIN", str(ROOT / "target" / "debug" / "trail"))


def trail(*args, data=None, stdin=None):
    cmd = [TRAIL, *args]
    if data is not None:
        cmd[2:2] = ["--data", str(data)]
    done = subprocess.run(cmd, input=stdin, capture_output=True, check=False)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} failed:\n{done.stderr.decode()}")
    return done.stdout.decode()


def trail_sql(data, query):
    """Rows of a query through `trail sql --format csv`, as lists of strings."""
    out = trail("sql", "--format", "csv", query, data=data)
    rows = list(csv.reader(io.StringIO(out)))
    return rows[0], rows[1:]


@pytest.fixture(scope="session")
def generated(tmp_path_factory):
    """3000 users of generated data (with merges), imported in two batches."""
    base = tmp_path_factory.mktemp("generated")
    data = base / "data"
    messages = trail("gen", "--users", "3000", "--days", "30", "--seed", "7").encode()
    lines = messages.splitlines(keepends=True)
    half = len(lines) // 2
    trail("import", "-", data=data, stdin=b"".join(lines[:half]))
    trail("import", "-", data=data, stdin=b"".join(lines[half:]))
    return data
