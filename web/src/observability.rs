//! `GET /metrics` (Prometheus text format: relink's own metrics, `relink_domain::metrics`)
//! and `GET /readyz` (200 when PostgreSQL and Temporal answer, else 503; `/healthz` only
//! says the process is up).

use axum::{
    Json,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use relink_runtime::{Readiness, database_ready, render_metrics, temporal_ready};

use crate::AppState;

/// `GET /metrics`.
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        render_metrics(&state.store).await,
    )
        .into_response()
}

/// `GET /readyz`: `{ready, checks: {database, temporal}}`, 200 or 503.
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    let mut r = Readiness::new();
    r.check("database", database_ready(&state.store).await);
    r.check("temporal", temporal_ready(&state.temporal).await);
    let status = if r.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(r)).into_response()
}
