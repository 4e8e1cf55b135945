//! Login rate limiting: a token bucket per client address and per user name, sans-IO (the
//! caller passes `now`). A bucket holds [`BURST`] attempts and refills one every [`REFILL`];
//! only failed logins take from it, and a success refills the user's bucket. The table is
//! bounded ([`MAX_KEYS`]): when full, the entry untouched for longest is evicted, so a flood of
//! addresses costs memory once and cannot lock a real user out for long.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Failed attempts allowed at once per address and per name.
pub const BURST: u32 = 5;
/// One more attempt per this interval.
pub const REFILL: Duration = Duration::from_secs(30);
/// Entries kept.
pub const MAX_KEYS: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The limiter's table.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    buckets: HashMap<String, Bucket>,
}

impl LoginLimiter {
    pub fn new() -> LoginLimiter {
        LoginLimiter::default()
    }

    /// `Ok` if a login from `addr` for `user` may be tried now, else how long to wait.
    pub fn check(&mut self, addr: &str, user: &str, now: Instant) -> Result<(), Duration> {
        let a = self.level(&key("ip", addr), now);
        let u = self.level(&key("user", user), now);
        let low = a.min(u);
        if low >= 1.0 {
            Ok(())
        } else {
            Err(REFILL.mul_f64(1.0 - low))
        }
    }

    /// A failed login: both buckets lose one.
    pub fn failed(&mut self, addr: &str, user: &str, now: Instant) {
        for k in [key("ip", addr), key("user", user)] {
            let level = self.level(&k, now);
            self.put(k, level - 1.0, now);
        }
    }

    /// A successful login: the user's bucket is full again.
    pub fn succeeded(&mut self, user: &str) {
        self.buckets.remove(&key("user", user));
    }

    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    fn level(&self, k: &str, now: Instant) -> f64 {
        match self.buckets.get(k) {
            None => f64::from(BURST),
            Some(b) => {
                let refill =
                    now.saturating_duration_since(b.at).as_secs_f64() / REFILL.as_secs_f64();
                (b.tokens + refill).min(f64::from(BURST))
            }
        }
    }

    fn put(&mut self, k: String, tokens: f64, now: Instant) {
        if !self.buckets.contains_key(&k) && self.buckets.len() >= MAX_KEYS {
            // Full buckets carry no information: drop those first, else the stalest.
            self.buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.at).as_secs_f64() / REFILL.as_secs_f64()
                    < f64::from(BURST)
            });
            if self.buckets.len() >= MAX_KEYS {
                if let Some(old) = self
                    .buckets
                    .iter()
                    .min_by_key(|(_, b)| b.at)
                    .map(|(k, _)| k.clone())
                {
                    self.buckets.remove(&old);
                }
            }
        }
        self.buckets.insert(k, Bucket { tokens, at: now });
    }
}

fn key(kind: &str, v: &str) -> String {
    // Names are compared case-insensitively, so `Admin` and `admin` share a bucket.
    let v: String = v.chars().take(128).collect::<String>().to_lowercase();
    format!("{kind}:{v}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_then_wait_then_one_more() {
        let mut l = LoginLimiter::new();
        let t0 = Instant::now();
        for _ in 0..BURST {
            assert!(l.check("1.2.3.4", "admin", t0).is_ok());
            l.failed("1.2.3.4", "admin", t0);
        }
        let wait = l.check("1.2.3.4", "admin", t0).unwrap_err();
        assert_eq!(wait, REFILL);
        assert!(l.check("1.2.3.4", "admin", t0 + REFILL / 2).is_err());
        assert!(l.check("1.2.3.4", "admin", t0 + REFILL).is_ok());
    }

    #[test]
    fn the_name_is_limited_across_addresses_and_a_success_clears_it() {
        let mut l = LoginLimiter::new();
        let t0 = Instant::now();
        for i in 0..BURST {
            l.failed(&format!("10.0.0.{i}"), "Admin", t0);
        }
        assert!(
            l.check("10.0.0.99", "admin", t0).is_err(),
            "the user is under attack"
        );
        assert!(l.check("10.0.0.99", "bob", t0).is_ok(), "others are not");
        l.succeeded("admin");
        assert!(l.check("10.0.0.99", "admin", t0).is_ok());
    }

    #[test]
    fn the_table_is_bounded() {
        let mut l = LoginLimiter::new();
        let t0 = Instant::now();
        for i in 0..(MAX_KEYS + 50) {
            l.failed(&format!("a{i}"), "u", t0 + Duration::from_millis(i as u64));
        }
        assert!(l.len() <= MAX_KEYS);
    }
}
