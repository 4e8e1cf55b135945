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

use super::endpoint_loop::{CallCmd, Cmd, Incoming};
use super::media::{MediaEvent, MediaPeer, MediaSession, RtpSocket};
use super::pii::Pii;
use super::server::{lock, Shared};
use super::services::{self, NOT_CONFIGURED};
use crate::flow::program::Program;
use crate::machine::io::{Action, CallInfo, HangupReason, Input, Media, RequestId};
use crate::machine::Call as Machine;
use crate::policy::counters::{self, Counters};
use crate::policy::transfer;
use crate::register::CallTrace;
use crate::sdp::{self, LocalMedia, Negotiated};
use crate::sip::event::{CallId, EndReason, TransferProgress};
use crate::sip::Event;

/// How long a blind transfer may take to report its outcome (REFER answer and a final NOTIFY)
/// before the flow is told it failed.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(60);

/// A live call as `/api/calls` shows it.
#[derive(Debug, Clone)]
pub struct CallView {
    pub id: String,
    pub flow: String,
    pub version: String,
    pub node: String,
    pub theme: String,
    pub since: SystemTime,
}

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
pub async fn run(shared: Arc<Shared>, inc: Incoming) {
    let call = inc.call;
    let to = inc.to_user.clone().unwrap_or_default();
    let mut trace = CallTrace::start(
        &shared.register,
        crate::db::calls::Direction::Inbound,
        &user_or_uri(&inc.from),
        &to,
        Instant::now(),
    );
    let Some(program) = route(&shared, &to, inc.source) else {
        tracing::warn!(%call, to = %Pii(&to), "no flow for this number and no default flow: 404");
        send(&shared, call, CallCmd::Reject(404));
        trace.end(Instant::now(), "rejected:no_route", Some(404));
        return;
    };
    trace.set_flow(&program.name, short(&program.hash));
    if let Some(a) = shared.accounts.iter().find(|a| a.username == to) {
        trace.set_account(&a.username);
    }
    let socket = match shared.ports.allocate() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(%call, error = %e, "no RTP port: 503");
            send(&shared, call, CallCmd::Reject(503));
            trace.end(Instant::now(), "rejected:no_rtp_port", Some(503));
            return;
        }
    };
    let port = socket.socket.local_addr().map_or(0, |a| a.port());
    let mut local = LocalMedia::new(shared.media_ip(inc.source), port, session_id(call));
    local.codecs = shared.cfg.codecs.clone();
    local.refuse = vec![
        shared.sip_addr,
        SocketAddr::new(local.address, shared.sip_addr.port()),
    ];
    tracing::info!(
        %call, from = %Pii(&inc.from), to = %Pii(&to), flow = %program.name,
        version = %short(&program.hash), "incoming call"
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
            send(&shared, call, CallCmd::Reject(488));
            trace.end(Instant::now(), "rejected:bad_sdp", Some(488));
            return;
        }
    };
    let mut inc = inc;
    if !shared.cfg.answer_delay.is_zero() {
        trace.ringing(Instant::now());
    }
    if !ring(&shared, &mut inc).await {
        tracing::info!(%call, "caller gave up while ringing");
        trace.end(Instant::now(), "cancelled", Some(487));
        return;
    }
    let mut task = CallTask::new(shared, call, program, &inc, local, trace);
    task.signalling = (inc.source.ip(), task.shared.inbound.trusts(inc.source.ip()));
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
async fn ring(shared: &Shared, inc: &mut Incoming) -> bool {
    let delay = shared.cfg.answer_delay;
    if delay.is_zero() {
        return true;
    }
    send(shared, inc.call, CallCmd::Ringing);
    let until = tokio::time::Instant::now() + delay;
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(until) => return true,
            ev = inc.events.recv() => match ev {
                Some(Event::Ended { .. }) | None => return false,
                Some(_) => {}
            },
        }
    }
}

/// The flow for a call to `to` from `source`, first match wins:
/// 1. the flow of the account whose username is the To user;
/// 2. the flow whose `routes` list `to`;
/// 3. the flow of the only account registered at the address the INVITE came from (a PBX puts
///    the dialled DID, not the extension, in To);
/// 4. the default flow.
fn route(shared: &Shared, to: &str, source: SocketAddr) -> Option<Arc<Program>> {
    let snap = shared.registry.snapshot();
    let programs = || snap.flows.iter().filter_map(|e| e.program.as_ref());
    let by_name = |name: &str| {
        let p = programs().find(|p| p.name == name).cloned();
        if p.is_none() {
            tracing::warn!(flow = %name, "the account's flow is not loaded");
        }
        p
    };
    let accounts = &shared.accounts;
    if let Some(name) = accounts
        .iter()
        .find(|a| a.username == to)
        .and_then(|a| a.flow.as_deref())
    {
        if let Some(p) = by_name(name) {
            return Some(p);
        }
    }
    if let Some(p) = programs().find(|p| p.routes.iter().any(|r| r == to)) {
        return Some(p.clone());
    }
    let mut from_pbx = accounts
        .iter()
        .filter(|a| a.registrar_ip == Some(source.ip()));
    if let (Some(a), None) = (from_pbx.next(), from_pbx.next()) {
        if let Some(p) = a.flow.as_deref().and_then(by_name) {
            return Some(p);
        }
    }
    snap.route(to)
}

fn answer_offer(offer: &str, local: &LocalMedia) -> Result<(String, Negotiated), String> {
    let parsed = sdp::parse(offer).map_err(|e| format!("unreadable SDP: {e}"))?;
    let answer = sdp::negotiate(&parsed, local).map_err(|e| e.to_string())?;
    Ok((answer.sdp.to_string(), answer.negotiated))
}

fn session_id(call: CallId) -> u64 {
    let t = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    t.wrapping_mul(1000).wrapping_add(call.0)
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

fn send(shared: &Shared, call: CallId, c: CallCmd) {
    // Fails only when the endpoint loop is gone (shutdown): nothing left to tell.
    let _ = shared.endpoint.send(Cmd::Call(call, c));
}

struct CallTask {
    shared: Arc<Shared>,
    call: CallId,
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
    /// A transfer asked for before the ACK: REFER needs a confirmed dialog.
    deferred_transfer: Option<String>,
    confirmed: bool,
    /// The INVITE's source IP and whether `sip.allow` lists it (media latching, see
    /// `engine::media::latch`).
    signalling: (std::net::IpAddr, bool),
    done_tx: mpsc::UnboundedSender<Done>,
    done_rx: mpsc::UnboundedReceiver<Done>,
    /// The SIP dialog is over (BYE sent or received, or never answered).
    sip_over: bool,
    started: bool,
    /// The call's register record.
    trace: CallTrace,
    /// Why the call ended, for the register (the first cause seen wins).
    end_reason: Option<&'static str>,
}

impl CallTask {
    fn new(
        shared: Arc<Shared>,
        call: CallId,
        program: Arc<Program>,
        inc: &Incoming,
        local: LocalMedia,
        trace: CallTrace,
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
            version: short(&program.hash).to_string(),
            node: String::new(),
            theme: String::new(),
            since: SystemTime::now(),
        };
        lock(&shared.calls).insert(call.0, view);
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        CallTask {
            machine: Machine::new(program, info),
            shared,
            call,
            local,
            media: None,
            media_rx: None,
            pending_socket: None,
            pending: VecDeque::new(),
            cancelled: HashSet::new(),
            transfer: None,
            transfer_deadline: None,
            deferred_transfer: None,
            confirmed: false,
            signalling: (Ipv4Addr::UNSPECIFIED.into(), false),
            done_tx,
            done_rx,
            sip_over: false,
            started: false,
            trace,
            end_reason: None,
        }
    }

    fn ended_because(&mut self, reason: &'static str) {
        self.end_reason.get_or_insert(reason);
    }

    fn cmd(&self, c: CallCmd) {
        send(&self.shared, self.call, c);
    }

    async fn start_media(&mut self, socket: RtpSocket, neg: Negotiated) {
        let remote = neg
            .remote
            .unwrap_or(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)));
        tracing::info!(call = %self.call, codec = %neg.codec, %remote,
            telephone_event = neg.telephone_event.is_some(), "media");
        self.trace.answered(Instant::now(), &neg.codec.to_string());
        let hold = !neg.direction.sends();
        let peer = MediaPeer {
            confirmed: self.confirmed,
            ..MediaPeer::unconfirmed(neg.remote, self.signalling.0, self.signalling.1)
        };
        let started = MediaSession::start(
            self.shared.media.clone(),
            socket,
            peer,
            neg,
            self.shared.prompts.clone(),
        )
        .await;
        let (session, rx) = match started {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(call = %self.call, error = %e, "cannot start media: hanging up");
                self.ended_because("media_failed");
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
        lock(&self.shared.calls).remove(&self.call.0);
        let CallTask {
            mut trace,
            machine,
            end_reason,
            ..
        } = self;
        trace.set_vars(machine.vars());
        trace.end(Instant::now(), end_reason.unwrap_or("ended"), None);
    }

    async fn run(mut self, mut sip: mpsc::UnboundedReceiver<Event>) {
        let mut hangup_all = self.shared.hangup_all.clone();
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
                        self.ended_because("shutdown");
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

    async fn on_sip(&mut self, ev: Event) {
        match ev {
            Event::CallConfirmed { .. } => {
                tracing::debug!(call = %self.call, "ACK");
                self.confirmed = true;
                if let Some(m) = &self.media {
                    m.confirm();
                }
                if let Some(target) = self.deferred_transfer.take() {
                    self.cmd(CallCmd::Transfer(target));
                }
            }
            Event::SdpAnswer { sdp, .. } => self.on_sdp_answer(&sdp).await,
            Event::Reoffer { sdp_offer, .. } => self.on_reoffer(sdp_offer.as_deref()),
            Event::Dtmf { digit, .. } => match &self.media {
                Some(m) => m.dtmf_from_info(digit),
                None => self.input(Input::Dtmf(digit)),
            },
            Event::Transfer { progress, .. } => self.on_transfer(progress),
            Event::Ended { reason, .. } => {
                self.sip_over = true;
                self.ended_because(match reason {
                    EndReason::RemoteBye => "caller_hangup",
                    EndReason::LocalBye { .. } => "flow_hangup",
                    EndReason::Cancelled => "cancelled",
                    EndReason::Rejected(_) => "rejected",
                    EndReason::AckTimeout => "ack_timeout",
                    EndReason::SessionExpired => "session_expired",
                });
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
                self.ended_because("bad_sdp");
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
                tracing::warn!(call = %self.call, timeout = ?self.shared.cfg.rtp_timeout,
                    "no RTP from the caller: hanging up");
                self.ended_because("rtp_timeout");
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
            let now = Instant::now();
            self.trace.input(now, &i);
            self.machine.handle(i, now);
            let node = self.node_name();
            self.trace
                .observe(now, node.as_deref(), self.machine.theme());
            while let Some(a) = self.machine.poll_action() {
                self.trace.action(now, &a);
                self.execute(a);
            }
        }
        self.update_view();
    }

    fn node_name(&self) -> Option<String> {
        self.machine
            .current_node()
            .and_then(|n| self.machine.program().nodes.get(n.0 as usize))
            .map(|n| n.name.clone())
    }

    fn update_view(&self) {
        let node = self.node_name().unwrap_or_default();
        if let Some(v) = lock(&self.shared.calls).get_mut(&self.call.0) {
            v.node = node;
            v.theme = self.machine.theme().to_string();
        }
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
                let dir = self.shared.tts_dir.clone();
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
                let client = self.shared.http.clone();
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
                let origin =
                    transfer::origin_of(self.machine.program(), self.machine.current_node());
                if let Err(why) = self.shared.cfg.security.transfer.check(&target, origin) {
                    tracing::warn!(%call, target = %Pii(&target), reason = %why, "transfer refused");
                    Counters::bump(&counters::global().transfer_refused);
                    let result = Err(why.to_string());
                    return self.pending.push_back(Input::TransferResult { id, result });
                }
                tracing::info!(%call, target = %Pii(&target), "blind transfer (REFER)");
                self.transfer = Some(id);
                self.transfer_deadline = Some(Instant::now() + TRANSFER_TIMEOUT);
                if self.confirmed {
                    self.cmd(CallCmd::Transfer(target));
                } else {
                    self.deferred_transfer = Some(target);
                }
            }
            Action::Hangup { reason } => {
                tracing::info!(%call, reason = %reason.as_str(), "flow ended the call");
                self.ended_because(match reason {
                    HangupReason::Remote => "caller_hangup",
                    HangupReason::Transferred => "transferred",
                    _ => "flow_hangup",
                });
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

async fn recv_opt<T>(rx: &mut Option<mpsc::UnboundedReceiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_opt(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(tokio::time::Instant::from_std(t)).await,
        None => std::future::pending().await,
    }
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
