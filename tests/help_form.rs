//! The "ask for help" form in a real browser against the real binary: headless Chromium loads
//! the form page, then posts the gateway's own form (filled in and submitted on load) and the
//! result page is read back. Needs Debian's `chromium` (`apt-get install -y chromium`): the test
//! fails without it, so CI cannot pass it by accident.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::free_port;

struct Gateway {
    child: Child,
    base: String,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start(dir: &Path, per_window: u32) -> Gateway {
    let port = free_port();
    let child = common::sandbox_gateway(dir, port)
        .env("PORTTI_LIMITS__HELP_REQUESTS_PER_WINDOW", per_window.to_string())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while reqwest::get(format!("{base}/readyz"))
        .await
        .map(|r| r.status().is_success())
        .ok()
        != Some(true)
    {
        assert!(started.elapsed() < Duration::from_secs(30), "the sandbox did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Gateway { child, base }
}

/// Debian's Chromium, or a failure that says how to get it.
fn chromium() -> PathBuf {
    for candidate in ["chromium", "chromium-browser"] {
        let found = Command::new(candidate)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if found {
            return PathBuf::from(candidate);
        }
    }
    panic!(
        "this test needs a real browser: install Debian's Chromium with `apt-get install -y chromium` \
         (and add it to .ci/run's packages)"
    );
}

/// Loads `url` in headless Chromium, lets it run (including navigations started on load) and
/// returns the DOM it ends with.
fn dump_dom(browser: &Path, profile: &Path, url: &str) -> String {
    // On a loaded machine headless Chromium now and then prints no DOM at all; try again then.
    for _ in 0..3 {
        let dom = dump_dom_once(browser, profile, url);
        if dom.contains("<html") {
            return dom;
        }
    }
    dump_dom_once(browser, profile, url)
}

fn dump_dom_once(browser: &Path, profile: &Path, url: &str) -> String {
    let out = Command::new(browser)
        .args([
            "--headless=new",
            "--disable-gpu",
            "--no-sandbox",
            "--no-first-run",
            "--disable-dev-shm-usage",
            "--disable-extensions",
            "--virtual-time-budget=15000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(url)
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("the DOM is UTF-8")
}

/// The gateway's own form page, filled in as a person would and submitted on load: saved to a
/// file that Chromium opens, so the post is a real browser's form post to the gateway.
async fn filled_form(gateway: &Gateway, dir: &Path, name: &str, query: &str, fields: &[(&str, &str)]) -> String {
    let mut html = reqwest::get(format!("{}/help?{query}", gateway.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    html = html.replace("action=\"/help\"", &format!("action=\"{}/help\"", gateway.base));
    // Fill in by script, as typing would: the values are JSON-quoted into it.
    let mut script = String::from("<script>window.onload = () => { const f = document.forms[0];\n");
    for (field, value) in fields {
        script.push_str(&format!(
            "f.elements[{}].value = {};\n",
            serde_json::to_string(field).unwrap(),
            serde_json::to_string(value).unwrap()
        ));
    }
    script.push_str("f.submit(); };</script>\n</body>");
    html = html.replace("</body>", &script);
    let path = dir.join(format!("{name}.html"));
    std::fs::write(&path, html).unwrap();
    format!("file://{}", path.display())
}

#[tokio::test]
async fn a_person_asks_for_help_with_a_real_browser() {
    let browser = chromium();
    let dir = tempfile::tempdir().unwrap();
    // Room for a browser post Chromium repeats under load; the limit itself is what the end checks.
    let gateway = start(dir.path(), 6).await;
    let profile = dir.path().join("chromium-profile");

    // The form renders in Swedish with the municipality's Swedish name and bound labels.
    let dom = dump_dom(
        &browser,
        &profile,
        &format!("{}/help?municipality=853&lang=sv", gateway.base),
    );
    assert!(dom.contains("<html lang=\"sv\">"), "{dom}");
    assert!(dom.contains("<strong>Åbo</strong>"), "{dom}");
    assert!(dom.contains("<label for=\"message\">Meddelande (obligatoriskt)</label>"));
    assert!(dom.contains("<label for=\"phone\">Telefonnummer</label>"));
    assert!(dom.contains("id=\"website\" name=\"website\" tabindex=\"-1\" autocomplete=\"off\""));

    // A request in Swedish: the browser shows the reference and the due time.
    let url = filled_form(
        &gateway,
        dir.path(),
        "sv",
        "municipality=853&lang=sv",
        &[
            ("message", "Min pappa behöver hjälp med att handla.\nHan bor ensam."),
            ("name", "Anna Lindqvist"),
            ("phone", "040 123 4567"),
        ],
    )
    .await;
    let dom = dump_dom(&browser, &profile, &url);
    assert!(dom.contains("<html lang=\"sv\">"), "{dom}");
    assert!(dom.contains("Tack, din begäran har tagits emot"), "{dom}");
    assert!(
        dom.contains("Ditt referensnummer är <span class=\"reference\">APU-20"),
        "{dom}"
    );
    assert!(dom.contains("Vi svarar senast") && dom.contains("kl. 16.15."), "{dom}");

    // Mistakes in Finnish: each message next to its field, the typed text kept and escaped.
    let url = filled_form(
        &gateway,
        dir.path(),
        "fi-invalid",
        "municipality=Turku&lang=fi",
        &[
            ("message", ""),
            ("phone", "\"><b id=\"injected\">123</b>"),
            ("email", "ei osoite"),
        ],
    )
    .await;
    let dom = dump_dom(&browser, &profile, &url);
    assert!(dom.contains("<html lang=\"fi\">"), "{dom}");
    assert!(dom.contains("Tarkista seuraavat tiedot:"), "{dom}");
    assert!(
        dom.contains("<p class=\"error\" id=\"message-error\"><span>Virhe: Kirjoita viesti"),
        "{dom}"
    );
    assert!(
        dom.contains("aria-describedby=\"phone-error\" aria-invalid=\"true\""),
        "{dom}"
    );
    assert!(dom.contains("Virhe: Sähköpostiosoite ei kelpaa."), "{dom}");
    // Echoed as the field's text, never as markup: no element was injected.
    assert!(dom.contains("id=&quot;injected&quot;"), "{dom}");
    assert!(!dom.contains("id=\"injected\""), "{dom}");

    // A robot that fills in the hidden field is refused.
    let url = filled_form(
        &gateway,
        dir.path(),
        "honeypot",
        "municipality=853&lang=fi",
        &[("message", "Buy now"), ("website", "http://spam.example")],
    )
    .await;
    let dom = dump_dom(&browser, &profile, &url);
    assert!(dom.contains("Pyyntöä ei voitu vastaanottaa."), "{dom}");

    // The real server knows the peer's address: the limit is shared by the browser's posts
    // (the refused robot and the first request used two; a retried dump may have used more) and
    // the JSON API, which answers 429 with Retry-After once it is reached (6 here).
    let http = reqwest::Client::new();
    let ask = || {
        http.post(format!("{}/v1/help-requests", gateway.base))
            .json(&serde_json::json!({ "municipality": "Åbo", "language": "sv", "message": "Hjälp" }))
            .send()
    };
    let mut created = 0;
    let limited = loop {
        let response = ask().await.unwrap();
        if response.status() == 429 {
            break response;
        }
        assert_eq!(response.status(), 201);
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(body["reference"].as_str().unwrap().starts_with("APU-"), "{body}");
        created += 1;
        assert!(created <= 5, "the limit of 6 was not enforced");
    };
    assert!(limited.headers().contains_key("retry-after"));
    assert_eq!(limited.headers()["content-type"], "application/problem+json");
}
