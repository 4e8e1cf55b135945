//! Token buckets keyed by source (or by anything hashable), with a bounded table: the rate
//! limits of `sip.rate_*` (Kamailio's pike, per source IP) and the log limiter
//! (`engine::log_limit`) are both this.
//!
//! A [`Rate`] is `per_second` tokens refilled continuously, at most `burst` stored; each event
//! takes one. [`RateTable`] keeps one bucket per key, created full on first sight, and never
//! grows past its capacity: when full, it drops the buckets that are full again (their sources
//! went quiet, so forgetting them changes nothing); when none is, a new key is refused
//! ([`Verdict::TableFull`]) rather than forgetting an active one (an attacker rotating source
//! addresses must not reset the buckets of the sources it competes with). Each bucket counts
//! the events it refused since the last one it allowed, so a log line can say how many were
//! suppressed.
//!
//! Sans-IO: time is passed in. Hand-written: ~100 lines; the rate-limit crates (governor)
//! read a clock of their own and do not report suppressed counts.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// A refill rate and a burst.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Tokens added per second (events per second sustained). `0` with `burst` 0 = unlimited.
    pub per_second: f64,
    /// Largest number of tokens stored (events allowed back to back).
    pub burst: f64,
}

impl Rate {
    /// No limit.
    pub const UNLIMITED: Rate = Rate {
        per_second: 0.0,
        burst: 0.0,
    };

    /// `per_second` sustained with a burst of twice that (at least 1).
    pub fn per_second(per_second: f64) -> Rate {
        if per_second <= 0.0 {
            return Rate::UNLIMITED;
        }
        Rate {
            per_second,
            burst: (per_second * 2.0).max(1.0),
        }
    }

    pub fn is_unlimited(&self) -> bool {
        self.per_second <= 0.0 && self.burst <= 0.0
    }

    /// How long an emptied bucket takes to fill up again.
    fn refill_time(&self) -> Duration {
        if self.per_second <= 0.0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(self.burst / self.per_second)
    }
}

/// The answer for one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Go ahead; `suppressed` events of this key were refused since the last allowed one.
    Allowed { suppressed: u64 },
    /// Over the rate.
    Limited,
    /// A new key while the table is full of active ones.
    TableFull,
}

impl Verdict {
    pub fn allowed(self) -> bool {
        matches!(self, Verdict::Allowed { .. })
    }
}

#[derive(Debug, Clone)]
struct Bucket {
    tokens: f64,
    last: Instant,
    suppressed: u64,
}

impl Bucket {
    fn refill(&mut self, rate: &Rate, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + dt * rate.per_second).min(rate.burst);
        self.last = self.last.max(now);
    }

    fn is_full(&self, rate: &Rate, now: Instant) -> bool {
        now.saturating_duration_since(self.last) >= rate.refill_time() || self.tokens >= rate.burst
    }
}

/// One bucket per key, at most `capacity` keys.
#[derive(Debug, Clone)]
pub struct RateTable<K> {
    rate: Rate,
    capacity: usize,
    buckets: HashMap<K, Bucket>,
    /// When idle buckets were last dropped (a sweep runs at most once per refill time, and
    /// at most once per [`FULL_SWEEP_EVERY`] while the table is full).
    swept: Option<Instant>,
    /// Sweeps so far (each scans the table).
    sweeps: u64,
}

impl<K: Hash + Eq + Clone> RateTable<K> {
    pub fn new(rate: Rate, capacity: usize) -> RateTable<K> {
        RateTable {
            rate,
            capacity: capacity.max(1),
            buckets: HashMap::new(),
            swept: None,
            sweeps: 0,
        }
    }

    pub fn rate(&self) -> Rate {
        self.rate
    }

    /// Keys tracked now.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// One event of `key` at `now`.
    pub fn check(&mut self, key: &K, now: Instant) -> Verdict {
        if self.rate.is_unlimited() {
            return Verdict::Allowed { suppressed: 0 };
        }
        if !self.buckets.contains_key(key) {
            // A full table is swept at most once per FULL_SWEEP_EVERY: a flood of new
            // sources while every bucket is active must not scan the table per message.
            if self.buckets.len() >= self.capacity
                && self
                    .swept
                    .is_none_or(|t| now.saturating_duration_since(t) >= FULL_SWEEP_EVERY)
            {
                self.sweep(now);
            }
            if self.buckets.len() >= self.capacity {
                return Verdict::TableFull;
            }
            self.buckets.insert(
                key.clone(),
                Bucket {
                    tokens: self.rate.burst,
                    last: now,
                    suppressed: 0,
                },
            );
        } else if self.swept.is_none_or(|t| {
            now.saturating_duration_since(t) >= self.rate.refill_time().max(SWEEP_EVERY)
        }) && self.buckets.len() > SWEEP_ABOVE
        {
            // Forget quiet sources now and then, so a past scan does not hold memory.
            self.sweep(now);
        }
        let rate = self.rate;
        let Some(b) = self.buckets.get_mut(key) else {
            return Verdict::TableFull; // swept just above only when full, which it was not
        };
        b.refill(&rate, now);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            let suppressed = std::mem::take(&mut b.suppressed);
            Verdict::Allowed { suppressed }
        } else {
            b.suppressed += 1;
            Verdict::Limited
        }
    }

    /// Events of `key` refused since its last allowed one (for a final "suppressed" line).
    pub fn take_suppressed(&mut self, key: &K) -> u64 {
        self.buckets
            .get_mut(key)
            .map_or(0, |b| std::mem::take(&mut b.suppressed))
    }

    /// Drops the buckets that are full again (their keys went quiet) and have nothing
    /// suppressed to report.
    fn sweep(&mut self, now: Instant) {
        let rate = self.rate;
        self.buckets
            .retain(|_, b| b.suppressed > 0 || !b.is_full(&rate, now));
        self.swept = Some(now);
        self.sweeps += 1;
    }

    /// Sweeps so far (tests: a flood of new keys does not sweep per key).
    #[cfg(test)]
    fn sweeps(&self) -> u64 {
        self.sweeps
    }
}

/// A full table is swept at most this often (each sweep scans it: amortised O(1) per event).
const FULL_SWEEP_EVERY: Duration = Duration::from_millis(100);

/// Sweep at most this often when the table is not full.
const SWEEP_EVERY: Duration = Duration::from_secs(10);
/// ... and only when it holds more keys than this.
const SWEEP_ABOVE: usize = 1024;

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn a_burst_then_the_sustained_rate() {
        let t0 = Instant::now();
        let mut t = RateTable::new(Rate::per_second(10.0), 16);
        let allowed = (0..100).filter(|_| t.check(&1u32, t0).allowed()).count();
        assert_eq!(allowed, 20, "the burst is twice the rate");
        // One second later: 10 more.
        let later = ms(t0, 1000);
        let allowed = (0..100).filter(|_| t.check(&1u32, later).allowed()).count();
        assert_eq!(allowed, 10);
        // The first allowed event after the refusals says how many were refused.
        let v = t.check(&1u32, ms(t0, 1200));
        assert_eq!(v, Verdict::Allowed { suppressed: 90 });
    }

    #[test]
    fn sources_have_their_own_buckets() {
        let t0 = Instant::now();
        let mut t = RateTable::new(Rate::per_second(1.0), 16);
        assert!(t.check(&1u32, t0).allowed());
        assert!(t.check(&1u32, t0).allowed());
        assert_eq!(t.check(&1u32, t0), Verdict::Limited);
        assert!(
            t.check(&2u32, t0).allowed(),
            "another source is not limited"
        );
    }

    #[test]
    fn the_table_is_bounded_and_forgets_only_quiet_sources() {
        let t0 = Instant::now();
        let mut t = RateTable::new(Rate::per_second(1.0), 4);
        for k in 0..4u32 {
            assert!(t.check(&k, t0).allowed());
        }
        // Full of active sources: a fifth is refused, not let in by forgetting one.
        assert_eq!(t.check(&99, t0), Verdict::TableFull);
        assert_eq!(t.len(), 4);
        // Two seconds later every bucket is full again: the table makes room.
        assert!(t.check(&99, ms(t0, 2000)).allowed());
        assert!(t.len() <= 4);
        // A million distinct sources never grow it.
        for k in 0..1_000_000u32 {
            t.check(&(k + 1000), ms(t0, 2000 + u64::from(k / 1000)));
        }
        assert!(t.len() <= 4);
    }

    #[test]
    fn a_flood_of_new_keys_on_a_full_table_does_not_sweep_per_key() {
        let t0 = Instant::now();
        let mut t = RateTable::new(Rate::per_second(1.0), 1000);
        for k in 0..1000u32 {
            assert!(t.check(&k, t0).allowed());
        }
        // 100,000 new sources within 50 ms while every bucket is active: refused, one sweep.
        for k in 0..100_000u32 {
            let now = ms(t0, u64::from(k / 2000));
            assert_eq!(t.check(&(k + 10_000), now), Verdict::TableFull);
        }
        assert_eq!(t.sweeps(), 1);
        // Once the buckets are full again (2 s), the next new source gets room.
        assert!(t.check(&7_777_777, ms(t0, 2000)).allowed());
        assert_eq!(t.sweeps(), 2);
    }

    #[test]
    fn unlimited_allows_everything_and_keeps_nothing() {
        let t0 = Instant::now();
        let mut t = RateTable::new(Rate::per_second(0.0), 4);
        for k in 0..100u32 {
            assert_eq!(t.check(&k, t0), Verdict::Allowed { suppressed: 0 });
        }
        assert!(t.is_empty());
    }

    #[test]
    fn time_going_backwards_does_not_refill_or_panic() {
        let t0 = Instant::now() + Duration::from_secs(10);
        let mut t = RateTable::new(Rate::per_second(1.0), 4);
        assert!(t.check(&1u32, t0).allowed());
        assert!(t.check(&1u32, t0).allowed());
        assert_eq!(
            t.check(&1u32, t0 - Duration::from_secs(5)),
            Verdict::Limited
        );
    }
}
