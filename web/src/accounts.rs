//! The accounts of a workspace: `GET /api/accounts` (each with its pill) and
//! `POST /api/accounts/{id}/reconnect` (a hosted-auth link from the account's Reconnect
//! workflow, shared with the dashboard's button).

use axum::{
    Json,
    extract::{Path, State},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use relink_domain::{
    AccountId, AccountStatus, Pill, WorkspaceId, derive_pill, first_connected_on,
    reconnect::{LinkRefusal, LinkRequest, ReconnectInput},
    reconnect_workflow_id,
};
use relink_store::AccountRow;
use relink_workflows::ReconnectWorkflow;
use serde::{Deserialize, Serialize};
use temporalio_client::{
    WorkflowIdConflictPolicy, WorkflowIdReusePolicy, WorkflowUpdateWithStartOptions,
    errors::{WorkflowUpdateError, WorkflowUpdateWithStartError},
};
use temporalio_common::search_attributes::{SearchAttributeKey, SearchAttributes};

use crate::{AppError, AppState, auth::Workspace};

/// How many times one click asks the Reconnect workflow for its link.
const LINK_REQUEST_ATTEMPTS: u32 = 8;
/// The wait before the n-th retry is n times this (linear backoff, 7 s in all).
const LINK_REQUEST_BACKOFF: std::time::Duration = std::time::Duration::from_millis(250);

const ACCOUNT_ID_KEY: SearchAttributeKey<String> =
    SearchAttributeKey::keyword(relink_domain::SEARCH_ATTR_ACCOUNT_ID);
const WORKSPACE_ID_KEY: SearchAttributeKey<String> =
    SearchAttributeKey::keyword(relink_domain::SEARCH_ATTR_WORKSPACE_ID);

/// An account id from a path. Errors: 404 for anything that is not one.
pub(crate) fn parse_account_id(raw: &str) -> Result<AccountId, AppError> {
    raw.parse()
        .map_err(|_| AppError::NotFound(format!("account {raw:?} not found")))
}

/// `GET /api/accounts`.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct AccountList {
    /// The workspace's accounts.
    pub accounts: Vec<AccountView>,
}

/// One account as served by `GET /api/accounts`.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct AccountView {
    pub id: AccountId,
    pub display_name: String,
    pub status: AccountStatus,
    pub pill: Pill,
    /// `DD/MM/YYYY` (UTC), shown as "First connected on …".
    pub first_connected_on: Option<String>,
    pub unipile_account_id: Option<String>,
}

/// The account as the API and the dashboard show it at `now` (UTC).
pub(crate) fn account_view(row: AccountRow, now: DateTime<Utc>) -> AccountView {
    AccountView {
        pill: derive_pill(&row.pill_input(), now),
        first_connected_on: row.first_connected_at.map(first_connected_on),
        id: row.id,
        display_name: row.display_name,
        status: row.status,
        unipile_account_id: row.unipile_account_id.map(Into::into),
    }
}

/// `GET /api/accounts`: `{accounts: [AccountView]}` of the caller's workspace.
#[utoipa::path(get, path = "/api/accounts", tag = "accounts", security(("workspace_token" = [])),
    responses(
        (status = 200, description = "The workspace's accounts with their pills", body = AccountList),
        (status = 401, description = "Missing or unknown token", body = crate::openapi::ErrorBody)))]
#[tracing::instrument(skip_all, fields(workspace_id = %ws))]
pub(crate) async fn list_accounts(
    State(state): State<AppState>,
    Workspace(ws): Workspace,
) -> Result<Response, AppError> {
    let accounts = account_views(&state, ws).await?;
    Ok(Json(AccountList { accounts }).into_response())
}

/// Every account of workspace `ws` as the API and the dashboard show it now.
pub(crate) async fn account_views(
    state: &AppState,
    ws: WorkspaceId,
) -> Result<Vec<AccountView>, AppError> {
    let now = Utc::now();
    Ok(state
        .store
        .accounts_of_workspace(ws)
        .await?
        .into_iter()
        .map(|r| account_view(r, now))
        .collect())
}

/// The link the workflow recorded on the row, when it was issued within the reuse
/// window (the workflow would answer the same url), straight from PostgreSQL.
async fn reused_link(
    state: &AppState,
    ws: WorkspaceId,
    id: AccountId,
) -> Result<Option<ReconnectResponse>, AppError> {
    Ok(state
        .store
        .reusable_link(ws, id, state.link_reuse_window)
        .await?
        .map(|(url, expires_at)| ReconnectResponse {
            url,
            expires_at,
            workflow_id: reconnect_workflow_id(id),
        }))
}

/// Answer of `POST /api/accounts/{id}/reconnect`.
#[derive(Serialize, Deserialize, Debug, utoipa::ToSchema)]
pub(crate) struct ReconnectResponse {
    /// Hosted-auth url to open.
    pub url: String,
    /// When the link expires (UTC).
    pub expires_at: DateTime<Utc>,
    /// The Reconnect workflow id (`reconnect:<account_id>`).
    pub workflow_id: String,
}

/// `POST /api/accounts/{id}/reconnect`: a hosted-auth link (see [`request_link`]).
#[utoipa::path(post, path = "/api/accounts/{id}/reconnect", tag = "accounts",
    security(("workspace_token" = [])),
    params(("id" = uuid::Uuid, Path, description = "Account id")),
    responses(
        (status = 200, description = "The hosted-auth link (the same one for clicks within the reuse window)", body = ReconnectResponse),
        (status = 401, description = "Missing or unknown token", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such account in this workspace", body = crate::openapi::ErrorBody),
        (status = 409, description = "The account is already connected", body = crate::openapi::ErrorBody),
        (status = 502, description = "Unipile did not give a link", body = crate::openapi::ErrorBody)))]
#[tracing::instrument(skip_all, fields(workspace_id = %ws, account_id = %id))]
pub(crate) async fn reconnect(
    State(state): State<AppState>,
    Workspace(ws): Workspace,
    Path(id): Path<String>,
) -> Result<Json<ReconnectResponse>, AppError> {
    let id = parse_account_id(&id)?;
    Ok(Json(request_link(&state, ws, id).await?))
}

/// Asks the account's Reconnect workflow for a hosted-auth link (update-with-start,
/// conflict policy UseExisting, so concurrent clicks join one run), recording the click's
/// latency and outcome (`relink_domain::metrics`).
#[tracing::instrument(skip_all, fields(workspace_id = %ws, account_id = %id))]
pub(crate) async fn request_link(
    state: &AppState,
    ws: WorkspaceId,
    id: AccountId,
) -> Result<ReconnectResponse, AppError> {
    use relink_domain::metrics as m;
    let started = std::time::Instant::now();
    let answer = ask_for_link(state, ws, id).await;
    let outcome = match &answer {
        Ok(_) => "link",
        Err(AppError::Internal(_)) | Err(AppError::Upstream(_)) => "error",
        Err(_) => "refused",
    };
    metrics::counter!(m::RECONNECT_CLICKS, "outcome" => outcome).increment(1);
    metrics::histogram!(m::RECONNECT_CLICK_SECONDS).record(started.elapsed().as_secs_f64());
    answer
}

async fn ask_for_link(
    state: &AppState,
    ws: WorkspaceId,
    id: AccountId,
) -> Result<ReconnectResponse, AppError> {
    let workflow_id = reconnect_workflow_id(id);
    // A repeated click within the reuse window.
    if let Some(link) = reused_link(state, ws, id).await? {
        return Ok(link);
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
    // the same call starts a fresh run. A burst of clicks can also meet Temporal's limit
    // of in-flight updates per workflow. Either way: wait a little, answer from the row
    // if the link has been issued meanwhile, else ask again.
    let mut last_err = None;
    for attempt in 0..LINK_REQUEST_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(LINK_REQUEST_BACKOFF * attempt).await;
            if let Some(link) = reused_link(state, ws, id).await? {
                return Ok(link);
            }
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
        .maybe_memo(crate::request_id::memo())
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
            Ok(link) if !link.url.is_empty() => {
                // A run recorded before the url was kept out of history.
                return Ok(ReconnectResponse {
                    url: link.url,
                    expires_at: link.expires_at,
                    workflow_id,
                });
            }
            Ok(_) => {
                // The url is not in the update's result (it would be readable in
                // history): the workflow recorded it on the row before answering.
                if let Some((url, expires_at)) = state.store.current_link(ws, id).await? {
                    return Ok(ReconnectResponse {
                        url,
                        expires_at,
                        workflow_id,
                    });
                }
                last_err = Some("the link moved on before it could be read".into());
            }
            Err(e) => {
                let text = format!("{e:#}");
                tracing::warn!(%workflow_id, error = %text, "link request failed");
                match refusal(&e) {
                    Some(LinkRefusal::AlreadyConnected) => {
                        return Err(AppError::Conflict("account is already connected".into()));
                    }
                    Some(LinkRefusal::RunFinished) => last_err = Some(text),
                    None if server_busy(&e) => last_err = Some(text),
                    None => {
                        last_err = Some(text);
                        break;
                    }
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

/// Whether the server declined the update for now (its limit of in-flight updates per
/// workflow, or an update aborted while the run closed): worth asking again.
fn server_busy(e: &WorkflowUpdateWithStartError) -> bool {
    use temporalio_client::tonic::Code;
    let status = match e {
        WorkflowUpdateWithStartError::Update(WorkflowUpdateError::Rpc(s))
        | WorkflowUpdateWithStartError::Rpc(s) => s,
        _ => return false,
    };
    matches!(status.code(), Code::ResourceExhausted | Code::Unavailable)
}

/// The workflow's refusal, when the update failed with one (its failure message starts
/// with the refusal's code).
fn refusal(e: &WorkflowUpdateWithStartError) -> Option<LinkRefusal> {
    match e {
        WorkflowUpdateWithStartError::Update(WorkflowUpdateError::Failed(failure)) => {
            LinkRefusal::from_failure_message(&failure.message)
        }
        _ => None,
    }
}
