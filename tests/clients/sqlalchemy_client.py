"""SQLAlchemy 2 inspector + pandas.read_sql over psycopg 3."""
import pandas as pd
import sqlalchemy as sa

from common import DB, HOST, PASSWORD, PORT, SPEC, USER, Checker, rows_text

c = Checker("sqlalchemy")
url = sa.URL.create("postgresql+psycopg", username=USER, password=PASSWORD or None, host=HOST, port=PORT, database=DB)
engine = sa.create_engine(url)
try:
    inspector = sa.inspect(engine)
    c.check("get_schema_names", sorted(s for s in inspector.get_schema_names() if s in ("public", "heap_export")), ["heap_export", "public"])
    c.check("get_table_names", sorted(inspector.get_table_names()), sorted(SPEC["tables"]))
    c.check("get_columns", [col["name"] for col in inspector.get_columns("events")], SPEC["events_columns"])
except Exception as e:  # noqa: BLE001
    c.fail("inspector", e)
with engine.connect() as conn:
    for case in SPEC["cases"]:
        sql = case["sql"]
        params = {}
        for i, p in enumerate(case.get("params", []), 1):
            sql = sql.replace(f"${i}", f":p{i}")
            params[f"p{i}"] = p
        try:
            frame = pd.read_sql(sa.text(sql), conn, params=params)
            c.check(case["name"], rows_text(frame.itertuples(index=False, name=None)), case["expect"])
        except Exception as e:  # noqa: BLE001
            c.fail(case["name"], e)
            conn.rollback()
c.done()
