//! Routes and handlers.

use axum::{
    Json, Router,
    body::Bytes,
    extract::{FromRequestParts, Path, State},
    http::{StatusCode, request::Parts},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use chrono::{DateTime, Utc};
use relink_domain::{
    AccountId, AccountStatus, Pill, WorkspaceId, derive_pill, first_connected_on,
    inbound::{parse_hosted_auth_notify, parse_send_outcome, parse_send_reservation},
    reconnect::{LinkRequest, ReconnectInput},
    reconnect_workflow_id,
};
use relink_store::AccountRow;
use relink_workflows::ReconnectWorkflow;
use serde::{Deserialize, Serialize};
use serde_json::json;
use temporalio_client::{
    WorkflowIdConflictPolicy, WorkflowIdReusePolicy, WorkflowSignalOptions,
    WorkflowUpdateWithStartOptions,
};
use temporalio_common::search_attributes::{SearchAttributeKey, SearchAttributes};

use crate::{AppError, AppState, dashboard};

const ACCOUNT_ID_KEY: SearchAttributeKey<String> =
    SearchAttributeKey::keyword(relink_domain::SEARCH_ATTR_ACCOUNT_ID);
const WORKSPACE_ID_KEY: SearchAttributeKey<String> =
    SearchAttributeKey::keyword(relink_domain::SEARCH_ATTR_WORKSPACE_ID);

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/api/accounts", get(list_accounts))
        .route("/api/accounts/{id}/reconnect", post(reconnect))
        .route(
            "/api/accounts/{id}/send-reservations",
            post(send_reservation),
        )
        .route("/api/accounts/{id}/send-outcomes", post(send_outcome))
        .route("/api/campaigns", get(list_campaigns))
        .route("/api/campaigns/{id}/resume", post(resume_campaign))
        .route(
            "/webhooks/unipile/account-status",
            post(crate::webhooks::account_status),
        )
        .route(
            "/webhooks/unipile/hosted-auth/{token}",
            post(hosted_auth_callback),
        )
        .route("/", get(dashboard::page))
        .route("/ui/accounts/{id}/reconnect", post(dashboard::reconnect))
}

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
fn bearer_token(headers: &axum::http::HeaderMap) -> Result<&str, AppError> {
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

fn parse_account_id(raw: &str) -> Result<AccountId, AppError> {
    raw.parse()
        .map_err(|_| AppError::NotFound(format!("account {raw:?} not found")))
}

/// One account as served by `GET /api/accounts`.
#[derive(Serialize)]
pub(crate) struct AccountView {
    pub id: AccountId,
    pub display_name: String,
    pub status: AccountStatus,
    pub pill: Pill,
    /// `DD/MM/YYYY` (UTC), shown as "First connected on …".
    pub first_connected_on: Option<String>,
    pub unipile_account_id: Option<String>,
}

pub(crate) fn account_view(row: AccountRow, now: DateTime<Utc>) -> AccountView {
    AccountView {
        pill: derive_pill(&row.pill_input(), now),
        first_connected_on: row.first_connected_at.map(first_connected_on),
        id: row.id,
        display_name: row.display_name,
        status: row.status,
        unipile_account_id: row.unipile_account_id,
    }
}

async fn list_accounts(
    State(state): State<AppState>,
    Workspace(ws): Workspace,
) -> Result<Response, AppError> {
    let now = Utc::now();
    let accounts: Vec<_> = state
        .store
        .accounts_of_workspace(ws)
        .await?
        .into_iter()
        .map(|r| account_view(r, now))
        .collect();
    Ok(Json(json!({ "accounts": accounts })).into_response())
}

/// Answer of `POST /api/accounts/{id}/reconnect`.
#[derive(Serialize, Deserialize, Debug)]
pub(crate) struct ReconnectResponse {
    /// Hosted-auth url to open.
    pub url: String,
    /// When the link expires (UTC).
    pub expires_at: DateTime<Utc>,
    /// The Reconnect workflow id (`reconnect:<account_id>`).
    pub workflow_id: String,
}

async fn reconnect(
    State(state): State<AppState>,
    Workspace(ws): Workspace,
    Path(id): Path<String>,
) -> Result<Json<ReconnectResponse>, AppError> {
    let id = parse_account_id(&id)?;
    Ok(Json(request_link(&state, ws, id).await?))
}

/// Asks the account's Reconnect workflow for a hosted-auth link (update-with-start,
/// conflict policy UseExisting, so concurrent clicks join one run).
pub(crate) async fn request_link(
    state: &AppState,
    ws: WorkspaceId,
    id: AccountId,
) -> Result<ReconnectResponse, AppError> {
    let workflow_id = reconnect_workflow_id(id);
    // A repeated click within the reuse window: the link the workflow recorded on the
    // row, straight from PostgreSQL (the workflow would answer the same url).
    if let Some((url, expires_at)) = state
        .store
        .reusable_link(ws, id, state.link_reuse_window)
        .await?
    {
        return Ok(ReconnectResponse {
            url,
            expires_at,
            workflow_id,
        });
    }
    let row = state.store.account_in_workspace(ws, id).await?;
    if row.status == AccountStatus::Connected {
        return Err(AppError::Conflict("account is already connected".into()));
    }
    let input = ReconnectInput {
        account_id: id,
        workspace_id: ws,
        link_reuse_window_ms: state.link_reuse_window.as_millis() as u64,
        link_ttl_ms: state.link_ttl.as_millis() as u64,
    };
    let request = LinkRequest {
        actor: format!("user:{ws}"),
    };
    // A run that has just decided its outcome refuses new requests; once it closes,
    // the same call starts a fresh run. Retry briefly across that instant.
    let mut last_err = None;
    for attempt in 0..4 {
        if attempt > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
        let opts = WorkflowUpdateWithStartOptions::new(
            state.task_queue.clone(),
            workflow_id.clone(),
            WorkflowIdConflictPolicy::UseExisting,
        )
        .id_reuse_policy(WorkflowIdReusePolicy::AllowDuplicate)
        .search_attributes(SearchAttributes::new([
            ACCOUNT_ID_KEY.value_set(id.to_string()),
            WORKSPACE_ID_KEY.value_set(ws.to_string()),
        ]))
        .static_summary(format!("Reconnect {}", row.display_name))
        .build();
        match state
            .temporal
            .execute_update_with_start_workflow(
                ReconnectWorkflow::run,
                input.clone(),
                ReconnectWorkflow::request_link,
                request.clone(),
                opts,
            )
            .await
        {
            Ok(link) => {
                return Ok(ReconnectResponse {
                    url: link.url,
                    expires_at: link.expires_at,
                    workflow_id,
                });
            }
            Err(e) => {
                let text = format!("{e:#}");
                tracing::warn!(%workflow_id, error = %text, "link request failed");
                if text.contains("already connected") {
                    return Err(AppError::Conflict("account is already connected".into()));
                }
                let retry = text.contains("has finished");
                last_err = Some(text);
                if !retry {
                    break;
                }
            }
        }
    }
    Err(AppError::Upstream(format!(
        "could not get a hosted-auth link; try again ({})",
        last_err
            .unwrap_or_default()
            .chars()
            .take(300)
            .collect::<String>()
    )))
}

async fn list_campaigns(
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
            json!({
                "id": c.id, "account_id": c.account_id, "name": c.name, "status": c.status,
                "pause_reasons": c.pause_reasons, "pause_hint": hint,
            })
        })
        .collect();
    Ok(Json(json!({ "campaigns": campaigns })).into_response())
}

/// The send gate: `{reserved: true, slot}` or `{reserved: false, retry_at, reason}`.
/// Fails closed: when the database cannot answer, the answer is a deferral
/// (`deferred_internal`), which never counts toward the failure-rate window.
async fn send_reservation(
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
async fn send_outcome(
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
    Ok(Json(json!({
        "recorded": true, "campaign_paused": effect.campaign_paused, "account_recheck": account_recheck,
        "window_failures": effect.window_failures, "window_outcomes": effect.window_outcomes,
    }))
    .into_response())
}

/// `POST /api/campaigns/{id}/resume`: the user's Resume. Clears the reasons the user
/// may clear and says which reason (if any) keeps the campaign paused.
async fn resume_campaign(
    State(state): State<AppState>,
    Workspace(ws): Workspace,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let id: uuid::Uuid = id
        .parse()
        .map_err(|_| AppError::NotFound(format!("campaign {id:?} not found")))?;
    let outcome = state.store.user_resume(ws, id).await?;
    let message = if outcome.remaining.is_empty() {
        "campaign resumed".to_string()
    } else {
        let r: Vec<_> = outcome.remaining.iter().map(|r| r.as_str()).collect();
        format!("still paused: {} (its cause persists)", r.join(", "))
    };
    Ok(Json(json!({
        "id": id, "status": outcome.status, "cleared": outcome.cleared,
        "remaining_reasons": outcome.remaining, "message": message,
    }))
    .into_response())
}

/// `POST /webhooks/unipile/hosted-auth/{token}`: the token in the path is the only
/// authentication. Unknown or stale token → 404, nothing changed; a duplicate of a
/// callback already applied → 200, nothing changed. The body is parsed as JSON whatever
/// its content type (Unipile sends none).
async fn hosted_auth_callback(
    State(state): State<AppState>,
    Path(token): Path<String>,
    body: Bytes,
) -> Result<Response, AppError> {
    // Body checks answer 400, an over-long token 404 (InboundError::StaleLink).
    let callback = parse_hosted_auth_notify(&body, &token)?;
    let stale = || AppError::NotFound("unknown or stale link".into());
    let row = state
        .store
        .account_by_link_token(&token)
        .await?
        .ok_or_else(stale)?;
    if row.status == AccountStatus::Connected
        && row.unipile_account_id.as_deref() == Some(&callback.account_id)
    {
        return Ok((StatusCode::OK, Json(json!({"result": "duplicate"}))).into_response());
    }
    if row.status != AccountStatus::Connecting {
        return Err(stale());
    }
    let handle = state
        .temporal
        .get_workflow_handle::<ReconnectWorkflow>(reconnect_workflow_id(row.id));
    match handle
        .signal(
            ReconnectWorkflow::hosted_auth_completed,
            callback,
            WorkflowSignalOptions::default(),
        )
        .await
    {
        Ok(()) => Ok((StatusCode::OK, Json(json!({"result": "accepted"}))).into_response()),
        Err(temporalio_client::errors::WorkflowInteractionError::NotFound(_)) => Err(
            AppError::NotFound("no linking in progress for this link".into()),
        ),
        Err(e) => Err(AppError::Internal(anyhow::anyhow!("signal failed: {e}"))),
    }
}
