//! The reconnect email as the real SMTP server of `./dev test` received it (aiosmtpd,
//! each message a file under `RELINK_TEST_MAIL_DIR/new`), and the steps that get one
//! sent.

use crate::{Seeded, TestApp};
use relink_domain::AccountStatus;
use relink_starter::ops::{Pass, run_pass};
use std::path::PathBuf;

/// The SMTP server's Maildir `new/` folder. Panics when `RELINK_TEST_MAIL_DIR` is unset.
pub fn mail_dir() -> PathBuf {
    PathBuf::from(
        std::env::var("RELINK_TEST_MAIL_DIR").expect(
            "RELINK_TEST_MAIL_DIR: the SMTP server's Maildir (./dev test starts the server)",
        ),
    )
    .join("new")
}

/// The raw messages in the SMTP server's Maildir that carry `needle`.
pub fn messages_with(needle: &str) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(mail_dir()) else {
        return vec![];
    };
    dir.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .filter(|m| m.contains(needle))
        .collect()
}

/// A connected account with an email address (returned), then disconnected by Unipile
/// (the CREDENTIALS webhook), waited on until the row reads `reconnect_needed`.
pub async fn disconnected_with_email(app: &TestApp) -> (Seeded, String) {
    let s = app.seed_account(AccountStatus::Connected, "OK").await;
    let address = format!("owner-{}@example.test", uuid::Uuid::new_v4().simple());
    sqlx::query("UPDATE linkedin_accounts SET email = $2 WHERE id = $1")
        .bind(s.account.0)
        .bind(&address)
        .execute(app.store.pool())
        .await
        .expect("set the account's email");
    app.set_sim_status(
        s.unipile_id.as_deref().expect("a Unipile id"),
        "CREDENTIALS",
    )
    .await;
    app.wait_status(s.account, AccountStatus::ReconnectNeeded)
        .await;
    (s, address)
}

/// One pass of the email sender; its summary (`{sent, failed, withdrawn, …}`).
pub async fn email_pass(app: &TestApp) -> serde_json::Value {
    run_pass(&app.temporal, &app.task_queue, Pass::EmailSender, false)
        .await
        .expect("an email sender pass")
        .1
}
