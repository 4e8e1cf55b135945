//! Admission of new calls by source address (`sip.allow`, see [`crate::policy::inbound`]) and
//! the endpoint's counts of what it refused. An `impl Endpoint` block beside the router, which
//! calls [`Endpoint::refuse`] for every out-of-dialog INVITE before keeping any state for it.

use std::net::SocketAddr;

use super::{build, Endpoint, Inbound, Peer, Transmit};
use crate::policy::counters::{self, Counters};
use crate::policy::inbound::{Admission, Reject, SharedInbound};

/// What the endpoint refused (also added to the process-wide [`counters`]).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct EndpointStats {
    /// Out-of-dialog INVITEs refused by `sip.allow` with 403.
    pub refused_403: u64,
    /// The same, dropped silently (`sip.reject: silent`).
    pub refused_silent: u64,
    /// Messages over [`super::message::MAX_MESSAGE_BYTES`].
    pub oversize: u64,
    /// Out-of-dialog requests over their source's rate (dropped).
    pub rate_limited: u64,
    /// New calls answered 503 because `max_calls` calls were up.
    pub max_calls_503: u64,
    /// New calls answered 503 because their source had `max_calls_per_source` calls up.
    pub source_calls_503: u64,
    /// New calls answered 503 while the inbox was overloaded.
    pub overload_503: u64,
    /// Requests answered 503 because the transaction table was full.
    pub table_full: u64,
}

impl Endpoint {
    /// Admits new calls by source address (`sip.allow`); without it everyone may call.
    pub fn set_inbound_policy(&mut self, policy: SharedInbound) {
        self.inbound = Some(policy);
    }

    /// What was refused so far.
    pub fn stats(&self) -> EndpointStats {
        self.stats
    }

    /// `sip.allow`: whether a new call from `source` is refused (then answered 403 statelessly,
    /// keeping no state for it, or not at all).
    pub(super) fn refuse(&mut self, inb: &Inbound, peer: Peer, source: SocketAddr) -> bool {
        let Some(policy) = &self.inbound else {
            return false;
        };
        match policy.admit(source.ip()) {
            Admission::Allowed { .. } => false,
            Admission::Refused(Reject::Silent) => {
                self.stats.refused_silent += 1;
                Counters::bump(&counters::global().sip_refused_silent);
                tracing::debug!(%source, "INVITE from a source sip.allow does not list: dropped");
                true
            }
            Admission::Refused(Reject::Forbidden) => {
                self.stats.refused_403 += 1;
                Counters::bump(&counters::global().sip_refused_403);
                tracing::debug!(%source, "INVITE from a source sip.allow does not list: 403");
                let msg = build::response(inb, 403, Some(&self.ids.tag()));
                self.transmits.push_back(Transmit {
                    dest: peer.dest,
                    transport: peer.transport,
                    bytes: msg.to_bytes(),
                });
                true
            }
        }
    }
}
