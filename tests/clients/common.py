"""Shared helpers for the Python client programs: the cases and the connection."""
import datetime
import decimal
import json
import os
import pathlib
import re
import sys

HERE = pathlib.Path(__file__).resolve().parent
SPEC = json.loads((HERE / "cases.json").read_text())
HOST = os.environ.get("TRAIL_PG_HOST", "127.0.0.1")
PORT = int(os.environ["TRAIL_PG_PORT"])
USER = os.environ.get("TRAIL_PG_USER", "trail")
PASSWORD = os.environ.get("PGPASSWORD", "")
DB = os.environ.get("TRAIL_PG_DB", "trail")
# The day run_all.sh filled the fixture's {{D-n}} placeholders from (UTC).
TODAY = datetime.date.fromisoformat(
    os.environ.get("TRAIL_FIXTURE_TODAY") or datetime.datetime.now(datetime.timezone.utc).date().isoformat()
)


def day(n):
    """The fixture's {{D-n}}: n days before TODAY, as YYYY-MM-DD."""
    return (TODAY - datetime.timedelta(days=n)).isoformat()


def norm(value):
    """Numbers compare by value: `50.0` (numeric, Java) and `50` (float8, Python) agree."""
    if isinstance(value, list):
        return [norm(v) for v in value]
    if isinstance(value, str) and re.fullmatch(r"-?\d+\.0+", value):
        return value.split(".")[0]
    return value


def text(v):
    if v is None:
        return None
    if isinstance(v, bool):
        return "t" if v else "f"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, decimal.Decimal):
        return format(v, "f")
    if isinstance(v, (datetime.date, datetime.datetime)):
        return v.isoformat()
    return str(v)


def rows_text(rows):
    return [[text(v) for v in row] for row in rows]


class Checker:
    def __init__(self, client):
        self.client = client
        self.failures = 0

    def check(self, name, got, expect):
        if norm(got) == norm(expect):
            print(f"ok   {self.client} {name}")
        else:
            self.failures += 1
            print(f"FAIL {self.client} {name}: got {got!r}, expected {expect!r}")

    def fail(self, name, error):
        self.failures += 1
        print(f"FAIL {self.client} {name}: {error}")

    def done(self):
        sys.exit(1 if self.failures else 0)
