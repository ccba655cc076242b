//! The `/_sim/` control API (DESIGN.md, "unipile-sim control API") and the hosted-auth
//! wizard page a demo user can click through.

use axum::{
    Form, Json, Router,
    extract::{Path, State},
    http::StatusCode,
    response::{Html, IntoResponse, Response},
    routing::{get, post},
};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

use crate::{
    deliver,
    state::{Fault, Shared, SimAccount, new_id, new_member_id},
};

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_sim/accounts", post(seed_account))
        .route("/_sim/accounts/bulk", post(seed_accounts_bulk))
        .route("/_sim/accounts/{id}", axum::routing::delete(vanish_account))
        .route("/_sim/accounts/{id}/status", post(set_status))
        .route("/_sim/hosted/complete", post(complete_hosted))
        .route(
            "/_sim/faults",
            post(add_fault).delete(clear_faults).get(list_faults),
        )
        .route("/_sim/requests", get(requests))
        .route("/_sim/webhooks", get(registered_webhooks))
        .route("/_sim/reset", post(reset))
        .route("/hosted/{id}", get(hosted_page).post(hosted_page_submit))
        .route("/healthz", get(|| async { "ok" }))
}

fn bad(msg: impl Into<String>) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": msg.into()}))).into_response()
}

fn missing(what: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": format!("{what} not found")})),
    )
        .into_response()
}

const STATUSES: [&str; 6] = [
    "OK",
    "CONNECTING",
    "CREDENTIALS",
    "PERMISSIONS",
    "ERROR",
    "STOPPED",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedAccount {
    id: Option<String>,
    name: String,
    member_id: Option<String>,
    public_identifier: Option<String>,
    #[serde(default = "ok")]
    status: String,
    created_at: Option<DateTime<Utc>>,
    #[serde(rename = "type", default = "linkedin")]
    kind: String,
}

fn ok() -> String {
    "OK".into()
}

fn linkedin() -> String {
    "LINKEDIN".into()
}

/// `POST /_sim/accounts`: seeds (or replaces) an account; answers its API shape.
async fn seed_account(State(s): State<Arc<Shared>>, Json(req): Json<SeedAccount>) -> Response {
    if !STATUSES.contains(&req.status.as_str()) {
        return bad(format!("unknown source status {}", req.status));
    }
    let account = SimAccount {
        id: req.id.unwrap_or_else(new_id),
        kind: req.kind,
        public_identifier: req
            .public_identifier
            .unwrap_or_else(|| req.name.to_lowercase().replace(' ', "-")),
        name: req.name,
        member_id: req.member_id.unwrap_or_else(new_member_id),
        created_at: req.created_at.unwrap_or_else(Utc::now),
        status: req.status,
    };
    let body = account.to_json();
    s.lock().accounts.insert(account.id.clone(), account);
    (StatusCode::CREATED, Json(body)).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedBulk {
    /// Id prefix: ids are `<prefix><n zero-padded to 21 digits>`, n = 1..=count.
    prefix: String,
    count: u32,
    #[serde(default = "ok")]
    status: String,
    /// When Unipile says they were created (default: now).
    #[serde(default)]
    created_at: Option<DateTime<Utc>>,
}

/// The most accounts one bulk seed creates.
const MAX_BULK: u32 = 1_000_000;

/// `POST /_sim/accounts/bulk` `{prefix, count, status?, created_at?}`: seeds `count`
/// LinkedIn accounts at once (fleet-sized benchmarks and drills), created at
/// `created_at` (RFC 3339, default now); answers `{seeded}`.
async fn seed_accounts_bulk(State(s): State<Arc<Shared>>, Json(req): Json<SeedBulk>) -> Response {
    if !STATUSES.contains(&req.status.as_str()) {
        return bad(format!("unknown source status {}", req.status));
    }
    if req.count > MAX_BULK || req.prefix.is_empty() || req.prefix.len() > 16 {
        return bad(format!(
            "count must be at most {MAX_BULK} and prefix 1-16 characters"
        ));
    }
    let created_at = req.created_at.unwrap_or_else(Utc::now);
    let mut g = s.lock();
    for n in 1..=req.count {
        let id = format!("{}{n:0>21}", req.prefix);
        let account = SimAccount {
            kind: linkedin(),
            public_identifier: format!("fleet-{n}"),
            name: format!("Fleet {n}"),
            member_id: new_member_id(),
            created_at,
            status: req.status.clone(),
            id: id.clone(),
        };
        g.accounts.insert(id, account);
    }
    Json(json!({"seeded": req.count})).into_response()
}

/// `DELETE /_sim/accounts/{id}`: the account vanishes (GET → 404), no webhook.
async fn vanish_account(State(s): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    match s.lock().accounts.remove(&id) {
        Some(_) => Json(json!({"vanished": id})).into_response(),
        None => missing("account"),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetStatus {
    status: String,
}

/// `POST /_sim/accounts/{id}/status`: sets the source status and sends the
/// account-status webhook to every registration subscribed to it.
async fn set_status(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    Json(req): Json<SetStatus>,
) -> Response {
    if !STATUSES.contains(&req.status.as_str()) {
        return bad(format!("unknown source status {}", req.status));
    }
    let kind = {
        let mut st = s.lock();
        let Some(a) = st.accounts.get_mut(&id) else {
            return missing("account");
        };
        a.status = req.status.clone();
        a.kind.clone()
    };
    let deliveries = deliver::account_status(&s, &id, &kind, &req.status).await;
    Json(json!({"account_id": id, "status": req.status, "deliveries": deliveries})).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Complete {
    url: Option<String>,
    link_id: Option<String>,
    #[serde(default = "yes")]
    notify: bool,
    /// For create links: the new account's display name and member id.
    name: Option<String>,
    member_id: Option<String>,
}

fn yes() -> bool {
    true
}

/// `POST /_sim/hosted/complete`: the user finishes hosted auth on a link. Creates (create
/// link) or revives (reconnect link, same id) the account, then calls the link's
/// notify_url unless `notify` is false (the lost-callback race), then sends the
/// `CREATION_SUCCESS`/`RECONNECTED` account-status webhook.
async fn complete_hosted(State(s): State<Arc<Shared>>, Json(req): Json<Complete>) -> Response {
    let link_id = match (&req.link_id, &req.url) {
        (Some(id), _) => id.clone(),
        (None, Some(url)) => url.rsplit('/').next().unwrap_or_default().to_string(),
        (None, None) => return bad("give url or link_id"),
    };
    complete(&s, &link_id, req.notify, req.name, req.member_id).await
}

async fn complete(
    s: &Shared,
    link_id: &str,
    notify: bool,
    name: Option<String>,
    member: Option<String>,
) -> Response {
    let (request, account_id, status, kind) = {
        let mut st = s.lock();
        let Some(link) = st.links.get(link_id).cloned() else {
            return missing("hosted link");
        };
        let expired = link
            .request
            .get("expiresOn")
            .and_then(Value::as_str)
            .and_then(|e| DateTime::parse_from_rfc3339(e).ok())
            .is_some_and(|e| e.to_utc() < Utc::now());
        if expired {
            return (
                StatusCode::GONE,
                Json(json!({"error": "errors/expired_link"})),
            )
                .into_response();
        }
        let (account_id, status) = match link
            .request
            .get("reconnect_account")
            .and_then(Value::as_str)
        {
            Some(id) => {
                let Some(a) = st.accounts.get_mut(id) else {
                    return missing("account to reconnect");
                };
                a.status = "OK".into();
                (id.to_string(), "RECONNECTED")
            }
            None => {
                let name = name.unwrap_or_else(|| "New Member".into());
                let a = SimAccount {
                    id: new_id(),
                    kind: "LINKEDIN".into(),
                    public_identifier: name.to_lowercase().replace(' ', "-"),
                    name,
                    member_id: member.unwrap_or_else(new_member_id),
                    created_at: Utc::now(),
                    status: "OK".into(),
                };
                let id = a.id.clone();
                st.accounts.insert(id.clone(), a);
                (id, "CREATION_SUCCESS")
            }
        };
        if let Some(l) = st.links.get_mut(link_id) {
            l.completed = true;
        }
        (link.request, account_id, status, "LINKEDIN".to_string())
    };
    let mut notify_delivery = None;
    if notify && let Some(url) = request.get("notify_url").and_then(Value::as_str) {
        let mut body = json!({"status": status, "account_id": account_id});
        if let Some(name) = request.get("name") {
            body["name"] = name.clone();
        }
        notify_delivery = Some(deliver::post(s, url, &[], &body).await);
    }
    let webhooks = deliver::account_status(s, &account_id, &kind, status).await;
    Json(json!({
        "account_id": account_id,
        "status": status,
        "notify": notify_delivery,
        "webhooks": webhooks,
    }))
    .into_response()
}

/// `POST /_sim/faults`: injects a failure (see [`Fault`]).
async fn add_fault(State(s): State<Arc<Shared>>, Json(f): Json<Fault>) -> Response {
    if f.status != 0 && !(400..=599).contains(&f.status) {
        return bad("status must be 0 (latency only) or 400-599");
    }
    s.lock().faults.push(f.clone());
    (StatusCode::CREATED, Json(f)).into_response()
}

async fn clear_faults(State(s): State<Arc<Shared>>) -> Response {
    s.lock().faults.clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn list_faults(State(s): State<Arc<Shared>>) -> Response {
    Json(s.lock().faults.clone()).into_response()
}

/// `GET /_sim/requests`: every API call received, oldest first.
async fn requests(State(s): State<Arc<Shared>>) -> Response {
    Json(s.lock().log.clone()).into_response()
}

async fn registered_webhooks(State(s): State<Arc<Shared>>) -> Response {
    Json(s.lock().webhooks.values().cloned().collect::<Vec<_>>()).into_response()
}

/// `POST /_sim/reset`: forgets everything.
async fn reset(State(s): State<Arc<Shared>>) -> Response {
    let mut st = s.lock();
    st.accounts.clear();
    st.links.clear();
    st.webhooks.clear();
    st.faults.clear();
    st.log.clear();
    StatusCode::NO_CONTENT.into_response()
}

/// The hosted-auth wizard stand-in: one button that finishes the login.
async fn hosted_page(State(s): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let Some(link) = s.lock().links.get(&id).cloned() else {
        return missing("hosted link");
    };
    let kind = link
        .request
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("create");
    let done = if link.completed {
        "<p>This link was already used.</p>"
    } else {
        ""
    };
    // Only fixed strings and a link id of [A-Za-z0-9] are interpolated; nothing to escape.
    Html(format!(
        "<!doctype html><title>Unipile hosted auth (simulated)</title><link rel=icon href=\"data:,\">\
         <h1>Connect LinkedIn ({kind})</h1>{done}\
         <form method=post><input type=hidden name=notify value=true>\
         <button>Finish LinkedIn login</button></form>\
         <form method=post><input type=hidden name=abandon value=true>\
         <button>Cancel</button></form>"
    ))
    .into_response()
}

#[derive(Deserialize)]
struct PageForm {
    notify: Option<bool>,
    abandon: Option<bool>,
}

/// The wizard's buttons, as a browser submits them. Like Unipile, the browser is sent
/// to the link's `success_redirect_url` after a finished login and to its
/// `failure_redirect_url` when the user gives up (unipile-api.md §8); without them it
/// gets the completion as JSON.
async fn hosted_page_submit(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    Form(f): Form<PageForm>,
) -> Response {
    let Some(request) = s.lock().links.get(&id).map(|l| l.request.clone()) else {
        return missing("hosted link");
    };
    let redirect = |key: &str| {
        request
            .get(key)
            .and_then(Value::as_str)
            .map(|u| axum::response::Redirect::to(u).into_response())
    };
    if f.abandon.unwrap_or(false) {
        return redirect("failure_redirect_url")
            .unwrap_or_else(|| Json(json!({"abandoned": true})).into_response());
    }
    let done = complete(&s, &id, f.notify.unwrap_or(true), None, None).await;
    if !done.status().is_success() {
        return done;
    }
    redirect("success_redirect_url").unwrap_or(done)
}
