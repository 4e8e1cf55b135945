//! One call's media as a sans-IO machine: [`MediaCore`].
//!
//! Inputs: datagrams with their source ([`MediaCore::handle_datagram`]), commands from the call
//! ([`MediaCore::handle_command`]), prompts the cache loaded ([`MediaCore::loaded`]), stream
//! channels the runtime opened ([`MediaCore::attach_stream`]) and the time
//! ([`MediaCore::handle_timeout`]). Outputs: packets to send ([`MediaCore::poll_transmit`],
//! written into the caller's buffer with their destination), [`MediaEvent`]s for the call
//! ([`MediaCore::poll_event`]), work for the runtime ([`MediaCore::poll_task`]: load a prompt,
//! open a stream) and the next instant it needs to run ([`MediaCore::poll_timeout`]).
//! Randomness (SSRC, first sequence number and timestamp) comes from the seed passed in.
//!
//! The core never reads a clock, touches a socket or spawns: the media worker
//! ([`super::state`], [`super::worker`]) owns the socket, the runtime and the timer, so latching,
//! NAT rebinding, barge-in and hold are tested here on virtual time (`core_tests`).
//!
//! Decisions live in the pieces it drives: the pacer ([`crate::media::pacer`]) numbers packets on
//! the absolute 20 ms schedule; [`super::latch`] says which sources count and where we send (no
//! RTP goes anywhere before that is verified, and the greeting waits for it rather than being
//! lost); [`super::playout`] says what plays next; [`super::receive`] turns RTP into key presses.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::{self, error::TryRecvError};

use super::codec::silence_payload;
use super::latch::{usable, DropReason, Latch, MediaPeer, Verdict};
use super::live::LiveOut;
use super::playout::{Guard, Item, Next, Playout, Source};
use super::prompts::{Prompt, PromptError};
use super::receive::Receive;
use super::secure::{Inbound, Secure};
use super::stream::{AbortOnDrop, StreamMsg};
use super::{IdleAudio, MediaConfig, MediaEvent};
use crate::engine::audio_port::AudioTap;
use crate::flow::digit::Digit;
use crate::machine::io::{Media, RequestId};
use crate::media::pacer::{Pacer, PacerConfig};
use crate::media::rfc4733::{self, EventPacket};
use crate::media::rtp::{self, PayloadType, RtpError, RtpHeader};
use crate::media::srtp::SrtpError;
use crate::sdp::{Codec, Negotiated};

/// How often a stream still filling its prebuffer is looked at.
const STREAM_POLL: Duration = Duration::from_millis(5);

/// How long a slot of live audio waits for a frame that has not arrived before it is filled
/// with silence. An integration pacing its audio in real time (a bot, a paced server) may
/// send each frame just after the slot that should carry it: without the wait the frame
/// missed its slot, an underrun's silence went out instead, and from then on every frame
/// waited a whole packet time behind it. Held, the frame goes out when it arrives (its
/// arrival wakes the worker). RTP timestamps stay on the 20 ms grid: the receiver sees a
/// delay under 15 ms, never a gap. Under one packet time, so an integration that really
/// stopped costs only this much before the silence.
///
/// Tried and dropped: moving the rest of the talkspurt behind a late frame's arrival (so
/// the next frames find their slots without a wake-up each). The schedule then only ever
/// moved later, to the worst jitter of the talkspurt: the agent bench's websocket → RTP p50
/// went from 0.9 ms to 6 ms, for no CPU difference that run could show.
const LIVE_HOLD: Duration = Duration::from_millis(15);

/// What the call's handle asks of its media.
#[derive(Debug)]
pub(super) enum Command {
    Play(RequestId, Media),
    Stop(RequestId),
    SendDtmf(Digit),
    InfoDigit(Digit),
    UpdateRemote(SocketAddr, Negotiated),
    Hold(bool),
    /// The dialog is confirmed (ACK): the SDP address may now be verified.
    Confirm,
    /// An integration's port joins the call's audio (both ways); the runtime has installed
    /// the tap's waker.
    Attach(RequestId, AudioTap),
    Detach(RequestId),
    /// Live audio arrived while the pacer was idle (nothing else to do: a pass follows).
    Wake,
}

/// Work the core asks of the runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Task {
    /// Fetch this prompt in `codec` from the cache; answer with [`MediaCore::loaded`] (and
    /// hand the load's guard over with [`MediaCore::set_guard`] while it runs).
    Load {
        id: RequestId,
        path: PathBuf,
        codec: Codec,
    },
    /// Start downloading `url` as `codec` frames; answer with [`MediaCore::attach_stream`].
    Stream {
        id: RequestId,
        url: String,
        codec: Codec,
    },
}

/// Counters of one call's media (the worker adds them to the process-wide ones when it ends).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MediaStats {
    /// RTP packets taken from the latched source.
    pub rtp_received: u64,
    /// Packets from sources the latching rule refuses.
    pub foreign_dropped: u64,
    /// Packets from an allowed source while the latched one was still sending.
    pub competing_dropped: u64,
    /// Times the latched source changed (NAT rebinding).
    pub rebinds: u64,
    pub rtp_sent: u64,
    /// Packets sent after their due time (the pacer released them late).
    pub rtp_late: u64,
    /// Sequence numbers skipped in what the caller sent (reordering counts as loss).
    pub rtp_lost: u64,
    /// SRTP packets dropped for a wrong authentication tag (or plain RTP in an SRTP call).
    pub srtp_auth_failed: u64,
    /// SRTP packets dropped as replayed or older than the replay window.
    pub srtp_replayed: u64,
}

/// Everything [`MediaCore::new`] needs.
pub(super) struct CoreSetup {
    pub cfg: MediaConfig,
    pub peer: MediaPeer,
    pub neg: Negotiated,
    /// Randomness for the SSRC and the first sequence number and timestamp.
    pub seed: u64,
}

pub(super) struct MediaCore {
    cfg: MediaConfig,
    latch: Latch,
    neg: Negotiated,
    rng: u64,
    pacer: Pacer,
    playout: Playout,
    /// Behind a pointer: ~550 bytes (jitter buffer, key detectors, taps) a packet sent never
    /// touches. Inline, they spread what a send does touch over more cache lines, and every
    /// due session is cold by its turn (20 ms after its last): boxed, a silent call's CPU
    /// went down 7–10 % (A/B of the two builds, 2,000 calls, `bench/ENGINE.md`).
    receive: Box<Receive>,
    dtmf_out: VecDeque<EventPacket>,
    /// Nothing is sent: [`Command::Hold`] or an SDP direction that does not send.
    hold: bool,
    hold_requested: bool,
    last_rx: Instant,
    timed_out: bool,
    /// Where RTP was last known to go (a latch elsewhere is reported as
    /// [`MediaEvent::RemoteAddr`]).
    known_target: Option<SocketAddr>,
    events: VecDeque<MediaEvent>,
    /// Scratch for the playout, which reports into a `Vec`.
    playout_events: Vec<MediaEvent>,
    tasks: VecDeque<Task>,
    /// Something changed that the runtime must act on before the next deadline (a source
    /// latched, so sending can start).
    wake: bool,
    stats: MediaStats,
    /// The last sequence number taken from the caller (loss counting).
    last_seq: Option<u16>,
    /// SRTP in and out ([`Secure::Off`] for plain RTP).
    secure: Secure,
    /// The due time of the slot being held for a live frame ([`LIVE_HOLD`]).
    live_held: Option<Instant>,
}

/// SplitMix64: the next 64 bits from `state`.
fn next_random(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn new_pacer(neg: &Negotiated, rng: &mut u64, sequence: Option<u16>) -> Pacer {
    let r = next_random(rng);
    let pt = PayloadType::new(neg.payload_type).unwrap_or(PayloadType::PCMU);
    Pacer::new(PacerConfig::new(
        (r >> 32) as u32,
        pt,
        neg.codec.clock_rate(),
        sequence.unwrap_or(r as u16),
        (r >> 16) as u32,
    ))
}

impl MediaCore {
    pub fn new(s: CoreSetup, now: Instant) -> MediaCore {
        let mut rng = s.seed;
        let receive = Receive::new(
            &s.neg,
            s.cfg.inband_dtmf,
            s.cfg.jitter_capacity,
            s.cfg.jitter_depth,
        );
        let latch = Latch::new(s.cfg.latching, s.cfg.rebind_after, s.peer);
        MediaCore {
            pacer: new_pacer(&s.neg, &mut rng, None),
            secure: Secure::new(s.neg.srtp.as_ref()),
            live_held: None,
            rng,
            known_target: latch.target(),
            latch,
            hold: !s.neg.direction.sends(),
            hold_requested: false,
            receive: Box::new(receive),
            neg: s.neg,
            cfg: s.cfg,
            playout: Playout::default(),
            dtmf_out: VecDeque::new(),
            last_rx: now,
            timed_out: false,
            events: VecDeque::with_capacity(8),
            playout_events: Vec::with_capacity(4),
            tasks: VecDeque::new(),
            wake: false,
            stats: MediaStats::default(),
            last_seq: None,
        }
    }

    pub fn stats(&self) -> MediaStats {
        self.stats
    }

    /// DTMF transports seen in this call (for the end-of-call log line).
    pub fn dtmf_methods(&self) -> Vec<crate::media::dtmf_dedupe::DtmfMethod> {
        self.receive.methods_seen()
    }

    /// Where RTP goes now (`None`: on hold, or the caller is not verified yet).
    pub fn destination(&self) -> Option<SocketAddr> {
        if self.hold {
            return None;
        }
        self.latch.target()
    }

    /// The next instant [`MediaCore::handle_timeout`] has something to do.
    pub fn poll_timeout(&self, now: Instant) -> Instant {
        if self.wants_start() {
            return now;
        }
        let mut d = match self.pacer.poll_timeout() {
            Some(due) if self.live_held == Some(due) => due + LIVE_HOLD,
            Some(due) => due,
            None => now + Duration::from_secs(3600),
        };
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

    /// Whether something happened since the last call that needs a pass before the current
    /// deadline (cleared by reading it).
    pub fn take_wake(&mut self) -> bool {
        std::mem::take(&mut self.wake)
    }

    /// Starts a talkspurt if there is something to send, checks the RTP timeout, moves stream
    /// frames in. Packets then come from [`MediaCore::poll_transmit`].
    pub fn handle_timeout(&mut self, now: Instant) {
        self.poll_stream();
        if self.wants_start() {
            self.pacer.start(now);
        }
        if !self.timed_out && !self.hold && now >= self.last_rx + self.cfg.rtp_timeout {
            self.timed_out = true;
            self.events.push_back(MediaEvent::RtpTimeout);
        }
    }

    /// The next packet due at `now`, written into `buf`, with where to send it. Call until it
    /// returns `None`. Packets due while nothing may be sent (hold) are consumed silently.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<SocketAddr> {
        loop {
            if self.dtmf_out.front().is_some_and(|p| p.send_at <= now) {
                let p = self.dtmf_out.pop_front()?;
                if let Some(dest) = self.write_event_packet(p, buf) {
                    return Some(dest);
                }
                continue;
            }
            let due = match self.pacer.poll_timeout() {
                Some(due) if due <= now => due,
                _ => return None,
            };
            if now < due + LIVE_HOLD && self.playout.live_starved(now) {
                self.live_held = Some(due);
                return None;
            }
            self.live_held = None;
            // The payload goes in behind room for the header, which is written once the
            // slot (sequence number, timestamp) is known.
            buf.clear();
            buf.extend_from_slice(&[0; RtpHeader::LEN]);
            let finished =
                match self
                    .playout
                    .next_frame(self.neg.codec, &mut self.playout_events, buf, now)
                {
                    Next::Frame { finished } => finished,
                    Next::Idle if self.cfg.idle == IdleAudio::Silence => {
                        buf.extend_from_slice(silence_payload(self.neg.codec));
                        None
                    }
                    Next::Idle => {
                        self.pacer.stop();
                        self.move_playout_events();
                        return None;
                    }
                };
            self.move_playout_events();
            let late = self.pacer.stats().late_packets;
            let slot = self.pacer.poll_slot(now)?;
            self.stats.rtp_late += self.pacer.stats().late_packets.saturating_sub(late);
            if let Some(id) = finished {
                self.events.push_back(MediaEvent::PlaybackFinished(id));
            }
            if let Some(dest) = self.seal_rtp(&slot.header, buf) {
                return Some(dest);
            }
        }
    }

    /// The next event for the call.
    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        self.events.pop_front()
    }

    /// The next piece of work for the runtime.
    pub fn poll_task(&mut self) -> Option<Task> {
        self.tasks.pop_front()
    }

    /// The cache answered for prompt `id`.
    pub fn loaded(&mut self, id: RequestId, r: Result<Prompt, Arc<PromptError>>) {
        self.playout.loaded(id, r, &mut self.playout_events);
        self.move_playout_events();
    }

    /// The load task of prompt `id` runs; dropping `guard` aborts it.
    pub fn set_guard(&mut self, id: RequestId, guard: AbortOnDrop) {
        self.playout.set_guard(id, guard);
    }

    /// The download of stream `id` started ([`Task::Stream`]).
    pub fn attach_stream(&mut self, id: RequestId, rx: mpsc::Receiver<StreamMsg>, guard: Guard) {
        let prebuffer = self.cfg.stream.prebuffer_frames;
        self.playout.attach_stream(id, rx, guard, prebuffer);
    }

    /// One datagram on the call's RTP port: SRTP is checked and decrypted first.
    pub fn handle_datagram(&mut self, data: &[u8], src: SocketAddr, now: Instant) {
        let mut secure = std::mem::replace(&mut self.secure, Secure::Off);
        match secure.inbound(data) {
            Inbound::Rtp(plain) => self.handle_rtp(plain, src, now),
            Inbound::Rtcp => tracing::trace!(%src, "SRTCP ignored"),
            Inbound::Dropped(e) => {
                let count = match e {
                    SrtpError::Replayed => &mut self.stats.srtp_replayed,
                    SrtpError::AuthFailed | SrtpError::Malformed | SrtpError::Crypto => {
                        &mut self.stats.srtp_auth_failed
                    }
                };
                *count += 1;
                if *count == 1 {
                    tracing::info!(%src, error = %e, "SRTP packet dropped (counted from now on)");
                }
            }
        }
        self.secure = secure;
    }

    /// One RTP packet (decrypted if the call is SRTP).
    fn handle_rtp(&mut self, data: &[u8], src: SocketAddr, now: Instant) {
        let packet = match rtp::parse(data) {
            Ok(p) => p,
            Err(RtpError::Rtcp { packet_type }) => {
                tracing::trace!(packet_type, %src, "RTCP ignored");
                return;
            }
            Err(e) => {
                tracing::trace!(error = %e, %src, "not RTP, ignored");
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
        match self.latch.on_packet(src, now) {
            Verdict::Accept => {}
            Verdict::Latched { addr, rebind } => {
                if rebind {
                    self.stats.rebinds += 1;
                    tracing::info!(%addr, "RTP source changed after silence (NAT rebinding)");
                }
                if self.known_target != Some(addr) {
                    self.known_target = Some(addr);
                    self.events.push_back(MediaEvent::RemoteAddr(addr));
                }
                self.wake = true;
            }
            Verdict::Drop(reason) => {
                let count = match reason {
                    DropReason::NotAllowed => &mut self.stats.foreign_dropped,
                    DropReason::Competing => &mut self.stats.competing_dropped,
                };
                *count += 1;
                if *count == 1 {
                    tracing::info!(%src, ?reason,
                        "RTP from a source the latching rule refuses: dropped (counted from now on)");
                }
                return;
            }
        }
        self.stats.rtp_received += 1;
        let seq = packet.header.sequence;
        match self.last_seq {
            Some(last) => {
                self.stats.rtp_lost += super::counters::gap(last, seq);
                if seq.wrapping_sub(last) < 0x8000 {
                    self.last_seq = Some(seq);
                }
            }
            None => self.last_seq = Some(seq),
        }
        self.last_rx = now;
        self.timed_out = false;
        for a in self.receive.packet(&packet, now) {
            tracing::debug!(digit = %a.digit, method = %a.method, "dtmf");
            self.events.push_back(MediaEvent::Dtmf {
                digit: a.digit,
                method: a.method,
            });
        }
    }

    pub fn handle_command(&mut self, c: Command, t: Instant) {
        match c {
            Command::Play(id, Media::File(path)) => {
                self.tasks.push_back(Task::Load {
                    id,
                    path: path.clone(),
                    codec: self.neg.codec,
                });
                self.playout.push(Item {
                    id,
                    path: Some(path),
                    source: Source::Loading {
                        _guard: None,
                        resume_at: 0,
                    },
                });
            }
            Command::Play(id, Media::Url(url)) => {
                self.tasks.push_back(Task::Stream {
                    id,
                    url,
                    codec: self.neg.codec,
                });
                self.playout.push(Item {
                    id,
                    path: None,
                    source: Source::Loading {
                        _guard: None,
                        resume_at: 0,
                    },
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
                    self.events.push_back(MediaEvent::Dtmf {
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
            Command::Confirm => {
                self.latch.confirm();
                if !self.latch.is_latched() {
                    self.known_target = self.latch.target();
                }
            }
            Command::Attach(id, tap) => self.attach(id, tap),
            Command::Detach(id) => {
                self.receive.detach(id);
                self.playout.detach_live(id);
            }
            Command::Wake => {}
        }
    }

    fn attach(&mut self, id: RequestId, tap: AudioTap) {
        let AudioTap { format, sink, live } = tap;
        if !super::live::fits(self.neg.codec, format) {
            tracing::warn!(rate = format.rate, codec = %self.neg.codec,
                "audio port rate does not fit the codec: not attached");
            return;
        }
        self.receive.attach(id, sink, format);
        self.playout.attach_live(LiveOut::new(id, live, format));
    }

    /// A talkspurt should start: something to play (or idle silence), nothing running, and
    /// somewhere to send it. On hold, prompts run silently (the flow goes on); with no verified
    /// destination yet, they wait, so the caller hears the greeting from its start.
    fn wants_start(&self) -> bool {
        !self.pacer.is_active()
            && (self.playout.head_ready() || self.cfg.idle == IdleAudio::Silence)
            && (self.hold || self.latch.target().is_some())
    }

    fn move_playout_events(&mut self) {
        self.events.extend(self.playout_events.drain(..));
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

    fn write_rtp(
        &mut self,
        header: &RtpHeader,
        payload: &[u8],
        buf: &mut Vec<u8>,
    ) -> Option<SocketAddr> {
        buf.clear();
        buf.extend_from_slice(&[0; RtpHeader::LEN]);
        buf.extend_from_slice(payload);
        self.seal_rtp(header, buf)
    }

    /// Writes `header` over the first [`RtpHeader::LEN`] bytes of `buf` (the payload follows)
    /// and protects the packet: where it goes, or `None` when it must not be sent.
    fn seal_rtp(&mut self, header: &RtpHeader, buf: &mut Vec<u8>) -> Option<SocketAddr> {
        let dest = self.destination()?;
        header.write_fixed(buf.first_chunk_mut::<{ RtpHeader::LEN }>()?);
        if !self.secure.outbound(buf) {
            return None;
        }
        self.stats.rtp_sent += 1;
        Some(dest)
    }

    fn write_event_packet(&mut self, p: EventPacket, buf: &mut Vec<u8>) -> Option<SocketAddr> {
        let te = self.neg.telephone_event?;
        let pt = PayloadType::new(te.payload_type)?;
        let header = RtpHeader {
            payload_type: pt,
            marker: p.marker,
            sequence: self.pacer.take_sequence(),
            timestamp: p.timestamp,
            ssrc: self.pacer.config().ssrc,
        };
        self.write_rtp(&header, &p.payload.to_bytes(), buf)
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
        if neg.srtp != self.neg.srtp {
            // New SDES keys (or SRTP switched on/off) in a re-INVITE: fresh contexts.
            self.secure = Secure::new(neg.srtp.as_ref());
        }
        self.latch.renegotiated(usable(remote));
        self.known_target = self.latch.target();
        self.wake = true;
        self.hold = self.hold_requested || !neg.direction.sends();
        self.receive.renegotiated(&neg);
        for id in self.receive.taps_renegotiated() {
            tracing::info!(request = id.0, "codec change: integration audio detached");
        }
        self.playout.live_renegotiated(neg.codec);
        if codec_changed {
            let next_seq = self.pacer.take_sequence();
            self.pacer = new_pacer(&neg, &mut self.rng, Some(next_seq));
            self.neg = neg;
            let (tasks, codec) = (&mut self.tasks, self.neg.codec);
            self.playout.codec_changed(
                |id, path| {
                    tasks.push_back(Task::Load {
                        id,
                        path: path.to_owned(),
                        codec,
                    });
                    None
                },
                &mut self.playout_events,
            );
            self.move_playout_events();
        } else {
            self.neg = neg;
        }
    }
}

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;
