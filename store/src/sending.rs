//! The send gate (DESIGN.md, "Send pacing and the send gate"): one atomic statement
//! reserves a slot for one action type on one account, within the daily cap (lowered by
//! the ramp) and the rolling 7-day cap; the window, active days and status are checked
//! first. Otherwise the answer says when the next slot opens.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc, Weekday};
use relink_domain::{
    AccountId, AccountStatus,
    pacing::{ActionType, Caps, History, SendSettings},
};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{Store, StoreError};

/// Caps used when an account has none configured for an action type: conservative
/// LinkedIn-safe defaults (per UTC day, per rolling 7 days).
pub fn default_caps(action: ActionType) -> Caps {
    match action {
        ActionType::Invite => Caps {
            daily: 20,
            weekly: 100,
        },
        ActionType::Message => Caps {
            daily: 50,
            weekly: 250,
        },
        ActionType::Inmail => Caps {
            daily: 5,
            weekly: 25,
        },
        ActionType::ProfileView => Caps {
            daily: 80,
            weekly: 400,
        },
    }
}

/// The gate's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum GateAnswer {
    /// A slot is reserved now.
    Reserved {
        /// Always true.
        reserved: bool,
        /// The reserved slot (now, UTC).
        slot: DateTime<Utc>,
    },
    /// No slot now.
    Deferred {
        /// Always false.
        reserved: bool,
        /// When to ask again (UTC).
        retry_at: DateTime<Utc>,
        /// `account_not_connected`, `campaign_paused`, `outside_sending_window`,
        /// `daily_cap`, `weekly_cap`, `ramp`, `deferred_internal`.
        reason: String,
    },
}

fn deferred(retry_at: DateTime<Utc>, reason: &str) -> GateAnswer {
    GateAnswer::Deferred {
        reserved: false,
        retry_at,
        reason: reason.into(),
    }
}

fn weekday_from_iso(n: i16) -> Option<Weekday> {
    Some(match n {
        1 => Weekday::Mon,
        2 => Weekday::Tue,
        3 => Weekday::Wed,
        4 => Weekday::Thu,
        5 => Weekday::Fri,
        6 => Weekday::Sat,
        7 => Weekday::Sun,
        _ => return None,
    })
}

fn midnight_after(day: NaiveDate) -> DateTime<Utc> {
    (day + Duration::days(1)).and_time(NaiveTime::MIN).and_utc()
}

impl Store {
    /// An account's sending rules (defaults: UTC, 09:00–18:00, Monday–Friday, no ramp).
    pub async fn send_settings(&self, account: AccountId) -> Result<SendSettings, StoreError> {
        let mut conn = self.pool.acquire().await?;
        load_settings(&mut conn, account).await
    }

    /// An action type's caps for an account (the defaults when none are configured).
    pub async fn caps(&self, account: AccountId, action: ActionType) -> Result<Caps, StoreError> {
        let mut conn = self.pool.acquire().await?;
        load_caps(&mut conn, account, action).await
    }

    /// Sent counts of one action type per UTC day, from `since` on.
    pub async fn send_history(
        &self,
        account: AccountId,
        action: ActionType,
        since: NaiveDate,
    ) -> Result<History, StoreError> {
        let mut conn = self.pool.acquire().await?;
        load_history(&mut conn, account, action, since).await
    }
    /// Sets an account's sending rules. Errors: [`StoreError::Conflict`] for an unknown
    /// IANA time zone or an empty set of active days.
    pub async fn set_send_settings(
        &self,
        account: AccountId,
        time_zone: &str,
        window_start: NaiveTime,
        window_end: NaiveTime,
        active_days: &[Weekday],
        ramp_start: Option<NaiveDate>,
    ) -> Result<(), StoreError> {
        if time_zone.parse::<chrono_tz::Tz>().is_err() {
            return Err(StoreError::Conflict(format!(
                "unknown IANA time zone {time_zone:?}"
            )));
        }
        if active_days.is_empty() {
            return Err(StoreError::Conflict(
                "at least one active day is needed".into(),
            ));
        }
        let days: Vec<i16> = active_days
            .iter()
            .map(|d| d.number_from_monday() as i16)
            .collect();
        sqlx::query(
            "INSERT INTO account_send_settings (account_id, time_zone, window_start, window_end, active_days, ramp_start) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (account_id) DO UPDATE SET time_zone = $2, \
             window_start = $3, window_end = $4, active_days = $5, ramp_start = $6",
        )
        .bind(account.0)
        .bind(time_zone)
        .bind(window_start)
        .bind(window_end)
        .bind(&days)
        .bind(ramp_start)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Sets one action type's caps for an account.
    pub async fn set_caps(
        &self,
        account: AccountId,
        action: ActionType,
        caps: Caps,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO account_send_caps (account_id, action, daily_cap, weekly_cap) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (account_id, action) DO UPDATE SET daily_cap = $3, weekly_cap = $4",
        )
        .bind(account.0)
        .bind(action.as_str())
        .bind(caps.daily as i32)
        .bind(caps.weekly as i32)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The send gate: reserves one `action` slot on `account` at `now` (UTC), for
    /// `campaign` when given, or says when to ask again.
    ///
    /// Errors: [`StoreError::NotFound`] for an unknown account or a campaign of another
    /// account; [`StoreError::Db`] when the database cannot answer (the caller defers).
    pub async fn reserve_send(
        &self,
        account: AccountId,
        action: ActionType,
        campaign: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> Result<GateAnswer, StoreError> {
        let row = self.account(account).await?;
        if row.status != AccountStatus::Connected {
            return Ok(deferred(
                now + Duration::minutes(15),
                "account_not_connected",
            ));
        }
        if let Some(c) = campaign {
            let status: Option<String> = sqlx::query_scalar(
                "SELECT status FROM campaigns WHERE id = $1 AND account_id = $2",
            )
            .bind(c)
            .bind(account.0)
            .fetch_optional(&self.pool)
            .await?;
            match status.as_deref() {
                None => return Err(StoreError::NotFound(format!("campaign {c}"))),
                Some("paused") => {
                    return Ok(deferred(now + Duration::minutes(15), "campaign_paused"));
                }
                Some(_) => {}
            }
        }
        let settings = self.send_settings(account).await?;
        if !settings.in_window(now) {
            let at = settings.next_open(now).unwrap_or(now + Duration::days(1));
            return Ok(deferred(at, "outside_sending_window"));
        }
        let caps = self.caps(account, action).await?;
        let today = now.date_naive();
        let limit = settings.daily_limit(today, caps);
        let next_day_open = |day: NaiveDate| {
            let t = midnight_after(day);
            settings.next_open(t).unwrap_or(t)
        };
        if limit == 0 {
            return Ok(deferred(
                next_day_open(today),
                if caps.daily == 0 { "daily_cap" } else { "ramp" },
            ));
        }
        // One statement: insert today's counter or bump it, only while the account is
        // connected, the campaign (if any) active, and under the daily limit and the
        // rolling weekly cap. Today's row is locked by the upsert, so its current value
        // (not the statement snapshot) is what the caps are checked on; earlier days are
        // not written concurrently.
        let reserved: Option<i32> = sqlx::query_scalar(
            "WITH earlier AS ( \
                 SELECT COALESCE(sum(sent), 0)::int AS n FROM account_send_counters \
                 WHERE account_id = $1 AND action = $2 AND day > $3::date - 7 AND day < $3::date), \
             allowed AS ( \
                 SELECT EXISTS (SELECT 1 FROM linkedin_accounts WHERE id = $1 AND status = 'connected') \
                    AND ($6::uuid IS NULL OR EXISTS (SELECT 1 FROM campaigns WHERE id = $6 AND status = 'active')) AS ok) \
             INSERT INTO account_send_counters AS c (account_id, action, day, sent) \
             SELECT $1, $2, $3, 1 FROM earlier, allowed WHERE allowed.ok AND $4 > 0 AND earlier.n < $5 \
             ON CONFLICT (account_id, action, day) DO UPDATE SET sent = c.sent + 1 \
             WHERE (SELECT ok FROM allowed) AND c.sent < $4 \
               AND c.sent + (SELECT n FROM earlier) < $5 \
             RETURNING c.sent",
        )
        .bind(account.0)
        .bind(action.as_str())
        .bind(today)
        .bind(limit as i32)
        .bind(caps.weekly as i32)
        .bind(campaign)
        .fetch_optional(&self.pool)
        .await?;
        if reserved.is_some() {
            return Ok(GateAnswer::Reserved {
                reserved: true,
                slot: now,
            });
        }
        // Refused: say why (status and pause first: they may have changed meanwhile).
        let still = self.account(account).await?;
        if still.status != AccountStatus::Connected {
            return Ok(deferred(
                now + Duration::minutes(15),
                "account_not_connected",
            ));
        }
        if let Some(c) = campaign {
            let paused: bool =
                sqlx::query_scalar("SELECT status = 'paused' FROM campaigns WHERE id = $1")
                    .bind(c)
                    .fetch_one(&self.pool)
                    .await?;
            if paused {
                return Ok(deferred(now + Duration::minutes(15), "campaign_paused"));
            }
        }
        let history = self
            .send_history(account, action, today - Duration::days(6))
            .await?;
        let sent_today = history.get(&today).copied().unwrap_or(0);
        if sent_today >= limit {
            let why = if limit < caps.daily {
                "ramp"
            } else {
                "daily_cap"
            };
            return Ok(deferred(next_day_open(today), why));
        }
        // Weekly cap: a slot frees when the oldest counted day leaves the 7-day window.
        let oldest = history
            .iter()
            .find(|(_, n)| **n > 0)
            .map(|(d, _)| *d)
            .unwrap_or(today);
        let frees = midnight_after(oldest + Duration::days(6));
        Ok(deferred(
            settings.next_open(frees).unwrap_or(frees),
            "weekly_cap",
        ))
    }

    /// Records the sender's outcome of one action of `account` (POST
    /// /api/accounts/{id}/send-outcomes) in the campaign's failure-rate window and, when
    /// the window trips (`relink_domain::truth::failure_rate_trips`: at least 5
    /// failures and 30 % of the last 20 outcomes within an hour), pauses the campaign
    /// with `linkedin_high_failure_rate` (enrollments soft-paused at their step), in one
    /// transaction. The resume after a reconnect clears the window.
    ///
    /// Errors: [`StoreError::NotFound`] for a campaign that is not `account`'s.
    pub async fn record_send_outcome(
        &self,
        account: AccountId,
        report: &relink_domain::inbound::SendOutcomeReport,
    ) -> Result<OutcomeEffect, StoreError> {
        use relink_domain::truth::{FAILURE_WINDOW_SECS, FAILURE_WINDOW_SENDS, failure_rate_trips};
        let mut tx = self.pool.begin().await?;
        let found: Option<Uuid> = sqlx::query_scalar(
            "SELECT id FROM campaigns WHERE id = $1 AND account_id = $2 FOR UPDATE",
        )
        .bind(report.campaign_id)
        .bind(account.0)
        .fetch_optional(&mut *tx)
        .await?;
        if found.is_none() {
            return Err(StoreError::NotFound(format!(
                "campaign {}",
                report.campaign_id
            )));
        }
        sqlx::query(
            "INSERT INTO campaign_send_outcomes (campaign_id, action, outcome, provider_error) VALUES ($1, $2, $3, $4)",
        )
        .bind(report.campaign_id)
        .bind(report.action.as_str())
        .bind(report.outcome.as_str())
        .bind(&report.provider_error)
        .execute(&mut *tx)
        .await?;
        let (failures, outcomes): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE outcome = 'failed'), count(*) FROM ( \
                 SELECT outcome FROM campaign_send_outcomes \
                 WHERE campaign_id = $1 AND occurred_at > now() - make_interval(secs => $2) \
                 ORDER BY id DESC LIMIT $3) w",
        )
        .bind(report.campaign_id)
        .bind(FAILURE_WINDOW_SECS as f64)
        .bind(FAILURE_WINDOW_SENDS)
        .fetch_one(&mut *tx)
        .await?;
        let mut campaign_paused = false;
        if report.outcome == relink_domain::inbound::SendOutcome::Failed
            && failure_rate_trips(failures, outcomes)
        {
            let added = crate::campaigns::pause_campaigns(
                &mut tx,
                &[report.campaign_id],
                relink_domain::PauseReason::LinkedinHighFailureRate,
                &format!("{failures} of the last {outcomes} sends failed"),
            )
            .await?;
            campaign_paused = !added.is_empty();
        }
        tx.commit().await?;
        Ok(OutcomeEffect {
            campaign_paused,
            window_failures: failures,
            window_outcomes: outcomes,
        })
    }
}

/// Every action type, in a fixed order (for tables such as `starter plan-sends`).
pub const ACTION_TYPES: [ActionType; 4] = [
    ActionType::Invite,
    ActionType::Message,
    ActionType::Inmail,
    ActionType::ProfileView,
];

/// An account's sending rules (defaults: UTC, 09:00–18:00, Monday–Friday, no ramp).
pub(crate) async fn load_settings(
    conn: &mut PgConnection,
    account: AccountId,
) -> Result<SendSettings, StoreError> {
    /// time zone, window start, window end, active days, ramp start.
    type Row = (String, NaiveTime, NaiveTime, Vec<i16>, Option<NaiveDate>);
    let row: Option<Row> = sqlx::query_as(
        "SELECT time_zone, window_start, window_end, active_days, ramp_start FROM account_send_settings WHERE account_id = $1",
    )
    .bind(account.0)
    .fetch_optional(&mut *conn)
    .await?;
    let (tz, start, end, days, ramp) = row.unwrap_or_else(|| {
        (
            "UTC".into(),
            NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default(),
            NaiveTime::from_hms_opt(18, 0, 0).unwrap_or_default(),
            vec![1, 2, 3, 4, 5],
            None,
        )
    });
    Ok(SendSettings {
        time_zone: tz
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("time zone {tz:?}")))?,
        window_start: start,
        window_end: end,
        active_days: days.into_iter().filter_map(weekday_from_iso).collect(),
        ramp_start: ramp,
    })
}

pub(crate) async fn load_caps(
    conn: &mut PgConnection,
    account: AccountId,
    action: ActionType,
) -> Result<Caps, StoreError> {
    let row: Option<(i32, i32)> = sqlx::query_as(
        "SELECT daily_cap, weekly_cap FROM account_send_caps WHERE account_id = $1 AND action = $2",
    )
    .bind(account.0)
    .bind(action.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map_or(default_caps(action), |(d, w)| Caps {
        daily: d.max(0) as u32,
        weekly: w.max(0) as u32,
    }))
}

pub(crate) async fn load_history(
    conn: &mut PgConnection,
    account: AccountId,
    action: ActionType,
    since: NaiveDate,
) -> Result<History, StoreError> {
    let rows: Vec<(NaiveDate, i32)> = sqlx::query_as(
        "SELECT day, sent FROM account_send_counters WHERE account_id = $1 AND action = $2 AND day >= $3",
    )
    .bind(account.0)
    .bind(action.as_str())
    .bind(since)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(d, n)| (d, n.max(0) as u32))
        .collect())
}

/// The action an enrollment's current step performs: the first step of a LinkedIn
/// sequence is the connection invite, later steps are messages.
pub fn action_of_step(step: i32) -> ActionType {
    if step == 0 {
        ActionType::Invite
    } else {
        ActionType::Message
    }
}

/// Days ahead the pacer plans for woken enrollments; whatever does not fit is due after.
const PACE_HORIZON_DAYS: u32 = 60;

/// Paces the enrollments of `campaigns` that are active and due (no `next_due_at`, or
/// one in the past) through the pacer, inside the caller's transaction: per account and
/// action type, day by day within the caps, the ramp and the sending window, in the
/// order they became due. A backlog after a long disconnect is spread over the
/// following days, never burst. Steps are not touched.
pub(crate) async fn pace_due_enrollments(
    conn: &mut PgConnection,
    campaigns: &[Uuid],
) -> Result<u64, StoreError> {
    if campaigns.is_empty() {
        return Ok(0);
    }
    let now = Utc::now();
    let due: Vec<(Uuid, i32, Uuid)> = sqlx::query_as(
        "SELECT e.id, e.current_step, c.account_id FROM campaign_enrollments e JOIN campaigns c ON c.id = e.campaign_id \
         WHERE e.campaign_id = ANY($1) AND e.state = 'active' AND (e.next_due_at IS NULL OR e.next_due_at <= $2) \
         ORDER BY e.next_due_at NULLS FIRST, e.id",
    )
    .bind(campaigns)
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    let mut groups: std::collections::BTreeMap<(Uuid, ActionType), Vec<Uuid>> = Default::default();
    for (id, step, account) in due {
        groups
            .entry((account, action_of_step(step)))
            .or_default()
            .push(id);
    }
    let mut paced = 0u64;
    for ((account, action), ids) in groups {
        let account = AccountId(account);
        let settings = load_settings(conn, account).await?;
        let caps = load_caps(conn, account, action).await?;
        let history =
            load_history(conn, account, action, now.date_naive() - Duration::days(6)).await?;
        let plan = relink_domain::pacing::plan(
            &settings,
            caps,
            &history,
            ids.len() as u32,
            now,
            PACE_HORIZON_DAYS,
        );
        let mut slots: Vec<DateTime<Utc>> = Vec::with_capacity(ids.len());
        for day in &plan {
            if let Some(open) = day.opens_at {
                slots.extend(std::iter::repeat_n(open, day.slots as usize));
            }
        }
        let beyond = now + Duration::days(i64::from(PACE_HORIZON_DAYS));
        let times: Vec<DateTime<Utc>> = (0..ids.len())
            .map(|i| slots.get(i).copied().unwrap_or(beyond))
            .collect();
        paced += sqlx::query(
            "UPDATE campaign_enrollments e SET next_due_at = t.at, updated_at = now() \
             FROM unnest($1::uuid[], $2::timestamptz[]) AS t(id, at) WHERE e.id = t.id",
        )
        .bind(&ids)
        .bind(&times)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    }
    Ok(paced)
}

/// What recording one send outcome did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct OutcomeEffect {
    /// The campaign got the `linkedin_high_failure_rate` reason just now.
    pub campaign_paused: bool,
    /// Failures and outcomes in the campaign's failure-rate window after this one.
    pub window_failures: i64,
    /// Outcomes in the window.
    pub window_outcomes: i64,
}
