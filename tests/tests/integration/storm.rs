//! A webhook storm (issue 14): many accounts lose their session at once and Unipile
//! says so for each, twice. relink answers every webhook, paces its reads of Unipile
//! (`UNIPILE_MAX_GETS_PER_SEC`), pauses them after a 429, and ends with every row
//! matching Unipile: one flip, one email and one event per account.

use chrono::{DateTime, Utc};
use relink_tests::{AppOptions, account_status_body, eventually, fresh_store, spawn_app};
use serde_json::json;
use std::time::Duration;

const GET_ACCOUNT: &str = "GET /api/v1/accounts/{id}";
const PACE: u32 = 10;
const ACCOUNTS: usize = 30;

#[tokio::test]
async fn a_webhook_storm_is_paced_pauses_after_429s_and_ends_at_unipiles_statuses() {
    let app = spawn_app(AppOptions {
        unipile_gets_per_sec: PACE,
        ..AppOptions::default()
    })
    .await;
    // The storm is sent here, not by the simulator.
    app.unregister_webhooks().await;
    // Account-status workflow ids derive from the Unipile id: a prefix of its own keeps
    // this run's syncs apart from another run's on the same Temporal server.
    let prefix = format!("S{}", &uuid::Uuid::new_v4().simple().to_string()[..6]);
    let (_, _, fleet) = app.seed_fleet(&prefix, ACCOUNTS, "CREDENTIALS").await;
    // Unipile refuses the first three reads.
    app.sim_post(
        "/_sim/faults",
        json!({"route": GET_ACCOUNT, "status": 429, "count": 3}),
    )
    .await;
    let bodies: Vec<Vec<u8>> = fleet
        .iter()
        .chain(fleet.iter())
        .map(|(_, uid)| account_status_body(uid, "CREDENTIALS"))
        .collect();
    let answers = app.post_status_webhooks(bodies, 2 * ACCOUNTS).await;
    assert!(answers.iter().all(|(c, _)| *c == 200), "{answers:?}");

    let ids: Vec<uuid::Uuid> = fleet.iter().map(|(id, _)| id.0).collect();
    eventually(Duration::from_secs(120), "every row reconnect_needed", || async {
        let left: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM linkedin_accounts WHERE id = ANY($1) AND status <> 'reconnect_needed'",
        )
        .bind(&ids)
        .fetch_one(app.store.pool())
        .await
        .unwrap();
        (left == 0).then_some(())
    })
    .await;
    for (what, sql) in [
        (
            "flip",
            "SELECT account_id, count(*) FROM linkedin_account_audit_log WHERE account_id = ANY($1) AND to_status = 'reconnect_needed' GROUP BY account_id",
        ),
        (
            "email",
            "SELECT account_id, count(*) FROM email_outbox WHERE account_id = ANY($1) GROUP BY account_id",
        ),
        (
            "event",
            "SELECT account_id, count(*) FROM outbound_events WHERE account_id = ANY($1) AND type = 'account.disconnected' GROUP BY account_id",
        ),
    ] {
        let per: Vec<(uuid::Uuid, i64)> = sqlx::query_as(sql)
            .bind(&ids)
            .fetch_all(app.store.pool())
            .await
            .unwrap();
        assert_eq!(
            per.len(),
            ACCOUNTS,
            "an account without its {what}: {per:?}"
        );
        assert!(
            per.iter().all(|(_, n)| *n == 1),
            "one {what} per account: {per:?}"
        );
    }

    // The reads of Unipile, in the order they arrived.
    let gets: Vec<(DateTime<Utc>, u16)> = app
        .sim_requests()
        .await
        .into_iter()
        .filter(|r| r["route"] == GET_ACCOUNT)
        .map(|r| {
            let at = r["at"].as_str().unwrap().parse().unwrap();
            (at, r["status"].as_u64().unwrap() as u16)
        })
        .collect();
    assert!(
        gets.len() >= ACCOUNTS,
        "every account was read: {}",
        gets.len()
    );
    assert_eq!(gets.iter().filter(|(_, s)| *s == 429).count(), 3);
    // Paced: no second holds more than PACE reads (plus one at its edge).
    for (i, (t, _)) in gets.iter().enumerate() {
        let within = gets[i..]
            .iter()
            .take_while(|(u, _)| *u - *t < chrono::Duration::milliseconds(1000))
            .count();
        assert!(
            within <= PACE as usize + 1,
            "{within} reads within a second from {t}"
        );
    }
    // After a 429, no read for the first cooldown (1 s; a little less for clocks).
    let first_429 = gets.iter().position(|(_, s)| *s == 429).unwrap();
    if let Some((next, _)) = gets.get(first_429 + 1) {
        let gap = *next - gets[first_429].0;
        assert!(
            gap >= chrono::Duration::milliseconds(900),
            "the next read came {gap} after a 429"
        );
    }
}

/// A web tier that stored a webhook and stopped before its hand-off (the row is written
/// here as that tier left it) leaves it to the next tier: the account is re-read and
/// flipped once, and the inbox ends empty. A malformed webhook stores nothing.
#[tokio::test]
async fn a_stored_webhook_left_by_a_stopped_web_tier_is_handed_off_by_the_next() {
    let app = spawn_app(AppOptions::default()).await;
    app.unregister_webhooks().await;
    let prefix = format!("L{}", &uuid::Uuid::new_v4().simple().to_string()[..6]);
    let (_, _, fleet) = app.seed_fleet(&prefix, 1, "CREDENTIALS").await;
    let (id, uid) = fleet[0].clone();
    let bad = app
        .post_status_webhooks(vec![b"{\"AccountStatus\":{}}".to_vec()], 1)
        .await;
    assert_eq!(bad[0].0, 400);
    assert_eq!(
        app.store.inbox_depth().await.unwrap().waiting,
        0,
        "a malformed webhook was stored"
    );
    app.store
        .take_in_status_webhook(&uid, "CREDENTIALS")
        .await
        .unwrap();
    eventually(
        Duration::from_secs(60),
        "the row reconnect_needed",
        || async {
            (app.account(id).await.status == relink_domain::AccountStatus::ReconnectNeeded)
                .then_some(())
        },
    )
    .await;
    eventually(Duration::from_secs(10), "an empty inbox", || async {
        (app.store.inbox_depth().await.unwrap().waiting == 0).then_some(())
    })
    .await;
    assert_eq!(app.audit_count(id, "reconnect_needed").await, 1);
}

/// Two things at once on one stored webhook, driven step by step on a store with no
/// web tier beside it:
/// - a newer webhook for the account arrives while its hand-off is in flight: the
///   hand-off's end keeps the row (due at once, with the newer status), so the newer
///   status is handed off too;
/// - a lease runs out while its hand-off is still in flight, and a second tier claims
///   the same webhook: both hand-offs end cleanly and the row is gone once.
///
/// A claimed webhook is not claimed again while its lease holds, and a failed
/// hand-off is not due again at once.
#[tokio::test]
async fn a_webhook_arriving_during_its_accounts_hand_off_is_handed_off_after_it() {
    let store = fresh_store().await;
    let id = "acc-inbox-1".to_string();
    // What the passing of time does to a lease or a retry delay.
    let due_now = || async {
        sqlx::query("UPDATE status_webhook_inbox SET next_attempt_at = now()")
            .execute(store.pool())
            .await
            .unwrap();
    };
    store
        .take_in_status_webhook(&id, "CREDENTIALS")
        .await
        .unwrap();
    let first = store.claim_inbox(10).await.unwrap();
    assert_eq!(first.len(), 1);
    assert!(
        store.claim_inbox(10).await.unwrap().is_empty(),
        "a leased webhook was claimed by a second tier"
    );
    // The newer webhook lands while the first hand-off is with Temporal.
    store.take_in_status_webhook(&id, "OK").await.unwrap();
    store
        .finish_inbox_claim(&first, std::slice::from_ref(&id))
        .await
        .unwrap();
    let depth = store.inbox_depth().await.unwrap();
    assert_eq!(
        depth.waiting, 1,
        "the webhook that arrived mid-hand-off was deleted with the older one"
    );
    let second = store.claim_inbox(10).await.unwrap();
    assert_eq!(second.len(), 1, "the newer webhook is not due at once");
    assert_eq!(
        second[0].message, "OK",
        "the hand-off carries the newer status"
    );
    assert!(second[0].generation > first[0].generation);
    // That hand-off fails: counted, and not due again at once.
    store.finish_inbox_claim(&second, &[]).await.unwrap();
    assert!(store.claim_inbox(10).await.unwrap().is_empty());
    due_now().await;
    let retried = store.claim_inbox(10).await.unwrap();
    assert_eq!(retried.len(), 1);
    assert_eq!(retried[0].attempts, 1);
    // Its lease runs out mid-hand-off (written here as time would leave it), and a
    // second tier claims the same webhook.
    due_now().await;
    let again = store.claim_inbox(10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].generation, retried[0].generation);
    store
        .finish_inbox_claim(&retried, std::slice::from_ref(&id))
        .await
        .unwrap();
    store
        .finish_inbox_claim(&again, std::slice::from_ref(&id))
        .await
        .unwrap();
    assert_eq!(
        store.inbox_depth().await.unwrap().waiting,
        0,
        "a webhook handed off twice stayed in the inbox"
    );
}
