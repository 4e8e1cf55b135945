//! The UAC call machine: one per outbound call, from our INVITE to its final response.
//!
//! Owns the INVITE side of an outbound call: the INVITE with our SDP offer (to the account's
//! registrar/proxy or the target host, the runtime resolved which), one authenticated retry
//! per challenge on 401/407 (digest from [`super::digest`]; same Call-ID and From tag, next
//! CSeq, the credentials repeated in the 2xx ACK as RFC 3261 §22.1 asks), provisional
//! responses (180/183 reported as [`Event::Progress`]; early media is ignored: the flow starts
//! at 200), the ring timeout (CANCEL, sent only once a provisional response arrived, RFC 3261
//! §9.1; 64·T1 later without a final response the attempt is over), the ACK for each 2xx and
//! the 200-after-CANCEL race (ACK, then BYE: we no longer want the call), other forks' 2xx (ACK
//! and BYE), and the [`DialOutcome`] of every way an attempt can end (see [`classify`]).
//!
//! Once a 2xx is acknowledged the dialog is handed to a [`Call`] in `Confirmed` state (taken
//! with [`Dial::take_call`]), so BYE either way, INFO DTMF, re-INVITEs and REFER work exactly
//! as for an inbound call. The `Dial` itself stays until its INVITE transaction ends (Timer M)
//! to acknowledge retransmitted 2xx.
//!
//! Does not own transactions (the endpoint runs the INVITE and CANCEL transactions; the
//! transaction ACKs a 3xx-6xx itself), DNS, or SDP (the offer is the media layer's text).

use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rsipstack::sip::Method;

use super::build::{self, OutMessage};
use super::call::Call;
use super::dialog::{contact_for, Dialog};
use super::digest::{Challenge, Credentials, DigestSession};
use super::event::{CallHandle, DialEnd, DialOutcome, EndReason, Event};
use super::message::Inbound;
use super::timer::{TimerConfig, TimerTable};
use super::transaction::Peer;
use super::tu::{Ctx, Purpose, TuOutput};
use super::Transport;

/// How many challenged INVITEs one attempt answers before giving up (a proxy and a callee may
/// each challenge once; more is a loop).
const MAX_AUTH_ROUNDS: u32 = 3;

/// What the app asks for: one INVITE to one target.
#[derive(Debug, Clone, PartialEq)]
pub struct DialRequest {
    /// The Request-URI and To: whom we call (`sip:+4930123@pbx.example.com`).
    pub target: String,
    /// Our From URI (`sip:alerts@pbx.example.com`); its user part is the caller id.
    pub from_uri: String,
    /// An optional display name for From.
    pub from_display: Option<String>,
    /// The next hop (registrar/proxy or the target host), resolved by the runtime.
    pub next_hop: SocketAddr,
    pub transport: Transport,
    /// A pre-loaded route set (an outbound proxy, `<sip:proxy.example.com;lr>`).
    pub route: Vec<String>,
    /// Answers 401/407 challenges; without it a challenge fails the attempt.
    pub credentials: Option<Credentials>,
    /// Our SDP offer.
    pub sdp_offer: String,
    /// How long the call may ring, counted from the first INVITE, before we CANCEL.
    pub ring_timeout: Duration,
}

/// A [`DialRequest`] that cannot go on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialError {
    /// A URI is not a `sip:`/`sips:` URI or holds characters that would break the message.
    BadUri { field: &'static str },
    /// A route entry is not `<uri>` or holds line breaks.
    BadRoute,
}

impl fmt::Display for DialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DialError::BadUri { field } => write!(f, "{field} is not a usable SIP URI"),
            DialError::BadRoute => f.write_str("a route entry is not a usable <URI>"),
        }
    }
}

impl std::error::Error for DialError {}

impl DialRequest {
    /// Checks every value that goes into a header: no CR/LF, spaces, quotes or brackets in
    /// URIs (a number from an API request must not add headers), `sip:`/`sips:` only.
    pub fn check(&self) -> Result<(), DialError> {
        for (field, uri) in [("target", &self.target), ("from", &self.from_uri)] {
            if !is_safe_uri(uri) {
                return Err(DialError::BadUri { field });
            }
        }
        for r in &self.route {
            let inner = r.strip_prefix('<').and_then(|r| r.split_once('>'));
            match inner {
                Some((uri, params))
                    if is_safe_uri(uri) && !params.chars().any(|c| c.is_control()) => {}
                _ => return Err(DialError::BadRoute),
            }
        }
        Ok(())
    }
}

fn is_safe_uri(uri: &str) -> bool {
    let lower = uri
        .get(..5)
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    (lower.starts_with("sip:") || lower == "sips:")
        && uri.len() > 4
        && uri.len() <= 512
        && !uri
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '<' | '>' | '"'))
}

/// Why we cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelCause {
    /// Nobody answered within the ring timeout.
    RingTimeout,
    /// The app gave up (hang up before answer, shutdown).
    App,
}

/// The outcome of a final response (RFC 3261 status → what an operator means), given whether
/// we had cancelled: busy 486/600; no answer 408/480, and 487 after our ring-timeout CANCEL;
/// cancelled 487 after the app's CANCEL; rejected 603; failed everything else (other 3xx-6xx,
/// including a 487 nobody asked for).
pub fn classify(status: u16, cancelled: Option<CancelCause>) -> DialOutcome {
    match (status, cancelled) {
        (487, Some(CancelCause::RingTimeout)) => DialOutcome::NoAnswer,
        (487, Some(CancelCause::App)) => DialOutcome::Cancelled,
        (486 | 600, _) => DialOutcome::Busy,
        (408 | 480, _) => DialOutcome::NoAnswer,
        (603, _) => DialOutcome::Rejected,
        _ => DialOutcome::Failed,
    }
}

/// Where an outbound call is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialState {
    /// The INVITE is out; `early` once a provisional response came back for it.
    Inviting { early: bool },
    /// CANCEL sent; waiting for the INVITE's final response (487, or a racing 2xx).
    Cancelling,
    /// Answered: the dialog is the [`Call`]'s; we only re-ACK retransmitted 2xx.
    Answered,
    /// A 2xx arrived after our CANCEL: ACKed, BYE in flight; ends with the cancel's outcome.
    Discarding,
    /// Over (the app was told with [`Event::Ended`] or [`Event::Answered`]).
    Ended,
}

/// Outbound-call timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialTimer {
    /// The ring timeout: CANCEL.
    Ring,
    /// 64·T1 after CANCEL without a final response: stop waiting (RFC 3261 §9.1).
    CancelWait,
}

/// One outbound call while it is being set up.
#[derive(Debug, Clone)]
pub struct Dial {
    id: CallHandle,
    req: DialRequest,
    timers_cfg: TimerConfig,
    state: DialState,
    call_id: String,
    local_tag: String,
    cseq: u32,
    /// The INVITE in flight (for CANCEL and the non-2xx ACK) and its branch.
    invite: OutMessage,
    branch: String,
    digest: Option<(DigestSession, bool)>,
    sent_nonce: Option<String>,
    auth_rounds: u32,
    cancel: Option<CancelCause>,
    /// ACKs sent for 2xx, by the 2xx's To tag, to resend for its retransmissions.
    acked: Vec<(String, OutMessage, Peer)>,
    handoff: Option<Call>,
    timers: TimerTable<DialTimer>,
}

impl Dial {
    /// Starts the call: sends the INVITE and arms the ring timeout. The request must have
    /// passed [`DialRequest::check`].
    pub fn start(
        id: CallHandle,
        req: DialRequest,
        timers_cfg: TimerConfig,
        ctx: &mut Ctx<'_>,
    ) -> Dial {
        let call_id = ctx.ids.call_id(&ctx.local.ip().to_string());
        let local_tag = ctx.ids.tag();
        let cseq = (ctx.ids.next_u64() % 10_000) as u32;
        let mut timers = TimerTable::default();
        timers.set(DialTimer::Ring, ctx.now + req.ring_timeout);
        let mut d = Dial {
            id,
            req,
            timers_cfg,
            state: DialState::Inviting { early: false },
            call_id,
            local_tag,
            cseq,
            invite: OutMessage {
                start_line: String::new(),
                headers: Vec::new(),
                body: Vec::new(),
            },
            branch: String::new(),
            digest: None,
            sent_nonce: None,
            auth_rounds: 0,
            cancel: None,
            acked: Vec::new(),
            handoff: None,
            timers,
        };
        d.send_invite(ctx);
        d
    }

    pub fn id(&self) -> CallHandle {
        self.id
    }

    pub fn state(&self) -> &DialState {
        &self.state
    }

    /// The SIP Call-ID (for logs and the call register).
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// The branch of the INVITE in flight.
    pub fn branch(&self) -> &str {
        &self.branch
    }

    /// Whether the app no longer hears from this dial (answered and handed over, or ended).
    pub fn is_settled(&self) -> bool {
        matches!(self.state, DialState::Answered | DialState::Ended)
    }

    /// The confirmed call, once, right after the first 2xx was acknowledged.
    pub fn take_call(&mut self) -> Option<Call> {
        self.handoff.take()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// The app hangs up before the answer: CANCEL (at once, or when the first provisional
    /// response arrives).
    pub fn cancel(&mut self, ctx: &mut Ctx<'_>) {
        self.start_cancel(CancelCause::App, ctx);
    }

    /// Fires due timers.
    pub fn on_timer(&mut self, ctx: &mut Ctx<'_>) {
        while let Some(t) = self.timers.pop_expired(ctx.now) {
            match t {
                DialTimer::Ring => self.start_cancel(CancelCause::RingTimeout, ctx),
                DialTimer::CancelWait => {
                    let cause = self.cancel.unwrap_or(CancelCause::RingTimeout);
                    self.finish(
                        classify(487, Some(cause)),
                        None,
                        "no final response after CANCEL",
                        ctx,
                    );
                }
            }
        }
    }

    /// A response to one of our INVITEs (the transaction passed it up; a 3xx-6xx is already
    /// ACKed by it).
    pub fn on_invite_response(&mut self, resp: &Inbound, ctx: &mut Ctx<'_>) {
        let Some(status) = resp.response().map(|r| r.status_code.code()) else {
            return;
        };
        let current = resp.core.top_via().branch.as_deref() == Some(self.branch.as_str());
        match status {
            100..=199 => self.on_provisional(status, current, ctx),
            200..=299 => self.on_success(resp, ctx),
            _ if !current => {} // a late answer to a challenged INVITE we already replaced
            401 | 407 if self.cancel.is_none() && self.retry_with_auth(resp, status, ctx) => {}
            _ => {
                if matches!(
                    self.state,
                    DialState::Inviting { .. } | DialState::Cancelling
                ) {
                    let reason = reason_of(resp, status);
                    let outcome = classify(status, self.cancel);
                    self.finish(outcome, Some(status), &reason, ctx);
                }
            }
        }
    }

    /// The INVITE got no response at all (Timer B).
    pub fn on_invite_timeout(&mut self, ctx: &mut Ctx<'_>) {
        if matches!(
            self.state,
            DialState::Inviting { .. } | DialState::Cancelling
        ) {
            let outcome = match self.cancel {
                Some(CancelCause::App) => DialOutcome::Cancelled,
                _ => DialOutcome::Failed,
            };
            self.finish(outcome, Some(408), "no response (Timer B)", ctx);
        }
    }

    /// The runtime could not deliver the INVITE (TCP connect refused, no route).
    pub fn on_transport_error(&mut self, detail: &str, ctx: &mut Ctx<'_>) {
        if matches!(
            self.state,
            DialState::Inviting { .. } | DialState::Cancelling
        ) {
            self.finish(
                DialOutcome::Failed,
                None,
                &format!("transport error: {detail}"),
                ctx,
            );
        }
    }

    /// The final response (or `None`: Timer F) to a CANCEL or to the BYE of a discarded 2xx.
    pub fn on_request_done(&mut self, purpose: Purpose, ctx: &mut Ctx<'_>) {
        if purpose == Purpose::Bye && self.state == DialState::Discarding {
            let outcome = classify(487, Some(self.cancel.unwrap_or(CancelCause::App)));
            self.finish(
                outcome,
                Some(200),
                "answered after CANCEL: ACK and BYE sent",
                ctx,
            );
        }
    }

    // ---- internals ----------------------------------------------------------------------

    fn on_provisional(&mut self, status: u16, current: bool, ctx: &mut Ctx<'_>) {
        if !current {
            return;
        }
        if let DialState::Inviting { early } = &mut self.state {
            *early = true;
            if self.cancel.is_some() {
                // RFC 3261 §9.1: the CANCEL waited for this provisional response.
                return self.send_cancel(ctx);
            }
            if status > 100 {
                ctx.emit(Event::Progress {
                    call: self.id,
                    status,
                });
            }
        }
    }

    fn on_success(&mut self, resp: &Inbound, ctx: &mut Ctx<'_>) {
        let to_tag = resp.core.to.tag.clone().unwrap_or_default();
        if let Some((_, ack, peer)) = self.acked.iter().find(|(t, _, _)| *t == to_tag) {
            // A retransmitted 2xx: the TU answers each with the same ACK (RFC 3261 §13.2.2.4).
            ctx.out.push(TuOutput::Transmit {
                msg: ack.clone(),
                peer: *peer,
            });
            return;
        }
        let mut dialog = Dialog::from_answer(
            resp,
            &self.req.from_uri,
            self.local_tag.clone(),
            resp.core.cseq.seq,
            self.invite_peer(),
        );
        let mut ack = dialog.ack(resp.core.cseq.seq, ctx);
        if let Some((name, value)) = self.auth_header() {
            ack = ack.header(name, value);
        }
        ctx.out.push(TuOutput::Transmit {
            msg: ack.clone(),
            peer: dialog.peer,
        });
        self.acked.push((to_tag, ack, dialog.peer));
        match self.state {
            DialState::Inviting { .. } if self.cancel.is_none() => {
                self.timers.clear();
                self.state = DialState::Answered;
                ctx.emit(Event::Answered {
                    call: self.id,
                    sdp_answer: sdp_of(resp),
                });
                self.handoff = Some(Call::outbound(self.id, dialog, resp.clone()));
            }
            DialState::Inviting { .. } | DialState::Cancelling => {
                // The 200-after-CANCEL race: the call is no longer wanted.
                self.timers.clear();
                self.state = DialState::Discarding;
                self.send_bye(&mut dialog, ctx);
            }
            // Another fork answered too (RFC 3261 §13.2.2.4): ACKed above, now BYE it.
            DialState::Answered | DialState::Discarding | DialState::Ended => {
                let (msg, branch) = dialog.request(Method::Bye, ctx);
                ctx.out.push(TuOutput::Request {
                    msg,
                    branch,
                    peer: dialog.peer,
                    purpose: Purpose::Orphan,
                });
            }
        }
    }

    fn send_bye(&mut self, dialog: &mut Dialog, ctx: &mut Ctx<'_>) {
        let (msg, branch) = dialog.request(Method::Bye, ctx);
        ctx.out.push(TuOutput::Request {
            msg,
            branch,
            peer: dialog.peer,
            purpose: Purpose::Bye,
        });
    }

    fn start_cancel(&mut self, cause: CancelCause, ctx: &mut Ctx<'_>) {
        if self.cancel.is_some() {
            return;
        }
        match self.state {
            DialState::Inviting { early } => {
                self.cancel = Some(cause);
                self.timers.stop(DialTimer::Ring);
                if early {
                    self.send_cancel(ctx);
                }
                // Otherwise the CANCEL waits for a provisional response (or Timer B ends it).
            }
            DialState::Cancelling
            | DialState::Answered
            | DialState::Discarding
            | DialState::Ended => {}
        }
    }

    /// CANCEL for the INVITE in flight (RFC 3261 §9.1): its Request-URI, Call-ID, From, To,
    /// CSeq number, Route and top Via (same branch).
    fn send_cancel(&mut self, ctx: &mut Ctx<'_>) {
        let mut msg = OutMessage {
            start_line: self.invite.start_line.replacen("INVITE", "CANCEL", 1),
            headers: Vec::new(),
            body: Vec::new(),
        };
        for (name, value) in &self.invite.headers {
            let keep = [
                "Via",
                "Max-Forwards",
                "From",
                "To",
                "Call-ID",
                "Route",
                "User-Agent",
            ];
            if keep.iter().any(|k| k.eq_ignore_ascii_case(name)) {
                msg.headers.push((name.clone(), value.clone()));
            } else if name.eq_ignore_ascii_case("CSeq") {
                msg.headers
                    .push((name.clone(), format!("{} CANCEL", self.cseq)));
            }
        }
        ctx.out.push(TuOutput::Request {
            msg,
            branch: self.branch.clone(),
            peer: self.invite_peer(),
            purpose: Purpose::Cancel,
        });
        self.state = DialState::Cancelling;
        self.timers
            .set(DialTimer::CancelWait, ctx.now + self.timers_cfg.t64());
    }

    /// A 401/407 to the current INVITE: a new INVITE with credentials, unless we have none,
    /// the same nonce was refused already, or too many rounds went by.
    fn retry_with_auth(&mut self, resp: &Inbound, status: u16, ctx: &mut Ctx<'_>) -> bool {
        if self.req.credentials.is_none() || self.auth_rounds >= MAX_AUTH_ROUNDS {
            return false;
        }
        let header = if status == 407 {
            "Proxy-Authenticate"
        } else {
            "WWW-Authenticate"
        };
        let Some(challenge) = resp
            .header_all(header)
            .into_iter()
            .find_map(|v| Challenge::parse(v).ok())
        else {
            return false;
        };
        if self.sent_nonce.as_deref() == Some(challenge.nonce.as_str()) && !challenge.stale {
            return false; // our answer to this very nonce was refused
        }
        self.auth_rounds += 1;
        self.digest = Some((DigestSession::new(challenge), status == 407));
        self.send_invite(ctx);
        true
    }

    fn send_invite(&mut self, ctx: &mut Ctx<'_>) {
        self.cseq += 1;
        self.branch = ctx.ids.branch();
        let display = self
            .req
            .from_display
            .as_deref()
            .map(|d| {
                d.chars()
                    .filter(|c| !c.is_control() && !matches!(c, '"' | '\\'))
                    .take(64)
                    .collect::<String>()
            })
            .filter(|d| !d.trim().is_empty())
            .map(|d| format!("\"{d}\" "))
            .unwrap_or_default();
        let from = format!("{display}<{}>;tag={}", self.req.from_uri, self.local_tag);
        let mut msg = build::request(
            Method::Invite,
            &self.req.target,
            &ctx.sent_by_on(self.req.transport),
            self.req.transport,
            &self.branch,
            &from,
            &format!("<{}>", self.req.target),
            &self.call_id,
            self.cseq,
        );
        for r in &self.req.route {
            msg = msg.header("Route", r.clone());
        }
        msg = msg
            .header(
                "Contact",
                contact_for(&self.req.from_uri, self.req.transport, ctx),
            )
            .header("Allow", build::ALLOW);
        if let (Some((session, _)), Some(creds)) = (&mut self.digest, &self.req.credentials) {
            let value = session.authorize(creds, "INVITE", &self.req.target, &ctx.ids.cnonce());
            self.sent_nonce = Some(session.challenge.nonce.clone());
            if let Some(name) = self.auth_name() {
                msg = msg.header(name, value);
            }
        }
        msg = msg.body("application/sdp", self.req.sdp_offer.as_bytes());
        self.invite = msg.clone();
        ctx.out.push(TuOutput::Invite {
            msg,
            branch: self.branch.clone(),
            peer: self.invite_peer(),
        });
    }

    fn auth_name(&self) -> Option<&'static str> {
        self.digest.as_ref().map(|(_, proxy)| {
            if *proxy {
                "Proxy-Authorization"
            } else {
                "Authorization"
            }
        })
    }

    /// The credentials header of the INVITE in flight (repeated in the 2xx ACK).
    fn auth_header(&self) -> Option<(&'static str, String)> {
        let name = self.auth_name()?;
        self.invite.get(name).map(|v| (name, v.to_string()))
    }

    fn invite_peer(&self) -> Peer {
        Peer {
            dest: self.req.next_hop,
            transport: self.req.transport,
        }
    }

    fn finish(
        &mut self,
        outcome: DialOutcome,
        status: Option<u16>,
        reason: &str,
        ctx: &mut Ctx<'_>,
    ) {
        if self.state == DialState::Ended || self.state == DialState::Answered {
            return;
        }
        self.state = DialState::Ended;
        self.timers.clear();
        ctx.emit(Event::Ended {
            call: self.id,
            reason: EndReason::NotConnected(DialEnd {
                outcome,
                status,
                reason: reason.to_string(),
            }),
        });
    }
}

fn reason_of(resp: &Inbound, status: u16) -> String {
    let phrase = resp
        .response()
        .and_then(|r| r.reason_phrase().map(str::to_string))
        .unwrap_or_else(|| build::reason_phrase(status).to_string());
    let phrase: String = phrase
        .chars()
        .filter(|c| !c.is_control())
        .take(80)
        .collect();
    format!("{status} {phrase}")
}

fn sdp_of(m: &Inbound) -> Option<String> {
    let is_sdp = m.content_type().is_some_and(|ct| ct == "application/sdp");
    (is_sdp && !m.body().is_empty()).then(|| String::from_utf8_lossy(m.body()).into_owned())
}

/// The ACK for a 3xx-6xx to `invite` (RFC 3261 §17.1.1.3): the INVITE's Request-URI, top Via,
/// From, Call-ID, CSeq number and Route; the To of the response (with its tag).
pub fn ack_for_failure(invite: &OutMessage, resp: &Inbound) -> Vec<u8> {
    let mut msg = OutMessage {
        start_line: invite.start_line.replacen("INVITE", "ACK", 1),
        headers: Vec::new(),
        body: Vec::new(),
    };
    let mut via_done = false;
    for (name, value) in &invite.headers {
        if name.eq_ignore_ascii_case("Via") {
            if !via_done {
                msg.headers.push((name.clone(), value.clone()));
                via_done = true;
            }
        } else if name.eq_ignore_ascii_case("To") {
            msg.headers.push((name.clone(), resp.core.to.raw.clone()));
        } else if name.eq_ignore_ascii_case("CSeq") {
            msg.headers
                .push((name.clone(), format!("{} ACK", resp.core.cseq.seq)));
        } else if ["Max-Forwards", "From", "Call-ID", "Route", "User-Agent"]
            .iter()
            .any(|k| k.eq_ignore_ascii_case(name))
        {
            msg.headers.push((name.clone(), value.clone()));
        }
    }
    msg.to_bytes()
}

#[cfg(test)]
#[path = "dial_tests.rs"]
mod tests;
