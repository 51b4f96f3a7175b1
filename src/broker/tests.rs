//! The broker against a scripted adapter: each test plays a service that answers as told, and
//! checks what the outbox and the audit trail end up saying.

use super::*;
use crate::audit;
use crate::store::StoreConfig;
use portti_adapter_core::{BoxFuture, Health};
use std::collections::VecDeque;
use std::sync::Mutex;

/// A service that answers from a script, then with its fallback, counting calls.
struct Scripted {
    script: Mutex<VecDeque<Result<Reply, AdapterError>>>,
    fallback: Result<Reply, AdapterError>,
    calls: AtomicUsize,
}

fn ok(id: &str) -> Result<Reply, AdapterError> {
    Ok(Reply {
        upstream_id: Some(id.to_string()),
        body: serde_json::json!({}),
        request_digest: Some("a".repeat(64)),
        response_digest: Some("b".repeat(64)),
    })
}

impl Scripted {
    fn new(script: Vec<Result<Reply, AdapterError>>, fallback: Result<Reply, AdapterError>) -> Arc<Self> {
        Arc::new(Self {
            script: Mutex::new(script.into()),
            fallback,
            calls: AtomicUsize::new(0),
        })
    }
}

impl Adapter for Scripted {
    fn service(&self) -> &'static str {
        "scripted"
    }

    fn call<'a>(&'a self, _: &'a CallContext, _: &'a Operation) -> BoxFuture<'a, Result<Reply, AdapterError>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let next = self
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| self.fallback.clone());
        Box::pin(async move { next })
    }

    fn health(&self) -> BoxFuture<'_, Health> {
        Box::pin(async { Health::Up })
    }
}

struct Fixture {
    store: Store,
    broker: Arc<Broker>,
    _dir: tempfile::TempDir,
}

fn fast_policy() -> ServicePolicy {
    ServicePolicy {
        max_attempts: 4,
        max_elapsed_s: 60,
        base_delay_ms: 5,
        max_delay_ms: 20,
        concurrency: 4,
        call_timeout_ms: 1_000,
        breaker_failures: 3,
        breaker_open_ms: 60_000,
    }
}

/// A fresh SQLite store in `dir`.
async fn sqlite_store(dir: &std::path::Path) -> Store {
    Store::open(&StoreConfig {
        sqlite_path: dir.join("portti.db"),
        database_url: None,
        max_batch: 64,
        read_connections: 2,
        max_size_bytes: None,
    })
    .await
    .unwrap()
}

async fn fixture(adapters: Vec<(&str, Arc<Scripted>)>) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(dir.path()).await;
    let mut registry = Adapters::default();
    for (org, adapter) in adapters {
        registry.insert(org, adapter);
    }
    let settings = BrokerSettings {
        workers: 16,
        poll_interval_ms: 10,
        lease_s: 5,
        default_policy: fast_policy(),
        services: HashMap::new(),
    };
    let broker = Broker::new(store.clone(), registry, settings, Arc::new(Metrics::default()));
    Fixture {
        store,
        broker,
        _dir: dir,
    }
}

async fn accept(store: &Store, organisation: &str) -> uuid::Uuid {
    accept_for(store, "scripted", organisation).await
}

async fn accept_for(store: &Store, service: &str, organisation: &str) -> uuid::Uuid {
    let exchange = NewExchange {
        service: service.into(),
        organisation: organisation.into(),
        operation: "send".into(),
        payload: serde_json::json!({ "n": 1 }),
        person: None,
        case_id: None,
        recorded_by: "test".into(),
        correlation_id: "c".into(),
    }
    .into_exchange();
    let id = exchange.id;
    let event = exchange_audit_event(&exchange, "exchange.accept", "accepted");
    store
        .commit(Write {
            new_exchange: Some(exchange),
            audit: vec![event],
            ..Write::default()
        })
        .await
        .unwrap();
    id
}

async fn wait_for(store: &Store, id: uuid::Uuid, status: ExchangeStatus) -> crate::store::ExchangeDetail {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let detail = store.exchange(id).await.unwrap().unwrap();
        if detail.exchange.status == status {
            return detail;
        }
        assert!(
            Instant::now() < deadline,
            "still {:?}, wanted {status:?}",
            detail.exchange.status
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_success_records_the_upstream_id_the_attempt_and_the_audit() {
    let service = Scripted::new(vec![], ok("msg-1"));
    let f = fixture(vec![("853", service.clone())]).await;
    f.broker.start();
    let id = accept(&f.store, "853").await;
    f.broker.wake();
    let detail = wait_for(&f.store, id, ExchangeStatus::Succeeded).await;
    assert_eq!(detail.exchange.upstream_id.as_deref(), Some("msg-1"));
    assert_eq!(detail.attempts.len(), 1);
    assert_eq!(detail.attempts[0].outcome, "succeeded");
    let chain = f.store.audit_chain(0, 100).await.unwrap();
    audit::verify(&chain).unwrap();
    let actions: Vec<_> = chain
        .iter()
        .map(|r| (r.event.action.as_str(), r.event.outcome.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("exchange.accept", "accepted"),
            ("exchange.lease", "in_flight"),
            ("exchange.attempt", "succeeded")
        ]
    );
    assert!(chain[1..].iter().all(|r| r.event.exchange_id == Some(id)));
}

#[tokio::test]
async fn transient_failures_are_retried_until_success() {
    let transient = || Err(AdapterError::Transient("503".into()));
    let service = Scripted::new(vec![transient(), transient()], ok("msg-2"));
    let f = fixture(vec![("853", service.clone())]).await;
    f.broker.start();
    let id = accept(&f.store, "853").await;
    let detail = wait_for(&f.store, id, ExchangeStatus::Succeeded).await;
    let outcomes: Vec<_> = detail.attempts.iter().map(|a| a.outcome.as_str()).collect();
    assert_eq!(outcomes, ["transient", "transient", "succeeded"]);
    assert_eq!(detail.exchange.attempts, 3);
}

#[tokio::test]
async fn permanent_failures_and_spent_budgets_go_to_the_dead_letters() {
    let service = Scripted::new(vec![], Err(AdapterError::Permanent("400 INVALID_TITLE".into())));
    let f = fixture(vec![("853", service)]).await;
    f.broker.start();
    let id = accept(&f.store, "853").await;
    let detail = wait_for(&f.store, id, ExchangeStatus::Dead).await;
    assert!(detail.exchange.last_error.unwrap().contains("INVALID_TITLE"));
    assert_eq!(detail.attempts.len(), 1);

    let flaky = Scripted::new(vec![], Err(AdapterError::Transient("502".into())));
    let f = fixture(vec![("853", flaky.clone())]).await;
    let mut settings_policy = fast_policy();
    settings_policy.breaker_failures = 100;
    let broker = Broker::new(
        f.store.clone(),
        {
            let mut a = Adapters::default();
            a.insert("853", flaky.clone());
            a
        },
        BrokerSettings {
            workers: 4,
            poll_interval_ms: 10,
            lease_s: 5,
            default_policy: settings_policy,
            services: HashMap::new(),
        },
        Arc::new(Metrics::default()),
    );
    broker.start();
    let id = accept(&f.store, "853").await;
    let detail = wait_for(&f.store, id, ExchangeStatus::Dead).await;
    assert_eq!(detail.attempts.len(), 4);
    assert!(detail.exchange.last_error.unwrap().contains("gave up after 4 attempts"));
}

#[tokio::test]
async fn an_expired_lease_is_taken_again() {
    let service = Scripted::new(vec![], ok("msg-3"));
    let f = fixture(vec![("853", service)]).await;
    let id = accept(&f.store, "853").await;
    // A worker that leased the exchange and then died.
    let now = Utc::now();
    let leased = f
        .store
        .lease_due(LeaseRequest {
            now,
            lease_until: now + chrono::Duration::milliseconds(200),
            limit: 10,
            exclude: vec![],
            audit: None,
        })
        .await
        .unwrap();
    assert_eq!(leased.len(), 1);
    assert_eq!(
        f.store.exchange(id).await.unwrap().unwrap().exchange.status,
        ExchangeStatus::InFlight
    );
    f.broker.start();
    let detail = wait_for(&f.store, id, ExchangeStatus::Succeeded).await;
    assert_eq!(detail.exchange.upstream_id.as_deref(), Some("msg-3"));
}

#[tokio::test]
async fn one_organisations_failing_service_opens_only_its_breaker() {
    let failing = Scripted::new(vec![], Err(AdapterError::Transient("503".into())));
    let healthy = Scripted::new(vec![], ok("msg-ok"));
    let f = fixture(vec![("853", failing.clone()), ("529", healthy.clone())]).await;
    f.broker.start();
    let mut failing_ids = Vec::new();
    for _ in 0..10 {
        failing_ids.push(accept(&f.store, "853").await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut healthy_ids = Vec::new();
    for _ in 0..10 {
        healthy_ids.push(accept(&f.store, "529").await);
    }
    for id in healthy_ids {
        wait_for(&f.store, id, ExchangeStatus::Succeeded).await;
    }
    let calls = failing.calls.load(Ordering::SeqCst);
    assert!(
        calls <= 6,
        "the open breaker stopped the calls to 853's service ({calls} calls)"
    );
    let open = f.broker.breakers.open(Instant::now());
    assert_eq!(open, vec![("scripted".to_string(), "853".to_string())]);
    for id in failing_ids {
        let e = f.store.exchange(id).await.unwrap().unwrap().exchange;
        assert_ne!(
            e.status,
            ExchangeStatus::Dead,
            "waiting out the breaker spends no attempts"
        );
    }
}

#[tokio::test]
async fn a_dead_exchange_can_be_rerun_with_a_fresh_budget() {
    let service = Scripted::new(vec![Err(AdapterError::Permanent("400".into()))], ok("msg-4"));
    let f = fixture(vec![("853", service)]).await;
    f.broker.start();
    let id = accept(&f.store, "853").await;
    let dead = wait_for(&f.store, id, ExchangeStatus::Dead).await;
    f.store
        .commit(Write {
            exchange_updates: vec![rerun(&dead.exchange)],
            ..Write::default()
        })
        .await
        .unwrap();
    f.broker.wake();
    let detail = wait_for(&f.store, id, ExchangeStatus::Succeeded).await;
    let numbers: Vec<u32> = detail.attempts.iter().map(|a| a.attempt).collect();
    assert_eq!(numbers, [1, 2]);
}

/// A service that never answers within any deadline.
struct Hung;

impl Adapter for Hung {
    fn service(&self) -> &'static str {
        "hung"
    }

    fn call<'a>(&'a self, _: &'a CallContext, _: &'a Operation) -> BoxFuture<'a, Result<Reply, AdapterError>> {
        Box::pin(async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            ok("never")
        })
    }

    fn health(&self) -> BoxFuture<'_, Health> {
        Box::pin(async { Health::Up })
    }
}

#[tokio::test]
async fn a_hung_service_holds_its_own_slots_and_no_worker_the_others_need() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(dir.path()).await;
    let healthy = Scripted::new(vec![], ok("msg-ok"));
    let mut adapters = Adapters::default();
    adapters.insert("853", Arc::new(Hung));
    adapters.insert("853", healthy.clone());
    let mut hung_policy = fast_policy();
    // Slow enough that the hung calls outlast the test; no breaker to hide the problem.
    hung_policy.call_timeout_ms = 3_000;
    hung_policy.concurrency = 2;
    hung_policy.breaker_failures = 1_000;
    let settings = BrokerSettings {
        workers: 4,
        poll_interval_ms: 10,
        lease_s: 10,
        default_policy: fast_policy(),
        services: HashMap::from([("hung".to_string(), hung_policy)]),
    };
    let broker = Broker::new(store.clone(), adapters, settings, Arc::new(Metrics::default()));
    // Far more exchanges for the hung service than there are workers, all due first.
    let mut hung_ids = Vec::new();
    for _ in 0..20 {
        hung_ids.push(accept_for(&store, "hung", "853").await);
    }
    broker.start();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let mut ids = Vec::new();
    for _ in 0..10 {
        ids.push(accept_for(&store, "scripted", "853").await);
    }
    broker.wake();
    for id in ids {
        wait_for(&store, id, ExchangeStatus::Succeeded).await;
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(1_500),
        "the healthy service waited {took:?} behind the hung one"
    );
    // The hung service has its two calls in flight; the rest wait in the store, not in workers.
    let mut in_flight = 0;
    for id in &hung_ids {
        let e = store.exchange(*id).await.unwrap().unwrap().exchange;
        assert_eq!(e.attempts, 0, "no attempt has ended yet");
        if e.status == ExchangeStatus::InFlight {
            in_flight += 1;
        }
    }
    assert!(in_flight <= 4, "{in_flight} hung exchanges leased");
    assert!(broker.in_flight.load(Ordering::Relaxed) <= 2);
}
