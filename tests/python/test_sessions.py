"""Sessions Trail derives at import against an independent sessionization:
DuckDB's window functions over the same events, a new session after more than
30 minutes without an event of the (surviving) user. Generated data has
anonymous users merged into identified ones, whose events arrive after the
survivor's later ones: the case where deriving sessions chunk by chunk went
wrong."""

import collections

import duckdb
import pyarrow as pa

from conftest import trail, trail_sql

GAP_MICROS = 30 * 60 * 1_000_000


def test_derived_sessions_match_duckdb(tmp_path):
    data = tmp_path / "data"
    messages = trail("gen", "--users", "3000", "--days", "30", "--seed", "5").encode()
    trail("import", "-", data=data, stdin=messages)
    _, rows = trail_sql(
        data,
        "SELECT event_id, user_id, CAST(time AS BIGINT), session_id FROM events",
    )
    assert len(rows) > 100_000
    event_id, user_id, t, _ = zip(*rows)
    ev = pa.table({"event_id": event_id, "user_id": user_id, "t": [int(x) for x in t]})
    con = duckdb.connect()
    con.register("ev", ev)
    # Microseconds since the epoch: a 2020s timestamp has 16 digits.
    assert con.execute("SELECT MIN(t) > 1e15 AND MAX(t) < 1e16 FROM ev").fetchone()[0]
    theirs = con.execute(
        f"""
        WITH gaps AS (
          SELECT *, CASE WHEN t - LAG(t) OVER (PARTITION BY user_id ORDER BY t) <= {GAP_MICROS}
                         THEN 0 ELSE 1 END AS starts
          FROM ev)
        SELECT event_id, user_id,
               SUM(starts) OVER (PARTITION BY user_id ORDER BY t, starts DESC
                                 ROWS UNBOUNDED PRECEDING) AS n
        FROM gaps"""
    ).fetchall()
    # The same partition of the events into sessions, whatever the ids.
    session_of = {e: s for e, _, _, s in rows}
    ids_of_theirs = collections.defaultdict(set)
    theirs_of_id = collections.defaultdict(set)
    for event_id, user_id, n in theirs:
        ids_of_theirs[(user_id, n)].add(session_of[event_id])
        theirs_of_id[session_of[event_id]].add((user_id, n))
    split = {k: v for k, v in ids_of_theirs.items() if len(v) > 1}
    joined = {k: v for k, v in theirs_of_id.items() if len(v) > 1}
    assert not split, f"{len(split)} sessions split by Trail, e.g. {list(split.items())[:3]}"
    assert not joined, f"{len(joined)} Trail sessions span several, e.g. {list(joined.items())[:3]}"
    assert len(theirs_of_id) > 10_000
