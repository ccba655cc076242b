//! The reconnect email, delivered over SMTP to the real server `./dev test` runs
//! (aiosmtpd, each message a file under `RELINK_TEST_MAIL_DIR/new`): once per disconnect
//! episode, with a stable Message-ID, a plain-text and an HTML part, and a signed link
//! that opens that one account with its Reconnect button.

use relink_domain::AccountStatus;
use relink_tests::{
    AppOptions, eventually,
    mail::{disconnected_with_email, email_pass, messages_with},
    spawn_app,
};
use std::time::Duration;

#[tokio::test]
async fn the_reconnect_email_arrives_once_with_a_signed_link_to_its_account() {
    let app = spawn_app(AppOptions::default()).await;
    let (s, address) = disconnected_with_email(&app).await;
    let outbox = app.store.outbox_of(s.account).await.unwrap();
    assert_eq!(outbox.len(), 1, "one email per disconnect episode");
    let id = outbox[0].id;

    let (pass_id, summary) = relink_starter::ops::run_pass(
        &app.temporal,
        &app.task_queue,
        relink_starter::ops::Pass::EmailSender,
        false,
    )
    .await
    .unwrap();
    app.record_history("email_sender_sent", &pass_id).await;
    assert_eq!(summary["sent"], serde_json::json!([id]), "{summary}");
    let mid = format!("<relink-outbox-{id}.{}@relink.test>", s.account);
    let raw = eventually(
        Duration::from_secs(10),
        "the message in the Maildir",
        || async {
            let found = messages_with(&mid);
            (!found.is_empty()).then_some(found)
        },
    )
    .await;
    assert_eq!(raw.len(), 1);
    let msg = mail_parser::MessageParser::default()
        .parse(raw[0].as_bytes())
        .expect("an RFC 5322 message");
    assert_eq!(
        msg.to().and_then(|t| t.first()).and_then(|a| a.address()),
        Some(address.as_str())
    );
    assert_eq!(msg.subject(), Some("Reconnect your LinkedIn account"));
    let text = msg.body_text(0).expect("a plain-text part").to_string();
    let html = msg.body_html(0).expect("an HTML part").to_string();
    let row = app.account(s.account).await;
    assert!(text.contains(&row.display_name) && html.contains(&row.display_name));
    let link = text
        .split_whitespace()
        .find(|w| w.starts_with(&app.web_url) && w.contains("/accounts/"))
        .expect("a link to the account")
        .to_string();
    assert!(
        html.contains(&link.replace('&', "&amp;")),
        "the same link in the HTML part"
    );
    assert!(!link.contains(&s.token), "never the workspace API token");
    let sent = app.store.outbox_of(s.account).await.unwrap();
    assert!(sent[0].sent_at.is_some());
    assert_eq!(sent[0].message_id.as_deref(), Some(mid.as_str()));
    assert_eq!(sent[0].attempts, 1);

    // A second pass sends nothing again.
    let again = email_pass(&app).await;
    assert_eq!(again["sent"], serde_json::json!([]), "{again}");
    assert_eq!(messages_with(&mid).len(), 1);

    // The link opens this account, with its Reconnect button; a tampered one does not.
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = no_redirect.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let body = page.text().await.unwrap();
    assert!(
        body.contains(&row.display_name) && body.contains("Reconnect"),
        "{body}"
    );
    let tampered = format!("{}0", link);
    assert_eq!(
        no_redirect.get(&tampered).send().await.unwrap().status(),
        401
    );
    // Its button gets the hosted-auth link for that account.
    let url = url::Url::parse(&link).unwrap();
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    let r = no_redirect
        .post(format!(
            "{}/ui/accounts/{}/reconnect",
            app.web_url, s.account
        ))
        .form(&[
            ("email", q["email"].as_str()),
            ("exp", q["exp"].as_str()),
            ("sig", q["sig"].as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    let to = r.headers()["location"].to_str().unwrap();
    assert!(to.starts_with(&app.sim_url), "{to}");
    assert_eq!(
        page_headers_referrer(&no_redirect, &link).await.as_deref(),
        Some("no-referrer"),
        "the signed URL is never passed on as a Referer"
    );
    // A browser already signed in to the workspace goes on to the card on the dashboard.
    let signed_in = no_redirect
        .post(format!("{}/signin", app.web_url))
        .form(&[("token", s.token.as_str())])
        .send()
        .await
        .unwrap();
    let cookie = signed_in.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_string();
    let r = no_redirect
        .get(&link)
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    assert_eq!(
        r.headers()["location"].to_str().unwrap(),
        format!("/?focus={0}#account-{0}", s.account)
    );

    // Once the login is finished and the account connected again, the email's link
    // opens nothing.
    app.finish_hosted_auth(&serde_json::json!(to), true).await;
    app.wait_status(s.account, AccountStatus::Connected).await;
    assert_eq!(no_redirect.get(&link).send().await.unwrap().status(), 401);
}

async fn page_headers_referrer(http: &reqwest::Client, url: &str) -> Option<String> {
    let r = http.get(url).send().await.ok()?;
    r.headers()
        .get("referrer-policy")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

#[tokio::test]
async fn a_refused_delivery_is_retried_later_and_a_withdrawn_email_is_never_sent() {
    // Nothing listens on port 9: every SMTP attempt fails.
    let app = spawn_app(AppOptions {
        smtp_url: Some("smtp://127.0.0.1:9".into()),
        ..AppOptions::default()
    })
    .await;
    let (s, _) = disconnected_with_email(&app).await;
    let summary = email_pass(&app).await;
    let id = app.store.outbox_of(s.account).await.unwrap()[0].id;
    assert_eq!(summary["failed"], serde_json::json!([id]), "{summary}");
    let row = &app.store.outbox_of(s.account).await.unwrap()[0];
    assert_eq!(row.attempts, 1);
    assert!(row.sent_at.is_none());
    assert!(
        row.last_error
            .as_deref()
            .is_some_and(|e| e.contains("SMTP")),
        "{row:?}"
    );
    assert!(
        row.next_attempt_at > chrono::Utc::now() + chrono::Duration::seconds(20),
        "backed off: {row:?}"
    );
    // Not due yet: the next pass leaves it alone.
    assert_eq!(email_pass(&app).await["failed"], serde_json::json!([]));

    // The account is reconnected elsewhere: the relink withdraws the email; even once
    // due again it is never sent.
    app.set_sim_status(s.unipile_id.as_deref().unwrap(), "OK")
        .await;
    app.wait_status(s.account, AccountStatus::Connected).await;
    sqlx::query("UPDATE email_outbox SET next_attempt_at = now() WHERE id = $1")
        .bind(id)
        .execute(app.store.pool())
        .await
        .unwrap();
    let after = email_pass(&app).await;
    assert_eq!(after["failed"], serde_json::json!([]), "{after}");
    assert_eq!(after["sent"], serde_json::json!([]), "{after}");
    let row = &app.store.outbox_of(s.account).await.unwrap()[0];
    assert!(
        row.withdrawn_at.is_some() && row.sent_at.is_none() && row.attempts == 1,
        "{row:?}"
    );
}

#[tokio::test]
async fn the_html_part_escapes_the_accounts_name() {
    let app = spawn_app(AppOptions::default()).await;
    let (s, _) = disconnected_with_email(&app).await;
    let name = format!("Sam <b>{}</b> & co", uuid::Uuid::new_v4().simple());
    sqlx::query("UPDATE linkedin_accounts SET display_name = $2 WHERE id = $1")
        .bind(s.account.0)
        .bind(&name)
        .execute(app.store.pool())
        .await
        .unwrap();
    let id = app.store.outbox_of(s.account).await.unwrap()[0].id;
    assert_eq!(email_pass(&app).await["sent"], serde_json::json!([id]));
    let mid = format!("<relink-outbox-{id}.{}@relink.test>", s.account);
    let raw = eventually(
        Duration::from_secs(10),
        "the message in the Maildir",
        || async { messages_with(&mid).into_iter().next() },
    )
    .await;
    let msg = mail_parser::MessageParser::default()
        .parse(raw.as_bytes())
        .expect("an RFC 5322 message");
    let html = msg.body_html(0).expect("an HTML part").to_string();
    let escaped = name
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    assert!(html.contains(&escaped), "{html}");
    assert!(!html.contains("<b>"), "no markup from the name: {html}");
    assert!(
        msg.body_text(0).unwrap().contains(&name),
        "the text part says it as it is"
    );
}
