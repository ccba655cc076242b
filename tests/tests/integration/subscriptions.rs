//! A workspace's subscription end: campaigns pause, a renewal within the grace resumes
//! them, and the end of the grace disconnects the accounts (nothing is deleted).

use relink_domain::{AccountStatus, subscriptions::SubscriptionOutcome};
use relink_tests::{AppOptions, TestApp, eventually, spawn_app};
use relink_workflows::SubscriptionEndWorkflow;
use std::time::Duration;

const DELETE: &str = "DELETE /api/v1/accounts/{id}";

async fn start(app: &TestApp, ws: relink_domain::WorkspaceId, grace_secs: u64) -> String {
    relink_starter::ops::start_subscription_end(&app.temporal, &app.task_queue, ws, grace_secs)
        .await
        .unwrap()
}

#[tokio::test]
async fn renewal_within_the_grace_resumes_and_touches_no_account() {
    let app = spawn_app(AppOptions::default()).await;
    let s = app.seed_account(AccountStatus::Connected, "OK").await;
    let id = start(&app, s.workspace, 3600).await;
    eventually(
        Duration::from_secs(20),
        "campaign paused by subscription end",
        || async {
            (app.campaign(s.paused_for_disconnect).await.1
                == vec!["subscription_inactive".to_string()])
            .then_some(())
        },
    )
    .await;
    let h = app
        .temporal
        .get_workflow_handle::<SubscriptionEndWorkflow>(id.clone());
    h.signal(SubscriptionEndWorkflow::renew, (), Default::default())
        .await
        .unwrap();
    let out = h.get_result(Default::default()).await.unwrap();
    app.record_history("subscription_end_renewed", &id).await;
    assert_eq!(
        out,
        SubscriptionOutcome::Renewed {
            campaigns_resumed: 1
        }
    );
    assert_eq!(
        app.campaign(s.paused_for_disconnect).await,
        ("active".to_string(), vec![])
    );
    assert_eq!(
        app.campaign(s.paused_also_manual).await.1,
        vec!["manual".to_string()]
    );
    assert_eq!(
        app.account(s.account).await.status,
        AccountStatus::Connected
    );
}

#[tokio::test]
async fn without_renewal_the_accounts_are_disconnected_and_nothing_is_deleted() {
    let app = spawn_app(AppOptions::default()).await;
    let s = app.seed_account(AccountStatus::Connected, "OK").await;
    let id = start(&app, s.workspace, 2).await;
    let out = app
        .temporal
        .get_workflow_handle::<SubscriptionEndWorkflow>(id.clone())
        .get_result(Default::default())
        .await
        .unwrap();
    app.record_history("subscription_end_expired", &id).await;
    assert_eq!(out, SubscriptionOutcome::Disconnected { accounts: 1 });
    assert_eq!(
        app.account(s.account).await.status,
        AccountStatus::Disconnected
    );
    assert_eq!(app.audit_count(s.account, "disconnected").await, 1);
    assert_eq!(app.campaign(s.paused_for_disconnect).await.0, "paused");
    assert_eq!(
        app.sim_count(DELETE).await,
        0,
        "nothing deleted on this path"
    );
}
