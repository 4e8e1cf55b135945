//! RTP packet counters for `/metrics`: one set of atomics per media worker, bumped by the
//! worker's own sessions (uncontended relaxed adds: no lock and no shared cache line on the
//! packet path), summed over all workers only when `/metrics` is scraped ([`totals`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// One worker's counts.
#[derive(Debug, Default)]
pub struct RtpCounters {
    /// RTP packets sent (audio and telephone-events).
    pub sent: AtomicU64,
    /// RTP packets received of a negotiated payload type from the caller.
    pub received: AtomicU64,
    /// Packets sent after their due time (the pacer's late count).
    pub late: AtomicU64,
    /// Sequence numbers skipped in what the caller sent (a reordered packet counts as lost).
    pub lost: AtomicU64,
}

impl RtpCounters {
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
}

/// The sum over every worker.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RtpTotals {
    pub sent: u64,
    pub received: u64,
    pub late: u64,
    pub lost: u64,
}

static ALL: Mutex<Vec<Arc<RtpCounters>>> = Mutex::new(Vec::new());

/// A new worker's counters, registered for [`totals`] (once per worker thread).
pub fn register() -> Arc<RtpCounters> {
    let c = Arc::new(RtpCounters::default());
    ALL.lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(c.clone());
    c
}

/// Totals since start.
pub fn totals() -> RtpTotals {
    sum(&ALL.lock().unwrap_or_else(|p| p.into_inner()))
}

fn sum(all: &[Arc<RtpCounters>]) -> RtpTotals {
    let mut t = RtpTotals::default();
    for c in all {
        t.sent += c.sent.load(Ordering::Relaxed);
        t.received += c.received.load(Ordering::Relaxed);
        t.late += c.late.load(Ordering::Relaxed);
        t.lost += c.lost.load(Ordering::Relaxed);
    }
    t
}

/// Packets missing before `seq` when the last one seen was `last` (0 for the next one, a
/// duplicate, an older packet, or a jump too large to be loss, like a new stream).
pub fn gap(last: u16, seq: u16) -> u64 {
    let d = seq.wrapping_sub(last);
    if (2..1000).contains(&d) {
        u64::from(d - 1)
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_count_skipped_sequence_numbers_only() {
        assert_eq!(gap(10, 11), 0);
        assert_eq!(gap(10, 13), 2);
        assert_eq!(gap(65535, 1), 1, "wraps");
        assert_eq!(gap(10, 10), 0, "duplicate");
        assert_eq!(gap(10, 9), 0, "late");
        assert_eq!(gap(10, 40000), 0, "a new stream");
    }

    #[test]
    fn totals_sum_the_workers() {
        let a = Arc::new(RtpCounters::default());
        let b = Arc::new(RtpCounters::default());
        RtpCounters::add(&a.sent, 3);
        RtpCounters::add(&b.sent, 4);
        RtpCounters::add(&b.lost, 1);
        RtpCounters::add(&a.received, 2);
        RtpCounters::add(&a.late, 5);
        let t = sum(&[a, b]);
        assert_eq!(
            t,
            RtpTotals {
                sent: 7,
                received: 2,
                late: 5,
                lost: 1
            }
        );
    }
}
