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

#[path = "endpoint_accounts.rs"]
mod accounts;
#[path = "endpoint_admission.rs"]
mod admission;
#[path = "endpoint_limits.rs"]
pub mod limits;
#[path = "endpoint_uac.rs"]
mod uac;

/// Endpoint settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointConfig {
    /// The address we advertise in Via and Contact (the runtime's bound or public address).
    pub local_addr: SocketAddr,
    pub timers: TimerConfig,
    /// Seed for tags, branches, Call-IDs and cnonces (the runtime passes OS randomness).
    pub seed: u64,
}

impl EndpointConfig {
    pub fn new(local_addr: SocketAddr, seed: u64) -> EndpointConfig {
        EndpointConfig {
            local_addr,
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
    server: HashMap<TxKey, ServerEntry>,
    client: HashMap<String, ClientEntry>,
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
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
}

impl Endpoint {
    pub fn new(cfg: EndpointConfig) -> Endpoint {
        Endpoint {
            ids: IdGen::new(cfg.seed),
            cfg,
            server: HashMap::new(),
            client: HashMap::new(),
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

    /// When `handle_timeout` is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let s = self.server.values().filter_map(|e| match &e.tx {
            ServerTx::Invite(t) => t.poll_timeout(),
            ServerTx::NonInvite(t) => t.poll_timeout(),
        });
        let c = self.client.values().filter_map(|e| e.tx.poll_timeout());
        let r = self.regs.values().filter_map(Registration::poll_timeout);
        let calls = self.calls.values().filter_map(Call::poll_timeout);
        let uac = self.uac.poll_timeout();
        s.chain(c).chain(r).chain(calls).chain(uac).min()
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
        match message::parse(bytes) {
            Ok(mut inbound) => {
                if inbound.request().is_some() {
                    inbound.core.stamp_top_via(source);
                    self.on_request(inbound, source, transport, now);
                } else {
                    self.on_response(inbound, now);
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

    /// Fires every timer due at `now`, in deadline order (then by branch), so that runs with
    /// the same inputs emit the same datagrams in the same order.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut due: Vec<(Instant, TxKey)> = self
            .server
            .iter()
            .filter_map(|(k, e)| {
                let at = match &e.tx {
                    ServerTx::Invite(t) => t.poll_timeout(),
                    ServerTx::NonInvite(t) => t.poll_timeout(),
                }?;
                (at <= now).then(|| (at, k.clone()))
            })
            .collect();
        due.sort_by(|a, b| (a.0, &a.1.branch).cmp(&(b.0, &b.1.branch)));
        let mut ack_timeouts = Vec::new();
        for (_, key) in due {
            let Some(e) = self.server.get_mut(&key) else {
                continue;
            };
            let terminated = match &mut e.tx {
                ServerTx::Invite(t) => {
                    if t.handle_timeout(now, &mut self.transmits)
                        == Some(InviteServerEvent::AckTimeout)
                    {
                        if let Some(call) = e.call {
                            ack_timeouts.push((call, key.clone()));
                        }
                    }
                    t.is_terminated()
                }
                ServerTx::NonInvite(t) => {
                    t.handle_timeout(now);
                    t.is_terminated()
                }
            };
            if terminated {
                self.server.remove(&key);
            }
        }
        let mut due: Vec<(Instant, String)> = self
            .client
            .iter()
            .filter_map(|(b, e)| {
                let at = e.tx.poll_timeout()?;
                (at <= now).then(|| (at, b.clone()))
            })
            .collect();
        due.sort();
        let mut client_timeouts = Vec::new();
        for (_, branch) in due {
            let Some(e) = self.client.get_mut(&branch) else {
                continue;
            };
            if e.tx.handle_timeout(now, &mut self.transmits) == Some(ClientEvent::Timeout) {
                client_timeouts.push((e.owner, e.purpose));
            }
            if e.tx.is_terminated() {
                self.client.remove(&branch);
            }
        }
        for (call, key) in ack_timeouts {
            let _ = self.with_call(call, now, |c, ctx| c.on_ack_timeout(&key, ctx));
        }
        for (owner, purpose) in client_timeouts {
            match owner {
                Owner::Call(id) => {
                    let _ = self.with_call(id, now, |c, ctx| c.on_client_timeout(purpose, ctx));
                }
                Owner::Reg(id) => self.with_reg(id, now, |r, ctx| r.on_timeout(purpose, ctx)),
                Owner::Ping(ping) => self
                    .events
                    .push_back(Event::OptionsResult { ping, status: None }),
                Owner::Dial(id) => {
                    self.with_dial(id, now, |d, ctx| d.on_request_done(purpose, ctx))
                }
            }
        }
        self.uac_timeouts(now);
        let due: Vec<RegId> = self
            .regs
            .values()
            .filter(|r| r.poll_timeout().is_some_and(|at| at <= now))
            .map(Registration::id)
            .collect();
        for id in due {
            self.with_reg(id, now, |r, ctx| r.handle_timeout(ctx));
        }
        let due: Vec<CallHandle> = self
            .calls
            .values()
            .filter(|c| c.poll_timeout().is_some_and(|at| at <= now))
            .map(Call::id)
            .collect();
        for id in due {
            let _ = self.with_call(id, now, |c, ctx| c.on_timer(ctx));
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

    fn on_request(&mut self, inb: Inbound, source: SocketAddr, transport: Transport, now: Instant) {
        let Some(method) = inb.request().map(|r| r.method) else {
            return;
        };
        let peer = Peer {
            dest: inb.core.top_via().response_dest(source, transport),
            transport,
        };
        match method {
            Method::Ack => return self.on_ack(inb, now),
            Method::Cancel => return self.on_cancel(inb, peer, now),
            _ => {}
        }
        let key = inb.core.tx_key(method);
        if let Some(e) = self.server.get_mut(&key) {
            match &mut e.tx {
                ServerTx::Invite(t) => t.on_retransmit(&mut self.transmits),
                ServerTx::NonInvite(t) => t.on_retransmit(&mut self.transmits),
            }
            return;
        }
        // Out of any dialog: source rules (sip.allow, rates) before anything is kept.
        if inb.core.to.tag.is_none() && self.shed(&inb, &method, peer, source, now) {
            return;
        }
        // Every refusal below is stateless: only requests that reach a call keep a transaction.
        let unsupported: Vec<String> = inb
            .header_list("Require")
            .into_iter()
            .filter(|t| {
                !build::SUPPORTED_OPTION_TAGS
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(t))
            })
            .collect();
        if !unsupported.is_empty() {
            // RFC 3261 §8.2.2.3: we implement no extensions a request may require.
            let unsupported = unsupported.join(", ");
            return self.reply(&inb, peer, 420, &[("Unsupported", unsupported.as_str())]);
        }

        if let Some(to_tag) = inb.core.to.tag.clone() {
            let found = self
                .dialogs
                .get(&(inb.core.call_id.clone(), to_tag))
                .copied()
                .filter(|id| {
                    self.calls
                        .get(id)
                        .is_some_and(|c| c.dialog().matches(&inb.core))
                });
            match found {
                Some(_) if self.server_table_full(&inb, peer, now) => {}
                Some(id) => {
                    self.new_server_tx(&inb, method, key.clone(), peer, Some(id));
                    let _ = self.with_call(id, now, |c, ctx| c.on_request(&inb, key, ctx));
                }
                None => self.reply(&inb, peer, 481, &[]),
            }
            return;
        }
        match method {
            Method::Invite if !self.accepting => {
                let retry = limits::DRAIN_RETRY_AFTER_SECS.to_string();
                self.reply(&inb, peer, 503, &[("Retry-After", retry.as_str())]);
            }
            Method::Invite if self.is_merged(&inb) => {
                // RFC 3261 §8.2.2.2: the same INVITE arrived by another path (new branch).
                self.reply(&inb, peer, 482, &[]);
            }
            Method::Invite => {
                if let Some(min_se) = self.session_too_small(&inb) {
                    // RFC 4028 §6: 422 Session Interval Too Small.
                    let min_se = min_se.to_string();
                    return self.reply(&inb, peer, 422, &[("Min-SE", min_se.as_str())]);
                }
                if let Some(what) = super::dialog::unusable_uri(&inb) {
                    // We would send this dialog's BYE/re-INVITE to, from or as this URI.
                    let warning = format!("399 phonetree \"unusable {what} URI\"");
                    return self.reply(&inb, peer, 400, &[("Warning", warning.as_str())]);
                }
                if self.refuse_call(&inb, peer, source, now)
                    || self.server_table_full(&inb, peer, now)
                {
                    return;
                }
                let id = CallHandle(self.next_call);
                self.next_call += 1;
                self.new_server_tx(&inb, method, key.clone(), peer, Some(id));
                let call_peer = Peer {
                    dest: source,
                    transport,
                };
                let call_id = inb.core.call_id.clone();
                let mut out = Vec::new();
                let mut ctx = Ctx {
                    now,
                    ids: &mut self.ids,
                    out: &mut out,
                    local: self.cfg.local_addr,
                };
                let call = Call::new(id, inb, key, call_peer, &mut ctx);
                let d = call.dialog();
                self.dialogs
                    .insert((call_id.clone(), d.local_tag.clone()), id);
                if let Some(remote) = d.remote_tag.clone() {
                    self.invites.insert((call_id, remote), id);
                }
                self.calls.insert(id, call);
                self.count_call(id, source);
                self.apply(Owner::Call(id), out, now);
            }
            Method::Options => {
                // Answered statelessly: a scanner's OPTIONS leaves nothing behind.
                // 503 + Retry-After while draining or at `max_calls`: a dispatcher's probe
                // takes the node out of its set until the probe sees 200 again.
                let busy = self.busy_for_options();
                let status = if busy.is_some() { 503 } else { 200 };
                let mut msg =
                    options_response(build::response(&inb, status, Some(&self.ids.tag())));
                if let Some(secs) = busy {
                    msg = msg.header("Retry-After", secs.to_string());
                }
                self.send_reply(peer, msg);
            }
            Method::Bye | Method::Info | Method::Notify | Method::Update | Method::PRack => {
                self.reply(&inb, peer, 481, &[])
            }
            _ => self.reply(&inb, peer, 405, &[("Allow", build::ALLOW)]),
        }
    }

    /// A server transaction for a request that reached (or starts) `call`.
    fn new_server_tx(
        &mut self,
        inb: &Inbound,
        method: Method,
        key: TxKey,
        peer: Peer,
        call: Option<CallHandle>,
    ) {
        let tx = if method == Method::Invite {
            let trying = build::response(inb, 100, None).to_bytes();
            ServerTx::Invite(InviteServerTx::new(
                peer,
                self.cfg.timers,
                trying,
                &mut self.transmits,
            ))
        } else {
            ServerTx::NonInvite(NonInviteServerTx::new(peer, self.cfg.timers))
        };
        self.server.insert(key, ServerEntry { tx, call });
    }

    /// The `Min-SE` to answer 422 with, when an INVITE's session interval is below ours and
    /// the UAC can retry (RFC 4028 §9).
    fn session_too_small(&self, inb: &Inbound) -> Option<u32> {
        match session_timer::plan(&session_timer::Asked::of(inb), true) {
            session_timer::Plan::TooSmall { min_se } => Some(min_se),
            _ => None,
        }
    }

    /// Whether an out-of-dialog INVITE duplicates a live call's (same Call-ID, From tag, CSeq).
    fn is_merged(&self, inb: &Inbound) -> bool {
        let Some(from_tag) = inb.core.from.tag.clone() else {
            return false;
        };
        self.invites
            .get(&(inb.core.call_id.clone(), from_tag))
            .and_then(|id| self.calls.get(id))
            .is_some_and(|c| c.invite_cseq() == inb.core.cseq.seq)
    }

    fn on_ack(&mut self, inb: Inbound, now: Instant) {
        let key = inb.core.tx_key(Method::Invite);
        if let Some(ServerEntry {
            tx: ServerTx::Invite(t),
            ..
        }) = self.server.get_mut(&key)
        {
            t.on_ack(now); // ACK for a 3xx-6xx: same transaction
            return;
        }
        let Some(tag) = inb.core.to.tag.clone() else {
            return;
        };
        if let Some(&id) = self.dialogs.get(&(inb.core.call_id.clone(), tag)) {
            let _ = self.with_call(id, now, |c, ctx| c.on_ack(&inb, ctx));
        }
    }

    fn on_cancel(&mut self, inb: Inbound, peer: Peer, now: Instant) {
        let key = inb.core.tx_key(Method::Cancel);
        if let Some(ServerEntry {
            tx: ServerTx::NonInvite(t),
            ..
        }) = self.server.get_mut(&key)
        {
            return t.on_retransmit(&mut self.transmits);
        }
        let invite_key = inb.core.tx_key(Method::Invite);
        // RFC 3261 §9.2: a CANCEL matching an INVITE transaction gets 200 even when the INVITE
        // was already answered (it then has no effect); only an unmatched one gets 481
        // (statelessly: a stray CANCEL keeps nothing).
        let call = self.server.get(&invite_key).and_then(|e| match &e.tx {
            ServerTx::Invite(_) => e.call,
            ServerTx::NonInvite(_) => None,
        });
        match call {
            Some(id) => {
                self.server.insert(
                    key.clone(),
                    ServerEntry {
                        tx: ServerTx::NonInvite(NonInviteServerTx::new(peer, self.cfg.timers)),
                        call: None,
                    },
                );
                let tag = self.calls.get(&id).map(|c| c.dialog().local_tag.clone());
                let msg = build::response(&inb, 200, tag.as_deref());
                self.respond(&key, 200, msg, now);
                let _ = self.with_call(id, now, |c, ctx| c.on_cancel(&invite_key, ctx));
            }
            None => self.reply(&inb, peer, 481, &[]),
        }
    }

    fn on_response(&mut self, inb: Inbound, now: Instant) {
        let Some(status) = inb.response().map(|r| r.status_code.code()) else {
            return;
        };
        if inb.core.cseq.method == Method::Invite {
            return self.on_invite_response(inb, status, now);
        }
        let Some(branch) = inb.core.top_via().branch.clone() else {
            return;
        };
        let Some(e) = self.client.get_mut(&branch) else {
            tracing::debug!(status, "response matches no transaction");
            return;
        };
        if e.method != inb.core.cseq.method || !e.tx.on_response(status, now) {
            return;
        }
        let (owner, purpose) = (e.owner, e.purpose);
        match owner {
            Owner::Call(id) => {
                let _ = self.with_call(id, now, |c, ctx| c.on_response(purpose, &inb, ctx));
            }
            Owner::Reg(id) => self.with_reg(id, now, |r, ctx| r.on_response(purpose, &inb, ctx)),
            Owner::Ping(ping) if status >= 200 => self.events.push_back(Event::OptionsResult {
                ping,
                status: Some(status),
            }),
            Owner::Ping(_) => {}
            Owner::Dial(id) if status >= 200 => {
                self.with_dial(id, now, |d, ctx| d.on_request_done(purpose, ctx))
            }
            Owner::Dial(_) => {}
        }
    }

    fn respond(&mut self, key: &TxKey, status: u16, msg: build::OutMessage, now: Instant) {
        if let Some(e) = self.server.get_mut(key) {
            let bytes = msg.to_bytes();
            match &mut e.tx {
                ServerTx::Invite(t) => t.respond(status, bytes, now, &mut self.transmits),
                ServerTx::NonInvite(t) => t.respond(status, bytes, now, &mut self.transmits),
            }
        }
    }

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
        };
        let r = f(call, &mut ctx);
        self.apply(Owner::Call(id), out, now);
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
        };
        f(reg, &mut ctx);
        self.apply(Owner::Reg(id), out, now);
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
                    self.client.insert(
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
                TuOutput::Acked { key } => {
                    if let Some(ServerEntry {
                        tx: ServerTx::Invite(t),
                        ..
                    }) = self.server.get_mut(&key)
                    {
                        t.on_ack(now);
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
