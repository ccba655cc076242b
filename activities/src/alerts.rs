//! The alert notifier's activity: posts each new admin alert to the operator channel
//! (`ALERT_WEBHOOK_URL`, Slack-compatible JSON), at most once per notification key and
//! hour (`relink_domain::alerts::notify_key`), and not at all once it has healed. A
//! failed post is retried with the email sender's backoff.

use relink_domain::alerts::{
    AlertPassInput, AlertPassSummary, notify_key, slack_message, stale_schedules,
};
use relink_domain::{AlertKind, Severity};
use relink_store::{AlertToNotify, Store};
use relink_workflows::activities::names;
use secrecy::{ExposeSecret, SecretString};
use std::{sync::Arc, time::Duration};
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

use crate::{PassClock, store_err};

/// How long a claimed alert is reserved for this pass (seconds).
const CLAIM_LEASE_SECS: i64 = 900;
/// The timeout of one POST to the operator channel.
const POST_TIMEOUT: Duration = Duration::from_secs(10);
/// Kept for recording an outcome after a POST, before the pass's deadline.
const RECORD_RESERVE: Duration = Duration::from_secs(1);
/// An alert is posted only with at least this much left (plus [`RECORD_RESERVE`]) before
/// the pass's deadline; the rest wait for the next pass.
const MIN_POST: Duration = Duration::from_secs(3);

/// The alert-notifier activities.
pub struct AlertActivities {
    store: Store,
    http: reqwest::Client,
    /// The operator channel; `None`: alerts stay in the database (a pass says so).
    webhook_url: Option<SecretString>,
}

impl AlertActivities {
    /// Over a shared store, posting to `webhook_url` (10 s timeout, no redirects).
    pub fn new(store: Store, webhook_url: Option<SecretString>) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(POST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            store,
            http,
            webhook_url,
        })
    }

    /// Raises `schedule.stale` for each loop whose last finished pass is older than two
    /// of its intervals (`relink_domain::alerts::stale_schedules`), and acknowledges it
    /// for the loops that are fresh again. A loop that never ran is not judged.
    async fn check_schedules(&self) -> Result<(), ActivityError> {
        let ages = self
            .store
            .schedule_ages()
            .await
            .map_err(store_err)?
            .into_iter()
            .map(|(s, a)| (s, (a.age_secs, a.interval_secs)))
            .collect();
        let mut still = Vec::new();
        for (schedule, interval_secs, age_secs) in stale_schedules(&ages) {
            let key = format!("{}:{schedule}", AlertKind::ScheduleStale);
            self.store
                .raise_alert(
                    AlertKind::ScheduleStale,
                    Severity::Critical,
                    &format!(
                        "the {schedule} loop last finished a pass {age_secs} s ago (it runs every {interval_secs} s): check its Schedule and the worker"
                    ),
                    serde_json::json!({"schedule": schedule, "age_secs": age_secs, "interval_secs": interval_secs}),
                    &key,
                )
                .await
                .map_err(store_err)?;
            still.push(key);
        }
        self.store
            .acknowledge_healed(AlertKind::ScheduleStale, &still)
            .await
            .map_err(store_err)?;
        Ok(())
    }

    /// One alert: healed, suppressed, sent or failed.
    async fn notify(
        &self,
        url: &SecretString,
        a: &AlertToNotify,
        summary: &mut AlertPassSummary,
        clock: PassClock,
    ) -> Result<(), ActivityError> {
        let alert = &a.alert;
        let key = notify_key(alert.kind, &alert.dedup_key, &alert.payload);
        if alert.acknowledged_at.is_some() {
            self.store
                .record_alert_notified(alert.id, "healed", &key)
                .await
                .map_err(store_err)?;
            summary.healed.push(alert.id);
            return Ok(());
        }
        if self
            .store
            .notified_recently(&key)
            .await
            .map_err(store_err)?
        {
            self.store
                .record_alert_notified(alert.id, "suppressed", &key)
                .await
                .map_err(store_err)?;
            summary.suppressed.push(alert.id);
            return Ok(());
        }
        let body = slack_message(alert.id, alert.kind, alert.severity, &alert.message);
        let sent = self
            .http
            .post(url.expose_secret())
            .timeout(clock.bound(POST_TIMEOUT, RECORD_RESERVE))
            .json(&body)
            .send()
            .await;
        let error = match sent {
            Ok(r) if r.status().is_success() => {
                self.store
                    .record_alert_notified(alert.id, "sent", &key)
                    .await
                    .map_err(store_err)?;
                tracing::info!(alert_id = alert.id, kind = %alert.kind, "alert sent to the operator channel");
                summary.notified.push(alert.id);
                return Ok(());
            }
            Ok(r) => format!("HTTP {}", r.status().as_u16()),
            // The URL is a secret (Slack's carries its token): never in the message.
            Err(e) => e.without_url().to_string(),
        };
        let attempt = u32::try_from(a.attempts).unwrap_or(0) + 1;
        let retry = relink_domain::emails::retry_delay_secs(attempt);
        tracing::warn!(
            alert_id = alert.id,
            attempt,
            retry_in_secs = retry,
            error,
            "alert not sent"
        );
        self.store
            .record_alert_notify_failed(alert.id, &error, retry)
            .await
            .map_err(store_err)?;
        summary.failed.push(alert.id);
        Ok(())
    }
}

#[activities]
impl AlertActivities {
    /// Implements `notify_alerts`.
    #[activity(name = names::NOTIFY_ALERTS)]
    #[tracing::instrument(skip_all, fields(batch = input.batch))]
    pub async fn notify_alerts(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: AlertPassInput,
    ) -> Result<AlertPassSummary, ActivityError> {
        let mut summary = AlertPassSummary::default();
        // Stale loops are alerts in the database whether or not a channel is set.
        self.check_schedules().await?;
        let Some(url) = &self.webhook_url else {
            summary.not_configured = true;
            return Ok(summary);
        };
        let clock = PassClock::of(&ctx);
        let due = self
            .store
            .claim_alerts_to_notify(
                input.batch.clamp(1, 500),
                clock.lease_secs(CLAIM_LEASE_SECS),
            )
            .await
            .map_err(store_err)?;
        for a in &due {
            if !clock.has(MIN_POST + RECORD_RESERVE) {
                summary.deferred.push(a.alert.id);
                continue;
            }
            self.notify(url, a, &mut summary, clock).await?;
            if let Err(e) = ctx.record_heartbeat(()).await {
                tracing::warn!(error = %e, "heartbeat not recorded");
            }
        }
        self.store
            .record_schedule_success(relink_domain::alerts::ALERT_NOTIFIER)
            .await
            .map_err(store_err)?;
        Ok(summary)
    }
}
