SELECT
user_id,
COUNT(DISTINCT DATE(time)) as active_days,
COUNT(DISTINCT session_id) as total_sessions,
COUNT(*) as total_events,
COUNT(DISTINCT event_type) as unique_event_types,
-- Engagement score formula
(COUNT(DISTINCT DATE(time)) * 5) +
(COUNT(DISTINCT session_id) * 2) +
(COUNT(DISTINCT event_type) * 10) as engagement_score
FROM
events
WHERE
time >= DATE_SUB(CURRENT_DATE(), INTERVAL 30 DAY)
GROUP BY
user_id
ORDER BY
engagement_score DESC
LIMIT 1000;
