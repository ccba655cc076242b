//! The operator CLI's arguments, parsed and checked by clap: ids are parsed as ids,
//! durations as durations (`30m`, `4h`, `7d`), numbers within their allowed range. A
//! bad argument is refused before anything connects.

use clap::{Parser, Subcommand};
use relink_domain::{AccountId, WorkspaceId, events::EventType};
use relink_runtime::{SecretString, TemporalSettings, UnipileSettings};
use std::time::Duration;

use crate::ops::Pass;

/// relink operator CLI.
#[derive(Parser, Debug)]
#[command(name = "starter", version)]
pub struct Cli {
    /// PostgreSQL URL (for the commands that read or write the database).
    #[arg(
        long,
        env = "DATABASE_URL",
        value_name = "DATABASE_URL",
        hide_env_values = true,
        global = true
    )]
    pub database_url: Option<SecretString>,
    /// The schema owner's PostgreSQL URL: migrations run as it, and it gives the
    /// application role `relink_app` its login (see `relink_runtime::DatabaseSettings`).
    #[arg(
        long,
        env = "MIGRATION_DATABASE_URL",
        value_name = "MIGRATION_DATABASE_URL",
        hide_env_values = true,
        global = true
    )]
    pub migration_database_url: Option<SecretString>,
    /// Temporal frontend, namespace and task queue.
    #[command(flatten)]
    pub temporal: TemporalSettings,
    /// Temporal Web UI base URL, for the links the commands print.
    #[arg(
        long,
        env = "TEMPORAL_UI_URL",
        value_name = "TEMPORAL_UI_URL",
        default_value = "http://127.0.0.1:8233",
        global = true
    )]
    pub temporal_ui: String,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// One operator command.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Applies the database migrations.
    Migrate,
    /// Seeds a demo workspace; prints its API token and account ids.
    SeedDemo {
        /// Print JSON (for scripts and tests).
        #[arg(long)]
        json: bool,
        /// Also seed these Unipile accounts into unipile-sim at this base URL.
        #[arg(long, env = "UNIPILE_SIM_URL", value_name = "UNIPILE_SIM_URL")]
        sim: Option<String>,
    },
    /// Temporal Schedules of the healing loops.
    Schedules {
        /// Which action.
        #[command(subcommand)]
        action: ScheduleCommand,
    },
    /// Runs one healing pass now (as a workflow) and prints its summary.
    Run {
        /// Which pass.
        pass: Pass,
        /// Reconciler only: print the plan, write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Plans the next days of sends of one account (per action type) as a table.
    PlanSends {
        /// Account id.
        #[arg(long)]
        account: AccountId,
        /// Days to plan (1 to 90).
        #[arg(long, default_value_t = 14, value_parser = clap::value_parser!(u32).range(1..=90))]
        days: u32,
        /// Actions due per action type (the backlog to spread).
        #[arg(long, default_value_t = 200)]
        due: u32,
    },
    /// The delete flag and running Safe deletes.
    Deletes {
        /// Which action.
        #[command(subcommand)]
        action: DeletesCommand,
    },
    /// Requests the Safe delete of a Unipile account (all six gates apply).
    Delete(DeleteArgs),
    /// Reports LinkedIn identities held by more than one Unipile session or row (never
    /// deletes anything: an inert duplicate goes through `starter delete`).
    Duplicates {
        /// Unipile DSN, API key and request timeout.
        #[command(flatten)]
        unipile: UnipileSettings,
    },
    /// The webhook endpoints that receive a workspace's outbound events (signed by the
    /// Standard Webhooks scheme).
    Webhooks {
        /// Which action.
        #[command(subcommand)]
        action: WebhooksCommand,
    },
    /// Admin alerts: list them, acknowledge one.
    Alerts {
        /// Which action.
        #[command(subcommand)]
        action: AlertsCommand,
    },
    /// A workspace's subscription ended or was renewed.
    Subscription {
        /// Which action.
        #[command(subcommand)]
        action: SubscriptionCommand,
    },
    /// Seeds a demo workspace and plays the reconnect scenario against a running stack.
    Demo {
        /// Web tier base URL.
        #[arg(long, env = "RELINK_WEB_URL", default_value = "http://127.0.0.1:8080")]
        web: String,
        /// unipile-sim base URL.
        #[arg(long, env = "UNIPILE_SIM_URL", default_value = "http://127.0.0.1:8790")]
        sim: String,
        /// The local SMTP server's Maildir, to print the reconnect email it received.
        #[arg(long, env = "RELINK_MAIL_DIR", value_name = "RELINK_MAIL_DIR")]
        mail_dir: Option<std::path::PathBuf>,
    },
}

/// `starter schedules …`.
#[derive(Subcommand, Debug)]
pub enum ScheduleCommand {
    /// Creates or updates orphan-watcher, campaign-sweeper and account-reconciler.
    Apply {
        /// Reconciler interval in seconds (at least 60).
        #[arg(long, env = "RECONCILER_INTERVAL_SECS", default_value_t = 900,
              value_parser = clap::value_parser!(u64).range(60..))]
        reconciler_interval_secs: u64,
    },
}

/// `starter alerts …`.
#[derive(Subcommand, Debug)]
pub enum AlertsCommand {
    /// Lists the alerts, newest first, with whether and how each was notified.
    List {
        /// Only those not acknowledged yet.
        #[arg(long)]
        open: bool,
    },
    /// Acknowledges one alert.
    Ack {
        /// Alert id.
        id: i64,
        /// Who.
        #[arg(long, default_value = "operator", value_parser = non_empty)]
        operator: String,
    },
}

/// `starter webhooks …`.
#[derive(Subcommand, Debug)]
pub enum WebhooksCommand {
    /// Adds an endpoint; prints its signing secret once.
    Add {
        /// Workspace id.
        #[arg(long)]
        workspace: WorkspaceId,
        /// Where events are posted (http or https).
        #[arg(long)]
        url: url::Url,
        /// Only these event types (comma-separated, e.g. `account.disconnected,account.reconnected`);
        /// every type when left out.
        #[arg(long, value_delimiter = ',')]
        events: Option<Vec<EventType>>,
    },
    /// Lists the endpoints (of one workspace, or all); never their secrets.
    List {
        /// Workspace id.
        #[arg(long)]
        workspace: Option<WorkspaceId>,
    },
    /// Gives an endpoint a new secret (printed once); the old one keeps signing beside it
    /// for the grace period.
    Rotate {
        /// Endpoint id.
        endpoint: uuid::Uuid,
        /// How long the old secret keeps signing, e.g. `24h`, `30m` (at most 7d).
        #[arg(long, default_value = "24h", value_parser = rotation_grace)]
        grace: Duration,
    },
    /// Removes an endpoint: no new events; what it had not received is given up.
    Remove {
        /// Endpoint id.
        endpoint: uuid::Uuid,
    },
    /// Shows the deliveries to one endpoint, in sequence order.
    Deliveries {
        /// Endpoint id.
        endpoint: uuid::Uuid,
    },
}

/// A rotation's grace period: at most 7 days.
fn rotation_grace(raw: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(raw).map_err(|e| e.to_string())?;
    if d > Duration::from_secs(7 * 24 * 3600) {
        return Err("at most 7d".into());
    }
    Ok(d)
}

/// `starter subscription …`.
#[derive(Subcommand, Debug)]
pub enum SubscriptionCommand {
    /// Pauses the workspace's campaigns (`subscription_inactive`) and starts the grace period.
    End {
        /// Workspace id.
        workspace_id: WorkspaceId,
        /// Grace period before the accounts disconnect, e.g. `7d`, `36h` (at least 1h).
        #[arg(long, default_value = "7d", value_parser = grace_period)]
        grace: Duration,
    },
    /// Renews: removes `subscription_inactive` (within the grace the accounts are untouched).
    Renew {
        /// Workspace id.
        workspace_id: WorkspaceId,
    },
}

/// `starter deletes …`.
#[derive(Subcommand, Debug)]
pub enum DeletesCommand {
    /// Enables the unipile_deletes flag for at most 4 h.
    Enable {
        /// How long, e.g. `4h`, `30m` (at most 4h).
        #[arg(long, value_parser = humantime::parse_duration)]
        ttl: Duration,
        /// Why.
        #[arg(long)]
        reason: String,
        /// Who.
        #[arg(long)]
        operator: String,
    },
    /// Disables the flag.
    Disable {
        /// Who.
        #[arg(long, default_value = "operator")]
        operator: String,
    },
    /// Shows the flag and the deletes of the last 24 h.
    Status,
    /// Shows each gate of a running (or finished) Safe delete.
    Gates {
        /// The Unipile account id.
        unipile_account_id: String,
    },
    /// Cancels a Safe delete during its undo window.
    Cancel {
        /// The Unipile account id.
        unipile_account_id: String,
        /// Who.
        #[arg(long, default_value = "operator")]
        operator: String,
    },
}

/// `starter delete …`: the request for one Safe delete.
#[derive(clap::Args, Debug)]
pub struct DeleteArgs {
    /// The Unipile account id.
    pub unipile_account_id: String,
    /// Why (recorded in the audit log and the alert).
    #[arg(long, value_parser = non_empty)]
    pub reason: String,
    /// Who asks.
    #[arg(long, value_parser = non_empty)]
    pub operator: String,
    /// The account is gone (three 404s required) rather than a live inert duplicate
    /// (three observations unreferenced by any row).
    #[arg(long)]
    pub gone: bool,
    /// Poll spacing, e.g. `60s` (DESIGN.md: 60 s; less only with --short-timings).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub poll_spacing: Duration,
    /// Undo window, e.g. `10m` (less than 60 s only with --short-timings).
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub undo_window: Duration,
    /// Allow poll spacing and an undo window under 60 s (demos, tests).
    #[arg(long)]
    pub short_timings: bool,
    /// Wait for the outcome and print it.
    #[arg(long)]
    pub wait: bool,
}

impl DeleteArgs {
    /// The shortest poll spacing and undo window without `--short-timings`.
    pub const MIN_TIMING: Duration = Duration::from_secs(60);

    /// Errors when a timing is under [`Self::MIN_TIMING`] without `--short-timings`, or
    /// the poll spacing is under one second.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.poll_spacing < Duration::from_secs(1) {
            anyhow::bail!("--poll-spacing must be at least 1s");
        }
        if !self.short_timings
            && (self.poll_spacing < Self::MIN_TIMING || self.undo_window < Self::MIN_TIMING)
        {
            anyhow::bail!(
                "--poll-spacing and --undo-window must be at least 60s (add --short-timings for a demo)"
            );
        }
        Ok(())
    }
}

/// A subscription grace period: a duration of at least one hour.
fn grace_period(raw: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(raw).map_err(|e| e.to_string())?;
    if d < Duration::from_secs(3600) {
        return Err("the grace period must be at least 1h".into());
    }
    Ok(d)
}

/// Text that is not blank.
fn non_empty(raw: &str) -> Result<String, String> {
    if raw.trim().is_empty() {
        return Err("must not be empty".into());
    }
    Ok(raw.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("starter").chain(args.iter().copied()))
    }

    #[test]
    fn durations_ids_and_ranges_are_checked_by_the_parser() {
        assert!(parse(&["plan-sends", "--account", "nope"]).is_err());
        assert!(
            parse(&[
                "plan-sends",
                "--account",
                &uuid::Uuid::nil().to_string(),
                "--days",
                "91"
            ])
            .is_err()
        );
        assert!(
            parse(&[
                "subscription",
                "end",
                &uuid::Uuid::nil().to_string(),
                "--grace",
                "30m"
            ])
            .is_err()
        );
        assert!(parse(&["schedules", "apply", "--reconciler-interval-secs", "59"]).is_err());
        assert!(
            parse(&[
                "deletes",
                "enable",
                "--ttl",
                "soon",
                "--reason",
                "r",
                "--operator",
                "o"
            ])
            .is_err()
        );
        assert!(parse(&["delete", "acc", "--reason", " ", "--operator", "o"]).is_err());
        let Command::Subscription {
            action: SubscriptionCommand::End { grace, .. },
        } = parse(&["subscription", "end", &uuid::Uuid::nil().to_string()])
            .unwrap()
            .command
        else {
            panic!("subscription end");
        };
        assert_eq!(
            grace,
            Duration::from_secs(relink_domain::subscriptions::DEFAULT_SUBSCRIPTION_GRACE_SECS)
        );
    }

    #[test]
    fn short_delete_timings_need_the_flag() {
        let Command::Delete(args) = parse(&[
            "delete",
            "acc",
            "--reason",
            "r",
            "--operator",
            "o",
            "--poll-spacing",
            "2s",
        ])
        .unwrap()
        .command
        else {
            panic!("delete");
        };
        assert!(args.check().is_err());
        let Command::Delete(args) = parse(&[
            "delete",
            "acc",
            "--reason",
            "r",
            "--operator",
            "o",
            "--poll-spacing",
            "2s",
            "--short-timings",
        ])
        .unwrap()
        .command
        else {
            panic!("delete");
        };
        assert!(args.check().is_ok());
    }
}
