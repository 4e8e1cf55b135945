//! One call: its flow machine ([`crate::machine::Call`]), its media session and its SIP dialog,
//! pumped by one tokio task.
//!
//! Setup: route the dialled user (account flow, exact route, default flow; none → 404), bind an
//! RTP port (none free → 503), negotiate the SDP offer with the configured codec order (nothing
//! in common → 488), send the 200 OK and start the machine at once (`Input::Answered`; we do not
//! wait for the ACK). An INVITE without an offer gets our offer in the 200; the answer in the
//! ACK starts the media and the machine.
//!
//! Then one `select!` over: SIP events for this dialog, media events, finished side requests
//! (TTS, webhooks), the machine's timer and the drain deadline. Every input is followed by
//! draining the machine's actions (`CallTask::input`). Not owned here: what a node does (the
//! machine), RTP (the media task), SIP transactions (the endpoint).

use std::collections::{HashSet, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc;

pub mod deps;
pub mod route;

use deps::{CallDeps, SipDeps};

use super::endpoint_loop::{CallCmd, CallEvent, Incoming};
use super::media::{MediaEvent, MediaSession, RtpSocket};
use super::pii::Pii;
use super::rt::{recv_opt, sleep_opt};
use super::services::{self, NOT_CONFIGURED};
use super::status::CallView;
use crate::flow::program::Program;
use crate::machine::io::{Action, CallInfo, HangupReason, Input, Media, RequestId};
use crate::machine::Call as Machine;
use crate::sdp::{self, LocalMedia, Negotiated};
use crate::sip::event::{CallHandle, EndReason, TransferProgress};
use crate::sip::Event;

/// How long a blind transfer may take to report its outcome (REFER answer and a final NOTIFY)
/// before the flow is told it failed.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(60);

/// A finished side request, back from its task.
#[derive(Debug)]
enum Done {
    Tts {
        id: RequestId,
        result: Result<std::path::PathBuf, String>,
    },
    Http {
        id: RequestId,
        result: Result<crate::machine::io::HttpReply, String>,
    },
}

/// Runs one call to its end.
pub async fn run(deps: Arc<CallDeps>, sip: Arc<SipDeps>, inc: Incoming) {
    let call = inc.call;
    let to = inc.to_user.clone().unwrap_or_default();
    let Some(program) = deps.router.route(&to, Some(inc.source)) else {
        tracing::warn!(%call, to = %Pii(&to), "no flow for this number and no default flow: 404");
        sip.endpoint.call(call, CallCmd::Reject(404));
        return;
    };
    let socket = match sip.ports.allocate() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(%call, error = %e, "no RTP port: 503");
            sip.endpoint.call(call, CallCmd::Reject(503));
            return;
        }
    };
    let port = socket.socket.local_addr().map_or(0, |a| a.port());
    let mut local = LocalMedia::new(sip.address.for_peer(inc.source), port, session_id(call));
    local.codecs = sip.codecs.clone();
    tracing::info!(
        %call, from = %Pii(&inc.from), to = %Pii(&to), flow = %program.name,
        version = %program.short_hash(), "incoming call"
    );
    // Decide the SDP before ringing, so a caller we cannot talk to gets its 488 at once.
    let plan = match inc.sdp_offer.as_deref() {
        Some(offer) => answer_offer(offer, &local).map(|(sdp, neg)| (sdp, Some(neg))),
        None => sdp::create_offer(&local)
            .map(|o| (o.to_string(), None))
            .map_err(|e| format!("cannot make an SDP offer: {e}")),
    };
    let (sdp, neg) = match plan {
        Ok(p) => p,
        Err(why) => {
            tracing::warn!(%call, reason = %why, "cannot use the caller's SDP offer: 488");
            sip.endpoint.call(call, CallCmd::Reject(488));
            return;
        }
    };
    let mut inc = inc;
    if !ring(&sip, &mut inc).await {
        tracing::info!(%call, "caller gave up while ringing");
        return;
    }
    let mut task = CallTask::new(deps, sip, call, program, &inc, local);
    task.cmd(CallCmd::Answer(sdp));
    match neg {
        Some(neg) => {
            task.start_media(socket, neg).await;
            task.start_flow();
        }
        // Offerless INVITE: media and the flow start when the ACK brings the answer.
        None => task.pending_socket = Some(socket),
    }
    task.run(inc.events).await;
}

/// Sends 180 and waits `answer_delay` (if configured); `false` when the call ended meanwhile
/// (CANCEL: the endpoint already answered 487).
async fn ring(sip: &SipDeps, inc: &mut Incoming) -> bool {
    let delay = sip.answer_delay;
    if delay.is_zero() {
        return true;
    }
    sip.endpoint.call(inc.call, CallCmd::Ringing);
    let until = tokio::time::Instant::now() + delay;
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(until) => return true,
            ev = inc.events.recv() => match ev {
                Some(CallEvent::Sip(Event::Ended { .. })) | None => return false,
                Some(_) => {}
            },
        }
    }
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

struct CallTask {
    deps: Arc<CallDeps>,
    sip: Arc<SipDeps>,
    call: CallHandle,
    machine: Machine,
    local: LocalMedia,
    media: Option<MediaSession>,
    media_rx: Option<mpsc::UnboundedReceiver<MediaEvent>>,
    /// RTP socket held until an offerless INVITE's answer arrives in the ACK.
    pending_socket: Option<RtpSocket>,
    /// Inputs produced while executing actions (immediate failures).
    pending: VecDeque<Input>,
    /// Requests the machine abandoned (a late result is dropped).
    cancelled: HashSet<RequestId>,
    transfer: Option<RequestId>,
    /// Give up on a transfer whose outcome (NOTIFY with a final status) has not come by then.
    transfer_deadline: Option<Instant>,
    done_tx: mpsc::UnboundedSender<Done>,
    done_rx: mpsc::UnboundedReceiver<Done>,
    /// The SIP dialog is over (BYE sent or received, or never answered).
    sip_over: bool,
    started: bool,
}

impl CallTask {
    fn new(
        deps: Arc<CallDeps>,
        sip: Arc<SipDeps>,
        call: CallHandle,
        program: Arc<Program>,
        inc: &Incoming,
        local: LocalMedia,
    ) -> CallTask {
        let env = program
            .env
            .iter()
            .filter_map(|k| std::env::var(k).ok().map(|v| (k.clone(), v)))
            .collect();
        let info = CallInfo {
            id: call.to_string(),
            from: user_or_uri(&inc.from),
            to: inc.to_user.clone().unwrap_or_else(|| inc.to.clone()),
            env,
        };
        let view = CallView {
            id: call.to_string(),
            flow: program.name.clone(),
            version: program.short_hash().to_string(),
            node: String::new(),
            theme: String::new(),
            since: SystemTime::now(),
        };
        deps.calls.insert(view);
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        CallTask {
            machine: Machine::new(program, info),
            deps,
            sip,
            call,
            local,
            media: None,
            media_rx: None,
            pending_socket: None,
            pending: VecDeque::new(),
            cancelled: HashSet::new(),
            transfer: None,
            transfer_deadline: None,
            done_tx,
            done_rx,
            sip_over: false,
            started: false,
        }
    }

    fn cmd(&self, c: CallCmd) {
        self.sip.endpoint.call(self.call, c);
    }

    async fn start_media(&mut self, socket: RtpSocket, neg: Negotiated) {
        let remote = neg
            .remote
            .unwrap_or(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)));
        tracing::info!(call = %self.call, codec = %neg.codec, %remote,
            telephone_event = neg.telephone_event.is_some(), "media");
        let hold = !neg.direction.sends();
        let started = MediaSession::start(
            self.sip.media.clone(),
            socket,
            remote,
            neg,
            self.sip.prompts.clone(),
        )
        .await;
        let (session, rx) = match started {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(call = %self.call, error = %e, "cannot start media: hanging up");
                self.hangup_sip();
                self.input(Input::Hangup);
                return;
            }
        };
        if hold {
            session.set_hold(true);
        }
        self.media = Some(session);
        self.media_rx = Some(rx);
    }

    fn start_flow(&mut self) {
        if !self.started {
            self.started = true;
            self.input(Input::Answered);
        }
    }

    fn finish(self) {
        self.deps.calls.remove(&self.call.to_string());
    }

    async fn run(mut self, mut sip: mpsc::UnboundedReceiver<CallEvent>) {
        let mut hangup_all = self.deps.hangup_all.clone();
        while !self.machine.is_ended() || !self.started {
            let deadline = self.machine.poll_timeout();
            tokio::select! {
                ev = sip.recv() => match ev {
                    Some(ev) => self.on_sip(ev).await,
                    None => {
                        self.sip_over = true;
                        self.input(Input::Hangup);
                    }
                },
                ev = recv_opt(&mut self.media_rx) => match ev {
                    Some(ev) => self.on_media(ev),
                    None => self.media_rx = None,
                },
                Some(done) = self.done_rx.recv() => self.on_done(done),
                () = sleep_opt(deadline) => self.input(Input::Timeout),
                () = sleep_opt(self.transfer_deadline) => {
                    self.transfer_deadline = None;
                    if let Some(id) = self.transfer.take() {
                        tracing::warn!(call = %self.call, "transfer: no outcome in time");
                        let result = Err(format!("no outcome within {}s", TRANSFER_TIMEOUT.as_secs()));
                        self.input(Input::TransferResult { id, result });
                    }
                }
                Ok(()) = hangup_all.changed() => {
                    if *hangup_all.borrow() {
                        tracing::info!(call = %self.call, "drain timeout: hanging up");
                        self.hangup_sip();
                        self.input(Input::Hangup);
                    }
                }
            }
            if self.sip_over && !self.started {
                break;
            }
        }
        tracing::info!(call = %self.call, "call ended");
        self.finish();
    }

    async fn on_sip(&mut self, ev: CallEvent) {
        let ev = match ev {
            CallEvent::Sip(ev) => ev,
            CallEvent::Refused {
                cmd: CallCmd::Transfer(_),
                error,
            } => {
                let reason = format!("refused: {error}");
                return self.on_transfer(TransferProgress::Failed { status: 0, reason });
            }
            CallEvent::Refused { .. } => return,
        };
        match ev {
            Event::CallConfirmed { .. } => tracing::debug!(call = %self.call, "ACK"),
            Event::SdpAnswer { sdp, .. } => self.on_sdp_answer(&sdp).await,
            Event::Reoffer { sdp_offer, .. } => self.on_reoffer(sdp_offer.as_deref()),
            Event::Dtmf { digit, .. } => match &self.media {
                Some(m) => m.dtmf_from_info(digit),
                None => self.input(Input::Dtmf(digit)),
            },
            Event::Transfer { progress, .. } => self.on_transfer(progress),
            Event::Ended { reason, .. } => {
                self.sip_over = true;
                tracing::info!(call = %self.call, reason = ?reason, "dialog ended");
                if !matches!(reason, EndReason::LocalBye { .. }) {
                    self.input(Input::Hangup);
                }
            }
            _ => {}
        }
    }

    async fn on_sdp_answer(&mut self, text: &str) {
        let neg = sdp::parse(text)
            .map_err(|e| e.to_string())
            .and_then(|d| sdp::process_answer(&d, &self.local).map_err(|e| e.to_string()));
        match neg {
            Ok(neg) => {
                if let Some(socket) = self.pending_socket.take() {
                    self.start_media(socket, neg).await;
                    self.start_flow();
                } else if let Some(m) = &self.media {
                    self.apply_remote(m, neg);
                }
            }
            Err(e) => {
                tracing::warn!(call = %self.call, error = %e, "unusable SDP answer in ACK: hanging up");
                self.hangup_sip();
                self.input(Input::Hangup);
            }
        }
    }

    fn apply_remote(&self, m: &MediaSession, neg: Negotiated) {
        let remote = neg
            .remote
            .unwrap_or(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)));
        let hold = !neg.direction.sends();
        tracing::info!(call = %self.call, codec = %neg.codec, %remote, hold, "media updated");
        m.update_remote(remote, neg);
        m.set_hold(hold);
    }

    fn on_reoffer(&mut self, offer: Option<&str>) {
        self.local.session_version += 1;
        match offer {
            Some(offer) => match answer_offer(offer, &self.local) {
                Ok((sdp, neg)) => {
                    self.cmd(CallCmd::AnswerReoffer(sdp));
                    if let Some(m) = &self.media {
                        self.apply_remote(m, neg);
                    }
                }
                Err(why) => {
                    tracing::warn!(call = %self.call, reason = %why, "re-INVITE refused: 488");
                    self.cmd(CallCmd::RejectReoffer(488));
                }
            },
            None => match sdp::create_offer(&self.local) {
                Ok(o) => self.cmd(CallCmd::AnswerReoffer(o.to_string())),
                Err(_) => self.cmd(CallCmd::RejectReoffer(488)),
            },
        }
    }

    fn on_transfer(&mut self, progress: TransferProgress) {
        tracing::info!(call = %self.call, progress = ?progress, "transfer");
        let Some(id) = self.transfer else { return };
        let result = match progress {
            TransferProgress::Succeeded => Ok(()),
            // `reason` already reads like `486 Busy Here`.
            TransferProgress::Failed { reason, .. } => Err(reason),
            TransferProgress::Accepted | TransferProgress::Trying { .. } => return,
        };
        self.transfer = None;
        self.transfer_deadline = None;
        self.input(Input::TransferResult { id, result });
    }

    fn on_media(&mut self, ev: MediaEvent) {
        match ev {
            MediaEvent::PlaybackFinished(id) => self.input(Input::PlaybackFinished(id)),
            MediaEvent::PlaybackFailed { id, reason } => {
                tracing::warn!(call = %self.call, error = %reason, "playback failed");
                self.input(Input::PlaybackFailed {
                    id,
                    reason: reason.to_string(),
                });
            }
            MediaEvent::Dtmf { digit, method } => {
                tracing::info!(call = %self.call, digit = %digit, method = ?method, "dtmf");
                self.input(Input::Dtmf(digit));
            }
            MediaEvent::RtpTimeout => {
                tracing::warn!(call = %self.call, timeout = ?self.sip.media.rtp_timeout,
                    "no RTP from the caller: hanging up");
                self.hangup_sip();
                self.input(Input::Hangup);
            }
            MediaEvent::RemoteAddr(addr) => {
                tracing::debug!(call = %self.call, %addr, "RTP now goes where the caller sends from");
            }
        }
    }

    fn on_done(&mut self, done: Done) {
        match done {
            Done::Tts { id, result } => {
                if self.cancelled.remove(&id) {
                    return;
                }
                match (result, &self.media) {
                    (Ok(path), Some(m)) => m.play(id, Media::File(path)),
                    (Ok(_), None) => self.input(Input::PlaybackFailed {
                        id,
                        reason: "no media session".into(),
                    }),
                    (Err(reason), _) => {
                        tracing::error!(call = %self.call, error = %reason, "say failed");
                        self.input(Input::PlaybackFailed { id, reason });
                    }
                }
            }
            Done::Http { id, result } => {
                if self.cancelled.remove(&id) {
                    return;
                }
                if let Err(e) = &result {
                    tracing::warn!(call = %self.call, error = %e, "webhook failed");
                }
                self.input(Input::HttpResponse { id, result });
            }
        }
    }

    /// Feeds one input, then executes actions until the machine is quiet.
    fn input(&mut self, input: Input) {
        if !self.started && !matches!(input, Input::Answered) {
            return;
        }
        self.pending.push_back(input);
        while let Some(i) = self.pending.pop_front() {
            if self.machine.is_ended() {
                self.pending.clear();
                break;
            }
            self.machine.handle(i, Instant::now());
            while let Some(a) = self.machine.poll_action() {
                self.execute(a);
            }
        }
        self.update_view();
    }

    fn update_view(&self) {
        let node = self
            .machine
            .current_node()
            .and_then(|n| self.machine.program().nodes.get(n.0 as usize))
            .map(|n| n.name.clone())
            .unwrap_or_default();
        self.deps
            .calls
            .update(&self.call.to_string(), &node, self.machine.theme());
    }

    fn hangup_sip(&mut self) {
        if !self.sip_over {
            self.sip_over = true;
            self.cmd(CallCmd::Hangup);
        }
    }

    fn execute(&mut self, action: Action) {
        let call = self.call;
        match action {
            Action::Play { id, media } => match &self.media {
                Some(m) => m.play(id, media),
                None => self.pending.push_back(Input::PlaybackFailed {
                    id,
                    reason: "no media session".into(),
                }),
            },
            Action::Stop { id } => {
                if let Some(m) = &self.media {
                    m.stop(id);
                }
                self.cancelled.insert(id);
            }
            Action::Say { id, text, voice } => {
                let dir = self.deps.services.tts_dir.clone();
                let tx = self.done_tx.clone();
                tokio::spawn(async move {
                    let result = services::synthesize(&dir, &text, voice.as_deref())
                        .await
                        .map_err(|e| e.to_string());
                    let _ = tx.send(Done::Tts { id, result });
                });
            }
            Action::Theme { name } => tracing::info!(%call, theme = %name, "theme"),
            Action::Http(req) => {
                let client = self.deps.services.http.clone();
                let tx = self.done_tx.clone();
                tokio::spawn(async move {
                    let id = req.id;
                    let result = services::http(&client, &req).await;
                    let _ = tx.send(Done::Http { id, result });
                });
            }
            Action::Listen { id, .. } => {
                tracing::warn!(%call, "listen: speech recognition is {NOT_CONFIGURED}");
                let result = Err(NOT_CONFIGURED.to_string());
                self.pending.push_back(Input::Speech { id, result });
            }
            Action::Agent { id, .. } => {
                tracing::warn!(%call, "agent: voice agents are {NOT_CONFIGURED}");
                let result = Err(NOT_CONFIGURED.to_string());
                self.pending.push_back(Input::AgentEnded { id, result });
            }
            Action::Stream { id, .. } => {
                tracing::warn!(%call, "stream: bot streams are {NOT_CONFIGURED}");
                let result = Err(NOT_CONFIGURED.to_string());
                self.pending.push_back(Input::StreamEnded { id, result });
            }
            Action::Record { id, .. } => {
                tracing::warn!(%call, "record: recording is {NOT_CONFIGURED}");
                let result = Err(NOT_CONFIGURED.to_string());
                self.pending.push_back(Input::RecordFinished { id, result });
            }
            Action::Cancel { id } => {
                self.cancelled.insert(id);
            }
            Action::FinishRecording { .. } => {}
            Action::Transfer { id, target } => {
                tracing::info!(%call, target = %Pii(&target), "blind transfer (REFER)");
                self.transfer = Some(id);
                self.transfer_deadline = Some(Instant::now() + TRANSFER_TIMEOUT);
                self.cmd(CallCmd::Transfer(target));
            }
            Action::Hangup { reason } => {
                tracing::info!(%call, reason = %reason.as_str(), "flow ended the call");
                if reason != HangupReason::Remote {
                    self.hangup_sip();
                }
                self.media = None;
            }
            Action::Warn { node, message } => {
                tracing::warn!(%call, node = %node, "{message}");
            }
        }
    }
}

/// `sip:+15550001@pbx;tag` → `+15550001` (the caller's number for templates), else the URI.
fn user_or_uri(uri: &str) -> String {
    crate::sip::message::uri_user(uri)
        .map(str::to_string)
        .unwrap_or_else(|| uri.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn local() -> LocalMedia {
        let mut l = LocalMedia::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 40000, 7);
        l.codecs = vec![crate::sdp::Codec::Pcma, crate::sdp::Codec::Pcmu];
        l
    }

    const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\n\
                         m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n";

    #[test]
    fn the_answer_follows_our_codec_order_and_points_at_our_port() {
        let (sdp, neg) = answer_offer(OFFER, &local()).unwrap();
        assert_eq!(neg.codec, crate::sdp::Codec::Pcma);
        assert_eq!(neg.remote, Some("192.0.2.9:4000".parse().unwrap()));
        assert!(sdp.contains("m=audio 40000 RTP/AVP 8 101"), "{sdp}");
    }

    #[test]
    fn unusable_offers_say_why() {
        let g722 = OFFER.replace("0 8 101", "9");
        assert!(answer_offer(&g722, &local())
            .unwrap_err()
            .contains("no common codec"));
        assert!(answer_offer("garbage", &local())
            .unwrap_err()
            .contains("unreadable SDP"));
    }

    #[test]
    fn the_caller_is_the_user_part_of_from() {
        assert_eq!(user_or_uri("sip:+15550001@pbx.example.com"), "+15550001");
        assert_eq!(user_or_uri("sip:pbx.example.com"), "sip:pbx.example.com");
    }
}
