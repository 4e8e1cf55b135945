//! [`MediaCore`] on virtual time: verification before sending, latching, the RTP hijack and
//! its rebinding rule, barge-in, hold and the RTP timeout. No socket, no runtime, no sleep:
//! the harness answers the core's tasks itself and steps time to each deadline.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::engine::media::codec::FrameEncoder;
use crate::engine::media::latch::{Latching, MediaPeer};
use crate::media::dtmf_dedupe::DtmfMethod;
use crate::media::rfc4733::EventPayload;
use crate::sdp::{Direction, TelephoneEvent};

fn a(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn neg(remote: Option<SocketAddr>) -> Negotiated {
    Negotiated {
        codec: Codec::Pcmu,
        payload_type: 0,
        telephone_event: Some(TelephoneEvent {
            payload_type: 101,
            clock_rate: 8000,
        }),
        remote,
        direction: Direction::SendRecv,
        remote_ptime: None,
        remote_fmtp: None,
        media_index: 0,
        srtp: None,
    }
}

/// One packet the core sent.
#[derive(Debug, Clone)]
struct Sent {
    to: SocketAddr,
    header: RtpHeader,
    at: Instant,
    /// The datagram as sent (SRTP tests decrypt it).
    bytes: Vec<u8>,
}

struct Harness {
    core: MediaCore,
    t0: Instant,
    now: Instant,
    buf: Vec<u8>,
    sent: Vec<Sent>,
    events: Vec<MediaEvent>,
    /// Prompt length in 20 ms frames, by request id.
    frames: usize,
}

impl Harness {
    fn new(peer: MediaPeer, cfg: MediaConfig) -> Harness {
        let t0 = Instant::now();
        let core = MediaCore::new(
            CoreSetup {
                cfg,
                peer,
                neg: neg(peer.sdp),
                seed: 7,
            },
            t0,
        );
        Harness {
            core,
            t0,
            now: t0,
            buf: Vec::new(),
            sent: Vec::new(),
            events: Vec::new(),
            frames: 10,
        }
    }

    /// What the media worker does after each input: tasks, timers, transmits, events.
    fn pump(&mut self) {
        while let Some(task) = self.core.poll_task() {
            match task {
                Task::Load { id, codec, .. } => {
                    let pcm = vec![0.2; 160 * self.frames];
                    let frames = FrameEncoder::encode_all(codec, &pcm).unwrap();
                    self.core.loaded(id, Ok(Arc::from(frames)));
                }
                Task::Stream { .. } => panic!("no streams in these tests"),
            }
        }
        self.core.handle_timeout(self.now);
        while let Some(to) = self.core.poll_transmit(self.now, &mut self.buf) {
            let header = rtp::parse(&self.buf).expect("valid RTP").header;
            self.sent.push(Sent {
                to,
                header,
                at: self.now,
                bytes: self.buf.clone(),
            });
        }
        self.core.take_wake();
        while let Some(e) = self.core.poll_event() {
            self.events.push(e);
        }
    }

    /// Steps virtual time by `d`, running the core at each of its deadlines.
    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        for _ in 0..100_000 {
            self.pump();
            let next = self.core.poll_timeout(self.now);
            if next > end {
                self.now = end;
                self.pump();
                return;
            }
            self.now = next.max(self.now + Duration::from_micros(1));
        }
        panic!("the core never went quiet");
    }

    fn command(&mut self, c: Command) {
        self.core.handle_command(c, self.now);
        self.pump();
    }

    fn play(&mut self, id: u64) {
        self.command(Command::Play(
            RequestId(id),
            Media::File(format!("/p/{id}.wav").into()),
        ));
    }

    /// A datagram from `src` at the current time.
    fn receive(&mut self, src: SocketAddr, packet: &[u8]) {
        self.core.handle_datagram(packet, src, self.now);
        self.pump();
    }

    fn sent_to(&self, to: SocketAddr) -> Vec<&Sent> {
        self.sent.iter().filter(|s| s.to == to).collect()
    }

    fn finished(&self, id: u64) -> bool {
        self.events
            .iter()
            .any(|e| matches!(e, MediaEvent::PlaybackFinished(RequestId(x)) if *x == id))
    }

    fn digits(&self) -> Vec<(Digit, DtmfMethod)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                MediaEvent::Dtmf { digit, method } => Some((*digit, *method)),
                _ => None,
            })
            .collect()
    }
}

fn audio(seq: u16, ssrc: u32) -> Vec<u8> {
    RtpHeader {
        payload_type: PayloadType::PCMU,
        marker: false,
        sequence: seq,
        timestamp: u32::from(seq) * 160,
        ssrc,
    }
    .to_packet(&[0xFF; 160])
}

/// The telephone-event packets of one press of `key` (start, update, three ends).
fn key_press(key: char, seq: u16, ssrc: u32) -> Vec<Vec<u8>> {
    let digit = Digit::from_char(key).unwrap();
    let ts = u32::from(seq) * 160;
    let mut out = Vec::new();
    for (i, (end, duration)) in [
        (false, 160),
        (false, 320),
        (true, 480),
        (true, 480),
        (true, 480),
    ]
    .into_iter()
    .enumerate()
    {
        let payload = EventPayload {
            event: digit.event_code(),
            end,
            volume: 10,
            duration,
        };
        out.push(
            RtpHeader {
                payload_type: PayloadType::new(101).unwrap(),
                marker: i == 0,
                sequence: seq + i as u16,
                timestamp: ts,
                ssrc,
            }
            .to_packet(&payload.to_bytes()),
        );
    }
    out
}

const SDP: &str = "127.0.0.1:4000";

fn local_caller() -> MediaPeer {
    MediaPeer::unconfirmed(Some(a(SDP)), "127.0.0.1".parse().unwrap(), false)
}

#[test]
fn nothing_is_sent_before_the_ack_and_the_greeting_then_starts_from_its_first_frame() {
    let mut h = Harness::new(local_caller(), MediaConfig::default());
    h.play(1);
    h.advance(Duration::from_millis(300));
    assert!(h.sent.is_empty(), "no RTP before the dialog is confirmed");
    assert!(
        !h.finished(1),
        "the greeting waits instead of playing into the void"
    );
    h.command(Command::Confirm);
    let confirmed_at = h.now;
    h.advance(Duration::from_millis(400));
    let sent = h.sent_to(a(SDP));
    assert_eq!(sent.len(), 10, "the whole greeting, from its first frame");
    assert_eq!(sent[0].at, confirmed_at, "at once, at the ACK");
    assert!(sent[0].header.marker);
    assert!(h.finished(1));
}

#[test]
fn a_natted_caller_hears_the_greeting_from_its_first_packet() {
    // The SDP names a private address; SIP and RTP come from the NAT's public address.
    let peer = MediaPeer::unconfirmed(
        Some(a("192.168.1.5:4000")),
        "203.0.113.7".parse().unwrap(),
        false,
    );
    let mut h = Harness::new(peer, MediaConfig::default());
    h.play(1);
    h.command(Command::Confirm);
    h.advance(Duration::from_millis(200));
    assert!(
        h.sent.is_empty(),
        "a private address that is not the signalling IP"
    );
    let public = a("203.0.113.7:31000");
    h.receive(public, &audio(1, 42));
    assert!(
        h.events
            .iter()
            .any(|e| matches!(e, MediaEvent::RemoteAddr(x) if *x == public)),
        "{:?}",
        h.events
    );
    h.advance(Duration::from_millis(400));
    assert_eq!(h.sent_to(public).len(), 10);
    assert_eq!(h.sent.len(), 10, "nothing anywhere else");
}

#[test]
fn a_third_party_sdp_address_gets_nothing_unless_the_source_is_trusted() {
    let victim = a("198.51.100.9:4000");
    let sig = "127.0.0.1".parse().unwrap();
    let mut h = Harness::new(
        MediaPeer::unconfirmed(Some(victim), sig, false),
        MediaConfig::default(),
    );
    h.play(1);
    h.command(Command::Confirm);
    h.advance(Duration::from_secs(1));
    assert!(h.sent.is_empty(), "no reflection towards {victim}");
    // From a registrar (trusted), the PBX's media address is used at once.
    let mut t = Harness::new(
        MediaPeer::unconfirmed(Some(victim), sig, true),
        MediaConfig::default(),
    );
    t.play(1);
    t.command(Command::Confirm);
    t.advance(Duration::from_millis(300));
    assert_eq!(t.sent_to(victim).len(), 10);
}

#[test]
fn an_attacker_spraying_the_port_gets_no_audio_and_injects_no_digit() {
    let mut h = Harness::new(local_caller(), MediaConfig::default());
    h.command(Command::Confirm);
    let victim = a(SDP);
    let ssrc = 0x1234_5678;
    h.receive(victim, &audio(1, ssrc));
    h.frames = 50;
    h.play(1);
    let attacker = a("198.51.100.66:40000");
    let same_ip = a("127.0.0.1:40000");
    let mut seq = 2;
    // For one second the victim talks every 20 ms; between its packets the attacker sends
    // audio and key presses with the victim's SSRC, from another IP and from the victim's own
    // IP on another port.
    for round in 0..50u16 {
        h.receive(victim, &audio(seq, ssrc));
        for p in key_press('9', 1000 + round * 8, ssrc) {
            h.receive(attacker, &p);
            h.receive(same_ip, &p);
        }
        h.receive(attacker, &audio(seq, ssrc));
        h.receive(same_ip, &audio(seq, ssrc));
        seq += 1;
        h.advance(Duration::from_millis(20));
    }
    assert!(h.sent_to(attacker).is_empty() && h.sent_to(same_ip).is_empty());
    assert_eq!(h.sent_to(victim).len(), 50, "the victim keeps its audio");
    assert!(h.digits().is_empty(), "injected: {:?}", h.digits());
    let s = h.core.stats();
    assert_eq!(s.foreign_dropped, 50 * 6);
    assert_eq!(s.competing_dropped, 50 * 6);
    assert_eq!(s.rebinds, 0);
    // The victim's own key press still counts.
    for p in key_press('5', seq, ssrc) {
        h.receive(victim, &p);
    }
    assert_eq!(
        h.digits(),
        [(Digit::from_char('5').unwrap(), DtmfMethod::Rfc4733)]
    );
}

#[test]
fn a_nat_rebinding_moves_the_stream_once_the_old_source_is_silent() {
    let mut h = Harness::new(local_caller(), MediaConfig::default());
    h.command(Command::Confirm);
    let old = a(SDP);
    let new = a("127.0.0.1:4100");
    h.receive(old, &audio(1, 9));
    h.advance(Duration::from_millis(500));
    h.receive(new, &audio(2, 9));
    assert_eq!(h.core.stats().competing_dropped, 1, "still too soon");
    h.advance(Duration::from_millis(500));
    h.receive(new, &audio(3, 9));
    assert_eq!(h.core.stats().rebinds, 1);
    assert!(h
        .events
        .iter()
        .any(|e| matches!(e, MediaEvent::RemoteAddr(x) if *x == new)));
    h.play(1);
    h.advance(Duration::from_millis(300));
    assert_eq!(h.sent_to(new).len(), 10);
    assert!(h.sent_to(old).is_empty());
}

#[test]
fn strict_latching_takes_only_the_sdp_address() {
    let cfg = MediaConfig {
        latching: Latching::Strict,
        ..MediaConfig::default()
    };
    let mut h = Harness::new(local_caller(), cfg);
    h.receive(a("127.0.0.1:4002"), &audio(1, 9));
    assert_eq!(h.core.stats().foreign_dropped, 1);
    h.receive(a(SDP), &audio(2, 9));
    assert_eq!(h.core.stats().rtp_received, 1);
}

#[test]
fn barge_in_cuts_the_prompt_and_the_response_starts_in_the_same_instant() {
    let mut h = Harness::new(MediaPeer::verified(a(SDP)), MediaConfig::default());
    h.frames = 50;
    h.play(1);
    h.advance(Duration::from_millis(105));
    let before = h.sent.len();
    assert_eq!(before, 6);
    h.frames = 5;
    h.core.handle_command(Command::Stop(RequestId(1)), h.now);
    h.core.handle_command(
        Command::Play(RequestId(2), Media::File("/p/2.wav".into())),
        h.now,
    );
    h.pump();
    let first = &h.sent[before];
    assert_eq!(
        first.at, h.now,
        "the response prompt starts in the barge-in pass"
    );
    assert!(first.header.marker, "a new talkspurt");
    h.advance(Duration::from_millis(200));
    assert_eq!(h.sent.len(), before + 5);
    assert!(h.finished(2) && !h.finished(1));
    let seqs: Vec<u16> = h.sent.iter().map(|s| s.header.sequence).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)),
        "{seqs:?}"
    );
}

#[test]
fn on_hold_nothing_is_sent_the_flow_goes_on_and_silence_is_no_timeout() {
    let cfg = MediaConfig {
        rtp_timeout: Duration::from_secs(2),
        ..MediaConfig::default()
    };
    let mut h = Harness::new(MediaPeer::verified(a(SDP)), cfg);
    h.command(Command::Hold(true));
    h.play(1);
    h.advance(Duration::from_secs(5));
    assert!(h.sent.is_empty());
    assert!(h.finished(1), "prompts run silently on hold");
    assert!(!h.events.iter().any(|e| matches!(e, MediaEvent::RtpTimeout)));
    h.command(Command::Hold(false));
    h.advance(Duration::from_millis(2100));
    assert!(
        h.events.iter().any(|e| matches!(e, MediaEvent::RtpTimeout)),
        "off hold, two silent seconds time out"
    );
    assert!(h.now - h.t0 > Duration::from_secs(7));
}

#[test]
fn a_reinvite_to_another_ip_waits_for_its_packets() {
    let mut h = Harness::new(local_caller(), MediaConfig::default());
    h.command(Command::Confirm);
    h.receive(a(SDP), &audio(1, 9));
    let moved = a("198.51.100.20:5000");
    h.command(Command::UpdateRemote(moved, neg(Some(moved))));
    h.play(1);
    h.advance(Duration::from_millis(300));
    assert!(h.sent.is_empty(), "an unverified new address");
    h.receive(moved, &audio(2, 10));
    h.advance(Duration::from_millis(300));
    assert_eq!(h.sent_to(moved).len(), 10);
}

#[test]
fn idle_silence_also_waits_for_verification() {
    let cfg = MediaConfig {
        idle: IdleAudio::Silence,
        ..MediaConfig::default()
    };
    let mut h = Harness::new(local_caller(), cfg);
    h.advance(Duration::from_millis(200));
    assert!(h.sent.is_empty());
    h.command(Command::Confirm);
    h.advance(Duration::from_millis(90));
    assert_eq!(h.sent_to(a(SDP)).len(), 5, "every 20 ms from the ACK on");
}

#[test]
fn the_seed_decides_ssrc_and_sequence() {
    let run = |seed| {
        let mut h = Harness::new(MediaPeer::verified(a(SDP)), MediaConfig::default());
        h.core = MediaCore::new(
            CoreSetup {
                cfg: MediaConfig::default(),
                peer: MediaPeer::verified(a(SDP)),
                neg: neg(Some(a(SDP))),
                seed,
            },
            h.now,
        );
        h.play(1);
        h.advance(Duration::from_millis(30));
        h.sent[0].header
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1).ssrc, run(2).ssrc);
}

#[test]
fn skipped_sequence_numbers_count_as_lost_for_metrics() {
    let mut h = Harness::new(local_caller(), MediaConfig::default());
    for seq in [10, 11, 14, 13, 15, 40_000] {
        h.receive(a(SDP), &audio(seq, 9));
    }
    let s = h.core.stats();
    assert_eq!(s.rtp_received, 6);
    // 12 and 13 were missing when 14 came (13 arriving late does not undo that); the jump to
    // 40000 is a new stream, not loss.
    assert_eq!(s.rtp_lost, 2);
    h.play(1);
    h.advance(Duration::from_millis(300));
    assert_eq!(s.rtp_late, 0, "virtual time is never late");
    assert!(h.core.stats().rtp_sent > 0);
}

#[test]
fn live_audio_paced_just_behind_the_slots_goes_out_as_it_arrives_without_gaps() {
    use crate::engine::audio_port::{pair, AudioFormat, AudioFrame, PortConfig};
    let mut h = Harness::new(MediaPeer::verified(a(SDP)), MediaConfig::default());
    let (port, tap) = pair(AudioFormat::NARROWBAND, PortConfig::default());
    h.command(Command::Attach(RequestId(9), tap));
    let loud = AudioFrame {
        samples: vec![8000; 160],
    };
    let is_silence = |s: &Sent| s.bytes[RtpHeader::LEN..].iter().all(|b| b & 0x7f == 0x7f);
    // An integration pacing in real time: frame k arrives 20 k ms after the first, some
    // (by their jitter) just behind the slot that should carry them, some just before.
    let start = h.now;
    let jitter = [0, 3, 3, 0, 9, 14, 1, 2, 0, 5];
    for (k, j) in jitter.iter().enumerate() {
        let at = start + Duration::from_millis(20 * k as u64 + j);
        h.advance(at - h.now);
        assert_eq!(h.sent.len(), k, "slot {k} waits for its frame");
        port.try_send(loud.clone()).unwrap();
        h.pump(); // the pass the port's waker asks for
        let last = h.sent.last().expect("a packet");
        assert_eq!(last.at, h.now, "frame {k} goes out as it arrives");
        assert!(!is_silence(last), "frame {k} is the integration's audio");
    }
    let ts: Vec<u32> = h.sent.iter().map(|s| s.header.timestamp).collect();
    assert!(
        ts.windows(2).all(|w| w[1] == w[0].wrapping_add(160)),
        "on the 20 ms grid: {ts:?}"
    );
    assert_eq!(
        h.core.stats().rtp_late,
        0,
        "a held slot is not a late packet"
    );
    // The integration stops: each slot of the hangover waits the hold out for a frame, then
    // goes out as silence, still 20 ms apart; then the talkspurt ends.
    h.advance(Duration::from_millis(400));
    let tail = &h.sent[10..];
    assert_eq!(tail.len(), PortConfig::default().hangover);
    assert!(tail.iter().all(is_silence));
    for (k, s) in tail.iter().enumerate() {
        let due = start + Duration::from_millis(200 + 20 * k as u64);
        assert_eq!(s.at, due + LIVE_HOLD, "silence {k}");
    }
}

/// A send touches the core of every due session, each cold by its turn: what a silent send
/// needs must stay in few cache lines. The receive side (jitter buffer, key detectors) lives
/// behind a pointer; putting it back inline cost a silent call 7–10 % of its CPU.
#[cfg(target_pointer_width = "64")]
#[test]
fn the_send_side_state_stays_compact() {
    let core = std::mem::size_of::<MediaCore>();
    let receive = std::mem::size_of::<crate::engine::media::receive::Receive>();
    assert!(
        core <= 1024,
        "MediaCore is {core} bytes: box what a packet sent does not touch"
    );
    assert!(
        receive > 256,
        "Receive is {receive} bytes: if it got small, boxing it may no longer pay"
    );
}

#[path = "secure_tests.rs"]
mod secure;
