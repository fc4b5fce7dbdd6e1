WITH conversion_paths AS (
SELECT
user_id,
ARRAY_AGG(event_type ORDER BY time) as event_sequence
FROM
events
WHERE
session_id IN (
SELECT DISTINCT session_id
FROM events
WHERE event_type = 'Purchase'
)
GROUP BY
user_id
)
SELECT
event_sequence,
COUNT(*) as path_frequency,
COUNT(*) * 100.0 / SUM(COUNT(*)) OVER() as path_percentage
FROM
conversion_paths
GROUP BY
event_sequence
ORDER BY
path_frequency DESC
LIMIT 20;
