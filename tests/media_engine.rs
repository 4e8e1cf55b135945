//! The media engine on loopback: a fake "phone" UDP socket talks RTP to a `MediaSession`.
//!
//! Checks what a caller would hear and what the call would see: paced prompt frames that decode
//! back to the source (G.711 and Opus), continuous sequence numbers and timestamps across
//! prompts with the marker on a new talkspurt, barge-in, RFC 4733 / in-band / SIP INFO digits
//! counted once, DTMF out, symmetric RTP, the RTP timeout, remote HTTP prompts from a local
//! server, and prompt decoding of WAV/MP3/OGG/FLAC. Every wait is bounded; no sleep is an
//! assertion.

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use phonetree::engine::media::{
    prompts, DtmfMethod, IdleAudio, MediaConfig, MediaEvent, MediaSession, PromptCache,
    PromptCacheConfig,
};
use phonetree::flow::digit::Digit;
use phonetree::machine::io::{Media, RequestId};
use phonetree::media::g711::Law;
use phonetree::media::rfc4733::{self, DtmfReceiver};
use phonetree::media::rtp::{self, PayloadType, RtpHeader};
use phonetree::sdp::{Codec, Direction, Negotiated, TelephoneEvent};
use tokio::net::UdpSocket;
use tokio::sync::mpsc::UnboundedReceiver;

const WAIT: Duration = Duration::from_secs(10);

fn d(c: char) -> Digit {
    Digit::from_char(c).unwrap()
}

fn negotiated(codec: Codec, pt: u8, te: Option<u8>, remote: SocketAddr) -> Negotiated {
    Negotiated {
        codec,
        payload_type: pt,
        telephone_event: te.map(|payload_type| TelephoneEvent {
            payload_type,
            clock_rate: 8000,
        }),
        remote: Some(remote),
        direction: Direction::SendRecv,
        remote_ptime: None,
        remote_fmtp: None,
        media_index: 0,
    }
}

/// A speech-like test signal: two gliding tones with a syllable envelope, at `rate`.
fn signal(rate: u32, ms: u32, seed: f32) -> Vec<f32> {
    let n = (rate * ms / 1000) as usize;
    let mut p1 = 0.0f32;
    let mut p2 = 0.0f32;
    (0..n)
        .map(|i| {
            let t = i as f32 / rate as f32;
            let f1 = 300.0 + 150.0 * (2.0 * std::f32::consts::PI * (0.9 + seed) * t).sin();
            let f2 = 1100.0 + 400.0 * (2.0 * std::f32::consts::PI * 0.37 * t).cos();
            p1 += 2.0 * std::f32::consts::PI * f1 / rate as f32;
            p2 += 2.0 * std::f32::consts::PI * f2 / rate as f32;
            let env = 0.55 + 0.45 * (2.0 * std::f32::consts::PI * 3.0 * t).sin();
            0.4 * env * (p1.sin() + 0.5 * p2.sin())
        })
        .collect()
}

fn wav_bytes(rate: u32, samples: &[f32]) -> Vec<u8> {
    let data_len = (samples.len() * 2) as u32;
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data_len).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * 2).to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        b.extend_from_slice(&((s * 32767.0) as i16).to_le_bytes());
    }
    b
}

fn write_wav(dir: &Path, name: &str, rate: u32, samples: &[f32]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, wav_bytes(rate, samples)).unwrap();
    p
}

/// Best normalised cross-correlation of `got` against `reference` over lags `0..max_lag`
/// (`got` may start later than the reference).
fn best_correlation(got: &[f32], reference: &[f32], max_lag: usize) -> (f32, usize) {
    let mut best = (f32::MIN, 0);
    for lag in 0..max_lag.min(got.len()) {
        let a = &got[lag..];
        let n = a.len().min(reference.len());
        if n < 100 {
            break;
        }
        let (mut xy, mut xx, mut yy) = (0.0f64, 0.0f64, 0.0f64);
        for (x, y) in a[..n].iter().zip(&reference[..n]) {
            xy += f64::from(*x) * f64::from(*y);
            xx += f64::from(*x) * f64::from(*x);
            yy += f64::from(*y) * f64::from(*y);
        }
        let c = (xy / (xx.sqrt() * yy.sqrt()).max(1e-12)) as f32;
        if c > best.0 {
            best = (c, lag);
        }
    }
    best
}

struct Call {
    session: MediaSession,
    events: UnboundedReceiver<MediaEvent>,
    phone: UdpSocket,
    _dir: tempfile::TempDir,
    dir: PathBuf,
}

async fn call(codec: Codec, pt: u8, te: Option<u8>, cfg: MediaConfig) -> Call {
    let phone = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let remote = phone.local_addr().unwrap();
    let cache = Arc::new(PromptCache::new(PromptCacheConfig::default()));
    let (session, events) = MediaSession::start(
        cfg,
        socket,
        remote,
        negotiated(codec, pt, te, remote),
        cache,
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    Call {
        session,
        events,
        phone,
        dir: dir.path().to_owned(),
        _dir: dir,
    }
}

#[derive(Debug, Clone)]
struct Received {
    header: RtpHeader,
    payload: Vec<u8>,
    at: Instant,
}

fn parse(buf: &[u8], at: Instant) -> Received {
    let p = rtp::parse(buf).expect("the session sends valid RTP");
    Received {
        header: p.header,
        payload: p.payload.to_vec(),
        at,
    }
}

impl Call {
    /// Packets until `PlaybackFinished(id)` (or a failure), with the events seen meanwhile.
    async fn until_finished(&mut self, id: u64) -> (Vec<Received>, Vec<MediaEvent>) {
        let mut packets = Vec::new();
        let mut events = Vec::new();
        let mut buf = [0u8; 2048];
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            tokio::select! {
                r = self.phone.recv_from(&mut buf) => {
                    let (n, _) = r.unwrap();
                    packets.push(parse(&buf[..n], Instant::now()));
                }
                e = self.events.recv() => {
                    let e = e.expect("session alive");
                    let done = matches!(&e, MediaEvent::PlaybackFinished(RequestId(x)) if *x == id)
                        || matches!(&e, MediaEvent::PlaybackFailed { id: RequestId(x), .. } if *x == id);
                    events.push(e);
                    if done {
                        // The last frame was sent before the event: it is in the socket buffer.
                        while let Ok((n, _)) = self.phone.try_recv_from(&mut buf) {
                            packets.push(parse(&buf[..n], Instant::now()));
                        }
                        return (packets, events);
                    }
                }
                () = tokio::time::sleep_until(deadline) => panic!("prompt {id} did not finish; events {events:?}"),
            }
        }
    }

    /// Packets arriving within `window`.
    async fn packets_for(&mut self, window: Duration) -> Vec<Received> {
        let mut out = Vec::new();
        let mut buf = [0u8; 2048];
        let deadline = tokio::time::Instant::now() + window;
        while let Ok(Ok((n, _))) =
            tokio::time::timeout_at(deadline, self.phone.recv_from(&mut buf)).await
        {
            out.push(parse(&buf[..n], Instant::now()));
        }
        out
    }

    /// The next event, within `WAIT`.
    async fn event(&mut self) -> MediaEvent {
        tokio::time::timeout(WAIT, self.events.recv())
            .await
            .expect("an event in time")
            .expect("session alive")
    }

    /// Events arriving within `window`.
    async fn events_for(&mut self, window: Duration) -> Vec<MediaEvent> {
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + window;
        while let Ok(Some(e)) = tokio::time::timeout_at(deadline, self.events.recv()).await {
            out.push(e);
        }
        out
    }

    async fn send_to_session(&self, bytes: &[u8]) {
        self.phone
            .send_to(bytes, self.session.local_addr())
            .await
            .unwrap();
    }
}

fn decode_g711(law: Law, packets: &[Received]) -> Vec<f32> {
    let mut pcm = Vec::new();
    for p in packets {
        law.decode(&p.payload, &mut pcm);
    }
    pcm.iter().map(|&s| f32::from(s) / 32768.0).collect()
}

fn assert_continuous(packets: &[Received], step: u32) {
    for w in packets.windows(2) {
        assert_eq!(
            w[1].header.sequence,
            w[0].header.sequence.wrapping_add(1),
            "sequence"
        );
        assert_eq!(
            w[1].header.timestamp,
            w[0].header.timestamp.wrapping_add(step),
            "timestamp"
        );
        assert_eq!(w[1].header.ssrc, w[0].header.ssrc);
    }
}

#[tokio::test]
async fn pcmu_prompt_is_paced_and_sounds_like_its_source() {
    let mut c = call(Codec::Pcmu, 0, Some(101), MediaConfig::default()).await;
    let source = signal(8000, 1000, 0.0);
    let wav = write_wav(&c.dir, "p.wav", 8000, &source);
    c.session.play(RequestId(1), Media::File(wav));
    let (packets, events) = c.until_finished(1).await;
    assert!(
        matches!(events[..], [MediaEvent::PlaybackFinished(RequestId(1))]),
        "{events:?}"
    );
    assert_eq!(packets.len(), 50);
    assert!(packets
        .iter()
        .all(|p| p.header.payload_type == PayloadType::PCMU));
    assert!(packets.iter().all(|p| p.payload.len() == 160));
    assert!(packets[0].header.marker);
    assert!(packets[1..].iter().all(|p| !p.header.marker));
    assert_continuous(&packets, 160);
    // The pacer never sends early: 50 packets span at least 49 × 20 ms (minus scheduling slop).
    let span = packets[49].at - packets[0].at;
    assert!(span >= Duration::from_millis(940), "sent in {span:?}");
    let heard = decode_g711(Law::Mu, &packets);
    let (corr, lag) = best_correlation(&heard, &source, 50);
    let gaps: Vec<Duration> = packets.windows(2).map(|w| w[1].at - w[0].at).collect();
    eprintln!(
        "pcmu: correlation {corr:.4} at lag {lag}; span {span:?}; max gap {:?}",
        gaps.iter().max()
    );
    assert!(corr > 0.97 && lag <= 2, "correlation {corr} at lag {lag}");
}

#[tokio::test]
async fn back_to_back_prompts_are_one_talkspurt_and_a_later_one_sets_the_marker() {
    let mut c = call(Codec::Pcma, 8, Some(101), MediaConfig::default()).await;
    let a = write_wav(&c.dir, "a.wav", 8000, &signal(8000, 200, 0.1));
    let b = write_wav(&c.dir, "b.wav", 16000, &signal(16000, 300, 0.2));
    c.session.play(RequestId(1), Media::File(a.clone()));
    c.session.play(RequestId(2), Media::File(b));
    let (mut first, ev1) = c.until_finished(1).await;
    let (second, ev2) = c.until_finished(2).await;
    assert!(matches!(
        ev1[..],
        [MediaEvent::PlaybackFinished(RequestId(1))]
    ));
    assert!(matches!(
        ev2[..],
        [MediaEvent::PlaybackFinished(RequestId(2))]
    ));
    assert_eq!((first.len(), second.len()), (10, 15));
    first.extend(second);
    assert_continuous(&first, 160);
    let markers: Vec<usize> = (0..first.len())
        .filter(|&i| first[i].header.marker)
        .collect();
    assert_eq!(markers, [0], "one talkspurt");
    let last = first.last().unwrap().header;
    // After a pause, a new talkspurt: marker, next sequence number, timestamp moved on by the
    // pause (at least one packet).
    let _ = c.packets_for(Duration::from_millis(100)).await;
    c.session.play(RequestId(3), Media::File(a));
    let (third, _) = c.until_finished(3).await;
    assert!(third[0].header.marker);
    assert_eq!(third[0].header.sequence, last.sequence.wrapping_add(1));
    let jump = third[0].header.timestamp.wrapping_sub(last.timestamp);
    assert!((800..8000).contains(&jump), "timestamp advanced by {jump}");
    assert_continuous(&third, 160);
}

#[tokio::test]
async fn barge_in_stops_the_prompt_within_one_frame() {
    let mut c = call(Codec::Pcmu, 0, Some(101), MediaConfig::default()).await;
    let long = write_wav(&c.dir, "long.wav", 8000, &signal(8000, 5000, 0.3));
    c.session.play(RequestId(7), Media::File(long));
    let mut buf = [0u8; 2048];
    for _ in 0..5 {
        tokio::time::timeout(WAIT, c.phone.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
    }
    while c.phone.try_recv_from(&mut buf).is_ok() {}
    c.session.stop(RequestId(7));
    let after = c.packets_for(Duration::from_millis(300)).await;
    assert!(after.len() <= 1, "{} packets after stop", after.len());
    assert!(
        c.events_for(Duration::from_millis(50)).await.is_empty(),
        "no event after stop"
    );
}

#[tokio::test]
async fn rfc4733_digits_count_once_and_info_duplicates_are_merged() {
    let mut c = call(Codec::Pcmu, 0, Some(101), MediaConfig::default()).await;
    let t0 = Instant::now();
    let mut seq = 1000u16;
    for (i, key) in ['5', '#'].into_iter().enumerate() {
        let ts = 8000 * (i as u32 + 1);
        for p in rfc4733::send_digit(d(key), t0, ts, 8000, Duration::from_millis(100), 10) {
            let h = RtpHeader {
                payload_type: PayloadType::new(101).unwrap(),
                marker: p.marker,
                sequence: seq,
                timestamp: p.timestamp,
                ssrc: 0x1234,
            };
            seq = seq.wrapping_add(1);
            c.send_to_session(&h.to_packet(&p.payload.to_bytes())).await;
        }
    }
    let mut digits = Vec::new();
    let mut other = Vec::new();
    while digits.len() < 2 {
        match c.event().await {
            MediaEvent::Dtmf { digit, method } => digits.push((digit.as_char(), method)),
            e => other.push(e),
        }
    }
    assert_eq!(
        digits,
        [('5', DtmfMethod::Rfc4733), ('#', DtmfMethod::Rfc4733)]
    );
    // The same '#' by INFO right after is the same press; a '7' by INFO is new.
    c.session.dtmf_from_info(d('#'));
    c.session.dtmf_from_info(d('7'));
    let rest: Vec<MediaEvent> = c.events_for(Duration::from_millis(300)).await;
    let dtmf: Vec<_> = rest
        .iter()
        .filter_map(|e| match e {
            MediaEvent::Dtmf { digit, method } => Some((digit.as_char(), *method)),
            _ => None,
        })
        .collect();
    assert_eq!(dtmf, [('7', DtmfMethod::SipInfo)], "{rest:?}");
    // The phone sent from its own socket, which is also where we were sending: no switch.
    assert!(other
        .iter()
        .all(|e| !matches!(e, MediaEvent::RemoteAddr(_))));
}

#[tokio::test]
async fn inband_tones_in_pcma_are_detected() {
    let mut c = call(Codec::Pcma, 8, None, MediaConfig::default()).await;
    // '8': 852 Hz + 1336 Hz for 100 ms, then silence; each tone at -12 dBFS.
    let amp = 0.25f32;
    let mut pcm: Vec<i16> = (0..800)
        .map(|n| {
            let t = n as f32 / 8000.0;
            let x = amp
                * ((2.0 * std::f32::consts::PI * 852.0 * t).sin()
                    + (2.0 * std::f32::consts::PI * 1336.0 * t).sin());
            (x * 32767.0) as i16
        })
        .collect();
    pcm.extend(std::iter::repeat_n(0i16, 1600));
    for (i, frame) in pcm.chunks(160).enumerate() {
        let mut payload = Vec::new();
        Law::A.encode(frame, &mut payload);
        let h = RtpHeader {
            payload_type: PayloadType::PCMA,
            marker: i == 0,
            sequence: 40 + i as u16,
            timestamp: 160 * i as u32,
            ssrc: 77,
        };
        c.send_to_session(&h.to_packet(&payload)).await;
    }
    let e = c.event().await;
    assert!(
        matches!(e, MediaEvent::Dtmf { digit, method: DtmfMethod::InBand } if digit == d('8')),
        "{e:?}"
    );
    assert!(c.events_for(Duration::from_millis(200)).await.is_empty());
}

#[tokio::test]
async fn dtmf_out_is_rfc4733_with_three_end_packets() {
    let mut c = call(Codec::Pcmu, 0, Some(101), MediaConfig::default()).await;
    c.session.send_dtmf(d('9'));
    let packets = c.packets_for(Duration::from_millis(600)).await;
    assert!(packets.iter().all(|p| p.header.payload_type.get() == 101));
    let mut rx = DtmfReceiver::new();
    let presses: Vec<char> = packets
        .iter()
        .filter_map(|p| {
            rx.receive(p.header.ssrc, p.header.timestamp, &p.payload)
                .unwrap()
        })
        .map(|p| p.digit.as_char())
        .collect();
    assert_eq!(presses, ['9']);
    let ends = packets.iter().filter(|p| p.payload[1] & 0x80 != 0).count();
    assert_eq!(ends, 3);
    assert!(packets[0].header.marker);
    for w in packets.windows(2) {
        assert_eq!(w[1].header.sequence, w[0].header.sequence.wrapping_add(1));
    }
}

#[tokio::test]
async fn symmetric_rtp_follows_the_callers_source_address() {
    let mut c = call(Codec::Pcmu, 0, Some(101), MediaConfig::default()).await;
    // The phone advertised `c.phone` but sends from another port (a NAT).
    let natted = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let h = RtpHeader {
        payload_type: PayloadType::PCMU,
        marker: true,
        sequence: 1,
        timestamp: 0,
        ssrc: 99,
    };
    natted
        .send_to(&h.to_packet(&[0xFF; 160]), c.session.local_addr())
        .await
        .unwrap();
    let e = c.event().await;
    assert!(
        matches!(e, MediaEvent::RemoteAddr(a) if a == natted.local_addr().unwrap()),
        "{e:?}"
    );
    let wav = write_wav(&c.dir, "x.wav", 8000, &signal(8000, 100, 0.0));
    c.session.play(RequestId(1), Media::File(wav));
    let mut buf = [0u8; 2048];
    let (n, from) = tokio::time::timeout(WAIT, natted.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(from, c.session.local_addr());
    assert_eq!(
        rtp::parse(&buf[..n]).unwrap().header.payload_type,
        PayloadType::PCMU
    );
    // A stranger with another SSRC cannot take the stream over.
    let stranger = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let h2 = RtpHeader { ssrc: 5, ..h };
    stranger
        .send_to(&h2.to_packet(&[0xFF; 160]), c.session.local_addr())
        .await
        .unwrap();
    let evs = c.events_for(Duration::from_millis(300)).await;
    assert!(
        evs.iter().all(|e| !matches!(e, MediaEvent::RemoteAddr(_))),
        "{evs:?}"
    );
}

#[tokio::test]
async fn silence_from_the_caller_is_an_rtp_timeout_but_not_on_hold() {
    let cfg = MediaConfig {
        rtp_timeout: Duration::from_millis(200),
        ..MediaConfig::default()
    };
    let mut c = call(Codec::Pcmu, 0, None, cfg.clone()).await;
    assert!(matches!(c.event().await, MediaEvent::RtpTimeout));
    let mut held = call(Codec::Pcmu, 0, None, cfg).await;
    held.session.set_hold(true);
    assert!(held.events_for(Duration::from_millis(500)).await.is_empty());
}

#[tokio::test]
async fn idle_silence_keeps_the_stream_going() {
    let cfg = MediaConfig {
        idle: IdleAudio::Silence,
        ..MediaConfig::default()
    };
    let mut c = call(Codec::Pcmu, 0, None, cfg).await;
    let packets = c.packets_for(Duration::from_millis(300)).await;
    assert!(packets.len() >= 5, "{}", packets.len());
    assert!(packets.iter().all(|p| p.payload == [0xFF; 160]));
    assert_continuous(&packets, 160);
}

#[tokio::test]
async fn opus_prompt_round_trips() {
    let mut c = call(Codec::Opus, 111, Some(101), MediaConfig::default()).await;
    let source = signal(16000, 1000, 0.05);
    let wav = write_wav(&c.dir, "o.wav", 16000, &source);
    c.session.play(RequestId(1), Media::File(wav));
    let (packets, _) = c.until_finished(1).await;
    assert_eq!(packets.len(), 50);
    assert!(packets.iter().all(|p| p.header.payload_type.get() == 111));
    assert_continuous(&packets, 960);
    let mut dec = opus2::Decoder::new(48000, opus2::Channels::Mono).unwrap();
    let mut heard = Vec::new();
    let mut buf = vec![0i16; 5760];
    for p in &packets {
        let n = dec.decode(&p.payload, &mut buf, false).unwrap();
        assert_eq!(n, 960);
        heard.extend(buf[..n].iter().map(|&s| f32::from(s) / 32768.0));
    }
    let reference = phonetree::audio::resample(&source, 16000, 48000).unwrap();
    let (corr, lag) = best_correlation(&heard, &reference, 1200);
    eprintln!("opus round trip: correlation {corr:.4} at lag {lag}");
    assert!(corr > 0.85, "correlation {corr} at lag {lag}");
}

#[test]
fn every_format_decodes_resamples_and_encodes() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audio");
    // 44.1 kHz stereo made by sox when it is installed (CI installs it); the committed 8 kHz
    // fixtures otherwise.
    let have_sox = std::process::Command::new("sox")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let files: Vec<PathBuf> = if have_sox {
        ["wav", "mp3", "ogg", "flac"]
            .iter()
            .filter_map(|ext| {
                let p = dir.path().join(format!("sweep.{ext}"));
                let ok = std::process::Command::new("sox")
                    .args(["-n", "-r", "44100", "-c", "2"])
                    .arg(&p)
                    .args(["synth", "0.6", "sine", "300-1200", "vol", "0.5"])
                    .status()
                    .is_ok_and(|s| s.success());
                ok.then_some(p)
            })
            .collect()
    } else {
        ["beep.mp3", "beep.ogg", "beep.flac"]
            .iter()
            .map(|n| fixtures.join(n))
            .collect()
    };
    assert_eq!(files.len(), if have_sox { 4 } else { 3 }, "{files:?}");
    for f in &files {
        let pcm = phonetree::audio::decode_file(f, Duration::from_secs(60)).unwrap();
        let at8k = phonetree::audio::resample(&pcm.samples, pcm.rate, 8000).unwrap();
        for (codec, per_frame) in [(Codec::Pcmu, 160), (Codec::Pcma, 160), (Codec::Opus, 960)] {
            let frames = prompts::load(f, codec, Duration::from_secs(60)).unwrap();
            let expected = (pcm.samples.len() as f64 / f64::from(pcm.rate) * 50.0).ceil() as usize;
            assert!(
                frames.len().abs_diff(expected) <= 1,
                "{f:?} {codec:?}: {} frames, expected {expected}",
                frames.len()
            );
            if let Some(law) = match codec {
                Codec::Pcmu => Some(Law::Mu),
                Codec::Pcma => Some(Law::A),
                Codec::Opus => None,
            } {
                let mut back = Vec::new();
                for fr in &frames {
                    assert_eq!(fr.len(), per_frame);
                    law.decode(fr.payload(), &mut back);
                }
                let back: Vec<f32> = back.iter().map(|&s| f32::from(s) / 32768.0).collect();
                let (corr, _) = best_correlation(&back, &at8k, 4);
                eprintln!("{}: {codec:?} correlation {corr:.4}", f.display());
                assert!(corr > 0.95, "{f:?} {codec:?}: correlation {corr}");
            }
        }
    }
}

/// A one-shot HTTP server on 127.0.0.1 serving `body` in `chunk`-byte pieces `gap` apart
/// (`status` other than 200 sends no body; `stall` stops after the headers and half the body).
fn serve(body: Vec<u8>, content_type: &'static str, status: u16, stall: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let Ok((mut s, _)) = listener.accept() else {
            return;
        };
        s.set_read_timeout(Some(Duration::from_secs(2))).ok();
        let mut req = [0u8; 4096];
        let _ = std::io::Read::read(&mut s, &mut req);
        if status != 200 {
            let _ = write!(
                s,
                "HTTP/1.1 {status} Nope\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            return;
        }
        let _ = write!(
            s,
            "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let limit = if stall { body.len() / 2 } else { body.len() };
        for piece in body[..limit].chunks(2000) {
            if s.write_all(piece).is_err() {
                return;
            }
            // Slower than real time would be a stall; this is a slow-ish link, bounded.
            std::thread::sleep(Duration::from_millis(5));
        }
        if stall {
            std::thread::sleep(Duration::from_secs(3));
        }
    });
    format!("http://{addr}/prompt")
}

#[tokio::test]
async fn remote_wav_and_mp3_stream_while_downloading() {
    let mut c = call(Codec::Pcmu, 0, Some(101), MediaConfig::default()).await;
    let source = signal(22050, 800, 0.4);
    let url = serve(wav_bytes(22050, &source), "audio/wav", 200, false);
    c.session.play(RequestId(1), Media::Url(url));
    let (packets, events) = c.until_finished(1).await;
    assert!(
        matches!(events[..], [MediaEvent::PlaybackFinished(RequestId(1))]),
        "{events:?}"
    );
    assert!(
        (39..=42).contains(&packets.len()),
        "{} packets",
        packets.len()
    );
    assert_continuous(&packets, 160);
    let heard = decode_g711(Law::Mu, &packets);
    let reference = phonetree::audio::resample(&source, 22050, 8000).unwrap();
    let (corr, lag) = best_correlation(&heard, &reference, 20);
    assert!(corr > 0.95, "correlation {corr} at lag {lag}");

    let mp3 = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audio/beep.mp3");
    let url = serve(std::fs::read(&mp3).unwrap(), "audio/mpeg", 200, false);
    c.session.play(RequestId(2), Media::Url(url));
    let (packets, _) = c.until_finished(2).await;
    let heard = decode_g711(Law::Mu, &packets);
    let pcm = phonetree::audio::decode_file(&mp3, Duration::from_secs(5)).unwrap();
    let (corr, _) = best_correlation(&heard, &pcm.samples, 20);
    assert!(corr > 0.9, "mp3 correlation {corr}");
}

#[tokio::test]
async fn remote_failures_are_playback_failed() {
    let cfg = MediaConfig {
        stream: phonetree::engine::media::StreamConfig {
            read_timeout: Duration::from_millis(300),
            response_timeout: Duration::from_secs(2),
            ..Default::default()
        },
        ..MediaConfig::default()
    };
    let mut c = call(Codec::Pcmu, 0, None, cfg).await;
    let not_found = serve(Vec::new(), "audio/wav", 404, false);
    c.session.play(RequestId(1), Media::Url(not_found));
    let (_, ev) = c.until_finished(1).await;
    assert!(
        matches!(&ev[..], [MediaEvent::PlaybackFailed { id: RequestId(1), reason }] if reason.to_string().contains("404")),
        "{ev:?}"
    );
    // Nothing listens on this port (a listener bound then dropped).
    let refused = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/x.wav", l.local_addr().unwrap())
    };
    c.session.play(RequestId(2), Media::Url(refused));
    let (_, ev) = c.until_finished(2).await;
    assert!(
        matches!(
            &ev[..],
            [MediaEvent::PlaybackFailed {
                id: RequestId(2),
                ..
            }]
        ),
        "{ev:?}"
    );
    // A server that stalls mid-body: the part that came plays, then the read times out.
    let stall = serve(
        wav_bytes(8000, &signal(8000, 2000, 0.0)),
        "audio/wav",
        200,
        true,
    );
    c.session.play(RequestId(3), Media::Url(stall));
    let (packets, ev) = c.until_finished(3).await;
    assert!(
        matches!(
            &ev[..],
            [MediaEvent::PlaybackFailed {
                id: RequestId(3),
                ..
            }]
        ),
        "{ev:?}"
    );
    assert!(
        packets.len() >= 20,
        "the first half played: {}",
        packets.len()
    );
    // A missing local file fails too.
    c.session
        .play(RequestId(4), Media::File(c.dir.join("missing.wav")));
    let (_, ev) = c.until_finished(4).await;
    assert!(
        matches!(
            &ev[..],
            [MediaEvent::PlaybackFailed {
                id: RequestId(4),
                ..
            }]
        ),
        "{ev:?}"
    );
}

#[tokio::test]
async fn garbage_and_rtcp_never_hurt_the_session() {
    let mut c = call(Codec::Pcmu, 0, Some(101), MediaConfig::default()).await;
    for bytes in [
        &b""[..],
        &[0x80, 201, 0, 1, 0, 0, 0, 1][..],
        &[0xff; 7][..],
        &[0x80; 40][..],
    ] {
        c.send_to_session(bytes).await;
    }
    let wav = write_wav(&c.dir, "g.wav", 8000, &signal(8000, 100, 0.0));
    c.session.play(RequestId(1), Media::File(wav));
    let (packets, _) = c.until_finished(1).await;
    assert_eq!(packets.len(), 5);
}

#[tokio::test]
async fn a_reinvite_moves_the_stream_and_changes_codec_mid_prompt() {
    let mut c = call(Codec::Pcmu, 0, Some(101), MediaConfig::default()).await;
    let wav = write_wav(&c.dir, "r.wav", 8000, &signal(8000, 1000, 0.2));
    c.session.play(RequestId(1), Media::File(wav));
    let mut buf = [0u8; 2048];
    let mut before = Vec::new();
    for _ in 0..10 {
        let (n, _) = tokio::time::timeout(WAIT, c.phone.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        before.push(parse(&buf[..n], Instant::now()));
    }
    let moved = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let to = moved.local_addr().unwrap();
    c.session
        .update_remote(to, negotiated(Codec::Pcma, 8, Some(101), to));
    let mut after = Vec::new();
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        tokio::select! {
            r = moved.recv_from(&mut buf) => {
                let (n, _) = r.unwrap();
                after.push(parse(&buf[..n], Instant::now()));
            }
            e = c.events.recv() => {
                let e = e.unwrap();
                let done = matches!(e, MediaEvent::PlaybackFinished(_));
                events.push(e);
                if done { break; }
            }
            () = tokio::time::sleep_until(deadline) => panic!("no finish: {events:?}"),
        }
    }
    while let Ok((n, _)) = moved.try_recv_from(&mut buf) {
        after.push(parse(&buf[..n], Instant::now()));
    }
    let late = c.packets_for(Duration::from_millis(50)).await;
    assert!(after
        .iter()
        .all(|p| p.header.payload_type == PayloadType::PCMA));
    // The prompt resumed where it was: 50 frames in all, give or take the ones in flight
    // while the codec switched.
    let total = before.len() + late.len() + after.len();
    assert!((48..=52).contains(&total), "{total} frames");
    assert!(after[0].header.marker, "the new codec starts a talkspurt");
    assert_continuous(&after, 160);
}

#[tokio::test]
async fn ports_from_the_allocator_come_back_when_the_session_ends() {
    use phonetree::engine::media::RtpPortAllocator;
    let alloc = RtpPortAllocator::new([127, 0, 0, 1].into(), 46000..=46100).unwrap();
    let socket = alloc.allocate().unwrap();
    let port = socket.socket.local_addr().unwrap().port();
    assert_eq!(port % 2, 0);
    let phone = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let remote = phone.local_addr().unwrap();
    let cache = Arc::new(PromptCache::new(PromptCacheConfig::default()));
    let (session, _events) = MediaSession::start(
        MediaConfig::default(),
        socket,
        remote,
        negotiated(Codec::Pcmu, 0, None, remote),
        cache,
    )
    .await;
    assert_eq!(session.local_addr().port(), port);
    assert_eq!(alloc.leased(), 1);
    drop(session);
    let deadline = Instant::now() + WAIT;
    while alloc.leased() != 0 {
        assert!(Instant::now() < deadline, "lease not released");
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn inband_tones_in_opus_are_detected() {
    let mut c = call(Codec::Opus, 111, None, MediaConfig::default()).await;
    // '3': 697 Hz + 1477 Hz for 120 ms at 48 kHz, then silence.
    let mut pcm: Vec<f32> = (0..5760)
        .map(|n| {
            let t = n as f32 / 48000.0;
            0.25 * ((2.0 * std::f32::consts::PI * 697.0 * t).sin()
                + (2.0 * std::f32::consts::PI * 1477.0 * t).sin())
        })
        .collect();
    pcm.extend(std::iter::repeat_n(0.0, 9600));
    let frames =
        phonetree::engine::media::codec::FrameEncoder::encode_all(Codec::Opus, &pcm).unwrap();
    for (i, f) in frames.iter().enumerate() {
        let h = RtpHeader {
            payload_type: PayloadType::new(111).unwrap(),
            marker: i == 0,
            sequence: 500 + i as u16,
            timestamp: 960 * i as u32,
            ssrc: 8,
        };
        c.send_to_session(&h.to_packet(f.payload())).await;
    }
    let e = c.event().await;
    assert!(
        matches!(e, MediaEvent::Dtmf { digit, method: DtmfMethod::InBand } if digit == d('3')),
        "{e:?}"
    );
}
