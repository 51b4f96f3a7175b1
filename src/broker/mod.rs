//! The broker: a durable outbox worked by leases. An accepted exchange is in the store (with
//! its audit record) before the caller hears 202; workers lease due exchanges, call the
//! service's adapter, and record the outcome, the next attempt or the dead letter, and the
//! audit record in one write. A crashed worker's lease runs out and the exchange is taken again;
//! upstream idempotency keys (the exchange id) make that safe. Retries, leases and circuit
//! breakers live here and nowhere else; wire formats live in the adapters.

mod breaker;
mod retry;

pub use breaker::{Breakers, Permit};

/// A circuit breaker as operators see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CircuitView {
    pub service: String,
    pub organisation: String,
    /// `closed`, `open` or `half_open`.
    pub state: &'static str,
    pub reopens_in_s: Option<u64>,
}

use crate::audit::AuditEvent;
use crate::metrics::Metrics;
use crate::store::{Attempt, Exchange, ExchangeStatus, ExchangeUpdate, Expect, LeaseRequest, Store, Write};
use chrono::Utc;
use portti_adapter_core::{Adapter, AdapterError, CallContext, Health, Operation, Reply};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, Semaphore};

/// How the broker treats one service.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServicePolicy {
    pub max_attempts: u32,
    /// Give up when the next attempt would be later than this after the budget began.
    pub max_elapsed_s: u64,
    pub base_delay_ms: u64,
    pub max_delay_ms: u64,
    /// Calls in flight per organisation.
    pub concurrency: usize,
    pub call_timeout_ms: u64,
    pub breaker_failures: u32,
    pub breaker_open_ms: u64,
}

impl Default for ServicePolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            max_elapsed_s: 24 * 3600,
            base_delay_ms: 500,
            max_delay_ms: 5 * 60 * 1000,
            concurrency: 32,
            call_timeout_ms: 30_000,
            breaker_failures: 5,
            breaker_open_ms: 30_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerSettings {
    /// Exchanges in flight at once, all services together.
    pub workers: usize,
    /// How often to look for due exchanges when nothing new arrived.
    pub poll_interval_ms: u64,
    /// How long a worker holds an exchange before another may take it (a crashed worker's).
    pub lease_s: u64,
    pub default_policy: ServicePolicy,
    /// Per-service overrides of `default_policy`, by service name.
    pub services: HashMap<String, ServicePolicy>,
}

impl Default for BrokerSettings {
    fn default() -> Self {
        Self {
            workers: 256,
            poll_interval_ms: 250,
            lease_s: 120,
            default_policy: ServicePolicy::default(),
            services: HashMap::new(),
        }
    }
}

impl BrokerSettings {
    pub fn policy(&self, service: &str) -> &ServicePolicy {
        self.services.get(service).unwrap_or(&self.default_policy)
    }
}

/// The adapters by (service, organisation): each organisation has its own credentials.
#[derive(Default, Clone)]
pub struct Adapters {
    by_key: HashMap<(String, String), Arc<dyn Adapter>>,
}

impl Adapters {
    pub fn insert(&mut self, organisation: &str, adapter: Arc<dyn Adapter>) {
        self.by_key
            .insert((adapter.service().to_string(), organisation.to_string()), adapter);
    }

    pub fn get(&self, service: &str, organisation: &str) -> Option<&Arc<dyn Adapter>> {
        self.by_key.get(&(service.to_string(), organisation.to_string()))
    }

    /// Organisations with an adapter for `service`.
    pub fn organisations(&self, service: &str) -> Vec<String> {
        let mut orgs: Vec<String> = self
            .by_key
            .keys()
            .filter(|(s, _)| s == service)
            .map(|(_, o)| o.clone())
            .collect();
        orgs.sort();
        orgs
    }
}

pub struct Broker {
    store: Store,
    adapters: Adapters,
    settings: BrokerSettings,
    breakers: Breakers,
    metrics: Arc<Metrics>,
    wake: Notify,
    in_flight: AtomicUsize,
    slots: std::sync::Mutex<HashMap<(String, String), Arc<Semaphore>>>,
}

impl Broker {
    pub fn new(store: Store, adapters: Adapters, settings: BrokerSettings, metrics: Arc<Metrics>) -> Arc<Self> {
        let d = &settings.default_policy;
        let breakers = settings.services.iter().fold(
            Breakers::new(d.breaker_failures, Duration::from_millis(d.breaker_open_ms)),
            |b, (service, p)| b.with_service(service, p.breaker_failures, Duration::from_millis(p.breaker_open_ms)),
        );
        Arc::new(Self {
            store,
            adapters,
            settings,
            breakers,
            metrics,
            wake: Notify::new(),
            in_flight: AtomicUsize::new(0),
            slots: std::sync::Mutex::new(HashMap::new()),
        })
    }

    pub fn adapters(&self) -> &Adapters {
        &self.adapters
    }

    /// Every circuit that has seen a call, with its state and, when open, seconds until a probe.
    pub fn circuits(&self) -> Vec<CircuitView> {
        let now = std::time::Instant::now();
        let mut circuits: Vec<CircuitView> = self
            .breakers
            .states()
            .into_iter()
            .map(|((service, organisation), state)| {
                let (state, reopens_in_s) = match state {
                    breaker::State::Closed => ("closed", None),
                    breaker::State::HalfOpen { .. } => ("half_open", None),
                    breaker::State::Open { until } if until > now => ("open", Some((until - now).as_secs())),
                    breaker::State::Open { .. } => ("half_open", None),
                };
                CircuitView {
                    service,
                    organisation,
                    state,
                    reopens_in_s,
                }
            })
            .collect();
        circuits.sort_by(|a, b| (&a.service, &a.organisation).cmp(&(&b.service, &b.organisation)));
        circuits
    }

    pub fn has_adapter(&self, service: &str, organisation: &str) -> bool {
        self.adapters.get(service, organisation).is_some()
    }

    /// A read made while the caller waits (e.g. a search in an archive): nothing is queued, but
    /// the call shares the service's breaker, concurrency slots, timeout and metrics with the
    /// outbox. An open circuit answers at once instead of waiting.
    pub async fn call_now(
        &self,
        service: &str,
        organisation: &str,
        operation: &Operation,
    ) -> Result<Reply, AdapterError> {
        let adapter = self
            .adapters
            .get(service, organisation)
            .cloned()
            .ok_or_else(|| AdapterError::Permanent(format!("{service} is not configured for {organisation}")))?;
        if let Permit::Wait(until) = self.breakers.permit(service, organisation, Instant::now()) {
            return Err(AdapterError::RateLimited {
                retry_after: until.saturating_duration_since(Instant::now()),
            });
        }
        let policy = self.settings.policy(service);
        let slot = self.slot(service, organisation).acquire_owned().await;
        let cx = CallContext {
            exchange_id: uuid::Uuid::now_v7(),
            attempt: 1,
            correlation_id: String::new(),
            deadline: Instant::now() + Duration::from_millis(policy.call_timeout_ms),
        };
        let clock = Instant::now();
        let result = match tokio::time::timeout(cx.remaining(), adapter.call(&cx, operation)).await {
            Ok(result) => result,
            Err(_) => Err(AdapterError::Transient("no answer before the call's deadline".into())),
        };
        drop(slot);
        match &result {
            Ok(_) | Err(AdapterError::Permanent(_)) => self.breakers.record_answer(service, organisation),
            Err(_) => self.breakers.record_failure(service, organisation, Instant::now()),
        }
        self.metrics
            .observe_attempt(service, outcome_name(&result), clock.elapsed());
        result
    }

    /// Tells the dispatcher that something new is due.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Starts the dispatcher; it runs until the process ends.
    pub fn start(self: &Arc<Self>) {
        let broker = self.clone();
        tokio::spawn(async move { broker.dispatch().await });
        let broker = self.clone();
        tokio::spawn(async move { broker.report_queue().await });
    }

    async fn dispatch(self: Arc<Self>) {
        let poll = Duration::from_millis(self.settings.poll_interval_ms.max(10));
        loop {
            let in_flight = self.in_flight.load(Ordering::Relaxed);
            let free = self.settings.workers.saturating_sub(in_flight);
            let mut leased_full = false;
            // Lease in batches: a lease is a write, so wait until a quarter of the workers are free.
            if free > 0 && (in_flight == 0 || free >= (self.settings.workers / 4).max(1)) {
                let now = Utc::now();
                let request = LeaseRequest {
                    now,
                    lease_until: now + chrono::Duration::seconds(self.settings.lease_s as i64),
                    limit: free.min(1000) as u32,
                    // Neither services whose circuit is open nor those whose concurrency slots are all
                    // busy: their exchanges stay due in the store instead of waiting in a worker.
                    exclude: self.not_now(),
                    // The move to in_flight is a status change too: audited in the lease's transaction.
                    audit: Some(|e| exchange_audit_event(e, "exchange.lease", ExchangeStatus::InFlight.as_str())),
                };
                match self.store.lease_due(request).await {
                    Ok(leased) => {
                        leased_full = leased.len() == free.min(1000);
                        for exchange in leased {
                            self.in_flight.fetch_add(1, Ordering::Relaxed);
                            let broker = self.clone();
                            tokio::spawn(async move {
                                // Counted down even if the work panics, so no worker slot leaks.
                                let mut worker = InFlight::new(broker.clone());
                                broker.work(exchange, &mut worker).await;
                            });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "leasing due exchanges failed"),
                }
            }
            if !leased_full {
                let _ = tokio::time::timeout(poll, self.wake.notified()).await;
            }
        }
    }

    /// The (service, organisation) pairs not to lease now: an open circuit, or every concurrency
    /// slot busy (a hung service). Leasing those would only park exchanges in workers that the
    /// other services need; they stay due in the store and are leased once a slot is free.
    fn not_now(&self) -> Vec<(String, String)> {
        let mut pairs = self.breakers.open(Instant::now());
        let slots = self.slots.lock().expect("slots lock");
        for (key, semaphore) in slots.iter() {
            if semaphore.available_permits() == 0 && !pairs.contains(key) {
                pairs.push(key.clone());
            }
        }
        pairs.sort();
        pairs
    }

    fn slot(&self, service: &str, organisation: &str) -> Arc<Semaphore> {
        let policy = self.settings.policy(service);
        let mut slots = self.slots.lock().expect("slots lock");
        slots
            .entry((service.to_string(), organisation.to_string()))
            .or_insert_with(|| Arc::new(Semaphore::new(policy.concurrency.max(1))))
            .clone()
    }

    /// One attempt at one leased exchange, and the record of what came of it.
    async fn work(&self, exchange: Exchange, worker: &mut InFlight) {
        let service = exchange.service.clone();
        let organisation = exchange.organisation.clone();
        let policy = self.settings.policy(&service).clone();
        let Some(adapter) = self.adapters.get(&service, &organisation).cloned() else {
            let reason = format!("no {service} adapter is configured for organisation {organisation}");
            self.record(&exchange, None, Err(AdapterError::Permanent(reason)), &policy)
                .await;
            return;
        };
        let lease_left = || {
            exchange
                .lease_until
                .map(|until| (until - Utc::now()).to_std().unwrap_or_default())
                .unwrap_or_default()
        };
        let semaphore = self.slot(&service, &organisation);
        let slot = match semaphore.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                // Leased in the same batch as more exchanges of this service than it has free
                // slots. Waiting for one must not hold a worker: the other services need them
                // (with every worker parked behind a hung service, nothing else moved).
                worker.release();
                let wait = lease_left().saturating_sub(LEASE_MARGIN + MIN_CALL_BUDGET);
                match tokio::time::timeout(wait, semaphore.acquire_owned()).await {
                    Ok(Ok(slot)) => slot,
                    _ => {
                        self.postpone(&exchange, Duration::ZERO, "waited too long for a free slot")
                            .await;
                        return;
                    }
                }
            }
        };
        let lease_left = lease_left();
        // The call must end before the lease does, or another worker could start the same
        // attempt: its deadline is the sooner of the call timeout and the lease's end.
        let call_budget = Duration::from_millis(policy.call_timeout_ms).min(lease_left.saturating_sub(LEASE_MARGIN));
        if call_budget < MIN_CALL_BUDGET {
            // Waited so long for a slot that too little of the lease is left: hand it back.
            self.postpone(&exchange, Duration::ZERO, "waited too long for a free slot")
                .await;
            return;
        }
        if let Permit::Wait(until) = self.breakers.permit(&service, &organisation, Instant::now()) {
            // The circuit is open: put the exchange back without spending an attempt.
            let wait = until.saturating_duration_since(Instant::now());
            self.postpone(&exchange, wait, "circuit open: the service failed repeatedly")
                .await;
            return;
        }
        let attempt = exchange.attempts + 1;
        let cx = CallContext {
            exchange_id: exchange.id,
            attempt,
            correlation_id: exchange.correlation_id.clone(),
            deadline: Instant::now() + call_budget,
        };
        let operation = Operation {
            name: exchange.operation.clone(),
            payload: exchange.payload.clone(),
        };
        let started = Utc::now();
        let clock = Instant::now();
        let result = match tokio::time::timeout(cx.remaining(), adapter.call(&cx, &operation)).await {
            Ok(result) => result,
            Err(_) => Err(AdapterError::Transient("no answer before the call's deadline".into())),
        };
        let latency = clock.elapsed();
        // The service is free for the next call while this outcome is being made durable.
        drop(slot);
        match &result {
            Ok(_) | Err(AdapterError::Permanent(_)) => self.breakers.record_answer(&service, &organisation),
            Err(_) => self.breakers.record_failure(&service, &organisation, Instant::now()),
        }
        self.metrics.observe_attempt(&service, outcome_name(&result), latency);
        self.record(&exchange, Some((attempt, started, latency)), result, &policy)
            .await;
    }

    /// Puts a leased exchange back without spending an attempt; audited like any status change.
    async fn postpone(&self, exchange: &Exchange, wait: Duration, why: &str) {
        let Some(lease) = exchange.lease_until else { return };
        let update = ExchangeUpdate {
            id: exchange.id,
            status: ExchangeStatus::RetryScheduled,
            attempts: exchange.attempts,
            due_at: later(Utc::now(), wait),
            upstream_id: None,
            // The last real failure says more than why this exchange waits.
            last_error: exchange.last_error.clone().or_else(|| Some(why.to_string())),
            new_budget: None,
            expect: Expect::Leased(lease),
        };
        let write = Write {
            exchange_updates: vec![update],
            audit: vec![exchange_audit_event(
                exchange,
                "exchange.postpone",
                ExchangeStatus::RetryScheduled.as_str(),
            )],
            ..Write::default()
        };
        if let Err(e) = self.store.commit(write).await {
            tracing::warn!(error = %e, "postponing an exchange failed; its lease will run out");
        }
    }

    async fn record(
        &self,
        exchange: &Exchange,
        attempt: Option<(u32, chrono::DateTime<Utc>, Duration)>,
        result: Result<Reply, AdapterError>,
        policy: &ServicePolicy,
    ) {
        let now = Utc::now();
        let attempts = attempt.map(|(n, _, _)| n).unwrap_or(exchange.attempts);
        let (status, due_at, upstream_id, last_error, digests) = match &result {
            Ok(reply) => (
                ExchangeStatus::Succeeded,
                now,
                reply.upstream_id.clone(),
                None,
                (reply.request_digest.clone(), reply.response_digest.clone()),
            ),
            Err(error) => {
                let in_budget = attempts.saturating_sub(exchange.budget_attempt).max(1);
                match retry::after_failure(policy, error, in_budget, exchange.budget_since, now) {
                    retry::Next::RetryAt(at) => (
                        ExchangeStatus::RetryScheduled,
                        at,
                        None,
                        Some(error.to_string()),
                        (None, None),
                    ),
                    retry::Next::Dead(reason) => (ExchangeStatus::Dead, now, None, Some(reason), (None, None)),
                }
            }
        };
        let mut event = exchange_audit_event(exchange, "exchange.attempt", status.as_str());
        event.request_digest = digests.0;
        event.response_digest = digests.1;
        let write = Write {
            exchange_updates: vec![ExchangeUpdate {
                id: exchange.id,
                status,
                attempts,
                due_at,
                upstream_id,
                last_error: last_error.clone(),
                new_budget: None,
                expect: exchange
                    .lease_until
                    .map(Expect::Leased)
                    .unwrap_or(Expect::Status(exchange.status)),
            }],
            attempts: attempt
                .map(|(n, started_at, latency)| {
                    vec![(
                        exchange.id,
                        Attempt {
                            attempt: n,
                            started_at,
                            outcome: outcome_name(&result).to_string(),
                            latency_ms: latency.as_millis() as u64,
                            error: last_error,
                        },
                    )]
                })
                .unwrap_or_default(),
            audit: vec![event],
            ..Write::default()
        };
        if let Err(e) = self.store.commit(write).await {
            // The lease runs out and the exchange is attempted again; the upstream id keeps it single.
            tracing::error!(error = %e, exchange = %exchange.id, "recording an attempt failed");
        }
    }

    /// Publishes queue depth, oldest due age and breaker states every few seconds.
    async fn report_queue(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        for round in 0u64.. {
            tick.tick().await;
            // Each adapter's own health check, every 30 s: cheap for the services, enough for alerts.
            if round % 15 == 0 {
                for ((service, organisation), adapter) in &self.adapters.by_key {
                    let health = tokio::time::timeout(Duration::from_secs(5), adapter.health())
                        .await
                        .unwrap_or(Health::Down);
                    let level = match health {
                        Health::Up => 0,
                        Health::Degraded => 1,
                        Health::Down => 2,
                    };
                    self.metrics.set_service_health(service, organisation, level);
                }
            }
            if let Ok(depths) = self.store.queue_depth().await {
                let now = Utc::now();
                // A service whose outbox emptied has no row: show it as empty, not as it was.
                for (service, _) in self.adapters.by_key.keys() {
                    if !depths.iter().any(|d| &d.service == service) {
                        self.metrics.set_queue(service, 0, 0.0);
                    }
                }
                for d in depths {
                    let age = d
                        .oldest_due
                        .map(|t| (now - t).num_milliseconds().max(0) as f64 / 1000.0);
                    self.metrics.set_queue(&d.service, d.waiting, age.unwrap_or(0.0));
                }
            }
            for ((service, organisation), state) in self.breakers.states() {
                self.metrics.set_breaker(&service, &organisation, state.level());
            }
        }
    }
}

/// What an accepted exchange looks like before its first attempt.
pub struct NewExchange {
    pub service: String,
    pub organisation: String,
    pub operation: String,
    pub payload: serde_json::Value,
    pub person: Option<crate::audit::PersonKey>,
    pub case_id: Option<uuid::Uuid>,
    pub recorded_by: String,
    pub correlation_id: String,
}

impl NewExchange {
    pub fn into_exchange(self) -> Exchange {
        let now = Utc::now();
        Exchange {
            id: uuid::Uuid::now_v7(),
            service: self.service,
            organisation: self.organisation,
            operation: self.operation,
            payload: self.payload,
            person: self.person,
            case_id: self.case_id,
            status: ExchangeStatus::Accepted,
            attempts: 0,
            budget_attempt: 0,
            budget_since: now,
            due_at: now,
            lease_until: None,
            upstream_id: None,
            last_error: None,
            recorded_by: self.recorded_by,
            correlation_id: self.correlation_id,
            created_at: now,
            updated_at: now,
        }
    }
}

/// The update that reruns a dead exchange with a fresh retry budget.
pub fn rerun(exchange: &Exchange) -> ExchangeUpdate {
    let now = Utc::now();
    ExchangeUpdate {
        id: exchange.id,
        status: ExchangeStatus::Accepted,
        attempts: exchange.attempts,
        due_at: now,
        upstream_id: None,
        last_error: exchange.last_error.clone(),
        new_budget: Some((exchange.attempts, now)),
        expect: Expect::Status(ExchangeStatus::Dead),
    }
}

/// Time kept between a call's deadline and the end of its lease, for recording the outcome.
const LEASE_MARGIN: Duration = Duration::from_millis(500);
/// Less time than this left for a call is not worth starting it.
const MIN_CALL_BUDGET: Duration = Duration::from_millis(200);

/// A worker's place in the in-flight count: given back (and the dispatcher woken) when the
/// worker ends, however it ends, or earlier when it only waits for its service.
struct InFlight {
    broker: Arc<Broker>,
    counted: bool,
}

impl InFlight {
    fn new(broker: Arc<Broker>) -> Self {
        Self { broker, counted: true }
    }

    /// Gives the place back now; later calls (and the drop) do nothing.
    fn release(&mut self) {
        if std::mem::take(&mut self.counted) {
            self.broker.in_flight.fetch_sub(1, Ordering::Relaxed);
            self.broker.wake.notify_one();
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.release();
    }
}

/// `now + wait`, saturating instead of panicking on absurd waits (a Retry-After of centuries).
fn later(now: chrono::DateTime<Utc>, wait: Duration) -> chrono::DateTime<Utc> {
    chrono::Duration::from_std(wait)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(chrono::DateTime::<Utc>::MAX_UTC)
}

fn outcome_name(result: &Result<Reply, AdapterError>) -> &'static str {
    match result {
        Ok(_) => "succeeded",
        Err(AdapterError::Transient(_)) => "transient",
        Err(AdapterError::RateLimited { .. }) => "rate_limited",
        Err(AdapterError::Reauthenticate(_)) => "reauthenticate",
        Err(AdapterError::Permanent(_)) => "permanent",
    }
}

/// An audit event about an exchange, by the system itself (the broker acts for the organisation).
pub fn exchange_audit_event(exchange: &Exchange, action: &str, outcome: &str) -> AuditEvent {
    AuditEvent {
        time: Utc::now(),
        actor: crate::audit::Actor {
            client_id: "portti-broker".into(),
            end_user: None,
            role: None,
        },
        action: action.to_string(),
        purpose: None,
        person: exchange.person.clone(),
        organisation: Some(exchange.organisation.clone()),
        service: Some(exchange.service.clone()),
        exchange_id: Some(exchange.id),
        outcome: outcome.to_string(),
        request_digest: None,
        response_digest: None,
        correlation_id: exchange.correlation_id.clone(),
    }
}

#[cfg(test)]
mod tests;
