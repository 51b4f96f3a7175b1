//! Fault-injection machinery shared by the simulators (each keeps its own fault kinds): how the faults firing
//! for one request combine, the deterministic `fraction` spread with the `count` a firing spends, and the
//! `Control` methods over a simulator's fault list and request log.

use std::time::Duration;

/// An injected fault as the request path sees it.
pub(crate) trait Injected {
    type Kind: Clone;
    fn kind(&self) -> &Self::Kind;
    /// The delay when this is a latency fault, None for the other (action) faults.
    fn latency(&self) -> Option<Duration>;
    /// The firings left (None = until cleared).
    fn count(&self) -> Option<u32>;
    /// No firing left: the fault is dropped.
    fn exhausted(&self) -> bool {
        self.count() == Some(0)
    }
}

/// What the faults firing for one request (in one phase) amount to.
pub(crate) struct Fired<K> {
    pub delay: Duration,
    pub action: Option<K>,
}

/// The faults for one request, each asked `fires` (whether it matches the request and fires, spending its
/// count): latencies add up; of the others the first injected wins, and the rest neither fire nor spend their
/// count on that request. Exhausted faults are dropped afterwards.
pub(crate) fn fire_all<A: Injected>(active: &mut Vec<A>, mut fires: impl FnMut(&mut A) -> bool) -> Fired<A::Kind> {
    let mut fired = Fired {
        delay: Duration::ZERO,
        action: None,
    };
    for a in active.iter_mut() {
        let latency = a.latency();
        // Once an action is chosen, the other action faults do not see this request (nor spend their count).
        if latency.is_none() && fired.action.is_some() {
            continue;
        }
        if fires(a) {
            match latency {
                Some(delay) => fired.delay += delay,
                None => fired.action = Some(a.kind().clone()),
            }
        }
    }
    active.retain(|a| !a.exhausted());
    fired
}

/// A match for a fault with this `fraction` and remaining `count`: whether it fires. With a fraction only that
/// share of matches fires, deterministically (with 0.25 the 4th, 8th, … match), `accumulator` carrying the
/// spread between matches; a firing spends one of the `count`.
pub(crate) fn spend(accumulator: &mut f64, fraction: Option<f64>, count: &mut Option<u32>) -> bool {
    if let Some(fraction) = fraction {
        *accumulator += fraction;
        if *accumulator < 1.0 - 1e-9 {
            return false;
        }
        *accumulator -= 1.0;
    }
    if let Some(count) = count {
        *count -= 1;
    }
    true
}

/// `Control::{inject, clear_faults, faults}` for a simulator whose `Sim::lock()` holds
/// `faults: Vec<faults::Active>` (an injected `Fault` with its firing state). The attributes given (the doc
/// comment) go on `inject`.
macro_rules! fault_controls {
    ($(#[$inject:meta])*) => {
        $(#[$inject])*
        pub fn inject(&self, fault: Fault) {
            if let Err(e) = fault.check() {
                panic!("invalid fault: {e}");
            }
            self.sim.lock().faults.push(faults::Active::new(fault));
        }

        pub fn clear_faults(&self) {
            self.sim.lock().faults.clear();
        }

        /// The faults still active (with their remaining `count`).
        pub fn faults(&self) -> Vec<Fault> {
            self.sim.lock().faults.iter().map(|a| a.fault.clone()).collect()
        }
    };
}
pub(crate) use fault_controls;

/// `Control::{request_log, clear_request_log}` for a simulator whose `Sim::lock()` holds
/// `request_log: Vec<LoggedRequest>`. The attributes given (the doc comment) go on `request_log`.
macro_rules! request_log_controls {
    ($(#[$log:meta])*) => {
        $(#[$log])*
        pub fn request_log(&self) -> Vec<LoggedRequest> {
            self.sim.lock().request_log.clone()
        }

        pub fn clear_request_log(&self) {
            self.sim.lock().request_log.clear();
        }
    };
}
pub(crate) use request_log_controls;
