//! One request id per HTTP request: `x-request-id` (the caller's, else a fresh UUID) is
//! echoed on the response, names the request's span (method, route template — never
//! the raw path, which can carry a link token — status, latency), and is attached as the
//! `request_id` memo to the workflows the request starts, so an operator can follow one
//! click from the log into the Temporal UI.

use axum::{
    extract::{MatchedPath, Request},
    middleware::Next,
    response::Response,
};
use temporalio_common::MemoValues;

/// The header that carries the request id.
pub(crate) const X_REQUEST_ID: &str = "x-request-id";
/// The longest request id kept (a longer caller's id is cut).
const MAX_LEN: usize = 64;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The request id of the request being handled, if any.
pub(crate) fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// The memo of a workflow started by this request: `{request_id}`.
pub(crate) fn memo() -> Option<MemoValues> {
    let id = current()?;
    let mut memo = MemoValues::new();
    memo.insert("request_id", id);
    Some(memo)
}

fn id_of(req: &Request) -> String {
    req.headers()
        .get(X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.chars().take(MAX_LEN).collect())
        .unwrap_or_else(|| "-".into())
}

/// The span of one request.
pub(crate) fn span(req: &Request) -> tracing::Span {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    tracing::info_span!("http", method = %req.method(), route = %route, request_id = %id_of(req))
}

/// Makes the request id available to the handler (`current`, `memo`).
pub(crate) async fn scope(req: Request, next: Next) -> Response {
    let id = id_of(&req);
    REQUEST_ID.scope(id, next.run(req)).await
}
