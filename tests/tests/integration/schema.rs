//! The database's own guarantees: audit pairing, an append-only audit log, and no
//! paused campaign without a reason.

use relink_domain::{AccountStatus, PauseReason};
use relink_store::{AuditContext, flip_status};
use relink_tests::{AppOptions, spawn_app};

#[tokio::test]
async fn the_database_enforces_audit_pairing_and_append_only_audit() {
    let app = spawn_app(AppOptions::default()).await;
    let s = app.seed_account(AccountStatus::Connected, "OK").await;
    let pool = app.store.pool();

    // A bare status UPDATE is rejected at commit.
    let err = sqlx::query("UPDATE linkedin_accounts SET status = 'disconnected' WHERE id = $1")
        .bind(s.account.0)
        .execute(pool)
        .await
        .expect_err("status change without audit row");
    assert!(err.to_string().contains("no audit row"), "{err}");
    assert_eq!(
        app.account(s.account).await.status,
        AccountStatus::Connected
    );

    // An audit row with another to_status does not pair either.
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("INSERT INTO linkedin_account_audit_log (account_id, action, to_status, actor) VALUES ($1, 'x', 'connecting', 't')")
        .bind(s.account.0).execute(&mut *tx).await.unwrap();
    sqlx::query("UPDATE linkedin_accounts SET status = 'disconnected' WHERE id = $1")
        .bind(s.account.0)
        .execute(&mut *tx)
        .await
        .unwrap();
    assert!(tx.commit().await.is_err());

    // Through the helper it commits, with exactly one audit row.
    let mut tx = pool.begin().await.unwrap();
    let audit = AuditContext {
        action: "test.flip".into(),
        actor: "test".into(),
        ..Default::default()
    };
    flip_status(
        &mut tx,
        s.account,
        &[AccountStatus::Connected],
        AccountStatus::Disconnected,
        &audit,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(app.audit_count(s.account, "disconnected").await, 1);

    // A stale writer gets a typed error, not an overwrite.
    let mut tx = pool.begin().await.unwrap();
    let stale = flip_status(
        &mut tx,
        s.account,
        &[AccountStatus::Connected],
        AccountStatus::ReconnectNeeded,
        &audit,
    )
    .await;
    assert!(matches!(
        stale,
        Err(relink_store::StoreError::StatusMoved {
            actual: AccountStatus::Disconnected,
            ..
        })
    ));
    drop(tx);

    // The audit log is append-only.
    let upd = sqlx::query("UPDATE linkedin_account_audit_log SET actor = 'mallory'")
        .execute(pool)
        .await;
    assert!(upd.is_err());
    let del = sqlx::query("DELETE FROM linkedin_account_audit_log")
        .execute(pool)
        .await;
    assert!(del.is_err());
    let trunc = sqlx::query("TRUNCATE linkedin_account_audit_log")
        .execute(pool)
        .await;
    assert!(trunc.is_err());
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM linkedin_account_audit_log WHERE actor = 'mallory'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn a_paused_campaign_always_has_a_reason() {
    let app = spawn_app(AppOptions::default()).await;
    let s = app
        .seed_account(AccountStatus::ReconnectNeeded, "CREDENTIALS")
        .await;
    let pool = app.store.pool();
    // Removing the last reason without activating the campaign is refused.
    let err = sqlx::query("DELETE FROM campaign_pauses WHERE campaign_id = $1")
        .bind(s.paused_for_disconnect)
        .execute(pool)
        .await
        .expect_err("paused without a reason");
    assert!(err.to_string().contains("without a pause reason"), "{err}");
    // Pausing without a reason is refused too.
    let c = app
        .store
        .create_campaign(s.workspace, s.account, "Fresh", 0, &[])
        .await
        .unwrap();
    let err = sqlx::query("UPDATE campaigns SET status = 'paused' WHERE id = $1")
        .bind(c)
        .execute(pool)
        .await;
    assert!(err.is_err());
    // And a reason on an active campaign.
    let err = sqlx::query("INSERT INTO campaign_pauses (campaign_id, reason) VALUES ($1, $2)")
        .bind(c)
        .bind(PauseReason::Manual.as_str())
        .execute(pool)
        .await;
    assert!(err.is_err());
    assert_eq!(app.campaign(c).await, ("active".to_string(), vec![]));
}
