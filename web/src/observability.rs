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

/// `GET /healthz`: the process is up (liveness; readiness is `/readyz`).
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is up", body = crate::openapi::Health)))]
pub(crate) async fn healthz() -> Json<crate::openapi::Health> {
    Json(crate::openapi::Health {
        status: "ok".into(),
    })
}

/// `GET /metrics`.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "relink's metrics, Prometheus text format", content_type = "text/plain")))]
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        render_metrics(&state.store).await,
    )
        .into_response()
}

/// `GET /readyz`: `{ready, checks: {database, temporal}}`, 200 or 503.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, description = "PostgreSQL and Temporal answer", body = Readiness),
    (status = 503, description = "A dependency does not answer", body = Readiness)))]
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
