//! How the operator CLI prints what it did: plain text tables on stdout, JSON where a
//! script reads it. Nothing here connects or decides.

use indicatif::{ProgressBar, ProgressStyle};
use relink_domain::pacing::{Caps, DayPlan, SendSettings};
use relink_store::{DemoSeed, FlagRow};
use std::time::Duration;

use crate::ops::AppliedSchedule;

/// A spinner on stderr with `message` and the elapsed time, for a command that waits on
/// a workflow (a healing pass, a Safe delete). Drawn only when stderr is a terminal, so
/// scripts and logs see nothing of it. Call `finish_and_clear` when the wait is over.
pub fn waiting(message: impl Into<String>) -> ProgressBar {
    let bar = ProgressBar::new_spinner().with_message(message.into());
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// A Temporal Web UI link to one workflow (`:` escaped, as the UI expects).
pub fn workflow_link(ui: &str, namespace: &str, workflow_id: &str) -> String {
    format!(
        "Temporal UI: {}/namespaces/{namespace}/workflows/{}",
        ui.trim_end_matches('/'),
        workflow_id.replace(':', "%3A")
    )
}

/// `seed-demo` without `--json`: the workspace, its token and each account.
pub fn demo_seed(seed: &DemoSeed) {
    println!(
        "workspace {} (API token {})",
        seed.workspace_id, seed.api_token
    );
    for a in &seed.accounts {
        println!("  {} {} [{}]", a.id, a.display_name, a.status);
    }
}

/// `schedules apply`: one line per schedule.
pub fn schedules(applied: &[AppliedSchedule]) {
    for s in applied {
        println!(
            "schedule {:<20} {:<8} every {:>5} s, overlap skip, catch-up window {} s, run timeout {} s",
            s.id, s.change, s.every_secs, s.catchup_window_secs, s.execution_timeout_secs
        );
    }
}

/// `plan-sends`: the account's sending rules.
pub fn send_settings(account: relink_domain::AccountId, settings: &SendSettings) {
    println!(
        "account {account}: window {}–{} {} on {:?}{}",
        settings.window_start,
        settings.window_end,
        settings.time_zone,
        settings.active_days,
        settings
            .ramp_start
            .map(|d| format!(", ramp from {d}"))
            .unwrap_or_default()
    );
}

/// `plan-sends`: one action type's plan, a row per day (UTC).
pub fn send_plan(action: &str, caps: Caps, due: u32, plan: &[DayPlan]) {
    println!(
        "\n{action} (daily {}, weekly {}), {due} due:",
        caps.daily, caps.weekly
    );
    println!(
        "  {:<12} {:>5}  {:<12} window opens (UTC)",
        "day (UTC)", "slots", "limited by"
    );
    for d in plan {
        println!(
            "  {:<12} {:>5}  {:<12} {}",
            d.day.to_string(),
            d.slots,
            d.limited_by,
            d.opens_at
                .map(|t| t.format("%H:%M").to_string())
                .unwrap_or_else(|| "-".into())
        );
    }
}

/// `deletes status`: the flag and the count of the last 24 h.
pub fn delete_status(flag: Option<&FlagRow>, open: bool, last_24h: i64) {
    println!(
        "flag unipile_deletes: {}",
        if open { "OPEN" } else { "closed" }
    );
    if let Some(f) = flag {
        println!(
            "  enabled={} expires_at={:?} set_by={} reason={:?}",
            f.enabled, f.expires_at, f.set_by, f.reason
        );
    }
    println!(
        "deletes in the last 24 h: {last_24h} (max {})",
        relink_domain::deletes::MAX_DELETES_PER_24H
    );
}

/// Pretty JSON of a summary, outcome or gate table.
pub fn json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
