//! The Unipile v1 API subset: accounts, hosted-auth links, webhooks.

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode, Uri},
    response::{IntoResponse, Response},
    routing::{delete, get, post},
};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};
use std::{sync::Arc, time::Duration};

use crate::{
    cursor, deliver,
    state::{LoggedRequest, Shared, SimLink, SimWebhook, new_id},
};

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/v1/accounts", get(list_accounts))
        .route(
            "/api/v1/accounts/{id}",
            get(get_account).delete(delete_account),
        )
        .route("/api/v1/hosted/accounts/link", post(create_link))
        .route("/api/v1/webhooks", get(list_webhooks).post(create_webhook))
        .route("/api/v1/webhooks/{id}", delete(delete_webhook))
}

/// A v1 error body (unipile-api.md §6.1).
pub(crate) fn error(status: u16, kind: &str, title: &str, detail: Option<&str>) -> Response {
    let mut body = json!({"status": status, "type": kind, "title": title});
    if let Some(d) = detail {
        body["detail"] = d.into();
    }
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (code, Json(body)).into_response()
}

fn fault_error(status: u16) -> Response {
    match status {
        400 => error(400, "errors/invalid_parameters", "Invalid parameters", None),
        401 => error(
            401,
            "errors/missing_credentials",
            "Missing credentials",
            None,
        ),
        403 => error(
            403,
            "errors/insufficient_permissions",
            "Insufficient permissions",
            None,
        ),
        404 => error(
            404,
            "errors/resource_not_found",
            "Resource not found.",
            None,
        ),
        429 => error(429, "errors/too_many_requests", "Too many requests", None),
        503 => error(
            503,
            "errors/service_unavailable",
            "Service unavailable",
            None,
        ),
        504 => error(504, "errors/request_timeout", "Request timeout", None),
        s => error(s, "errors/unexpected_error", "Unexpected error", None),
    }
}

fn not_found() -> Response {
    error(
        404,
        "errors/resource_not_found",
        "Resource not found.",
        Some("The requested resource were not found.\nAccount not found"),
    )
}

/// One API call in progress: checks faults and the API key, then logs the answer.
struct Call<'a> {
    shared: &'a Shared,
    entry: LoggedRequest,
}

impl<'a> Call<'a> {
    fn new(shared: &'a Shared, method: &str, route: &str, uri: &Uri, body: Option<Value>) -> Self {
        Call {
            shared,
            entry: LoggedRequest {
                method: method.into(),
                route: format!("{method} {route}"),
                path: uri.path().into(),
                query: uri.query().map(Into::into),
                body,
                status: 0,
                at: Utc::now(),
            },
        }
    }

    /// Injected fault (with its latency) first, then `X-API-KEY`.
    async fn precheck(&self, headers: &HeaderMap) -> Option<Response> {
        let fault = {
            let mut st = self.shared.lock();
            let mut hit = None;
            for f in st.faults.iter_mut().filter(|f| f.route == self.entry.route) {
                if f.skip > 0 {
                    f.skip -= 1;
                    continue;
                }
                if f.count > 0 {
                    f.count -= 1;
                    hit = Some((f.status, f.latency_ms, f.error_type.clone()));
                    break;
                }
            }
            st.faults.retain(|f| f.count > 0);
            hit
        };
        if let Some((status, latency, error_type)) = fault {
            if latency > 0 {
                tokio::time::sleep(Duration::from_millis(latency)).await;
            }
            if status != 0 {
                return Some(match error_type {
                    Some(t) => error(status, &t, "Injected error", None),
                    None => fault_error(status),
                });
            }
        }
        let key = headers.get("x-api-key").and_then(|v| v.to_str().ok());
        if key != Some(self.shared.config.api_key.as_str()) {
            return Some(error(
                401,
                "errors/missing_credentials",
                "Missing credentials",
                Some("Some credentials are necessary to perform the request."),
            ));
        }
        None
    }

    fn done(mut self, resp: Response) -> Response {
        self.entry.status = resp.status().as_u16();
        self.shared.lock().log.push(self.entry);
        resp
    }
}

// An axum `Response` is this module's error: handlers return it as is.
#[allow(clippy::result_large_err)]
fn parse_body(body: &Bytes) -> Result<Value, Response> {
    serde_json::from_slice(body).map_err(|e| {
        error(
            400,
            "errors/malformed_request",
            "Malformed request",
            Some(&e.to_string()),
        )
    })
}

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

async fn list_accounts(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<ListQuery>,
) -> Response {
    let call = Call::new(&s, "GET", "/api/v1/accounts", &uri, None);
    if let Some(r) = call.precheck(&headers).await {
        return call.done(r);
    }
    let invalid = |detail: &str| {
        error(
            400,
            "errors/invalid_parameters",
            "Invalid parameters",
            Some(detail),
        )
    };
    let position = match q.cursor.as_deref().map(cursor::decode) {
        None => None,
        Some(Some(p)) => Some(p),
        Some(None) => return call.done(invalid("invalid cursor")),
    };
    // The query's limit wins; a cursor alone pages on with the limit it was made for.
    let limit = match q.limit.as_deref().map(str::parse::<usize>) {
        None => position.as_ref().map_or(100, |p| p.limit),
        Some(Ok(n)) if (1..=250).contains(&n) => n,
        _ => return call.done(invalid("limit must be 1-250")),
    };
    let after = position.map(|p| p.last_id);
    let (items, cursor) = {
        let st = s.lock();
        let mut iter: Box<dyn Iterator<Item = _>> = match &after {
            Some(id) => Box::new(st.accounts.range::<String, _>((
                std::ops::Bound::Excluded(id.clone()),
                std::ops::Bound::Unbounded,
            ))),
            None => Box::new(st.accounts.iter()),
        };
        let page: Vec<_> = iter.by_ref().take(limit).map(|(_, a)| a.clone()).collect();
        let more = iter.next().is_some();
        let cursor = if more {
            page.last().map(|a| cursor::encode(limit, &a.id))
        } else {
            None
        };
        (page.iter().map(|a| a.to_json()).collect::<Vec<_>>(), cursor)
    };
    call.done(
        Json(json!({"object": "AccountList", "items": items, "cursor": cursor})).into_response(),
    )
}

async fn get_account(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    let call = Call::new(&s, "GET", "/api/v1/accounts/{id}", &uri, None);
    if let Some(r) = call.precheck(&headers).await {
        return call.done(r);
    }
    let found = s.lock().accounts.get(&id).map(|a| a.to_json());
    let resp = match found {
        Some(a) => Json(a).into_response(),
        None => not_found(),
    };
    call.done(resp)
}

async fn delete_account(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    let call = Call::new(&s, "DELETE", "/api/v1/accounts/{id}", &uri, None);
    if let Some(r) = call.precheck(&headers).await {
        return call.done(r);
    }
    let removed = s.lock().accounts.remove(&id);
    let resp = match removed {
        Some(a) => {
            deliver::account_status(&s, &a.id, &a.kind, "DELETED").await;
            Json(json!({"object": "AccountDeleted"})).into_response()
        }
        None => not_found(),
    };
    call.done(resp)
}

/// `expiresOn` must match `^[1-2]\d{3}-[0-1]\d-[0-3]\dT\d{2}:\d{2}:\d{2}.\d{3}Z$`.
fn valid_unipile_datetime(s: &str) -> bool {
    s.len() == 24
        && s.ends_with('Z')
        && chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.3fZ").is_ok()
        && s.as_bytes()[19] == b'.'
}

#[allow(clippy::result_large_err)]
fn validate_link(body: &Value, s: &Shared) -> Result<(), Response> {
    let bad = |detail: &str| {
        Err(error(
            400,
            "errors/invalid_parameters",
            "Invalid parameters",
            Some(detail),
        ))
    };
    let missing = |detail: &str| {
        Err(error(
            400,
            "errors/missing_parameters",
            "Missing parameters",
            Some(detail),
        ))
    };
    let str_field = |k: &str| body.get(k).and_then(Value::as_str);
    match str_field("type") {
        Some("create") => {
            let ok = match body.get("providers") {
                Some(Value::String(p)) => p.starts_with('*'),
                Some(Value::Array(a)) => !a.is_empty() && a.iter().all(Value::is_string),
                _ => false,
            };
            if !ok {
                return missing("providers is required for a create link");
            }
        }
        Some("reconnect") => match str_field("reconnect_account") {
            Some(id) if !id.is_empty() => {
                if !s.lock().accounts.contains_key(id) {
                    return Err(not_found());
                }
            }
            _ => return missing("reconnect_account is required for a reconnect link"),
        },
        Some(_) => return bad("type must be create or reconnect"),
        None => return missing("type is required"),
    }
    if str_field("api_url").is_none_or(str::is_empty) {
        return missing("api_url is required");
    }
    match str_field("expiresOn") {
        Some(e) if valid_unipile_datetime(e) => {}
        Some(_) => return bad("expiresOn must be YYYY-MM-DDTHH:MM:SS.sssZ"),
        None => return missing("expiresOn is required"),
    }
    for k in [
        "name",
        "notify_url",
        "success_redirect_url",
        "failure_redirect_url",
    ] {
        if body.get(k).is_some_and(|v| !v.is_string()) {
            return bad(&format!("{k} must be a string"));
        }
    }
    Ok(())
}

async fn create_link(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let parsed = parse_body(&body);
    let call = Call::new(
        &s,
        "POST",
        "/api/v1/hosted/accounts/link",
        &uri,
        parsed.as_ref().ok().cloned(),
    );
    if let Some(r) = call.precheck(&headers).await {
        return call.done(r);
    }
    let body = match parsed {
        Ok(b) => b,
        Err(r) => return call.done(r),
    };
    if let Err(r) = validate_link(&body, &s) {
        return call.done(r);
    }
    let id = new_id();
    let url = format!(
        "{}/hosted/{id}",
        s.config.public_base_url.trim_end_matches('/')
    );
    s.lock().links.insert(
        id.clone(),
        SimLink {
            id,
            url: url.clone(),
            request: body,
            created_at: Utc::now(),
            completed: false,
        },
    );
    call.done(Json(json!({"object": "HostedAuthUrl", "url": url})).into_response())
}

async fn list_webhooks(State(s): State<Arc<Shared>>, headers: HeaderMap, uri: Uri) -> Response {
    let call = Call::new(&s, "GET", "/api/v1/webhooks", &uri, None);
    if let Some(r) = call.precheck(&headers).await {
        return call.done(r);
    }
    let items: Vec<Value> = s
        .lock()
        .webhooks
        .values()
        .map(|w| {
            let mut item = json!({
                "object": "Webhook", "id": w.id, "account_ids": [], "enabled": true,
                "request_url": w.request_url, "format": w.format,
                "headers": w.headers.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>(),
                "data": [], "type": "AUTO"
            });
            // Optional fields are absent rather than null, as in the published schema.
            if let Some(name) = &w.name {
                item["name"] = name.clone().into();
            }
            if let Some(events) = &w.events {
                item["events"] = events.clone().into();
            }
            item
        })
        .collect();
    call.done(
        Json(json!({"object": "WebhookList", "items": items, "cursor": null})).into_response(),
    )
}

async fn create_webhook(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let parsed = parse_body(&body);
    let call = Call::new(
        &s,
        "POST",
        "/api/v1/webhooks",
        &uri,
        parsed.as_ref().ok().cloned(),
    );
    if let Some(r) = call.precheck(&headers).await {
        return call.done(r);
    }
    let body = match parsed {
        Ok(b) => b,
        Err(r) => return call.done(r),
    };
    let Some(request_url) = body.get("request_url").and_then(Value::as_str) else {
        return call.done(error(
            400,
            "errors/missing_parameters",
            "Missing parameters",
            Some("request_url"),
        ));
    };
    if body.get("source").and_then(Value::as_str).is_none() {
        return call.done(error(
            400,
            "errors/missing_parameters",
            "Missing parameters",
            Some("source"),
        ));
    }
    let headers_list = body
        .get("headers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|h| {
                    Some((
                        h.get("key")?.as_str()?.to_string(),
                        h.get("value")?.as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let events = body.get("events").and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(|e| e.as_str().map(String::from))
            .collect()
    });
    let id = new_id();
    s.lock().webhooks.insert(
        id.clone(),
        SimWebhook {
            id: id.clone(),
            request_url: request_url.into(),
            name: body.get("name").and_then(Value::as_str).map(String::from),
            format: body
                .get("format")
                .and_then(Value::as_str)
                .unwrap_or("json")
                .into(),
            events,
            headers: headers_list,
        },
    );
    call.done(
        (
            StatusCode::CREATED,
            Json(json!({"object": "WebhookCreated", "webhook_id": id})),
        )
            .into_response(),
    )
}

async fn delete_webhook(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    let call = Call::new(&s, "DELETE", "/api/v1/webhooks/{id}", &uri, None);
    if let Some(r) = call.precheck(&headers).await {
        return call.done(r);
    }
    let removed = s.lock().webhooks.remove(&id);
    let resp = match removed {
        Some(_) => Json(json!({"object": "WebhookDeleted"})).into_response(),
        None => error(
            404,
            "errors/resource_not_found",
            "Resource not found.",
            None,
        ),
    };
    call.done(resp)
}
