//! The event delivery's activity: claims the due deliveries (per endpoint and account,
//! the oldest first) and posts each event's JSON to its endpoint, signed by the Standard
//! Webhooks scheme with the endpoint's secret (and, during a rotation's grace period,
//! its previous secret too). Only a 2xx counts as delivered; anything else is retried
//! with exponential backoff until the event's delivery window ends.

use futures::StreamExt;
use relink_domain::events::{
    DeliveryRef, Envelope, EventPassInput, EventPassSummary, delivered, public_event_id,
    retry_delay_secs,
};
use relink_store::{DueDelivery, Store};
use relink_workflows::activities::names;
use std::{sync::Arc, time::Duration};
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

use crate::{PassClock, store_err};

/// How long a claimed delivery is reserved for this pass (seconds): longer than a pass
/// may run (its start-to-close timeout is 600 s).
const CLAIM_LEASE_SECS: i64 = 900;
/// The timeout of one POST to an endpoint.
const POST_TIMEOUT: Duration = Duration::from_secs(10);
/// Kept for recording an outcome after a POST, before the pass's deadline.
const RECORD_RESERVE: Duration = Duration::from_secs(1);
/// A POST is started only with at least this much left (plus [`RECORD_RESERVE`]) before
/// the pass's deadline; later ones wait for the next pass.
const MIN_POST: Duration = Duration::from_secs(3);
/// How many endpoints/accounts are posted to at once.
const CONCURRENCY: usize = 8;

/// The event-delivery activities.
pub struct EventActivities {
    store: Store,
    http: reqwest::Client,
}

/// What became of one delivery.
enum Outcome {
    /// Not attempted: too little time was left in the pass.
    Deferred,
    Delivered,
    Failed,
    GivenUp,
}

/// The `webhook-signature` header for `body` sent as `id` at `timestamp` (seconds):
/// `v1,<sig>` per secret, space-separated (receivers accept any one). Errors when a
/// stored secret is not `whsec_<base64>`.
pub fn signature_header(
    secrets: &[&str],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, String> {
    let mut parts = Vec::with_capacity(secrets.len());
    for s in secrets {
        let wh = standardwebhooks::Webhook::new(s).map_err(|e| format!("endpoint secret: {e}"))?;
        parts.push(
            wh.sign(id, timestamp, body)
                .map_err(|e| format!("signing: {e}"))?,
        );
    }
    Ok(parts.join(" "))
}

impl EventActivities {
    /// Over a shared store; builds its own HTTP client (10 s timeout, no redirects: an
    /// endpoint that moves must be updated, not followed).
    pub fn new(store: Store) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(POST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("relink-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { store, http })
    }

    /// One attempt for one claimed delivery.
    async fn deliver(&self, d: &DueDelivery, clock: PassClock) -> Result<Outcome, ActivityError> {
        if !clock.has(MIN_POST + RECORD_RESERVE) {
            return Ok(Outcome::Deferred);
        }
        if d.expired {
            tracing::warn!(sequence = d.sequence, endpoint_id = %d.endpoint_id, "event given up (endpoint removed or delivery window over)");
            self.store
                .give_up_delivery(d.sequence, d.endpoint_id)
                .await
                .map_err(store_err)?;
            return Ok(Outcome::GivenUp);
        }
        let attempt = u32::try_from(d.attempts).unwrap_or(0) + 1;
        let id = public_event_id(d.event_id);
        let mut data = d.data.clone();
        if let Some(obj) = data.as_object_mut() {
            obj.insert("sequence".into(), d.sequence.into());
        }
        let kind = match d.kind.parse() {
            Ok(k) => k,
            Err(e) => return self.failed(d, attempt, None, &format!("{e}")).await,
        };
        let envelope = Envelope {
            id: id.clone(),
            kind,
            occurred_at: d.occurred_at,
            workspace_id: d.workspace_id,
            data,
        };
        let body = match serde_json::to_vec(&envelope) {
            Ok(b) => b,
            Err(e) => return self.failed(d, attempt, None, &e.to_string()).await,
        };
        // A fresh timestamp on every attempt: a retry after an outage still verifies.
        let timestamp = chrono::Utc::now().timestamp();
        let mut secrets = vec![d.secret.as_str()];
        secrets.extend(d.previous_secret.as_deref());
        let signature = match signature_header(&secrets, &id, timestamp, &body) {
            Ok(s) => s,
            Err(e) => return self.failed(d, attempt, None, &e).await,
        };
        let sent = self
            .http
            .post(&d.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(standardwebhooks::HEADER_WEBHOOK_ID, &id)
            .header(
                standardwebhooks::HEADER_WEBHOOK_TIMESTAMP,
                timestamp.to_string(),
            )
            .header(standardwebhooks::HEADER_WEBHOOK_SIGNATURE, signature)
            .timeout(clock.bound(POST_TIMEOUT, RECORD_RESERVE))
            .body(body)
            .send()
            .await;
        match sent {
            Ok(r) if delivered(r.status().as_u16()) => {
                self.store
                    .record_delivered(d.sequence, d.endpoint_id, r.status().as_u16())
                    .await
                    .map_err(store_err)?;
                tracing::info!(sequence = d.sequence, event_type = %d.kind, endpoint_id = %d.endpoint_id, status = r.status().as_u16(), "event delivered");
                Ok(Outcome::Delivered)
            }
            Ok(r) => {
                let status = r.status().as_u16();
                self.failed(d, attempt, Some(status), &format!("HTTP {status}"))
                    .await
            }
            Err(e) => {
                // reqwest's error names the URL; an endpoint URL is configuration, not a
                // secret, but keep the message short.
                let why = if e.is_timeout() {
                    "timed out".to_string()
                } else if e.is_connect() {
                    "connection refused or unreachable".to_string()
                } else {
                    e.without_url().to_string()
                };
                self.failed(d, attempt, None, &why).await
            }
        }
    }

    async fn failed(
        &self,
        d: &DueDelivery,
        attempt: u32,
        status: Option<u16>,
        error: &str,
    ) -> Result<Outcome, ActivityError> {
        let retry = retry_delay_secs(attempt);
        tracing::warn!(sequence = d.sequence, endpoint_id = %d.endpoint_id, attempt, retry_in_secs = retry, error, "event not delivered");
        self.store
            .record_delivery_failed(d.sequence, d.endpoint_id, status, error, retry)
            .await
            .map_err(store_err)?;
        Ok(Outcome::Failed)
    }
}

#[activities]
impl EventActivities {
    /// Implements `deliver_due_events`.
    #[activity(name = names::DELIVER_DUE_EVENTS)]
    #[tracing::instrument(skip_all, fields(batch = input.batch))]
    pub async fn deliver_due_events(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: EventPassInput,
    ) -> Result<EventPassSummary, ActivityError> {
        let clock = PassClock::of(&ctx);
        let due = self
            .store
            .claim_due_deliveries(
                input.batch.clamp(1, 1000),
                clock.lease_secs(CLAIM_LEASE_SECS),
            )
            .await
            .map_err(store_err)?;
        let mut results = futures::stream::iter(due)
            .map(|d| {
                let this = Arc::clone(&self);
                async move {
                    let outcome = this.deliver(&d, clock).await;
                    (d, outcome)
                }
            })
            .buffer_unordered(CONCURRENCY);
        let mut summary = EventPassSummary::default();
        while let Some((d, outcome)) = results.next().await {
            let r = DeliveryRef {
                sequence: d.sequence,
                endpoint_id: d.endpoint_id,
            };
            match outcome? {
                Outcome::Delivered => summary.delivered.push(r),
                Outcome::Failed => summary.failed.push(r),
                Outcome::GivenUp => summary.given_up.push(r),
                Outcome::Deferred => summary.deferred.push(r),
            }
            if let Err(e) = ctx.record_heartbeat(()).await {
                tracing::warn!(error = %e, "heartbeat not recorded");
            }
        }
        summary.pruned = self.store.prune_events().await.map_err(store_err)?;
        for list in [
            &mut summary.delivered,
            &mut summary.failed,
            &mut summary.given_up,
            &mut summary.deferred,
        ] {
            list.sort_by_key(|r| r.sequence);
        }
        self.store
            .record_schedule_success(relink_domain::events::EVENT_DELIVERY)
            .await
            .map_err(store_err)?;
        Ok(summary)
    }
}
