"""The workloads of the side-by-side harness, one query per engine.

Each workload has the Trail SQL (as a user writes it: the product document's
queries verbatim), a DuckDB translation and a chDB (ClickHouse) translation.
DuckDB and chDB read the very Parquet files of the Delta table that Trail
reads; the translations rebuild what Trail's `events` table does on top of
those files:

* `user_id` is the *surviving* user id (Heap's user merges): the stored
  `user_id` mapped through `users.merged_into`;
* `user_properties.<key>` is the surviving user's property: the promoted
  column `up__<key>` (or the JSON rest column when the key is not promoted);
* `event_properties.<key>` is the promoted column `ep__<key>`, or the JSON
  rest column `event_properties_rest` when the key is not promoted.

Placeholders (`{today}`, `{d0}` …) are filled in by compare.py from the data
set's metadata. `check` says how answers are compared:

* `rows`: the full result, as a sorted multiset of normalised rows;
* `("topk", col)`: an ORDER BY … LIMIT query whose cut may fall inside a tie:
  the multiset of the ordering column must match, and so must every row whose
  ordering value is strictly better than the last row's.
"""

import pathlib

# Engine-side setup: DuckDB -------------------------------------------------
# `e` raw events, `umap` stored user id -> surviving id + survivor's props,
# `ev` events with the surviving user id and user properties.
DUCKDB_SETUP = [
    "SET TimeZone = 'UTC'",
    "CREATE VIEW e AS SELECT * FROM read_parquet({events_files}, hive_partitioning = true)",
    "CREATE VIEW u AS SELECT * FROM read_parquet({users_files})",
    "CREATE VIEW umap AS SELECT r.user_id AS uid, COALESCE(r.merged_into, r.user_id) AS canon, "
    "{duck_plan_level_s} AS plan_level "
    "FROM u r LEFT JOIN u s ON s.user_id = COALESCE(r.merged_into, r.user_id)",
    "CREATE VIEW ev AS SELECT e.* EXCLUDE (user_id), COALESCE(m.canon, e.user_id) AS user_id, m.plan_level "
    "FROM e LEFT JOIN umap m ON m.uid = e.user_id",
]

# Engine-side setup: chDB ---------------------------------------------------
CHDB_SETUP = [
    "CREATE DATABASE IF NOT EXISTS bench",
    "CREATE VIEW bench.e AS SELECT * FROM file('{events_glob}', Parquet) "
    "SETTINGS schema_inference_make_columns_nullable = 1",
    "CREATE VIEW bench.u AS SELECT * FROM file('{users_glob}', Parquet) "
    "SETTINGS schema_inference_make_columns_nullable = 1",
    "CREATE VIEW bench.umap AS SELECT r.user_id AS uid, coalesce(r.merged_into, r.user_id) AS canon, "
    "{ch_plan_level_s} AS plan_level "
    "FROM bench.u AS r LEFT JOIN bench.u AS s ON s.user_id = coalesce(r.merged_into, r.user_id) "
    "SETTINGS join_use_nulls = 1",
    "CREATE VIEW bench.ev AS SELECT e.* EXCEPT (user_id), coalesce(m.canon, e.user_id) AS user_id, m.plan_level "
    "FROM bench.e AS e LEFT JOIN bench.umap AS m ON m.uid = e.user_id "
    "SETTINGS join_use_nulls = 1",
]
CHDB_QUERY_SETTINGS = " SETTINGS join_use_nulls = 1, session_timezone = 'UTC'"

FUNNEL_STEPS = ["Signup Started", "Email Verified", "Profile Completed", "First Purchase"]


def _seed(name):
    """The product document's SQL block, verbatim, from testdata/seed_queries/
    (the same files the DuckDB differential test reads); `{user_id}` becomes
    this harness's `{uid}` placeholder."""
    root = pathlib.Path(__file__).resolve().parents[2]
    sql = (root / "testdata" / "seed_queries" / f"{name}.sql").read_text()
    return sql.replace("{user_id}", "{uid}").strip().rstrip(";")


def _conds(fmt):
    return ", ".join(fmt.format(s) for s in FUNNEL_STEPS)


WORKLOADS = [
    # ---------------------------------------------------------------- seed 1
    {
        "name": "feature_adoption",
        "title": "Feature adoption (seed query 1)",
        "check": "rows",
        "trail": _seed("feature_adoption"),
        "duckdb": """SELECT plan_level, event_type, COUNT(DISTINCT user_id) AS users, COUNT(*) AS total_events,
  COUNT(*) / COUNT(DISTINCT user_id) AS avg_events_per_user
FROM ev
WHERE CAST(time AS DATE) >= current_date - INTERVAL 30 DAY AND event_type LIKE 'Feature:%'
GROUP BY plan_level, event_type ORDER BY total_events DESC""",
        "chdb": """SELECT plan_level, event_type, uniqExact(user_id) AS users, count() AS total_events,
  count() / uniqExact(user_id) AS avg_events_per_user
FROM bench.ev
WHERE toDate(time) >= today() - 30 AND event_type LIKE 'Feature:%'
GROUP BY plan_level, event_type ORDER BY total_events DESC""",
    },
    # ---------------------------------------------------------------- seed 2
    {
        "name": "funnel_dropoff",
        "title": "Conversion funnel with drop-off (seed query 2)",
        "check": "rows",
        "trail": _seed("funnel"),
        "duckdb": """WITH funnel_steps AS (
  SELECT session_id,
    MAX(IF(event_type = 'Signup Started', 1, 0)) AS started,
    MAX(IF(event_type = 'Email Verified', 1, 0)) AS verified,
    MAX(IF(event_type = 'Profile Completed', 1, 0)) AS completed,
    MAX(IF(event_type = 'First Purchase', 1, 0)) AS purchased
  FROM e WHERE CAST(time AS DATE) >= current_date - INTERVAL 7 DAY GROUP BY session_id)
SELECT SUM(started), SUM(verified), SUM(completed), SUM(purchased),
  ROUND(SUM(verified) / SUM(started) * 100, 2), ROUND(SUM(completed) / SUM(verified) * 100, 2),
  ROUND(SUM(purchased) / SUM(completed) * 100, 2)
FROM funnel_steps WHERE started = 1""",
        "chdb": """WITH funnel_steps AS (
  SELECT session_id,
    max(if(event_type = 'Signup Started', 1, 0)) AS started,
    max(if(event_type = 'Email Verified', 1, 0)) AS verified,
    max(if(event_type = 'Profile Completed', 1, 0)) AS completed,
    max(if(event_type = 'First Purchase', 1, 0)) AS purchased
  FROM bench.e WHERE toDate(time) >= today() - 7 GROUP BY session_id)
SELECT sum(started), sum(verified), sum(completed), sum(purchased),
  round(sum(verified) / sum(started) * 100, 2), round(sum(completed) / sum(verified) * 100, 2),
  round(sum(purchased) / sum(completed) * 100, 2)
FROM funnel_steps WHERE started = 1""",
    },
    # ---------------------------------------------------------------- seed 3
    {
        "name": "engagement_score",
        "title": "Engagement score, top 1000 (seed query 3)",
        "check": ("topk", 5),
        "trail": _seed("engagement"),
        "duckdb": """SELECT user_id, COUNT(DISTINCT CAST(time AS DATE)) AS active_days, COUNT(DISTINCT session_id) AS total_sessions,
  COUNT(*) AS total_events, COUNT(DISTINCT event_type) AS unique_event_types,
  COUNT(DISTINCT CAST(time AS DATE)) * 5 + COUNT(DISTINCT session_id) * 2 + COUNT(DISTINCT event_type) * 10 AS engagement_score
FROM ev WHERE time >= current_date - INTERVAL 30 DAY
GROUP BY user_id ORDER BY engagement_score DESC LIMIT 1000""",
        "chdb": """SELECT user_id, uniqExact(toDate(time)) AS active_days, uniqExact(session_id) AS total_sessions,
  count() AS total_events, uniqExact(event_type) AS unique_event_types,
  uniqExact(toDate(time)) * 5 + uniqExact(session_id) * 2 + uniqExact(event_type) * 10 AS engagement_score
FROM bench.ev WHERE time >= toDateTime(today() - 30, 'UTC')
GROUP BY user_id ORDER BY engagement_score DESC LIMIT 1000""",
    },
    # ---------------------------------------------------------------- seed 4
    {
        "name": "recommendations_one_user",
        "title": "Recommendations: one user's top events (seed query 4)",
        "check": ("topk", 1),
        "trail": _seed("recommendations"),
        "duckdb": """SELECT event_type, COUNT(*) AS frequency FROM ev
WHERE user_id = '{uid}' AND time >= current_date - INTERVAL 30 DAY
GROUP BY event_type ORDER BY frequency DESC LIMIT 10""",
        "chdb": """SELECT event_type, count() AS frequency FROM bench.ev
WHERE user_id = '{uid}' AND time >= toDateTime(today() - 30, 'UTC')
GROUP BY event_type ORDER BY frequency DESC LIMIT 10""",
    },
    # ---------------------------------------------------------------- seed 5
    {
        "name": "conversion_paths",
        "title": "Conversion paths, top 20 (seed query 5)",
        "check": ("topk", 1),
        "trail": _seed("conversion_paths"),
        "duckdb": """WITH conversion_paths AS (
  SELECT user_id, array_agg(event_type ORDER BY time) AS event_sequence FROM ev
  WHERE session_id IN (SELECT DISTINCT session_id FROM e WHERE event_type = 'Purchase')
  GROUP BY user_id)
SELECT event_sequence, COUNT(*) AS path_frequency, COUNT(*) * 100.0 / SUM(COUNT(*)) OVER () AS path_percentage
FROM conversion_paths GROUP BY event_sequence ORDER BY path_frequency DESC LIMIT 20""",
        "chdb": """WITH conversion_paths AS (
  SELECT user_id, arrayMap(x -> x.2, arraySort(x -> x.1, groupArray((time, event_type)))) AS event_sequence
  FROM bench.ev
  WHERE session_id IN (SELECT DISTINCT session_id FROM bench.e WHERE event_type = 'Purchase')
  GROUP BY user_id)
SELECT event_sequence, count() AS path_frequency, count() * 100.0 / sum(count()) OVER () AS path_percentage
FROM conversion_paths GROUP BY event_sequence ORDER BY path_frequency DESC LIMIT 20""",
    },
    # ------------------------------------------------------ behavioural: funnel
    {
        "name": "window_funnel_4step",
        "title": "window_funnel, 4 steps, 1-day window, by user (distribution of levels)",
        "check": "rows",
        "trail": """SELECT level, COUNT(*) AS users FROM (
  SELECT user_id, window_funnel(INTERVAL '1 day', time, """
        + _conds("event_type = '{}'")
        + """) AS level
  FROM events GROUP BY user_id) f
GROUP BY level ORDER BY level""",
        # DuckDB has no windowFunnel: for each step-1 event, chain the earliest
        # following step-k event with ASOF joins and keep what lies within one day
        # of the step-1 event; a user's level is the best over its step-1 events.
        "duckdb": """WITH s1 AS (SELECT user_id, time AS t1 FROM ev WHERE event_type = 'Signup Started'),
s2 AS (SELECT user_id, time AS t FROM ev WHERE event_type = 'Email Verified'),
s3 AS (SELECT user_id, time AS t FROM ev WHERE event_type = 'Profile Completed'),
s4 AS (SELECT user_id, time AS t FROM ev WHERE event_type = 'First Purchase'),
c2 AS (SELECT s1.user_id, s1.t1, s2.t AS t2 FROM s1 ASOF LEFT JOIN s2 ON s1.user_id = s2.user_id AND s2.t >= s1.t1),
c3 AS (SELECT c2.*, s3.t AS t3 FROM c2 ASOF LEFT JOIN s3 ON c2.user_id = s3.user_id AND s3.t >= c2.t2),
c4 AS (SELECT c3.*, s4.t AS t4 FROM c3 ASOF LEFT JOIN s4 ON c3.user_id = s4.user_id AND s4.t >= c3.t3),
lv AS (SELECT user_id, MAX(CASE
    WHEN t4 IS NOT NULL AND t4 <= t1 + INTERVAL 1 DAY THEN 4
    WHEN t3 IS NOT NULL AND t3 <= t1 + INTERVAL 1 DAY THEN 3
    WHEN t2 IS NOT NULL AND t2 <= t1 + INTERVAL 1 DAY THEN 2 ELSE 1 END) AS level
  FROM c4 GROUP BY user_id),
allu AS (SELECT DISTINCT user_id FROM ev)
SELECT COALESCE(lv.level, 0) AS level, COUNT(*) AS users
FROM allu LEFT JOIN lv ON lv.user_id = allu.user_id GROUP BY 1 ORDER BY 1""",
        "chdb": """SELECT level, count() AS users FROM (
  SELECT user_id, windowFunnel(86400)(toDateTime(time), """
        + _conds("event_type = '{}'")
        + """) AS level
  FROM bench.ev GROUP BY user_id)
GROUP BY level ORDER BY level""",
    },
    # The baseline window_funnel is judged against (issue 4: the funnel may cost
    # at most 1.5x a plain per-user count over the same events).
    {
        "name": "count_by_user",
        "title": "Baseline for window_funnel: COUNT(*) GROUP BY user_id over the same events",
        "check": "rows",
        "trail": """SELECT COUNT(*) AS users, SUM(n) AS events FROM (
  SELECT user_id, COUNT(*) AS n FROM events GROUP BY user_id) c""",
        "duckdb": """SELECT COUNT(*) AS users, SUM(n) AS events FROM (
  SELECT user_id, COUNT(*) AS n FROM ev GROUP BY user_id) c""",
        "chdb": """SELECT count() AS users, sum(n) AS events FROM (
  SELECT user_id, count() AS n FROM bench.ev GROUP BY user_id)""",
    },
    # ------------------------------------------------- behavioural: sessionize
    {
        "name": "sessionize_30min",
        "title": "Sessionization of raw events (30-minute gap), ignoring stored session ids",
        "check": "rows",
        "trail": """SELECT COUNT(*) AS users, SUM(m) AS sessions FROM (
  SELECT user_id, MAX(s) AS m FROM (
    SELECT user_id, sessionize(time, INTERVAL '30 minutes') OVER (PARTITION BY user_id ORDER BY time) AS s
    FROM events) t
  GROUP BY user_id) x""",
        "duckdb": """SELECT COUNT(*) AS users, SUM(m) AS sessions FROM (
  SELECT user_id, MAX(s) AS m FROM (
    SELECT user_id, SUM(CASE WHEN prev IS NULL OR time - prev > INTERVAL 30 MINUTE THEN 1 ELSE 0 END)
           OVER (PARTITION BY user_id ORDER BY time ROWS UNBOUNDED PRECEDING) AS s
    FROM (SELECT user_id, time, LAG(time) OVER (PARTITION BY user_id ORDER BY time) AS prev FROM ev) a) t
  GROUP BY user_id) x""",
        "chdb": """SELECT count() AS users, sum(m) AS sessions FROM (
  SELECT user_id, max(s) AS m FROM (
    SELECT user_id, sum(if(ts - prev > 1800000000, 1, 0))
           OVER (PARTITION BY user_id ORDER BY ts ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS s
    FROM (SELECT user_id, toUnixTimestamp64Micro(time) AS ts,
                 lagInFrame(toUnixTimestamp64Micro(time), 1, toInt64(-4000000000000000000))
                   OVER (PARTITION BY user_id ORDER BY time ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS prev
          FROM bench.ev) a) t
  GROUP BY user_id) x""",
    },
    # -------------------------------------------------- behavioural: retention
    {
        "name": "retention_7day",
        "title": "7-day retention of the users active on day D0 (D0 = end - 14 days)",
        "check": "rows",
        "trail": "SELECT "
        + ", ".join(f"SUM(CASE WHEN r[{i + 1}] THEN 1 ELSE 0 END) AS d{i}" for i in range(8))
        + " FROM (SELECT user_id, retention("
        + ", ".join(f"DATE(time) = DATE '{{d{i}}}'" for i in range(8))
        + ") AS r FROM events GROUP BY user_id) x",
        "duckdb": "SELECT "
        + ", ".join(
            ("SUM(CASE WHEN c0 THEN 1 ELSE 0 END)" if i == 0 else f"SUM(CASE WHEN c0 AND c{i} THEN 1 ELSE 0 END)")
            + f" AS d{i}"
            for i in range(8)
        )
        + " FROM (SELECT user_id, "
        + ", ".join(f"bool_or(CAST(time AS DATE) = DATE '{{d{i}}}') AS c{i}" for i in range(8))
        + " FROM ev GROUP BY user_id) x",
        "chdb": "SELECT "
        + ", ".join(f"sum(r[{i + 1}]) AS d{i}" for i in range(8))
        + " FROM (SELECT user_id, retention("
        + ", ".join(f"toDate(time) = toDate('{{d{i}}}')" for i in range(8))
        + ") AS r FROM bench.ev GROUP BY user_id)",
    },
    # ------------------------------------------------------- property access
    {
        "name": "prop_filter_promoted",
        "title": "Property filter + group-by on promoted keys (cart_value, quantity)",
        "check": "rows",
        "trail": """SELECT event_properties.quantity AS quantity, COUNT(*) AS n,
  ROUND(SUM(CAST(event_properties.cart_value AS DOUBLE)), 2) AS value
FROM events
WHERE event_type = 'Add to Cart' AND CAST(event_properties.cart_value AS DOUBLE) > 100
GROUP BY 1 ORDER BY 1""",
        "duckdb": """SELECT {duck_quantity} AS quantity, COUNT(*) AS n, ROUND(SUM({duck_cart_value}), 2) AS value
FROM e WHERE event_type = 'Add to Cart' AND {duck_cart_value} > 100 GROUP BY 1 ORDER BY 1""",
        "chdb": """SELECT {ch_quantity} AS quantity, count() AS n, round(sum({ch_cart_value}), 2) AS value
FROM bench.e WHERE event_type = 'Add to Cart' AND {ch_cart_value} > 100 GROUP BY 1 ORDER BY 1""",
    },
    {
        "name": "prop_filter_rest",
        "title": "Property filter + group-by on non-promoted keys (signup_source, plan)",
        "check": "rows",
        "trail": """SELECT event_properties->>'plan' AS plan, COUNT(*) AS n
FROM events
WHERE (event_properties->>'signup_source') = 'referral'
GROUP BY 1 ORDER BY 1""",
        "duckdb": """SELECT {duck_plan} AS plan, COUNT(*) AS n FROM e
WHERE {duck_signup_source} = 'referral' GROUP BY 1 ORDER BY 1""",
        "chdb": """SELECT {ch_plan} AS plan, count() AS n FROM bench.e
WHERE {ch_signup_source} = 'referral' GROUP BY 1 ORDER BY 1""",
    },
    # ------------------------------------------------------------- full scan
    {
        "name": "count_star",
        "title": "Full scan COUNT(*)",
        "check": "rows",
        "trail": "SELECT COUNT(*) FROM events",
        "duckdb": "SELECT COUNT(*) FROM e",
        "chdb": "SELECT count() FROM bench.e",
    },
]

# A trivial query: the fixed cost of a `trail sql` process (start, open the
# Delta tables, plan, print), subtracted from the in-process Trail figures.
TRIVIAL = {"trail": "SELECT 1", "duckdb": "SELECT 1", "chdb": "SELECT 1"}


def prop_exprs(event_cols, user_cols):
    """Per-engine expressions for the properties the workloads read, following
    the stored layout (promoted typed column or JSON rest column)."""
    out = {}
    for key, typ in [("cart_value", "DOUBLE"), ("quantity", "BIGINT"), ("plan", "VARCHAR"), ("signup_source", "VARCHAR")]:
        col = f"ep__{key}"
        if col in event_cols:
            out[f"duck_{key}"] = f'"{col}"'
            out[f"ch_{key}"] = f"`{col}`"
        else:
            if typ == "VARCHAR":
                out[f"duck_{key}"] = f"json_extract_string(event_properties_rest, '$.{key}')"
                out[f"ch_{key}"] = f"JSONExtractString(event_properties_rest, '{key}')"
            else:
                out[f"duck_{key}"] = f"TRY_CAST(json_extract_string(event_properties_rest, '$.{key}') AS {typ})"
                ch_t = "Float64" if typ == "DOUBLE" else "Int64"
                out[f"ch_{key}"] = f"JSONExtract(event_properties_rest, '{key}', 'Nullable({ch_t})')"
    if "up__plan_level" in user_cols:
        out["duck_plan_level_s"] = "s.up__plan_level"
        out["ch_plan_level_s"] = "s.up__plan_level"
    else:
        out["duck_plan_level_s"] = "json_extract_string(s.user_properties_rest, '$.plan_level')"
        out["ch_plan_level_s"] = "JSONExtractString(s.user_properties_rest, 'plan_level')"
    return out
