//! The fault matrix (issue 8): every adapter, through the whole gateway running in this process,
//! against its real simulator over loopback, under each fault that applies to it — a call slower
//! than its deadline, 500/502/503, 429 with `Retry-After`, a dropped connection, a malformed
//! body, TLS failures (Kanta's mutual TLS), expired credentials. Each exchange must end
//! `succeeded` once the fault clears, or `dead` with a reason that names the cause; never hang,
//! never reach the service twice. Scheduled jobs (PTV, IdP metadata, the TSA checkpoint, ODA) must
//! end their run `failed` naming the cause, and the next run must succeed.
//!
//! The isolation test measures one service's end-to-end latency while another hangs or answers
//! 503, against a baseline in the same run.

use portti::auth::{sandbox, Scope};
use portti::broker::ServicePolicy;
use portti::config::Config;
use portti::jobs::Jobs;
use portti_contract_tests::{fast_broker, get_json, post_json, run_gateway, sandbox_config};
use portti_simulators::{
    kanta, oda, ptv, suomifi_identification as idp, suomifi_mandates as mandates, suomifi_messages as messages, tsa,
};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The per-call deadline of every service in these tests.
const DEADLINE_MS: u64 = 500;
/// A latency fault well beyond it.
const TOO_SLOW: Duration = Duration::from_millis(1_500);
/// A test person with an active Suomi.fi mailbox in the simulator.
const IDENTITY_CODE: &str = "010594Y9032";
/// How a call that outlived its deadline is named (by the broker, or by the HTTP client).
const TIMED_OUT: &str = "deadline|timed out";
/// The deadline of the scheduled jobs' calls in `scheduled_jobs_under_every_fault`, and a
/// latency beyond it.
const JOB_CALL_DEADLINE: Duration = Duration::from_millis(2_000);
const TOO_SLOW_FOR_JOBS: Duration = Duration::from_millis(3_500);

struct Gw {
    base: String,
    token: String,
    messages: messages::Control,
    kanta: kanta::Control,
    oda: oda::Control,
    ptv: ptv::Control,
    tsa: tsa::Control,
    idp: Option<idp::Control>,
    mandates: mandates::Control,
    mandates_url: String,
    jobs: Arc<Jobs>,
    _data: tempfile::TempDir,
}

/// Fast retries, a short deadline, a budget of four attempts, no circuit breaker in the way
/// (unless `tweak` says otherwise), and no scheduled job running by itself.
async fn start(tweak: impl FnOnce(&mut Config, &std::path::Path)) -> Gw {
    let data = tempfile::tempdir().unwrap();
    let mut config = sandbox_config(data.path());
    fast_broker(&mut config);
    config.broker.default_policy.max_attempts = 4;
    config.broker.default_policy.call_timeout_ms = DEADLINE_MS;
    config.broker.default_policy.breaker_failures = 1_000;
    let never = "0 0 0 1 1 * 2099".to_string();
    config.jobs.suomifi_messages_events = never.clone();
    config.jobs.suomifi_messages_password = never.clone();
    config.jobs.suomifi_identification_metadata = never.clone();
    config.jobs.oda_assessments = never.clone();
    config.jobs.audit_checkpoint = never.clone();
    config.jobs.exchange_payload_retention = never.clone();
    config.jobs.ptv_services = never;
    tweak(&mut config, data.path());
    let key = sandbox::SigningKey::load_or_create(data.path()).unwrap();
    let token = sandbox::mint(
        &key,
        &config.auth.issuer,
        &config.auth.audience,
        "ohjaus",
        &Scope::ALL,
        &["853".into(), "202".into()],
        600,
    )
    .unwrap();
    let (addr, ((messages, kanta, oda, ptv, tsa, idp, jobs), (mandates, mandates_url))) = run_gateway(config, |g| {
        (
            (
                g.messages_simulator.as_ref().unwrap().control(),
                g.kanta_simulator.as_ref().unwrap().control(),
                g.oda_simulator.as_ref().unwrap().control(),
                g.ptv_simulator.as_ref().unwrap().control(),
                g.tsa_simulator.as_ref().unwrap().control(),
                g.idp_simulator.as_ref().map(|s| s.control()),
                g.jobs.clone(),
            ),
            (
                g.mandates_simulator.as_ref().unwrap().control(),
                g.mandates_simulator.as_ref().unwrap().base_url(),
            ),
        )
    })
    .await;
    Gw {
        base: format!("http://{addr}"),
        token,
        messages,
        kanta,
        oda,
        ptv,
        tsa,
        idp,
        mandates,
        mandates_url,
        jobs,
        _data: data,
    }
}

impl Gw {
    async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        post_json(&self.base, &self.token, path, body).await
    }

    async fn get(&self, path: &str) -> Value {
        get_json(&self.base, &self.token, path).await.1
    }

    /// Waits until the exchange is `succeeded` or `dead` (never longer than 15 s: no hang).
    async fn settle(&self, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let e = self.get(&format!("/v1/exchanges/{id}")).await;
            if e["status"] == "succeeded" || e["status"] == "dead" {
                return e;
            }
            assert!(Instant::now() < deadline, "the exchange hangs: {e}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn send_message(&self) -> String {
        let body = json!({ "organisation": "853", "recipient": { "identity_code": IDENTITY_CODE },
            "title": "Asiakasohjaus", "body": "Hei! Soitamme teille huomenna.", "body_format": "text", "language": "fi" });
        let (status, accepted) = self.post("/v1/messages", &body).await;
        assert_eq!(status, 202, "{accepted}");
        accepted["exchange_id"].as_str().unwrap().to_string()
    }

    async fn new_case(&self) -> String {
        let body: Value = serde_json::from_str(portti::case::input::EXAMPLE).unwrap();
        let (status, case) = self.post("/v1/cases", &body).await;
        assert_eq!(status, 201, "{case}");
        case["id"].as_str().unwrap().to_string()
    }

    /// Archives a contact record of a new case: (exchange id, document OID).
    async fn archive(&self) -> (String, String) {
        let case = self.new_case().await;
        let (status, accepted) = self
            .post(
                &format!("/v1/cases/{case}/kanta-documents"),
                &json!({ "kind": "contact_record" }),
            )
            .await;
        assert_eq!(status, 202, "{accepted}");
        (
            accepted["exchange_id"].as_str().unwrap().to_string(),
            accepted["document_oid"].as_str().unwrap().to_string(),
        )
    }
}

/// What an exchange must come to under a fault.
#[derive(Clone, Copy, Debug, PartialEq)]
enum End {
    /// Succeeded after at least one failed attempt whose error contains this.
    Recovers(&'static str),
    /// Succeeded (the fault may not even have needed a retry: e.g. a body the adapter does not read).
    Delivered,
    /// Dead, its `last_error` containing this.
    Dead(&'static str),
}

fn attempt_errors(e: &Value) -> Vec<String> {
    (e["attempts"].as_array().into_iter().flatten())
        .filter_map(|a| a["error"].as_str().map(str::to_string))
        .collect()
}

/// Whether `text` names `cause` (alternatives separated by `|`).
fn names(text: &str, cause: &str) -> bool {
    cause.split('|').any(|c| text.contains(c))
}

/// Checks how an exchange ended, and that no reason leaks the identity code.
fn check(name: &str, e: &Value, end: End) {
    let text = e.to_string();
    assert!(!text.contains(IDENTITY_CODE), "{name}: an identity code in {text}");
    match end {
        End::Recovers(cause) => {
            assert_eq!(e["status"], "succeeded", "{name}: {e}");
            let errors = attempt_errors(e);
            assert!(
                errors.iter().any(|m| names(m, cause)),
                "{name}: no attempt names {cause:?}: {errors:?}"
            );
        }
        End::Delivered => assert_eq!(e["status"], "succeeded", "{name}: {e}"),
        End::Dead(cause) => {
            assert_eq!(e["status"], "dead", "{name}: {e}");
            let reason = e["last_error"].as_str().unwrap_or_default();
            assert!(names(reason, cause), "{name}: {reason:?} does not name {cause:?}");
        }
    }
}

/// The gap between the end of the first attempt and the start of the second, in seconds.
fn first_retry_gap(e: &Value) -> f64 {
    let attempts = e["attempts"].as_array().unwrap();
    let at = |i: usize| epoch_seconds(attempts[i]["started_at"].as_str().unwrap());
    at(1) - at(0) - attempts[0]["latency_ms"].as_f64().unwrap() / 1000.0
}

/// Seconds of an RFC 3339 UTC time's clock (`…T12:34:56.123456Z`), enough for gaps under an hour.
fn epoch_seconds(time: &str) -> f64 {
    let clock = time.split_once('T').unwrap().1.trim_end_matches('Z');
    let clock = clock.split(['+', '-']).next().unwrap();
    let mut parts = clock.split(':');
    let h: f64 = parts.next().unwrap().parse().unwrap();
    let m: f64 = parts.next().unwrap().parse().unwrap();
    let s: f64 = parts.next().unwrap().parse().unwrap();
    h * 3600.0 + m * 60.0 + s
}

#[tokio::test]
async fn suomifi_messages_under_every_fault() {
    use messages::Fault;
    let gw = start(|_, _| {}).await;
    let send = "/v2/messages";
    let cases: Vec<(&str, Vec<Fault>, End)> = vec![
        (
            "timeout",
            vec![Fault::latency(TOO_SLOW).on_path(send).times(1)],
            End::Recovers(TIMED_OUT),
        ),
        (
            "500",
            vec![Fault::status(500).on_path(send).times(1)],
            End::Recovers("500"),
        ),
        (
            "502",
            vec![Fault::status(502).on_path(send).times(1)],
            End::Recovers("502"),
        ),
        (
            "503 twice",
            vec![Fault::status(503).on_path(send).times(2)],
            End::Recovers("503"),
        ),
        ("503 for good", vec![Fault::status(503).on_path(send)], End::Dead("503")),
        (
            "429 Retry-After",
            vec![Fault::too_many_requests(1).on_path(send).times(1)],
            End::Recovers("rate"),
        ),
        (
            "connection dropped",
            vec![Fault::drop_connection().on_path(send).times(1)],
            End::Recovers("connection closed"),
        ),
        (
            "answer lost after sending",
            vec![Fault::drop_connection().on_path(send).times(1).after_processing()],
            End::Recovers("connection closed"),
        ),
        (
            "malformed body",
            vec![Fault::malformed_json().on_path(send).times(1).after_processing()],
            End::Recovers(""),
        ),
        (
            "token expired",
            vec![Fault::unauthorized().on_path(send).times(1)],
            // Renewed and sent again within the attempt (the API's rule: refresh on 401, retry once).
            End::Delivered,
        ),
        (
            "credentials refused for good",
            vec![
                Fault::unauthorized().on_path("/v1/token"),
                Fault::unauthorized().on_path(send),
            ],
            End::Dead("401"),
        ),
    ];
    for (name, faults, end) in cases {
        gw.messages.clear_faults();
        for fault in faults {
            gw.messages.inject(fault);
        }
        let id = gw.send_message().await;
        let e = gw.settle(&id).await;
        check(name, &e, end);
        let sent = gw.messages.count_sends_by_external_id();
        let created = sent.get(&id).map(|c| c.created).unwrap_or_default();
        match end {
            End::Recovers(_) | End::Delivered => assert_eq!(created, 1, "{name}: created {created} times"),
            End::Dead(_) => assert_eq!(created, 0, "{name}"),
        }
        if name == "429 Retry-After" {
            let gap = first_retry_gap(&e);
            assert!(
                gap >= 0.95,
                "{name}: the retry came {gap:.3} s after the 429, not after Retry-After: 1"
            );
        }
        println!(
            "messages / {name}: {} after {} attempts",
            e["status"],
            e["attempts"].as_array().unwrap().len()
        );
    }
}

#[tokio::test]
async fn kanta_under_every_fault() {
    use kanta::{Fault, Malformed};
    let gw = start(|_, _| {}).await;
    let archive = "RCMR_IN000002FI01";
    let cases: Vec<(&str, Fault, End)> = vec![
        ("timeout", Fault::latency(TOO_SLOW).times(1), End::Recovers(TIMED_OUT)),
        ("500", Fault::status(500).times(1), End::Recovers("500")),
        ("502", Fault::status(502).times(1), End::Recovers("502")),
        ("503 for good", Fault::status(503), End::Dead("503")),
        (
            "429 Retry-After",
            Fault::too_many_requests(1).times(1),
            End::Recovers("rate"),
        ),
        (
            "connection dropped",
            Fault::drop_connection().times(1),
            End::Recovers("connection closed"),
        ),
        (
            "acknowledgement lost after archiving",
            Fault::drop_connection().times(1).after_processing(),
            End::Recovers("connection closed"),
        ),
        (
            "malformed acknowledgement",
            Fault::malformed(Malformed::Truncated).times(1).after_processing(),
            End::Recovers(""),
        ),
        (
            "not XML",
            Fault::malformed(Malformed::NotXml).times(1),
            End::Recovers(""),
        ),
    ];
    for (name, fault, end) in cases {
        gw.kanta.clear_faults();
        gw.kanta.inject(fault.on_interaction(archive));
        let (id, oid) = gw.archive().await;
        let e = gw.settle(&id).await;
        check(name, &e, end);
        let stored = gw.kanta.document(&oid).map(|d| d.version);
        match end {
            End::Recovers(_) | End::Delivered => assert_eq!(stored, Some(1), "{name}: archived once, as version 1"),
            End::Dead(_) => assert_eq!(stored, None, "{name}"),
        }
        if name == "429 Retry-After" {
            let gap = first_retry_gap(&e);
            assert!(gap >= 0.95, "{name}: the retry came {gap:.3} s after the 429");
        }
        println!(
            "kanta / {name}: {} after {} attempts",
            e["status"],
            e["attempts"].as_array().unwrap().len()
        );
    }
}

#[tokio::test]
async fn kanta_tls_failures_are_named() {
    use kanta::Fault;
    let gw = start(|_, _| {}).await;
    // Let the start-up health checks (which connect to the archive) pass first: a fault for
    // one connection must meet the exchange's.
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let cases: Vec<(&str, Fault, End)> = vec![
        (
            "handshake fails once",
            Fault::tls_failure().times(1),
            End::Recovers("TLS handshake failed"),
        ),
        (
            "untrusted server certificate",
            Fault::untrusted_server_certificate(),
            End::Dead("TLS handshake failed"),
        ),
        (
            "client certificate refused",
            Fault::refuse_client_certificate(),
            End::Dead("TLS handshake failed"),
        ),
    ];
    for (name, fault, end) in cases {
        gw.kanta.clear_faults();
        gw.kanta.inject(fault);
        // The faults fire per connection: no kept-alive one may bypass them.
        gw.kanta.close_connections();
        let (id, oid) = gw.archive().await;
        let e = gw.settle(&id).await;
        check(name, &e, end);
        let errors = attempt_errors(&e);
        println!("kanta / {name}: {} — {:?}", e["status"], errors.first());
        if name == "untrusted server certificate" {
            assert!(
                errors.iter().all(|m| m.contains("certificate verify failed")),
                "{name}: {errors:?}"
            );
        }
        let stored = gw.kanta.document(&oid).map(|d| d.version);
        match end {
            End::Recovers(_) | End::Delivered => assert_eq!(stored, Some(1), "{name}"),
            End::Dead(_) => assert_eq!(stored, None, "{name}"),
        }
    }
    // Once the certificates are right again, the archive is reached.
    gw.kanta.clear_faults();
    gw.kanta.close_connections();
    let (id, _) = gw.archive().await;
    assert_eq!(gw.settle(&id).await["status"], "succeeded");
}

/// A webhook receiver answering from a script (then 200), recording the event id of each hit.
#[derive(Clone, Copy, Debug)]
enum Answer {
    Status(u16),
    TooManyRequests(u64),
    Sleep(Duration),
}

type Script = Arc<Mutex<(VecDeque<Answer>, Vec<(String, u16)>)>>;

async fn webhook_receiver() -> (String, Script) {
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    let script: Script = Arc::default();
    let seen = script.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap| {
            let seen = seen.clone();
            async move {
                let event = (headers.get("portti-event-id").and_then(|v| v.to_str().ok()))
                    .unwrap_or_default()
                    .to_string();
                let next = seen.lock().unwrap().0.pop_front();
                let (status, retry_after) = match next {
                    Some(Answer::Status(s)) => (s, None),
                    Some(Answer::TooManyRequests(s)) => (429, Some(s)),
                    Some(Answer::Sleep(d)) => {
                        tokio::time::sleep(d).await;
                        (200, None)
                    }
                    None => (200, None),
                };
                seen.lock().unwrap().1.push((event, status));
                let mut response = StatusCode::from_u16(status).unwrap().into_response();
                if let Some(s) = retry_after {
                    response
                        .headers_mut()
                        .insert("retry-after", s.to_string().parse().unwrap());
                }
                response
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), script)
}

#[tokio::test]
async fn webhooks_under_every_fault() {
    let (url, script) = webhook_receiver().await;
    let gw = start(|config, data| {
        std::fs::write(data.join("webhook-202.secret"), "s3cret-for-202\n").unwrap();
        config.webhooks.push(portti::config::WebhookSettings {
            organisation: "202".into(),
            url,
            secret_file: "webhook-202.secret".into(),
        });
    })
    .await;
    let cases: Vec<(&str, Vec<Answer>, End)> = vec![
        ("timeout", vec![Answer::Sleep(TOO_SLOW)], End::Recovers(TIMED_OUT)),
        ("500", vec![Answer::Status(500)], End::Recovers("500")),
        ("502", vec![Answer::Status(502)], End::Recovers("502")),
        ("503 for good", vec![Answer::Status(503); 4], End::Dead("503")),
        (
            "429 Retry-After",
            vec![Answer::TooManyRequests(1)],
            End::Recovers("rate"),
        ),
        (
            "401: the signature refused",
            vec![Answer::Status(401)],
            End::Dead("signature"),
        ),
    ];
    for (name, answers, end) in cases {
        {
            let mut s = script.lock().unwrap();
            s.0 = answers.into();
            s.1.clear();
        }
        // A case organised by 202, handed over to it: the transfer sends 202 a webhook.
        let (status, case) = gw
            .post(
                "/v1/cases",
                &json!({ "organiser": "202", "handled_by": { "organisation": "853" }, "channel": "phone",
                        "language": "fi", "received_at": "2026-11-02T09:15:00+02:00",
                        "client": { "identity_code": IDENTITY_CODE }, "outcome": "open" }),
            )
            .await;
        assert_eq!(status, 201, "{case}");
        let case = case["id"].as_str().unwrap();
        let (status, created) = gw
            .post(
                &format!("/v1/cases/{case}/transfers"),
                &json!({ "to": "202", "reason": "service_need_assessment" }),
            )
            .await;
        assert_eq!(status, 201, "{created}");
        let id = {
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                let page = gw.get("/v1/exchanges?limit=200&service=webhook").await;
                let ids: Vec<String> = (page["items"].as_array().into_iter().flatten())
                    .filter(|e| e["service"] == "webhook")
                    .filter_map(|e| e["id"].as_str().map(str::to_string))
                    .collect();
                let seen: Vec<String> = script.lock().unwrap().1.iter().map(|(e, _)| e.clone()).collect();
                if let Some(id) = ids.iter().find(|id| seen.contains(id)) {
                    break id.clone();
                }
                assert!(Instant::now() < deadline, "{name}: no webhook sent");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        let e = gw.settle(&id).await;
        check(name, &e, end);
        let hits = script.lock().unwrap().1.clone();
        let delivered = hits.iter().filter(|(e, s)| e == &id && *s == 200).count();
        match end {
            // A slow 200 the gateway gave up on counts as delivered too: the receiver dedups by event id.
            End::Recovers(_) | End::Delivered => assert!(delivered >= 1, "{name}: {hits:?}"),
            End::Dead(_) => assert_eq!(delivered, 0, "{name}: {hits:?}"),
        }
        if name == "401: the signature refused" {
            assert_eq!(e["attempts"].as_array().unwrap().len(), 1, "{name}: not retried");
        }
        if name == "429 Retry-After" {
            let gap = first_retry_gap(&e);
            assert!(gap >= 0.95, "{name}: the retry came {gap:.3} s after the 429");
        }
        println!(
            "webhook / {name}: {} after {} attempts",
            e["status"],
            e["attempts"].as_array().unwrap().len()
        );
    }
}

/// A job's run under a fault: `failed` naming the cause; the run after the fault clears is `ok`.
async fn job_case(jobs: &Jobs, job: &str, name: &str, cause: &str, clear: impl FnOnce()) {
    let failed = tokio::time::timeout(Duration::from_secs(15), jobs.run(job))
        .await
        .unwrap_or_else(|_| panic!("{job} / {name}: the run hangs"))
        .unwrap();
    assert_eq!(failed.outcome, "failed", "{job} / {name}: {failed:?}");
    let error = failed.error.clone().unwrap_or_default();
    assert!(
        names(&error, cause),
        "{job} / {name}: {error:?} does not name {cause:?}"
    );
    assert!(!error.contains(IDENTITY_CODE), "{job} / {name}: {error:?}");
    clear();
    let ok = jobs.run(job).await.unwrap();
    assert_eq!(ok.outcome, "ok", "{job} / {name}, after: {ok:?}");
    println!("{job} / {name}: failed with {error:?}, then ok");
}

#[tokio::test]
async fn scheduled_jobs_under_every_fault() {
    let gw = start(|config, _| {
        config.sandbox_services.ptv_municipalities = vec!["853".into()];
        // The jobs' calls to the PTV, TSA and IdP simulators give up after this.
        config.sandbox_services.client_timeout_ms = JOB_CALL_DEADLINE.as_millis() as u64;
    })
    .await;

    // PTV catalogue.
    let list = "/api/v11/Service/list";
    for (name, fault, cause) in [
        ("500", ptv::Fault::status(500), "500"),
        ("502", ptv::Fault::status(502), "502"),
        ("503", ptv::Fault::status(503), "503"),
        ("429", ptv::Fault::too_many_requests(1), "rate limited"),
        ("connection dropped", ptv::Fault::drop_connection(), "connection closed"),
        ("malformed body", ptv::Fault::malformed_json(), ""),
        ("timeout", ptv::Fault::latency(TOO_SLOW_FOR_JOBS), TIMED_OUT),
    ] {
        gw.ptv.inject(fault.on_path(list));
        job_case(&gw.jobs, portti::jobs::PTV_SERVICES, name, cause, || {
            gw.ptv.clear_faults()
        })
        .await;
    }

    // The TSA behind the audit checkpoint.
    for (name, fault, cause) in [
        ("500", tsa::Fault::Status(500), "HTTP 500"),
        ("503", tsa::Fault::Status(503), "HTTP 503"),
        (
            "429",
            tsa::Fault::TooManyRequests { retry_after_seconds: 1 },
            "HTTP 429",
        ),
        ("connection dropped", tsa::Fault::DropConnection, "connection closed"),
        ("malformed body", tsa::Fault::MalformedReply, "timestamp"),
        ("a token for other data", tsa::Fault::WrongImprint, "imprint"),
        ("timeout", tsa::Fault::Latency(TOO_SLOW_FOR_JOBS), TIMED_OUT),
    ] {
        // Something new in the trail to checkpoint.
        gw.new_case().await;
        gw.tsa.inject(fault, None);
        job_case(&gw.jobs, portti::jobs::AUDIT_CHECKPOINT, name, cause, || {
            gw.tsa.clear_faults()
        })
        .await;
    }

    // The IdP metadata.
    if let Some(control) = &gw.idp {
        let path = "/idp/metadata";
        for (name, fault, cause) in [
            ("500", idp::Fault::status(500), "HTTP 500"),
            ("503", idp::Fault::status(503), "HTTP 503"),
            ("connection dropped", idp::Fault::drop_connection(), "connection closed"),
            (
                "signed by an unknown key",
                idp::Fault::metadata_signed_by_unknown_key(),
                "sign",
            ),
            ("timeout", idp::Fault::latency(TOO_SLOW_FOR_JOBS), TIMED_OUT),
        ] {
            control.inject(fault.on_path(path));
            job_case(&gw.jobs, portti::jobs::IDENTIFICATION_METADATA, name, cause, || {
                control.clear_faults()
            })
            .await;
        }
    }

    // ODA assessments (inbound).
    for (name, fault, cause) in [
        ("500", oda::Fault::status(500), "500"),
        ("503", oda::Fault::status(503), "503"),
        ("429", oda::Fault::too_many_requests(1), "rate limited"),
        ("connection dropped", oda::Fault::drop_connection(), "connection closed"),
        ("malformed body", oda::Fault::malformed_json(), ""),
        ("timeout", oda::Fault::latency(TOO_SLOW), TIMED_OUT),
    ] {
        gw.oda.add_assessment(IDENTITY_CODE, "853", "urgent");
        gw.oda.inject(fault.on_path("/fhir"));
        job_case(&gw.jobs, portti::jobs::ODA_ASSESSMENTS, name, cause, || {
            gw.oda.clear_faults()
        })
        .await;
    }
    // An expired token is renewed within the run.
    gw.oda.add_assessment(IDENTITY_CODE, "853", "urgent");
    gw.oda.expire_tokens();
    let run = gw.jobs.run(portti::jobs::ODA_ASSESSMENTS).await.unwrap();
    assert_eq!(run.outcome, "ok", "expired ODA token: {run:?}");
}

#[tokio::test]
async fn oda_replies_under_every_fault() {
    use oda::Fault;
    let gw = start(|_, _| {}).await;
    gw.oda.add_assessment(IDENTITY_CODE, "853", "urgent");
    let run = gw.jobs.run(portti::jobs::ODA_ASSESSMENTS).await.unwrap();
    assert_eq!(run.outcome, "ok", "{run:?}");
    let cases = gw.get("/v1/cases?organisation=853&limit=50").await;
    let case = (cases["items"].as_array().unwrap().iter())
        .find(|c| c["source"]["system"] == "oda")
        .expect("the ODA case")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let fhir = "/fhir";
    let faults: Vec<(&str, Vec<Fault>, End)> = vec![
        (
            "timeout",
            vec![Fault::latency(TOO_SLOW).on_path(fhir).times(1)],
            End::Recovers(TIMED_OUT),
        ),
        (
            "500",
            vec![Fault::status(500).on_path(fhir).times(1)],
            End::Recovers("500"),
        ),
        (
            "502",
            vec![Fault::status(502).on_path(fhir).times(1)],
            End::Recovers("502"),
        ),
        ("503 for good", vec![Fault::status(503).on_path(fhir)], End::Dead("503")),
        (
            "429 Retry-After",
            vec![Fault::too_many_requests(1).on_path(fhir).times(1)],
            End::Recovers("rate"),
        ),
        (
            "connection dropped",
            vec![Fault::drop_connection().on_path(fhir).times(1)],
            End::Recovers("connection closed"),
        ),
        (
            "malformed body",
            vec![Fault::malformed_json().on_path(fhir).times(1).after_processing()],
            End::Delivered,
        ),
        // Renewed and sent again within the attempt.
        (
            "token expired",
            vec![Fault::unauthorized().on_path(fhir).times(1)],
            End::Delivered,
        ),
    ];
    for (name, faults, end) in faults {
        gw.oda.clear_faults();
        for f in faults {
            gw.oda.inject(f);
        }
        let before = gw.oda.communications().len();
        let (status, accepted) = gw
            .post(
                &format!("/v1/cases/{case}/oda-replies"),
                &json!({ "message": "Hei! Soitamme teille huomenna.", "sender_display": "Sari Ohjaaja" }),
            )
            .await;
        assert_eq!(status, 202, "{name}: {accepted}");
        let e = gw.settle(accepted["exchange_id"].as_str().unwrap()).await;
        check(name, &e, end);
        let sent = gw.oda.communications().len() - before;
        match end {
            End::Recovers(_) | End::Delivered => assert_eq!(sent, 1, "{name}: the reply reached Omaolo {sent} times"),
            End::Dead(_) => assert_eq!(sent, 0, "{name}"),
        }
        println!(
            "oda / {name}: {} after {} attempts",
            e["status"],
            e["attempts"].as_array().unwrap().len()
        );
    }
}

#[tokio::test]
async fn suomifi_mandates_under_every_fault() {
    use mandates::Fault;
    let gw = start(|_, _| {}).await;
    // The Mandates client as the gateway builds it for the sandbox (the API's check needs a
    // Suomi.fi login first), with a 1 s deadline instead of the default 30 s.
    let client = portti_suomifi_mandates::SuomifiMandates::new(portti_suomifi_mandates::MandatesConfig {
        base_url: gw.mandates_url.clone(),
        client_id: mandates::SANDBOX_CLIENT_ID.into(),
        client_secret_file: gw._data.path().join("suomifi-mandates.key"),
        issues: vec![mandates::SANDBOX_ISSUE.into()],
        http: portti_adapter_core::HttpClientConfig {
            request_timeout: Duration::from_secs(1),
            ..Default::default()
        },
    })
    .unwrap();
    // The sandbox's default user may act for this person.
    let (delegate, principal) = ("010594Y9032", "131052-308T");
    let allowed = client.check(delegate, principal).await;
    assert!(allowed.is_allowed(), "{:?}", allowed.error);
    for (name, fault, cause) in [
        ("timeout", Fault::latency(TOO_SLOW), TIMED_OUT),
        ("500", Fault::status(500), "500"),
        ("502", Fault::status(502), "502"),
        ("503", Fault::status(503), "503"),
        ("429", Fault::too_many_requests(1), "rate limited"),
        ("connection dropped", Fault::drop_connection(), "connection closed"),
        ("malformed body", Fault::malformed_json(), "JSON|json"),
        ("credentials refused", Fault::unauthorized(), "401"),
    ] {
        gw.mandates.clear_faults();
        gw.mandates.inject(fault);
        let started = Instant::now();
        let decision = client.check(delegate, principal).await;
        // One attempt bounded by the client's deadline, never a hang; no answer = no mandate.
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{name}: {:?}",
            started.elapsed()
        );
        assert!(!decision.is_allowed(), "{name}: allowed without an answer");
        let error = decision.error.as_ref().map(|e| e.to_string()).unwrap_or_default();
        assert!(names(&error, cause), "{name}: {error:?} does not name {cause:?}");
        assert!(
            !error.contains(delegate) && !error.contains(principal),
            "{name}: {error:?}"
        );
        println!("mandates / {name}: DISALLOWED, assumed because {error:?}");
    }
    gw.mandates.clear_faults();
    assert!(client.check(delegate, principal).await.is_allowed());
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Archives `n` documents one after another; the end-to-end latency of each (accepted → succeeded).
async fn kanta_latencies(gw: &Gw, n: usize) -> Vec<Duration> {
    let mut latencies = Vec::with_capacity(n);
    for _ in 0..n {
        let case = gw.new_case().await;
        let started = Instant::now();
        let (status, accepted) = gw
            .post(
                &format!("/v1/cases/{case}/kanta-documents"),
                &json!({ "kind": "contact_record" }),
            )
            .await;
        assert_eq!(status, 202, "{accepted}");
        let e = gw.settle(accepted["exchange_id"].as_str().unwrap()).await;
        assert_eq!(e["status"], "succeeded", "{e}");
        latencies.push(started.elapsed());
    }
    latencies.sort();
    latencies
}

#[tokio::test]
async fn a_hung_or_failing_service_leaves_the_others_their_latency() {
    let gw = start(|config, _| {
        // Few workers, so that parking them behind a hung service would show at once.
        config.broker.workers = 16;
        config.broker.default_policy.call_timeout_ms = 5_000;
        config.broker.default_policy.max_attempts = 100;
        config.broker.services.insert(
            "suomifi-messages".into(),
            ServicePolicy {
                concurrency: 4,
                call_timeout_ms: 3_000,
                max_attempts: 100,
                // Backoff as in production, only shorter (the default: 500 ms to 5 min).
                base_delay_ms: 100,
                max_delay_ms: 2_000,
                // No breaker: the broker itself must keep the services apart, not the circuit.
                breaker_failures: 1_000,
                ..ServicePolicy::default()
            },
        );
    })
    .await;
    let n = 20;
    let baseline = kanta_latencies(&gw, n).await;

    // Suomi.fi Messages hangs far beyond its deadline, with a backlog of 200 messages.
    gw.messages
        .inject(messages::Fault::latency(Duration::from_secs(60)).on_path("/v2/messages"));
    for _ in 0..200 {
        gw.send_message().await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let hung = kanta_latencies(&gw, n).await;

    // Then it answers 503 to everything instead.
    gw.messages.clear_faults();
    gw.messages.inject(messages::Fault::status(503).on_path("/v2/messages"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let failing = kanta_latencies(&gw, n).await;
    gw.messages.clear_faults();

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let (b50, b95) = (percentile(&baseline, 0.5), percentile(&baseline, 0.95));
    for (phase, lat) in [("Messages hung", &hung), ("Messages 503", &failing)] {
        let (p50, p95) = (percentile(lat, 0.5), percentile(lat, 0.95));
        println!(
            "isolation: Kanta end-to-end p50/p95 baseline {:.0}/{:.0} ms, while {phase} {:.0}/{:.0} ms ({:.2}× p95)",
            ms(b50),
            ms(b95),
            ms(p50),
            ms(p95),
            ms(p95) / ms(b95)
        );
        assert!(
            p95 < b95 * 5 + Duration::from_millis(200),
            "{phase}: Kanta p95 {p95:?} against a baseline p95 of {b95:?}"
        );
    }
}
