SELECT event_type, COUNT(*) as frequency
FROM events
WHERE user_id = '{user_id}'
AND time >= DATE_SUB(CURRENT_DATE(), INTERVAL 30 DAY)
GROUP BY event_type
ORDER BY frequency DESC
LIMIT 10
