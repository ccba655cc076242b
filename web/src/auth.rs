//! Who a request acts for. The JSON API authenticates with the workspace's API token
//! in `Authorization: Bearer <token>`; the dashboard sends the same token with its forms.

use axum::{extract::FromRequestParts, http::request::Parts};
use relink_domain::WorkspaceId;

use crate::{AppError, AppState};

/// The workspace a request acts for, from `Authorization: Bearer <token>`.
pub(crate) struct Workspace(pub WorkspaceId);

impl FromRequestParts<AppState> for Workspace {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let token = bearer_token(&parts.headers)?;
        workspace_for_token(state, token).await.map(Workspace)
    }
}

/// The token of `Authorization: Bearer <token>`. Errors: 401 when missing or malformed.
pub(crate) fn bearer_token(headers: &axum::http::HeaderMap) -> Result<&str, AppError> {
    let header = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| AppError::Unauthorized("missing bearer token".into()))?;
    header
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| AppError::Unauthorized("expected `Authorization: Bearer <token>`".into()))
}

/// The workspace whose API token is `token`. Errors: 401 for an unknown token.
pub(crate) async fn workspace_for_token(
    state: &AppState,
    token: &str,
) -> Result<WorkspaceId, AppError> {
    state
        .store
        .workspace_by_token(token)
        .await?
        .ok_or_else(|| AppError::Unauthorized("unknown API token".into()))
}
