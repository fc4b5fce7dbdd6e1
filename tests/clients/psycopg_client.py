"""psycopg 3: cases with server-side parameters, text and binary."""
import psycopg

from common import DB, HOST, PASSWORD, PORT, SPEC, USER, Checker, rows_text

c = Checker("psycopg")
with psycopg.connect(host=HOST, port=PORT, user=USER, password=PASSWORD, dbname=DB) as conn:
    for binary in (False, True):
        for case in SPEC["cases"]:
            sql = case["sql"]
            for i in range(len(case.get("params", [])), 0, -1):
                sql = sql.replace(f"${i}", "%s")
            try:
                with conn.cursor(binary=binary) as cur:
                    cur.execute(sql, case.get("params") or None)
                    c.check(f"{case['name']} binary={binary}", rows_text(cur.fetchall()), case["expect"])
            except Exception as e:  # noqa: BLE001
                c.fail(case["name"], e)
                conn.rollback()
c.done()
