"""asyncpg: binary protocol, prepared statements, type introspection."""
import asyncio

import asyncpg

from common import DB, HOST, PASSWORD, PORT, SPEC, USER, Checker, day, rows_text

c = Checker("asyncpg")


async def main():
    conn = await asyncpg.connect(host=HOST, port=PORT, user=USER, password=PASSWORD or None, database=DB)
    try:
        for case in SPEC["cases"]:
            try:
                rows = await conn.fetch(case["sql"], *case.get("params", []))
                c.check(case["name"], rows_text([tuple(r.values()) for r in rows]), case["expect"])
            except Exception as e:  # noqa: BLE001
                c.fail(case["name"], e)
        try:
            row = await conn.fetchrow("SELECT event_properties, time FROM events WHERE event_type = 'First Purchase'")
            c.check("json+timestamptz", [row[0], row[1].isoformat()], ['{"amount":49.5}', f"{day(2)}T10:20:00+00:00"])
        except Exception as e:  # noqa: BLE001
            c.fail("json+timestamptz", e)
    finally:
        await conn.close()


asyncio.run(main())
c.done()
