//! The scripted demo (`./dev demo`): a CREDENTIALS webhook turns an account
//! `reconnect_needed` and pauses its campaigns, the user clicks Reconnect twice (one
//! hosted link), finishes hosted auth, and the account is `connected` with its paused
//! campaign resumed; then a first connection whose notify callback was lost is healed
//! by the orphan watcher, and the sweeper runs as the backstop. Every step prints what
//! it did.

use anyhow::{Context, bail};
use relink_domain::AccountId;
use relink_store::{DemoSeed, Store};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Where the running stack is.
#[derive(Debug, Clone)]
pub struct DemoTargets {
    /// Web tier base URL.
    pub web: String,
    /// unipile-sim base URL.
    pub sim: String,
    /// Temporal Web UI base URL.
    pub temporal_ui: String,
    /// Temporal namespace.
    pub namespace: String,
    /// The local SMTP server's Maildir (`RELINK_MAIL_DIR`), to print the email sent.
    pub mail_dir: Option<std::path::PathBuf>,
}

/// Seeds the simulator with the Unipile accounts of the demo seed (idempotent).
pub async fn seed_sim(http: &reqwest::Client, sim: &str, seed: &DemoSeed) -> anyhow::Result<()> {
    for a in &seed.accounts {
        let (Some(id), Some(member)) = (&a.unipile_account_id, &a.linkedin_member_id) else {
            continue;
        };
        let resp = http
            .post(format!("{sim}/_sim/accounts"))
            .json(&json!({"id": id, "name": a.display_name, "member_id": member, "status": "OK"}))
            .send()
            .await
            .context("unipile-sim is not reachable")?;
        if !resp.status().is_success() {
            bail!(
                "seeding unipile-sim failed: {}",
                resp.text().await.unwrap_or_default()
            );
        }
    }
    Ok(())
}

fn step(n: u32, text: &str) {
    println!("\n[{n}] {text}");
}

/// The Reconnect button: `POST /api/accounts/{id}/reconnect`.
async fn click_reconnect(
    http: &reqwest::Client,
    t: &DemoTargets,
    token: &str,
    id: AccountId,
) -> anyhow::Result<Value> {
    let url = format!("{}/api/accounts/{id}/reconnect", t.web);
    Ok(http
        .post(url)
        .bearer_auth(token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?)
}

/// GET a web-tier JSON route as the demo workspace.
async fn get_json(http: &reqwest::Client, url: String, token: &str) -> anyhow::Result<Value> {
    Ok(http
        .get(url)
        .bearer_auth(token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?)
}

async fn accounts(
    http: &reqwest::Client,
    t: &DemoTargets,
    token: &str,
) -> anyhow::Result<Vec<Value>> {
    let v = get_json(http, format!("{}/api/accounts", t.web), token).await?;
    Ok(v["accounts"].as_array().cloned().unwrap_or_default())
}

async fn show_account(
    http: &reqwest::Client,
    t: &DemoTargets,
    token: &str,
    id: AccountId,
) -> anyhow::Result<String> {
    let all = accounts(http, t, token).await?;
    let a = all
        .iter()
        .find(|a| a["id"] == id.to_string())
        .context("account missing")?;
    let status = a["status"].as_str().unwrap_or("?").to_string();
    println!(
        "    {} → status {status}, pill \"{}\" ({})",
        a["display_name"].as_str().unwrap_or("?"),
        a["pill"]["label"].as_str().unwrap_or("?"),
        a["pill"]["tone"].as_str().unwrap_or("?")
    );
    Ok(status)
}

async fn show_campaigns(
    http: &reqwest::Client,
    t: &DemoTargets,
    token: &str,
    id: AccountId,
) -> anyhow::Result<()> {
    let v = get_json(http, format!("{}/api/campaigns", t.web), token).await?;
    for c in v["campaigns"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["account_id"] == id.to_string())
    {
        println!(
            "    campaign \"{}\": {}{}",
            c["name"].as_str().unwrap_or("?"),
            c["status"].as_str().unwrap_or("?"),
            c["pause_hint"]
                .as_str()
                .map(|h| format!(" ({h})"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

async fn wait_status(
    http: &reqwest::Client,
    t: &DemoTargets,
    token: &str,
    id: AccountId,
    want: &str,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let all = accounts(http, t, token).await?;
        if all
            .iter()
            .any(|x| x["id"] == id.to_string() && x["status"] == want)
        {
            break;
        }
        if Instant::now() > deadline {
            bail!("the account did not become {want} within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    show_account(http, t, token, id).await?;
    show_campaigns(http, t, token, id).await
}

/// Plays the demo scenario against a running stack seeded with `seed`.
pub async fn run(
    store: &Store,
    seed: &DemoSeed,
    t: &DemoTargets,
    temporal: &temporalio_client::Client,
    task_queue: &str,
) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let sam = seed
        .accounts
        .iter()
        .find(|a| a.display_name == "Sam Sample")
        .context("demo seed lacks Sam")?;
    let unipile_id = sam
        .unipile_account_id
        .clone()
        .context("Sam has no Unipile id")?;
    let token = &seed.api_token;

    step(1, "Sam Sample is connected and sending.");
    show_account(&http, t, token, sam.id).await?;
    show_campaigns(&http, t, token, sam.id).await?;

    step(
        2,
        "LinkedIn rotates Sam's session: Unipile reports the source as CREDENTIALS.",
    );
    let r = http
        .post(format!("{}/_sim/accounts/{unipile_id}/status", t.sim))
        .json(&json!({"status": "CREDENTIALS"}))
        .send()
        .await?;
    if !r.status().is_success() {
        bail!(
            "unipile-sim refused the status change: {}",
            r.text().await.unwrap_or_default()
        );
    }
    println!(
        "    Unipile sent the account-status webhook (Unipile-Auth header, no JSON content type);"
    );
    println!(
        "    relink re-read the account from Unipile and flipped the row, pausing its campaigns:"
    );
    wait_status(&http, t, token, sam.id, "reconnect_needed").await?;
    show_reconnect_email(store, t, temporal, task_queue, sam.id).await?;

    step(3, "Sam clicks Reconnect twice (a double click).");
    let (a, b) = tokio::join!(
        click_reconnect(&http, t, token, sam.id),
        click_reconnect(&http, t, token, sam.id)
    );
    let (a, b) = (a?, b?);
    println!("    click 1 → {}", a["url"].as_str().unwrap_or("?"));
    println!("    click 2 → {}", b["url"].as_str().unwrap_or("?"));
    let log: Vec<Value> = http
        .get(format!("{}/_sim/requests", t.sim))
        .send()
        .await?
        .json()
        .await?;
    let links = log
        .iter()
        .filter(|r| r["route"] == "POST /api/v1/hosted/accounts/link")
        .count();
    println!(
        "    same url: {}; hosted-auth links created at Unipile: {links}",
        a["url"] == b["url"]
    );
    let workflow_id = a["workflow_id"].as_str().unwrap_or_default().to_string();
    show_account(&http, t, token, sam.id).await?;

    step(
        4,
        "Sam finishes LinkedIn login on Unipile's hosted-auth page; Unipile calls our notify_url.",
    );
    let done: Value = http
        .post(format!("{}/_sim/hosted/complete", t.sim))
        .json(&json!({"url": a["url"], "notify": true}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    println!(
        "    unipile-sim: {} for account {}; notify answered {}",
        done["status"], done["account_id"], done["notify"]["first_status"]
    );

    step(
        5,
        "The Reconnect workflow relinks the row and resumes the paused campaign.",
    );
    wait_status(&http, t, token, sam.id, "connected").await?;
    println!("    audit trail:");
    for e in store.audit_of(sam.id).await? {
        println!(
            "      {} {:<24} {:>16} → {:<16} by {}",
            e.created_at.format("%H:%M:%S"),
            e.action,
            e.from_status.unwrap_or_else(|| "-".into()),
            e.to_status.unwrap_or_else(|| "-".into()),
            e.actor
        );
    }

    step(
        6,
        "A first connection whose notify callback is lost: Robin connects a new seat.",
    );
    let robin = seed
        .accounts
        .iter()
        .find(|a| a.display_name == "Robin Newseat")
        .context("demo seed lacks Robin")?;
    let v = click_reconnect(&http, t, token, robin.id).await?;
    let done: Value = http
        .post(format!("{}/_sim/hosted/complete", t.sim))
        .json(&json!({"url": v["url"], "notify": false, "name": "Robin Newseat"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    println!(
        "    Robin logged in (Unipile account {}), but the notify_url call never arrived.",
        done["account_id"]
    );
    show_account(&http, t, token, robin.id).await?;
    println!(
        "    starter run orphan-watcher (demo timing: rows linking for more than 0 s instead of 300 s):"
    );
    let (wf, summary) = crate::ops::run_orphan_watcher(
        temporal,
        task_queue,
        relink_domain::healing::OrphanPassInput {
            connecting_longer_than_secs: 0,
        },
    )
    .await?;
    println!(
        "    {wf}: examined {}, relinked {}, ambiguous {}",
        summary.examined,
        summary.relinked.len(),
        summary.ambiguous.len()
    );
    show_account(&http, t, token, robin.id).await?;
    show_campaigns(&http, t, token, robin.id).await?;

    step(
        7,
        "The campaign sweeper (every 5 min) is the backstop behind the resume in the relink transaction.",
    );
    let (wf, summary) = crate::ops::run_pass(
        temporal,
        task_queue,
        crate::ops::Pass::CampaignSweeper,
        false,
    )
    .await?;
    println!("    {wf}: {summary}");
    println!("    (nothing left to resume: the relink transactions above already resumed them)");

    step(
        8,
        "An operator removes an inert duplicate session through all the Safe delete gates.",
    );
    let member = sam.linkedin_member_id.clone().unwrap_or_default();
    let dup: Value = http
        .post(format!("{}/_sim/accounts", t.sim))
        .json(&json!({"name": "Sam Sample", "member_id": member, "status": "OK"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let dup_id = dup["id"]
        .as_str()
        .context("sim answered no id")?
        .to_string();
    println!(
        "    Unipile holds a second session {dup_id} for Sam's LinkedIn identity (a double reconnect); no row references it."
    );
    store
        .enable_delete_flag(
            chrono::Duration::hours(4),
            "demo-operator",
            "remove Sam's inert duplicate session",
        )
        .await?;
    println!(
        "    starter deletes enable --ttl 4h --reason … --operator demo-operator  (env RELINK_UNIPILE_DELETES=enabled)"
    );
    println!(
        "    starter delete {dup_id} --reason … --operator demo-operator  (demo timings: polls 2 s apart instead of 60 s, undo window 3 s instead of 10 min)"
    );
    let input = relink_domain::deletes::SafeDeleteInput {
        unipile_account_id: dup_id.clone().into(),
        requester: relink_domain::deletes::DeleteRequester::Operator {
            name: "demo-operator".into(),
            reason: "inert duplicate session after a double reconnect".into(),
        },
        kind: relink_domain::deletes::DeleteKind::InertDuplicate,
        poll_spacing_secs: 2,
        undo_window_secs: 3,
    };
    let wf = crate::ops::start_safe_delete(temporal, task_queue, input).await?;
    let handle = temporal.get_workflow_handle::<relink_workflows::SafeDeleteWorkflow>(wf.clone());
    let outcome = handle.get_result(Default::default()).await?;
    let gates = handle
        .query(
            relink_workflows::SafeDeleteWorkflow::gates,
            (),
            Default::default(),
        )
        .await?;
    println!("    {wf}: {}", serde_json::to_string(&outcome)?);
    println!(
        "    gates: env {:?}, sanity {:?}, polls {:?} ({} observations), undo {:?}, hard cap {:?}, flag {:?}",
        gates.env,
        gates.sanity,
        gates.polls,
        gates.observations.len(),
        gates.undo,
        gates.hard_cap,
        gates.flag
    );
    if let Some(a) = store
        .alerts()
        .await?
        .into_iter()
        .find(|a| a.kind == "unipile.delete")
    {
        println!("    admin alert #{} ({}): {}", a.id, a.severity, a.message);
    }
    println!(
        "    deletes in the last 24 h: {} of 3",
        store.deletes_last_24h().await?
    );

    println!(
        "\nSign in:     {}/signin (paste the workspace API token: {token})",
        t.web
    );
    println!(
        "Temporal UI: {}/namespaces/{}/workflows/{}",
        t.temporal_ui,
        t.namespace,
        workflow_id.replace(':', "%3A")
    );
    Ok(())
}

/// Runs the email sender now and prints the reconnect email it delivered for `account`
/// as the SMTP server stored it (decoded text part).
async fn show_reconnect_email(
    store: &Store,
    t: &DemoTargets,
    temporal: &temporalio_client::Client,
    task_queue: &str,
    account: AccountId,
) -> anyhow::Result<()> {
    let (wf, summary) =
        crate::ops::run_pass(temporal, task_queue, crate::ops::Pass::EmailSender, false).await?;
    println!("    the email sender ran ({wf}): {summary}");
    let Some(row) = store.outbox_of(account).await?.into_iter().last() else {
        bail!("no reconnect email was queued for account {account}");
    };
    let Some(mid) = row.message_id else {
        println!(
            "    the reconnect email was not delivered: {}",
            row.last_error.unwrap_or_default()
        );
        return Ok(());
    };
    let Some(dir) = &t.mail_dir else {
        println!("    reconnect email sent, Message-ID {mid}");
        return Ok(());
    };
    let raw = std::fs::read_dir(dir.join("new"))?
        .filter_map(|e| std::fs::read(e.ok()?.path()).ok())
        .find(|m| String::from_utf8_lossy(m).contains(&mid));
    let Some(raw) = raw else {
        bail!("the SMTP server has no message {mid} in {}", dir.display());
    };
    let Some(msg) = mail_parser::MessageParser::default().parse(&raw) else {
        bail!("message {mid} is not a parsable email");
    };
    println!(
        "    the reconnect email, as the SMTP server received it ({}):",
        dir.display()
    );
    println!("      Message-ID: {mid}");
    if let Some(to) = msg.to().and_then(|a| a.first()).and_then(|a| a.address()) {
        println!("      To: {to}");
    }
    println!("      Subject: {}", msg.subject().unwrap_or_default());
    for line in msg.body_text(0).unwrap_or_default().lines() {
        println!("      | {line}");
    }
    Ok(())
}
