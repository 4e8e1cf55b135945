//! The SIP leg: one incoming SIP dialog and its RTP media session.
//!
//! Answering: bind an RTP port (none free → 503), negotiate the SDP offer with the configured
//! codec order (nothing in common → 488), ring for `answer_delay` if set (a CANCEL meanwhile
//! ends it), send the 200 OK and start the media at once ([`LegEvent::Answered`]; we do not
//! wait for the ACK). An INVITE without an offer gets our offer in the 200; the answer in the
//! ACK starts the media and then `Answered`.
//!
//! Mid-call it answers re-INVITEs itself (hold, codec change, offerless refresh), merges SIP INFO
//! keys with the RTP-borne ones, and maps REFER progress to one transfer outcome. It hangs up
//! itself when the caller sends no RTP ([`LegEnd::NoMedia`]) or its media session dies
//! ([`LegEnd::MediaLost`]): a call never waits forever for a prompt that will not finish.
//!
//! Not owned here: SIP transactions and dialog rules (the endpoint and [`crate::sip::call`],
//! reached through [`EndpointHandle`]), RTP (the media workers, through [`MediaSession`]), and
//! anything about flows.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;

use super::{LegCmd, LegEnd, LegEvent, LegInfo, Reject};
use crate::engine::audio_port::AudioFormat;
use crate::engine::endpoint_loop::{CallCmd, CallEvent, EndpointHandle, Incoming};
use crate::engine::media::{
    live, DtmfMethod, MediaConfig, MediaEvent, MediaPeer, MediaSession, PromptCache,
    RtpPortAllocator, RtpSocket,
};
use crate::engine::net::MediaAddress;
use crate::engine::rt::recv_opt;
use crate::machine::io::RequestId;
use crate::policy::inbound::SharedInbound;
use crate::sdp::{self, Codec, LocalMedia, Negotiated, Sdes, SrtpPolicy};
use crate::sip::event::{CallHandle, EndReason, TransferProgress};
use crate::sip::Event;

#[path = "sip_out.rs"]
mod out;
pub use out::{DialTimes, OutboundCall};

/// What every SIP leg of the server shares.
pub struct SipDeps {
    pub endpoint: EndpointHandle,
    pub ports: RtpPortAllocator,
    pub prompts: Arc<PromptCache>,
    pub media: MediaConfig,
    /// Codec preference order for SDP answers and offers.
    pub codecs: Vec<Codec>,
    /// Ring (180) this long before answering.
    pub answer_delay: Duration,
    pub address: MediaAddress,
    /// The SIP address we advertise (an SDP pointing at it is refused).
    pub sip_addr: SocketAddr,
    /// Who may call (`sip.allow`); calls from listed sources are trusted for media latching.
    pub inbound: SharedInbound,
    /// `srtp: off | optional | required` for answers and offers (SDES keys per call).
    pub srtp: SrtpPolicy,
}

/// One incoming SIP call.
pub struct SipLeg {
    call: CallHandle,
    info: LegInfo,
    deps: Arc<SipDeps>,
    events: mpsc::UnboundedReceiver<CallEvent>,
    /// The INVITE's offer, until answered.
    offer: Option<String>,
    local: Option<LocalMedia>,
    /// The RTP socket, held until an offerless INVITE's answer arrives in the ACK.
    pending_socket: Option<RtpSocket>,
    media: Option<MediaSession>,
    media_rx: Option<mpsc::UnboundedReceiver<MediaEvent>>,
    /// The codec in use (decides the format of audio ports).
    codec: Option<Codec>,
    /// The ACK came (the SDP address may count as verified for media latching).
    confirmed: bool,
    /// Events decided but not yet handed out.
    pending: VecDeque<LegEvent>,
    /// The transfer in flight (its outcome is reported under this id).
    transfer: Option<RequestId>,
    /// The dialog is over on our side (BYE sent or received, rejected, cancelled).
    sip_over: bool,
    /// `Ended` has been queued: nothing more is reported.
    ended: bool,
    /// The INVITE's final status and when it rang (for the call register).
    final_status: Option<u16>,
    ringing_at: Option<std::time::Instant>,
}

impl std::fmt::Debug for SipLeg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SipLeg")
            .field("call", &self.call)
            .field("sip_over", &self.sip_over)
            .finish()
    }
}

impl SipLeg {
    /// The leg of a new INVITE.
    pub fn new(inc: Incoming, deps: Arc<SipDeps>) -> SipLeg {
        let info = LegInfo {
            id: inc.call.to_string(),
            from: user_or_uri(&inc.from),
            to: inc.to_user.clone().unwrap_or_else(|| inc.to.clone()),
            dialled: inc.to_user.clone(),
            source: Some(inc.source),
            flow: None,
            params: Default::default(),
        };
        SipLeg {
            call: inc.call,
            info,
            deps,
            events: inc.events,
            offer: inc.sdp_offer,
            local: None,
            pending_socket: None,
            media: None,
            media_rx: None,
            codec: None,
            confirmed: false,
            pending: VecDeque::new(),
            transfer: None,
            sip_over: false,
            ended: false,
            final_status: None,
            ringing_at: None,
        }
    }

    pub fn info(&self) -> &LegInfo {
        &self.info
    }

    pub fn reject(mut self, why: Reject) {
        let status = match why {
            Reject::NoRoute => 404,
        };
        self.refuse(status);
    }

    fn refuse(&mut self, status: u16) {
        self.final_status = Some(status);
        self.sip_over = true;
        self.cmd(CallCmd::Reject(status));
    }

    /// See [`super::Leg::answer`].
    pub async fn answer(&mut self) -> Result<(), LegEnd> {
        let call = self.call;
        let socket = match self.deps.ports.allocate() {
            Ok(s) => s,
            Err(e) => {
                // Once per few seconds, not once per refused call (a flood at the limit).
                if let Some(suppressed) = crate::engine::log_limit::global().allow("no rtp port") {
                    tracing::error!(%call, error = %e, suppressed, "no RTP port: 503");
                }
                self.refuse(503);
                return Err(LegEnd::Failed(format!("no RTP port: {e}")));
            }
        };
        let port = socket.socket.local_addr().map_or(0, |a| a.port());
        let source = self
            .info
            .source
            .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)));
        let mut local = LocalMedia::new(self.deps.address.for_peer(source), port, session_id(call));
        local.codecs = self.deps.codecs.clone();
        let sip_addr = self.deps.sip_addr;
        local.refuse = vec![sip_addr, SocketAddr::new(local.address, sip_addr.port())];
        local.srtp = match Sdes::new(self.deps.srtp) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(%call, error = %e, "no randomness for an SRTP key: 503");
                self.refuse(503);
                return Err(LegEnd::Failed(format!("no SRTP key: {e}")));
            }
        };
        // Decide the SDP before ringing, so a caller we cannot talk to gets its 488 at once.
        let plan = match self.offer.take() {
            Some(offer) => answer_offer(&offer, &local).map(|(sdp, neg)| (sdp, Some(neg))),
            None => sdp::create_offer(&local)
                .map(|o| (o.to_string(), None))
                .map_err(|e| format!("cannot make an SDP offer: {e}")),
        };
        let (sdp, neg) = match plan {
            Ok(p) => p,
            Err(why) => {
                tracing::warn!(%call, reason = %why, "cannot use the caller's SDP offer: 488");
                self.refuse(488);
                return Err(LegEnd::Failed(why));
            }
        };
        self.local = Some(local);
        if !self.ring().await {
            tracing::info!(%call, "caller gave up while ringing");
            self.final_status = Some(487);
            self.sip_over = true;
            return Err(LegEnd::Remote);
        }
        self.cmd(CallCmd::Answer(sdp));
        self.final_status = Some(200);
        match neg {
            Some(neg) => self.start_media(socket, neg)?,
            // Offerless INVITE: media and the flow start when the ACK brings the answer.
            None => self.pending_socket = Some(socket),
        }
        Ok(())
    }

    /// Sends 180 and waits `answer_delay` (if configured); `false` when the call ended meanwhile
    /// (CANCEL: the endpoint already answered 487).
    async fn ring(&mut self) -> bool {
        let delay = self.deps.answer_delay;
        if delay.is_zero() {
            return true;
        }
        self.cmd(CallCmd::Ringing);
        self.ringing_at = Some(std::time::Instant::now());
        let until = tokio::time::Instant::now() + delay;
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(until) => return true,
                ev = self.events.recv() => match ev {
                    Some(CallEvent::Sip(Event::Ended { .. })) | None => return false,
                    Some(_) => {}
                },
            }
        }
    }

    /// See [`super::Leg::facts`].
    pub fn facts(&self) -> super::LegFacts {
        super::LegFacts {
            codec: self.codec.map(|c| c.to_string()),
            final_status: self.final_status,
            ringing_at: self.ringing_at,
        }
    }

    /// See [`super::Leg::audio_format`].
    pub fn audio_format(&self) -> AudioFormat {
        self.codec.map_or(AudioFormat::NARROWBAND, live::format_for)
    }

    /// See [`super::Leg::next_event`]. Only the two `recv`s await, so it is cancel-safe.
    pub async fn next_event(&mut self) -> LegEvent {
        loop {
            if let Some(ev) = self.pending.pop_front() {
                return ev;
            }
            if self.ended {
                return std::future::pending().await;
            }
            tokio::select! {
                ev = self.events.recv() => self.on_call_event(ev),
                ev = recv_opt(&mut self.media_rx) => self.on_media(ev),
            }
        }
    }

    /// See [`super::Leg::command`].
    pub fn command(&mut self, cmd: LegCmd) {
        match cmd {
            LegCmd::Play { id, media } => match &self.media {
                Some(m) => m.play(id, media),
                None => self.pending.push_back(LegEvent::PlaybackFailed {
                    id,
                    reason: "no media session".into(),
                }),
            },
            LegCmd::Stop { id } => {
                if let Some(m) = &self.media {
                    m.stop(id);
                }
            }
            LegCmd::SendDtmf(digit) => {
                if let Some(m) = &self.media {
                    m.send_dtmf(digit);
                }
            }
            LegCmd::Transfer { id, target } => {
                self.transfer = Some(id);
                self.cmd(CallCmd::Transfer(target));
            }
            LegCmd::AttachAudio { id, tap } => match &self.media {
                Some(m) => m.attach(id, tap),
                // No media: dropping the tap tells the integration at once.
                None => drop(tap),
            },
            LegCmd::DetachAudio { id } => {
                if let Some(m) = &self.media {
                    m.detach(id);
                }
            }
            LegCmd::Hangup => {
                self.hangup_sip();
                self.media = None;
                self.media_rx = None;
            }
        }
    }

    fn cmd(&self, c: CallCmd) {
        self.deps.endpoint.call(self.call, c);
    }

    fn hangup_sip(&mut self) {
        if !self.sip_over {
            self.sip_over = true;
            self.cmd(CallCmd::Hangup);
        }
    }

    /// Queues the end of the leg (once), hanging up first if we still have a dialog.
    fn end(&mut self, how: LegEnd) {
        self.hangup_sip();
        self.media = None;
        self.media_rx = None;
        if !self.ended {
            self.ended = true;
            self.pending.push_back(LegEvent::Ended(how));
        }
    }

    fn start_media(&mut self, socket: RtpSocket, neg: Negotiated) -> Result<(), LegEnd> {
        let call = self.call;
        let remote = neg
            .remote
            .unwrap_or(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)));
        tracing::info!(%call, codec = %neg.codec, %remote,
            telephone_event = neg.telephone_event.is_some(),
            srtp = neg.srtp.as_ref().map(|k| k.suite.name()), "media");
        let hold = !neg.direction.sends();
        self.codec = Some(neg.codec);
        let deps = &self.deps;
        let ip = self.info.source.map_or(remote.ip(), |s| s.ip());
        let peer = MediaPeer {
            confirmed: self.confirmed,
            ..MediaPeer::unconfirmed(neg.remote, ip, deps.inbound.trusts(ip))
        };
        let started =
            MediaSession::open(deps.media.clone(), socket, peer, neg, deps.prompts.clone());
        let (session, rx) = match started {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(%call, error = %e, "cannot start media: hanging up");
                self.end(LegEnd::Failed(format!("cannot start media: {e}")));
                return Err(LegEnd::Failed(format!("cannot start media: {e}")));
            }
        };
        if hold {
            session.set_hold(true);
        }
        self.media = Some(session);
        self.media_rx = Some(rx);
        self.pending.push_back(LegEvent::Answered);
        Ok(())
    }

    fn on_call_event(&mut self, ev: Option<CallEvent>) {
        let call = self.call;
        let ev = match ev {
            Some(CallEvent::Sip(ev)) => ev,
            Some(CallEvent::Refused { cmd, error }) => {
                tracing::debug!(%call, ?cmd, %error, "refused");
                if let (CallCmd::Transfer(_), Some(id)) = (cmd, self.transfer.take()) {
                    self.pending.push_back(LegEvent::TransferResult {
                        id,
                        result: Err(format!("refused: {error}")),
                    });
                }
                return;
            }
            // The endpoint loop is gone (shutdown): the dialog with it.
            None => {
                self.sip_over = true;
                return self.end(LegEnd::Failed("the SIP endpoint stopped".into()));
            }
        };
        match ev {
            Event::CallConfirmed { .. } => {
                tracing::debug!(%call, "ACK");
                self.confirmed = true;
                if let Some(m) = &self.media {
                    m.confirm();
                }
            }
            Event::SdpAnswer { sdp, .. } => self.on_sdp_answer(&sdp),
            Event::Reoffer { sdp_offer, .. } => self.on_reoffer(sdp_offer.as_deref()),
            Event::Dtmf { digit, .. } => match &self.media {
                Some(m) => m.dtmf_from_info(digit),
                None => self.pending.push_back(LegEvent::Dtmf {
                    digit,
                    method: DtmfMethod::SipInfo,
                }),
            },
            Event::Transfer { progress, .. } => self.on_transfer(progress),
            Event::Ended { reason, .. } => {
                self.sip_over = true;
                tracing::info!(%call, reason = ?reason, "dialog ended");
                let how = match reason {
                    EndReason::RemoteBye | EndReason::Cancelled => LegEnd::Remote,
                    EndReason::LocalBye { .. } => LegEnd::Local,
                    EndReason::Rejected(s) => LegEnd::Failed(format!("rejected with {s}")),
                    EndReason::AckTimeout => LegEnd::Failed("no ACK for our 200".into()),
                    EndReason::SessionExpired => LegEnd::Failed("the session timer expired".into()),
                    EndReason::NotConnected(d) => LegEnd::Failed(d.reason),
                };
                self.end(how);
            }
            Event::IncomingCall { .. }
            | Event::Progress { .. }
            | Event::Answered { .. }
            | Event::OptionsResult { .. }
            | Event::Registration { .. } => {}
        }
    }

    fn on_sdp_answer(&mut self, text: &str) {
        let Some(local) = &self.local else { return };
        let neg = sdp::parse(text)
            .map_err(|e| e.to_string())
            .and_then(|d| sdp::process_answer(&d, local).map_err(|e| e.to_string()));
        match neg {
            Ok(neg) => {
                if let Some(socket) = self.pending_socket.take() {
                    let _ = self.start_media(socket, neg);
                } else if let Some(m) = &self.media {
                    self.codec = Some(neg.codec);
                    apply_remote(self.call, m, neg);
                }
            }
            Err(e) => {
                tracing::warn!(call = %self.call, error = %e, "unusable SDP answer in ACK: hanging up");
                self.end(LegEnd::Failed(format!("unusable SDP answer: {e}")));
            }
        }
    }

    fn on_reoffer(&mut self, offer: Option<&str>) {
        let Some(local) = self.local.as_mut() else {
            return self.cmd(CallCmd::RejectReoffer(488));
        };
        local.session_version += 1;
        let reply = match offer {
            Some(offer) => match answer_offer(offer, local) {
                Ok((sdp, neg)) => {
                    self.codec = Some(neg.codec);
                    if let Some(m) = &self.media {
                        apply_remote(self.call, m, neg);
                    }
                    CallCmd::AnswerReoffer(sdp)
                }
                Err(why) => {
                    tracing::warn!(call = %self.call, reason = %why, "re-INVITE refused: 488");
                    CallCmd::RejectReoffer(488)
                }
            },
            None => match sdp::create_offer(local) {
                Ok(o) => CallCmd::AnswerReoffer(o.to_string()),
                Err(_) => CallCmd::RejectReoffer(488),
            },
        };
        self.cmd(reply);
    }

    fn on_transfer(&mut self, progress: TransferProgress) {
        tracing::info!(call = %self.call, progress = ?progress, "transfer");
        let result = match progress {
            TransferProgress::Succeeded => Ok(()),
            // `reason` already reads like `486 Busy Here`.
            TransferProgress::Failed { reason, .. } => Err(reason),
            TransferProgress::Accepted | TransferProgress::Trying { .. } => return,
        };
        if let Some(id) = self.transfer.take() {
            self.pending
                .push_back(LegEvent::TransferResult { id, result });
        }
    }

    fn on_media(&mut self, ev: Option<MediaEvent>) {
        let call = self.call;
        let Some(ev) = ev else {
            // The session is gone while the call is up (we drop `media_rx` with the session
            // when we end it): a panic in the media worker dropped it. Nothing will ever finish
            // a prompt again, so end the call rather than hang.
            self.media_rx = None;
            if !self.ended {
                tracing::error!(%call, "media session lost: hanging up");
                self.end(LegEnd::MediaLost);
            }
            return;
        };
        let out = match ev {
            MediaEvent::PlaybackFinished(id) => LegEvent::PlaybackFinished(id),
            MediaEvent::PlaybackFailed { id, reason } => {
                tracing::warn!(%call, error = %reason, "playback failed");
                LegEvent::PlaybackFailed {
                    id,
                    reason: reason.to_string(),
                }
            }
            MediaEvent::Dtmf { digit, method } => LegEvent::Dtmf { digit, method },
            MediaEvent::RtpTimeout => {
                tracing::warn!(%call, timeout = ?self.deps.media.rtp_timeout,
                    "no RTP from the caller: hanging up");
                return self.end(LegEnd::NoMedia);
            }
            MediaEvent::RemoteAddr(addr) => {
                tracing::debug!(%call, %addr, "RTP now goes where the caller sends from");
                return;
            }
        };
        self.pending.push_back(out);
    }
}

impl Drop for SipLeg {
    /// A leg dropped with its dialog still up (its call's task ended abnormally) hangs up, so
    /// the caller is not left in a silent call.
    fn drop(&mut self) {
        self.hangup_sip();
    }
}

fn apply_remote(call: CallHandle, m: &MediaSession, neg: Negotiated) {
    let remote = neg
        .remote
        .unwrap_or(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)));
    let hold = !neg.direction.sends();
    tracing::info!(%call, codec = %neg.codec, %remote, hold, "media updated");
    m.update_remote(remote, neg);
    m.set_hold(hold);
}

fn answer_offer(offer: &str, local: &LocalMedia) -> Result<(String, Negotiated), String> {
    let parsed = sdp::parse(offer).map_err(|e| format!("unreadable SDP: {e}"))?;
    let answer = sdp::negotiate(&parsed, local).map_err(|e| e.to_string())?;
    Ok((answer.sdp.to_string(), answer.negotiated))
}

fn session_id(call: CallHandle) -> u64 {
    let t = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    t.wrapping_mul(1000).wrapping_add(call.0)
}

/// `sip:+15550001@pbx;tag` → `+15550001` (the caller's number for templates), else the URI.
fn user_or_uri(uri: &str) -> String {
    crate::sip::message::uri_user(uri)
        .map(str::to_string)
        .unwrap_or_else(|| uri.to_string())
}

#[cfg(test)]
#[path = "sip_tests.rs"]
mod tests;
