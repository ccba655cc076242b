//! unipile-sim answers with the shapes of Unipile's published v1 OpenAPI document
//! (`../shared/fixtures/unipile/openapi-v1-subset.json`, read in place, never copied).

use relink_domain::AccountStatus;
use relink_tests::{AppOptions, SIM_KEY, fixture, spawn_app};
use serde_json::{Value, json};

fn schema(spec: &Value, path: &str, method: &str, status: &str) -> Value {
    spec["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
        .clone()
}

fn assert_valid(spec: &Value, path: &str, method: &str, status: &str, body: &Value) {
    let s = schema(spec, path, method, status);
    assert!(!s.is_null(), "no schema for {method} {path} {status}");
    let validator = jsonschema::validator_for(&s).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {path} {status}: {errors:?}\n{body}"
    );
}

#[tokio::test]
async fn simulator_responses_match_the_openapi_subset() {
    let app = spawn_app(AppOptions::default()).await;
    let spec = fixture("openapi-v1-subset.json");
    let s = app.seed_account(AccountStatus::Connected, "OK").await;
    for i in 0..3 {
        app.sim_post(
            "/_sim/accounts",
            json!({"name": format!("Extra {i}"), "status": "CREDENTIALS"}),
        )
        .await;
    }
    let http = &app.http;
    let get = |p: String| {
        http.get(format!("{}{p}", app.sim_url))
            .header("X-API-KEY", SIM_KEY)
            .send()
    };

    // Paging: limit 2 over 4 accounts → two pages, the last with a null cursor.
    let r = get("/api/v1/accounts?limit=2".into()).await.unwrap();
    assert_eq!(r.status(), 200);
    let page1: Value = r.json().await.unwrap();
    assert_valid(&spec, "/api/v1/accounts", "get", "200", &page1);
    let cursor = page1["cursor"].as_str().expect("a next cursor").to_string();
    // Opaque like Unipile's: standard base64, naming no id in the clear.
    assert!(
        cursor.len().is_multiple_of(4)
            && cursor
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b)),
        "not base64: {cursor}"
    );
    let last_id = page1["items"][1]["id"].as_str().unwrap();
    assert!(!cursor.contains(last_id), "cursor names the id: {cursor}");
    // Standard base64 may hold '+', '/' and '=': the cursor is a query value to encode.
    let encoded: String = url::form_urlencoded::byte_serialize(cursor.as_bytes()).collect();
    let page2: Value = get(format!("/api/v1/accounts?limit=2&cursor={encoded}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_valid(&spec, "/api/v1/accounts", "get", "200", &page2);
    assert!(page2["cursor"].is_null());
    assert_eq!(
        page1["items"].as_array().unwrap().len() + page2["items"].as_array().unwrap().len(),
        4
    );

    let id = s.unipile_id.unwrap();
    let one: Value = get(format!("/api/v1/accounts/{id}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_valid(&spec, "/api/v1/accounts/{id}", "get", "200", &one);
    let r = get("/api/v1/accounts/nope".into()).await.unwrap();
    assert_eq!(r.status(), 404);
    let missing: Value = r.json().await.unwrap();
    assert_valid(&spec, "/api/v1/accounts/{id}", "get", "404", &missing);
    assert_eq!(missing, fixture("error-404-account-not-found.json"));
    let r = get("/api/v1/accounts?limit=251".into()).await.unwrap();
    assert_eq!(r.status(), 400);
    let bad: Value = r.json().await.unwrap();
    assert_valid(&spec, "/api/v1/accounts", "get", "400", &bad);
    // A cursor the simulator did not make (the old `after:<id>` form included) → 400.
    for cursor in ["after:nope", "bm9wZQ%3D%3D", "%21%21"] {
        let r = get(format!("/api/v1/accounts?limit=2&cursor={cursor}"))
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "cursor {cursor}");
        let bad: Value = r.json().await.unwrap();
        assert_valid(&spec, "/api/v1/accounts", "get", "400", &bad);
        assert_eq!(bad["type"], "errors/invalid_parameters");
    }

    // Wrong key → 401 with the documented body shape.
    let r = http
        .get(format!("{}/api/v1/accounts", app.sim_url))
        .header("X-API-KEY", "wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let unauthorized: Value = r.json().await.unwrap();
    assert_valid(&spec, "/api/v1/accounts", "get", "401", &unauthorized);

    // Hosted link: the fixture request is accepted (its reconnect target seeded first).
    let mut req = fixture("hosted-link-request-reconnect.json");
    app.sim_post(
        "/_sim/accounts",
        json!({"id": req["reconnect_account"], "name": "Sam Sample", "status": "CREDENTIALS"}),
    )
    .await;
    req["expiresOn"] = "2099-06-02T11:30:00.000Z".into();
    let post = |p: &str, b: &Value| {
        http.post(format!("{}{p}", app.sim_url))
            .header("X-API-KEY", SIM_KEY)
            .json(b)
            .send()
    };
    let r = post("/api/v1/hosted/accounts/link", &req).await.unwrap();
    assert_eq!(r.status(), 200);
    let link: Value = r.json().await.unwrap();
    assert_valid(&spec, "/api/v1/hosted/accounts/link", "post", "200", &link);
    let mut create = fixture("hosted-link-request-create.json");
    create["expiresOn"] = "2099-06-02T10:45:00Z".into(); // no milliseconds: refused
    let r = post("/api/v1/hosted/accounts/link", &create).await.unwrap();
    assert_eq!(r.status(), 400);
    let bad: Value = r.json().await.unwrap();
    assert_valid(&spec, "/api/v1/hosted/accounts/link", "post", "400", &bad);

    // Webhooks: create (201), list, delete.
    let hook = json!({"source": "account_status", "request_url": "http://127.0.0.1:9/hook", "format": "json",
        "headers": [{"key": "Unipile-Auth", "value": "s"}]});
    let r = post("/api/v1/webhooks", &hook).await.unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    assert_valid(&spec, "/api/v1/webhooks", "post", "201", &created);
    let list: Value = get("/api/v1/webhooks".into())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_valid(&spec, "/api/v1/webhooks", "get", "200", &list);
    let r = http
        .delete(format!(
            "{}/api/v1/webhooks/{}",
            app.sim_url,
            created["webhook_id"].as_str().unwrap()
        ))
        .header("X-API-KEY", SIM_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let deleted: Value = r.json().await.unwrap();
    assert_valid(&spec, "/api/v1/webhooks/{id}", "delete", "200", &deleted);

    // Delete account → 200 AccountDeleted, then 404.
    let r = http
        .delete(format!("{}/api/v1/accounts/{id}", app.sim_url))
        .header("X-API-KEY", SIM_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let gone: Value = r.json().await.unwrap();
    assert_valid(&spec, "/api/v1/accounts/{id}", "delete", "200", &gone);
    assert_eq!(
        get(format!("/api/v1/accounts/{id}"))
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn deliveries_carry_no_json_content_type_and_are_retried_until_200() {
    use axum::{Router, body::Bytes, http::HeaderMap, routing::post};
    use std::sync::{Arc, Mutex};
    let app = spawn_app(AppOptions::default()).await;
    app.unregister_webhooks().await; // only this test's receivers below
    /// Content type, authentication header and body of one delivery.
    type Delivery = (Option<String>, Option<String>, Vec<u8>);
    let seen: Arc<Mutex<Vec<Delivery>>> = Arc::default();
    let seen2 = seen.clone();
    let hook = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: Bytes| {
            let seen = seen2.clone();
            async move {
                let mut s = seen.lock().unwrap();
                s.push((
                    headers
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .map(String::from),
                    headers
                        .get("unipile-auth")
                        .and_then(|v| v.to_str().ok())
                        .map(String::from),
                    body.to_vec(),
                ));
                // Fail the first two deliveries.
                if s.len() <= 2 {
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    axum::http::StatusCode::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, hook).await });
    let r = app.http.post(format!("{}/api/v1/webhooks", app.sim_url)).header("X-API-KEY", SIM_KEY)
        .json(&json!({"source": "account_status", "request_url": hook_url, "headers": [{"key": "Unipile-Auth", "value": "sekret"}]}))
        .send().await.unwrap();
    assert_eq!(r.status(), 201);
    let s = app.seed_account(AccountStatus::Connected, "OK").await;
    let id = s.unipile_id.unwrap();
    app.sim_post(
        &format!("/_sim/accounts/{id}/status"),
        json!({"status": "CREDENTIALS"}),
    )
    .await;
    relink_tests::eventually(
        std::time::Duration::from_secs(10),
        "three deliveries",
        || async { (seen.lock().unwrap().len() >= 3).then_some(()) },
    )
    .await;
    for (ct, auth, body) in seen.lock().unwrap().clone() {
        assert_eq!(ct, None, "no content type, as Unipile sends it");
        assert_eq!(auth.as_deref(), Some("sekret"));
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v,
            json!({"AccountStatus": {"account_id": id, "account_type": "LINKEDIN", "message": "CREDENTIALS"}})
        );
    }
    // OK is not in Unipile's default event set: default registrations are not told.
    let r = app
        .http
        .post(format!("{}/api/v1/webhooks", app.sim_url))
        .header("X-API-KEY", SIM_KEY)
        .json(&json!({"source": "account_status", "request_url": "http://127.0.0.1:9/unused"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let ok = app
        .sim_post(
            &format!("/_sim/accounts/{id}/status"),
            json!({"status": "OK"}),
        )
        .await;
    assert_eq!(ok["deliveries"].as_array().unwrap().len(), 0);
    let err = app
        .sim_post(
            &format!("/_sim/accounts/{id}/status"),
            json!({"status": "ERROR"}),
        )
        .await;
    assert_eq!(err["deliveries"].as_array().unwrap().len(), 2);
}
