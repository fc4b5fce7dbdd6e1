"""psql: every case through `psql -At`, plus `\dt`, `\d events`, `\d+ events` and `\copy`."""
import os
import subprocess

from common import DB, HOST, PORT, SPEC, USER, Checker

c = Checker("psql")


def psql(command):
    env = dict(os.environ, PGCONNECT_TIMEOUT="10")
    out = subprocess.run(
        ["psql", "-X", "-At", "-F", "\t", "-h", HOST, "-p", str(PORT), "-U", USER, "-d", DB,
         "-v", "ON_ERROR_STOP=1", "-c", command],
        capture_output=True, text=True, env=env, timeout=60,
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip())
    return [line.split("\t") for line in out.stdout.splitlines() if line]


for case in SPEC["cases"]:
    sql = case["sql"]
    for i, p in enumerate(case.get("params", []), 1):
        sql = sql.replace(f"${i}", "'" + p.replace("'", "''") + "'")
    try:
        c.check(case["name"], psql(sql), case["expect"])
    except Exception as e:  # noqa: BLE001
        c.fail(case["name"], e)

try:
    listed = sorted({row[1] for row in psql(r"\dt")})
    c.check(r"\dt", listed, sorted(SPEC["tables"]))
except Exception as e:  # noqa: BLE001
    c.fail(r"\dt", e)
for command in (r"\d events", r"\d+ events"):
    try:
        rows = psql(command)
        c.check(command, [row[0] for row in rows if len(row) > 1], SPEC["events_columns"])
    except Exception as e:  # noqa: BLE001
        c.fail(command, e)
try:
    c.check("copy csv", psql(r"\copy (SELECT user_id FROM events WHERE event_type = 'Profile Completed') TO STDOUT WITH CSV HEADER"), [["user_id"], ["u1"]])
except Exception as e:  # noqa: BLE001
    c.fail("copy csv", e)
c.done()
