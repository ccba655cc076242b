//! Bad input gets a clear 4xx JSON error and changes nothing.

use relink_domain::AccountStatus;
use relink_tests::{AppOptions, spawn_app};
use serde_json::Value;

#[tokio::test]
async fn bad_requests_are_refused_and_change_nothing() {
    let app = spawn_app(AppOptions::default()).await;
    let s = app
        .seed_account(AccountStatus::ReconnectNeeded, "CREDENTIALS")
        .await;
    let other = app
        .seed_account(AccountStatus::ReconnectNeeded, "CREDENTIALS")
        .await;

    // Missing and wrong bearer tokens.
    let r = app
        .http
        .get(format!("{}/api/accounts", app.web_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.json::<Value>().await.unwrap()["error"].is_string());
    let r = app
        .http
        .get(format!("{}/api/accounts", app.web_url))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Unknown ids, malformed ids and another workspace's account all answer 404.
    assert_eq!(app.click_reconnect(&s.token, "not-a-uuid").await.0, 404);
    assert_eq!(
        app.click_reconnect(&s.token, &uuid::Uuid::new_v4().to_string())
            .await
            .0,
        404
    );
    assert_eq!(
        app.click_reconnect(&s.token, &other.account.to_string())
            .await
            .0,
        404
    );
    assert_eq!(
        app.account(other.account).await.status,
        AccountStatus::ReconnectNeeded
    );

    // Callbacks: malformed JSON, wrong shape and oversize bodies.
    let url = format!(
        "{}/webhooks/unipile/hosted-auth/{}",
        app.web_url,
        "a".repeat(64)
    );
    let r = app.http.post(&url).body("{not json").send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(
        r.json::<Value>().await.unwrap()["error"]
            .as_str()
            .unwrap()
            .contains("malformed")
    );
    let r = app
        .http
        .post(&url)
        .body(r#"{"status":"NOPE","account_id":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = app
        .http
        .post(&url)
        .body(vec![b' '; 64 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);

    // A connected account refuses a reconnect.
    let connected = app.seed_account(AccountStatus::Connected, "OK").await;
    assert_eq!(
        app.click_reconnect(&connected.token, &connected.account.to_string())
            .await
            .0,
        409
    );

    assert_eq!(
        app.sim_count("POST /api/v1/hosted/accounts/link").await,
        0,
        "nothing reached Unipile"
    );
    assert_eq!(
        app.account(s.account).await.status,
        AccountStatus::ReconnectNeeded
    );
}
