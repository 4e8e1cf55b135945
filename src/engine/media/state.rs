//! One call's media state, driven by the media worker that owns it ([`super::worker`]).
//!
//! A [`Session`] never waits and never reads the clock: the worker hands it datagrams,
//! commands from the call's [`super::MediaSession`] handle, prompts the cache finished loading,
//! and the time; it answers with packets sent on its socket, [`MediaEvent`]s for the call, and
//! [`Session::deadline`], the next instant it needs the worker's attention (the pacer's next
//! packet, the next RFC 4733 packet, the RTP timeout, a stream still filling). The pacer
//! ([`crate::media::pacer`]) decides when packets are due and numbers them on the absolute 20 ms
//! schedule. Symmetric RTP: the first valid RTP packet from the caller fixes where we send (and
//! later ones from a new address with the same SSRC, a NAT rebinding); a re-INVITE
//! ([`Command::UpdateRemote`]) resets that.

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher};
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::{self, error::TryRecvError};

use super::codec::silence_frame;
use super::live::LiveOut;
use super::playout::{Item, Next, Playout, Source};
use super::poller::RecvBatch;
use super::ports::PortLease;
use super::prompts::{Prompt, PromptCache, PromptError};
use super::receive::Receive;
use super::stream::{self, AbortOnDrop};
use super::worker::{Link, Msg};
use super::{IdleAudio, MediaConfig, MediaEvent};
use crate::engine::audio_port::AudioTap;
use crate::flow::digit::Digit;
use crate::machine::io::{Media, RequestId};
use crate::media::pacer::{Pacer, PacerConfig};
use crate::media::rfc4733::{self, EventPacket};
use crate::media::rtp::{self, PayloadType, RtpError, RtpHeader};
use crate::sdp::{Codec, Negotiated};

/// How often a stream still filling its prebuffer is looked at.
const STREAM_POLL: Duration = Duration::from_millis(5);
/// Batches read from one socket per worker pass (fairness between calls).
const MAX_BATCHES: usize = 4;

/// What the call's handle asks of its session.
#[derive(Debug)]
pub(super) enum Command {
    Play(RequestId, Media),
    Stop(RequestId),
    SendDtmf(Digit),
    InfoDigit(Digit),
    UpdateRemote(SocketAddr, Negotiated),
    Hold(bool),
    /// An integration's port joins the call's audio (both ways).
    Attach(RequestId, AudioTap),
    Detach(RequestId),
    /// Live audio arrived while the pacer was idle (nothing else to do: a pump follows).
    Wake,
}

/// Everything [`Session::new`] needs.
pub(super) struct Setup {
    pub cfg: MediaConfig,
    pub socket: UdpSocket,
    pub lease: Option<PortLease>,
    pub remote: SocketAddr,
    pub neg: Negotiated,
    pub prompts: Arc<PromptCache>,
    pub events: mpsc::UnboundedSender<MediaEvent>,
    /// Where prompt loads and stream downloads run.
    pub runtime: tokio::runtime::Handle,
}

pub(super) struct Session {
    cfg: MediaConfig,
    socket: UdpSocket,
    _lease: Option<PortLease>,
    link: Link,
    runtime: tokio::runtime::Handle,
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
    /// Nothing is sent: [`Command::Hold`] or an SDP direction that does not send.
    hold: bool,
    hold_requested: bool,
    last_rx: Instant,
    timed_out: bool,
    out: Vec<u8>,
    /// The instant the worker's timer queue holds for this session, if any.
    pub scheduled: Option<Instant>,
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

/// Fetches `path` from the cache on `runtime` and posts the result to the session's worker.
fn load(
    runtime: &tokio::runtime::Handle,
    prompts: &Arc<PromptCache>,
    link: &Link,
    codec: Codec,
    id: RequestId,
    path: &Path,
) -> AbortOnDrop {
    let (prompts, link, path) = (prompts.clone(), link.clone(), path.to_owned());
    AbortOnDrop(runtime.spawn(async move {
        let r = prompts.get(&path, codec).await;
        link.post(Msg::Loaded(link.id(), id, r));
    }))
}

fn usable(addr: SocketAddr) -> Option<SocketAddr> {
    (!addr.ip().is_unspecified() && addr.port() != 0).then_some(addr)
}

impl Session {
    pub fn new(s: Setup, link: Link, now: Instant) -> Session {
        let receive = Receive::new(
            &s.neg,
            s.cfg.inband_dtmf,
            s.cfg.jitter_capacity,
            s.cfg.jitter_depth,
        );
        Session {
            pacer: new_pacer(&s.neg, None),
            hold: !s.neg.direction.sends(),
            hold_requested: false,
            remote: usable(s.remote),
            latched: None,
            receive,
            neg: s.neg,
            cfg: s.cfg,
            socket: s.socket,
            _lease: s.lease,
            link,
            runtime: s.runtime,
            prompts: s.prompts,
            events: s.events,
            pending_events: Vec::new(),
            playout: Playout::default(),
            dtmf_out: VecDeque::new(),
            last_rx: now,
            timed_out: false,
            out: Vec::with_capacity(1500),
            scheduled: None,
        }
    }

    pub fn id(&self) -> u64 {
        self.link.id()
    }

    pub fn socket(&self) -> &UdpSocket {
        &self.socket
    }

    /// The call is over: the end-of-call log line.
    pub fn close(&self) {
        let methods = self.receive.methods_seen();
        if !methods.is_empty() {
            tracing::info!(?methods, "DTMF methods used in this call");
        }
    }

    /// The next instant [`Session::pump`] has something to do.
    pub fn deadline(&self, now: Instant) -> Instant {
        let mut d = self
            .pacer
            .poll_timeout()
            .unwrap_or(now + Duration::from_secs(3600));
        if let Some(p) = self.dtmf_out.front() {
            d = d.min(p.send_at);
        }
        if !self.timed_out && !self.hold {
            d = d.min(self.last_rx + self.cfg.rtp_timeout);
        }
        if self.playout.is_waiting_stream() {
            d = d.min(now + STREAM_POLL);
        }
        d
    }

    /// Reads what the socket has queued (level-triggered: what is left is read next pass).
    pub fn readable(&mut self, batch: &mut RecvBatch, now: Instant) {
        for _ in 0..MAX_BATCHES {
            let n = match batch.recv(&self.socket) {
                Ok(n) => n,
                Err(e) => {
                    // ICMP port unreachable from a previous send shows up here on Linux.
                    tracing::debug!(error = %e, "RTP receive error");
                    return;
                }
            };
            for i in 0..n {
                if let Some((data, src)) = batch.get(i) {
                    self.datagram(data, src, now);
                }
            }
            if n < super::poller::BATCH {
                break;
            }
        }
    }

    /// Starts a talkspurt if there is something to send, sends what is due, reports events.
    pub fn pump(&mut self, t: Instant) {
        self.poll_stream();
        if !self.pacer.is_active()
            && (self.playout.head_ready() || self.cfg.idle == IdleAudio::Silence)
        {
            self.pacer.start(t);
        }
        self.timers(t);
        self.flush_events();
    }

    /// Reports queued events to the call.
    pub fn flush_events(&mut self) {
        for e in self.pending_events.drain(..) {
            // The receiver is gone only when the call is being torn down.
            let _ = self.events.send(e);
        }
    }

    /// The cache answered for prompt `id`.
    pub fn loaded(&mut self, id: RequestId, r: Result<Prompt, Arc<PromptError>>) {
        self.playout.loaded(id, r, &mut self.pending_events);
    }

    /// Moves what the waiting head stream has received into its prebuffer.
    fn poll_stream(&mut self) {
        while let Some(rx) = self.playout.waiting_stream() {
            let msg = match rx.try_recv() {
                Ok(m) => Some(m),
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => None,
            };
            self.playout.stream_message(msg);
        }
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
        if let Err(e) = self.socket.send_to(&self.out, remote) {
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

    fn datagram(&mut self, data: &[u8], src: SocketAddr, t: Instant) {
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

    pub fn command(&mut self, c: Command, t: Instant) {
        match c {
            Command::Play(id, Media::File(path)) => {
                if let Some(frames) = self.prompts.get_recent(&path, self.neg.codec, t) {
                    self.playout.push(Item {
                        id,
                        path: Some(path),
                        source: Source::File { frames, next: 0 },
                    });
                    return;
                }
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
                let _in_runtime = self.runtime.enter();
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
            Command::Attach(id, tap) => self.attach(id, tap),
            Command::Detach(id) => {
                self.receive.detach(id);
                self.playout.detach_live(id);
            }
            Command::Wake => {}
            Command::Hold(on) => {
                self.hold_requested = on;
                self.hold = on || !self.neg.direction.sends();
                self.last_rx = t;
                self.timed_out = false;
            }
        }
    }

    fn attach(&mut self, id: RequestId, tap: AudioTap) {
        let AudioTap { format, sink, live } = tap;
        if !super::live::fits(self.neg.codec, format) {
            tracing::warn!(rate = format.rate, codec = %self.neg.codec, "audio port rate does not fit the codec");
            return;
        }
        let link = self.link.clone();
        live.set_waker(Box::new(move || {
            link.post(Msg::Command(link.id(), Command::Wake));
        }));
        self.receive.attach(id, sink, format);
        self.playout.attach_live(LiveOut::new(id, live, format));
    }

    fn load(&self, id: RequestId, path: &Path) -> AbortOnDrop {
        let codec = self.neg.codec;
        load(&self.runtime, &self.prompts, &self.link, codec, id, path)
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
        for id in self.receive.taps_renegotiated() {
            tracing::info!(request = id.0, "codec change: integration audio detached");
        }
        self.playout.live_renegotiated(neg.codec);
        if codec_changed {
            let next_seq = self.pacer.take_sequence();
            self.pacer = new_pacer(&neg, Some(next_seq));
            self.neg = neg;
            let (rt, prompts, link, codec) =
                (&self.runtime, &self.prompts, &self.link, self.neg.codec);
            self.playout.codec_changed(
                |id, path| load(rt, prompts, link, codec, id, path),
                &mut self.pending_events,
            );
        } else {
            self.neg = neg;
        }
    }
}
