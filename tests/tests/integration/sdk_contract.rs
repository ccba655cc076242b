//! unipile-sim answers like Unipile for Unipile's own client: `tests/sdk-contract/`
//! drives a simulator with the official Node SDK (exact version pinned in its
//! package.json), which validates every response against its schemas and warns on any
//! shape it does not expect; the script fails on any failed expectation and on any
//! such warning. Needs `node` and `npm` (`./dev test` installs them when missing).

use relink_tests::SIM_KEY;
use serde_json::Value;
use std::{
    path::{Path, PathBuf},
    process::Output,
    time::Duration,
};
use tokio::process::Command;

fn contract_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sdk-contract")
}

/// Runs `program args` in `dir` within `limit`; panics with a clear message when the
/// program is not installed or does not finish.
async fn run(program: &str, args: &[&str], dir: &Path, limit: Duration) -> Output {
    let mut cmd = Command::new(program);
    cmd.args(args).current_dir(dir).kill_on_drop(true);
    match tokio::time::timeout(limit, cmd.output()).await {
        Ok(Ok(out)) => out,
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "`{program}` is not installed: the SDK contract test needs Node.js and npm \
             (`./dev test` installs them; on Debian: apt-get install -y nodejs npm)"
        ),
        Ok(Err(e)) => panic!("could not run `{program}`: {e}"),
        Err(_) => panic!(
            "`{program} {}` did not finish within {limit:?}",
            args.join(" ")
        ),
    }
}

fn printed(out: &Output) -> String {
    format!(
        "status: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The SDK version package.json pins, and whether node_modules holds exactly it.
fn sdk_installed(dir: &Path) -> (String, bool) {
    let read = |p: PathBuf| -> Option<Value> {
        serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()
    };
    let pinned = read(dir.join("package.json"))
        .and_then(|p| {
            p["dependencies"]["unipile-node-sdk"]
                .as_str()
                .map(String::from)
        })
        .expect("tests/sdk-contract/package.json pins unipile-node-sdk");
    let installed = read(dir.join("node_modules/unipile-node-sdk/package.json"))
        .and_then(|p| p["version"].as_str().map(String::from));
    let ok = installed.as_deref() == Some(pinned.as_str());
    (pinned, ok)
}

#[tokio::test]
async fn the_official_node_sdk_accepts_every_answer_relink_relies_on() {
    let dir = contract_dir();
    let node = run("node", &["--version"], &dir, Duration::from_secs(30)).await;
    assert!(node.status.success(), "node --version: {}", printed(&node));
    let (pinned, installed) = sdk_installed(&dir);
    if !installed {
        let npm = run(
            "npm",
            &["ci", "--no-audit", "--no-fund"],
            &dir,
            Duration::from_secs(600),
        )
        .await;
        assert!(npm.status.success(), "npm ci: {}", printed(&npm));
        assert!(
            sdk_installed(&dir).1,
            "npm ci did not install unipile-node-sdk {pinned}"
        );
    }

    // Only the simulator: the SDK talks to it directly, as it would to Unipile.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind sim");
    let sim_url = format!("http://{}", listener.local_addr().expect("addr"));
    let config = unipile_sim::SimConfig {
        api_key: SIM_KEY.into(),
        public_base_url: sim_url.clone(),
        retry_base_delay: Duration::from_millis(200),
    };
    tokio::spawn(async move {
        let _ = unipile_sim::serve(listener, config).await;
    });

    let out = run(
        "node",
        &["contract.mjs", &sim_url, SIM_KEY],
        &dir,
        Duration::from_secs(120),
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(" 0 failed, 0 SDK warnings"),
        "the SDK contract script (unipile-node-sdk {pinned}) failed:\n{}",
        printed(&out)
    );

    // The script really made each call: the simulator logged every route, the listing
    // over more than one page (a request that sent a cursor back).
    let log: Vec<Value> = reqwest::get(format!("{sim_url}/_sim/requests"))
        .await
        .expect("sim log")
        .json()
        .await
        .expect("sim log JSON");
    let saw = |route: &str, status: u64| {
        log.iter()
            .any(|r| r["route"] == route && r["status"].as_u64() == Some(status))
    };
    for (route, status) in [
        ("GET /api/v1/accounts", 200),
        ("GET /api/v1/accounts", 401),
        ("GET /api/v1/accounts/{id}", 200),
        ("GET /api/v1/accounts/{id}", 404),
        ("DELETE /api/v1/accounts/{id}", 200),
        ("POST /api/v1/hosted/accounts/link", 200),
        ("POST /api/v1/webhooks", 201),
        ("GET /api/v1/webhooks", 200),
        ("DELETE /api/v1/webhooks/{id}", 200),
    ] {
        assert!(saw(route, status), "no {route} → {status} in {log:#?}");
    }
    let paged = log.iter().any(|r| {
        r["route"] == "GET /api/v1/accounts"
            && r["status"] == 200
            && r["query"].as_str().is_some_and(|q| q.contains("cursor="))
    });
    assert!(paged, "the listing never followed a cursor: {log:#?}");
}
