//! Least privilege in PostgreSQL (issue 13): the web tier and the worker serve as
//! `relink_app` (migration 0010), a role that can neither switch the audit off nor
//! rewrite what it recorded.

use relink_domain::AccountStatus;
use relink_tests::{AppOptions, app_database_url, spawn_app};
use sqlx::Connection;

/// The SQLSTATE of a statement's failure (`None`: it succeeded).
async fn refused(conn: &mut sqlx::PgConnection, sql: &str) -> Option<String> {
    match sqlx::query(sql).execute(&mut *conn).await {
        Ok(_) => None,
        Err(sqlx::Error::Database(e)) => Some(e.code().map(|c| c.into_owned()).unwrap_or_default()),
        Err(e) => panic!("{sql}: {e}"),
    }
}

#[tokio::test]
async fn the_application_role_cannot_switch_off_or_rewrite_the_audit() {
    let app = spawn_app(AppOptions::default()).await;
    let s = app
        .seed_account(AccountStatus::ReconnectNeeded, "CREDENTIALS")
        .await;
    // The processes under test serve as relink_app, which holds none of the rights a
    // superuser has.
    let (code, body) = app.click_reconnect(&s.token, &s.account.to_string()).await;
    assert_eq!(code, 200, "{body}");
    let serving: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT usename::text FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(app.store.pool())
    .await
    .unwrap();
    assert!(serving.contains(&"relink_app".to_string()), "{serving:?}");
    let rights: (bool, bool, bool, bool) = sqlx::query_as(
        "SELECT rolsuper, rolreplication, rolbypassrls, rolcreaterole FROM pg_roles WHERE rolname = 'relink_app'",
    )
    .fetch_one(app.store.pool())
    .await
    .unwrap();
    assert_eq!(rights, (false, false, false, false));

    let audit_rows = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM linkedin_account_audit_log WHERE account_id = $1",
        )
        .bind(s.account.0)
        .fetch_one(app.store.pool())
        .await
        .unwrap()
    };
    let before = audit_rows().await;
    assert!(before >= 2, "seeded and flipped to connecting, audited");
    let mut conn = sqlx::PgConnection::connect(&app_database_url(&app.database_url))
        .await
        .expect("relink_app logs in");
    let id = s.account.0;
    let denied = Some("42501".to_string()); // insufficient_privilege
    for sql in [
        // Switching the triggers off: owners and superusers only.
        "ALTER TABLE linkedin_account_audit_log DISABLE TRIGGER audit_log_no_update_delete"
            .to_string(),
        "ALTER TABLE linkedin_accounts DISABLE TRIGGER linkedin_accounts_audit_pairing".to_string(),
        "ALTER TABLE linkedin_accounts DISABLE TRIGGER ALL".to_string(),
        "DROP TRIGGER audit_log_no_update_delete ON linkedin_account_audit_log".to_string(),
        "SET session_replication_role = replica".to_string(),
        // Rewriting the audit.
        format!("UPDATE linkedin_account_audit_log SET reason = 'x' WHERE account_id = '{id}'"),
        format!("DELETE FROM linkedin_account_audit_log WHERE account_id = '{id}'"),
        "TRUNCATE linkedin_account_audit_log".to_string(),
        // An account row deleted, which no audit row would record.
        format!("DELETE FROM linkedin_accounts WHERE id = '{id}'"),
        // Nor new objects in the schema.
        "CREATE TABLE relink_app_owned (x int)".to_string(),
    ] {
        assert_eq!(refused(&mut conn, &sql).await, denied, "{sql}");
    }
    // A status change without its audit row is refused at commit (the pairing trigger
    // still runs for relink_app).
    assert_eq!(
        refused(
            &mut conn,
            &format!("UPDATE linkedin_accounts SET status = 'connected' WHERE id = '{id}'")
        )
        .await,
        Some("23000".to_string())
    );
    // Nor touch the migration ledger, which it may read: a binary serving as
    // relink_app without MIGRATION_DATABASE_URL starts on a migrated schema.
    assert_eq!(
        refused(&mut conn, "DELETE FROM _sqlx_migrations").await,
        denied,
        "the ledger is the owner's"
    );
    let served = relink_runtime::DatabaseSettings::new(app_database_url(&app.database_url))
        .connect_migrated(2)
        .await
        .expect("relink_app serves a migrated schema without the owner's URL");
    assert_eq!(
        served.current_role_privileged().await.unwrap(),
        ("relink_app".to_string(), false)
    );
    assert_eq!(audit_rows().await, before, "the audit is as it was");

    // Every table the migrations made, later ones included, is the application's to
    // read and write, except the rights revoked above.
    let missing: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND ( \
           NOT has_table_privilege('relink_app', c.oid, 'SELECT') \
           OR (c.relname <> '_sqlx_migrations' AND NOT has_table_privilege('relink_app', c.oid, 'INSERT')) \
           OR (c.relname NOT IN ('_sqlx_migrations', 'linkedin_account_audit_log') \
               AND NOT has_table_privilege('relink_app', c.oid, 'UPDATE')) \
           OR (c.relname NOT IN ('_sqlx_migrations', 'linkedin_account_audit_log', 'linkedin_accounts') \
               AND NOT has_table_privilege('relink_app', c.oid, 'DELETE'))) \
         UNION ALL SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind = 'S' \
           AND CASE WHEN c.relkind = 'S' AND n.nspname = 'public' \
                    THEN NOT has_sequence_privilege('relink_app', c.oid, 'USAGE') ELSE false END",
    )
    .fetch_all(app.store.pool())
    .await
    .unwrap();
    assert!(missing.is_empty(), "relink_app lacks rights on {missing:?}");
    assert_eq!(
        app.account(s.account).await.status,
        AccountStatus::Connecting,
        "the row is as the click left it"
    );
}
