//! PostgreSQL goes away under load, first the way a stopped server does (connections closed,
//! new ones refused), then the way a broken network does (connections open, no answer). While
//! it is away the API answers 503 within bounded time and accepts nothing; when it is back the
//! gateway carries on by itself, without a restart. Every exchange answered 202 — before,
//! during or after — is delivered exactly once and the audit chain verifies.

mod common;

use common::{messages_config, messages_simulator, send_until, wait_until_succeeded, Gateway};
use portti::auth::Scope;
use portti_simulators::suomifi_messages as simulator;
use portti_simulators::tcp_link::TcpLink;
use std::net::ToSocketAddrs;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const UP: u8 = 0;
const CUT: u8 = 1;
const HUNG: u8 = 2;
const PHASES: [&str; 3] = ["up", "cut", "hung"];

/// One probe's answer: the phase when it was sent and when it was answered, status, time taken.
#[derive(Debug, Clone, Copy)]
struct Probe {
    sent_in: u8,
    answered_in: u8,
    status: u16,
    took: Duration,
}

/// Posts one message at a time, recording each answer with the phases around it.
async fn probe(base: String, token: String, phase: Arc<AtomicU8>, stop: Arc<AtomicBool>) -> (Vec<Probe>, Vec<String>) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let (mut probes, mut accepted) = (Vec::new(), Vec::new());
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let body = serde_json::json!({ "organisation": "853",
            "recipient": { "identity_code": simulator::SANDBOX_PERSONS_WITH_MAILBOX[0] },
            "title": "Asiakasohjaus", "body": format!("Koetus {n}"), "language": "fi" });
        let (sent_in, started) = (phase.load(Ordering::SeqCst), Instant::now());
        let response = http
            .post(format!("{base}/v1/messages"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .expect("the gateway answers even without its database");
        let status = response.status().as_u16();
        let answered_in = phase.load(Ordering::SeqCst);
        if status == 202 {
            let v: serde_json::Value = response.json().await.unwrap();
            accepted.push(v["exchange_id"].as_str().unwrap().to_string());
        } else {
            assert_eq!(status, 503, "{}", response.text().await.unwrap_or_default());
            let content_type = response.headers()["content-type"].to_str().unwrap().to_string();
            assert_eq!(content_type, "application/problem+json");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        probes.push(Probe {
            sent_in,
            answered_in,
            status,
            took: started.elapsed(),
        });
    }
    (probes, accepted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_its_database_the_gateway_answers_503_and_recovers_by_itself() {
    let Some(database) = portti::store::testing::TestDatabase::create().await else {
        return;
    };
    // The gateway reaches PostgreSQL only through a link the test can break.
    let mut url = reqwest::Url::parse(&database.url).unwrap();
    let server = (url.host_str().unwrap(), url.port().unwrap_or(5432))
        .to_socket_addrs()
        .unwrap()
        .next()
        .unwrap();
    let link = TcpLink::start(server).await.unwrap();
    url.set_host(Some("127.0.0.1")).unwrap();
    url.set_port(Some(link.addr().port())).unwrap();

    let (sim, account) = messages_simulator(None).await;
    let control = sim.control();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("portti.password"), &account.password).unwrap();
    let config = messages_config(&sim.base_url(), &account, Some(url.as_str()));
    std::fs::write(dir.path().join("portti.toml"), config).unwrap();
    let gateway = Gateway::start(dir.path()).await;
    let token = gateway.token(&[Scope::MessagesSend, Scope::ExchangesRead], &["853"]);

    let stop = Arc::new(AtomicBool::new(false));
    let phase = Arc::new(AtomicU8::new(UP));
    let bases = Arc::new(vec![gateway.base.clone()]);
    let senders: Vec<_> = (0..4)
        .map(|sender| tokio::spawn(send_until(bases.clone(), token.clone(), stop.clone(), sender)))
        .collect();
    let prober = tokio::spawn(probe(gateway.base.clone(), token.clone(), phase.clone(), stop.clone()));
    let ready = |base: String| async move {
        reqwest::get(format!("{base}/readyz"))
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    };

    let recoveries = Arc::new(Mutex::new(Vec::new()));
    for outage in [CUT, HUNG] {
        tokio::time::sleep(Duration::from_secs(2)).await;
        phase.store(outage, Ordering::SeqCst);
        match outage {
            CUT => link.cut(),
            _ => link.hang(),
        }
        tokio::time::sleep(Duration::from_secs(if outage == CUT { 4 } else { 12 })).await;
        assert_eq!(
            ready(gateway.base.clone()).await,
            503,
            "not ready while the database is {}",
            PHASES[outage as usize]
        );
        link.restore().await.unwrap();
        phase.store(UP, Ordering::SeqCst);
        // Recovered by itself: a new message is accepted again without a restart.
        let restored = Instant::now();
        while ready(gateway.base.clone()).await != 200 {
            assert!(
                restored.elapsed() < Duration::from_secs(20),
                "no recovery after the {} outage",
                PHASES[outage as usize]
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        recoveries
            .lock()
            .unwrap()
            .push((PHASES[outage as usize], restored.elapsed()));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let mut accepted = Vec::new();
    for sender in senders {
        accepted.extend(sender.await.unwrap());
    }
    let (probes, probed) = prober.await.unwrap();
    accepted.extend(probed);

    for outage in [CUT, HUNG] {
        let within: Vec<&Probe> = probes
            .iter()
            .filter(|p| p.sent_in == outage && p.answered_in == outage)
            .collect();
        let refused = within.iter().filter(|p| p.status == 503).count();
        assert!(
            refused >= 1,
            "no probe answered within the {} outage: {probes:?}",
            PHASES[outage as usize]
        );
        assert!(
            within.iter().all(|p| p.status == 503),
            "accepted while the database was {}: {within:?}",
            PHASES[outage as usize]
        );
        let slowest = within.iter().map(|p| p.took).max().unwrap();
        assert!(slowest < Duration::from_secs(11), "a 503 took {slowest:?}");
        eprintln!(
            "database {}: {refused} probes answered 503, slowest in {} ms",
            PHASES[outage as usize],
            slowest.as_millis()
        );
    }
    assert!(
        probes.iter().any(|p| p.sent_in == UP && p.status == 202),
        "the probe was accepted when the database was up"
    );

    wait_until_succeeded(&gateway.base, &token, &accepted).await;
    let sends = control.count_sends_by_external_id();
    for id in &accepted {
        assert_eq!(sends.get(id).map(|c| c.created), Some(1), "{id} delivered exactly once");
    }
    for (id, count) in &sends {
        assert_eq!(count.created, 1, "{id} created {} times", count.created);
    }
    let (verified, report) = gateway.audit_verify();
    assert!(verified, "{report}");
    eprintln!(
        "database outage: {} accepted, {} created upstream, recovery after restore: {:?}",
        accepted.len(),
        sends.len(),
        recoveries.lock().unwrap()
    );
}
