//! The OpenAPI 3.1 document of the web tier's public routes (JSON API, Unipile's
//! webhooks, sign-in, health), generated from the handlers' `#[utoipa::path]`
//! annotations and the response types below, served at `GET /api/openapi.json`. The
//! dashboard's HTML pages and forms (`/`, `/ui/…`, `/accounts/{id}`) are not part of it.

use axum::Json;
use relink_domain::{AccountStatus, CampaignStatus, PauseReason};
use serde::{Deserialize, Serialize};
use utoipa::{
    Modify, OpenApi, ToSchema,
    openapi::security::{Http, HttpAuthScheme, SecurityScheme},
};
use uuid::Uuid;

/// Every error: `{error}` with a human message (500s say only "internal error").
#[derive(Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    /// What went wrong.
    pub error: String,
}

/// `GET /healthz`: the process is up.
#[derive(Serialize, ToSchema)]
pub(crate) struct Health {
    /// Always `ok`.
    pub status: String,
}

/// What a webhook did with a delivery.
#[derive(Serialize, ToSchema)]
pub(crate) struct WebhookAck {
    /// `accepted`, or `duplicate` for a hosted-auth callback already applied.
    pub result: String,
}

/// `GET /api/campaigns`.
#[derive(Serialize, ToSchema)]
pub(crate) struct CampaignList {
    /// The workspace's campaigns.
    pub campaigns: Vec<CampaignItem>,
}

/// One campaign.
#[derive(Serialize, ToSchema)]
pub(crate) struct CampaignItem {
    /// Campaign id.
    pub id: Uuid,
    /// Its LinkedIn account.
    pub account_id: Uuid,
    /// Name.
    pub name: String,
    /// Active or paused.
    pub status: CampaignStatus,
    /// Every reason that keeps it paused.
    pub pause_reasons: Vec<PauseReason>,
    /// `Paused: <reasons>` while paused.
    pub pause_hint: Option<String>,
}

/// `POST /api/campaigns/{id}/resume`.
#[derive(Serialize, ToSchema)]
pub(crate) struct ResumeAnswer {
    /// Campaign id.
    pub id: Uuid,
    /// Active or paused after the call.
    pub status: CampaignStatus,
    /// Reasons this call cleared.
    pub cleared: Vec<PauseReason>,
    /// Reasons that keep it paused (their cause persists).
    pub remaining_reasons: Vec<PauseReason>,
    /// In words.
    pub message: String,
}

/// `POST /api/accounts/{id}/send-outcomes`.
#[derive(Serialize, ToSchema)]
pub(crate) struct SendOutcomeAnswer {
    /// Always true.
    pub recorded: bool,
    /// The failure-rate window paused the campaign.
    pub campaign_paused: bool,
    /// The provider error named the account's state: relink re-reads it from Unipile.
    pub account_recheck: bool,
    /// Failures in the campaign's window (last hour, last 20 outcomes).
    pub window_failures: i64,
    /// Outcomes in the window.
    pub window_outcomes: i64,
}

/// `POST /api/accounts/{id}/send-reservations`: a slot now, or when to ask again.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // documents `relink_store::GateAnswer`'s JSON
pub(crate) enum GateAnswerDoc {
    /// Reserved.
    Reserved {
        /// `true`.
        reserved: bool,
        /// The slot (UTC).
        slot: chrono::DateTime<chrono::Utc>,
    },
    /// Deferred.
    Deferred {
        /// `false`.
        reserved: bool,
        /// When to ask again (UTC).
        retry_at: chrono::DateTime<chrono::Utc>,
        /// `account_not_connected`, `campaign_paused`, `outside_sending_window`,
        /// `daily_cap`, `weekly_cap`, `ramp`, `deferred_internal`.
        reason: String,
    },
}

/// The body of `POST /api/accounts/{id}/send-reservations` (no other field).
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)] // parsed by `relink_domain::inbound::parse_send_reservation`
pub(crate) struct SendReservationBody {
    /// `invite`, `message`, `inmail` or `profile_view`.
    pub action: String,
    /// The campaign the action is for.
    pub campaign_id: Option<Uuid>,
}

/// The body of `POST /api/accounts/{id}/send-outcomes` (no other field).
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)] // parsed by `relink_domain::inbound::parse_send_outcome`
pub(crate) struct SendOutcomeBody {
    /// The campaign the action belonged to.
    pub campaign_id: Uuid,
    /// `invite`, `message`, `inmail` or `profile_view`.
    pub action: String,
    /// `sent` or `failed`.
    pub outcome: String,
    /// Unipile's error `type` of a failure, e.g. `errors/disconnected_account` (at
    /// most 64 bytes).
    pub provider_error: Option<String>,
}

/// Unipile's account-status webhook body (unipile-api.md §10.2).
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)] // parsed by `relink_domain::inbound`
pub(crate) struct AccountStatusWebhook {
    /// `{account_id, account_type, message}`.
    #[serde(rename = "AccountStatus")]
    pub account_status: AccountStatusFields,
}

/// The fields of [`AccountStatusWebhook`].
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct AccountStatusFields {
    /// Unipile account id.
    pub account_id: String,
    /// `LINKEDIN`.
    pub account_type: String,
    /// The source status, e.g. `CREDENTIALS`, `OK`.
    pub message: String,
}

/// Unipile's hosted-auth notify callback body (unipile-api.md §8).
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)] // parsed by `relink_domain::inbound::parse_hosted_auth_notify`
pub(crate) struct HostedAuthNotify {
    /// `CREATION_SUCCESS` or `RECONNECTED`.
    pub status: String,
    /// The Unipile account id.
    pub account_id: String,
    /// The link's `name` (relink's link token).
    pub name: String,
}

/// The sign-in form (`application/x-www-form-urlencoded`).
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct SigninForm {
    /// The workspace API token.
    pub token: String,
    /// Open this account's card after signing in.
    pub account: Option<Uuid>,
}

/// Adds the bearer scheme the JSON API uses.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "workspace_token",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(title = "relink", description = "Keeps an outreach platform's LinkedIn accounts linked."),
    paths(
        crate::observability::healthz,
        crate::observability::readyz,
        crate::observability::metrics,
        crate::accounts::list_accounts,
        crate::accounts::reconnect,
        crate::sending::send_reservation,
        crate::sending::send_outcome,
        crate::campaigns::list_campaigns,
        crate::campaigns::resume_campaign,
        crate::webhooks::account_status,
        crate::webhooks::hosted_auth_callback,
        crate::session::signin_form,
        crate::session::signin,
        openapi_json,
    ),
    components(schemas(AccountStatus)),
    modifiers(&BearerAuth)
)]
pub(crate) struct ApiDoc;

/// `GET /api/openapi.json`: this document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")))]
pub(crate) async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
