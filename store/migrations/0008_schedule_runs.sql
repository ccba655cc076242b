-- When each scheduled loop last finished a pass (issue 12), and its interval as
-- `starter schedules apply` last set it: the age of the last finished pass is a metric,
-- and an alert when it is older than two intervals (plus a grace).
CREATE TABLE schedule_runs (
    schedule        text PRIMARY KEY,
    last_success_at timestamptz,
    interval_secs   integer CHECK (interval_secs > 0)
);
