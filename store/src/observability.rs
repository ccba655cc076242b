//! What the metrics and readiness endpoints read from PostgreSQL: a ping, the accounts
//! by pill state, and when each scheduled loop last finished a pass.

use chrono::{DateTime, Duration, Utc};
use relink_domain::{AccountStatus, PillInput, PillState, SourceStatus, derive_pill};
use std::collections::BTreeMap;

use crate::{Store, StoreError};

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

    /// When each loop last finished a pass (UTC), by schedule id.
    pub async fn schedule_successes(&self) -> Result<BTreeMap<String, DateTime<Utc>>, StoreError> {
        let rows: Vec<(String, DateTime<Utc>)> =
            sqlx::query_as("SELECT schedule, last_success_at FROM schedule_runs")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().collect())
    }
}
