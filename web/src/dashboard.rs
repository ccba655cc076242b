//! `GET /`: the accounts dashboard of the signed-in workspace (pills, first-connected
//! date, Reconnect), and `GET /accounts/{id}`, the one-account page a reconnect email
//! links to.

use axum::{
    Form,
    extract::{Path, Query, State},
    response::{Html, IntoResponse, Redirect, Response},
};
use chrono::Utc;
use maud::{Markup, PreEscaped, html};
use relink_domain::{AccountId, AccountStatus, CampaignStatus, emails::verify_account_link};
use relink_store::CampaignView;
use serde::Deserialize;

use crate::{
    AppError, AppState,
    accounts::{AccountView, account_view, account_views, parse_account_id, request_link},
    pages::{self, colour},
    session::{Session, session_of},
};
use axum_extra::extract::cookie::SignedCookieJar;

/// Where Unipile's hosted page sends the browser back (the link's redirect urls), where
/// a Resume lands (`campaign`), and which card to open (`focus`: after signing in from a
/// reconnect email).
#[derive(Deserialize)]
pub(crate) struct HostedAuthReturn {
    account: Option<AccountId>,
    login: Option<String>,
    campaign: Option<uuid::Uuid>,
    focus: Option<AccountId>,
}

/// Keeps the page current without reloading: asks `/ui/pills` every second with the
/// last ETag (an unchanged page costs a 304) and repaints what changed: each pill (label,
/// colour, state: the spinner), which menu actions apply, each campaign's state and
/// pause reasons, and whether its Resume button shows.
const LIVE_JS: &str = r#"
(function () {
  let etag = null;
  const one = (attr, id) => document.querySelector('[' + attr + '="' + id + '"]');
  async function poll() {
    try {
      const r = await fetch('/ui/pills', { headers: etag ? { 'If-None-Match': etag } : {} });
      if (r.status === 200) {
        etag = r.headers.get('ETag');
        const d = await r.json();
        for (const a of d.accounts) {
          const pill = one('data-pill', a.id);
          if (pill) { pill.textContent = a.label; pill.style.background = a.colour; pill.dataset.state = a.state; }
          const rc = one('data-reconnect', a.id);
          if (rc) rc.hidden = a.status === 'connected';
          const dc = one('data-disconnect', a.id);
          if (dc) dc.hidden = a.status === 'disconnected';
        }
        for (const c of d.campaigns) {
          const row = one('data-campaign', c.id);
          if (!row) continue;
          row.querySelector('.status').textContent = c.status;
          row.querySelector('.why').textContent = c.why.join('; ');
          const resume = row.querySelector('form');
          if (resume) resume.hidden = c.why.length === 0;
        }
      }
    } catch (e) { /* the next poll tries again */ }
    setTimeout(poll, 1000);
  }
  document.addEventListener('DOMContentLoaded', poll);
})();
"#;

/// A campaign's state in words, as the dashboard shows it.
fn campaign_state(c: &CampaignView) -> &'static str {
    match c.status {
        CampaignStatus::Active => "Active",
        CampaignStatus::Paused => "Paused",
    }
}

/// `GET /ui/pills`: what the dashboard repaints live for the signed-in workspace,
/// `{accounts: [{id, status, state, label, colour}], campaigns: [{id, status, why:
/// [hint]}]}`, with a strong ETag (SHA-256 of the body); `If-None-Match` with the
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
                "id": a.id, "status": a.status, "state": a.pill.state, "label": a.pill.label,
                "colour": colour(a.pill.tone),
            })
        })
        .collect();
    let campaigns: Vec<_> = state
        .store
        .campaigns_of_workspace(session.workspace)
        .await?
        .iter()
        .map(|c| {
            let why: Vec<_> = c.pause_reasons.iter().map(|r| r.hint()).collect();
            serde_json::json!({ "id": c.id, "status": campaign_state(c), "why": why })
        })
        .collect();
    let body = serde_json::json!({ "accounts": accounts, "campaigns": campaigns }).to_string();
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

/// The page for a browser back from hosted auth without a session (the user came from
/// the email): how the login ended, naming nothing, with a way to sign in.
fn returned_without_session(outcome: &str) -> Markup {
    pages::page(
        "relink",
        html! {
            @if outcome == "reconnected" {
                p role="status" { "Reconnected. The paused campaigns resume by themselves; you can close this page." }
            } @else {
                p role="status" { "The LinkedIn login was not finished. Open the link in the email again to retry." }
            }
            p { a href="/signin" { "Sign in to relink" } }
        },
    )
}

/// One account's card: name and ⋮ menu, pill, first-connected date, twin marking, and
/// its campaigns with their pause reasons in words and a Resume button.
fn card(
    a: &AccountView,
    campaigns: &[&CampaignView],
    twins: Option<&Vec<String>>,
    csrf: &str,
    focus: Option<AccountId>,
    highlight: Option<AccountId>,
) -> Markup {
    let focused = focus == Some(a.id);
    html! {
        article.card.focus[focused || highlight == Some(a.id)] id={ "account-" (a.id) } {
            header {
                h2 { (a.display_name) }
                // The card's menu: a native disclosure, reachable by keyboard.
                details.menu open[focused] {
                    summary aria-label={ "Actions for " (a.display_name) } { "⋮" }
                    div.items {
                        form method="post" action={ "/ui/accounts/" (a.id) "/reconnect" }
                            data-reconnect=(a.id) hidden[a.status == AccountStatus::Connected] {
                            input type="hidden" name="csrf" value=(csrf);
                            button { @if a.first_connected_on.is_some() { "Reconnect" } @else { "Connect" } }
                        }
                        form method="post" action={ "/ui/accounts/" (a.id) "/disconnect" }
                            data-disconnect=(a.id) hidden[a.status == AccountStatus::Disconnected] {
                            input type="hidden" name="csrf" value=(csrf);
                            button { "Disconnect" }
                        }
                    }
                }
            }
            p {
                span.pill data-pill=(a.id) data-state=(a.pill.state.as_str())
                    style={ "background:" (colour(a.pill.tone)) } { (a.pill.label) }
            }
            @if let Some(d) = &a.first_connected_on { p.meta { "First connected on " (d) } }
            @if let Some(others) = twins {
                p.twin { "Same LinkedIn identity as " (others.join(", ")) }
            }
            @if !campaigns.is_empty() {
                ul.campaigns aria-label={ "Campaigns of " (a.display_name) } {
                    @for c in campaigns {
                        li data-campaign=(c.id) {
                            strong { (c.name) } " · " span.status { (campaign_state(c)) }
                            span.why {
                                (c.pause_reasons.iter().map(|r| r.hint()).collect::<Vec<_>>().join("; "))
                            }
                            form method="post" action={ "/ui/campaigns/" (c.id) "/resume" }
                                hidden[c.pause_reasons.is_empty()] {
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

/// `GET /`: the accounts of the signed-in workspace as cards (no session: a redirect to
/// `/signin`; a `?token=` in the URL is never read).
#[tracing::instrument(skip_all)]
pub(crate) async fn page(
    State(state): State<AppState>,
    jar: SignedCookieJar,
    Query(back): Query<HostedAuthReturn>,
) -> Result<Response, AppError> {
    let Some(session) = session_of(&jar, &state.cookie_key) else {
        return Ok(match back.login.as_deref() {
            Some(outcome) => Html(returned_without_session(outcome).into_string()).into_response(),
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
    let body = html! {
        script { (PreEscaped(LIVE_JS)) }
        form method="post" action="/signout" style="float:right" {
            input type="hidden" name="csrf" value=(csrf);
            button { "Sign out" }
        }
        h1 { "LinkedIn accounts" }
        @if let Some(b) = &banner { p role="status" { (b) } }
        @if let Some(b) = &resumed { p role="status" { (b) } }
        @if accounts.is_empty() { p { "No LinkedIn account is connected to this workspace yet." } }
        section.cards {
            @for a in &accounts {
                @let mine: Vec<&CampaignView> = campaigns.iter().filter(|c| c.account_id == a.id).collect();
                (card(a, &mine, twins.get(&a.id), csrf, back.focus, back.account))
            }
        }
    };
    Ok(Html(pages::page("relink · LinkedIn accounts", body).into_string()).into_response())
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

/// `GET /accounts/{id}?email=…&exp=…&sig=…`: the page a reconnect email links to. A
/// browser signed in to the account's workspace goes on to the dashboard with that
/// account's card open (`/?focus=ID#account-ID`). Otherwise the page shows that one
/// account (its pill, its campaigns with their pause reasons) with its Reconnect button,
/// and a sign-in link that comes back to the card; the link is its only credential, for
/// that account only, until it expires.
#[tracing::instrument(skip_all, fields(account_id = %id))]
pub(crate) async fn account_page(
    State(state): State<AppState>,
    jar: SignedCookieJar,
    Path(id): Path<String>,
    Query(q): Query<AccountLinkQuery>,
) -> Result<Response, AppError> {
    let id = parse_account_id(&id)?;
    let row = signed_account(&state, id, q.email, q.exp, &q.sig).await?;
    if session_of(&jar, &state.cookie_key).is_some_and(|s| s.workspace == row.workspace_id) {
        return Ok(Redirect::to(&focus_url(id)).into_response());
    }
    let campaigns = state.store.campaigns_of_account(id).await?;
    let a = account_view(row, Utc::now());
    let body = html! {
        h1 { (a.display_name) }
        p {
            span.pill data-state=(a.pill.state.as_str()) style={ "background:" (colour(a.pill.tone)) } { (a.pill.label) }
        }
        @if let Some(d) = &a.first_connected_on { p.meta { "First connected on " (d) } }
        @if a.status != AccountStatus::Connected {
            form method="post" action={ "/ui/accounts/" (a.id) "/reconnect" } {
                input type="hidden" name="email" value=(q.email);
                input type="hidden" name="exp" value=(q.exp);
                input type="hidden" name="sig" value=(q.sig);
                button { @if a.first_connected_on.is_some() { "Reconnect" } @else { "Connect" } }
            }
        }
        @if !campaigns.is_empty() {
            h2 { "Campaigns" }
            ul.campaigns {
                @for c in &campaigns {
                    li {
                        strong { (c.name) } " · " (campaign_state(c))
                        span.why { (c.pause_reasons.iter().map(|r| r.hint()).collect::<Vec<_>>().join("; ")) }
                    }
                }
            }
        }
        p { a href={ "/signin?account=" (a.id) } { "Sign in to see all your accounts" } }
    };
    // The URL carries the link's signature: never send it on as a Referer.
    Ok((
        [(axum::http::header::REFERRER_POLICY, "no-referrer")],
        Html(pages::page(&format!("relink · {}", a.display_name), body).into_string()),
    )
        .into_response())
}

/// The dashboard with account `id`'s card open: `/?focus=ID#account-ID`.
pub(crate) fn focus_url(id: AccountId) -> String {
    format!("/?focus={id}#account-{id}")
}
