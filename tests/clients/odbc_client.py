"""psqlODBC (Debian odbc-postgresql) through pyodbc: SQLTables, SQLColumns, queries."""
import pyodbc

from common import DB, HOST, PASSWORD, PORT, SPEC, USER, Checker, rows_text

c = Checker("odbc")
conn = pyodbc.connect(
    f"DRIVER={{PostgreSQL Unicode}};SERVER={HOST};PORT={PORT};DATABASE={DB};UID={USER};PWD={PASSWORD};",
    autocommit=True,
)
cur = conn.cursor()
try:
    tables = sorted({row.table_name for row in cur.tables(schema="public", tableType="TABLE")})
    c.check("SQLTables", tables, sorted(SPEC["tables"]))
    columns = [row.column_name for row in cur.columns(table="events", schema="public")]
    c.check("SQLColumns", columns, SPEC["events_columns"])
except Exception as e:  # noqa: BLE001
    c.fail("catalog", e)
for case in SPEC["cases"]:
    sql = case["sql"]
    for i in range(len(case.get("params", [])), 0, -1):
        sql = sql.replace(f"${i}", "?")
    try:
        cur.execute(sql, *case.get("params", []))
        c.check(case["name"], rows_text(cur.fetchall()), case["expect"])
    except Exception as e:  # noqa: BLE001
        c.fail(case["name"], e)
c.done()
