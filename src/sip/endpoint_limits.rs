//! Load limits of the endpoint (docs/security.md, "Limits"): per-source request rates, the
//! call limits (`max_calls`, `sip.max_calls_per_source`), overload shedding and the bound on
//! the server-transaction table. An `impl Endpoint` block beside the router: `on_request`
//! calls [`Endpoint::shed`] for every out-of-dialog request before it keeps any state, and
//! [`Endpoint::refuse_call`] before it creates a call.
//!
//! Refusals are stateless (no transaction is kept for them): a request over its source's rate
//! is dropped without an answer; a new call beyond a call limit, or while the inbox is
//! overloaded, gets `503 Service Unavailable` with `Retry-After`. Every refusal is counted on
//! the endpoint ([`EndpointStats`](super::EndpointStats)) and in [`counters`]; the log gets
//! one line per source per few seconds, not one per message (`policy::rate` again).

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use rsipstack::sip::Method;

use super::{build, Endpoint, Inbound, Peer, Transmit};
use crate::policy::counters::{self, Counters};
use crate::policy::inbound::Admission;
use crate::policy::limits::{CallRefusal, Class, LimitState, Limits, RETRY_AFTER_SECS};

/// `Retry-After` of the 503s a draining endpoint answers (new INVITEs, OPTIONS): a drain ends in
/// a restart, so a minute is the right order of magnitude.
pub const DRAIN_RETRY_AFTER_SECS: u32 = 60;
use crate::policy::rate::{Rate, RateTable, Verdict};

/// Server transactions kept at most; beyond it requests get a stateless 503 (an INFO storm
/// from a live call, or a flood of in-dialog requests, cannot grow memory without end).
pub const MAX_SERVER_TRANSACTIONS: usize = 32_768;

/// Endpoint state for the limits (one field of [`Endpoint`]).
#[derive(Debug)]
pub(super) struct LimitsState {
    pub(super) state: LimitState,
    /// The inbox is behind (set by the runtime): new calls get 503.
    pub(super) overloaded: bool,
    /// Log lines about limits: a few per source and kind, then a count.
    log: RateTable<(IpAddr, &'static str)>,
    /// [`MAX_SERVER_TRANSACTIONS`] (smaller in tests).
    max_server_tx: usize,
}

impl Default for LimitsState {
    fn default() -> Self {
        LimitsState {
            state: LimitState::default(),
            overloaded: false,
            log: RateTable::new(
                Rate {
                    per_second: 0.2,
                    burst: 3.0,
                },
                4096,
            ),
            max_server_tx: MAX_SERVER_TRANSACTIONS,
        }
    }
}

impl Endpoint {
    /// Sets the admission limits (`max_calls`, per-source calls and rates).
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits.state = LimitState::new(limits);
    }

    /// The runtime's inbox is behind (`true`) or has caught up: while overloaded, new calls
    /// are answered 503 at once, so the backlog drains and calls already up keep working.
    pub fn set_overloaded(&mut self, overloaded: bool) {
        self.limits.overloaded = overloaded;
    }

    /// Server transactions held now (bounded by [`MAX_SERVER_TRANSACTIONS`]).
    pub fn server_transactions(&self) -> usize {
        self.server.len()
    }

    /// A smaller transaction bound (tests).
    #[cfg(test)]
    pub(super) fn set_max_server_transactions(&mut self, max: usize) {
        self.limits.max_server_tx = max;
    }

    /// Whether an out-of-dialog request is dropped or answered here without state: over the
    /// source's rate (dropped), or refused by `sip.allow` (403 or silence, for INVITEs).
    pub(super) fn shed(
        &mut self,
        inb: &Inbound,
        method: &Method,
        peer: Peer,
        source: SocketAddr,
        now: Instant,
    ) -> bool {
        if *method == Method::Invite && self.refuse(inb, peer, source) {
            return true;
        }
        if self.is_trusted(source.ip()) {
            return false;
        }
        let class = match method {
            Method::Invite => Class::Invite,
            Method::Register => Class::Register,
            _ => Class::Other,
        };
        match self.limits.state.rate(source.ip(), class, now) {
            Verdict::Allowed { .. } => false,
            Verdict::Limited | Verdict::TableFull => {
                self.stats.rate_limited += 1;
                Counters::bump(&counters::global().sip_rate_limited);
                self.log_limited(source.ip(), "rate", now, || {
                    format!("{method} over the per-source rate: dropped")
                });
                true
            }
        }
    }

    /// Whether an unparsable request from `source` goes unanswered because the source is over
    /// its rate for "other" requests (a fuzzer's stream of junk gets a few 400s, not one per
    /// message).
    pub(super) fn garbage_over_rate(&mut self, source: SocketAddr, now: Instant) -> bool {
        if self.is_trusted(source.ip()) {
            return false;
        }
        if self
            .limits
            .state
            .rate(source.ip(), Class::Other, now)
            .allowed()
        {
            return false;
        }
        self.stats.rate_limited += 1;
        Counters::bump(&counters::global().sip_rate_limited);
        true
    }

    /// Whether a new call from `source` is refused for a limit or overload (then answered 503
    /// with `Retry-After`, statelessly).
    pub(super) fn refuse_call(
        &mut self,
        inb: &Inbound,
        peer: Peer,
        source: SocketAddr,
        now: Instant,
    ) -> bool {
        let ip = source.ip();
        let why = if self.limits.overloaded {
            Some("overloaded")
        } else {
            let untrusted = (!self.is_trusted(ip)).then_some(ip);
            match self.limits.state.admit_call(untrusted, self.active_calls()) {
                Ok(()) => None,
                Err(CallRefusal::MaxCalls) => Some("max_calls"),
                Err(CallRefusal::SourceCalls) => Some("max_calls_per_source"),
            }
        };
        let Some(why) = why else { return false };
        let g = counters::global();
        match why {
            "overloaded" => {
                self.stats.overload_503 += 1;
                Counters::bump(&g.sip_overload_503);
            }
            "max_calls" => {
                self.stats.max_calls_503 += 1;
                Counters::bump(&g.sip_max_calls_503);
            }
            _ => {
                self.stats.source_calls_503 += 1;
                Counters::bump(&g.sip_source_calls_503);
            }
        }
        self.log_limited(ip, why, now, || format!("new call refused (503): {why}"));
        let retry = RETRY_AFTER_SECS.to_string();
        self.reply(inb, peer, 503, &[("Retry-After", retry.as_str())]);
        true
    }

    /// What an out-of-dialog OPTIONS answers: `None` (200, calls welcome) or the `Retry-After`
    /// seconds of a 503 — [`DRAIN_RETRY_AFTER_SECS`] while draining, [`RETRY_AFTER_SECS`] at
    /// `max_calls`. A load balancer's health probe (Kamailio's dispatcher) reads this: the runtime
    /// tells the endpoint about a drain through `set_accepting`, never through a global.
    pub(super) fn busy_for_options(&self) -> Option<u32> {
        if !self.accepting {
            Some(DRAIN_RETRY_AFTER_SECS)
        } else if self.limits.state.at_max_calls(self.active_calls()) {
            Some(RETRY_AFTER_SECS)
        } else {
            None
        }
    }

    /// Whether the server-transaction table is full (the request is then answered 503
    /// statelessly, counted).
    pub(super) fn server_table_full(&mut self, inb: &Inbound, peer: Peer, now: Instant) -> bool {
        if self.server.len() < self.limits.max_server_tx {
            return false;
        }
        self.stats.table_full += 1;
        Counters::bump(&counters::global().sip_table_full);
        self.log_limited(peer.dest.ip(), "table", now, || {
            "server transaction table full: 503".to_string()
        });
        let retry = RETRY_AFTER_SECS.to_string();
        self.reply(inb, peer, 503, &[("Retry-After", retry.as_str())]);
        true
    }

    /// A call from `source` was created.
    pub(super) fn count_call(&mut self, call: super::CallHandle, source: SocketAddr) {
        let ip = source.ip();
        if !self.is_trusted(ip) {
            self.limits.state.call_started(ip);
            self.call_sources.insert(call, ip);
        }
    }

    /// A call ended (its per-source count goes down).
    pub(super) fn uncount_call(&mut self, call: super::CallHandle) {
        if let Some(ip) = self.call_sources.remove(&call) {
            self.limits.state.call_ended(ip);
        }
    }

    /// A response sent without keeping a transaction (refusals, 481, 405, OPTIONS…), with a
    /// To tag of its own.
    pub(super) fn reply(
        &mut self,
        inb: &Inbound,
        peer: Peer,
        status: u16,
        headers: &[(&str, &str)],
    ) {
        let mut msg = build::response(inb, status, Some(&self.ids.tag()));
        for (n, v) in headers {
            msg = msg.header(n, *v);
        }
        self.send_reply(peer, msg);
    }

    pub(super) fn send_reply(&mut self, peer: Peer, msg: build::OutMessage) {
        self.transmits.push_back(Transmit {
            dest: peer.dest,
            transport: peer.transport,
            bytes: msg.to_bytes(),
        });
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.inbound
            .as_ref()
            .is_some_and(|p| matches!(p.admit(ip), Admission::Allowed { trusted: true }))
    }

    /// Logs a limit line for `ip` unless this source and kind logged lately (then counts it;
    /// the next line says how many were left out).
    fn log_limited(
        &mut self,
        ip: IpAddr,
        kind: &'static str,
        now: Instant,
        text: impl FnOnce() -> String,
    ) {
        if let Verdict::Allowed { suppressed } = self.limits.log.check(&(ip, kind), now) {
            tracing::info!(source = %ip, suppressed, "{}", text());
        }
    }
}

/// How far behind the inbox may be before new calls are shed (the runtime's rule, shared so
/// that its tests and docs agree): more than this many messages waiting.
pub const OVERLOAD_BACKLOG: usize = 512;
/// ...and it counts as caught up again below this many.
pub const OVERLOAD_CLEAR: usize = 64;
