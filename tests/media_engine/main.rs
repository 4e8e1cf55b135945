//! The media engine on loopback: a fake "phone" UDP socket talks RTP to a `MediaSession`.
//!
//! Checks what a caller would hear and what the call would see: paced prompt frames that decode
//! back to the source (G.711 and Opus), continuous sequence numbers and timestamps across
//! prompts with the marker on a new talkspurt, barge-in, RFC 4733 / in-band / SIP INFO digits
//! counted once, DTMF out, symmetric RTP, the RTP timeout, remote HTTP prompts from a local
//! server, and prompt decoding of WAV/MP3/OGG/FLAC. Every wait is bounded; no sleep is an
//! assertion.

mod load;
mod remote;
mod session;

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use phonetree::engine::media::{
    prompts, DtmfMethod, IdleAudio, InbandDtmf, MediaConfig, MediaEvent, MediaSession, PromptCache,
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
        srtp: None,
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

/// A PCMU + telephone-event session on a fresh loopback socket, sending to `remote`.
async fn pcmu_session(
    remote: SocketAddr,
    cache: &Arc<PromptCache>,
) -> (MediaSession, UnboundedReceiver<MediaEvent>) {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    MediaSession::start(
        MediaConfig::default(),
        socket,
        remote,
        negotiated(Codec::Pcmu, 0, Some(101), remote),
        cache.clone(),
    )
    .await
    .expect("media session starts")
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
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let remote = phone.local_addr().unwrap();
    let cache = Arc::new(PromptCache::new(PromptCacheConfig::default()));
    let (session, events) = MediaSession::start(
        cfg,
        socket,
        remote,
        negotiated(codec, pt, te, remote),
        cache,
    )
    .await
    .expect("media session starts");
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
