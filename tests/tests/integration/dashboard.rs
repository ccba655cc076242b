//! Dashboard sign-in without secrets in URLs: the workspace token is exchanged once on
//! `/signin` for a signed `HttpOnly`, `SameSite=Lax` session cookie; `/?token=` no
//! longer signs anyone in; every form is CSRF-checked.

use relink_domain::AccountStatus;
use relink_tests::{AppOptions, spawn_app};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_string()
}

#[tokio::test]
async fn the_token_buys_a_session_cookie_once_and_forms_need_its_csrf_token() {
    let app = spawn_app(AppOptions::default()).await;
    let s = app
        .seed_account(AccountStatus::ReconnectNeeded, "CREDENTIALS")
        .await;
    let http = client();

    // No session: the sign-in page, whatever the URL carries.
    for path in ["/".to_string(), format!("/?token={}", s.token)] {
        let r = http
            .get(format!("{}{path}", app.web_url))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_redirection(), "{path}: {}", r.status());
        assert_eq!(location(&r), "/signin", "{path}");
    }
    let form = http
        .get(format!("{}/signin", app.web_url))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);

    // Another site's form cannot sign this browser in (login CSRF).
    let r = http
        .post(format!("{}/signin", app.web_url))
        .header("sec-fetch-site", "cross-site")
        .form(&[("token", s.token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("set-cookie").is_none());
    // Back from hosted auth without a session (from the email): told how it ended.
    let r = http
        .get(format!(
            "{}/?account={}&login=reconnected",
            app.web_url, s.account
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("Reconnected.") && !body.contains(&s.token),
        "{body}"
    );

    // A wrong token: 401, no cookie.
    let r = http
        .post(format!("{}/signin", app.web_url))
        .form(&[("token", "not-a-token")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("set-cookie").is_none());

    // The right one: a signed HttpOnly, SameSite=Lax cookie, then the dashboard.
    let r = http
        .post(format!("{}/signin", app.web_url))
        .form(&[("token", s.token.as_str())])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    assert_eq!(location(&r), "/");
    let set_cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Lax"), "{set_cookie}");
    assert!(
        !set_cookie.contains(&s.token),
        "the cookie does not carry the token"
    );
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    let page = http
        .get(format!("{}/", app.web_url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let row = app.account(s.account).await;
    assert!(html.contains(&row.display_name), "{html}");
    assert!(!html.contains(&s.token), "the page never shows the token");
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a CSRF field")
        .to_string();

    // Pause reasons in words, and Resume with the API's rule: the manual reason clears,
    // the disconnect keeps the campaign paused and the page says why.
    assert!(html.contains("Paused by you"), "{html}");
    assert!(html.contains("LinkedIn account disconnected — resumes by itself after you reconnect"));
    let resume = format!(
        "{}/ui/campaigns/{}/resume",
        app.web_url, s.paused_also_manual
    );
    let r = http
        .post(&resume)
        .header("cookie", &cookie)
        .form(&[("csrf", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "no CSRF token, no Resume");
    let r = http
        .post(&resume)
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    let after = http
        .get(format!("{}{}", app.web_url, location(&r)))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        after.contains(
            "is still paused: LinkedIn account disconnected — resumes by itself after you reconnect"
        ),
        "{after}"
    );
    assert_eq!(
        app.campaign(s.paused_also_manual).await.1,
        vec!["linkedin_account_disconnected".to_string()],
        "manual cleared, the disconnect kept"
    );

    // A tampered cookie is no session.
    let forged = format!("{}x", cookie);
    let r = http
        .get(format!("{}/", app.web_url))
        .header("cookie", forged)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection());

    // Reconnect without the CSRF token: 403, nothing asked of Unipile; with it: the
    // hosted-auth page.
    let reconnect = format!("{}/ui/accounts/{}/reconnect", app.web_url, s.account);
    let r = http
        .post(&reconnect)
        .header("cookie", &cookie)
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(app.sim_count("POST /api/v1/hosted/accounts/link").await, 0);
    let r = http
        .post(&reconnect)
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    let hosted = location(&r);
    assert!(hosted.starts_with(&app.sim_url), "{hosted}");

    // The pills the page keeps current: JSON with an ETag; unchanged → 304.
    let pills = |etag: Option<String>| {
        let mut req = http
            .get(format!("{}/ui/pills", app.web_url))
            .header("cookie", &cookie);
        if let Some(e) = etag {
            req = req.header("if-none-match", e);
        }
        req.send()
    };
    let r = pills(None).await.unwrap();
    assert_eq!(r.status(), 200);
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(pills(Some(etag.clone())).await.unwrap().status(), 304);

    // The user gives up on Unipile's page: back on the dashboard, told so.
    let r = http
        .post(&hosted)
        .form(&[("abandon", "true")])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    let back = location(&r);
    assert!(
        back.starts_with(&app.web_url) && back.contains("login=not_finished"),
        "{back}"
    );
    let page = http
        .get(&back)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("The LinkedIn login was not finished")
    );

    // The user finishes the login: back on the dashboard, "Reconnected", and the pill the
    // page polls turns green once the notify callback has relinked the row.
    let r = http
        .post(&hosted)
        .form(&[("notify", "true")])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    let back = location(&r);
    assert!(
        back.contains(&format!("account={}", s.account)) && back.contains("login=reconnected"),
        "{back}"
    );
    let page = http
        .get(&back)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert!(page.text().await.unwrap().contains("Reconnected: "));
    relink_tests::eventually(
        std::time::Duration::from_secs(10),
        "the polled pill is connected",
        || async {
            let r = pills(Some(etag.clone())).await.ok()?;
            if r.status() != 200 {
                return None;
            }
            let v: serde_json::Value = r.json().await.ok()?;
            (v["accounts"][0]["state"] == "connected").then_some(())
        },
    )
    .await;
}

/// Signs in with `token`; returns the session cookie and the page's CSRF token.
async fn sign_in(
    app: &relink_tests::TestApp,
    http: &reqwest::Client,
    token: &str,
) -> (String, String) {
    let r = http
        .post(format!("{}/signin", app.web_url))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let html = http
        .get(format!("{}/", app.web_url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a CSRF field")
        .to_string();
    (cookie, csrf)
}

#[tokio::test]
async fn disconnect_on_a_duplicate_card_moves_its_campaigns_to_the_live_card_and_deletes_nothing() {
    let app = spawn_app(AppOptions::default()).await;
    let relink_tests::TwinCards {
        token,
        old,
        live,
        campaign,
        ..
    } = app.seed_twin_cards().await;
    let http = client();
    let (cookie, csrf) = sign_in(&app, &http, &token).await;
    let html = http
        .get(format!("{}/", app.web_url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Same LinkedIn identity as New card"),
        "{html}"
    );
    assert!(html.contains("Actions for Old card"), "the card's menu");

    let url = format!("{}/ui/accounts/{old}/disconnect", app.web_url);
    let r = http
        .post(&url)
        .header("cookie", &cookie)
        .form(&[("csrf", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        app.account(old).await.status,
        AccountStatus::ReconnectNeeded
    );
    let r = http
        .post(&url)
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());

    let row = app.account(old).await;
    assert_eq!(row.status, AccountStatus::Disconnected);
    assert_eq!(
        row.unipile_account_id, None,
        "the session is let go, not deleted"
    );
    assert_eq!(app.audit_count(old, "disconnected").await, 1, "audited");
    let (account, status): (uuid::Uuid, String) =
        sqlx::query_as("SELECT account_id, status FROM campaigns WHERE id = $1")
            .bind(campaign)
            .fetch_one(app.store.pool())
            .await
            .unwrap();
    assert_eq!(account, live.0, "the campaign moved to the live card");
    assert_eq!(status, "active", "and resumed there");
    assert_eq!(app.sim_count("DELETE /api/v1/accounts/{id}").await, 0);
}

#[tokio::test]
async fn signing_in_from_an_email_opens_that_card_and_only_one_of_the_workspace() {
    let app = spawn_app(AppOptions::default()).await;
    let mine = app
        .seed_account(AccountStatus::ReconnectNeeded, "CREDENTIALS")
        .await;
    let theirs = app
        .seed_account(AccountStatus::ReconnectNeeded, "CREDENTIALS")
        .await;
    let http = client();
    let form = http
        .get(format!("{}/signin?account={}", app.web_url, mine.account))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        form.contains(&format!("name=\"account\" value=\"{}\"", mine.account)),
        "{form}"
    );
    let signin = |account: String| {
        http.post(format!("{}/signin", app.web_url))
            .form(&[("token", mine.token.clone()), ("account", account)])
            .send()
    };
    let r = signin(mine.account.to_string()).await.unwrap();
    assert_eq!(
        location(&r),
        format!("/?focus={0}#account-{0}", mine.account),
        "the card the email was about, open"
    );
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    // Another workspace's account id is ignored: the plain dashboard, nothing of theirs.
    let r = signin(theirs.account.to_string()).await.unwrap();
    assert_eq!(location(&r), "/");
    // Not an id at all: refused, no session.
    let r = signin("../../elsewhere".into()).await.unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    assert!(r.headers().get("set-cookie").is_none());

    // The focused dashboard opens that card's menu.
    let html = http
        .get(format!("{}/?focus={}", app.web_url, mine.account))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("<details class=\"menu\" open>"), "{html}");
}
