//! Outbound calls in the endpoint: an `impl Endpoint` block beside the router that starts
//! [`Dial`]s, runs their INVITE client transactions, routes INVITE responses and timers to
//! them, and hands an answered call's dialog to the call table so that it continues exactly
//! like an inbound call (same [`CallHandle`] space, same events).
//!
//! Owns the INVITE client transactions (keyed by branch; a CANCEL shares its INVITE's branch
//! and lives in the ordinary client table, matched by CSeq method) and the life of each
//! `Dial`: removed once it is settled (answered or ended) and its last INVITE transaction has
//! terminated, so retransmitted 2xx are still acknowledged for 64·T1.
//!
//! Nothing here scans all dials or INVITEs: each dial's INVITE branches are listed per dial,
//! the dials not yet settled are a set (`active_calls` is O(1)), and timers go through the
//! endpoint's heaps (`TimerKey::InviteTx`, `TimerKey::Dial`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use super::timers::{TimerKey, TimerKind, TxTable};
use super::{Endpoint, Owner};
use crate::sip::build::OutMessage;
use crate::sip::call::CallError;
use crate::sip::dial::{ack_for_failure, Dial, DialError, DialRequest, DialState};
use crate::sip::event::CallHandle;
use crate::sip::message::Inbound;
use crate::sip::transaction::{
    ClientEvent, InviteClientState, InviteClientTx, InviteClientVerdict, Peer,
};
use crate::sip::tu::{Ctx, TuOutput};
use crate::sip::Transmit;

/// The endpoint's outbound-call state.
#[derive(Debug, Default)]
pub(super) struct Uac {
    dials: BTreeMap<CallHandle, Dial>,
    /// INVITE client transactions by branch.
    invites: TxTable<String, InviteEntry>,
    /// Each dial's INVITE branches (a few: the first INVITE, its auth retry).
    branches: HashMap<CallHandle, Vec<String>>,
    /// Dials not yet answered or ended.
    unsettled: HashSet<CallHandle>,
}

#[derive(Debug)]
struct InviteEntry {
    tx: InviteClientTx,
    /// The INVITE, for the ACK of a 3xx-6xx.
    request: OutMessage,
    call: CallHandle,
}

impl Uac {
    /// The earliest deadline by a scan (test builds check the timer heaps against it).
    #[cfg(test)]
    pub(super) fn scan_timeout(&self) -> Option<Instant> {
        let tx = self.invites.values().filter_map(|e| e.tx.poll_timeout());
        let dials = self.dials.values().filter_map(Dial::poll_timeout);
        tx.chain(dials).min()
    }

    /// Dials and INVITE transactions held (tests check that nothing leaks).
    #[cfg(test)]
    pub(super) fn held(&self) -> (usize, usize) {
        (self.dials.len(), self.invites.len())
    }

    /// Outbound calls not yet answered or ended.
    pub(super) fn dialling(&self) -> usize {
        self.unsettled.len()
    }

    fn note_settled(&mut self, id: CallHandle) {
        match self.dials.get(&id) {
            Some(d) if !d.is_settled() => self.unsettled.insert(id),
            _ => self.unsettled.remove(&id),
        };
    }
}

impl Endpoint {
    /// Places an outbound call: sends the INVITE (through `req.next_hop`) and returns the
    /// call's handle. Then come [`super::Event::Progress`], and either
    /// [`super::Event::Answered`] (the call is confirmed and takes the same commands as an
    /// inbound one) or [`super::Event::Ended`] with [`super::event::EndReason::NotConnected`].
    pub fn dial(&mut self, req: DialRequest, now: Instant) -> Result<CallHandle, DialError> {
        req.check()?;
        let id = CallHandle(self.next_call);
        self.next_call += 1;
        let mut out = Vec::new();
        let mut ctx = Ctx {
            now,
            ids: &mut self.ids,
            out: &mut out,
            local: self.cfg.local_addr,
            tls_port: self.cfg.tls_port,
        };
        let dial = Dial::start(id, req, self.cfg.timers, &mut ctx);
        self.uac.dials.insert(id, dial);
        self.uac.note_settled(id);
        self.apply(Owner::Dial(id), out, now);
        self.rearm_dial(id);
        Ok(id)
    }

    /// The runtime could not send an outbound call's INVITE (e.g. TCP connect refused): the
    /// attempt ends `failed`.
    pub fn dial_transport_error(&mut self, call: CallHandle, detail: &str, now: Instant) {
        self.with_dial(call, now, |d, ctx| d.on_transport_error(detail, ctx));
    }

    /// Whether `call` is an outbound call still being set up.
    pub fn is_dialling(&self, call: CallHandle) -> bool {
        self.uac.dials.get(&call).is_some_and(|d| !d.is_settled())
    }

    /// Hang-up before the answer: CANCEL.
    pub(super) fn cancel_dial(&mut self, call: CallHandle, now: Instant) -> Result<(), CallError> {
        if !self.is_dialling(call) {
            return Err(CallError::UnknownCall(call));
        }
        self.with_dial(call, now, |d, ctx| d.cancel(ctx));
        Ok(())
    }

    /// Starts the INVITE client transaction a dial asked for.
    pub(super) fn start_invite(
        &mut self,
        call: CallHandle,
        msg: OutMessage,
        branch: String,
        peer: Peer,
        now: Instant,
    ) {
        let tx = InviteClientTx::new(
            peer,
            self.cfg.timers,
            msg.to_bytes(),
            now,
            &mut self.transmits,
        );
        let entry = InviteEntry {
            tx,
            request: msg,
            call,
        };
        let (_, old) = self.uac.invites.insert(branch.clone(), entry);
        if let Some(old) = old {
            self.timers.set(TimerKey::InviteTx(old), None);
        }
        let list = self.uac.branches.entry(call).or_default();
        if !list.contains(&branch) {
            list.push(branch.clone());
        }
        self.rearm_invite(&branch);
    }

    /// Sends a message outside any transaction.
    pub(super) fn transmit(&mut self, msg: &OutMessage, peer: Peer) {
        self.transmits.push_back(Transmit {
            dest: peer.dest,
            transport: peer.transport,
            bytes: msg.to_bytes(),
        });
    }

    /// A response whose CSeq method is INVITE.
    pub(super) fn on_invite_response(&mut self, inb: Inbound, status: u16, now: Instant) {
        let Some(branch) = inb.core.top_via().branch.clone() else {
            return;
        };
        let Some(e) = self.uac.invites.get_mut(&branch) else {
            tracing::debug!(status, "INVITE response matches no transaction");
            return;
        };
        let InviteEntry { tx, request, call } = e;
        let verdict = tx.on_response(status, now, &mut self.transmits, || {
            ack_for_failure(request, &inb)
        });
        let call = *call;
        self.rearm_invite(&branch);
        if verdict == InviteClientVerdict::ToTu {
            self.with_dial(call, now, |d, ctx| d.on_invite_response(&inb, ctx));
        }
    }

    /// Fires the INVITE transactions' and the dials' due timers.
    pub(super) fn uac_timeouts(&mut self, now: Instant) {
        let mut due: Vec<(Instant, String)> = self
            .timers
            .take_due(TimerKind::InviteTx, now)
            .into_iter()
            .filter_map(|(at, k)| match k {
                TimerKey::InviteTx(id) => self.uac.invites.key_of(id).map(|b| (at, b.clone())),
                _ => None,
            })
            .collect();
        due.sort();
        for (_, branch) in due {
            let Some(e) = self.uac.invites.get_mut(&branch) else {
                continue;
            };
            let timeout = e.tx.handle_timeout(now, &mut self.transmits);
            let (call, terminated) = (e.call, e.tx.is_terminated());
            if terminated {
                self.remove_invite(&branch);
            } else {
                self.rearm_invite(&branch);
            }
            if timeout == Some(ClientEvent::Timeout) {
                self.with_dial(call, now, |d, ctx| d.on_invite_timeout(ctx));
            } else {
                self.sweep_dial(call);
            }
        }
        let mut due: Vec<CallHandle> = self
            .timers
            .take_due(TimerKind::Dial, now)
            .into_iter()
            .filter_map(|(_, k)| match k {
                TimerKey::Dial(id) => Some(id),
                _ => None,
            })
            .collect();
        due.sort();
        for id in due {
            self.with_dial(id, now, |d, ctx| d.on_timer(ctx));
        }
    }

    /// Runs `f` on a dial, executes its output, hands over an answered call, and drops the
    /// dial when nothing needs it any more.
    pub(super) fn with_dial(
        &mut self,
        id: CallHandle,
        now: Instant,
        f: impl FnOnce(&mut Dial, &mut Ctx<'_>),
    ) {
        let Some(dial) = self.uac.dials.get_mut(&id) else {
            return;
        };
        let mut out: Vec<TuOutput> = Vec::new();
        let mut ctx = Ctx {
            now,
            ids: &mut self.ids,
            out: &mut out,
            local: self.cfg.local_addr,
            tls_port: self.cfg.tls_port,
        };
        f(dial, &mut ctx);
        let answered = dial.take_call().map(|call| {
            let d = call.dialog();
            self.dialogs
                .insert((d.call_id.clone(), d.local_tag.clone()), id);
            self.calls.insert(id, call);
        });
        self.uac.note_settled(id);
        self.apply(Owner::Dial(id), out, now);
        if answered.is_some() {
            self.rearm_call(id);
        }
        self.sweep_dial(id);
        self.rearm_dial(id);
    }

    fn rearm_dial(&mut self, id: CallHandle) {
        let at = self.uac.dials.get(&id).and_then(Dial::poll_timeout);
        self.timers.set(TimerKey::Dial(id), at);
    }

    fn rearm_invite(&mut self, branch: &String) {
        if let Some((id, e)) = self.uac.invites.get_with_id(branch) {
            self.timers.set(TimerKey::InviteTx(id), e.tx.poll_timeout());
        }
    }

    fn remove_invite(&mut self, branch: &String) {
        let Some((id, e)) = self.uac.invites.remove(branch) else {
            return;
        };
        self.timers.set(TimerKey::InviteTx(id), None);
        if let Some(list) = self.uac.branches.get_mut(&e.call) {
            list.retain(|b| b != branch);
            if list.is_empty() {
                self.uac.branches.remove(&e.call);
            }
        }
    }

    /// Drops a settled dial's lingering transactions and, once none is left, the dial.
    fn sweep_dial(&mut self, id: CallHandle) {
        let Some(dial) = self.uac.dials.get(&id) else {
            return;
        };
        if !dial.is_settled() {
            return;
        }
        if *dial.state() == DialState::Ended {
            // Calling/Proceeding transactions of an ended dial would wait for nothing.
            let waiting: Vec<String> = self
                .uac
                .branches
                .get(&id)
                .into_iter()
                .flatten()
                .filter(|b| {
                    self.uac.invites.get(b).is_some_and(|e| {
                        matches!(
                            e.tx.state(),
                            InviteClientState::Calling | InviteClientState::Proceeding
                        )
                    })
                })
                .cloned()
                .collect();
            for b in waiting {
                self.remove_invite(&b);
            }
        }
        if !self.uac.branches.contains_key(&id) {
            self.uac.dials.remove(&id);
            self.uac.unsettled.remove(&id);
            self.rearm_dial(id);
        }
    }
}
