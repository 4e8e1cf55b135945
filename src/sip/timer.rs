//! RFC 3261 timer values and the small per-transaction timer table.
//!
//! Owns T1/T2/T4 ([`TimerConfig`]) and [`TimerTable`], a handful of `(timer, deadline)` slots
//! keyed by a transaction's own closed timer enum, whose `next()` is one `min`. Does not own
//! what a timer means: each transaction matches on its enum.

use std::time::{Duration, Instant};

/// RFC 3261 §17 base timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    /// RTT estimate, 500 ms.
    pub t1: Duration,
    /// Maximum retransmit interval for non-INVITE requests and INVITE responses, 4 s.
    pub t2: Duration,
    /// Maximum time a message stays in the network, 5 s.
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl TimerConfig {
    /// 64·T1: Timers B, F, H and J (32 s by default).
    pub fn t64(&self) -> Duration {
        self.t1 * 64
    }
}

/// Deadlines for one transaction's timers.
#[derive(Debug, Clone)]
pub struct TimerTable<T> {
    slots: Vec<(T, Instant)>,
}

impl<T> Default for TimerTable<T> {
    fn default() -> Self {
        TimerTable { slots: Vec::new() }
    }
}

impl<T: Copy + PartialEq> TimerTable<T> {
    /// Arms (or re-arms) `timer` at `at`.
    pub fn set(&mut self, timer: T, at: Instant) {
        self.stop(timer);
        self.slots.push((timer, at));
    }

    /// Disarms `timer`.
    pub fn stop(&mut self, timer: T) {
        self.slots.retain(|(t, _)| *t != timer);
    }

    /// Disarms every timer.
    pub fn clear(&mut self) {
        self.slots.clear();
    }

    /// Whether `timer` is armed.
    pub fn is_set(&self, timer: T) -> bool {
        self.slots.iter().any(|(t, _)| *t == timer)
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.slots.iter().map(|(_, at)| *at).min()
    }

    /// Removes and returns the earliest timer due at `now`.
    pub fn pop_expired(&mut self, now: Instant) -> Option<T> {
        let (i, _) = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, (_, at))| *at <= now)
            .min_by_key(|(_, (_, at))| *at)?;
        Some(self.slots.swap_remove(i).0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum T {
        A,
        B,
    }

    #[test]
    fn pops_in_deadline_order_and_rearms() {
        let t0 = Instant::now();
        let mut tt = TimerTable::default();
        tt.set(T::B, t0 + Duration::from_secs(2));
        tt.set(T::A, t0 + Duration::from_secs(1));
        assert_eq!(tt.next(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(tt.pop_expired(t0), None);
        assert_eq!(tt.pop_expired(t0 + Duration::from_secs(5)), Some(T::A));
        tt.set(T::B, t0 + Duration::from_secs(9));
        assert_eq!(tt.next(), Some(t0 + Duration::from_secs(9)));
        assert!(tt.is_set(T::B));
        tt.stop(T::B);
        assert_eq!(tt.next(), None);
        assert_eq!(TimerConfig::default().t64(), Duration::from_secs(32));
    }
}
