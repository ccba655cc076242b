//! The reconciler's pass staged in PostgreSQL instead of in the worker's memory
//! (issue 14): the linked rows (read first, with their versions), Unipile's listing
//! (one statement per page) and the plan (one set-based join against the rule's
//! table) live in temporary tables of one connection that belongs to the pass. The
//! worker holds a page, or a batch of planned decisions, at a time; the sanity gate
//! still counts the whole plan before anything is written.
//!
//! The tables are temporary: they vanish with the connection, so a worker killed
//! mid-pass leaves nothing behind, and the retried activity stages afresh (its writes
//! are compare-and-set on the versions it reads then).

use crate::{Store, StoreError};
use relink_domain::{
    AccountId, AccountStatus, SourceStatus,
    truth::{Decision, Seen},
};
use sqlx::{Connection, Postgres, pool::PoolConnection};
use uuid::Uuid;

/// One pass's staging: a connection taken out of the pool for the pass (it is closed,
/// never returned) whose temporary tables hold the snapshot of linked rows, the listing
/// and the plan. Dropping it closes the connection and with it the tables.
pub struct ReconcileStage {
    conn: PoolConnection<Postgres>,
    /// `decision_table()` as given to [`ReconcileStage::plan`], indexed by `idx`.
    table: Vec<Decision>,
}

/// A planned decision for one staged row, as [`ReconcileStage::planned`] reads it.
#[derive(Debug, Clone)]
pub struct StagedDecision {
    /// Row id.
    pub id: AccountId,
    /// Status read before the listing.
    pub status: AccountStatus,
    /// Version read before the listing (the compare-and-set).
    pub version: i64,
    /// The Unipile account it names.
    pub unipile_account_id: String,
    /// What the listing said of it.
    pub seen: Seen,
    /// Whether the row may come back on a live session (its workspace's subscription).
    pub may_recover: bool,
    /// What the rule decided.
    pub decision: Decision,
}

/// The counts of a staged plan ([`ReconcileStage::plan`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlanCounts {
    /// Planned status flips.
    pub flips: u64,
    /// Of those, flips away from `connected` (what the sanity gate counts).
    pub away: u64,
    /// Source statuses to record (no flip), where the row's differs.
    pub records: u64,
}

/// Which planned decisions [`ReconcileStage::planned`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Planned {
    /// The status flips.
    Flips,
    /// The status flips that are not away from `connected` (what a pass held by its
    /// sanity gate still writes).
    Recoveries,
    /// The records of a source status.
    Records,
}

impl Store {
    /// Opens a pass's staging on a connection of its own and snapshots every row that
    /// names a Unipile session (id, status, version, provider status and whether its
    /// workspace's subscription lets it recover): read *before* the listing, so that a
    /// row changed while the pages load makes its write a no-op instead of being
    /// undone. Returns the stage and the number of rows (the fleet).
    pub async fn stage_reconcile(&self) -> Result<(ReconcileStage, u64), StoreError> {
        let mut conn = self.pool.acquire().await?;
        // Closed when the stage is dropped: its temporary tables never reach another
        // user of the pool.
        conn.close_on_drop();
        // One statement per query: `raw_sql`'s future is not `Send` for every lifetime,
        // which an activity needs.
        for ddl in [
            // The listing's key makes a later entry for an account replace an earlier
            // one; the plan's serves its keyset reads. The plan itself is a hash join.
            "CREATE TEMP TABLE staged_rows (id uuid NOT NULL, status text NOT NULL, version bigint NOT NULL, \
               unipile_account_id text NOT NULL, provider_status text, may_recover boolean NOT NULL)",
            "CREATE TEMP TABLE staged_listing (unipile_account_id text PRIMARY KEY, source_status text NOT NULL)",
            "CREATE TEMP TABLE staged_plan (id uuid PRIMARY KEY, status text NOT NULL, version bigint NOT NULL, \
               unipile_account_id text NOT NULL, may_recover boolean NOT NULL, idx int NOT NULL, \
               flip boolean NOT NULL, away boolean NOT NULL, source_status text)",
        ] {
            sqlx::query(ddl).execute(&mut *conn).await?;
        }
        let fleet = sqlx::query(
            "INSERT INTO staged_rows \
             SELECT a.id, a.status, a.version, a.unipile_account_id, a.provider_status, w.subscription_active \
             FROM linkedin_accounts a JOIN workspaces w ON w.id = a.workspace_id \
             WHERE a.unipile_account_id IS NOT NULL",
        )
        .execute(&mut *conn)
        .await?
        .rows_affected();
        Ok((
            ReconcileStage {
                conn,
                table: Vec::new(),
            },
            fleet,
        ))
    }
}

/// The rule's entries that write something, as the parallel arrays the plan's
/// `unnest` join reads (owned: bound `&str`s make the future's lifetimes too specific
/// to be `Send` inside an activity).
#[derive(Default)]
struct RuleColumns {
    statuses: Vec<String>,
    seens: Vec<String>,
    recovers: Vec<bool>,
    idxs: Vec<i32>,
    flips: Vec<bool>,
    aways: Vec<bool>,
    records: Vec<Option<String>>,
}

/// A planned row as read back: id, status, version, Unipile id, listed source status,
/// may recover, rule entry.
#[derive(sqlx::FromRow)]
struct PlannedRow(Uuid, String, i64, String, Option<String>, bool, i32);

fn seen_key(seen: Seen) -> &'static str {
    match seen {
        Seen::Gone => "",
        Seen::Source(s) => s.as_str(),
    }
}

impl ReconcileStage {
    /// Stages one page of the listing: `(Unipile account id, source status)` pairs (an
    /// account without a known status is staged as the caller decides). An account
    /// listed more than once keeps its last entry, as a map built from the listing
    /// would. One statement.
    pub async fn add_listing_page(
        &mut self,
        page: &[(&str, SourceStatus)],
    ) -> Result<(), StoreError> {
        // Last entry wins inside the page too (one upsert may not touch a row twice).
        let mut last: std::collections::HashMap<&str, SourceStatus> = Default::default();
        for (id, s) in page {
            last.insert(id, *s);
        }
        // Owned: a bound `Vec<&str>` makes this future's lifetimes too specific to be
        // `Send` inside an activity.
        let (ids, statuses): (Vec<String>, Vec<String>) = last
            .into_iter()
            .map(|(id, s)| (id.to_owned(), s.as_str().to_owned()))
            .unzip();
        sqlx::query(
            "INSERT INTO staged_listing SELECT * FROM unnest($1::text[], $2::text[]) \
             ON CONFLICT (unipile_account_id) DO UPDATE SET source_status = EXCLUDED.source_status",
        )
        .bind(&ids)
        .bind(&statuses)
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    /// Plans the whole pass in one statement: each staged row joined with what the
    /// listing says of it (absent: [`Seen::Gone`]) and looked up in `table`, the rule
    /// over its whole domain (`relink_domain::truth::decision_table`). Keeps every
    /// flip, and every record of a source status the row does not already show.
    /// Returns the counts the sanity gate decides on.
    pub async fn plan(
        &mut self,
        table: &[(AccountStatus, Seen, bool, Decision)],
    ) -> Result<PlanCounts, StoreError> {
        self.table = table.iter().map(|(_, _, _, d)| *d).collect();
        let mut rule = RuleColumns::default();
        for (i, (status, seen, may_recover, d)) in table.iter().enumerate() {
            let record = match d {
                Decision::Record(s) => Some(s.as_str().to_owned()),
                _ => None,
            };
            if d.target().is_none() && record.is_none() {
                continue;
            }
            rule.statuses.push(status.as_str().to_owned());
            rule.seens.push(seen_key(*seen).to_owned());
            rule.recovers.push(*may_recover);
            rule.idxs.push(i as i32);
            rule.flips.push(d.target().is_some());
            rule.aways.push(d.is_away());
            rule.records.push(record);
        }
        sqlx::query("ANALYZE staged_rows, staged_listing")
            .execute(&mut *self.conn)
            .await?;
        sqlx::query(
            "INSERT INTO staged_plan \
             SELECT r.id, r.status, r.version, r.unipile_account_id, r.may_recover, d.idx, d.flip, d.away, l.source_status \
             FROM staged_rows r LEFT JOIN staged_listing l USING (unipile_account_id) \
             JOIN unnest($1::text[], $2::text[], $3::boolean[], $4::int[], $5::boolean[], $6::boolean[], $7::text[]) \
               AS d(status, seen, may_recover, idx, flip, away, record) \
               ON d.status = r.status AND d.seen = coalesce(l.source_status, '') AND d.may_recover = r.may_recover \
             WHERE d.flip OR r.provider_status IS DISTINCT FROM d.record",
        )
        .bind(&rule.statuses)
        .bind(&rule.seens)
        .bind(&rule.recovers)
        .bind(&rule.idxs)
        .bind(&rule.flips)
        .bind(&rule.aways)
        .bind(&rule.records)
        .execute(&mut *self.conn)
        .await?;
        let (flips, away, records): (i64, i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE flip), count(*) FILTER (WHERE away), count(*) FILTER (WHERE NOT flip) \
             FROM staged_plan",
        )
        .fetch_one(&mut *self.conn)
        .await?;
        Ok(PlanCounts {
            flips: flips as u64,
            away: away as u64,
            records: records as u64,
        })
    }

    /// Up to `limit` planned decisions of `which` kind, in row-id order after `after`
    /// (keyset paging: pass the last id read); none before [`ReconcileStage::plan`].
    /// Errors: [`StoreError::Corrupt`] for a staged value that does not parse.
    pub async fn planned(
        &mut self,
        which: Planned,
        after: Option<AccountId>,
        limit: i64,
    ) -> Result<Vec<StagedDecision>, StoreError> {
        let rows: Vec<PlannedRow> = sqlx::query_as(
            "SELECT p.id, p.status, p.version, p.unipile_account_id, p.source_status, p.may_recover, p.idx \
             FROM staged_plan p \
             WHERE p.flip = $1 AND NOT (p.away AND $4) AND ($2::uuid IS NULL OR p.id > $2) ORDER BY p.id LIMIT $3",
        )
        .bind(which != Planned::Records)
        .bind(after.map(|a| a.0))
        .bind(limit)
        .bind(which == Planned::Recoveries)
        .fetch_all(&mut *self.conn)
        .await?;
        rows.into_iter()
            .map(
                |PlannedRow(id, status, version, uid, source, may_recover, idx)| {
                    let decision = *self.table.get(idx as usize).ok_or_else(|| {
                        StoreError::Corrupt(format!(
                            "staged plan entry {idx} is not in the rule's table"
                        ))
                    })?;
                    Ok(StagedDecision {
                        id: AccountId(id),
                        status: status.parse()?,
                        version,
                        unipile_account_id: uid,
                        seen: match source {
                            None => Seen::Gone,
                            Some(s) => Seen::Source(s.parse()?),
                        },
                        may_recover,
                        decision,
                    })
                },
            )
            .collect()
    }

    /// Closes the stage's connection (its temporary tables go with it).
    pub async fn close(self) -> Result<(), StoreError> {
        self.conn.detach().close().await?;
        Ok(())
    }
}
