//! Circuit breakers, one per (service, organisation): after `failures` consecutive transient
//! failures the circuit opens and no calls are made until `open_for` has passed; then one
//! probe is let through (half-open), and its outcome closes or reopens the circuit.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Closed,
    Open { until: Instant },
    HalfOpen { probing: bool },
}

impl State {
    /// For the metric: 0 closed, 1 half-open, 2 open.
    pub fn level(self) -> i64 {
        match self {
            State::Closed => 0,
            State::HalfOpen { .. } => 1,
            State::Open { .. } => 2,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    Call,
    /// Not now; try again at this instant.
    Wait(Instant),
}

struct Circuit {
    state: State,
    consecutive_failures: u32,
}

pub struct Breakers {
    failures: u32,
    open_for: Duration,
    /// Per-service thresholds that differ from the defaults.
    per_service: HashMap<String, (u32, Duration)>,
    circuits: Mutex<HashMap<(String, String), Circuit>>,
}

impl Breakers {
    pub fn new(failures: u32, open_for: Duration) -> Self {
        Self {
            failures: failures.max(1),
            open_for,
            per_service: HashMap::new(),
            circuits: Mutex::new(HashMap::new()),
        }
    }

    pub fn with_service(mut self, service: &str, failures: u32, open_for: Duration) -> Self {
        self.per_service
            .insert(service.to_string(), (failures.max(1), open_for));
        self
    }

    fn thresholds(&self, service: &str) -> (u32, Duration) {
        self.per_service
            .get(service)
            .copied()
            .unwrap_or((self.failures, self.open_for))
    }

    fn with<R>(&self, service: &str, organisation: &str, f: impl FnOnce(&mut Circuit) -> R) -> R {
        let mut circuits = self.circuits.lock().expect("breaker lock");
        let circuit = circuits
            .entry((service.to_string(), organisation.to_string()))
            .or_insert(Circuit {
                state: State::Closed,
                consecutive_failures: 0,
            });
        f(circuit)
    }

    /// Asks to make a call now.
    pub fn permit(&self, service: &str, organisation: &str, now: Instant) -> Permit {
        let (_, open_for) = self.thresholds(service);
        self.with(service, organisation, |c| match c.state {
            State::Closed => Permit::Call,
            State::Open { until } if now < until => Permit::Wait(until),
            State::Open { .. } | State::HalfOpen { probing: false } => {
                c.state = State::HalfOpen { probing: true };
                Permit::Call
            }
            State::HalfOpen { probing: true } => Permit::Wait(now + open_for / 4),
        })
    }

    /// The service answered (success, or a permanent refusal: it is up).
    pub fn record_answer(&self, service: &str, organisation: &str) {
        self.with(service, organisation, |c| {
            c.state = State::Closed;
            c.consecutive_failures = 0;
        })
    }

    /// A transient failure, timeout or rate limit.
    pub fn record_failure(&self, service: &str, organisation: &str, now: Instant) {
        let (failures, open_for) = self.thresholds(service);
        self.with(service, organisation, |c| {
            c.consecutive_failures += 1;
            let probe_failed = matches!(c.state, State::HalfOpen { .. });
            if probe_failed || c.consecutive_failures >= failures {
                c.state = State::Open { until: now + open_for };
            }
        })
    }

    /// (service, organisation) pairs not worth leasing now: open, or with a probe under way.
    pub fn open(&self, now: Instant) -> Vec<(String, String)> {
        let circuits = self.circuits.lock().expect("breaker lock");
        circuits
            .iter()
            .filter(|(_, c)| match c.state {
                State::Open { until } => now < until,
                State::HalfOpen { probing } => probing,
                State::Closed => false,
            })
            .map(|(k, _)| k.clone())
            .collect()
    }

    pub fn states(&self) -> Vec<((String, String), State)> {
        let circuits = self.circuits.lock().expect("breaker lock");
        circuits.iter().map(|(k, c)| (k.clone(), c.state)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_consecutive_failures_then_probes_once() {
        let b = Breakers::new(3, Duration::from_secs(10));
        let t0 = Instant::now();
        for _ in 0..2 {
            b.record_failure("s", "853", t0);
        }
        assert_eq!(b.permit("s", "853", t0), Permit::Call);
        b.record_failure("s", "853", t0);
        assert!(matches!(b.permit("s", "853", t0), Permit::Wait(_)));
        assert_eq!(b.open(t0), vec![("s".to_string(), "853".to_string())]);
        let later = t0 + Duration::from_secs(11);
        assert_eq!(b.permit("s", "853", later), Permit::Call, "the half-open probe");
        assert!(
            matches!(b.permit("s", "853", later), Permit::Wait(_)),
            "only one probe at a time"
        );
        b.record_answer("s", "853");
        assert_eq!(b.permit("s", "853", later), Permit::Call);
    }

    #[test]
    fn a_failed_probe_reopens_and_organisations_are_independent() {
        let b = Breakers::new(1, Duration::from_secs(10));
        let t0 = Instant::now();
        b.record_failure("s", "853", t0);
        assert_eq!(
            b.permit("s", "529", t0),
            Permit::Call,
            "another organisation is unaffected"
        );
        let later = t0 + Duration::from_secs(11);
        assert_eq!(b.permit("s", "853", later), Permit::Call);
        b.record_failure("s", "853", later);
        assert!(matches!(b.permit("s", "853", later), Permit::Wait(_)));
    }

    #[test]
    fn an_answer_resets_the_failure_count() {
        let b = Breakers::new(2, Duration::from_secs(10));
        let t0 = Instant::now();
        b.record_failure("s", "853", t0);
        b.record_answer("s", "853");
        b.record_failure("s", "853", t0);
        assert_eq!(b.permit("s", "853", t0), Permit::Call);
    }
}
