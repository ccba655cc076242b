//! The scripted demo (`./dev demo`): an account goes `reconnect_needed`, the user clicks
//! Reconnect twice (one hosted link), finishes hosted auth, and the account is
//! `connected` with its paused campaign resumed. Every step prints what it did.

use anyhow::{Context, bail};
use relink_domain::{AccountId, SourceStatus};
use relink_store::{AuditContext, DemoSeed, Store};
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
}

/// Seeds the simulator with the Unipile accounts of the demo seed (idempotent).
pub async fn seed_sim(http: &reqwest::Client, sim: &str, seed: &DemoSeed) -> anyhow::Result<()> {
    for a in &seed.accounts {
        let (Some(id), Some(member)) = (&a.unipile_account_id, &a.linkedin_member_id) else { continue };
        let resp = http
            .post(format!("{sim}/_sim/accounts"))
            .json(&json!({"id": id, "name": a.display_name, "member_id": member, "status": "OK"}))
            .send()
            .await
            .context("unipile-sim is not reachable")?;
        if !resp.status().is_success() {
            bail!("seeding unipile-sim failed: {}", resp.text().await.unwrap_or_default());
        }
    }
    Ok(())
}

fn step(n: u32, text: &str) {
    println!("\n[{n}] {text}");
}

async fn accounts(http: &reqwest::Client, t: &DemoTargets, token: &str) -> anyhow::Result<Vec<Value>> {
    let v: Value = http
        .get(format!("{}/api/accounts", t.web))
        .bearer_auth(token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(v["accounts"].as_array().cloned().unwrap_or_default())
}

async fn show_account(http: &reqwest::Client, t: &DemoTargets, token: &str, id: AccountId) -> anyhow::Result<String> {
    let all = accounts(http, t, token).await?;
    let a = all.iter().find(|a| a["id"] == id.to_string()).context("account missing")?;
    let status = a["status"].as_str().unwrap_or("?").to_string();
    println!("    {} → status {status}, pill \"{}\" ({})", a["display_name"].as_str().unwrap_or("?"),
        a["pill"]["label"].as_str().unwrap_or("?"), a["pill"]["tone"].as_str().unwrap_or("?"));
    Ok(status)
}

async fn show_campaigns(http: &reqwest::Client, t: &DemoTargets, token: &str, id: AccountId) -> anyhow::Result<()> {
    let v: Value = http
        .get(format!("{}/api/campaigns", t.web))
        .bearer_auth(token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    for c in v["campaigns"].as_array().into_iter().flatten().filter(|c| c["account_id"] == id.to_string()) {
        println!(
            "    campaign \"{}\": {}{}",
            c["name"].as_str().unwrap_or("?"),
            c["status"].as_str().unwrap_or("?"),
            c["pause_hint"].as_str().map(|h| format!(" ({h})")).unwrap_or_default()
        );
    }
    Ok(())
}

/// Plays the reconnect scenario against a running stack seeded with `seed`.
pub async fn run(store: &Store, seed: &DemoSeed, t: &DemoTargets) -> anyhow::Result<()> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
    let sam = seed.accounts.iter().find(|a| a.display_name == "Sam Sample").context("demo seed lacks Sam")?;
    let unipile_id = sam.unipile_account_id.clone().context("Sam has no Unipile id")?;
    let token = &seed.api_token;

    step(1, "Sam Sample is connected and sending.");
    show_account(&http, t, token, sam.id).await?;
    show_campaigns(&http, t, token, sam.id).await?;

    step(2, "LinkedIn rotates Sam's session: Unipile reports the source as CREDENTIALS.");
    let r = http
        .post(format!("{}/_sim/accounts/{unipile_id}/status", t.sim))
        .json(&json!({"status": "CREDENTIALS"}))
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("unipile-sim refused the status change: {}", r.text().await.unwrap_or_default());
    }
    // What the account-status webhook does on CREDENTIALS (the webhook route is the next
    // issue's work): flip (audited), pause the campaigns, queue one reconnect email.
    let audit = AuditContext {
        action: "unipile.credentials".into(),
        actor: "demo:account-status".into(),
        reason: Some("Unipile source status CREDENTIALS".into()),
        ..Default::default()
    };
    store.mark_reconnect_needed(sam.id, SourceStatus::Credentials, &audit).await?;
    show_account(&http, t, token, sam.id).await?;
    show_campaigns(&http, t, token, sam.id).await?;

    step(3, "Sam clicks Reconnect twice (a double click).");
    let click = || async {
        let v: Value = http
            .post(format!("{}/api/accounts/{}/reconnect", t.web, sam.id))
            .bearer_auth(token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        anyhow::Ok(v)
    };
    let (a, b) = tokio::join!(click(), click());
    let (a, b) = (a?, b?);
    println!("    click 1 → {}", a["url"].as_str().unwrap_or("?"));
    println!("    click 2 → {}", b["url"].as_str().unwrap_or("?"));
    let log: Vec<Value> = http.get(format!("{}/_sim/requests", t.sim)).send().await?.json().await?;
    let links = log.iter().filter(|r| r["route"] == "POST /api/v1/hosted/accounts/link").count();
    println!("    same url: {}; hosted-auth links created at Unipile: {links}", a["url"] == b["url"]);
    let workflow_id = a["workflow_id"].as_str().unwrap_or_default().to_string();
    show_account(&http, t, token, sam.id).await?;

    step(4, "Sam finishes LinkedIn login on Unipile's hosted-auth page; Unipile calls our notify_url.");
    let done: Value = http
        .post(format!("{}/_sim/hosted/complete", t.sim))
        .json(&json!({"url": a["url"], "notify": true}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    println!("    unipile-sim: {} for account {}; notify answered {}", done["status"], done["account_id"],
        done["notify"]["first_status"]);

    step(5, "The Reconnect workflow relinks the row and resumes the paused campaign.");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let all = accounts(&http, t, token).await?;
        let connected = all.iter().any(|x| x["id"] == sam.id.to_string() && x["status"] == "connected");
        if connected {
            break;
        }
        if Instant::now() > deadline {
            bail!("the account did not become connected within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    show_account(&http, t, token, sam.id).await?;
    show_campaigns(&http, t, token, sam.id).await?;
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

    println!("\nDashboard:   {}/?token={}", t.web, token);
    println!(
        "Temporal UI: {}/namespaces/{}/workflows/{}",
        t.temporal_ui,
        t.namespace,
        workflow_id.replace(':', "%3A")
    );
    Ok(())
}
