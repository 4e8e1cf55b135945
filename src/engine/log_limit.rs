//! Rate limits for log lines that an outsider can repeat: a SIP flood, a caller sending INFO
//! after INFO, a listener out of file descriptors, a client's closed TCP port. Each kind of
//! line (and, where there is one, each source address) may log a short burst, then about one
//! line per [`EVERY`]; the next line that gets through says how many were left out
//! (`suppressed = n`). Issue 10 measured 23k lines in 10 s from one call and a warning every
//! 50 ms from a listener without descriptors.
//!
//! The buckets are `policy::rate`'s (bounded table, so a spoofed flood cannot grow it); this
//! module only adds the process-wide table and the clock. Counters, not log lines, are what
//! counts every event (`policy::counters`).

use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::rt::lock;
use crate::policy::rate::{Rate, RateTable, Verdict};

/// Lines of one kind (and source) logged back to back before the limit starts.
pub const BURST: f64 = 5.0;
/// Then one line per this long.
pub const EVERY: Duration = Duration::from_secs(10);
/// Kinds × sources tracked at most.
const CAPACITY: usize = 4096;

/// A kind of line, optionally per source address.
type Key = (&'static str, Option<IpAddr>);

/// A table of line budgets.
#[derive(Debug)]
pub struct LogLimiter {
    table: Mutex<RateTable<Key>>,
}

impl Default for LogLimiter {
    fn default() -> Self {
        LogLimiter::new(Rate {
            per_second: 1.0 / EVERY.as_secs_f64(),
            burst: BURST,
        })
    }
}

impl LogLimiter {
    pub fn new(rate: Rate) -> LogLimiter {
        LogLimiter {
            table: Mutex::new(RateTable::new(rate, CAPACITY)),
        }
    }

    /// Whether a line of `kind` may be logged now; `Some(n)` with the number of lines of this
    /// kind left out since the last one.
    pub fn allow(&self, kind: &'static str) -> Option<u64> {
        self.check((kind, None), Instant::now())
    }

    /// The same, per source address.
    pub fn allow_from(&self, kind: &'static str, source: IpAddr) -> Option<u64> {
        self.check((kind, Some(source)), Instant::now())
    }

    /// [`LogLimiter::allow`] at a given time (tests).
    pub fn check(&self, key: Key, now: Instant) -> Option<u64> {
        match lock(&self.table).check(&key, now) {
            Verdict::Allowed { suppressed } => Some(suppressed),
            Verdict::Limited | Verdict::TableFull => None,
        }
    }
}

static GLOBAL: std::sync::OnceLock<LogLimiter> = std::sync::OnceLock::new();

/// The process's limiter.
pub fn global() -> &'static LogLimiter {
    GLOBAL.get_or_init(LogLimiter::default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_storm_logs_a_burst_then_one_line_per_period_with_the_count() {
        let l = LogLimiter::default();
        let t0 = Instant::now();
        let key = ("accept failed", None);
        // 50 ms apart for 60 s (the listener without descriptors): 1,200 attempts.
        let logged: Vec<u64> = (0..1200u64)
            .filter_map(|i| l.check(key, t0 + Duration::from_millis(50 * i)))
            .collect();
        assert!(logged.len() <= 5 + 6 + 1, "{} lines", logged.len());
        assert!(logged.len() >= 5 + 5);
        // Every attempt up to the last line is accounted for: lines plus the counts they
        // carry (what came after the last line waits for the next one).
        let accounted = logged.len() as u64 + logged.iter().sum::<u64>();
        assert!(accounted >= 1200 - 200, "{accounted}");
    }

    #[test]
    fn sources_and_kinds_have_their_own_budgets() {
        let l = LogLimiter::default();
        let t0 = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..100 {
            l.check(("info", Some(a)), t0);
        }
        assert_eq!(l.check(("info", Some(a)), t0), None);
        assert_eq!(l.check(("info", Some(b)), t0), Some(0));
        assert_eq!(l.check(("other", Some(a)), t0), Some(0));
    }
}
