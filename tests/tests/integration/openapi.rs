//! `GET /api/openapi.json`: an OpenAPI 3.1 document of every public route, generated
//! from the code. It validates (openapi-spec-validator, which `./dev test` installs), and
//! every documented operation is called for real here: each answer's status must be
//! documented for it and its JSON body must match the documented schema.

use relink_domain::AccountStatus;
use relink_tests::{AppOptions, TestApp, WEBHOOK_SECRET, spawn_app};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// Checks one real answer against the document: the status is documented for the
/// operation, and a JSON body validates against its schema. Returns the operation's key.
async fn check(doc: &Value, method: &str, template: &str, resp: reqwest::Response) -> String {
    let status = resp.status().as_u16().to_string();
    let op = &doc["paths"][template][method];
    assert!(op.is_object(), "{method} {template} is not documented");
    let documented = &op["responses"][&status];
    assert!(
        documented.is_object(),
        "{method} {template} answered {status}, which is not documented: {}",
        op["responses"]
    );
    let json_schema = &documented["content"]["application/json"]["schema"];
    if json_schema.is_object() {
        let body: Value = resp
            .json()
            .await
            .unwrap_or_else(|e| panic!("{method} {template} {status}: the body is not JSON: {e}"));
        let mut schema = json_schema.clone();
        if let Some(obj) = schema.as_object_mut() {
            obj.insert("components".into(), doc["components"].clone());
        }
        let validator = jsonschema::draft202012::new(&schema)
            .unwrap_or_else(|e| panic!("{method} {template}: the schema compiles: {e}"));
        let errors: Vec<String> = validator
            .iter_errors(&body)
            .map(|e| e.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "{method} {template} {status}: {body} does not match {json_schema}: {errors:?}"
        );
    }
    format!("{method} {template}")
}

async fn token_only(app: &TestApp) -> (relink_tests::Seeded, reqwest::Client) {
    let s = app
        .seed_account(AccountStatus::ReconnectNeeded, "CREDENTIALS")
        .await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    (s, http)
}

#[tokio::test]
async fn the_document_validates_and_every_documented_route_answers_as_documented() {
    let app = spawn_app(AppOptions::default()).await;
    let (s, http) = token_only(&app).await;
    let web = &app.web_url;
    let doc: Value = http
        .get(format!("{web}/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc["openapi"]
    );

    // The document itself validates.
    let file = std::env::temp_dir().join(format!("relink-openapi-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&file, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    let out = std::process::Command::new("python3")
        .args(["-m", "openapi_spec_validator", "--schema", "3.1"])
        .arg(&file)
        .output()
        .expect("python3 (./dev test installs openapi-spec-validator)");
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "openapi-spec-validator: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let bearer = |r: reqwest::RequestBuilder| r.bearer_auth(&s.token);
    let acc = s.account.to_string();
    let mut seen = BTreeSet::new();
    let mut call = async |method: &str, template: &str, req: reqwest::RequestBuilder| {
        let resp = req.send().await.unwrap();
        seen.insert(check(&doc, method, template, resp).await);
    };

    call("get", "/healthz", http.get(format!("{web}/healthz"))).await;
    call("get", "/readyz", http.get(format!("{web}/readyz"))).await;
    call("get", "/metrics", http.get(format!("{web}/metrics"))).await;
    call(
        "get",
        "/api/openapi.json",
        http.get(format!("{web}/api/openapi.json")),
    )
    .await;
    call(
        "get",
        "/api/accounts",
        bearer(http.get(format!("{web}/api/accounts"))),
    )
    .await;
    call(
        "get",
        "/api/accounts",
        http.get(format!("{web}/api/accounts")),
    )
    .await; // 401
    let reconnect = |id: &str| bearer(http.post(format!("{web}/api/accounts/{id}/reconnect")));
    call("post", "/api/accounts/{id}/reconnect", reconnect(&acc)).await;
    call(
        "post",
        "/api/accounts/{id}/reconnect",
        reconnect(&uuid::Uuid::new_v4().to_string()),
    )
    .await; // 404
    let reserve = bearer(http.post(format!("{web}/api/accounts/{acc}/send-reservations")));
    call(
        "post",
        "/api/accounts/{id}/send-reservations",
        reserve.body(json!({"action": "invite"}).to_string()),
    )
    .await;
    call(
        "post",
        "/api/accounts/{id}/send-reservations",
        bearer(http.post(format!("{web}/api/accounts/{acc}/send-reservations")))
            .body("{\"action\": \"dance\"}"),
    )
    .await; // 400
    call(
        "post",
        "/api/accounts/{id}/send-outcomes",
        bearer(http.post(format!("{web}/api/accounts/{acc}/send-outcomes"))).body(
            json!({"campaign_id": s.paused_for_disconnect, "action": "invite", "outcome": "sent"})
                .to_string(),
        ),
    )
    .await;
    call(
        "get",
        "/api/campaigns",
        bearer(http.get(format!("{web}/api/campaigns"))),
    )
    .await;
    let resume = format!("{web}/api/campaigns/{}/resume", s.paused_also_manual);
    call(
        "post",
        "/api/campaigns/{id}/resume",
        bearer(http.post(&resume)),
    )
    .await;
    let status_hook = format!("{web}/webhooks/unipile/account-status");
    let hook_body =
        relink_tests::account_status_body(s.unipile_id.as_deref().unwrap(), "CREDENTIALS");
    call(
        "post",
        "/webhooks/unipile/account-status",
        http.post(&status_hook)
            .header("Unipile-Auth", WEBHOOK_SECRET)
            .body(hook_body.clone()),
    )
    .await;
    call(
        "post",
        "/webhooks/unipile/account-status",
        http.post(&status_hook)
            .header("Unipile-Auth", "wrong")
            .body(hook_body),
    )
    .await; // 401
    call(
        "post",
        "/webhooks/unipile/hosted-auth/{token}",
        http.post(format!("{web}/webhooks/unipile/hosted-auth/not-a-link"))
            .body(
                json!({"status": "RECONNECTED", "account_id": "x", "name": "not-a-link"})
                    .to_string(),
            ),
    )
    .await; // 404
    call("get", "/signin", http.get(format!("{web}/signin"))).await;
    call(
        "post",
        "/signin",
        http.post(format!("{web}/signin"))
            .form(&[("token", s.token.as_str())]),
    )
    .await;
    call(
        "post",
        "/signin",
        http.post(format!("{web}/signin"))
            .form(&[("token", "not-a-token")]),
    )
    .await; // 401

    // Every documented operation was called.
    let documented: BTreeSet<String> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| format!("{m} {path}"))
        })
        .collect();
    assert_eq!(documented, seen, "documented operations vs. those called");
}
