//! Outgoing deliveries, as Unipile makes them: POST, JSON body, no JSON content type
//! unless a registered header adds it, and up to five retries with a doubling delay
//! while the answer is not exactly 200 (unipile-api.md §10.2).

use serde::Serialize;
use serde_json::{Value, json};
use std::time::Duration;

use crate::state::Shared;

/// How many times a delivery is retried after the first attempt.
const RETRIES: u32 = 5;

/// Outcome of one delivery's first attempt.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Delivery {
    pub url: String,
    /// HTTP status of the first attempt; `None` when it could not connect.
    pub first_status: Option<u16>,
}

/// POSTs `body` to `url` and waits for the first attempt only; when that is not a 200,
/// the retries continue in the background.
pub(crate) async fn post(
    shared: &Shared,
    url: &str,
    headers: &[(String, String)],
    body: &Value,
) -> Delivery {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let attempt = {
        let http = shared.http.clone();
        let url = url.to_string();
        let headers = headers.to_vec();
        move |bytes: Vec<u8>| {
            let mut req = http.post(&url).body(bytes);
            for (k, v) in &headers {
                req = req.header(k.as_str(), v.as_str());
            }
            async move { req.send().await.ok().map(|r| r.status().as_u16()) }
        }
    };
    let first = attempt(bytes.clone()).await;
    if first != Some(200) {
        let base = shared.config.retry_base_delay;
        tokio::spawn(async move {
            let mut delay = base;
            for _ in 0..RETRIES {
                tokio::time::sleep(delay).await;
                if attempt(bytes.clone()).await == Some(200) {
                    return;
                }
                delay = delay.saturating_mul(2).min(Duration::from_secs(600));
            }
        });
    }
    Delivery {
        url: url.into(),
        first_status: first,
    }
}

/// Sends the AccountStatus webhook (`{"AccountStatus":{account_id, account_type, message}}`)
/// to every registered webhook subscribed to `message`.
pub(crate) async fn account_status(
    shared: &Shared,
    account_id: &str,
    kind: &str,
    message: &str,
) -> Vec<Delivery> {
    let targets: Vec<_> = shared
        .lock()
        .webhooks
        .values()
        .filter(|w| w.wants(message))
        .map(|w| (w.request_url.clone(), w.headers.clone()))
        .collect();
    let body = json!({"AccountStatus": {"account_id": account_id, "account_type": kind, "message": message}});
    let mut out = Vec::new();
    for (url, headers) in targets {
        out.push(post(shared, &url, &headers, &body).await);
    }
    out
}
