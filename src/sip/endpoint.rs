//! The SIP endpoint: the one object the runtime pumps.
//!
//! Owns routing: parse each datagram (a broken request is answered 400, or 501 for an unknown
//! method, when its Via is readable; anything else is dropped with a log line), stamp
//! `received`/`rport` on the top Via, match server transactions (branch + sent-by + method),
//! client transactions (branch + CSeq method), dialogs (Call-ID + tags), create calls for
//! out-of-dialog INVITEs, answer OPTIONS, 481 for requests matching nothing, 405 for methods we
//! do not take, 503 for new calls in drain mode. Holds all transactions, calls and
//! registrations, and turns their [`TuOutput`]s into datagrams and events.
//!
//! Runtime contract (sans-IO): feed `handle_datagram(bytes, source, transport, now)`, app
//! commands and `handle_timeout(now)` when `poll_timeout()` is reached; drain `poll_transmit()`
//! and `poll_event()` after each input. Never reads a clock, never does I/O.
//!
//! Cost per message does not grow with load (issue 10, finding 2): no path a datagram, a
//! command or a timer takes scans the transactions, calls, dialogs or registrations. Checked,
//! with what each costs (n = entries of the table it touches):
//! - timers: `poll_timeout` is a peek at the heaps of [`timers`], `handle_timeout` pops only
//!   what is due, O(log n) each; every owner is re-armed after each input it gets.
//! - server transactions: [`TxKey`] → entry, `HashMap` (retransmissions, ACK, CANCEL, responses
//!   we send), O(1); the table bound (`server_table_full`) is a `len()`.
//! - client transactions: branch → entry, `HashMap`, O(1); outbound INVITEs likewise, and a
//!   dial's INVITE branches are listed per dial (its sweep never scans all INVITEs).
//! - dialogs: (Call-ID, our tag) → call and merged INVITEs (Call-ID, their tag) → call,
//!   `HashMap`, O(1); calls and registrations in `BTreeMap`s, O(log n).
//! - admission: `active_calls` is two counters (calls held, dials not yet settled — no scan);
//!   `sip.allow` checks the configured networks (a config-sized list, not load); `max_calls`
//!   and per-source call counts are a `HashMap` by IP, O(1).
//! - rates: per-source token buckets in a `HashMap` (`policy::rate`), O(1); the sweep of quiet
//!   sources runs at most once per sweep interval, also when the table is full (amortised
//!   O(1)); the limit log lines likewise.
//! - `apply` (a transaction user's outputs): each output is one O(1)/O(log n) table operation;
//!   an ended call leaves the call, dialog, merge and per-source tables by key.
//! - the runtime side (`engine::endpoint_loop`): per-call channels in a `HashMap`, the inbox
//!   length is O(1); `poll_timeout` is called twice per loop turn, now a peek.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use rsipstack::sip::Method;

use super::build;
use super::call::{options_response, Call, CallError, CallState};
use super::event::{CallHandle, RegId};
use super::ids::IdGen;
use super::message::{self, Inbound, TxKey};
use super::register::Registration;
use super::session_timer;
use super::timer::TimerConfig;
use super::transaction::{
    ClientEvent, ClientTx, InviteServerEvent, InviteServerTx, NonInviteServerTx, Peer,
};
use super::tu::{Ctx, Purpose, TuOutput};
use super::{Transmit, Transport};
use crate::policy::counters::{self, Counters};
use crate::policy::inbound::SharedInbound;

pub use super::event::Event;
pub use admission::EndpointStats;
pub use timers::TimerWork;

#[path = "endpoint_accounts.rs"]
mod accounts;
#[path = "endpoint_admission.rs"]
mod admission;
#[path = "endpoint_limits.rs"]
pub mod limits;
#[path = "endpoint_nat.rs"]
mod nat;
#[path = "endpoint_routing.rs"]
mod routing;
#[path = "endpoint_timers.rs"]
mod timers;
#[path = "endpoint_uac.rs"]
mod uac;

/// Endpoint settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointConfig {
    /// The address we advertise in Via and Contact (the runtime's bound or public address).
    pub local_addr: SocketAddr,
    /// The port advertised for TLS (Via sent-by and Contact of TLS messages); `None`: no TLS.
    pub tls_port: Option<u16>,
    pub timers: TimerConfig,
    /// Seed for tags, branches, Call-IDs and cnonces (the runtime passes OS randomness).
    pub seed: u64,
}

impl EndpointConfig {
    pub fn new(local_addr: SocketAddr, seed: u64) -> EndpointConfig {
        EndpointConfig {
            local_addr,
            tls_port: None,
            timers: TimerConfig::default(),
            seed,
        }
    }
}

#[derive(Debug)]
enum ServerTx {
    Invite(InviteServerTx),
    NonInvite(NonInviteServerTx),
}

#[derive(Debug)]
struct ServerEntry {
    tx: ServerTx,
    call: Option<CallHandle>,
}

impl ServerEntry {
    fn deadline(&self) -> Option<Instant> {
        match &self.tx {
            ServerTx::Invite(t) => t.poll_timeout(),
            ServerTx::NonInvite(t) => t.poll_timeout(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    Call(CallHandle),
    Reg(RegId),
    Ping(u64),
    /// An outbound call before its answer (CANCEL, the BYE of an unwanted 2xx).
    Dial(CallHandle),
}

#[derive(Debug)]
struct ClientEntry {
    tx: ClientTx,
    owner: Owner,
    purpose: Purpose,
    method: Method,
}

/// The SIP endpoint.
#[derive(Debug)]
pub struct Endpoint {
    cfg: EndpointConfig,
    ids: IdGen,
    server: timers::TxTable<TxKey, ServerEntry>,
    /// Non-INVITE client transactions by branch.
    client: timers::TxTable<String, ClientEntry>,
    /// Every owner's next deadline.
    timers: timers::TimerHeap,
    calls: BTreeMap<CallHandle, Call>,
    /// (Call-ID, our tag) → call.
    dialogs: HashMap<(String, String), CallHandle>,
    /// (Call-ID, the caller's From tag) → call: finds a merged INVITE (482) without a scan.
    invites: HashMap<(String, String), CallHandle>,
    /// Untrusted calls' source IPs (the per-source call counts).
    call_sources: HashMap<CallHandle, std::net::IpAddr>,
    limits: limits::LimitsState,
    regs: BTreeMap<RegId, Registration>,
    next_call: u64,
    next_reg: u32,
    next_ping: u64,
    accepting: bool,
    /// Who may start calls (`sip.allow`); `None` = everyone.
    inbound: Option<SharedInbound>,
    stats: EndpointStats,
    uac: uac::Uac,
    nat: nat::NatState,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
}

impl Endpoint {
    pub fn new(cfg: EndpointConfig) -> Endpoint {
        Endpoint {
            ids: IdGen::new(cfg.seed),
            cfg,
            server: timers::TxTable::default(),
            client: timers::TxTable::default(),
            timers: timers::TimerHeap::default(),
            calls: BTreeMap::new(),
            dialogs: HashMap::new(),
            invites: HashMap::new(),
            call_sources: HashMap::new(),
            limits: limits::LimitsState::default(),
            regs: BTreeMap::new(),
            next_call: 1,
            next_reg: 1,
            next_ping: 1,
            accepting: true,
            inbound: None,
            stats: EndpointStats::default(),
            uac: uac::Uac::default(),
            nat: nat::NatState::default(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// Next event for the app.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Whether new calls are taken; `false` answers new INVITEs (and OPTIONS) with 503 while
    /// running calls continue (drain on shutdown).
    pub fn set_accepting(&mut self, accepting: bool) {
        self.accepting = accepting;
    }

    /// Calls not yet ended (outbound ones still ringing included).
    pub fn active_calls(&self) -> usize {
        self.calls.len() + self.uac.dialling()
    }

    /// A live call (its dialog identifiers, for logs), if it exists.
    pub fn call(&self, call: CallHandle) -> Option<&Call> {
        self.calls.get(&call)
    }

    /// The state of a call, if it exists.
    pub fn call_state(&self, call: CallHandle) -> Option<CallState> {
        self.calls.get(&call).map(Call::state)
    }

    /// One datagram (or one framed TCP message) from `source`.
    pub fn handle_datagram(
        &mut self,
        bytes: &[u8],
        source: SocketAddr,
        transport: Transport,
        now: Instant,
    ) {
        if transport == Transport::Udp && super::stun::is_stun(bytes) {
            return self.on_stun(bytes, source, now);
        }
        match message::parse(bytes) {
            Ok(mut inbound) => {
                if inbound.request().is_some() {
                    inbound.core.stamp_top_via(source);
                    self.on_request(inbound, source, transport, now);
                } else {
                    self.on_response(inbound, source, now);
                }
            }
            Err((err, salvage)) => {
                if matches!(err, message::ParseError::TooLarge { .. }) {
                    self.stats.oversize += 1;
                    Counters::bump(&counters::global().sip_oversize);
                }
                tracing::debug!(%source, %err, "dropping unusable SIP message");
                let Some(mut s) = salvage else { return };
                if s.method.eq_ignore_ascii_case("ACK") {
                    return; // never answer an ACK
                }
                if self.garbage_over_rate(source, now) {
                    return; // a source sending junk gets its 400s at its OPTIONS rate
                }
                let code = match err {
                    message::ParseError::UnknownMethod(_) => 501,
                    _ => 400,
                };
                let Some(top) = s.vias.first_mut() else {
                    return;
                };
                top.stamp(source);
                let dest = top.response_dest(source, transport);
                let msg = build::salvage_response(&s, code, &err.to_string());
                self.transmits.push_back(Transmit {
                    dest,
                    transport,
                    bytes: msg.to_bytes(),
                });
            }
        }
    }

    // ---- app commands -------------------------------------------------------------------

    /// Sends 180 Ringing.
    pub fn ringing(&mut self, call: CallHandle, now: Instant) -> Result<(), CallError> {
        self.with_call(call, now, |c, ctx| c.ringing(ctx))?
    }

    /// Answers with 200 OK and the media layer's SDP answer.
    pub fn answer(&mut self, call: CallHandle, sdp: &str, now: Instant) -> Result<(), CallError> {
        self.with_call(call, now, |c, ctx| c.answer(sdp, ctx))?
    }

    /// Rejects a call not yet answered (486, 488, 503, 404…).
    pub fn reject(&mut self, call: CallHandle, status: u16, now: Instant) -> Result<(), CallError> {
        self.with_call(call, now, |c, ctx| c.reject(status, ctx))?
    }

    /// Hangs up (BYE, or 480 before answering; CANCEL for an outbound call not yet answered).
    pub fn hangup(&mut self, call: CallHandle, now: Instant) -> Result<(), CallError> {
        if self.is_dialling(call) {
            return self.cancel_dial(call, now);
        }
        self.with_call(call, now, |c, ctx| c.hangup(ctx))?
    }

    /// Answers a pending re-INVITE ([`Event::Reoffer`]).
    pub fn answer_reoffer(
        &mut self,
        call: CallHandle,
        sdp: &str,
        now: Instant,
    ) -> Result<(), CallError> {
        self.with_call(call, now, |c, ctx| c.answer_reoffer(sdp, ctx))?
    }

    /// Refuses a pending re-INVITE (e.g. 488).
    pub fn reject_reoffer(
        &mut self,
        call: CallHandle,
        status: u16,
        now: Instant,
    ) -> Result<(), CallError> {
        self.with_call(call, now, |c, ctx| c.reject_reoffer(status, ctx))?
    }

    /// Blind transfer to `target` (a SIP URI) with REFER; progress comes as [`Event::Transfer`].
    pub fn transfer(
        &mut self,
        call: CallHandle,
        target: &str,
        now: Instant,
    ) -> Result<(), CallError> {
        self.with_call(call, now, |c, ctx| c.transfer(target, ctx))?
    }

    // ---- routing ------------------------------------------------------------------------
    fn with_call<R>(
        &mut self,
        id: CallHandle,
        now: Instant,
        f: impl FnOnce(&mut Call, &mut Ctx<'_>) -> R,
    ) -> Result<R, CallError> {
        let call = self.calls.get_mut(&id).ok_or(CallError::UnknownCall(id))?;
        let mut out = Vec::new();
        let mut ctx = Ctx {
            now,
            ids: &mut self.ids,
            out: &mut out,
            local: self.cfg.local_addr,
            tls_port: self.cfg.tls_port,
        };
        let r = f(call, &mut ctx);
        self.apply(Owner::Call(id), out, now);
        self.rearm_call(id);
        Ok(r)
    }

    fn with_reg(
        &mut self,
        id: RegId,
        now: Instant,
        f: impl FnOnce(&mut Registration, &mut Ctx<'_>),
    ) {
        let Some(reg) = self.regs.get_mut(&id) else {
            return;
        };
        let mut out = Vec::new();
        let mut ctx = Ctx {
            now,
            ids: &mut self.ids,
            out: &mut out,
            local: self.cfg.local_addr,
            tls_port: self.cfg.tls_port,
        };
        let before = reg.public_addr();
        f(reg, &mut ctx);
        let learned = reg.public_addr().filter(|a| Some(*a) != before);
        self.apply(Owner::Reg(id), out, now);
        self.rearm_reg(id);
        self.adopt_public(learned);
    }

    /// Executes what a TU asked for.
    fn apply(&mut self, owner: Owner, out: Vec<TuOutput>, now: Instant) {
        for o in out {
            match o {
                TuOutput::Respond { key, status, msg } => self.respond(&key, status, msg, now),
                TuOutput::Request {
                    msg,
                    branch,
                    peer,
                    purpose,
                } => {
                    let method = msg
                        .start_line
                        .split(' ')
                        .next()
                        .and_then(|m| m.parse().ok())
                        .unwrap_or(Method::Options);
                    let tx = ClientTx::new(
                        peer,
                        self.cfg.timers,
                        msg.to_bytes(),
                        now,
                        &mut self.transmits,
                    );
                    self.insert_client(
                        branch,
                        ClientEntry {
                            tx,
                            owner,
                            purpose,
                            method,
                        },
                    );
                }
                TuOutput::Invite { msg, branch, peer } => {
                    if let Owner::Dial(call) = owner {
                        self.start_invite(call, msg, branch, peer, now);
                    }
                }
                TuOutput::Transmit { msg, peer } => self.transmit(&msg, peer),
                TuOutput::Raw { bytes, peer } => self.transmit_raw(bytes, peer),
                TuOutput::Acked { key } => {
                    if let Some(ServerEntry {
                        tx: ServerTx::Invite(t),
                        ..
                    }) = self.server.get_mut(&key)
                    {
                        t.on_ack(now);
                        self.rearm_server(&key);
                    }
                }
                TuOutput::Event(e) => {
                    if let Event::Ended { call, .. } = &e {
                        if let Some(c) = self.calls.remove(call) {
                            let d = c.dialog();
                            self.dialogs
                                .remove(&(d.call_id.clone(), d.local_tag.clone()));
                            if let Some(remote) = &d.remote_tag {
                                self.invites.remove(&(d.call_id.clone(), remote.clone()));
                            }
                        }
                        self.rearm_call(*call);
                        self.uncount_call(*call);
                    }
                    self.events.push_back(e);
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "endpoint_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "endpoint_refer_tests.rs"]
mod refer_tests;

#[cfg(test)]
#[path = "endpoint_more_tests.rs"]
mod more_tests;

#[cfg(test)]
#[path = "session_timer_tests.rs"]
mod session_timer_tests;

#[cfg(test)]
#[path = "endpoint_policy_tests.rs"]
mod policy_tests;

#[cfg(test)]
#[path = "endpoint_limits_tests.rs"]
mod limits_tests;

#[cfg(test)]
#[path = "endpoint_uac_tests.rs"]
mod uac_tests;
