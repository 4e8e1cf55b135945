//! The call's timers: a closed enum and a fixed table of deadlines.
//!
//! At most a few timers run at once (one per waiting state), so the table is an array indexed by
//! [`Timer`] and `next` is one `min` over it. The table stores deadlines only; what a timer means
//! is decided by the state that armed it (`call`, `gather`, ...).

use std::time::Instant;

/// Every timer a call can arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    /// Gather: from the end of the prompt to the first digit.
    NoInput,
    /// Gather: between two digits.
    InterDigit,
    /// A `pause` node.
    Pause,
    /// An `http` attempt.
    HttpDeadline,
    /// A `listen` waiting for speech.
    ListenDeadline,
    /// An `agent` session's `max_duration`.
    SessionDeadline,
}

impl Timer {
    const COUNT: usize = 6;
    const ALL: [Timer; Timer::COUNT] = [
        Timer::NoInput,
        Timer::InterDigit,
        Timer::Pause,
        Timer::HttpDeadline,
        Timer::ListenDeadline,
        Timer::SessionDeadline,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// Deadlines of the armed timers.
#[derive(Debug, Default, Clone)]
pub(crate) struct TimerTable {
    slots: [Option<Instant>; Timer::COUNT],
}

impl TimerTable {
    /// Arms (or re-arms) `timer` to fire at `at`.
    pub(crate) fn set(&mut self, timer: Timer, at: Instant) {
        self.slots[timer.index()] = Some(at);
    }

    pub(crate) fn stop(&mut self, timer: Timer) {
        self.slots[timer.index()] = None;
    }

    pub(crate) fn clear(&mut self) {
        self.slots = [None; Timer::COUNT];
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.slots.iter().flatten().min().copied()
    }

    /// Disarms and returns the earliest timer whose deadline is at or before `now`.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<Timer> {
        let (timer, _) = Timer::ALL
            .iter()
            .filter_map(|&t| self.slots[t.index()].map(|at| (t, at)))
            .filter(|&(_, at)| at <= now)
            .min_by_key(|&(_, at)| at)?;
        self.stop(timer);
        Some(timer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn next_is_the_minimum_and_pop_takes_expired_in_order() {
        let t0 = Instant::now();
        let mut table = TimerTable::default();
        assert_eq!(table.next(), None);
        table.set(Timer::Pause, t0 + Duration::from_secs(3));
        table.set(Timer::NoInput, t0 + Duration::from_secs(1));
        assert_eq!(table.next(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(table.pop_expired(t0), None);
        let later = t0 + Duration::from_secs(5);
        assert_eq!(table.pop_expired(later), Some(Timer::NoInput));
        assert_eq!(table.pop_expired(later), Some(Timer::Pause));
        assert_eq!(table.pop_expired(later), None);
        table.set(Timer::HttpDeadline, later);
        table.clear();
        assert_eq!(table.next(), None);
    }
}
