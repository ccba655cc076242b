//! The fast subset of the fault drills (`./dev drills` runs them all, with a worker
//! process killed by SIGKILL and its own Temporal server): here the worker runs
//! in-process and the shared Temporal dev server and PostgreSQL stay up.

use relink_tests::{
    AppOptions,
    drills::{self, Boundary, UnipileFault},
    spawn_app,
};
use relink_workflows::activities::names;

fn assert_pass(row: drills::DrillRow) {
    assert!(
        row.pass,
        "{}\nfailed: {}\nexpected: {}\nobserved: {}",
        row.drill,
        row.failed.join("; "),
        row.expected,
        row.observed
    );
}

fn deletes_on() -> AppOptions {
    AppOptions {
        delete_env: vec![("RELINK_UNIPILE_DELETES", "enabled")],
        ..AppOptions::default()
    }
}

#[tokio::test]
async fn a_worker_killed_while_the_hosted_link_is_made_still_shows_one_url_and_relinks_once() {
    let mut app = spawn_app(AppOptions::default()).await;
    assert_pass(drills::reconnect_killed_at(&mut app, Boundary::InCall(drills::LINK_ROUTE)).await);
}

#[tokio::test]
async fn a_worker_killed_after_the_sweep_leaves_every_campaign_resumed_once() {
    let mut app = spawn_app(AppOptions::default()).await;
    assert_pass(
        drills::sweeper_killed_at(&mut app, Boundary::Completed(names::SWEEP_CAMPAIGNS)).await,
    );
}

#[tokio::test]
async fn a_hundred_parallel_clicks_make_one_hosted_link() {
    let app = spawn_app(AppOptions::default()).await;
    assert_pass(drills::parallel_clicks(&app, 100).await);
}

#[tokio::test]
async fn a_thousand_webhooks_in_random_order_end_at_unipiles_statuses() {
    let app = spawn_app(AppOptions::default()).await;
    assert_pass(drills::webhook_storm(&app, 1000, 200).await);
}

#[tokio::test]
async fn listing_500s_abort_the_pass_with_one_alert_and_no_flips() {
    assert_pass(drills::reconciler_under_fault(deletes_on(), UnipileFault::Listing500).await);
}

#[tokio::test]
async fn listing_429s_abort_the_pass_with_one_alert_and_no_flips() {
    assert_pass(drills::reconciler_under_fault(deletes_on(), UnipileFault::Listing429).await);
}

#[tokio::test]
async fn a_second_page_that_keeps_failing_aborts_the_pass_with_one_alert() {
    assert_pass(drills::reconciler_under_fault(deletes_on(), UnipileFault::SecondPageFails).await);
}

#[tokio::test]
async fn a_second_page_that_fails_once_is_retried_into_a_correct_pass() {
    assert_pass(
        drills::reconciler_under_fault(deletes_on(), UnipileFault::SecondPageFailsOnce).await,
    );
}

#[tokio::test]
async fn an_empty_listing_trips_the_sanity_gate_and_deletes_nothing() {
    assert_pass(drills::reconciler_under_fault(deletes_on(), UnipileFault::EmptyList).await);
}

#[tokio::test]
async fn every_account_reading_404_flips_and_deletes_nothing_wrong() {
    assert_pass(drills::reconciler_under_fault(deletes_on(), UnipileFault::EveryAccount404).await);
}

#[tokio::test]
async fn a_worker_killed_mid_listing_leaves_each_reconciler_flip_made_once() {
    let mut app = spawn_app(AppOptions::default()).await;
    assert_pass(drills::reconciler_killed_at(&mut app, Boundary::InCall(drills::LIST_ROUTE)).await);
}
