//! Request and response routing of the endpoint: an `impl Endpoint` block beside the tables.
//! Matches each request to its server transaction (branch + sent-by + method), its dialog
//! (Call-ID + our tag) or a merged INVITE (Call-ID + their tag) by hash lookups; creates calls
//! for out-of-dialog INVITEs (after the source rules of [`super::limits`] and admission);
//! answers OPTIONS and everything matching nothing statelessly; hands responses to the client
//! transaction of their branch. Every server transaction it touches is re-armed in the timer
//! heaps ([`super::timers`]).

use std::net::SocketAddr;
use std::time::Instant;

use rsipstack::sip::Method;

use super::{
    build, limits, options_response, session_timer, Call, CallHandle, Ctx, Endpoint, Event,
    Inbound, InviteServerTx, NonInviteServerTx, Owner, Peer, ServerEntry, ServerTx, Transport,
    TxKey,
};

impl Endpoint {
    pub(super) fn on_request(
        &mut self,
        inb: Inbound,
        source: SocketAddr,
        transport: Transport,
        now: Instant,
    ) {
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
            return self.rearm_server(&key);
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
                if let Some(what) = crate::sip::dialog::unusable_uri(&inb) {
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
                    tls_port: self.cfg.tls_port,
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
                self.rearm_call(id);
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
        self.insert_server(key, ServerEntry { tx, call });
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
            return self.rearm_server(&key);
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
            t.on_retransmit(&mut self.transmits);
            return self.rearm_server(&key);
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
                self.insert_server(
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

    pub(super) fn on_response(&mut self, inb: Inbound, source: SocketAddr, now: Instant) {
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
        let taken = e.method == inb.core.cseq.method && e.tx.on_response(status, now);
        let (owner, purpose) = (e.owner, e.purpose);
        self.rearm_client(&branch);
        if !taken {
            return;
        }
        match owner {
            Owner::Call(id) => {
                let _ = self.with_call(id, now, |c, ctx| c.on_response(purpose, &inb, ctx));
            }
            Owner::Reg(id) => self.with_reg(id, now, |r, ctx| {
                r.on_response_from(source, purpose, &inb, ctx)
            }),
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

    pub(super) fn respond(
        &mut self,
        key: &TxKey,
        status: u16,
        msg: build::OutMessage,
        now: Instant,
    ) {
        if let Some(e) = self.server.get_mut(key) {
            let bytes = msg.to_bytes();
            match &mut e.tx {
                ServerTx::Invite(t) => t.respond(status, bytes, now, &mut self.transmits),
                ServerTx::NonInvite(t) => t.respond(status, bytes, now, &mut self.transmits),
            }
            self.rearm_server(key);
        }
    }
}
