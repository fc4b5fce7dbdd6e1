SELECT
user_properties.plan_level,
event_type,
COUNT(DISTINCT user_id) as users,
COUNT(*) as total_events,
COUNT(*) / COUNT(DISTINCT user_id) as avg_events_per_user
FROM
heap_export.events
WHERE
DATE(time) >= DATE_SUB(CURRENT_DATE(), INTERVAL 30 DAY)
AND event_type LIKE 'Feature:%'
GROUP BY
user_properties.plan_level,
event_type
ORDER BY
total_events DESC;
