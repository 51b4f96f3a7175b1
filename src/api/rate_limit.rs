//! A per-address rate limit in memory: at most `max` requests in any sliding window.
//!
//! Used by the public help-request endpoints. An address is the TCP peer's; IPv6 addresses
//! count by their /64 (one subscriber gets a whole /64), IPv4-mapped IPv6 as IPv4.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Above this many tracked addresses, addresses with no request in the window are forgotten.
const PRUNE_ABOVE: usize = 10_000;

pub struct RateLimiter {
    max: usize,
    window: Duration,
    seen: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

/// A request counted against an address; give it back with [`RateLimiter::release`] when
/// the request turned out not to count (it was invalid and nothing was written).
#[derive(Debug)]
pub struct Slot {
    key: IpAddr,
    at: Instant,
}

/// The address as the limit counts it.
fn key_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

impl RateLimiter {
    /// `max` requests per `window`; `max` 0 means no limit.
    pub fn new(max: u32, window: Duration) -> Self {
        Self {
            max: max as usize,
            window,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a request from `ip`, or says how long until the address may ask again.
    pub fn acquire(&self, ip: IpAddr, now: Instant) -> Result<Option<Slot>, Duration> {
        if self.max == 0 {
            return Ok(None);
        }
        let key = key_of(ip);
        let mut seen = self.seen.lock().expect("rate limit lock");
        if seen.len() > PRUNE_ABOVE {
            let window = self.window;
            seen.retain(|_, times| times.back().is_some_and(|t| now.saturating_duration_since(*t) < window));
        }
        let times = seen.entry(key).or_default();
        while times
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= self.window)
        {
            times.pop_front();
        }
        if times.len() >= self.max {
            let oldest = *times.front().expect("a full window has a first request");
            return Err(self.window.saturating_sub(now.saturating_duration_since(oldest)));
        }
        times.push_back(now);
        Ok(Some(Slot { key, at: now }))
    }

    /// Gives back a counted request.
    pub fn release(&self, slot: Option<Slot>) {
        let Some(slot) = slot else { return };
        let mut seen = self.seen.lock().expect("rate limit lock");
        if let Some(times) = seen.get_mut(&slot.key) {
            if let Some(i) = times.iter().rposition(|t| *t == slot.at) {
                times.remove(i);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_max_in_the_window_then_the_wait_is_told() {
        let limiter = RateLimiter::new(2, Duration::from_secs(600));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let t0 = Instant::now();
        assert!(limiter.acquire(ip, t0).is_ok());
        assert!(limiter.acquire(ip, t0 + Duration::from_secs(60)).is_ok());
        let wait = limiter.acquire(ip, t0 + Duration::from_secs(120)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(480));
        // Another address is not affected.
        assert!(limiter.acquire("192.0.2.2".parse().unwrap(), t0).is_ok());
        // When the first request leaves the window, one more fits.
        assert!(limiter.acquire(ip, t0 + Duration::from_secs(600)).is_ok());
        assert!(limiter.acquire(ip, t0 + Duration::from_secs(601)).is_err());
    }

    #[test]
    fn a_released_slot_does_not_count() {
        let limiter = RateLimiter::new(1, Duration::from_secs(600));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let t0 = Instant::now();
        let slot = limiter.acquire(ip, t0).unwrap();
        limiter.release(slot);
        assert!(limiter.acquire(ip, t0).is_ok());
        assert!(limiter.acquire(ip, t0).is_err());
    }

    #[test]
    fn ipv6_counts_by_its_64_and_mapped_ipv4_as_ipv4() {
        let limiter = RateLimiter::new(1, Duration::from_secs(600));
        let t0 = Instant::now();
        assert!(limiter.acquire("2001:db8:1:2::1".parse().unwrap(), t0).is_ok());
        assert!(limiter.acquire("2001:db8:1:2:ffff::9".parse().unwrap(), t0).is_err());
        assert!(limiter.acquire("2001:db8:1:3::1".parse().unwrap(), t0).is_ok());
        assert!(limiter.acquire("192.0.2.7".parse().unwrap(), t0).is_ok());
        assert!(limiter.acquire("::ffff:192.0.2.7".parse().unwrap(), t0).is_err());
    }

    #[test]
    fn zero_turns_the_limit_off() {
        let limiter = RateLimiter::new(0, Duration::from_secs(600));
        for _ in 0..100 {
            assert!(limiter.acquire("192.0.2.1".parse().unwrap(), Instant::now()).is_ok());
        }
    }
}
