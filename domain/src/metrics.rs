//! The names of relink's own Prometheus metrics (the `metrics` facade records them; the
//! web tier's `/metrics` and the worker's `WORKER_METRICS_ADDR/metrics` render them).
//! Durations are in seconds.

/// Gauge, label `state` (pill state): accounts showing that pill now.
pub const ACCOUNTS: &str = "relink_accounts";
/// Counter, label `outcome` (`link`, `refused`, `error`): Reconnect clicks answered.
pub const RECONNECT_CLICKS: &str = "relink_reconnect_clicks_total";
/// Histogram (seconds): how long a Reconnect click took to answer.
pub const RECONNECT_CLICK_SECONDS: &str = "relink_reconnect_click_seconds";
/// Counter, label `path` (the `RelinkPath`): rows relinked (reconnects completed).
pub const RELINKS: &str = "relink_relinks_total";
/// Histogram (seconds): from a row's disconnect to its relink.
pub const DISCONNECT_TO_RECONNECTED_SECONDS: &str = "relink_disconnect_to_reconnected_seconds";
/// Counter: campaigns that became active again.
pub const CAMPAIGNS_RESUMED: &str = "relink_campaigns_resumed_total";
/// Counter, labels `route` (e.g. `GET /api/v1/accounts/{id}`) and `outcome` (HTTP
/// status, or `timeout` / `unreachable`): calls to Unipile.
pub const UNIPILE_REQUESTS: &str = "relink_unipile_requests_total";
/// Counter, label `kind`: admin alerts raised.
pub const ALERTS_RAISED: &str = "relink_alerts_raised_total";
/// Gauge, label `schedule`: seconds since the loop last finished a pass.
pub const SCHEDULE_LAST_SUCCESS_AGE_SECONDS: &str = "relink_schedule_last_success_age_seconds";
/// Gauge: account-status webhooks stored and not yet handed to their sync.
pub const WEBHOOK_INBOX_WAITING: &str = "relink_webhook_inbox_waiting";
/// Gauge: seconds since the oldest webhook still waiting for its hand-off arrived (0
/// when none waits).
pub const WEBHOOK_INBOX_OLDEST_AGE_SECONDS: &str = "relink_webhook_inbox_oldest_age_seconds";

/// Histogram buckets of the `*_seconds` metrics: 5 ms to 1 week.
pub const SECONDS_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
    3600.0, 21600.0, 86400.0, 604800.0,
];
