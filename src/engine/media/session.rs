//! One call's media: a tokio task owning the RTP socket, and the [`MediaSession`] handle the SIP
//! runtime drives it with.
//!
//! The task waits on four things at once: a datagram, a command from the handle, a prompt the
//! cache finished loading (or a stream's first frame), and one timer set to the earliest of the
//! pacer's next packet, the next RFC 4733 packet to send and the RTP timeout. The pacer
//! ([`crate::media::pacer`]) decides when packets are due and numbers them on the absolute 20 ms
//! schedule; this task only sleeps until then and sends. Symmetric RTP: the first valid RTP
//! packet from the caller fixes where we send (and later ones from a new address with the same
//! SSRC, a NAT rebinding); a re-INVITE ([`MediaSession::update_remote`]) resets that. Dropping
//! the handle stops the task.

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::codec::silence_frame;
use super::playout::{Item, Next, Playout, Source};
use super::ports::{PortLease, RtpSocket};
use super::prompts::{Prompt, PromptCache, PromptError};
use super::receive::Receive;
use super::stream::{self, AbortOnDrop, StreamMsg};
use super::{IdleAudio, MediaConfig, MediaEvent};
use crate::flow::digit::Digit;
use crate::machine::io::{Media, RequestId};
use crate::media::pacer::{Pacer, PacerConfig};
use crate::media::rfc4733::{self, EventPacket};
use crate::media::rtp::{self, PayloadType, RtpError, RtpHeader};
use crate::sdp::{Codec, Negotiated};

/// Handle to one call's media task. Dropping it stops the task and frees the port.
#[derive(Debug)]
pub struct MediaSession {
    cmd: mpsc::UnboundedSender<Command>,
    local: SocketAddr,
    _task: AbortOnDrop,
}

#[derive(Debug)]
enum Command {
    Play(RequestId, Media),
    Stop(RequestId),
    SendDtmf(Digit),
    InfoDigit(Digit),
    UpdateRemote(SocketAddr, Negotiated),
    Hold(bool),
}

impl MediaSession {
    /// Starts the task for a call whose SDP negotiation gave `neg`; RTP goes to `remote` until
    /// the caller's own packets say otherwise. An unspecified `remote` (0.0.0.0) sends nothing
    /// until the first packet arrives. Must be called inside a tokio runtime.
    pub async fn start(
        cfg: MediaConfig,
        socket: impl Into<RtpSocket>,
        remote: SocketAddr,
        neg: Negotiated,
        prompts: Arc<PromptCache>,
    ) -> (MediaSession, mpsc::UnboundedReceiver<MediaEvent>) {
        let RtpSocket { socket, lease } = socket.into();
        let local = socket
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let task = Task::new(cfg, socket, lease, remote, neg, prompts, ev_tx);
        let handle = tokio::spawn(task.run(cmd_rx));
        (
            MediaSession {
                cmd: cmd_tx,
                local,
                _task: AbortOnDrop(handle),
            },
            ev_rx,
        )
    }

    /// Queues a prompt; it plays after those queued before it. `PlaybackFinished(id)` follows
    /// its last frame, or `PlaybackFailed` if it cannot be played.
    pub fn play(&self, id: RequestId, media: Media) {
        self.send(Command::Play(id, media));
    }

    /// Barge-in: drops the prompt (playing or queued); no frame of it is sent after the one
    /// in flight, and no event follows.
    pub fn stop(&self, id: RequestId) {
        self.send(Command::Stop(id));
    }

    /// Sends a key as RFC 4733 events (nothing if the peer has no telephone-event).
    pub fn send_dtmf(&self, digit: Digit) {
        self.send(Command::SendDtmf(digit));
    }

    /// A key the SIP layer received by INFO: merged with the RTP-borne ones.
    pub fn dtmf_from_info(&self, digit: Digit) {
        self.send(Command::InfoDigit(digit));
    }

    /// A re-INVITE changed the remote address, codec or direction.
    pub fn update_remote(&self, remote: SocketAddr, neg: Negotiated) {
        self.send(Command::UpdateRemote(remote, neg));
    }

    /// On hold: nothing is sent and the RTP timeout is suspended.
    pub fn set_hold(&self, on: bool) {
        self.send(Command::Hold(on));
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    fn send(&self, c: Command) {
        // Fails only when the task has ended (it never ends while the handle lives, unless
        // the runtime is shutting down): nothing left to do then.
        let _ = self.cmd.send(c);
    }
}

type Loaded = (RequestId, Result<Prompt, Arc<PromptError>>);

struct Task {
    cfg: MediaConfig,
    socket: UdpSocket,
    /// The same socket (a dup'd descriptor) for sending without tokio's readiness tracking:
    /// tokio reports a fresh socket not yet writable until its reactor has seen it, which
    /// would drop the first packet; a UDP send never needs to wait.
    sender: Option<std::net::UdpSocket>,
    _lease: Option<PortLease>,
    /// Where we send; `None` until known.
    remote: Option<SocketAddr>,
    /// The caller's RTP source and SSRC once a packet arrived (symmetric RTP).
    latched: Option<(SocketAddr, u32)>,
    neg: Negotiated,
    prompts: Arc<PromptCache>,
    events: mpsc::UnboundedSender<MediaEvent>,
    pending_events: Vec<MediaEvent>,
    pacer: Pacer,
    playout: Playout,
    receive: Receive,
    dtmf_out: VecDeque<EventPacket>,
    /// Nothing is sent: [`MediaSession::set_hold`] or an SDP direction that does not send.
    hold: bool,
    hold_requested: bool,
    last_rx: Instant,
    timed_out: bool,
    loaded_tx: mpsc::UnboundedSender<Loaded>,
    loaded_rx: mpsc::UnboundedReceiver<Loaded>,
    out: Vec<u8>,
    rx_buf: Box<[u8; 2048]>,
}

/// What woke the task.
enum Wake {
    Datagram(std::io::Result<(usize, SocketAddr)>),
    Command(Option<Command>),
    Loaded(Loaded),
    Stream(Option<StreamMsg>),
    Timer,
}

fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

fn random_u64() -> u64 {
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

fn new_pacer(neg: &Negotiated, sequence: Option<u16>) -> Pacer {
    let r = random_u64();
    let pt = PayloadType::new(neg.payload_type).unwrap_or(PayloadType::PCMU);
    Pacer::new(PacerConfig::new(
        (r >> 32) as u32,
        pt,
        neg.codec.clock_rate(),
        sequence.unwrap_or(r as u16),
        (r >> 16) as u32,
    ))
}

/// Fetches `path` from the cache and reports it on `tx`.
fn load(
    prompts: &Arc<PromptCache>,
    tx: &mpsc::UnboundedSender<Loaded>,
    codec: Codec,
    id: RequestId,
    path: &Path,
) -> AbortOnDrop {
    let (prompts, tx, path) = (prompts.clone(), tx.clone(), path.to_owned());
    AbortOnDrop(tokio::spawn(async move {
        let r = prompts.get(&path, codec).await;
        let _ = tx.send((id, r));
    }))
}

fn usable(addr: SocketAddr) -> Option<SocketAddr> {
    (!addr.ip().is_unspecified() && addr.port() != 0).then_some(addr)
}

impl Task {
    fn new(
        cfg: MediaConfig,
        socket: UdpSocket,
        lease: Option<PortLease>,
        remote: SocketAddr,
        neg: Negotiated,
        prompts: Arc<PromptCache>,
        events: mpsc::UnboundedSender<MediaEvent>,
    ) -> Task {
        let (loaded_tx, loaded_rx) = mpsc::unbounded_channel();
        let receive = Receive::new(&neg, cfg.inband_dtmf, cfg.jitter_capacity, cfg.jitter_depth);
        Task {
            pacer: new_pacer(&neg, None),
            hold: !neg.direction.sends(),
            hold_requested: false,
            remote: usable(remote),
            latched: None,
            receive,
            neg,
            cfg,
            sender: socket
                .as_fd()
                .try_clone_to_owned()
                .map(std::net::UdpSocket::from)
                .ok(),
            socket,
            _lease: lease,
            prompts,
            events,
            pending_events: Vec::new(),
            playout: Playout::default(),
            dtmf_out: VecDeque::new(),
            last_rx: now(),
            timed_out: false,
            loaded_tx,
            loaded_rx,
            out: Vec::with_capacity(1500),
            rx_buf: Box::new([0; 2048]),
        }
    }

    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let sleep = tokio::time::sleep_until(tokio::time::Instant::now());
        tokio::pin!(sleep);
        self.pump(now());
        loop {
            let deadline = self.deadline();
            sleep
                .as_mut()
                .reset(tokio::time::Instant::from_std(deadline));
            let head_stream = self.playout.waiting_stream();
            let wake = tokio::select! {
                r = self.socket.recv_from(&mut self.rx_buf[..]) => Wake::Datagram(r),
                c = commands.recv() => Wake::Command(c),
                Some(l) = self.loaded_rx.recv() => Wake::Loaded(l),
                m = async {
                    match head_stream {
                        Some(rx) => rx.recv().await,
                        None => std::future::pending().await,
                    }
                } => Wake::Stream(m),
                () = &mut sleep => Wake::Timer,
            };
            let t = now();
            match wake {
                Wake::Datagram(Ok((len, src))) => self.datagram(len, src, t),
                Wake::Datagram(Err(e)) => {
                    // ICMP port unreachable from a previous send shows up here on Linux.
                    tracing::debug!(error = %e, "RTP receive error");
                }
                Wake::Command(None) => break,
                Wake::Command(Some(c)) => self.command(c, t),
                Wake::Loaded((id, r)) => self.playout.loaded(id, r, &mut self.pending_events),
                Wake::Stream(m) => self.playout.stream_message(m),
                Wake::Timer => {}
            }
            self.pump(now());
        }
        let methods = self.receive.methods_seen();
        if !methods.is_empty() {
            tracing::info!(?methods, "DTMF methods used in this call");
        }
    }

    /// Starts a talkspurt if there is something to send, sends what is due, reports events.
    fn pump(&mut self, t: Instant) {
        if !self.pacer.is_active()
            && (self.playout.head_ready() || self.cfg.idle == IdleAudio::Silence)
        {
            self.pacer.start(t);
        }
        self.timers(t);
        for e in self.pending_events.drain(..) {
            // The receiver is gone only when the call is being torn down.
            let _ = self.events.send(e);
        }
    }

    fn deadline(&self) -> Instant {
        let far = now() + std::time::Duration::from_secs(3600);
        let mut d = self.pacer.poll_timeout().unwrap_or(far);
        if let Some(p) = self.dtmf_out.front() {
            d = d.min(p.send_at);
        }
        if !self.timed_out && !self.hold {
            d = d.min(self.last_rx + self.cfg.rtp_timeout);
        }
        d
    }

    fn timers(&mut self, t: Instant) {
        if !self.timed_out && !self.hold && t >= self.last_rx + self.cfg.rtp_timeout {
            self.timed_out = true;
            self.pending_events.push(MediaEvent::RtpTimeout);
        }
        while self.dtmf_out.front().is_some_and(|p| p.send_at <= t) {
            if let Some(p) = self.dtmf_out.pop_front() {
                self.send_event_packet(p);
            }
        }
        while self.pacer.poll_timeout().is_some_and(|due| due <= t) {
            let (frame, finished) = match self
                .playout
                .next_frame(self.neg.codec, &mut self.pending_events)
            {
                Next::Frame { frame, finished } => (frame, finished),
                Next::Idle if self.cfg.idle == IdleAudio::Silence => {
                    (silence_frame(self.neg.codec), None)
                }
                Next::Idle => {
                    self.pacer.stop();
                    break;
                }
            };
            let Some(slot) = self.pacer.poll_slot(t) else {
                break;
            };
            self.send_rtp(&slot.header, frame.payload());
            if let Some(id) = finished {
                self.pending_events.push(MediaEvent::PlaybackFinished(id));
            }
        }
    }

    fn send_rtp(&mut self, header: &RtpHeader, payload: &[u8]) {
        let Some(remote) = self.remote else { return };
        if self.hold {
            return;
        }
        self.out.clear();
        header.write(payload, &mut self.out);
        let sent = match &self.sender {
            Some(s) => s.send_to(&self.out, remote),
            None => self.socket.try_send_to(&self.out, remote),
        };
        if let Err(e) = sent {
            tracing::debug!(error = %e, %remote, "RTP send failed");
        }
    }

    fn send_event_packet(&mut self, p: EventPacket) {
        let Some(te) = self.neg.telephone_event else {
            return;
        };
        let Some(pt) = PayloadType::new(te.payload_type) else {
            return;
        };
        let header = RtpHeader {
            payload_type: pt,
            marker: p.marker,
            sequence: self.pacer.take_sequence(),
            timestamp: p.timestamp,
            ssrc: self.pacer.config().ssrc,
        };
        self.send_rtp(&header, &p.payload.to_bytes());
    }

    fn datagram(&mut self, len: usize, src: SocketAddr, t: Instant) {
        let data = &self.rx_buf[..len.min(self.rx_buf.len())];
        let packet = match rtp::parse(data) {
            Ok(p) => p,
            Err(RtpError::Rtcp { packet_type }) => {
                tracing::trace!(packet_type, %src, "RTCP ignored");
                return;
            }
            Err(e) => {
                tracing::debug!(error = %e, %src, "not RTP, ignored");
                return;
            }
        };
        if !self.receive.expects(packet.header.payload_type.get()) {
            tracing::trace!(
                pt = packet.header.payload_type.get(),
                "unexpected payload type"
            );
            return;
        }
        let ssrc = packet.header.ssrc;
        match self.latched {
            None => {
                self.latched = Some((src, ssrc));
                if self.remote != Some(src) {
                    self.remote = Some(src);
                    self.pending_events.push(MediaEvent::RemoteAddr(src));
                }
            }
            Some((addr, _)) if addr == src => {}
            Some((_, latched_ssrc)) if latched_ssrc == ssrc => {
                // Same stream, new source address: the caller's NAT rebound.
                self.latched = Some((src, ssrc));
                self.remote = Some(src);
                self.pending_events.push(MediaEvent::RemoteAddr(src));
            }
            Some(_) => {
                tracing::debug!(%src, "RTP from an unknown source ignored");
                return;
            }
        }
        self.last_rx = t;
        self.timed_out = false;
        for a in self.receive.packet(&packet, t) {
            tracing::debug!(digit = %a.digit, method = %a.method, "dtmf");
            self.pending_events.push(MediaEvent::Dtmf {
                digit: a.digit,
                method: a.method,
            });
        }
    }

    fn command(&mut self, c: Command, t: Instant) {
        match c {
            Command::Play(id, Media::File(path)) => {
                let task = self.load(id, &path);
                self.playout.push(Item {
                    id,
                    path: Some(path),
                    source: Source::Loading {
                        _task: task,
                        resume_at: 0,
                    },
                });
            }
            Command::Play(id, Media::Url(url)) => {
                let (rx, task) = stream::spawn(url, self.neg.codec, &self.cfg.stream);
                self.playout.push(Item {
                    id,
                    path: None,
                    source: Source::stream(rx, task, self.cfg.stream.prebuffer_frames),
                });
            }
            Command::Stop(id) => {
                // Barge-in: with nothing ready to follow, the talkspurt ends now, so the
                // response prompt starts at once (marker set) instead of at the next 20 ms slot.
                if self.playout.stop(id)
                    && !self.playout.head_ready()
                    && self.cfg.idle == IdleAudio::Nothing
                {
                    self.pacer.stop();
                }
            }
            Command::SendDtmf(digit) => self.queue_dtmf(digit, t),
            Command::InfoDigit(digit) => {
                if let Some(a) = self.receive.info_digit(digit, t) {
                    self.pending_events.push(MediaEvent::Dtmf {
                        digit: a.digit,
                        method: a.method,
                    });
                }
            }
            Command::UpdateRemote(remote, neg) => self.update_remote(remote, neg),
            Command::Hold(on) => {
                self.hold_requested = on;
                self.hold = on || !self.neg.direction.sends();
                self.last_rx = t;
                self.timed_out = false;
            }
        }
    }

    fn load(&self, id: RequestId, path: &Path) -> AbortOnDrop {
        load(&self.prompts, &self.loaded_tx, self.neg.codec, id, path)
    }

    fn queue_dtmf(&mut self, digit: Digit, t: Instant) {
        let Some(te) = self.neg.telephone_event else {
            tracing::warn!(%digit, "peer has no telephone-event: digit not sent");
            return;
        };
        // Durations count in the telephone-event clock; the timestamp stays on the stream's
        // clock so one SSRC has one timeline (baresip pairs opus/48000 with
        // telephone-event/8000). After a digit still being sent, leave a 50 ms gap.
        let start = self
            .dtmf_out
            .back()
            .map_or(t, |p| p.send_at + rfc4733::UPDATE_INTERVAL)
            .max(t);
        let ts = self.pacer.timestamp_at(start);
        self.dtmf_out.extend(rfc4733::send_digit(
            digit,
            start,
            ts,
            te.clock_rate,
            self.cfg.dtmf_duration,
            rfc4733::DEFAULT_VOLUME,
        ));
    }

    fn update_remote(&mut self, remote: SocketAddr, neg: Negotiated) {
        let codec_changed =
            neg.codec != self.neg.codec || neg.payload_type != self.neg.payload_type;
        self.remote = usable(remote).or(self.remote);
        self.latched = None;
        self.hold = self.hold_requested || !neg.direction.sends();
        self.receive.renegotiated(&neg);
        if codec_changed {
            let next_seq = self.pacer.take_sequence();
            self.pacer = new_pacer(&neg, Some(next_seq));
            self.neg = neg;
            let (prompts, tx, codec) = (&self.prompts, &self.loaded_tx, self.neg.codec);
            self.playout.codec_changed(
                |id, path| load(prompts, tx, codec, id, path),
                &mut self.pending_events,
            );
        } else {
            self.neg = neg;
        }
    }
}
