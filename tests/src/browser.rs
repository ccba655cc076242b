//! A real headless Chromium for the user's-side tests, driven through chromedriver
//! (WebDriver) with `fantoccini`: Debian's `chromium` and `chromium-driver`, which
//! `./dev test` installs when missing (`RELINK_CHROMIUM`, `RELINK_CHROMEDRIVER` name
//! other binaries). Each [`Browser`] has its own chromedriver on a free loopback port and
//! its own empty profile; every [`Browser::shot`] writes a numbered PNG under
//! `RELINK_SCREENSHOT_DIR/<scenario>/` (default `.dev/screenshots/`) and collects the
//! page's console errors, which [`Browser::finish`] fails on.

use fantoccini::{
    Client, ClientBuilder, Locator, elements::Element, wd::WebDriverCompatibleCommand,
};
use serde_json::{Value, json};
use std::{
    os::unix::process::CommandExt,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// One browser at a time in a test run: Chromium is heavy for a 2-core machine that is
/// also running the rest of the suite.
static ONE_BROWSER: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

/// How long a step waits for the element or condition it expects.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(20);

/// A headless Chromium session for one scenario. Dropping it (a failed test) kills
/// chromedriver and the browser it started.
pub struct Browser {
    client: Option<Client>,
    driver: Child,
    profile: PathBuf,
    shots: PathBuf,
    step: u32,
    console_errors: Vec<String>,
    _turn: tokio::sync::SemaphorePermit<'static>,
}

/// chromedriver's legacy log endpoint (`POST /session/{id}/se/log {"type": "browser"}`):
/// the console entries since the last call. fantoccini has no method for it.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _url: &url::Url) -> (axum::http::Method, Option<String>) {
        (
            axum::http::Method::POST,
            Some(json!({"type": "browser"}).to_string()),
        )
    }
}

fn binary(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_string())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Browser {
    /// Starts chromedriver and a headless Chromium for `scenario` (the screenshots'
    /// folder name). Panics with what to do when either binary is missing.
    pub async fn start(scenario: &str) -> Browser {
        let turn = ONE_BROWSER.acquire().await.expect("the browser semaphore");
        let chromium = binary("RELINK_CHROMIUM", "/usr/bin/chromium");
        let chromedriver = binary("RELINK_CHROMEDRIVER", "chromedriver");
        assert!(
            std::path::Path::new(&chromium).exists(),
            "no Chromium at {chromium}: run ./dev test (it installs Debian's chromium and chromium-driver)"
        );
        let port = free_port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so that a failed test can kill it and its browser.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("start {chromedriver}: {e} (./dev test installs Debian's chromium-driver)")
            });
        let profile =
            std::env::temp_dir().join(format!("relink-chromium-{}", uuid::Uuid::new_v4().simple()));
        let shots = std::env::var("RELINK_SCREENSHOT_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.dev/screenshots")
            })
            .join(scenario);
        let _ = std::fs::remove_dir_all(&shots);
        std::fs::create_dir_all(&shots).expect("create the screenshot folder");
        let mut browser = Browser {
            client: None,
            driver,
            profile,
            shots,
            step: 0,
            console_errors: vec![],
            _turn: turn,
        };
        // The flags that keep Chromium off the (closed) network and quiet, as root.
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1200,900",
        ]
        .iter()
        .map(|a| a.to_string())
        .chain([format!("--user-data-dir={}", browser.profile.display())])
        .collect::<Vec<_>>();
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": chromium, "args": args },
            "goog:loggingPrefs": { "browser": "ALL" },
        });
        let caps = caps.as_object().cloned().unwrap_or_default();
        let deadline = Instant::now() + STEP_TIMEOUT;
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = loop {
            match ClientBuilder::new(connector.clone())
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(c) => break c,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("no WebDriver session from {chromedriver} on port {port}: {e}"),
            }
        };
        browser.client = Some(client);
        browser
    }

    /// The WebDriver client.
    pub fn client(&self) -> &Client {
        self.client.as_ref().expect("a live session")
    }

    /// Opens `url` in the current window.
    pub async fn goto(&self, url: &str) {
        self.client()
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// The current window's URL.
    pub async fn url(&self) -> url::Url {
        self.client().current_url().await.expect("the current url")
    }

    /// The first element matching CSS `selector`, waiting up to [`STEP_TIMEOUT`].
    pub async fn find(&self, selector: &str) -> Element {
        match self
            .client()
            .wait()
            .at_most(STEP_TIMEOUT)
            .for_element(Locator::Css(selector))
            .await
        {
            Ok(e) => e,
            Err(e) => panic!(
                "no element {selector:?} on {}: {e}",
                self.url_or_unknown().await
            ),
        }
    }

    /// The button whose text is `label` inside the element matching CSS `within`.
    pub async fn button(&self, within: &str, label: &str) -> Element {
        let scope = self.find(within).await;
        let xpath = format!(".//button[normalize-space()='{label}']");
        scope
            .find(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|e| panic!("no button {label:?} in {within:?}: {e}"))
    }

    /// The visible text of the element matching CSS `selector`.
    pub async fn text(&self, selector: &str) -> String {
        self.find(selector)
            .await
            .text()
            .await
            .expect("element text")
    }

    /// Runs `script` (a function body; `arguments[i]` are `args`) and returns its value.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client()
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Waits until `script` (a function body) returns a truthy value, up to `timeout`;
    /// returns that value. Panics naming `what` when it never does.
    pub async fn until(&self, what: &str, timeout: Duration, script: &str) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.js(script, vec![]).await;
            let truthy = !matches!(&v, Value::Null | Value::Bool(false))
                && v.as_str() != Some("")
                && v.as_f64() != Some(0.0);
            if truthy {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {timeout:?} waiting for: {what} (on {})",
                self.url_or_unknown().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn url_or_unknown(&self) -> String {
        self.client()
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_else(|_| "an unknown page".into())
    }

    /// Collects the console entries of level SEVERE since the last call.
    async fn collect_console_errors(&mut self, step: &str) {
        let entries = self
            .client()
            .issue_cmd(BrowserLog)
            .await
            .expect("chromedriver's browser log");
        for e in entries.as_array().into_iter().flatten() {
            if e["level"] == "SEVERE" {
                self.console_errors.push(format!(
                    "{step}: {}",
                    e["message"].as_str().unwrap_or_default()
                ));
            }
        }
    }

    /// Saves a screenshot of the current window as `NN-<name>.png` and collects the
    /// console errors so far under that step's name.
    pub async fn shot(&mut self, name: &str) {
        self.step += 1;
        let png = self.client().screenshot().await.expect("a screenshot");
        let path = self.shots.join(format!("{:02}-{name}.png", self.step));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        self.collect_console_errors(name).await;
    }

    /// Ends the session; panics listing every console error any page logged.
    pub async fn finish(mut self) {
        self.collect_console_errors("end").await;
        let errors = std::mem::take(&mut self.console_errors);
        if let Some(c) = self.client.take() {
            let _ = c.close().await;
        }
        assert!(
            errors.is_empty(),
            "the pages logged console errors:\n{}",
            errors.join("\n")
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // chromedriver and the Chromium it started share its process group.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.driver.id())])
            .status();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
