//! Dashboard sign-in without secrets in URLs: the workspace API token is exchanged once,
//! on `/signin`, for a signed session cookie (`HttpOnly`, `SameSite=Lax`, 12 hours);
//! every dashboard form carries a CSRF token derived from that session (HMAC-SHA256
//! under the cookie key), checked in constant time. The JSON API keeps bearer tokens.

use axum::{
    Form,
    extract::{FromRef, FromRequestParts, Query, State},
    http::{StatusCode, request::Parts},
    response::{Html, IntoResponse, Redirect, Response},
};
use axum_extra::extract::cookie::{Cookie, Key, SameSite, SignedCookieJar};
use chrono::Utc;
use maud::{Markup, html};
use relink_domain::{AccountId, WorkspaceId};
use serde::Deserialize;

use crate::{AppError, AppState, auth::workspace_for_token};

/// Name of the session cookie.
pub(crate) const SESSION_COOKIE: &str = "relink_session";
/// How long a sign-in lasts: 12 hours, in seconds.
pub(crate) const SESSION_TTL_SECS: i64 = 12 * 3600;

impl FromRef<AppState> for Key {
    fn from_ref(state: &AppState) -> Key {
        state.cookie_key.clone()
    }
}

/// A signed-in dashboard user: their workspace and the CSRF token their forms carry.
pub(crate) struct Session {
    /// The workspace signed in to.
    pub workspace: WorkspaceId,
    /// The CSRF token of this session (a hidden field of every form).
    pub csrf: String,
}

impl Session {
    /// Errors (403, nothing done) unless `presented` is this session's CSRF token.
    pub(crate) fn check_csrf(&self, presented: Option<&str>) -> Result<(), AppError> {
        use subtle::ConstantTimeEq;
        let ok: bool = presented.is_some_and(|p| p.as_bytes().ct_eq(self.csrf.as_bytes()).into());
        if ok {
            Ok(())
        } else {
            Err(AppError::Forbidden(
                "the form is stale or not ours; reload the page".into(),
            ))
        }
    }
}

fn csrf_for(key: &Key, cookie_value: &str) -> String {
    relink_domain::signing::sign(key.signing(), "csrf", cookie_value)
}

/// The session of a request, if it carries a valid, unexpired session cookie.
pub(crate) fn session_of(jar: &SignedCookieJar, key: &Key) -> Option<Session> {
    let cookie = jar.get(SESSION_COOKIE)?;
    let (ws, exp) = cookie.value().split_once('.')?;
    let exp: i64 = exp.parse().ok()?;
    if exp < Utc::now().timestamp() {
        return None;
    }
    Some(Session {
        workspace: ws.parse().ok()?,
        csrf: csrf_for(key, cookie.value()),
    })
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    /// Without a valid session: a redirect to `/signin`.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let jar = SignedCookieJar::<Key>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        session_of(&jar, &state.cookie_key).ok_or_else(|| Redirect::to("/signin").into_response())
    }
}

/// The sign-in form; `account` (from a reconnect email's page) comes back as a hidden
/// field, so that the dashboard opens on that account's card.
fn signin_page(error: Option<&str>, account: Option<AccountId>) -> Markup {
    crate::pages::page(
        "relink · Sign in",
        html! {
            h1 { "Sign in to relink" }
            @if let Some(e) = error { p.error role="alert" { (e) } }
            form method="post" action="/signin" {
                label for="token" { "Workspace API token" }
                br;
                input #token type="password" name="token" autocomplete="current-password" required;
                @if let Some(id) = account { input type="hidden" name="account" value=(id); }
                " "
                button { "Sign in" }
            }
        },
    )
}

/// Whether a request's form was posted from another site: `Sec-Fetch-Site` other than
/// `same-origin`/`none`, or else an `Origin` whose host is not the request's `Host`.
/// Requests with neither header (non-browser clients) are not cross-site.
fn cross_site(headers: &axum::http::HeaderMap) -> bool {
    let get = |h: &str| headers.get(h).and_then(|v| v.to_str().ok());
    if let Some(site) = get("sec-fetch-site") {
        return !matches!(site, "same-origin" | "none");
    }
    match (get("origin"), get("host")) {
        (Some(origin), Some(host)) => origin.split_once("://").map(|(_, h)| h) != Some(host),
        (Some(_), None) => true,
        _ => false,
    }
}

/// `GET /signin?account=…`: the query of the sign-in form.
#[derive(Deserialize)]
pub(crate) struct SigninQuery {
    account: Option<AccountId>,
}

/// `GET /signin`: the sign-in form (`?account=ID`: open that card after signing in).
#[utoipa::path(get, path = "/signin", tag = "sign-in",
    params(("account" = Option<uuid::Uuid>, Query, description = "Open this account's card after signing in")),
    responses((status = 200, description = "The sign-in page", content_type = "text/html")))]
pub(crate) async fn signin_form(Query(q): Query<SigninQuery>) -> Html<String> {
    Html(signin_page(None, q.account).into_string())
}

/// The sign-in form's body.
#[derive(Deserialize)]
pub(crate) struct SigninForm {
    token: String,
    account: Option<AccountId>,
}

/// `POST /signin`: a known workspace token sets the session cookie and goes to the
/// dashboard (with `account`'s card open when it is an account of that workspace; any
/// other id is ignored, so the form cannot send the browser elsewhere); an unknown token
/// answers 401 with the form again (nothing set).
#[utoipa::path(post, path = "/signin", tag = "sign-in",
    request_body(content = crate::openapi::SigninForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed in: the session cookie (HttpOnly, SameSite=Lax) is set and the browser goes to the dashboard"),
        (status = 401, description = "Not a workspace's token: the form again", content_type = "text/html"),
        (status = 403, description = "Posted from another site (login CSRF)", body = crate::openapi::ErrorBody)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn signin(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    jar: SignedCookieJar,
    Form(form): Form<SigninForm>,
) -> Result<Response, AppError> {
    // Login CSRF: another site must not sign this browser in to a workspace of its
    // choosing. Browsers say where a form came from (Fetch Metadata, then Origin).
    if cross_site(&headers) {
        return Err(AppError::Forbidden("sign in from relink's own page".into()));
    }
    let ws = match workspace_for_token(&state, form.token.trim()).await {
        Ok(ws) => ws,
        Err(AppError::Unauthorized(_)) => {
            return Ok((
                StatusCode::UNAUTHORIZED,
                Html(
                    signin_page(
                        Some("That token is not a workspace's API token."),
                        form.account,
                    )
                    .into_string(),
                ),
            )
                .into_response());
        }
        Err(e) => return Err(e),
    };
    let expires = Utc::now().timestamp() + SESSION_TTL_SECS;
    let cookie = Cookie::build((SESSION_COOKIE, format!("{ws}.{expires}")))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.secure_cookies)
        .path("/")
        .max_age(cookie::time::Duration::seconds(SESSION_TTL_SECS))
        .build();
    tracing::info!(workspace_id = %ws, "signed in");
    let to = match form.account {
        Some(id)
            if state
                .store
                .account(id)
                .await
                .is_ok_and(|a| a.workspace_id == ws) =>
        {
            crate::dashboard::focus_url(id)
        }
        _ => "/".to_string(),
    };
    Ok((jar.add(cookie), Redirect::to(&to)).into_response())
}

/// The sign-out form's body.
#[derive(Deserialize)]
pub(crate) struct SignoutForm {
    csrf: Option<String>,
}

/// `POST /signout`: ends the session (CSRF-checked).
pub(crate) async fn signout(
    session: Session,
    jar: SignedCookieJar,
    Form(form): Form<SignoutForm>,
) -> Result<Response, AppError> {
    session.check_csrf(form.csrf.as_deref())?;
    Ok((
        jar.remove(Cookie::build(SESSION_COOKIE).path("/")),
        Redirect::to("/signin"),
    )
        .into_response())
}
