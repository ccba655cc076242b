//! One error type for every handler: a status and a JSON body `{"error": "..."}`.
//! Server-side failures answer an opaque 500 and log the cause chain once.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use relink_domain::inbound::InboundError;
use relink_store::StoreError;

/// A handler failure.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 400: the input is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// 401: missing or wrong credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: authenticated, but the request is not acceptable (e.g. a stale CSRF token).
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such resource (or another workspace's).
    #[error("{0}")]
    NotFound(String),
    /// 409: the request conflicts with the resource's state.
    #[error("{0}")]
    Conflict(String),
    /// 502: an upstream (Unipile, through the workflow) failed.
    #[error("{0}")]
    Upstream(String),
    /// 500: our own failure (details logged, not returned).
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = match &self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::Upstream(_) => StatusCode::BAD_GATEWAY,
            AppError::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "request failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let body = crate::openapi::ErrorBody {
            error: self.to_string(),
        };
        (status, Json(body)).into_response()
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => AppError::NotFound(format!("{what} not found")),
            StoreError::Conflict(msg) => AppError::Conflict(msg),
            StoreError::StatusMoved { actual, .. } => AppError::Conflict(format!(
                "the account's status changed meanwhile (now {actual})"
            )),
            other => AppError::Internal(other.into()),
        }
    }
}

impl From<InboundError> for AppError {
    /// A refused inbound body is a 400 with the parser's message, except a callback
    /// token too long to be ours, which is a 404 like any unknown or stale link.
    fn from(e: InboundError) -> Self {
        match e {
            e @ InboundError::StaleLink => AppError::NotFound(e.to_string()),
            e => AppError::BadRequest(e.to_string()),
        }
    }
}
