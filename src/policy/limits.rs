//! Admission limits: how many calls in all (`max_calls`), how many per source
//! (`sip.max_calls_per_source`) and how many out-of-dialog requests per second a source may
//! send (`sip.rate_invite`, `sip.rate_register`, `sip.rate_options`, like Kamailio's pike).
//!
//! The per-source rules apply to *untrusted* sources only: a registrar, an outbound proxy or a
//! source `sip.allow` lists carries every call of a PBX and is limited by `max_calls` alone.
//! A source over its rate gets no answer (a flood costs us a parse, not a response or any
//! state); a new call beyond `max_calls` or the source's share gets `503` with `Retry-After`
//! (the endpoint answers). The per-source tables are bounded ([`RateTable`], and at most one
//! entry per live call for the call counts).
//!
//! Pure: time is passed in; the SIP endpoint consults [`LimitState`] before it keeps any state
//! for a request (`sip::endpoint_limits`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

use super::rate::{Rate, RateTable, Verdict};

/// Default `sip.max_calls_per_source`.
pub const DEFAULT_CALLS_PER_SOURCE: u32 = 20;
/// Default `sip.rate_invite` (per second, burst twice that).
pub const DEFAULT_RATE_INVITE: f64 = 5.0;
/// Default `sip.rate_register`.
pub const DEFAULT_RATE_REGISTER: f64 = 5.0;
/// Default `sip.rate_options` (also every other out-of-dialog method: MESSAGE, SUBSCRIBE…).
pub const DEFAULT_RATE_OPTIONS: f64 = 10.0;
/// Sources tracked by the rate table at most.
pub const RATE_TABLE_CAPACITY: usize = 65_536;
/// `Retry-After` (seconds) on a 503 for a limit.
pub const RETRY_AFTER_SECS: u32 = 5;

/// The configured limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Calls at once in all; `None` = no limit.
    pub max_calls: Option<usize>,
    /// Calls at once from one untrusted source IP; `None` = no limit.
    pub max_calls_per_source: Option<u32>,
    /// Out-of-dialog INVITEs per second from one untrusted source.
    pub invite: Rate,
    /// REGISTERs per second (we are not a registrar: they get 405, but a flood is a flood).
    pub register: Rate,
    /// OPTIONS and every other out-of-dialog request per second.
    pub options: Rate,
}

impl Limits {
    /// No limit at all (the endpoint's default, for tests and embedding).
    pub const OFF: Limits = Limits {
        max_calls: None,
        max_calls_per_source: None,
        invite: Rate::UNLIMITED,
        register: Rate::UNLIMITED,
        options: Rate::UNLIMITED,
    };
}

impl Default for Limits {
    /// The defaults of `phonetree run` (without `max_calls`, which depends on the RTP ports).
    fn default() -> Self {
        Limits {
            max_calls: None,
            max_calls_per_source: Some(DEFAULT_CALLS_PER_SOURCE),
            invite: Rate::per_second(DEFAULT_RATE_INVITE),
            register: Rate::per_second(DEFAULT_RATE_REGISTER),
            options: Rate::per_second(DEFAULT_RATE_OPTIONS),
        }
    }
}

/// Which rate an out-of-dialog request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    Invite,
    Register,
    Other,
}

/// Why a new call is refused (503).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallRefusal {
    /// `max_calls` calls are up.
    MaxCalls,
    /// This source has `max_calls_per_source` calls up.
    SourceCalls,
}

/// The limits and what they count.
#[derive(Debug, Clone)]
pub struct LimitState {
    limits: Limits,
    invite: RateTable<IpAddr>,
    register: RateTable<IpAddr>,
    other: RateTable<IpAddr>,
    /// Live calls per untrusted source (an entry exists only while it has calls).
    per_source: HashMap<IpAddr, u32>,
}

impl Default for LimitState {
    fn default() -> Self {
        LimitState::new(Limits::OFF)
    }
}

impl LimitState {
    pub fn new(limits: Limits) -> LimitState {
        LimitState {
            limits,
            invite: RateTable::new(limits.invite, RATE_TABLE_CAPACITY),
            register: RateTable::new(limits.register, RATE_TABLE_CAPACITY),
            other: RateTable::new(limits.options, RATE_TABLE_CAPACITY),
            per_source: HashMap::new(),
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// One out-of-dialog request of `class` from an untrusted `source`.
    pub fn rate(&mut self, source: IpAddr, class: Class, now: Instant) -> Verdict {
        let table = match class {
            Class::Invite => &mut self.invite,
            Class::Register => &mut self.register,
            Class::Other => &mut self.other,
        };
        table.check(&source, now)
    }

    /// Whether a new call may start with `active` calls up; `source` is `None` for a trusted
    /// source (only `max_calls` applies).
    pub fn admit_call(&self, source: Option<IpAddr>, active: usize) -> Result<(), CallRefusal> {
        if self.limits.max_calls.is_some_and(|m| active >= m) {
            return Err(CallRefusal::MaxCalls);
        }
        if let (Some(ip), Some(max)) = (source, self.limits.max_calls_per_source) {
            if self.per_source.get(&ip).copied().unwrap_or(0) >= max {
                return Err(CallRefusal::SourceCalls);
            }
        }
        Ok(())
    }

    /// Whether `max_calls` calls are up (OPTIONS then answers 503, so a dispatcher moves on).
    pub fn at_max_calls(&self, active: usize) -> bool {
        self.limits.max_calls.is_some_and(|m| active >= m)
    }

    /// A call from an untrusted source started.
    pub fn call_started(&mut self, source: IpAddr) {
        *self.per_source.entry(source).or_insert(0) += 1;
    }

    /// A call from an untrusted source ended.
    pub fn call_ended(&mut self, source: IpAddr) {
        if let Some(n) = self.per_source.get_mut(&source) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_source.remove(&source);
            }
        }
    }

    /// Live calls counted for `source`.
    pub fn calls_from(&self, source: IpAddr) -> u32 {
        self.per_source.get(&source).copied().unwrap_or(0)
    }

    /// Sources with calls up now (bounded by the live calls).
    pub fn sources_with_calls(&self) -> usize {
        self.per_source.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn per_source_call_counts_and_the_global_cap() {
        let mut s = LimitState::new(Limits {
            max_calls: Some(3),
            max_calls_per_source: Some(2),
            ..Limits::OFF
        });
        let a = ip("192.0.2.1");
        assert_eq!(s.admit_call(Some(a), 0), Ok(()));
        s.call_started(a);
        s.call_started(a);
        assert_eq!(s.admit_call(Some(a), 2), Err(CallRefusal::SourceCalls));
        assert_eq!(s.admit_call(Some(ip("192.0.2.2")), 2), Ok(()));
        assert_eq!(
            s.admit_call(None, 2),
            Ok(()),
            "a trusted source has no share"
        );
        assert_eq!(s.admit_call(None, 3), Err(CallRefusal::MaxCalls));
        assert!(s.at_max_calls(3));
        s.call_ended(a);
        assert_eq!(s.admit_call(Some(a), 1), Ok(()));
        s.call_ended(a);
        s.call_ended(a); // one too many: no underflow
        assert_eq!(s.sources_with_calls(), 0);
    }

    #[test]
    fn rates_are_per_class_and_per_source() {
        let t0 = Instant::now();
        let mut s = LimitState::new(Limits {
            invite: Rate::per_second(2.0),
            options: Rate::per_second(1.0),
            ..Limits::OFF
        });
        let a = ip("192.0.2.1");
        let ok = |v: Verdict| v.allowed();
        let invites = (0..10).filter(|_| ok(s.rate(a, Class::Invite, t0))).count();
        assert_eq!(invites, 4);
        let options = (0..10).filter(|_| ok(s.rate(a, Class::Other, t0))).count();
        assert_eq!(options, 2, "OPTIONS has its own bucket");
        let registers = (0..10)
            .filter(|_| ok(s.rate(a, Class::Register, t0)))
            .count();
        assert_eq!(registers, 10, "REGISTER unlimited here");
        assert!(ok(s.rate(ip("192.0.2.9"), Class::Invite, t0)));
        let later = t0 + Duration::from_secs(1);
        assert!(ok(s.rate(a, Class::Invite, later)));
    }

    #[test]
    fn off_limits_nothing() {
        let t0 = Instant::now();
        let mut s = LimitState::default();
        for _ in 0..1000 {
            assert!(s.rate(ip("192.0.2.1"), Class::Invite, t0).allowed());
        }
        assert_eq!(s.admit_call(Some(ip("192.0.2.1")), 1_000_000), Ok(()));
    }
}
