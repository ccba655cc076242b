//! The worker's own HTTP endpoint (`WORKER_METRICS_ADDR`): `/metrics` renders relink's
//! metrics followed by the Temporal SDK's worker metrics (`temporal_…`, from the SDK's
//! Prometheus exporter on a loopback port of its own), `/readyz` answers 200 only while
//! PostgreSQL and Temporal answer and a task poll was in flight within the last 30 s,
//! and `/healthz` says the process is up.

use axum::{
    Json, Router,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use relink_runtime::{Readiness, database_ready, render_metrics, temporal_ready};
use relink_store::Store;
use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use temporalio_client::Client;

/// How recently a task poll must have been in flight for the worker to be ready.
pub const POLL_READY_WITHIN: Duration = Duration::from_secs(30);

/// What the endpoint reads.
#[derive(Clone)]
pub(crate) struct Observed {
    pub store: Store,
    pub temporal: Client,
    /// Where the SDK's Prometheus exporter listens (loopback).
    pub sdk_metrics: SocketAddr,
    pub http: reqwest::Client,
    /// When a task poll was last seen in flight (the SDK's `temporal_num_pollers` > 0).
    pub last_poll: Arc<Mutex<Option<Instant>>>,
}

impl Observed {
    async fn sdk_text(&self) -> Result<String, String> {
        let url = format!("http://{}/metrics", self.sdk_metrics);
        let r = self.http.get(url).send().await.map_err(|e| e.to_string())?;
        r.text().await.map_err(|e| e.to_string())
    }

    /// Watches the SDK's poller gauge once a second, remembering when a poll was last
    /// in flight. Runs until the process ends.
    pub(crate) async fn watch_polls(self) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            if let Ok(text) = self.sdk_text().await
                && pollers_in_flight(&text)
                && let Ok(mut at) = self.last_poll.lock()
            {
                *at = Some(Instant::now());
            }
        }
    }
}

/// Whether the SDK's metrics text shows a task poller in flight
/// (`temporal_num_pollers{…} N` with N > 0).
fn pollers_in_flight(text: &str) -> bool {
    text.lines()
        .filter(|l| l.starts_with("temporal_num_pollers"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .any(|n| n > 0.0)
}

async fn metrics(State(o): State<Observed>) -> Response {
    let mut body = render_metrics(&o.store).await;
    match o.sdk_text().await {
        Ok(sdk) => body.push_str(&sdk),
        Err(e) => tracing::warn!(error = %e, "the SDK's metrics could not be read"),
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

async fn readyz(State(o): State<Observed>) -> Response {
    let mut r = Readiness::new();
    r.check("database", database_ready(&o.store).await);
    r.check("temporal", temporal_ready(&o.temporal).await);
    let polled = o.last_poll.lock().ok().and_then(|at| *at);
    r.check(
        "task_poll",
        match polled {
            Some(at) if at.elapsed() <= POLL_READY_WITHIN => Ok(()),
            Some(at) => Err(format!("no task poll for {} s", at.elapsed().as_secs())),
            None => Err("no task poll yet".into()),
        },
    );
    let status = if r.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(r)).into_response()
}

/// Serves `/metrics`, `/readyz` and `/healthz` on `listener` until the process ends.
pub(crate) fn serve(listener: tokio::net::TcpListener, observed: Observed) {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/readyz", get(readyz))
        .route(
            "/healthz",
            get(|| async { Json(serde_json::json!({"status": "ok"})) }),
        )
        .with_state(observed.clone());
    tokio::spawn(observed.watch_polls());
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the worker's metrics endpoint stopped");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poller_in_flight_is_read_from_the_sdk_gauge() {
        let idle = "# TYPE temporal_num_pollers gauge\ntemporal_num_pollers{poller_type=\"workflow_task\"} 0\n";
        let busy = "temporal_num_pollers{poller_type=\"workflow_task\"} 0\ntemporal_num_pollers{poller_type=\"activity_task\"} 2\n";
        assert!(!pollers_in_flight(idle));
        assert!(pollers_in_flight(busy));
        assert!(!pollers_in_flight("temporal_other 5\n"));
    }
}
