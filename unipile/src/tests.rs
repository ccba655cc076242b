//! Client tests against wiremock: pagination, every error class, request shapes.

use super::*;
use chrono::TimeZone;
use relink_domain::SourceStatus;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{body_json, header, method, path, query_param, query_param_is_missing},
};

fn fixture(name: &str) -> serde_json::Value {
    let p = format!(
        "{}/../../shared/fixtures/unipile/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {p}: {e}"));
    serde_json::from_str(&text).expect("fixture is JSON")
}

fn client(server: &MockServer, timeout_ms: u64) -> UnipileClient {
    UnipileClient::new(
        server.uri().parse().unwrap(),
        ApiKey::new("test-key").unwrap(),
        Duration::from_millis(timeout_ms),
    )
    .unwrap()
}

#[tokio::test]
async fn lists_every_page_until_the_cursor_is_null() {
    let server = MockServer::start().await;
    let page1 = fixture("accounts-list-page.json");
    let cursor = page1["cursor"].as_str().unwrap().to_string();
    Mock::given(method("GET"))
        .and(path("/api/v1/accounts"))
        .and(header("X-API-KEY", "test-key"))
        .and(query_param("limit", "250"))
        .and(query_param_is_missing("cursor"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&page1))
        .expect(1)
        .mount(&server)
        .await;
    let mut last = fixture("accounts-list-page.json");
    last["items"] = serde_json::json!([fixture("account-linkedin.json")]);
    last["items"][0]["id"] = "Zz9nHc8JqW1eMb4rUo6GyK".into();
    last["cursor"] = serde_json::Value::Null;
    Mock::given(method("GET"))
        .and(path("/api/v1/accounts"))
        .and(query_param("cursor", cursor.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(&last))
        .expect(1)
        .mount(&server)
        .await;
    let all = client(&server, 2000).list_all_accounts().await.unwrap();
    let ids: Vec<_> = all.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "Qk3vT9xLp2RaN7uYc1WdZe",
            "Wd8kQm2ZrT5vLx0pNa3hYc",
            "Zz9nHc8JqW1eMb4rUo6GyK"
        ]
    );
    assert_eq!(all[1].source_status(), Some(SourceStatus::Credentials));
    assert_eq!(
        all[0].linkedin_member_id(),
        Some("ACoAAFakeMemberIdAlex0000000000000000001")
    );
}

#[tokio::test]
async fn a_base64_cursor_goes_back_exactly_as_it_came() {
    let server = MockServer::start().await;
    // '+', '/' and '=' would arrive as ' ', a path separator and a pair separator if
    // the cursor were pasted into the query unencoded.
    let cursor = "eyJsaW1pdCI6MjUwfQ+/ab==";
    let mut page1 = fixture("accounts-list-page.json");
    page1["cursor"] = cursor.into();
    Mock::given(method("GET"))
        .and(path("/api/v1/accounts"))
        .and(query_param_is_missing("cursor"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&page1))
        .expect(1)
        .mount(&server)
        .await;
    let mut last = fixture("accounts-list-page.json");
    last["items"] = serde_json::json!([]);
    last["cursor"] = serde_json::Value::Null;
    Mock::given(method("GET"))
        .and(path("/api/v1/accounts"))
        .and(query_param("cursor", cursor))
        .respond_with(ResponseTemplate::new(200).set_body_json(&last))
        .expect(1)
        .mount(&server)
        .await;
    let all = client(&server, 2000).list_all_accounts().await.unwrap();
    assert_eq!(all.len(), 2);
}

#[tokio::test]
async fn a_repeating_cursor_fails_the_listing_instead_of_looping() {
    let server = MockServer::start().await;
    let page1 = fixture("accounts-list-page.json");
    let cursor = page1["cursor"].as_str().unwrap().to_string();
    Mock::given(method("GET"))
        .and(path("/api/v1/accounts"))
        .and(query_param_is_missing("cursor"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&page1))
        .expect(1)
        .mount(&server)
        .await;
    // Page 2 answers page 1's cursor again: following it would never end.
    let mut page2 = fixture("accounts-list-page.json");
    page2["items"] = serde_json::json!([fixture("account-linkedin.json")]);
    page2["items"][0]["id"] = "Zz9nHc8JqW1eMb4rUo6GyK".into();
    Mock::given(method("GET"))
        .and(path("/api/v1/accounts"))
        .and(query_param("cursor", cursor.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(&page2))
        .expect(1)
        .mount(&server)
        .await;
    let listing = tokio::time::timeout(
        Duration::from_secs(10),
        client(&server, 2000).list_all_accounts(),
    )
    .await
    .expect("the listing ends instead of following the cursor forever");
    let err = listing.unwrap_err();
    assert!(matches!(err, UnipileError::EndlessListing(_)), "{err:?}");
    assert!(!err.is_transient(), "retrying the same listing loops again");
    assert!(err.to_string().contains(&cursor), "{err}");
}

#[tokio::test]
async fn a_repeating_webhook_cursor_fails_too() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/webhooks"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "object": "WebhookList", "cursor": "c2FtZQ==", "items": []
        })))
        .expect(2)
        .mount(&server)
        .await;
    let err = tokio::time::timeout(
        Duration::from_secs(10),
        client(&server, 2000).list_webhooks(),
    )
    .await
    .expect("the listing ends")
    .unwrap_err();
    assert!(matches!(err, UnipileError::EndlessListing(_)), "{err:?}");
}

#[tokio::test]
async fn other_providers_in_the_listing_do_not_break_decoding() {
    let server = MockServer::start().await;
    let mut page = fixture("accounts-list-page.json");
    page["cursor"] = serde_json::Value::Null;
    page["items"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "object": "Account", "type": "MOBILE", "id": "Mb1lE0000000000000000a", "name": "Phone",
            "created_at": "2025-01-01T00:00:00.000Z",
            "connection_params": {"im": {"phone_number": "+33600000000", "sim_serial_number": "1"}},
            "sources": [{"id": "Mb1lE0000000000000000a_MESSAGING", "status": "OK"}], "groups": []
        }));
    Mock::given(method("GET"))
        .and(path("/api/v1/accounts"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&page))
        .mount(&server)
        .await;
    let all = client(&server, 2000).list_all_accounts().await.unwrap();
    assert_eq!(all.len(), 3);
    assert!(!all[2].is_linkedin());
    assert_eq!(all[2].linkedin_member_id(), None);
}

#[tokio::test]
async fn a_failing_second_page_fails_the_whole_listing() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/accounts"))
        .and(query_param_is_missing("cursor"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("accounts-list-page.json")))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/accounts"))
        .and(query_param("limit", "250"))
        .respond_with(ResponseTemplate::new(503).set_body_json(serde_json::json!(
            {"status":503,"type":"errors/service_unavailable","title":"Service unavailable"})))
        .mount(&server)
        .await;
    let err = client(&server, 2000).list_all_accounts().await.unwrap_err();
    assert!(
        matches!(err, UnipileError::Server { status: 503, .. }),
        "{err:?}"
    );
    assert!(err.is_transient());
}

#[tokio::test]
async fn get_account_maps_each_status_to_its_error() {
    let server = MockServer::start().await;
    let cases = [
        ("gone", 404, fixture("error-404-account-not-found.json")),
        (
            "key",
            401,
            serde_json::json!({"status":401,"type":"errors/missing_credentials","title":"Missing credentials"}),
        ),
        (
            "busy",
            429,
            serde_json::json!({"status":429,"type":"errors/too_many_requests","title":"Too many requests"}),
        ),
        (
            "boom",
            500,
            serde_json::json!({"status":500,"type":"errors/unexpected_error","title":"Unexpected error"}),
        ),
        (
            "bad",
            400,
            serde_json::json!({"status":400,"type":"errors/invalid_parameters","title":"Invalid parameters"}),
        ),
    ];
    for (id, status, body) in &cases {
        Mock::given(method("GET"))
            .and(path(format!("/api/v1/accounts/{id}")))
            .respond_with(ResponseTemplate::new(*status).set_body_json(body))
            .mount(&server)
            .await;
    }
    let c = client(&server, 2000);
    assert!(matches!(
        c.get_account("gone").await,
        Err(UnipileError::NotFound)
    ));
    assert!(matches!(
        c.get_account("key").await,
        Err(UnipileError::Unauthorized { .. })
    ));
    assert!(matches!(
        c.get_account("busy").await,
        Err(UnipileError::RateLimited)
    ));
    assert!(matches!(
        c.get_account("boom").await,
        Err(UnipileError::Server { status: 500, .. })
    ));
    let bad = c.get_account("bad").await.unwrap_err();
    assert!(matches!(bad, UnipileError::Rejected { status: 400, .. }));
    assert!(!bad.is_transient());
}

#[tokio::test]
async fn slow_answers_time_out_and_garbage_does_not_decode() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/accounts/slow"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(fixture("account-linkedin.json"))
                .set_delay(Duration::from_millis(800)),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/accounts/garbage"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>maintenance</html>"))
        .mount(&server)
        .await;
    let c = client(&server, 200);
    assert!(matches!(
        c.get_account("slow").await,
        Err(UnipileError::Timeout)
    ));
    assert!(matches!(
        c.get_account("garbage").await,
        Err(UnipileError::Decode(_))
    ));
}

#[tokio::test]
async fn hosted_link_request_matches_the_documented_reconnect_shape() {
    let server = MockServer::start().await;
    let expected = fixture("hosted-link-request-reconnect.json");
    Mock::given(method("POST"))
        .and(path("/api/v1/hosted/accounts/link"))
        .and(body_json(&expected))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(fixture("hosted-link-response.json")),
        )
        .expect(1)
        .mount(&server)
        .await;
    let expires = Utc.with_ymd_and_hms(2025, 6, 2, 11, 30, 0).unwrap();
    let req = HostedLinkRequest {
        kind: "reconnect".into(),
        providers: None,
        reconnect_account: Some("Wd8kQm2ZrT5vLx0pNa3hYc".into()),
        api_url: "https://api99.unipile.com:19999".into(),
        expires_on: unipile_datetime(expires),
        name: Some("seat_2b91d4c0".into()),
        notify_url: Some("https://lifecycle.example.test/hooks/unipile/notify?token=7b1f0c".into()),
        success_redirect_url: Some("https://app.example.test/linkedin/reconnected".into()),
        failure_redirect_url: Some("https://app.example.test/linkedin/failed".into()),
    };
    let url = client(&server, 2000)
        .create_hosted_link(&req)
        .await
        .unwrap();
    assert_eq!(
        url,
        "https://account.unipile.com/ZXhhbXBsZS1ob3N0ZWQtbGluay10b2tlbi0wMDE"
    );
}

#[test]
fn expires_on_has_exactly_three_fraction_digits_and_z() {
    let at = Utc.with_ymd_and_hms(2025, 6, 2, 10, 45, 0).unwrap();
    assert_eq!(unipile_datetime(at), "2025-06-02T10:45:00.000Z");
    let at = at + chrono::Duration::nanoseconds(123_456_789);
    assert_eq!(unipile_datetime(at), "2025-06-02T10:45:00.123Z");
}

#[tokio::test]
async fn webhook_registration_is_idempotent_on_request_url() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/webhooks"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "object": "WebhookList", "cursor": null,
            "items": [{"object": "Webhook", "id": "wh_1", "request_url": "http://relink/webhooks/unipile/account-status",
                       "account_ids": [], "enabled": true, "format": "json", "headers": [], "data": [], "type": "AUTO"}]
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/webhooks"))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(
                serde_json::json!({"object": "WebhookCreated", "webhook_id": "wh_2"}),
            ),
        )
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server, 2000);
    let (id, created) = c
        .ensure_account_status_webhook("http://relink/webhooks/unipile/account-status", "s")
        .await
        .unwrap();
    assert_eq!((id.as_str(), created), ("wh_1", false));
    let (id, created) = c
        .ensure_account_status_webhook("http://other/hook", "s")
        .await
        .unwrap();
    assert_eq!((id.as_str(), created), ("wh_2", true));
}

#[test]
fn a_401_about_one_account_is_not_a_401_about_our_key() {
    let body = |t: &str| format!(r#"{{"status":401,"type":"{t}","title":"x"}}"#);
    assert_eq!(
        account_state_401(&body("errors/disconnected_account")).as_deref(),
        Some("errors/disconnected_account")
    );
    assert!(account_state_401(&body("errors/expired_credentials")).is_some());
    assert!(account_state_401(&body("errors/invalid_credentials")).is_some());
    assert_eq!(account_state_401(&body("errors/missing_credentials")), None);
    assert_eq!(account_state_401(&body("errors/multiple_sessions")), None);
    assert_eq!(account_state_401("not json"), None);
}
