//! The email outbox (`email_outbox`): rows are queued in the transaction of the change
//! they announce (a disconnect queues one reconnect email per episode, a relink
//! withdraws it), and the email sender claims the due ones, sends them, and records
//! each attempt and its outcome.

use chrono::{DateTime, Utc};
use relink_domain::AccountId;

use crate::{Store, StoreError};

/// One email to deliver, as claimed by the sender.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OutboxEmail {
    /// Outbox row id (the Message-ID is derived from it).
    pub id: i64,
    /// The account it is about.
    pub account_id: uuid::Uuid,
    /// The account's display name.
    pub display_name: String,
    /// Where it goes (the account owner's address), if known.
    pub recipient: Option<String>,
    /// Subject line.
    pub subject: String,
    /// Attempts made before this one.
    pub attempts: i32,
}

impl OutboxEmail {
    /// The account it is about.
    pub fn account(&self) -> AccountId {
        AccountId(self.account_id)
    }
}

/// An outbox row as an operator or a test reads it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OutboxState {
    /// Outbox row id.
    pub id: i64,
    /// When it was sent (UTC), once.
    pub sent_at: Option<DateTime<Utc>>,
    /// When it was withdrawn (UTC): never sent after that.
    pub withdrawn_at: Option<DateTime<Utc>>,
    /// Delivery attempts so far.
    pub attempts: i32,
    /// The last failed attempt's error.
    pub last_error: Option<String>,
    /// When the next attempt is due (UTC).
    pub next_attempt_at: DateTime<Utc>,
    /// The Message-ID it was sent with.
    pub message_id: Option<String>,
}

/// Withdraws, inside the caller's transaction, every still-unsent reconnect email of
/// `account`: what it announces is no longer true (the account was relinked or
/// disconnected by the user). A withdrawn email is never sent.
pub(crate) async fn withdraw_pending(
    conn: &mut sqlx::PgConnection,
    account: AccountId,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE email_outbox SET withdrawn_at = now() \
         WHERE account_id = $1 AND kind = 'reconnect_needed' AND sent_at IS NULL AND withdrawn_at IS NULL",
    )
    .bind(account.0)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl Store {
    /// Claims at most `limit` due emails (not sent, not withdrawn, next attempt due, fewer
    /// than `MAX_DELIVERY_ATTEMPTS` attempts, account still `reconnect_needed`), oldest
    /// first, and moves their next attempt `lease_secs` ahead, so that a second
    /// sender running meanwhile skips them. A crash after the claim leaves them due
    /// again once the lease is over.
    pub async fn claim_due_emails(
        &self,
        limit: i64,
        lease_secs: i64,
    ) -> Result<Vec<OutboxEmail>, StoreError> {
        // An email whose account no longer needs a login (flipped away some other way
        // than a relink, e.g. gone or disconnected at a subscription's end) is withdrawn:
        // it would announce something no longer true.
        sqlx::query(
            "UPDATE email_outbox e SET withdrawn_at = now() FROM linkedin_accounts a \
             WHERE a.id = e.account_id AND e.kind = 'reconnect_needed' AND e.sent_at IS NULL \
               AND e.withdrawn_at IS NULL AND a.status NOT IN ('reconnect_needed', 'connecting')",
        )
        .execute(&self.pool)
        .await?;
        Ok(sqlx::query_as(
            "WITH due AS ( \
                 SELECT e.id FROM email_outbox e JOIN linkedin_accounts a ON a.id = e.account_id \
                 WHERE e.sent_at IS NULL AND e.withdrawn_at IS NULL AND e.next_attempt_at <= now() \
                   AND e.attempts < $3 AND a.status = 'reconnect_needed' \
                 ORDER BY e.id LIMIT $1 FOR UPDATE OF e SKIP LOCKED) \
             UPDATE email_outbox e SET next_attempt_at = now() + make_interval(secs => $2) \
             FROM due, linkedin_accounts a \
             WHERE e.id = due.id AND a.id = e.account_id \
             RETURNING e.id, e.account_id, a.display_name, e.recipient, e.subject, e.attempts",
        )
        .bind(limit)
        .bind(lease_secs as f64)
        .bind(relink_domain::emails::MAX_DELIVERY_ATTEMPTS)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Whether email `id` is still to be sent (neither sent nor withdrawn): checked right
    /// before the SMTP transaction.
    pub async fn email_still_wanted(&self, id: i64) -> Result<bool, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM email_outbox WHERE id = $1 AND sent_at IS NULL AND withdrawn_at IS NULL)",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Records a delivered attempt: sent now with `message_id` (counts the attempt).
    pub async fn record_email_sent(&self, id: i64, message_id: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE email_outbox SET sent_at = now(), message_id = $2, attempts = attempts + 1, \
             last_attempt_at = now(), last_error = NULL WHERE id = $1 AND sent_at IS NULL",
        )
        .bind(id)
        .bind(message_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a failed attempt with its `error`; the next one is due in
    /// `retry_after_secs` (`relink_domain::emails::retry_delay_secs`).
    pub async fn record_email_failed(
        &self,
        id: i64,
        error: &str,
        retry_after_secs: u64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE email_outbox SET attempts = attempts + 1, last_attempt_at = now(), last_error = $2, \
             next_attempt_at = now() + make_interval(secs => $3) WHERE id = $1 AND sent_at IS NULL",
        )
        .bind(id)
        .bind(error.chars().take(500).collect::<String>())
        .bind(retry_after_secs as f64)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every outbox row of `account`, oldest first.
    pub async fn outbox_of(&self, account: AccountId) -> Result<Vec<OutboxState>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, sent_at, withdrawn_at, attempts, last_error, next_attempt_at, message_id \
             FROM email_outbox WHERE account_id = $1 ORDER BY id",
        )
        .bind(account.0)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Whether outbox email `outbox_id` may still open `account`'s page: it was sent,
    /// not withdrawn, it is the account's newest email, and the account is not
    /// connected (an email from an earlier episode opens nothing).
    pub async fn account_link_current(
        &self,
        account: AccountId,
        outbox_id: i64,
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM email_outbox e JOIN linkedin_accounts a ON a.id = e.account_id \
             WHERE e.id = $2 AND e.account_id = $1 AND e.sent_at IS NOT NULL AND e.withdrawn_at IS NULL \
               AND a.status <> 'connected' \
               AND e.id = (SELECT max(id) FROM email_outbox WHERE account_id = $1))",
        )
        .bind(account.0)
        .bind(outbox_id)
        .fetch_one(&self.pool)
        .await?)
    }
}
