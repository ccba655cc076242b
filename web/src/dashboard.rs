//! `GET /`: the accounts dashboard of the signed-in workspace (pills, first-connected
//! date, Reconnect), and `GET /accounts/{id}`, the one-account page a reconnect email
//! links to.

use axum::{
    Form,
    extract::{Path, Query, State},
    response::{Html, IntoResponse, Redirect, Response},
};
use chrono::Utc;
use maud::{DOCTYPE, PreEscaped, html};
use relink_domain::{AccountId, AccountStatus, PillTone, emails::verify_account_link};
use serde::Deserialize;

use crate::{
    AppError, AppState,
    accounts::{account_view, account_views, parse_account_id, request_link},
    session::{Session, session_of},
};
use axum_extra::extract::cookie::SignedCookieJar;

fn colour(tone: PillTone) -> &'static str {
    match tone {
        PillTone::Green => "#1a7f37",
        PillTone::Blue => "#0969da",
        PillTone::Amber => "#9a6700",
        PillTone::Grey => "#6e7781",
    }
}

/// Where Unipile's hosted page sends the browser back (the link's redirect urls), or
/// where a Resume lands (`campaign`).
#[derive(Deserialize)]
pub(crate) struct HostedAuthReturn {
    account: Option<AccountId>,
    login: Option<String>,
    campaign: Option<uuid::Uuid>,
}

/// Keeps the pills current without reloading: asks `/ui/pills` every second with the
/// last ETag (an unchanged page costs a 304) and repaints the pills that changed.
const LIVE_PILLS_JS: &str = r#"
(function () {
  let etag = null;
  async function poll() {
    try {
      const r = await fetch('/ui/pills', { headers: etag ? { 'If-None-Match': etag } : {} });
      if (r.status === 200) {
        etag = r.headers.get('ETag');
        const d = await r.json();
        for (const a of d.accounts) {
          const el = document.querySelector('[data-pill="' + a.id + '"]');
          if (el) { el.textContent = a.label; el.style.background = a.colour; }
        }
      }
    } catch (e) { /* the next poll tries again */ }
    setTimeout(poll, 1000);
  }
  document.addEventListener('DOMContentLoaded', poll);
})();
"#;

/// `GET /ui/pills`: the signed-in workspace's pills, `{accounts: [{id, state, label,
/// colour}]}`, with a strong ETag (SHA-256 of the body); `If-None-Match` with the
/// current ETag answers 304 with no body.
#[tracing::instrument(skip_all, fields(workspace_id = %session.workspace))]
pub(crate) async fn pills(
    State(state): State<AppState>,
    session: Session,
    headers: axum::http::HeaderMap,
) -> Result<Response, AppError> {
    use sha2::{Digest, Sha256};
    let accounts: Vec<_> = account_views(&state, session.workspace)
        .await?
        .into_iter()
        .map(|a| {
            serde_json::json!({
                "id": a.id, "state": a.pill.state, "label": a.pill.label,
                "colour": colour(a.pill.tone),
            })
        })
        .collect();
    let body = serde_json::json!({ "accounts": accounts }).to_string();
    let etag = format!("\"{}\"", hex::encode(Sha256::digest(body.as_bytes())));
    let fresh = headers
        .get(axum::http::header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == etag);
    let mut resp = if fresh {
        axum::http::StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response()
    };
    if let Ok(v) = axum::http::HeaderValue::from_str(&etag) {
        resp.headers_mut().insert(axum::http::header::ETAG, v);
    }
    resp.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-cache"),
    );
    Ok(resp)
}

/// `GET /`: the accounts of the signed-in workspace (no session: a redirect to
/// `/signin`; a `?token=` in the URL is never read).
#[tracing::instrument(skip_all)]
pub(crate) async fn page(
    State(state): State<AppState>,
    jar: SignedCookieJar,
    Query(back): Query<HostedAuthReturn>,
) -> Result<Response, AppError> {
    let Some(session) = session_of(&jar, &state.cookie_key) else {
        // Back from hosted auth without a session (the user came from the email): say
        // how the login ended, name nothing, offer to sign in.
        return Ok(match back.login.as_deref() {
            Some(outcome) => Html(
                html! {
                    (DOCTYPE)
                    html {
                        head { meta charset="utf-8"; title { "relink" } }
                        body {
                            @if outcome == "reconnected" {
                                p role="status" { "Reconnected. The paused campaigns resume by themselves; you can close this page." }
                            } @else {
                                p role="status" { "The LinkedIn login was not finished. Open the link in the email again to retry." }
                            }
                            p { a href="/signin" { "Sign in to relink" } }
                        }
                    }
                }
                .into_string(),
            )
            .into_response(),
            None => Redirect::to("/signin").into_response(),
        });
    };
    let ws = session.workspace;
    let csrf = session.csrf.as_str();
    let accounts = account_views(&state, ws).await?;
    // Back from Unipile's hosted page: say how the login ended, for an account of ours.
    let banner = back.account.and_then(|id| {
        let a = accounts.iter().find(|a| a.id == id)?;
        Some(match back.login.as_deref() {
            Some("reconnected") => format!(
                "Reconnected: {}. Its campaigns resume by themselves.",
                a.display_name
            ),
            _ => format!(
                "The LinkedIn login was not finished for {}.",
                a.display_name
            ),
        })
    });
    let campaigns = state.store.campaigns_of_workspace(ws).await?;
    // Cards of one LinkedIn identity, each with the names of its twins.
    let mut twins: std::collections::HashMap<AccountId, Vec<String>> = Default::default();
    for (_, _, ids) in state.store.duplicate_identity_rows(Some(ws)).await? {
        for id in &ids {
            let names = accounts
                .iter()
                .filter(|a| a.id != *id && ids.contains(&a.id))
                .map(|a| a.display_name.clone())
                .collect();
            twins.insert(*id, names);
        }
    }
    // After a Resume: what became of the campaign, and the reason that still holds.
    let resumed = back.campaign.and_then(|id| {
        let c = campaigns.iter().find(|c| c.id == id)?;
        Some(if c.pause_reasons.is_empty() {
            format!("{} resumed.", c.name)
        } else {
            let why: Vec<_> = c.pause_reasons.iter().map(|r| r.hint()).collect();
            format!("{} is still paused: {}.", c.name, why.join("; "))
        })
    });
    let markup = html! {
        (DOCTYPE)
        html {
            head {
                meta charset="utf-8";
                title { "relink · LinkedIn accounts" }
                style { "body{font-family:sans-serif;margin:2rem} td,th{padding:.4rem .8rem;text-align:left} .pill{padding:.15rem .6rem;border-radius:1rem;color:#fff}" }
            }
            body {
                script { (PreEscaped(LIVE_PILLS_JS)) }
                form method="post" action="/signout" {
                    input type="hidden" name="csrf" value=(csrf);
                    button { "Sign out" }
                }
                h1 { "LinkedIn accounts" }
                @if let Some(b) = &banner { p role="status" { (b) } }
                @if let Some(b) = &resumed { p role="status" { (b) } }
                table {
                    tr { th { "Account" } th { "Status" } th { "" } th { "" } }
                    @for a in &accounts {
                        tr {
                            td {
                                (a.display_name)
                                @if let Some(d) = &a.first_connected_on { br; small { "First connected on " (d) } }
                            }
                            td { span.pill data-pill=(a.id) style={ "background:" (colour(a.pill.tone)) } { (a.pill.label) } }
                            td {
                                @if let Some(others) = twins.get(&a.id) {
                                    small { "Same LinkedIn identity as " (others.join(", ")) }
                                }
                            }
                            td {
                                // The card's menu: a native disclosure, reachable by keyboard.
                                details {
                                    summary aria-label={ "Actions for " (a.display_name) } { "⋮" }
                                    @if a.status != AccountStatus::Connected {
                                        form method="post" action={ "/ui/accounts/" (a.id) "/reconnect" } {
                                            input type="hidden" name="csrf" value=(csrf);
                                            button { @if a.first_connected_on.is_some() { "Reconnect" } @else { "Connect" } }
                                        }
                                    }
                                    @if a.status != AccountStatus::Disconnected {
                                        form method="post" action={ "/ui/accounts/" (a.id) "/disconnect" } {
                                            input type="hidden" name="csrf" value=(csrf);
                                            button { "Disconnect" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                h2 { "Campaigns" }
                table {
                    tr { th { "Campaign" } th { "State" } th { "Why it is paused" } th { "" } }
                    @for c in &campaigns {
                        tr {
                            td { (c.name) }
                            td { (c.status) }
                            td {
                                @for r in &c.pause_reasons { (r.hint()) br; }
                            }
                            td {
                                @if !c.pause_reasons.is_empty() {
                                    form method="post" action={ "/ui/campaigns/" (c.id) "/resume" } {
                                        input type="hidden" name="csrf" value=(csrf);
                                        button { "Resume" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(Html(markup.into_string()).into_response())
}

/// The Reconnect button's form: the session's CSRF token (dashboard), or the signed
/// single-account link it was opened with (`exp`, `sig`: the reconnect email).
#[derive(Deserialize)]
pub(crate) struct ReconnectForm {
    csrf: Option<String>,
    email: Option<i64>,
    exp: Option<i64>,
    sig: Option<String>,
}

/// The dashboard's Reconnect button: gets the link and sends the browser to it.
#[tracing::instrument(skip_all, fields(account_id = %id))]
pub(crate) async fn reconnect(
    State(state): State<AppState>,
    jar: SignedCookieJar,
    Path(id): Path<String>,
    Form(form): Form<ReconnectForm>,
) -> Result<Response, AppError> {
    let id = parse_account_id(&id)?;
    let ws = match (form.email, form.exp, form.sig) {
        (Some(email), Some(exp), Some(sig)) => {
            signed_account(&state, id, email, exp, &sig)
                .await?
                .workspace_id
        }
        _ => {
            let session = session_of(&jar, &state.cookie_key).ok_or_else(|| {
                AppError::Unauthorized("sign in, or open the link from the email".into())
            })?;
            session.check_csrf(form.csrf.as_deref())?;
            session.workspace
        }
    };
    let link = request_link(&state, ws, id).await?;
    Ok(Redirect::to(&link.url).into_response())
}

/// The card menu's Disconnect (`Store::disconnect_by_user`): a duplicate card merges
/// into the live card of its LinkedIn identity, another becomes `disconnected`; the
/// Unipile session is left for an operator's Safe delete, never deleted here.
/// CSRF-checked; another workspace's account is 404.
#[tracing::instrument(skip_all, fields(workspace_id = %session.workspace, account_id = %id))]
pub(crate) async fn disconnect(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, AppError> {
    session.check_csrf(form.csrf.as_deref())?;
    let id = parse_account_id(&id)?;
    let actor = format!("user:{}", session.workspace);
    state
        .store
        .disconnect_by_user(session.workspace, id, &actor)
        .await?;
    Ok(Redirect::to("/").into_response())
}

/// A dashboard form that carries only the session's CSRF token.
#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    csrf: Option<String>,
}

/// The dashboard's Resume button: the same rule as `POST /api/campaigns/{id}/resume`
/// (`Store::user_resume`), then back to the dashboard, which says whether the campaign
/// resumed or which reason still holds. CSRF-checked; another workspace's campaign is
/// 404.
#[tracing::instrument(skip_all, fields(workspace_id = %session.workspace, campaign_id = %id))]
pub(crate) async fn resume(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, AppError> {
    session.check_csrf(form.csrf.as_deref())?;
    let id = crate::campaigns::parse_campaign_id(&id)?;
    state.store.user_resume(session.workspace, id).await?;
    Ok(Redirect::to(&format!("/?campaign={id}")).into_response())
}

/// The signed link of a reconnect email (`relink_domain::emails`).
#[derive(Deserialize)]
pub(crate) struct AccountLinkQuery {
    email: i64,
    exp: i64,
    sig: String,
}

/// The account a signed link opens. Errors: 404 when account links are not enabled
/// (`ACCOUNT_LINK_KEY`) or the account does not exist; 401 for a bad or expired link.
async fn signed_account(
    state: &AppState,
    id: AccountId,
    email: i64,
    exp: i64,
    sig: &str,
) -> Result<relink_store::AccountRow, AppError> {
    let key = state
        .account_link_key
        .as_deref()
        .ok_or_else(|| AppError::NotFound("account links are not enabled".into()))?;
    verify_account_link(key, id, email, exp, sig, Utc::now().timestamp())
        .map_err(|e| AppError::Unauthorized(e.to_string()))?;
    // Genuine, but from an earlier episode, or the account is connected again.
    if !state.store.account_link_current(id, email).await? {
        return Err(AppError::Unauthorized(
            "this link is from an earlier email; open relink and sign in".into(),
        ));
    }
    Ok(state.store.account(id).await?)
}

/// `GET /accounts/{id}?exp=…&sig=…`: the page a reconnect email links to. It shows
/// that one account (its pill, its campaigns with their pause reasons) with its
/// Reconnect button; the link is its only credential, for that account only, until it
/// expires.
#[tracing::instrument(skip_all, fields(account_id = %id))]
pub(crate) async fn account_page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<AccountLinkQuery>,
) -> Result<Response, AppError> {
    let id = parse_account_id(&id)?;
    let row = signed_account(&state, id, q.email, q.exp, &q.sig).await?;
    let campaigns = state.store.campaigns_of_account(id).await?;
    let a = account_view(row, Utc::now());
    let markup = html! {
        (DOCTYPE)
        html {
            head {
                meta charset="utf-8";
                title { "relink · " (a.display_name) }
                style { "body{font-family:sans-serif;margin:2rem} .pill{padding:.15rem .6rem;border-radius:1rem;color:#fff}" }
            }
            body {
                h1 { (a.display_name) }
                p { span.pill style={ "background:" (colour(a.pill.tone)) } { (a.pill.label) } }
                @if let Some(d) = &a.first_connected_on { p { small { "First connected on " (d) } } }
                @if a.status != AccountStatus::Connected {
                    form method="post" action={ "/ui/accounts/" (a.id) "/reconnect" } {
                        input type="hidden" name="email" value=(q.email);
                        input type="hidden" name="exp" value=(q.exp);
                        input type="hidden" name="sig" value=(q.sig);
                        button { @if a.first_connected_on.is_some() { "Reconnect" } @else { "Connect" } }
                    }
                }
                h2 { "Campaigns" }
                ul {
                    @for c in &campaigns {
                        li {
                            (c.name) " — " (c.status)
                            @if !c.pause_reasons.is_empty() {
                                " (" (c.pause_reasons.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")) ")"
                            }
                        }
                    }
                }
            }
        }
    };
    // The URL carries the link's signature: never send it on as a Referer.
    Ok((
        [(axum::http::header::REFERRER_POLICY, "no-referrer")],
        Html(markup.into_string()),
    )
        .into_response())
}
