//! Crash campaign: under a steady load of sends, kill -9 the gateway ten times at random moments
//! and start it again; then every accepted message has reached the service exactly once and the
//! audit chain verifies. On both backends. The simulator lives in this test process, so it
//! outlives every gateway.

mod common;

use common::{messages_config, messages_simulator, send_until, wait_until_succeeded, Gateway};
use portti::auth::Scope;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const CRASHES: usize = 10;
const SENDERS: usize = 4;

async fn ten_crashes_under_load(database_url: Option<&str>) {
    // Slow answers keep many sends in flight when the gateway dies.
    let (sim, account) = messages_simulator(Some(Duration::from_millis(40))).await;
    let control = sim.control();

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("portti.password"), &account.password).unwrap();
    std::fs::write(
        dir.path().join("portti.toml"),
        messages_config(&sim.base_url(), &account, database_url),
    )
    .unwrap();
    let mut gateway = Gateway::start(dir.path()).await;
    let token = gateway.token(&[Scope::MessagesSend, Scope::ExchangesRead], &["853"]);

    let stop = Arc::new(AtomicBool::new(false));
    let bases = Arc::new(vec![gateway.base.clone()]);
    let senders: Vec<_> = (0..SENDERS)
        .map(|sender| tokio::spawn(send_until(bases.clone(), token.clone(), stop.clone(), sender)))
        .collect();
    let seed = fastrand::u64(..);
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut delivered_at_kill = Vec::new();
    for _ in 0..CRASHES {
        tokio::time::sleep(Duration::from_millis(rng.u64(300..1200))).await;
        gateway.kill();
        delivered_at_kill.push(control.message_count());
        gateway.restart().await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut accepted = Vec::new();
    for sender in senders {
        accepted.extend(sender.await.unwrap());
    }
    assert!(
        accepted.len() >= 100,
        "seed {seed}: too little load to prove anything ({} accepted)",
        accepted.len()
    );

    wait_until_succeeded(&gateway.base, &token, &accepted).await;
    gateway.kill();

    let sends = control.count_sends_by_external_id();
    for id in &accepted {
        assert_eq!(
            sends.get(id).map(|c| c.created),
            Some(1),
            "seed {seed}: {id} delivered exactly once"
        );
    }
    // Exchanges whose 202 the crash cut off may be delivered too, but none twice.
    for (id, count) in &sends {
        assert_eq!(count.created, 1, "seed {seed}: {id} created {} times", count.created);
    }
    let (verified, report) = gateway.audit_verify();
    assert!(verified, "seed {seed}: {report}");
    eprintln!(
        "crash campaign on {}: seed {seed}, {CRASHES} kills, {} accepted, {} created upstream \
         (at each kill: {delivered_at_kill:?}), {} repeats answered 409",
        if database_url.is_some() { "PostgreSQL" } else { "SQLite" },
        accepted.len(),
        sends.len(),
        sends.values().map(|c| c.duplicates).sum::<u32>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_messages_survive_ten_crashes_on_sqlite() {
    ten_crashes_under_load(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_messages_survive_ten_crashes_on_postgres() {
    let Some(database) = portti::store::testing::TestDatabase::create().await else {
        return;
    };
    ten_crashes_under_load(Some(&database.url)).await;
}
