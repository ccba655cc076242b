//! The account-status webhook inbox (`status_webhook_inbox`, migration 0012): the web
//! tier answers Unipile once the webhook is stored here, and hands each stored webhook
//! to its account's durable sync (Temporal signal-with-start) behind the answer.
//!
//! A claim is a lease, committed at once ([`INBOX_LEASE_SECS`] on `next_attempt_at`):
//! no row lock is held while Temporal is called, so a webhook for a claimed account is
//! stored without waiting. A hand-off deletes its row only if no newer webhook folded
//! in meanwhile (`generation`); a tier that stops mid-hand-off leaves its rows to the
//! next claim once the lease ends. Several web tiers claim disjoint rows
//! (`FOR UPDATE SKIP LOCKED`). A webhook can be handed off twice (a lease that ran out
//! while its hand-off was still in flight): harmless, the sync re-reads the account.

use crate::{Store, StoreError};
use chrono::{DateTime, Utc};

/// Seconds a claim holds its webhooks before another claim may take them.
pub const INBOX_LEASE_SECS: f64 = 30.0;

/// A claimed webhook waiting for its hand-off.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct InboxEntry {
    /// The Unipile account the webhook named.
    pub unipile_account_id: String,
    /// The newest webhook's message (its status): the sync's hint.
    pub message: String,
    /// Hand-offs tried before this one.
    pub attempts: i32,
    /// Which fold of webhooks this claim took (a newer webhook bumps it).
    pub generation: i64,
}

/// The inbox as `/metrics` shows it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct InboxDepth {
    /// Webhooks waiting for their hand-off (one per account).
    pub waiting: i64,
    /// Seconds since the oldest of them arrived (0 when none waits).
    pub oldest_age_secs: f64,
}

/// Seconds before a failed hand-off is tried again: 1 s doubling per attempt, at most
/// 60 s.
pub fn inbox_retry_secs(attempts: i32) -> f64 {
    2f64.powi(attempts.clamp(0, 6)).min(60.0)
}

impl Store {
    /// Stores an account-status webhook for its hand-off: one row per Unipile account;
    /// a duplicate takes the newer message and bumps the generation, and is due at
    /// once unless earlier hand-offs failed (their retry delay stands). NUL characters,
    /// which PostgreSQL text cannot hold, are dropped from the message (a hint). One
    /// statement.
    pub async fn take_in_status_webhook(
        &self,
        unipile_account_id: &str,
        message: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO status_webhook_inbox (unipile_account_id, message) VALUES ($1, $2) \
             ON CONFLICT (unipile_account_id) DO UPDATE \
             SET message = EXCLUDED.message, generation = status_webhook_inbox.generation + 1, \
                 next_attempt_at = CASE WHEN status_webhook_inbox.attempts = 0 THEN now() \
                                        ELSE status_webhook_inbox.next_attempt_at END",
        )
        .bind(unipile_account_id)
        .bind(message.replace('\0', ""))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Claims up to `limit` webhooks that are due, oldest first, skipping rows another
    /// claim is taking at this instant: each is leased for [`INBOX_LEASE_SECS`]. An
    /// empty list when nothing is due. One statement, committed.
    pub async fn claim_inbox(&self, limit: i64) -> Result<Vec<InboxEntry>, StoreError> {
        let entries = sqlx::query_as(
            "UPDATE status_webhook_inbox SET next_attempt_at = now() + make_interval(secs => $2) \
             WHERE unipile_account_id IN (SELECT unipile_account_id FROM status_webhook_inbox \
               WHERE next_attempt_at <= now() ORDER BY received_at LIMIT $1 FOR UPDATE SKIP LOCKED) \
             RETURNING unipile_account_id, message, attempts, generation",
        )
        .bind(limit)
        .bind(INBOX_LEASE_SECS)
        .fetch_all(&self.pool)
        .await?;
        Ok(entries)
    }

    /// Ends a claim: deletes the webhooks in `handed` (their hand-off succeeded) unless
    /// a newer webhook folded in since the claim (then it stays, due at once), and puts
    /// the rest of `claimed` back with their attempt counted and a later due time
    /// ([`inbox_retry_secs`]). One transaction.
    pub async fn finish_inbox_claim(
        &self,
        claimed: &[InboxEntry],
        handed: &[String],
    ) -> Result<(), StoreError> {
        let (done, failed): (Vec<&InboxEntry>, Vec<&InboxEntry>) = claimed
            .iter()
            .partition(|e| handed.contains(&e.unipile_account_id));
        let ids = |v: &[&InboxEntry]| -> Vec<String> {
            v.iter().map(|e| e.unipile_account_id.clone()).collect()
        };
        let gens = |v: &[&InboxEntry]| -> Vec<i64> { v.iter().map(|e| e.generation).collect() };
        let delays: Vec<f64> = failed
            .iter()
            .map(|e| inbox_retry_secs(e.attempts))
            .collect();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "DELETE FROM status_webhook_inbox i USING unnest($1::text[], $2::bigint[]) AS d(id, generation) \
             WHERE i.unipile_account_id = d.id AND i.generation = d.generation",
        )
        .bind(ids(&done))
        .bind(gens(&done))
        .execute(&mut *tx)
        .await?;
        // Handed off, but a newer webhook folded in: due at once, from a fresh start.
        sqlx::query(
            "UPDATE status_webhook_inbox i SET next_attempt_at = now(), attempts = 0, received_at = now() \
             FROM unnest($1::text[]) AS d(id) WHERE i.unipile_account_id = d.id",
        )
        .bind(ids(&done))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE status_webhook_inbox i SET attempts = i.attempts + 1, \
             next_attempt_at = now() + make_interval(secs => f.secs) \
             FROM unnest($1::text[], $2::float8[]) AS f(id, secs) WHERE i.unipile_account_id = f.id",
        )
        .bind(ids(&failed))
        .bind(&delays)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// How many webhooks wait for their hand-off, and how long the oldest has waited.
    pub async fn inbox_depth(&self) -> Result<InboxDepth, StoreError> {
        let (waiting, oldest): (i64, Option<DateTime<Utc>>) =
            sqlx::query_as("SELECT count(*), min(received_at) FROM status_webhook_inbox")
                .fetch_one(&self.pool)
                .await?;
        Ok(InboxDepth {
            waiting,
            oldest_age_secs: oldest.map_or(0.0, |o| {
                (Utc::now() - o).num_milliseconds().max(0) as f64 / 1000.0
            }),
        })
    }
}
