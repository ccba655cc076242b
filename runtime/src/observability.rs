//! Metrics and readiness, shared by the web tier and the worker: one process-wide
//! Prometheus recorder for relink's own metrics (`relink_domain::metrics`), the gauges
//! read from PostgreSQL at scrape time, and the checks behind `/readyz`.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use relink_domain::metrics as m;
use relink_store::Store;
use serde::Serialize;
use std::sync::OnceLock;
use temporalio_client::Client;

/// The process's Prometheus recorder, installed on first use (the web tier and an
/// in-process test worker share it).
pub fn metrics_handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets(m::SECONDS_BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Another recorder already installed (only in odd test set-ups): ours still
        // renders what it records, which is then nothing.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// Sets the gauges read from PostgreSQL (accounts by pill state, the age of each loop's
/// last finished pass, the webhook inbox), then renders every relink metric in the Prometheus text format.
/// A database error leaves the gauges as they were.
pub async fn render_metrics(store: &Store) -> String {
    let handle = metrics_handle();
    if let Ok(counts) = store.accounts_by_pill_state().await {
        for &state in relink_domain::PillState::ALL {
            let n = counts.get(&state).copied().unwrap_or(0);
            metrics::gauge!(m::ACCOUNTS, "state" => state.as_str()).set(n as f64);
        }
    }
    if let Ok(ages) = store.schedule_ages().await {
        for (schedule, a) in ages {
            if let Some(age) = a.age_secs {
                metrics::gauge!(m::SCHEDULE_LAST_SUCCESS_AGE_SECONDS, "schedule" => schedule)
                    .set(age);
            }
        }
    }
    if let Ok(d) = store.inbox_depth().await {
        metrics::gauge!(m::WEBHOOK_INBOX_WAITING).set(d.waiting as f64);
        metrics::gauge!(m::WEBHOOK_INBOX_OLDEST_AGE_SECONDS).set(d.oldest_age_secs);
    }
    handle.render()
}

/// What `/readyz` found: each dependency `ok` or why not.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// True when every check passed (`/readyz` answers 200, else 503).
    pub ready: bool,
    /// Check name → `ok` or the error.
    pub checks: std::collections::BTreeMap<&'static str, String>,
}

impl Readiness {
    /// Starts a report with no check yet.
    pub fn new() -> Self {
        Self {
            ready: true,
            checks: Default::default(),
        }
    }

    /// Records one check's result.
    pub fn check(&mut self, name: &'static str, result: Result<(), String>) {
        match result {
            Ok(()) => {
                self.checks.insert(name, "ok".into());
            }
            Err(e) => {
                self.ready = false;
                self.checks.insert(name, e);
            }
        }
    }
}

impl Default for Readiness {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether PostgreSQL answers within 2 s.
pub async fn database_ready(store: &Store) -> Result<(), String> {
    match tokio::time::timeout(std::time::Duration::from_secs(2), store.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("PostgreSQL: {e}")),
        Err(_) => Err("PostgreSQL did not answer within 2 s".into()),
    }
}

/// Whether the Temporal frontend reports its workflow service SERVING within 2 s (the
/// gRPC health check).
pub async fn temporal_ready(client: &Client) -> Result<(), String> {
    use temporalio_common::protos::grpc::health::v1::{
        HealthCheckRequest, health_check_response::ServingStatus,
    };
    let mut health = client.connection().health_service();
    let req = temporalio_client::tonic::Request::new(HealthCheckRequest {
        service: "temporal.api.workflowservice.v1.WorkflowService".into(),
    });
    match tokio::time::timeout(std::time::Duration::from_secs(2), health.check(req)).await {
        Ok(Ok(r)) if r.get_ref().status == ServingStatus::Serving as i32 => Ok(()),
        Ok(Ok(r)) => Err(format!(
            "Temporal is not serving (status {})",
            r.get_ref().status
        )),
        Ok(Err(e)) => Err(format!("Temporal: {}", e.message())),
        Err(_) => Err("Temporal did not answer within 2 s".into()),
    }
}
