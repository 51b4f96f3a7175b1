//! Prometheus metrics. Labels are route templates, methods, statuses and reasons only: no
//! path ids, no identity codes, nothing a person could be found by.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AttemptLabels {
    service: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServiceLabels {
    service: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OrganisationLabels {
    organisation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CircuitLabels {
    service: String,
    organisation: String,
}

pub struct Metrics {
    registry: Registry,
    attempts: Family<AttemptLabels, Counter>,
    attempt_latency: Family<ServiceLabels, Histogram>,
    queue_depth: Family<ServiceLabels, Gauge>,
    queue_oldest_due_age: Family<ServiceLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    breaker_state: Family<CircuitLabels, Gauge>,
    service_health: Family<CircuitLabels, Gauge>,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    intakes: Family<OutcomeLabels, Counter>,
    commit_batches: Gauge,
    commit_writes: Gauge,
    chain_lock_waits: Gauge,
    help_requests: Family<OutcomeLabels, Counter>,
    help_requests_overdue: Family<OrganisationLabels, Gauge>,
    /// Organisations with an overdue gauge, and when the gauges were last refreshed.
    overdue_state: std::sync::Mutex<(std::collections::BTreeSet<String>, Option<std::time::Instant>)>,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("portti");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(latency_histogram as fn() -> Histogram);
        let intakes = Family::<OutcomeLabels, Counter>::default();
        let attempts = Family::<AttemptLabels, Counter>::default();
        let attempt_latency =
            Family::<ServiceLabels, Histogram>::new_with_constructor(latency_histogram as fn() -> Histogram);
        let queue_depth = Family::<ServiceLabels, Gauge>::default();
        let queue_oldest_due_age = Family::<ServiceLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        let breaker_state = Family::<CircuitLabels, Gauge>::default();
        let service_health = Family::<CircuitLabels, Gauge>::default();
        registry.register(
            "service_health",
            "Each adapter's health check: 0 up, 1 degraded, 2 down, per service and organisation",
            service_health.clone(),
        );
        registry.register(
            "exchange_attempts",
            "Calls to national services by outcome",
            attempts.clone(),
        );
        registry.register(
            "exchange_attempt_duration_seconds",
            "Latency of calls to national services",
            attempt_latency.clone(),
        );
        registry.register(
            "outbox_waiting",
            "Exchanges accepted, scheduled or in flight",
            queue_depth.clone(),
        );
        registry.register(
            "outbox_oldest_due_age_seconds",
            "How long the oldest waiting exchange has been due",
            queue_oldest_due_age.clone(),
        );
        registry.register(
            "circuit_breaker_state",
            "0 closed, 1 half-open, 2 open, per service and organisation",
            breaker_state.clone(),
        );
        let commit_batches = Gauge::default();
        let commit_writes = Gauge::default();
        let chain_lock_waits = Gauge::default();
        registry.register(
            "store_chain_lock_waits",
            "Commit batches that waited for another replica's audit-chain append (PostgreSQL)",
            chain_lock_waits.clone(),
        );
        registry.register("http_requests", "HTTP requests by route and status", requests.clone());
        registry.register("http_request_duration_seconds", "HTTP request latency", latency.clone());
        registry.register("case_intakes", "Case submissions by outcome", intakes.clone());
        registry.register(
            "store_commit_batches",
            "Group-commit transactions since start",
            commit_batches.clone(),
        );
        registry.register(
            "store_commit_writes",
            "Writes committed by group commit since start",
            commit_writes.clone(),
        );
        let help_requests = Family::<OutcomeLabels, Counter>::default();
        let help_requests_overdue = Family::<OrganisationLabels, Gauge>::default();
        registry.register(
            "help_requests",
            "Help requests from the public button by outcome (accepted, invalid, honeypot, rate_limited)",
            help_requests.clone(),
        );
        registry.register(
            "help_requests_overdue",
            "Open cases past their due time, per organiser",
            help_requests_overdue.clone(),
        );
        Self {
            help_requests,
            help_requests_overdue,
            overdue_state: Default::default(),
            registry,
            attempts,
            attempt_latency,
            queue_depth,
            queue_oldest_due_age,
            breaker_state,
            service_health,
            requests,
            latency,
            intakes,
            commit_batches,
            commit_writes,
            chain_lock_waits,
        }
    }
}

impl Metrics {
    pub fn observe_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_string(),
                route: route.to_string(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                method: method.to_string(),
                route: route.to_string(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// `accepted`, `invalid`, `forbidden`, `replayed`…
    pub fn case_intake(&self, outcome: &str) {
        self.intakes
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_string(),
            })
            .inc();
    }

    pub fn observe_attempt(&self, service: &str, outcome: &str, elapsed: Duration) {
        self.attempts
            .get_or_create(&AttemptLabels {
                service: service.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
        self.attempt_latency
            .get_or_create(&ServiceLabels {
                service: service.to_string(),
            })
            .observe(elapsed.as_secs_f64());
    }

    pub fn set_queue(&self, service: &str, waiting: u64, oldest_due_age_s: f64) {
        let labels = ServiceLabels {
            service: service.to_string(),
        };
        self.queue_depth.get_or_create(&labels).set(waiting as i64);
        self.queue_oldest_due_age.get_or_create(&labels).set(oldest_due_age_s);
    }

    pub fn set_breaker(&self, service: &str, organisation: &str, level: i64) {
        self.breaker_state
            .get_or_create(&CircuitLabels {
                service: service.to_string(),
                organisation: organisation.to_string(),
            })
            .set(level);
    }

    pub fn set_service_health(&self, service: &str, organisation: &str, level: i64) {
        self.service_health
            .get_or_create(&CircuitLabels {
                service: service.to_string(),
                organisation: organisation.to_string(),
            })
            .set(level);
    }

    pub fn set_commit_stats(&self, batches: u64, writes: u64, chain_lock_waits: u64) {
        self.commit_batches.set(batches as i64);
        self.commit_writes.set(writes as i64);
        self.chain_lock_waits.set(chain_lock_waits as i64);
    }

    /// `accepted`, `invalid`, `honeypot`, `rate_limited`.
    pub fn help_request(&self, outcome: &str) {
        self.help_requests
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// Whether the overdue gauges are older than `every` (and if so, marks them refreshed now).
    pub fn overdue_refresh_due(&self, now: std::time::Instant, every: Duration) -> bool {
        let mut state = self.overdue_state.lock().expect("overdue state lock");
        if state.1.is_some_and(|at| now.saturating_duration_since(at) < every) {
            return false;
        }
        state.1 = Some(now);
        true
    }

    /// Sets the overdue gauges; organisations that had overdue cases before and have none now read 0.
    pub fn set_overdue(&self, counts: &[(String, u64)]) {
        let mut state = self.overdue_state.lock().expect("overdue state lock");
        for organisation in &state.0 {
            if !counts.iter().any(|(o, _)| o == organisation) {
                self.help_requests_overdue
                    .get_or_create(&OrganisationLabels {
                        organisation: organisation.clone(),
                    })
                    .set(0);
            }
        }
        for (organisation, n) in counts {
            self.help_requests_overdue
                .get_or_create(&OrganisationLabels {
                    organisation: organisation.clone(),
                })
                .set(i64::try_from(*n).unwrap_or(i64::MAX));
            state.0.insert(organisation.clone());
        }
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}
