//! A workspace's campaigns: `GET /api/campaigns` (with each pause reason) and the user's
//! `POST /api/campaigns/{id}/resume`.

use axum::{
    Json,
    extract::{Path, State},
    response::{IntoResponse, Response},
};

use crate::{AppError, AppState, auth::Workspace};

/// `GET /api/campaigns`: `{campaigns: [{id, account_id, name, status, pause_reasons,
/// pause_hint}]}` of the caller's workspace.
#[utoipa::path(get, path = "/api/campaigns", tag = "campaigns", security(("workspace_token" = [])),
    responses(
        (status = 200, description = "The workspace's campaigns", body = crate::openapi::CampaignList),
        (status = 401, description = "Missing or unknown token", body = crate::openapi::ErrorBody)))]
#[tracing::instrument(skip_all, fields(workspace_id = %ws))]
pub(crate) async fn list_campaigns(
    State(state): State<AppState>,
    Workspace(ws): Workspace,
) -> Result<Response, AppError> {
    let campaigns: Vec<_> = state
        .store
        .campaigns_of_workspace(ws)
        .await?
        .into_iter()
        .map(|c| {
            let hint = if c.pause_reasons.is_empty() {
                None
            } else {
                let reasons: Vec<_> = c.pause_reasons.iter().map(|r| r.as_str()).collect();
                Some(format!("Paused: {}", reasons.join(", ")))
            };
            crate::openapi::CampaignItem {
                id: c.id,
                account_id: c.account_id.0,
                name: c.name,
                status: c.status,
                pause_reasons: c.pause_reasons,
                pause_hint: hint,
            }
        })
        .collect();
    Ok(Json(crate::openapi::CampaignList { campaigns }).into_response())
}

/// `POST /api/campaigns/{id}/resume`: the user's Resume. Clears the reasons the user
/// may clear and says which reason (if any) keeps the campaign paused.
#[utoipa::path(post, path = "/api/campaigns/{id}/resume", tag = "campaigns",
    security(("workspace_token" = [])),
    params(("id" = uuid::Uuid, Path, description = "Campaign id")),
    responses(
        (status = 200, description = "What cleared and what still holds", body = crate::openapi::ResumeAnswer),
        (status = 401, description = "Missing or unknown token", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such campaign in this workspace", body = crate::openapi::ErrorBody)))]
#[tracing::instrument(skip_all, fields(workspace_id = %ws, campaign_id = %id))]
pub(crate) async fn resume_campaign(
    State(state): State<AppState>,
    Workspace(ws): Workspace,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let id = parse_campaign_id(&id)?;
    let outcome = state.store.user_resume(ws, id).await?;
    let message = if outcome.remaining.is_empty() {
        "campaign resumed".to_string()
    } else {
        let r: Vec<_> = outcome.remaining.iter().map(|r| r.as_str()).collect();
        format!("still paused: {} (its cause persists)", r.join(", "))
    };
    Ok(Json(crate::openapi::ResumeAnswer {
        id,
        status: outcome.status,
        cleared: outcome.cleared,
        remaining_reasons: outcome.remaining,
        message,
    })
    .into_response())
}

/// A campaign id from a path. Errors: 404 for anything that is not one.
pub(crate) fn parse_campaign_id(raw: &str) -> Result<uuid::Uuid, AppError> {
    raw.parse()
        .map_err(|_| AppError::NotFound(format!("campaign {raw:?} not found")))
}
