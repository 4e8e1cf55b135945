//! The call machine: one per incoming INVITE, from the offer to the end of the dialog; an
//! outbound call joins it confirmed once [`super::dial`] has its 2xx ([`Call::outbound`]).
//!
//! Owns the call's signalling decisions: 100 is already sent by the INVITE transaction; the app
//! answers (200 + SDP answer, with Contact, Record-Route, Allow) or rejects (486/488/503/404…);
//! the ACK confirms; BYE either way; CANCEL before the final response (487 to the INVITE);
//! re-INVITEs (hold/resume, new offers, session-timer refreshes) surfaced as [`Event::Reoffer`]
//! (500 + Retry-After while one is pending); INFO DTMF; OPTIONS;
//! REFER (blind transfer; asked for before the ACK, it waits for the ACK like a BYE does) and
//! the NOTIFY `message/sipfrag` progress it brings; UPDATE (a
//! session refresh, or an offer like a re-INVITE's); RFC 4028 session timers
//! ([`super::session_timer`]: `Session-Expires` in the 2xx, refreshes either way, BYE when the
//! session expires). Requests with an out-of-order CSeq get 500, unknown in-dialog methods 405.
//!
//! Does not own transactions (the endpoint holds them and hands us their keys), SDP
//! negotiation (the media layer writes the answer text; we carry it) or sockets.

use std::fmt;
use std::time::Instant;

use rsipstack::sip::Method;

use super::build::{self, OutMessage};
use super::dialog::Dialog;
use super::event::{CallHandle, EndReason, Event, TransferProgress};
use super::info::{parse_dtmf_info, parse_sipfrag, InfoError};
use super::message::{Inbound, TxKey};
use super::session_timer::{Asked, Due, Plan, SessionTimer};
use super::transaction::Peer;
use super::tu::{Ctx, Purpose, TuOutput};

/// Where a call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallState {
    /// The INVITE arrived (100 sent); the app has not answered.
    Offered,
    /// We sent 2xx; waiting for the ACK.
    Answered,
    /// The ACK arrived: the dialog is confirmed.
    Confirmed,
    /// We sent BYE; waiting for its response.
    Ending,
    /// Over.
    Ended,
}

/// An app command that does not fit the call's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// No such call (it ended, or never existed).
    UnknownCall(CallHandle),
    /// The command is not valid now (e.g. `answer` after `reject`).
    WrongState {
        call: CallHandle,
        state: CallState,
        action: &'static str,
    },
    /// A final status outside 300-699 given to `reject`.
    InvalidStatus(u16),
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::UnknownCall(c) => write!(f, "{c}: no such call"),
            CallError::WrongState {
                call,
                state,
                action,
            } => {
                write!(f, "{call}: cannot {action} in state {state:?}")
            }
            CallError::InvalidStatus(s) => write!(f, "{s} is not a rejection status (300-699)"),
        }
    }
}

impl std::error::Error for CallError {}

/// One call.
#[derive(Debug, Clone)]
pub struct Call {
    id: CallHandle,
    state: CallState,
    dialog: Dialog,
    invite: Inbound,
    invite_key: TxKey,
    /// A re-INVITE waiting for the app's answer.
    reoffer: Option<(Inbound, TxKey)>,
    /// INVITE transactions whose 2xx awaits its ACK, by CSeq.
    awaiting_ack: Vec<(u32, TxKey)>,
    /// The app hung up before the ACK: send BYE once it arrives (RFC 3261 §15).
    bye_after_ack: bool,
    /// The app asked for a transfer before the ACK: REFER needs a confirmed dialog, so it goes
    /// out when the ACK arrives (dropped if the call ends first).
    refer_after_ack: Option<String>,
    /// What the INVITE asked of session timers, and the timer once the 2xx went out.
    session_plan: Plan,
    session: Option<SessionTimer>,
}

impl Call {
    /// A call for a new INVITE whose transaction (and 100 Trying) already exists.
    pub fn new(id: CallHandle, invite: Inbound, key: TxKey, peer: Peer, ctx: &mut Ctx<'_>) -> Call {
        let local_tag = ctx.ids.tag();
        let first_cseq = (ctx.ids.next_u64() % 10_000) as u32 + 1;
        let dialog = Dialog::from_invite(&invite, local_tag, peer, first_cseq);
        let sdp = sdp_of(&invite);
        let session_plan = super::session_timer::plan(&Asked::of(&invite), true);
        ctx.emit(Event::IncomingCall {
            call: id,
            from: invite.core.from.uri.clone(),
            from_display: invite.core.from.display.clone(),
            to: invite.core.to.uri.clone(),
            to_user: invite.core.to.user().map(str::to_string),
            sdp_offer: sdp,
            source: peer.dest,
        });
        Call {
            id,
            state: CallState::Offered,
            dialog,
            invite,
            invite_key: key,
            reoffer: None,
            awaiting_ack: Vec::new(),
            bye_after_ack: false,
            refer_after_ack: None,
            session_plan,
            session: None,
        }
    }

    /// The confirmed dialog of an outbound call: `answer` is the 2xx to our INVITE, already
    /// acknowledged by [`super::dial::Dial`]. No session timer is negotiated (we do not offer
    /// the extension, so the far end refreshes if it wants one).
    pub fn outbound(id: CallHandle, dialog: Dialog, answer: Inbound) -> Call {
        let invite_key = answer.core.tx_key(Method::Invite);
        Call {
            id,
            state: CallState::Confirmed,
            dialog,
            invite: answer,
            invite_key,
            reoffer: None,
            awaiting_ack: Vec::new(),
            bye_after_ack: false,
            refer_after_ack: None,
            session_plan: Plan::Off,
            session: None,
        }
    }

    pub fn id(&self) -> CallHandle {
        self.id
    }

    pub fn state(&self) -> CallState {
        self.state
    }

    pub fn dialog(&self) -> &Dialog {
        &self.dialog
    }

    pub fn is_ended(&self) -> bool {
        self.state == CallState::Ended
    }

    /// The CSeq number of the INVITE that created the call.
    pub fn invite_cseq(&self) -> u32 {
        self.invite.core.cseq.seq
    }

    /// The INVITE transaction that created the call.
    pub fn invite_key(&self) -> &TxKey {
        &self.invite_key
    }

    /// Sends 180 Ringing (optional).
    pub fn ringing(&mut self, ctx: &mut Ctx<'_>) -> Result<(), CallError> {
        self.expect(CallState::Offered, "ring")?;
        let msg = self.response(&self.invite, 180, ctx);
        self.send(self.invite_key.clone(), 180, msg, ctx);
        Ok(())
    }

    /// Answers with 200 OK carrying `sdp` (the media layer's answer).
    pub fn answer(&mut self, sdp: &str, ctx: &mut Ctx<'_>) -> Result<(), CallError> {
        self.expect(CallState::Offered, "answer")?;
        self.session = self.session_plan.timer(ctx.now);
        let msg = self
            .response(&self.invite, 200, ctx)
            .body("application/sdp", sdp.as_bytes());
        let key = self.invite_key.clone();
        self.awaiting_ack
            .push((self.invite.core.cseq.seq, key.clone()));
        self.send(key, 200, msg, ctx);
        self.state = CallState::Answered;
        Ok(())
    }

    /// Rejects the INVITE with a final status (486, 488, 503, 404…).
    pub fn reject(&mut self, status: u16, ctx: &mut Ctx<'_>) -> Result<(), CallError> {
        if !(300..700).contains(&status) {
            return Err(CallError::InvalidStatus(status));
        }
        self.expect(CallState::Offered, "reject")?;
        let mut msg = self.response(&self.invite, status, ctx);
        if status == 503 {
            msg = msg.header("Retry-After", "30");
        }
        self.send(self.invite_key.clone(), status, msg, ctx);
        self.end(EndReason::Rejected(status), ctx);
        Ok(())
    }

    /// Ends the call from our side: BYE when confirmed (after the ACK if it is still due),
    /// 480 when not yet answered.
    pub fn hangup(&mut self, ctx: &mut Ctx<'_>) -> Result<(), CallError> {
        match self.state {
            CallState::Offered => self.reject(480, ctx),
            CallState::Answered => {
                self.bye_after_ack = true;
                Ok(())
            }
            CallState::Confirmed => {
                self.send_bye(ctx);
                Ok(())
            }
            CallState::Ending | CallState::Ended => Err(CallError::WrongState {
                call: self.id,
                state: self.state,
                action: "hang up",
            }),
        }
    }

    /// Answers a pending re-INVITE with a new SDP answer.
    pub fn answer_reoffer(&mut self, sdp: &str, ctx: &mut Ctx<'_>) -> Result<(), CallError> {
        let (req, key) = self.reoffer.take().ok_or(CallError::WrongState {
            call: self.id,
            state: self.state,
            action: "answer a re-INVITE (none pending)",
        })?;
        self.session_refresh(&req, ctx);
        let msg = self
            .response(&req, 200, ctx)
            .body("application/sdp", sdp.as_bytes());
        if req.request().is_some_and(|r| r.method == Method::Invite) {
            self.awaiting_ack.push((req.core.cseq.seq, key.clone()));
        }
        self.send(key, 200, msg, ctx);
        Ok(())
    }

    /// When [`Call::on_timer`] is next due (the session timer).
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            CallState::Answered | CallState::Confirmed => {
                self.session.as_ref().map(SessionTimer::poll_timeout)
            }
            _ => None,
        }
    }

    /// The session timer fired: refresh with UPDATE, or end the expired session.
    pub fn on_timer(&mut self, ctx: &mut Ctx<'_>) {
        let Some(t) = self.session.as_mut() else {
            return;
        };
        if t.poll_timeout() > ctx.now {
            return;
        }
        match (t.due(), self.state) {
            (Due::Refresh, CallState::Confirmed) => {
                t.refresh_sent(ctx.now);
                let (header, require) = (t.header(), t.require());
                let (mut msg, branch) = self.dialog.request(Method::Update, ctx);
                msg = msg
                    .header("Session-Expires", header)
                    .header("Supported", build::SUPPORTED);
                if require {
                    msg = msg.header("Require", "timer");
                }
                ctx.out.push(TuOutput::Request {
                    msg,
                    branch,
                    peer: self.dialog.peer,
                    purpose: Purpose::Refresh,
                });
            }
            // Not confirmed yet: try again after a full refresh interval.
            (Due::Refresh, _) => t.refreshed(ctx.now),
            (Due::Expire, _) => self.expire(ctx),
        }
    }

    /// The session ran out: BYE, and the call is over (RFC 4028 §10).
    fn expire(&mut self, ctx: &mut Ctx<'_>) {
        self.session = None;
        if matches!(self.state, CallState::Answered | CallState::Confirmed) {
            self.send_bye(ctx);
            self.end(EndReason::SessionExpired, ctx);
        }
    }

    /// A re-INVITE or UPDATE we answer 2xx refreshes the session (and may renegotiate it).
    fn session_refresh(&mut self, req: &Inbound, ctx: &Ctx<'_>) {
        let plan = super::session_timer::plan(&Asked::of(req), false);
        match self.session.as_mut() {
            None => self.session = plan.timer(ctx.now),
            Some(t) => {
                if let Plan::On {
                    interval,
                    refresher,
                    require,
                } = plan
                {
                    t.renegotiate(interval, refresher, require);
                }
                t.refreshed(ctx.now);
            }
        }
    }

    /// Refuses a pending re-INVITE (e.g. 488); the call continues with the old session.
    pub fn reject_reoffer(&mut self, status: u16, ctx: &mut Ctx<'_>) -> Result<(), CallError> {
        if !(300..700).contains(&status) {
            return Err(CallError::InvalidStatus(status));
        }
        let (req, key) = self.reoffer.take().ok_or(CallError::WrongState {
            call: self.id,
            state: self.state,
            action: "reject a re-INVITE (none pending)",
        })?;
        let msg = self.response(&req, status, ctx);
        self.send(key, status, msg, ctx);
        Ok(())
    }

    /// Blind transfer: REFER with Refer-To `target` and Referred-By us. Before the ACK the
    /// REFER waits for it (progress then comes as usual).
    pub fn transfer(&mut self, target: &str, ctx: &mut Ctx<'_>) -> Result<(), CallError> {
        if self.state == CallState::Answered && !self.bye_after_ack {
            self.refer_after_ack = Some(target.to_string());
            return Ok(());
        }
        self.expect(CallState::Confirmed, "transfer")?;
        self.send_refer(target, ctx);
        Ok(())
    }

    fn send_refer(&mut self, target: &str, ctx: &mut Ctx<'_>) {
        let (msg, branch) = self.dialog.request(Method::Refer, ctx);
        let target = if target.starts_with('<') {
            target.to_string()
        } else {
            format!("<{target}>")
        };
        let msg = msg
            .header("Refer-To", target)
            .header("Referred-By", format!("<{}>", self.dialog.local_uri));
        ctx.out.push(TuOutput::Request {
            msg,
            branch,
            peer: self.dialog.peer,
            purpose: Purpose::Refer,
        });
    }

    /// A CANCEL matched this call's INVITE transaction `key` (the endpoint answered it 200).
    pub fn on_cancel(&mut self, key: &TxKey, ctx: &mut Ctx<'_>) {
        if *key == self.invite_key && self.state == CallState::Offered {
            let msg = self.response(&self.invite, 487, ctx);
            self.send(key.clone(), 487, msg, ctx);
            self.end(EndReason::Cancelled, ctx);
        } else if let Some((req, k)) = self.reoffer.take_if(|(_, k)| k == key) {
            let msg = self.response(&req, 487, ctx);
            self.send(k, 487, msg, ctx);
        }
    }

    /// An ACK for a 2xx (a transaction of its own, matched by dialog).
    pub fn on_ack(&mut self, ack: &Inbound, ctx: &mut Ctx<'_>) {
        let seq = ack.core.cseq.seq;
        let Some(i) = self.awaiting_ack.iter().position(|(s, _)| *s == seq) else {
            return; // a retransmitted ACK
        };
        let (_, key) = self.awaiting_ack.swap_remove(i);
        ctx.out.push(TuOutput::Acked { key });
        if let Some(sdp) = sdp_of(ack) {
            ctx.emit(Event::SdpAnswer { call: self.id, sdp });
        }
        if self.state == CallState::Answered {
            self.state = CallState::Confirmed;
            ctx.emit(Event::CallConfirmed { call: self.id });
            let refer = self.refer_after_ack.take();
            if self.bye_after_ack {
                self.send_bye(ctx);
            } else if let Some(target) = refer {
                self.send_refer(&target, ctx);
            }
        }
    }

    /// Our 2xx on INVITE transaction `key` was never acknowledged (Timer H).
    pub fn on_ack_timeout(&mut self, key: &TxKey, ctx: &mut Ctx<'_>) {
        self.awaiting_ack.retain(|(_, k)| k != key);
        if self.state == CallState::Answered && *key == self.invite_key {
            // RFC 3261 §13.3.1.4: end the dialog with a BYE.
            self.send_bye(ctx);
            self.end(EndReason::AckTimeout, ctx);
        }
    }

    /// A new in-dialog request on server transaction `key` (not ACK, not CANCEL).
    pub fn on_request(&mut self, req: &Inbound, key: TxKey, ctx: &mut Ctx<'_>) {
        let Some(r) = req.request() else { return };
        if !self.dialog.accept_remote_cseq(req.core.cseq.seq) {
            let msg = self.response(req, 500, ctx);
            return self.send(key, 500, msg, ctx);
        }
        match r.method {
            Method::Bye => self.on_bye(req, key, ctx),
            Method::Invite => self.on_reinvite(req, key, ctx),
            Method::Update => self.on_update(req, key, ctx),
            Method::Info => self.on_info(req, key, ctx),
            Method::Notify => self.on_notify(req, key, ctx),
            Method::Options => {
                let msg = options_response(self.response(req, 200, ctx));
                self.send(key, 200, msg, ctx);
            }
            _ => {
                let msg = self.response(req, 405, ctx).header("Allow", build::ALLOW);
                self.send(key, 405, msg, ctx);
            }
        }
    }

    /// The final response to a request we sent.
    pub fn on_response(&mut self, purpose: Purpose, resp: &Inbound, ctx: &mut Ctx<'_>) {
        let Some(r) = resp.response() else { return };
        let status = r.status_code.code();
        match purpose {
            Purpose::Bye if status >= 200 => self.end(EndReason::LocalBye { confirmed: true }, ctx),
            Purpose::Refresh => match status {
                100..=199 => {}
                200..=299 => {
                    if let Some(t) = self.session.as_mut() {
                        t.refreshed(ctx.now);
                    }
                }
                // RFC 4028 §10: the session is gone at the far end.
                408 | 481 => self.expire(ctx),
                // The peer would not take our UPDATE (405, 501...): the call goes on without a
                // timer rather than being cut (the peer may still run its own).
                _ => self.session = None,
            },
            Purpose::Refer => {
                let progress = match status {
                    100..=199 => return,
                    200..=299 => TransferProgress::Accepted,
                    _ => TransferProgress::Failed {
                        status,
                        reason: format!("{status} {}", reason_of(resp)),
                    },
                };
                ctx.emit(Event::Transfer {
                    call: self.id,
                    progress,
                });
            }
            _ => {}
        }
    }

    /// A request we sent got no response (Timer F).
    pub fn on_client_timeout(&mut self, purpose: Purpose, ctx: &mut Ctx<'_>) {
        match purpose {
            Purpose::Bye => self.end(EndReason::LocalBye { confirmed: false }, ctx),
            Purpose::Refresh => self.expire(ctx),
            Purpose::Refer => ctx.emit(Event::Transfer {
                call: self.id,
                progress: TransferProgress::Failed {
                    status: 408,
                    reason: "408 Request Timeout".into(),
                },
            }),
            _ => {}
        }
    }

    fn on_bye(&mut self, req: &Inbound, key: TxKey, ctx: &mut Ctx<'_>) {
        let msg = self.response(req, 200, ctx);
        self.send(key, 200, msg, ctx);
        if let Some((r, k)) = self.reoffer.take() {
            let msg = self.response(&r, 487, ctx);
            self.send(k, 487, msg, ctx);
        }
        self.end(EndReason::RemoteBye, ctx);
    }

    fn on_reinvite(&mut self, req: &Inbound, key: TxKey, ctx: &mut Ctx<'_>) {
        if self.reoffer.is_some() || self.state != CallState::Confirmed {
            // RFC 3261 §14.2: a second INVITE before our final response to the first gets 500
            // with Retry-After (491 is for glare, and we never send re-INVITEs ourselves).
            let wait = ctx.ids.next_u64() % 10;
            let msg = self
                .response(req, 500, ctx)
                .header("Retry-After", wait.to_string());
            return self.send(key, 500, msg, ctx);
        }
        if let Some(contact) = req.header("Contact") {
            if let Ok(c) = super::message::NameAddr::parse(contact, "Contact") {
                self.dialog.remote_target = c.uri; // target refresh, RFC 3261 §12.2.2
            }
        }
        self.reoffer = Some((req.clone(), key));
        ctx.emit(Event::Reoffer {
            call: self.id,
            sdp_offer: sdp_of(req),
        });
    }

    /// UPDATE (RFC 3311): with an offer it goes to the app like a re-INVITE's; without, it is a
    /// session refresh answered at once.
    fn on_update(&mut self, req: &Inbound, key: TxKey, ctx: &mut Ctx<'_>) {
        if sdp_of(req).is_some() {
            return self.on_reinvite(req, key, ctx);
        }
        self.session_refresh(req, ctx);
        let msg = self.response(req, 200, ctx);
        self.send(key, 200, msg, ctx);
    }

    fn on_info(&mut self, req: &Inbound, key: TxKey, ctx: &mut Ctx<'_>) {
        if req.body().is_empty() {
            let msg = self.response(req, 200, ctx); // an empty INFO is a keep-alive
            return self.send(key, 200, msg, ctx);
        }
        let ct = req.content_type().unwrap_or_default();
        match parse_dtmf_info(&ct, req.body()) {
            Ok(d) => {
                let msg = self.response(req, 200, ctx);
                self.send(key, 200, msg, ctx);
                ctx.emit(Event::Dtmf {
                    call: self.id,
                    digit: d.digit,
                    duration_ms: d.duration_ms,
                });
            }
            Err(InfoError::UnsupportedType(_)) => {
                let msg = self.response(req, 415, ctx).header("Accept", build::ACCEPT);
                self.send(key, 415, msg, ctx);
            }
            Err(InfoError::BadBody) => {
                let msg = self.response(req, 400, ctx);
                self.send(key, 400, msg, ctx);
            }
        }
    }

    fn on_notify(&mut self, req: &Inbound, key: TxKey, ctx: &mut Ctx<'_>) {
        let event = req.header("Event").unwrap_or_default();
        let package = event.split(';').next().unwrap_or_default().trim();
        if !package.eq_ignore_ascii_case("refer") {
            let msg = self.response(req, 489, ctx); // Bad Event (RFC 6665)
            return self.send(key, 489, msg, ctx);
        }
        let msg = self.response(req, 200, ctx);
        self.send(key, 200, msg, ctx);
        let Some((status, reason)) = parse_sipfrag(req.body()) else {
            return;
        };
        let progress = match status {
            100..=199 => TransferProgress::Trying { status },
            200..=299 => TransferProgress::Succeeded,
            _ => TransferProgress::Failed {
                status,
                reason: format!("{status} {reason}"),
            },
        };
        ctx.emit(Event::Transfer {
            call: self.id,
            progress,
        });
    }

    fn send_bye(&mut self, ctx: &mut Ctx<'_>) {
        let (msg, branch) = self.dialog.request(Method::Bye, ctx);
        ctx.out.push(TuOutput::Request {
            msg,
            branch,
            peer: self.dialog.peer,
            purpose: Purpose::Bye,
        });
        self.state = CallState::Ending;
    }

    fn end(&mut self, reason: EndReason, ctx: &mut Ctx<'_>) {
        // Stop retransmitting 2xx responses nobody will acknowledge any more.
        for (_, key) in self.awaiting_ack.drain(..) {
            ctx.out.push(TuOutput::Acked { key });
        }
        if self.state != CallState::Ended {
            self.state = CallState::Ended;
            ctx.emit(Event::Ended {
                call: self.id,
                reason,
            });
        }
    }

    fn expect(&self, state: CallState, action: &'static str) -> Result<(), CallError> {
        if self.state == state {
            Ok(())
        } else {
            Err(CallError::WrongState {
                call: self.id,
                state: self.state,
                action,
            })
        }
    }

    /// A response in this dialog: our To tag; Contact and Record-Route on dialog-forming ones.
    fn response(&self, req: &Inbound, status: u16, ctx: &Ctx<'_>) -> OutMessage {
        let mut msg = build::response(req, status, Some(&self.dialog.local_tag));
        let method = req.request().map(|r| r.method);
        let is_invite = method == Some(Method::Invite);
        let refreshes = is_invite || method == Some(Method::Update);
        if is_invite && (101..300).contains(&status) {
            for rr in req.header_list("Record-Route") {
                msg = msg.header("Record-Route", rr);
            }
            msg = msg
                .header("Contact", self.dialog.contact(ctx))
                .header("Allow", build::ALLOW)
                .header("Supported", build::SUPPORTED);
        }
        if refreshes && (200..300).contains(&status) {
            if !is_invite {
                // UPDATE is a target refresh request too (RFC 3311 §5.2).
                msg = msg.header("Contact", self.dialog.contact(ctx));
            }
            if let Some(t) = &self.session {
                msg = msg.header("Session-Expires", t.header());
                if t.require() {
                    msg = msg.header("Require", "timer");
                }
            }
        }
        msg
    }

    fn send(&self, key: TxKey, status: u16, msg: OutMessage, ctx: &mut Ctx<'_>) {
        ctx.out.push(TuOutput::Respond { key, status, msg });
    }
}

/// The SDP body of a message, when it has one.
fn sdp_of(m: &Inbound) -> Option<String> {
    let is_sdp = m.content_type().is_some_and(|ct| ct == "application/sdp");
    (is_sdp && !m.body().is_empty()).then(|| String::from_utf8_lossy(m.body()).into_owned())
}

fn reason_of(resp: &Inbound) -> String {
    let code = resp.response().map(|r| r.status_code.code()).unwrap_or(0);
    resp.response()
        .and_then(|r| r.reason_phrase().map(str::to_string))
        .unwrap_or_else(|| build::reason_phrase(code).to_string())
}

/// Adds the capability headers of an OPTIONS answer (RFC 3261 §11.2).
pub fn options_response(msg: OutMessage) -> OutMessage {
    msg.header("Allow", build::ALLOW)
        .header("Supported", build::SUPPORTED)
        .header("Accept", build::ACCEPT)
        .header("Accept-Language", "en")
}
