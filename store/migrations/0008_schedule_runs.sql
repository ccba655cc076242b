-- When each scheduled loop last finished a pass (issue 12): the age of its last
-- successful run is a metric, and an alert when it is older than two intervals.
CREATE TABLE schedule_runs (
    schedule        text PRIMARY KEY,
    last_success_at timestamptz NOT NULL
);
