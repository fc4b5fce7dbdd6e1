WITH funnel_steps AS (
SELECT
session_id,
MAX(IF(event_type = 'Signup Started', 1, 0)) as started,
MAX(IF(event_type = 'Email Verified', 1, 0)) as verified,
MAX(IF(event_type = 'Profile Completed', 1, 0)) as completed,
MAX(IF(event_type = 'First Purchase', 1, 0)) as purchased
FROM
heap_export.events
WHERE
DATE(time) >= DATE_SUB(CURRENT_DATE(), INTERVAL 7 DAY)
GROUP BY
session_id
)
SELECT
SUM(started) as step1_signup_started,
SUM(verified) as step2_email_verified,
SUM(completed) as step3_profile_completed,
SUM(purchased) as step4_first_purchase,
ROUND(SUM(verified) / SUM(started) * 100, 2) as started_to_verified,
ROUND(SUM(completed) / SUM(verified) * 100, 2) as verified_to_completed,
ROUND(SUM(purchased) / SUM(completed) * 100, 2) as completed_to_purchased
FROM
funnel_steps
WHERE
started = 1;
