//! The platform's sender asks before and reports after each LinkedIn action:
//! `POST /api/accounts/{id}/send-reservations` (the send gate) and
//! `POST /api/accounts/{id}/send-outcomes` (the failure-rate window).

use axum::{
    Json,
    body::Bytes,
    extract::{Path, State},
    response::{IntoResponse, Response},
};
use chrono::Utc;
use relink_domain::inbound::{parse_send_outcome, parse_send_reservation};
use serde_json::json;

use crate::{
    AppError, AppState,
    accounts::parse_account_id,
    auth::{Workspace, bearer_token},
};

/// The send gate: `{reserved: true, slot}` or `{reserved: false, retry_at, reason}`.
/// Fails closed: when the database cannot answer, the answer is a deferral
/// (`deferred_internal`), which never counts toward the failure-rate window.
#[utoipa::path(post, path = "/api/accounts/{id}/send-reservations", tag = "sending",
    security(("workspace_token" = [])),
    params(("id" = uuid::Uuid, Path, description = "Account id")),
    request_body = crate::openapi::SendReservationBody,
    responses(
        (status = 200, description = "A slot now, or when to ask again", body = crate::openapi::GateAnswerDoc),
        (status = 400, description = "A malformed body", body = crate::openapi::ErrorBody),
        (status = 401, description = "Missing or unknown token", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such account in this workspace", body = crate::openapi::ErrorBody)))]
#[tracing::instrument(skip_all, fields(account_id = %id))]
pub(crate) async fn send_reservation(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, AppError> {
    let req = parse_send_reservation(&body)?;
    let id = parse_account_id(&id)?;
    let now = Utc::now();
    let token = bearer_token(&headers)?;
    // Resolved here rather than by the extractor, so that a database outage during
    // authentication also answers a deferral (fail closed) instead of a 500.
    let answer = match state.store.workspace_by_token(token).await {
        Ok(None) => return Err(AppError::Unauthorized("unknown API token".into())),
        Ok(Some(ws)) => match state.store.account_in_workspace(ws, id).await {
            Ok(_) => {
                state
                    .store
                    .reserve_send(id, req.action, req.campaign_id, now)
                    .await
            }
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    match answer {
        Ok(a) => Ok(Json(a).into_response()),
        Err(e) if e.is_transient() => {
            tracing::error!(error = %e, account_id = %id, "send gate deferred: database unavailable");
            Ok(Json(json!({
                "reserved": false, "reason": "deferred_internal",
                "retry_at": now + chrono::Duration::seconds(60),
            }))
            .into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /api/accounts/{id}/send-outcomes`: the platform's sender reports one action's
/// result, `{campaign_id, action, outcome: "sent"|"failed", provider_error?}`. Failures
/// feed the campaign's failure-rate window (at least 5 failures and 30 % of the last 20
/// outcomes within an hour pause it with `linkedin_high_failure_rate`); a provider error
/// that names the account's own state (`errors/disconnected_account`,
/// `errors/*credentials*`) makes relink re-read the account from Unipile at once, which
/// flips it when Unipile agrees. Answers `{recorded, campaign_paused, account_recheck,
/// window_failures, window_outcomes}`; 400 for a bad body, 404 for another workspace's
/// account or campaign.
#[utoipa::path(post, path = "/api/accounts/{id}/send-outcomes", tag = "sending",
    security(("workspace_token" = [])),
    params(("id" = uuid::Uuid, Path, description = "Account id")),
    request_body = crate::openapi::SendOutcomeBody,
    responses(
        (status = 200, description = "Recorded", body = crate::openapi::SendOutcomeAnswer),
        (status = 400, description = "A malformed body", body = crate::openapi::ErrorBody),
        (status = 401, description = "Missing or unknown token", body = crate::openapi::ErrorBody),
        (status = 404, description = "Another workspace's account or campaign", body = crate::openapi::ErrorBody)))]
#[tracing::instrument(skip_all, fields(workspace_id = %ws, account_id = %id))]
pub(crate) async fn send_outcome(
    State(state): State<AppState>,
    Workspace(ws): Workspace,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, AppError> {
    let report = parse_send_outcome(&body)?;
    let id = parse_account_id(&id)?;
    let row = state.store.account_in_workspace(ws, id).await?;
    let effect = state.store.record_send_outcome(id, &report).await?;
    let recheck = report
        .provider_error
        .as_deref()
        .is_some_and(relink_domain::truth::is_account_state_error);
    let mut account_recheck = false;
    if recheck && let Some(uid) = row.unipile_account_id.as_deref() {
        let hint = report.provider_error.as_deref().unwrap_or_default();
        crate::webhooks::request_status_sync(&state, uid, hint).await?;
        account_recheck = true;
    }
    tracing::info!(account_id = %id, campaign_id = %report.campaign_id, outcome = report.outcome.as_str(), campaign_paused = effect.campaign_paused, account_recheck, "send outcome recorded");
    Ok(Json(crate::openapi::SendOutcomeAnswer {
        recorded: true,
        campaign_paused: effect.campaign_paused,
        account_recheck,
        window_failures: effect.window_failures,
        window_outcomes: effect.window_outcomes,
    })
    .into_response())
}
