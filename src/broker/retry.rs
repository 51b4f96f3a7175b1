//! When to try again: exponential backoff (backon's schedule) with full jitter, `Retry-After`
//! honoured, and a budget of attempts and elapsed time after which an exchange is dead.

use super::ServicePolicy;
use backon::BackoffBuilder;
use chrono::{DateTime, Utc};
use portti_adapter_core::AdapterError;
use std::time::Duration;

/// What happens to an exchange after a failed attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    RetryAt(DateTime<Utc>),
    Dead(String),
}

/// The ceiling of the wait before attempt `n + 1` (n ≥ 1): base · 2^(n−1), capped.
fn ceiling(policy: &ServicePolicy, attempt: u32) -> Duration {
    backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(policy.base_delay_ms))
        .with_max_delay(Duration::from_millis(policy.max_delay_ms))
        .with_factor(2.0)
        .without_max_times()
        .build()
        .nth(attempt.saturating_sub(1) as usize)
        .unwrap_or(Duration::from_millis(policy.max_delay_ms))
}

/// Full jitter: anywhere between nothing and the ceiling, so that many exchanges failing
/// together do not come back together.
pub fn backoff(policy: &ServicePolicy, attempt: u32) -> Duration {
    let ceiling = ceiling(policy, attempt);
    ceiling.mul_f64(fastrand::f64())
}

/// Decides after a failed attempt. `attempts_in_budget` counts this attempt.
pub fn after_failure(
    policy: &ServicePolicy,
    error: &AdapterError,
    attempts_in_budget: u32,
    budget_since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Next {
    let wait = match error {
        AdapterError::Permanent(reason) => return Next::Dead(format!("permanent: {reason}")),
        AdapterError::RateLimited { retry_after } => (*retry_after).max(backoff(policy, attempts_in_budget)),
        AdapterError::Transient(_) | AdapterError::Reauthenticate(_) => backoff(policy, attempts_in_budget),
    };
    if attempts_in_budget >= policy.max_attempts {
        return Next::Dead(format!("gave up after {attempts_in_budget} attempts: {error}"));
    }
    let budget_end = budget_since + chrono::Duration::seconds(policy.max_elapsed_s.min(i64::MAX as u64 / 1000) as i64);
    let at = match chrono::Duration::from_std(wait)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
    {
        Some(at) => at,
        None => return Next::Dead(format!("the service asked to wait longer than the budget: {error}")),
    };
    if at > budget_end {
        return Next::Dead(format!("gave up after {}s: {error}", policy.max_elapsed_s));
    }
    Next::RetryAt(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ServicePolicy {
        ServicePolicy {
            max_attempts: 5,
            max_elapsed_s: 3600,
            base_delay_ms: 100,
            max_delay_ms: 1_000,
            ..ServicePolicy::default()
        }
    }

    #[test]
    fn ceilings_grow_exponentially_to_the_cap() {
        let p = policy();
        let ms: Vec<u128> = (1..=6).map(|n| ceiling(&p, n).as_millis()).collect();
        assert_eq!(ms, [100, 200, 400, 800, 1000, 1000]);
    }

    #[test]
    fn jitter_stays_under_the_ceiling_and_varies() {
        let p = policy();
        let waits: Vec<Duration> = (0..200).map(|_| backoff(&p, 3)).collect();
        assert!(waits.iter().all(|w| *w <= Duration::from_millis(400)));
        assert!(waits.iter().any(|w| *w < Duration::from_millis(200)));
        assert!(waits.iter().any(|w| *w > Duration::from_millis(200)));
    }

    #[test]
    fn permanent_failures_and_spent_budgets_are_dead() {
        let p = policy();
        let now = Utc::now();
        assert!(matches!(
            after_failure(&p, &AdapterError::Permanent("400 bad".into()), 1, now, now),
            Next::Dead(r) if r.contains("400 bad")
        ));
        assert!(matches!(
            after_failure(&p, &AdapterError::Transient("503".into()), 5, now, now),
            Next::Dead(_)
        ));
        assert!(matches!(
            after_failure(&p, &AdapterError::Transient("503".into()), 4, now, now),
            Next::RetryAt(_)
        ));
        let long_ago = now - chrono::Duration::hours(2);
        assert!(matches!(
            after_failure(&p, &AdapterError::Transient("503".into()), 2, long_ago, now),
            Next::Dead(_)
        ));
    }

    #[test]
    fn retry_after_is_honoured() {
        let p = policy();
        let now = Utc::now();
        let e = AdapterError::RateLimited {
            retry_after: Duration::from_secs(30),
        };
        match after_failure(&p, &e, 1, now, now) {
            Next::RetryAt(at) => assert!(at - now >= chrono::Duration::seconds(30)),
            other => panic!("{other:?}"),
        }
    }
}
