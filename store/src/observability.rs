//! What the metrics and readiness endpoints read from PostgreSQL: a ping, the accounts
//! by pill state, and when each scheduled loop last finished a pass.

use chrono::{Duration, Utc};
use relink_domain::{AccountStatus, PillInput, PillState, SourceStatus, derive_pill};
use std::collections::BTreeMap;

use crate::{Store, StoreError};

/// One loop's freshness, as `Store::schedule_ages` reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScheduleAge {
    /// Seconds since the loop last finished a pass; `None` before its first.
    pub age_secs: Option<f64>,
    /// Its interval as last applied, seconds.
    pub interval_secs: Option<u64>,
}

impl Store {
    /// `SELECT 1`: whether PostgreSQL answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// How many accounts show each pill state now (the pill's own rule,
    /// `relink_domain::derive_pill`, applied to each group of rows that share the fields
    /// it reads). States with no account are absent.
    pub async fn accounts_by_pill_state(&self) -> Result<BTreeMap<PillState, i64>, StoreError> {
        let slow = relink_domain::pill::LINKING_SLOW_AFTER.num_seconds() as f64;
        let rows: Vec<(String, Option<String>, bool, i64)> = sqlx::query_as(
            "SELECT status, provider_status, \
               (connecting_since IS NULL OR connecting_since <= now() - make_interval(secs => $1)) AS slow, \
               count(*) FROM linkedin_accounts GROUP BY 1, 2, 3",
        )
        .bind(slow)
        .fetch_all(&self.pool)
        .await?;
        let now = Utc::now();
        let mut out = BTreeMap::new();
        for (status, provider, is_slow, n) in rows {
            let input = PillInput {
                status: status.parse::<AccountStatus>()?,
                provider_status: provider.map(|p| p.parse::<SourceStatus>()).transpose()?,
                connecting_since: Some(if is_slow {
                    now - Duration::hours(1)
                } else {
                    now
                }),
                last_activity_at: None,
            };
            *out.entry(derive_pill(&input, now).state).or_insert(0) += n;
        }
        Ok(out)
    }

    /// Records that loop `schedule` (e.g. `account-reconciler`) finished a pass now.
    pub async fn record_schedule_success(&self, schedule: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO schedule_runs (schedule, last_success_at) VALUES ($1, now()) \
             ON CONFLICT (schedule) DO UPDATE SET last_success_at = now()",
        )
        .bind(schedule)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records each Schedule's interval (seconds) as `starter schedules apply` set it.
    pub async fn record_schedule_intervals(
        &self,
        intervals: &[(String, u64)],
    ) -> Result<(), StoreError> {
        for (schedule, secs) in intervals {
            sqlx::query(
                "INSERT INTO schedule_runs (schedule, interval_secs) VALUES ($1, $2) \
                 ON CONFLICT (schedule) DO UPDATE SET interval_secs = EXCLUDED.interval_secs",
            )
            .bind(schedule)
            .bind(i32::try_from(*secs).unwrap_or(i32::MAX))
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    /// Each loop's seconds since its last finished pass (`None`: never finished one),
    /// by PostgreSQL's clock, and its recorded interval, by schedule id.
    pub async fn schedule_ages(&self) -> Result<BTreeMap<String, ScheduleAge>, StoreError> {
        let rows: Vec<(String, Option<f64>, Option<i32>)> = sqlx::query_as(
            "SELECT schedule, extract(epoch FROM now() - last_success_at)::float8, interval_secs \
             FROM schedule_runs",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(s, age, every)| {
                (
                    s,
                    ScheduleAge {
                        age_secs: age,
                        interval_secs: every.and_then(|e| u64::try_from(e).ok()),
                    },
                )
            })
            .collect())
    }
}
