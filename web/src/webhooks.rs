//! What Unipile calls: the account-status webhook and the hosted-auth notify callback.
//!
//! `POST /webhooks/unipile/account-status`: Unipile's account-status webhook
//! (unipile-api.md §10). Authenticated by the `Unipile-Auth` shared secret (compared in
//! constant time). Unipile sends no JSON content type and retries anything but a 200
//! within 30 s, so the body is parsed whatever its content type and the handler only
//! hands the event to a durable workflow before answering.

use axum::{
    Json,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use relink_domain::{
    AccountStatus,
    healing::AccountStatusSyncInput,
    inbound::{parse_account_status_webhook, parse_hosted_auth_notify},
    reconnect_workflow_id,
};
use relink_workflows::{AccountStatusSyncWorkflow, ReconnectWorkflow};
use subtle::ConstantTimeEq;
use temporalio_client::{
    WorkflowIdConflictPolicy, WorkflowIdReusePolicy, WorkflowSignalOptions, WorkflowStartOptions,
};

use crate::{AppError, AppState};
use relink_runtime::ExposeSecret;

/// Constant-time comparison of the presented secret with ours. Both sides are hashed
/// first so that neither the content nor the length leaks through timing.
fn secret_matches(presented: &[u8], ours: &[u8]) -> bool {
    use sha2::{Digest, Sha256};
    let a = Sha256::digest(presented);
    let b = Sha256::digest(ours);
    a.ct_eq(&b).into()
}

#[utoipa::path(post, path = "/webhooks/unipile/account-status", tag = "webhooks",
    params(("Unipile-Auth" = String, Header, description = "The webhook's shared secret (WEBHOOK_SECRET)")),
    request_body = crate::openapi::AccountStatusWebhook,
    responses(
        (status = 200, description = "Accepted (stored): the account is re-read from Unipile", body = crate::openapi::WebhookAck),
        (status = 400, description = "A malformed body", body = crate::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong Unipile-Auth", body = crate::openapi::ErrorBody),
        (status = 413, description = "Body over 16 KiB")))]
#[tracing::instrument(skip_all)]
pub(crate) async fn account_status(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let presented = headers
        .get("unipile-auth")
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if presented.is_empty()
        || !secret_matches(presented, state.webhook_secret.expose_secret().as_bytes())
    {
        return Err(AppError::Unauthorized(
            "missing or wrong Unipile-Auth".into(),
        ));
    }
    let notice = parse_account_status_webhook(&body)?;
    let (account_id, message) = (notice.unipile_account_id, notice.message);
    // Stored, then answered: the hand-off to the account's sync runs behind the answer
    // (`hand_off_inbox`), so that a storm is answered at the cost of one insert.
    state
        .store
        .take_in_status_webhook(&account_id, &message)
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("could not store the webhook: {e}")))?;
    state.inbox.notify_one();
    tracing::info!(unipile_account_id = %account_id, %message, "account-status webhook accepted");
    Ok((StatusCode::OK, Json(ack("accepted"))).into_response())
}

/// Webhooks one hand-off claims at a time, and signal-with-starts in flight at once.
const HAND_OFF_BATCH: i64 = 64;
/// How often a web tier looks at the inbox without being woken: for webhooks another
/// tier left behind, and for hand-offs waiting out their retry delay.
const HAND_OFF_TICK: std::time::Duration = std::time::Duration::from_secs(1);

/// Hands every stored account-status webhook to its account's sync
/// ([`request_status_sync`]) until the inbox has nothing due, then waits to be woken
/// (a webhook stored by this tier) or for [`HAND_OFF_TICK`]. Runs for the web tier's
/// life; a database or Temporal failure is logged and the webhook tried again later
/// (`relink_store::inbox_retry_secs`).
pub(crate) async fn hand_off_inbox(state: AppState) {
    loop {
        match hand_off_batch(&state).await {
            Ok(n) if n as i64 == HAND_OFF_BATCH => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "webhook inbox hand-off failed; retrying"),
        }
        let _ = tokio::time::timeout(HAND_OFF_TICK, state.inbox.notified()).await;
    }
}

/// One claim of the inbox (a committed lease): every claimed webhook handed off at
/// once, outside any transaction; the handed ones deleted, the others put back for a
/// later try. Returns how many were claimed.
async fn hand_off_batch(state: &AppState) -> Result<usize, relink_store::StoreError> {
    let claimed = state.store.claim_inbox(HAND_OFF_BATCH).await?;
    if claimed.is_empty() {
        return Ok(0);
    }
    let results = futures::future::join_all(claimed.iter().map(|e| async move {
        match request_status_sync(state, &e.unipile_account_id, &e.message).await {
            Ok(()) => Some(e.unipile_account_id.clone()),
            Err(err) => {
                tracing::warn!(unipile_account_id = %e.unipile_account_id, attempts = e.attempts, error = %err, "webhook hand-off failed; tried again later");
                None
            }
        }
    }))
    .await;
    let handed: Vec<String> = results.into_iter().flatten().collect();
    state.store.finish_inbox_claim(&claimed, &handed).await?;
    Ok(claimed.len())
}

fn ack(result: &str) -> crate::openapi::WebhookAck {
    crate::openapi::WebhookAck {
        result: result.into(),
    }
}

/// Hands "re-read this account from Unipile" to its durable account-status sync
/// (`account-status:<unipile_account_id>`, signal-with-start): used by the webhook and
/// by a send outcome that names the account's own state. `message` is the hint (the
/// webhook's status, or the provider error); the workflow trusts only its re-read.
///
/// Errors: [`AppError::Internal`] when Temporal cannot take it.
#[tracing::instrument(skip_all, fields(unipile_account_id))]
pub(crate) async fn request_status_sync(
    state: &AppState,
    unipile_account_id: &str,
    message: &str,
) -> Result<(), AppError> {
    let opts = WorkflowStartOptions::new(
        state.task_queue.clone(),
        relink_domain::account_status_workflow_id(unipile_account_id),
    )
    .id_reuse_policy(WorkflowIdReusePolicy::AllowDuplicate)
    .id_conflict_policy(WorkflowIdConflictPolicy::UseExisting)
    .maybe_memo(crate::request_id::memo())
    .build();
    state
        .temporal
        .signal_with_start_workflow(
            AccountStatusSyncWorkflow::run,
            AccountStatusSyncInput {
                unipile_account_id: unipile_account_id.to_string().into(),
                blip_tolerance_secs: state.blip_tolerance.as_secs(),
                continue_as_new_after: relink_domain::healing::SYNC_RUN_LENGTH,
            },
            AccountStatusSyncWorkflow::poke,
            message.to_string(),
            opts,
        )
        .await
        .map_err(|e| {
            AppError::Internal(anyhow::anyhow!(
                "could not hand the account re-read to Temporal: {e}"
            ))
        })?;
    Ok(())
}

/// `POST /webhooks/unipile/hosted-auth/{token}`: the token in the path is the only
/// authentication. Unknown or stale token → 404, nothing changed; a duplicate of a
/// callback already applied → 200, nothing changed. The body is parsed as JSON whatever
/// its content type (Unipile sends none).
#[utoipa::path(post, path = "/webhooks/unipile/hosted-auth/{token}", tag = "webhooks",
    params(("token" = String, Path, description = "The link's token, its only credential")),
    request_body = crate::openapi::HostedAuthNotify,
    responses(
        (status = 200, description = "Accepted, or a duplicate of a callback already applied", body = crate::openapi::WebhookAck),
        (status = 400, description = "A malformed body", body = crate::openapi::ErrorBody),
        (status = 404, description = "Unknown or stale link", body = crate::openapi::ErrorBody)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn hosted_auth_callback(
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
        return Ok((StatusCode::OK, Json(ack("duplicate"))).into_response());
    }
    if row.status != AccountStatus::Connecting {
        return Err(stale());
    }
    // The workflow hears of the link by its reference, never by its token (which would
    // then be readable in history); a link issued before references has none, and its
    // run knows it by the token.
    // The reference is the one stored with this very token, not the row's column, which
    // a process of the previous release (that knows no references) may have left stale.
    let link = state
        .store
        .link_ref_of_token(&token)
        .await?
        .map(relink_domain::LinkRef::new)
        .unwrap_or_else(|| relink_domain::LinkRef::new(token.as_str()));
    let callback = callback.for_link(link);
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
        Ok(()) => Ok((StatusCode::OK, Json(ack("accepted"))).into_response()),
        Err(temporalio_client::errors::WorkflowInteractionError::NotFound(_)) => Err(
            AppError::NotFound("no linking in progress for this link".into()),
        ),
        Err(e) => Err(AppError::Internal(anyhow::anyhow!("signal failed: {e}"))),
    }
}
