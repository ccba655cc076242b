//! A typed reqwest client for the part of Unipile's REST API v1 that relink uses
//! (`../shared/unipile-api.md`): accounts (list every page, get, delete), hosted-auth
//! links, and the account-status webhook registration. Authenticates with `X-API-KEY`.

mod types;

pub use types::*;

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::{Serialize, de::DeserializeOwned};
use std::time::Duration;
use url::Url;

/// The largest page Unipile serves (unipile-api.md §3: `limit` 1–250).
pub const MAX_PAGE_SIZE: u32 = 250;

/// The most pages one listing follows before it is an [`UnipileError::EndlessListing`]
/// (25 million accounts at 250 a page: far past any real fleet).
pub const MAX_PAGES: usize = 100_000;

/// Errors of a Unipile call. Each variant says what the caller should do.
#[derive(Debug, thiserror::Error)]
pub enum UnipileError {
    /// 401 on an account route: our own API key is wrong or missing. Flip nothing, alert.
    #[error("unipile rejected our API key (401): {body}")]
    Unauthorized {
        /// Response body.
        body: String,
    },
    /// 401 whose error type describes one account's state, not our key
    /// (unipile-api.md §6.3: `errors/disconnected_account`, `errors/invalid_credentials`,
    /// `errors/expired_credentials`, `errors/invalid_credentials_but_valid_account_imap`):
    /// that account needs a fresh login. See [`account_state_401`].
    #[error("unipile says the account needs a fresh login (401 {error_type})")]
    AccountNeedsLogin {
        /// The error `type`, e.g. `errors/disconnected_account`.
        error_type: String,
    },
    /// 404: the resource does not exist (for accounts: "account gone", unipile-api.md §6.2).
    #[error("unipile resource not found (404)")]
    NotFound,
    /// 429: slow down and retry later.
    #[error("unipile rate limited the request (429)")]
    RateLimited,
    /// 5xx: a Unipile-side problem; retry later.
    #[error("unipile server error ({status}): {body}")]
    Server {
        /// HTTP status.
        status: u16,
        /// Response body.
        body: String,
    },
    /// Another 4xx (400, 403, 409...): our request is wrong; retrying will not help.
    #[error("unipile refused the request ({status}): {body}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// Response body.
        body: String,
    },
    /// No answer within the client's timeout; retry later.
    #[error("unipile did not answer in time")]
    Timeout,
    /// Connection-level failure (refused, reset, DNS); retry later.
    #[error("could not reach unipile: {0}")]
    Transport(String),
    /// A 2xx whose body is not the documented shape; alert (an API change?), retry later.
    #[error("undecodable unipile response: {0}")]
    Decode(String),
    /// A listing that would never end: a page answered a cursor this listing had already
    /// followed, or the listing ran past [`MAX_PAGES`] pages. Following it again would
    /// loop forever, so the listing fails whole; do not retry, alert.
    #[error("unipile listing does not end: {0}")]
    EndlessListing(String),
}

impl UnipileError {
    /// The same error with any response body Unipile sent dropped (for a call whose
    /// request carried a credential an error body might echo).
    pub fn without_body(self) -> Self {
        const WITHHELD: &str = "(body withheld)";
        match self {
            UnipileError::Unauthorized { .. } => UnipileError::Unauthorized {
                body: WITHHELD.into(),
            },
            UnipileError::Server { status, .. } => UnipileError::Server {
                status,
                body: WITHHELD.into(),
            },
            UnipileError::Rejected { status, .. } => UnipileError::Rejected {
                status,
                body: WITHHELD.into(),
            },
            other => other,
        }
    }

    /// True when the same call may succeed later (429, 5xx, timeouts, transport, decode).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            UnipileError::RateLimited
                | UnipileError::Server { .. }
                | UnipileError::Timeout
                | UnipileError::Transport(_)
                | UnipileError::Decode(_)
        )
    }
}

/// The error `type` of a 401 body when it describes one account's state rather than
/// our API key (the rule is `relink_domain::truth::is_account_state_error`, unipile-api.md
/// §6.3). `None` for every other body, undecodable ones included: a 401 we cannot read
/// is treated as our key's, which flips nothing.
pub fn account_state_401(body: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        #[serde(rename = "type")]
        error_type: String,
    }
    let t = serde_json::from_str::<ErrorBody>(body).ok()?.error_type;
    relink_domain::truth::is_account_state_error(&t).then_some(t)
}

/// The Unipile API key (a [`SecretString`]: `Debug` prints it redacted).
#[derive(Clone, Debug)]
pub struct ApiKey(SecretString);

impl ApiKey {
    /// Wraps a key. Errors when it is empty.
    pub fn new(key: impl Into<String>) -> Result<Self, &'static str> {
        let key = key.into();
        if key.trim().is_empty() {
            Err("API key is empty")
        } else {
            Ok(ApiKey(SecretString::from(key)))
        }
    }
}

/// Formats a time as Unipile's datetime: `YYYY-MM-DDTHH:MM:SS.sssZ`, exactly three
/// fractional digits and `Z` (unipile-api.md §1, used for `expiresOn`).
pub fn unipile_datetime(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Client for one Unipile DSN (base URL such as `https://api8.unipile.com:13851`).
#[derive(Clone, Debug)]
pub struct UnipileClient {
    http: reqwest::Client,
    base: Url,
    api_key: ApiKey,
    pacer: std::sync::Arc<Pacer>,
}

/// The default pace of a process's GETs to Unipile (requests per second); see
/// [`UnipileClient::with_get_pace`].
pub const DEFAULT_GETS_PER_SEC: u32 = 20;

/// The first cooldown after a 429 (doubled by each further 429, up to
/// [`MAX_COOLDOWN`], reset by an answer that is not a 429).
pub const FIRST_COOLDOWN: Duration = Duration::from_secs(1);
/// The longest cooldown after repeated 429s.
pub const MAX_COOLDOWN: Duration = Duration::from_secs(60);

/// Paces one process's GETs to Unipile: at most a configured number per second (a
/// token bucket without burst, `governor`), and none at all during a cooldown after a
/// 429, so that a webhook storm (thousands of accounts losing their session at once)
/// turns into a steady stream of reads instead of a rate-limit storm. Retrying the
/// refused call stays the caller's (Temporal's retry policy); this only spaces calls.
struct Pacer {
    limiter: governor::DefaultDirectRateLimiter,
    per_second: u32,
    /// Until when GETs wait, and the cooldown the next 429 sets.
    cooldown: std::sync::Mutex<(Option<tokio::time::Instant>, Duration)>,
}

impl std::fmt::Debug for Pacer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pacer")
            .field("per_second", &self.per_second)
            .finish()
    }
}

impl Pacer {
    fn new(per_second: u32) -> Self {
        let rate =
            std::num::NonZeroU32::new(per_second.max(1)).unwrap_or(std::num::NonZeroU32::MIN);
        Self {
            limiter: governor::RateLimiter::direct(
                governor::Quota::per_second(rate).allow_burst(std::num::NonZeroU32::MIN),
            ),
            per_second: rate.get(),
            cooldown: std::sync::Mutex::new((None, FIRST_COOLDOWN)),
        }
    }

    /// Waits for the pace, and for the cooldown if one is on (also one that began
    /// while this call waited for the pace).
    async fn ready(&self) {
        loop {
            self.limiter.until_ready().await;
            let until = self.cooldown.lock().map(|c| c.0).unwrap_or(None);
            match until {
                Some(t) if t > tokio::time::Instant::now() => tokio::time::sleep_until(t).await,
                _ => return,
            }
        }
    }

    /// A 429: no GET for the current cooldown, and the next one is twice as long.
    fn rate_limited(&self) {
        if let Ok(mut c) = self.cooldown.lock() {
            let wait = c.1;
            c.0 = Some(tokio::time::Instant::now() + wait);
            c.1 = (wait * 2).min(MAX_COOLDOWN);
            tracing::warn!(
                cooldown_ms = wait.as_millis() as u64,
                "Unipile answered 429; GETs pause"
            );
        }
    }

    /// An answer that is not a 429: the next 429 starts from the first cooldown again.
    fn answered(&self) {
        if let Ok(mut c) = self.cooldown.lock() {
            c.1 = FIRST_COOLDOWN;
        }
    }
}

impl UnipileClient {
    /// Builds a client for `dsn` with a whole-request `timeout`.
    ///
    /// Errors: [`UnipileError::Transport`] when the HTTP client cannot be built.
    pub fn new(dsn: Url, api_key: ApiKey, timeout: Duration) -> Result<Self, UnipileError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .build()
            .map_err(|e| UnipileError::Transport(e.to_string()))?;
        Ok(Self {
            http,
            base: dsn,
            api_key,
            pacer: std::sync::Arc::new(Pacer::new(DEFAULT_GETS_PER_SEC)),
        })
    }

    /// The same client with its GETs paced at `per_second` (at least 1) per process,
    /// without burst, and paused after a 429: [`FIRST_COOLDOWN`], doubling with each
    /// further 429 up to [`MAX_COOLDOWN`]. Every clone shares the pace. Other methods
    /// (the click's hosted-link request, the Safe delete) are not paced.
    pub fn with_get_pace(mut self, per_second: u32) -> Self {
        self.pacer = std::sync::Arc::new(Pacer::new(per_second));
        self
    }

    /// The DSN (the `api_url` that hosted-auth link requests carry).
    pub fn dsn(&self) -> &Url {
        &self.base
    }

    fn url(&self, path: &str) -> Url {
        let mut url = self.base.clone();
        let base_path = url.path().trim_end_matches('/').to_string();
        url.set_path(&format!("{base_path}/api/v1/{path}"));
        url
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<T, UnipileError> {
        let method_name = method.to_string();
        let route_url = url.clone();
        let mut req = self
            .http
            .request(method, url)
            .header("X-API-KEY", self.api_key.0.expose_secret())
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(body) = body {
            req = req.json(body);
        }
        let route = route_label(&method_name, &route_url);
        let paced = method_name == "GET";
        if paced {
            self.pacer.ready().await;
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                let outcome = if e.is_timeout() {
                    "timeout"
                } else {
                    "unreachable"
                };
                metrics::counter!(relink_domain::metrics::UNIPILE_REQUESTS, "route" => route, "outcome" => outcome)
                    .increment(1);
                return Err(classify_transport(e));
            }
        };
        let status = resp.status();
        if paced {
            if status == StatusCode::TOO_MANY_REQUESTS {
                self.pacer.rate_limited();
            } else {
                self.pacer.answered();
            }
        }
        metrics::counter!(relink_domain::metrics::UNIPILE_REQUESTS, "route" => route, "outcome" => status.as_u16().to_string())
            .increment(1);
        let bytes = resp.bytes().await.map_err(classify_transport)?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| UnipileError::Decode(e.to_string()));
        }
        let body = String::from_utf8_lossy(&bytes)
            .chars()
            .take(2000)
            .collect::<String>();
        Err(match status {
            StatusCode::UNAUTHORIZED => match account_state_401(&body) {
                Some(error_type) => UnipileError::AccountNeedsLogin { error_type },
                None => UnipileError::Unauthorized { body },
            },
            StatusCode::NOT_FOUND => UnipileError::NotFound,
            StatusCode::TOO_MANY_REQUESTS => UnipileError::RateLimited,
            s if s.is_server_error() => UnipileError::Server {
                status: s.as_u16(),
                body,
            },
            s => UnipileError::Rejected {
                status: s.as_u16(),
                body,
            },
        })
    }

    /// Every account, following the cursor until it is null (pages of 250). Complete or
    /// an error: a failure on any page fails the whole listing, never a partial list.
    pub async fn list_all_accounts(&self) -> Result<Vec<Account>, UnipileError> {
        self.list_all::<Account>().await
    }

    /// Every item of `GET /api/v1/accounts` decoded as `T`, following the cursor until
    /// it is null (pages of 250); any page's failure fails the whole listing.
    async fn list_all<T: DeserializeOwned>(&self) -> Result<Vec<T>, UnipileError> {
        self.follow_pages("accounts", MAX_PAGE_SIZE, |page: Page<T>| {
            (page.items, page.cursor)
        })
        .await
    }

    /// Pages through `GET /api/v1/{path}?limit=` until the cursor is null or empty,
    /// collecting every item ([`Pages`] has the rules).
    async fn follow_pages<P: DeserializeOwned, T>(
        &self,
        path: &'static str,
        limit: u32,
        split: fn(P) -> (Vec<T>, Option<String>),
    ) -> Result<Vec<T>, UnipileError> {
        let mut pages = Pages::new(self, path, limit, split);
        let mut all = Vec::new();
        while let Some(items) = pages.next_page().await? {
            all.extend(items);
        }
        Ok(all)
    }

    /// `GET /api/v1/accounts` one page (250 accounts) at a time, for a pass over a fleet
    /// that must not hold it: the caller reads [`Pages::next_page`] until `None`. A
    /// listing is complete only when that `None` came; any error leaves it incomplete.
    pub fn account_pages(&self) -> Pages<'_, Page<Account>, Account> {
        Pages::new(self, "accounts", MAX_PAGE_SIZE, |p: Page<Account>| {
            (p.items, p.cursor)
        })
    }

    /// As [`UnipileClient::account_pages`], decoding only each account's id, provider
    /// and source statuses (the reconciler's listing).
    pub fn account_status_pages(&self) -> Pages<'_, Page<AccountStatusEntry>, AccountStatusEntry> {
        Pages::new(
            self,
            "accounts",
            MAX_PAGE_SIZE,
            |p: Page<AccountStatusEntry>| (p.items, p.cursor),
        )
    }

    /// `GET /api/v1/accounts/{id}`. Errors: [`UnipileError::NotFound`] when the account
    /// does not exist.
    pub async fn get_account(&self, id: &str) -> Result<Account, UnipileError> {
        let url = self.url(&format!("accounts/{}", encode_segment(id)));
        self.call(Method::GET, url, None::<&()>).await
    }

    /// `DELETE /api/v1/accounts/{id}` → `{"object":"AccountDeleted"}`.
    /// Errors: [`UnipileError::NotFound`] when it is already gone.
    pub async fn delete_account(&self, id: &str) -> Result<(), UnipileError> {
        let url = self.url(&format!("accounts/{}", encode_segment(id)));
        let _: serde_json::Value = self.call(Method::DELETE, url, None::<&()>).await?;
        Ok(())
    }

    /// `POST /api/v1/hosted/accounts/link`: returns the wizard url (unipile-api.md §8).
    pub async fn create_hosted_link(
        &self,
        req: &HostedLinkRequest,
    ) -> Result<String, UnipileError> {
        let resp: HostedAuthUrl = self
            .call(Method::POST, self.url("hosted/accounts/link"), Some(req))
            .await?;
        Ok(resp.url)
    }

    /// Every registered webhook (all pages, with the same guard against a repeating
    /// cursor as the account listing).
    pub async fn list_webhooks(&self) -> Result<Vec<Webhook>, UnipileError> {
        self.follow_pages("webhooks", 100, |page: WebhookList| {
            (page.items, page.cursor)
        })
        .await
    }

    /// `POST /api/v1/webhooks`; returns the new webhook id.
    pub async fn create_webhook(&self, req: &WebhookRequest) -> Result<String, UnipileError> {
        let resp: WebhookCreated = self
            .call(Method::POST, self.url("webhooks"), Some(req))
            .await?;
        Ok(resp.webhook_id)
    }

    /// Registers the account-status webhook for `request_url` with the `Unipile-Auth`
    /// header carrying `secret`, unless a webhook for that `request_url` already exists
    /// (listed webhooks carry no `source`, so matching is on `request_url`,
    /// unipile-api.md §10.1). Subscribes to `ok` and `stopped` too, which are not in
    /// Unipile's default set. Returns the webhook id and whether it was created now.
    pub async fn ensure_account_status_webhook(
        &self,
        request_url: &str,
        secret: &str,
    ) -> Result<(String, bool), UnipileError> {
        if let Some(w) = self
            .list_webhooks()
            .await?
            .into_iter()
            .find(|w| w.request_url == request_url)
        {
            return Ok((w.id, false));
        }
        let id = self
            .create_webhook(&WebhookRequest::account_status(request_url, secret))
            .await?;
        Ok((id, true))
    }
}

fn encode_segment(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn classify_transport(e: reqwest::Error) -> UnipileError {
    if e.is_timeout() {
        UnipileError::Timeout
    } else if e.is_decode() {
        UnipileError::Decode(e.to_string())
    } else {
        UnipileError::Transport(e.to_string())
    }
}

/// A paged listing read one page at a time (`GET /api/v1/{path}?limit=&cursor=`),
/// following the cursor until it is null or empty. The cursor is opaque: sent back
/// exactly as received, query-encoded (Unipile's are base64, whose `+`, `/` and `=`
/// must not reach the server raw). A cursor seen before in this listing, or more than
/// [`MAX_PAGES`] pages, is an [`UnipileError::EndlessListing`] rather than a loop. Holds
/// one page and the cursors seen (O(pages)), never the items of earlier pages.
pub struct Pages<'a, P, T> {
    client: &'a UnipileClient,
    path: &'static str,
    limit: u32,
    split: fn(P) -> (Vec<T>, Option<String>),
    cursor: Option<String>,
    seen: std::collections::HashSet<String>,
    pages: usize,
    done: bool,
}

impl<'a, P: DeserializeOwned, T> Pages<'a, P, T> {
    fn new(
        client: &'a UnipileClient,
        path: &'static str,
        limit: u32,
        split: fn(P) -> (Vec<T>, Option<String>),
    ) -> Self {
        Self {
            client,
            path,
            limit,
            split,
            cursor: None,
            seen: Default::default(),
            pages: 0,
            done: false,
        }
    }

    /// The next page's items; `None` once the last page has been returned. Errors: the
    /// page's [`UnipileError`] (the listing is then incomplete; calling again retries
    /// the same page), or [`UnipileError::EndlessListing`].
    pub async fn next_page(&mut self) -> Result<Option<Vec<T>>, UnipileError> {
        if self.done {
            return Ok(None);
        }
        if self.pages >= MAX_PAGES {
            return Err(UnipileError::EndlessListing(format!(
                "GET /api/v1/{} still had a next cursor after {MAX_PAGES} pages",
                self.path
            )));
        }
        let mut url = self.client.url(self.path);
        url.query_pairs_mut()
            .append_pair("limit", &self.limit.to_string());
        if let Some(c) = &self.cursor {
            url.query_pairs_mut().append_pair("cursor", c);
        }
        let (items, next) = (self.split)(self.client.call(Method::GET, url, None::<&()>).await?);
        self.pages += 1;
        match next {
            Some(c) if !c.is_empty() => {
                if !self.seen.insert(c.clone()) {
                    return Err(UnipileError::EndlessListing(format!(
                        "GET /api/v1/{} answered cursor {c:?} a second time, after {} pages",
                        self.path, self.pages
                    )));
                }
                self.cursor = Some(c);
            }
            _ => self.done = true,
        }
        Ok(Some(items))
    }
}

#[cfg(test)]
mod tests;

/// `METHOD /path` of a Unipile request with ids replaced by `{id}`: the `route` label of
/// `relink_unipile_requests_total`.
fn route_label(method: &str, url: &Url) -> String {
    const WORDS: &[&str] = &[
        "api", "v1", "accounts", "hosted", "link", "webhooks", "users", "me",
    ];
    let path: Vec<&str> = url
        .path_segments()
        .map(|s| {
            s.filter(|p| !p.is_empty())
                .map(|p| if WORDS.contains(&p) { p } else { "{id}" })
                .collect()
        })
        .unwrap_or_default();
    format!("{method} /{}", path.join("/"))
}

#[cfg(test)]
mod route_label_tests {
    use super::*;

    #[test]
    fn ids_become_placeholders() {
        let u = Url::parse("http://u.test/api/v1/accounts/AbC123").unwrap();
        assert_eq!(route_label("GET", &u), "GET /api/v1/accounts/{id}");
        let l = Url::parse("http://u.test/api/v1/hosted/accounts/link").unwrap();
        assert_eq!(route_label("POST", &l), "POST /api/v1/hosted/accounts/link");
    }
}
