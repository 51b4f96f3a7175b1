//! The web console in a real browser against the real binary: headless Chromium, driven over
//! WebDriver by Debian's `chromedriver`, signs in with a token, looks at the overview, reruns a
//! dead letter, searches the audit trail, opens a disclosure report and the key figures. Screenshots of each
//! page are written next to the test binary and their paths printed. Needs Debian's
//! `chromium` and `chromium-driver`: the test fails without them, so CI cannot pass it by accident.

use base64::Engine;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{free_port, BIN};
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_until_up(url: &str) {
    let started = Instant::now();
    while reqwest::get(url).await.map(|r| r.status().is_success()).ok() != Some(true) {
        assert!(started.elapsed() < Duration::from_secs(30), "{url} did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The few WebDriver commands the test needs.
struct Browser {
    http: reqwest::Client,
    session: String,
    screenshots: PathBuf,
}

impl Browser {
    async fn start(driver: &str) -> Self {
        let http = reqwest::Client::new();
        let created: Value = http
            .post(format!("{driver}/session"))
            .json(&json!({ "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": "/usr/bin/chromium",
                    "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                             "--window-size=1280,1000"]
                }
            } } }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {created}"));
        let screenshots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
        std::fs::create_dir_all(&screenshots).unwrap();
        Browser {
            http,
            session: format!("{driver}/session/{id}"),
            screenshots,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        if answer["value"].get("error").is_some() {
            panic!("WebDriver {path}: {answer}");
        }
        answer["value"].clone()
    }

    async fn open(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    async fn find(&self, css: &str) -> String {
        let found = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        found[ELEMENT].as_str().unwrap().to_string()
    }

    async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/click"),
            Some(json!({})),
        )
        .await;
    }

    /// Waits for the navigation a click started: WebDriver's click may return before it ends.
    async fn wait_for_url(&self, part: &str) -> String {
        self.wait_for(part, |url| url.contains(part)).await
    }

    async fn wait_for(&self, what: &str, arrived: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            let url = self.url().await;
            if arrived(&url) {
                // And for the new document to be the one whose source is read next.
                let state = self
                    .call(
                        reqwest::Method::POST,
                        "/execute/sync",
                        Some(json!({ "script": "return document.readyState", "args": [] })),
                    )
                    .await;
                if state == "complete" {
                    return url;
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "never reached {what}: at {url}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None)
            .await
            .as_str()
            .unwrap()
            .to_string()
    }

    async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap()
            .to_string()
    }

    async fn screenshot(&self, name: &str) {
        let png = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        assert!(bytes.starts_with(b"\x89PNG"), "a PNG screenshot");
        let path = self.screenshots.join(format!("{name}.png"));
        std::fs::write(&path, bytes).unwrap();
        println!("screenshot: {}", path.display());
    }

    async fn close(&self) {
        let _ = self.http.delete(&self.session).send().await;
    }
}

#[tokio::test]
async fn an_operator_and_an_auditor_use_the_console_in_a_browser() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _gateway = Killed(common::sandbox_gateway(dir.path(), port).spawn().unwrap());
    let base = format!("http://127.0.0.1:{port}");
    wait_until_up(&format!("{base}/readyz")).await;

    let token = Command::new(BIN)
        .current_dir(dir.path())
        .env_remove("PORTTI_CONFIG")
        .args([
            "token",
            "--client",
            "valvomo",
            "--scopes",
            "messages:send,exchanges:read,exchanges:retry,audit:read,reports:read,jobs:run",
            "--orgs",
            "853",
        ])
        .output()
        .unwrap();
    let token = String::from_utf8(token.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_string();

    // A message to a person without a mailbox: refused by the service, a dead letter at once.
    let http = reqwest::Client::new();
    let sent: Value = http
        .post(format!("{base}/v1/messages"))
        .bearer_auth(&token)
        .json(
            &json!({ "organisation": "853", "recipient": { "identity_code": "131052-308T" },
            "title": "Asiakasohjaus", "body": "Hei!", "body_format": "text", "language": "fi" }),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let exchange = sent["exchange_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{sent}"))
        .to_string();
    let started = Instant::now();
    loop {
        let view: Value = http
            .get(format!("{base}/v1/exchanges/{exchange}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if view["status"] == "dead" {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "not dead: {view}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let driver_port = free_port();
    let _driver = Killed(
        Command::new("chromedriver")
            .arg(format!("--port={driver_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian package chromium-driver) must be installed"),
    );
    let driver = format!("http://127.0.0.1:{driver_port}");
    wait_until_up(&format!("{driver}/status")).await;
    let browser = Browser::start(&driver).await;

    // Signing in: the console sends a browser without a session to the login page.
    browser.open(&format!("{base}/console")).await;
    assert!(browser.url().await.ends_with("/console/login"));
    browser.screenshot("1-login").await;
    browser.type_into("#token", &token).await;
    browser.click("form[action='/console/login'] button").await;
    browser.wait_for("the overview", |url| url.ends_with("/console")).await;
    let overview = browser.source().await;
    assert!(overview.contains("Circuit breakers"), "{overview}");
    assert!(overview.contains("suomifi-messages-events"), "the jobs are listed");
    assert!(overview.contains("valvomo"));
    browser.screenshot("2-overview").await;

    // The dead letter, rerun with the button.
    browser.click("a[href='/console/exchanges?status=dead']").await;
    browser.wait_for_url("status=dead").await;
    let dead = browser.source().await;
    assert!(dead.contains(&exchange[..13]), "{dead}");
    browser.screenshot("3-dead-letters").await;
    browser
        .click(&format!("form[action='/console/exchanges/{exchange}/retry'] button"))
        .await;
    browser
        .wait_for_url(&format!("/console/exchanges/{exchange}?rerun=1"))
        .await;
    let detail = browser.source().await;
    assert!(detail.contains("Rerun accepted"), "{detail}");
    assert!(detail.contains("Attempts"));
    browser.screenshot("4-rerun").await;

    // The auditor's view: the chain with a signed, timestamped checkpoint ...
    let run: Value = http
        .post(format!("{base}/v1/jobs/audit-checkpoint/run"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(run["outcome"], "ok", "{run}");
    browser.open(&format!("{base}/console/audit?verify=1")).await;
    let verified = browser.source().await;
    assert!(verified.contains("Chain verified"), "{verified}");
    assert!(verified.contains("timestamped by the TSA"), "{verified}");
    browser.screenshot("5-audit-chain").await;

    // ... the person's records and their disclosure report in Swedish.
    browser.open(&format!("{base}/console/audit")).await;
    browser.type_into("#person", "131052-308T").await;
    browser.click("form.filters button").await;
    browser.wait_for_url("person=").await;
    let found = browser.source().await;
    assert!(found.contains("message.send"), "{found}");
    assert!(found.contains("exchange.retry"), "{found}");
    browser.screenshot("6-audit-search").await;
    browser.click("a[href$='lang=sv']").await;
    browser.wait_for_url("/console/audit/report").await;
    let report = browser.source().await;
    assert!(
        report.contains("Utredning om användning och utlämnande av klientuppgifter"),
        "{report}"
    );
    assert!(report.contains("Suomi.fi-meddelanden"));
    browser.screenshot("7-disclosure-report").await;

    // The key figures with their charts drawn inline.
    browser.open(&format!("{base}/console")).await;
    browser.click("nav a[href='/console/reports']").await;
    browser.wait_for_url("/console/reports").await;
    let figures = browser.source().await;
    assert!(figures.contains("First-contact resolution"), "{figures}");
    assert_eq!(figures.matches("<svg").count(), 2, "two charts");
    browser.screenshot("8-service-guidance").await;

    // Signing out ends the session: the console asks for a token again.
    browser.open(&format!("{base}/console")).await;
    browser.click("form[action='/console/logout'] button").await;
    browser.wait_for_url("/console/login").await;
    browser.open(&format!("{base}/console")).await;
    assert!(browser.url().await.ends_with("/console/login"));
    browser.close().await;
}
