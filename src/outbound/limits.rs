//! `outbound.rate`: how many calls per second the dialler starts, as a token bucket on the
//! caller's clock (sans-IO: `now` comes in, the next permitted instant goes out).
//!
//! The bucket holds one second's worth of calls (at least one), so a burst after an idle
//! period is at most `rate` calls and the long-run rate never exceeds `rate`.
//! `outbound.max_concurrent` is a plain count the dialler keeps beside it.

use std::time::{Duration, Instant};

/// A token bucket of `rate` calls per second.
#[derive(Debug, Clone)]
pub struct RateLimit {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Option<Instant>,
}

impl RateLimit {
    /// `rate` calls per second (values below 0.001 are taken as 0.001).
    pub fn new(rate: f64) -> RateLimit {
        let rate = if rate.is_finite() {
            rate.max(0.001)
        } else {
            1.0
        };
        let burst = rate.max(1.0);
        RateLimit {
            rate,
            burst,
            tokens: burst,
            last: None,
        }
    }

    fn refill(&mut self, now: Instant) {
        if let Some(last) = self.last {
            let dt = now.saturating_duration_since(last).as_secs_f64();
            self.tokens = (self.tokens + dt * self.rate).min(self.burst);
        }
        self.last = Some(now);
    }

    /// Takes a token for a call starting at `now`, or says when one will be there.
    pub fn try_take(&mut self, now: Instant) -> Result<(), Instant> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - self.tokens) / self.rate;
            Err(now + Duration::from_secs_f64(wait))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How many calls start in `secs` seconds when the dialler asks every millisecond.
    fn started(rate: f64, secs: u64) -> u32 {
        let t0 = Instant::now();
        let mut r = RateLimit::new(rate);
        let mut n = 0;
        for ms in 0..secs * 1000 {
            if r.try_take(t0 + Duration::from_millis(ms)).is_ok() {
                n += 1;
            }
        }
        n
    }

    #[test]
    fn long_run_rate_is_respected_with_one_second_of_burst() {
        assert_eq!(started(10.0, 10), 10 + 9 * 10 + 9, "burst of 10, then 10/s");
        assert_eq!(started(1.0, 5), 5);
        assert_eq!(started(0.5, 10), 5);
    }

    #[test]
    fn refusal_says_when_the_next_token_comes() {
        let t0 = Instant::now();
        let mut r = RateLimit::new(2.0);
        assert!(r.try_take(t0).is_ok());
        assert!(r.try_take(t0).is_ok());
        let at = r.try_take(t0).expect_err("empty");
        assert_eq!(at, t0 + Duration::from_millis(500));
        assert!(r.try_take(at).is_ok());
    }

    #[test]
    fn nonsense_rates_do_not_panic() {
        for rate in [0.0, -5.0, f64::NAN, f64::INFINITY, 1e12] {
            let mut r = RateLimit::new(rate);
            let _ = r.try_take(Instant::now());
        }
    }
}
