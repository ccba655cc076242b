//! The account-status webhook inbox (`status_webhook_inbox`, migration 0012): the web
//! tier answers Unipile once the webhook is stored here, and hands each stored webhook
//! to its account's durable sync (Temporal signal-with-start) behind the answer.
//! Claims are `FOR UPDATE SKIP LOCKED`, so several web tiers hand off disjoint rows; a
//! row is deleted in the transaction that claimed it, only once its hand-off
//! succeeded.

use crate::{Store, StoreError};
use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};

/// A stored webhook waiting for its hand-off.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct InboxEntry {
    /// The Unipile account the webhook named.
    pub unipile_account_id: String,
    /// The webhook's message (its status): the sync's hint.
    pub message: String,
    /// Hand-offs tried before this one.
    pub attempts: i32,
}

/// Webhooks claimed by one web tier ([`Store::claim_inbox`]); the rows stay locked
/// until [`InboxBatch::finish`]. Dropped unfinished, the claim is rolled back and every
/// row waits for the next claim.
pub struct InboxBatch {
    tx: Transaction<'static, Postgres>,
    /// The claimed webhooks, oldest first.
    pub entries: Vec<InboxEntry>,
}

/// The inbox as `/metrics` shows it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct InboxDepth {
    /// Webhooks waiting for their hand-off.
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
    /// Stores an account-status webhook for its hand-off: one row per Unipile account,
    /// a duplicate taking the newer message (and due at once). One statement.
    pub async fn take_in_status_webhook(
        &self,
        unipile_account_id: &str,
        message: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO status_webhook_inbox (unipile_account_id, message) VALUES ($1, $2) \
             ON CONFLICT (unipile_account_id) DO UPDATE \
             SET message = EXCLUDED.message, received_at = now(), next_attempt_at = now()",
        )
        .bind(unipile_account_id)
        .bind(message)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Claims up to `limit` webhooks that are due, oldest first, skipping those another
    /// web tier holds. An empty batch when nothing is due.
    pub async fn claim_inbox(&self, limit: i64) -> Result<InboxBatch, StoreError> {
        let mut tx = self.pool.begin().await?;
        let entries: Vec<InboxEntry> = sqlx::query_as(
            "SELECT unipile_account_id, message, attempts FROM status_webhook_inbox \
             WHERE next_attempt_at <= now() ORDER BY received_at LIMIT $1 FOR UPDATE SKIP LOCKED",
        )
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        Ok(InboxBatch { tx, entries })
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

impl InboxBatch {
    /// Ends the claim: deletes the webhooks in `handed` (their hand-off succeeded) and
    /// puts the others back with their attempt counted and a later due time
    /// ([`inbox_retry_secs`]). A webhook for the same account that arrived meanwhile
    /// waited for this claim's lock and is stored after it, so none is lost.
    pub async fn finish(mut self, handed: &[String]) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM status_webhook_inbox WHERE unipile_account_id = ANY($1)")
            .bind(handed)
            .execute(&mut *self.tx)
            .await?;
        let (failed, delays): (Vec<String>, Vec<f64>) = self
            .entries
            .iter()
            .filter(|e| !handed.contains(&e.unipile_account_id))
            .map(|e| (e.unipile_account_id.clone(), inbox_retry_secs(e.attempts)))
            .unzip();
        if !failed.is_empty() {
            sqlx::query(
                "UPDATE status_webhook_inbox i SET attempts = i.attempts + 1, \
                 next_attempt_at = now() + make_interval(secs => f.secs) \
                 FROM unnest($1::text[], $2::float8[]) AS f(id, secs) WHERE i.unipile_account_id = f.id",
            )
            .bind(&failed)
            .bind(&delays)
            .execute(&mut *self.tx)
            .await?;
        }
        self.tx.commit().await?;
        Ok(())
    }
}
