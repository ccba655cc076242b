//! The email sender's activity: claims the due outbox rows and delivers each over SMTP
//! (lettre), with a plain-text and an HTML part (maud escapes the account's name), the
//! row's stable Message-ID, and a signed single-account link to the account's page
//! (`relink_domain::emails`). At least once: a row is marked sent only after the SMTP
//! server accepted it; a failure is recorded and retried with exponential backoff.

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, MultiPart},
};
use relink_domain::emails::{
    ACCOUNT_LINK_TTL_SECS, EmailPassInput, EmailPassSummary, message_id, retry_delay_secs,
    sign_account_link,
};
use relink_store::{OutboxEmail, Store};
use relink_workflows::activities::names;
use std::sync::Arc;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use url::Url;

use crate::{PassClock, store_err};

/// How long a claimed email is reserved for this pass before another sender may take
/// it (seconds).
/// Longer than the pass may run (its start-to-close timeout is 600 s), so that a second
/// pass cannot claim a row this one is still sending.
const CLAIM_LEASE_SECS: i64 = 900;
/// The SMTP client's timeout per command: well under the pass's 60 s heartbeat timeout.
const SMTP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// How reconnect emails are sent: the SMTP server, the sender address, where links
/// point and the key that signs them.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    domain: String,
    public_base_url: Url,
    link_key: Vec<u8>,
}

/// A mailer setting that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MailerError {
    /// `SMTP_URL` is not an SMTP URL lettre understands (`smtp://`, `smtps://`, with
    /// `?tls=required` for STARTTLS).
    #[error("SMTP_URL: {0}")]
    SmtpUrl(String),
    /// `MAIL_FROM` is not an email address.
    #[error("MAIL_FROM: {0}")]
    MailFrom(String),
}

impl Mailer {
    /// A mailer over `smtp_url` sending as `mail_from` with links under
    /// `public_base_url`, signed with `link_key`. Errors: [`MailerError`].
    pub fn new(
        smtp_url: &str,
        mail_from: &str,
        public_base_url: Url,
        link_key: Vec<u8>,
    ) -> Result<Self, MailerError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)
            .map_err(|e| MailerError::SmtpUrl(e.to_string()))?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        let from: Mailbox = mail_from
            .parse()
            .map_err(|e: lettre::address::AddressError| MailerError::MailFrom(e.to_string()))?;
        let domain = from.email.domain().to_string();
        Ok(Self {
            transport,
            from,
            domain,
            public_base_url,
            link_key,
        })
    }

    /// The signed link to `email`'s account, valid for [`ACCOUNT_LINK_TTL_SECS`].
    fn account_link(&self, email: &OutboxEmail) -> String {
        let expires = chrono::Utc::now().timestamp() + ACCOUNT_LINK_TTL_SECS;
        let sig = sign_account_link(&self.link_key, email.account(), email.id, expires);
        format!(
            "{}/accounts/{}?email={}&exp={expires}&sig={sig}",
            self.public_base_url.as_str().trim_end_matches('/'),
            email.account_id,
            email.id
        )
    }

    /// The message for `email` to `to`: plain text and HTML, stable Message-ID.
    fn message(&self, email: &OutboxEmail, to: Mailbox) -> Result<Message, String> {
        let link = self.account_link(email);
        let name = &email.display_name;
        let text = format!(
            "LinkedIn ended the session of {name}, so its campaigns are paused.\n\n\
             Reconnect it here (the link opens this account and is valid for 7 days):\n{link}\n\n\
             The paused campaigns resume by themselves once the account is reconnected.\n"
        );
        let html = maud::html! {
            p { "LinkedIn ended the session of " strong { (name) } ", so its campaigns are paused." }
            p { a href=(link) { "Reconnect " (name) } " (the link opens this account and is valid for 7 days)." }
            p { "The paused campaigns resume by themselves once the account is reconnected." }
        }
        .into_string();
        Message::builder()
            .message_id(Some(message_id(email.id, email.account(), &self.domain)))
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone())
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| e.to_string())
    }
}

/// The email-sender activities.
pub struct EmailActivities {
    store: Store,
    mailer: Option<Mailer>,
}

impl EmailActivities {
    /// Over a shared store; `mailer` is `None` when no SMTP server is configured (a pass
    /// then sends nothing and says so).
    pub fn new(store: Store, mailer: Option<Mailer>) -> Self {
        Self { store, mailer }
    }

    /// One attempt for one claimed email. Returns what became of it.
    async fn deliver(
        &self,
        mailer: &Mailer,
        email: &OutboxEmail,
    ) -> Result<Delivery, ActivityError> {
        // A relink may have withdrawn it since the claim.
        if !self
            .store
            .email_still_wanted(email.id)
            .await
            .map_err(store_err)?
        {
            return Ok(Delivery::Withdrawn);
        }
        let attempt = u32::try_from(email.attempts).unwrap_or(0) + 1;
        let to = match email.recipient.as_deref().map(str::parse::<Mailbox>) {
            Some(Ok(to)) => to,
            Some(Err(e)) => {
                return self
                    .failed(email, attempt, &format!("recipient: {e}"))
                    .await;
            }
            None => {
                return self
                    .failed(email, attempt, "the account has no email address")
                    .await;
            }
        };
        let message = match mailer.message(email, to) {
            Ok(m) => m,
            Err(e) => return self.failed(email, attempt, &e).await,
        };
        match mailer.transport.send(message).await {
            Ok(_) => {
                let mid = message_id(email.id, email.account(), &mailer.domain);
                self.store
                    .record_email_sent(email.id, &mid)
                    .await
                    .map_err(store_err)?;
                tracing::info!(outbox_id = email.id, account_id = %email.account_id, message_id = %mid, "reconnect email sent");
                Ok(Delivery::Sent)
            }
            Err(e) => self.failed(email, attempt, &format!("SMTP: {e}")).await,
        }
    }

    async fn failed(
        &self,
        email: &OutboxEmail,
        attempt: u32,
        error: &str,
    ) -> Result<Delivery, ActivityError> {
        let retry = retry_delay_secs(attempt);
        tracing::warn!(outbox_id = email.id, account_id = %email.account_id, attempt, retry_in_secs = retry, error, "reconnect email not delivered");
        self.store
            .record_email_failed(email.id, error, retry)
            .await
            .map_err(store_err)?;
        Ok(Delivery::Failed)
    }
}

enum Delivery {
    Sent,
    Failed,
    Withdrawn,
}

#[activities]
impl EmailActivities {
    /// Implements `send_due_emails`.
    #[activity(name = names::SEND_DUE_EMAILS)]
    #[tracing::instrument(skip_all, fields(batch = input.batch))]
    pub async fn send_due_emails(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: EmailPassInput,
    ) -> Result<EmailPassSummary, ActivityError> {
        let mut summary = EmailPassSummary::default();
        let Some(mailer) = &self.mailer else {
            summary.not_configured = true;
            return Ok(summary);
        };
        let clock = PassClock::of(&ctx);
        let due = self
            .store
            // The full lease, not `clock.lease_secs`: one send is several SMTP commands of
            // up to SMTP_TIMEOUT each, so a send started before the deadline may outlast
            // it, and a shorter lease would let a later pass send the same email again.
            .claim_due_emails(input.batch.clamp(1, 1000), CLAIM_LEASE_SECS)
            .await
            .map_err(store_err)?;
        for email in &due {
            // One SMTP command may take up to SMTP_TIMEOUT: an email is started only
            // with that and a few seconds more left before the pass's deadline.
            if !clock.has(SMTP_TIMEOUT + std::time::Duration::from_secs(5)) {
                summary.deferred.push(email.id);
                continue;
            }
            match self.deliver(mailer, email).await? {
                Delivery::Sent => summary.sent.push(email.id),
                Delivery::Failed => summary.failed.push(email.id),
                Delivery::Withdrawn => summary.withdrawn.push(email.id),
            }
            if let Err(e) = ctx.record_heartbeat(()).await {
                tracing::warn!(error = %e, "heartbeat not recorded");
            }
        }
        self.store
            .record_schedule_success(relink_domain::emails::EMAIL_SENDER)
            .await
            .map_err(store_err)?;
        Ok(summary)
    }
}
