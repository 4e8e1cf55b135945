//! Twilio's side of a Media Stream, written to Twilio's documentation, for what `streamdouble`
//! (the third-party peer of the interop tests) cannot check from Rust: withholding a mark's
//! echo, timestamps of every message, the REST stand-in.
//!
//! [`TwilioCall::connect`] opens the websocket, sends `connected` and `start` (with custom
//! parameters), then streams the caller's audio (silence unless given) every 20 ms as Twilio
//! does; a reader records what phonetree sends with arrival times and, like Twilio, echoes each
//! `mark` once the audio sent before it would have played (a `clear` drops pending marks).
//! Everything is bounded in time; the tasks stop when the call is dropped.

#![allow(dead_code)]

pub mod masdif;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use phonetree::flow::digit::Digit;
use phonetree::wsmedia::twilio::{parse_to_twilio, ToTwilio, TwilioSide};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// What phonetree sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    Media(Vec<u8>),
    Mark(String),
    Clear,
    Closed,
}

/// Options of a simulated call.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Extra request headers (X-Twilio-Signature).
    pub headers: Vec<(String, String)>,
    /// `<Parameter>`s on `start`.
    pub custom: BTreeMap<String, String>,
    /// Do not echo marks (the test echoes them itself).
    pub no_echo: bool,
    /// μ-law audio the caller says from the start (silence after it).
    pub audio: Vec<u8>,
}

enum Cmd {
    Text(String),
    Dtmf(Digit),
    Mark(String),
    Say(Vec<u8>),
    Stop,
    Close,
}

/// One simulated Twilio call.
pub struct TwilioCall {
    cmds: mpsc::UnboundedSender<Cmd>,
    heard: mpsc::UnboundedReceiver<(Instant, Heard)>,
    pub started: Instant,
    /// Marks echoed so far.
    pub echoed: Arc<Mutex<Vec<String>>>,
}

impl TwilioCall {
    /// Connects to `url`; `Err` carries the HTTP status of a refused upgrade.
    pub async fn connect(url: &str, opts: Options) -> Result<TwilioCall, u16> {
        let mut req = url.into_client_request().expect("ws request");
        for (k, v) in &opts.headers {
            req.headers_mut().insert(
                tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        let (ws, _) = match tokio::time::timeout(
            Duration::from_secs(5),
            tokio_tungstenite::connect_async(req),
        )
        .await
        {
            Ok(Ok(c)) => c,
            Ok(Err(tokio_tungstenite::tungstenite::Error::Http(resp))) => {
                return Err(resp.status().as_u16())
            }
            Ok(Err(e)) => panic!("websocket connect failed: {e}"),
            Err(_) => panic!("websocket connect timed out"),
        };
        let (mut tx, mut rx) = ws.split();
        let mut side = TwilioSide::new("MZ0001", "CA0001", "AC0001");
        tx.send(Message::text(side.connected())).await.unwrap();
        tx.send(Message::text(side.start(&opts.custom)))
            .await
            .unwrap();
        let started = Instant::now();
        let (cmd_tx, mut cmd_rx) = mpsc::unbounded_channel::<Cmd>();
        let (heard_tx, heard_rx) = mpsc::unbounded_channel();
        let echoed = Arc::new(Mutex::new(Vec::new()));
        // Writer: the caller's audio every 20 ms, keys, mark echoes, stop.
        let audio = opts.audio.clone();
        tokio::spawn(async move {
            let mut queue: VecDeque<u8> = audio.into();
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            let mut ms = 0u64;
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        let mut frame = vec![0xffu8; 160];
                        for b in frame.iter_mut() {
                            match queue.pop_front() { Some(x) => *b = x, None => break }
                        }
                        if tx.send(Message::text(side.media(&frame, ms))).await.is_err() { return; }
                        ms += 20;
                    }
                    cmd = cmd_rx.recv() => {
                        let text = match cmd {
                            Some(Cmd::Text(t)) => t,
                            Some(Cmd::Dtmf(d)) => side.dtmf(d),
                            Some(Cmd::Mark(n)) => side.mark(&n),
                            Some(Cmd::Say(a)) => { queue.extend(a); continue; }
                            Some(Cmd::Stop) => side.stop(),
                            Some(Cmd::Close) | None => { let _ = tx.close().await; return; }
                        };
                        if tx.send(Message::text(text)).await.is_err() { return; }
                    }
                }
            }
        });
        // Reader: records, and echoes marks when the audio before them has played.
        let echo_tx = cmd_tx.clone();
        let no_echo = opts.no_echo;
        let echoed2 = echoed.clone();
        tokio::spawn(async move {
            let mut play_until = Instant::now();
            let mut pending: Vec<(Instant, String)> = Vec::new();
            loop {
                let next_mark = pending.iter().map(|(t, _)| *t).min();
                let sleep = async {
                    match next_mark {
                        Some(t) => tokio::time::sleep_until(t.into()).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    () = sleep => {
                        let now = Instant::now();
                        let due: Vec<String> = pending.iter().filter(|(t, _)| *t <= now).map(|(_, n)| n.clone()).collect();
                        pending.retain(|(t, _)| *t > now);
                        for n in due {
                            echoed2.lock().unwrap().push(n.clone());
                            let _ = echo_tx.send(Cmd::Mark(n));
                        }
                    }
                    m = rx.next() => {
                        let now = Instant::now();
                        let heard = match m {
                            Some(Ok(Message::Text(t))) => match parse_to_twilio(t.as_str()) {
                                Ok(ToTwilio::Media(bytes)) => {
                                    play_until = play_until.max(now) + Duration::from_millis(20) * (bytes.len() as u32).div_ceil(160);
                                    Heard::Media(bytes)
                                }
                                Ok(ToTwilio::Mark(name)) => {
                                    if !no_echo { pending.push((play_until.max(now), name.clone())); }
                                    Heard::Mark(name)
                                }
                                Ok(ToTwilio::Clear) => {
                                    play_until = now;
                                    pending.clear();
                                    Heard::Clear
                                }
                                other => panic!("phonetree sent something Twilio does not take: {other:?} ({t})"),
                            },
                            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                                let _ = heard_tx.send((now, Heard::Closed));
                                return;
                            }
                            Some(Ok(_)) => continue,
                        };
                        if heard_tx.send((now, heard)).is_err() { return; }
                    }
                }
            }
        });
        Ok(TwilioCall {
            cmds: cmd_tx,
            heard: heard_rx,
            started,
            echoed,
        })
    }

    pub fn dtmf(&self, key: char) {
        let _ = self.cmds.send(Cmd::Dtmf(Digit::from_char(key).unwrap()));
    }

    /// Echoes a mark now (with `no_echo`).
    pub fn echo(&self, name: &str) {
        let _ = self.cmds.send(Cmd::Mark(name.to_string()));
    }

    /// Queues μ-law audio as the caller's voice.
    pub fn say(&self, mulaw: Vec<u8>) {
        let _ = self.cmds.send(Cmd::Say(mulaw));
    }

    /// Sends a raw text frame (bad JSON tests).
    pub fn raw(&self, text: &str) {
        let _ = self.cmds.send(Cmd::Text(text.to_string()));
    }

    /// Twilio's `stop` (the caller hung up).
    pub fn stop(&self) {
        let _ = self.cmds.send(Cmd::Stop);
    }

    pub fn close(&self) {
        let _ = self.cmds.send(Cmd::Close);
    }

    /// The next thing phonetree sent, within `d`.
    pub async fn next(&mut self, d: Duration) -> Option<(Instant, Heard)> {
        tokio::time::timeout(d, self.heard.recv())
            .await
            .ok()
            .flatten()
    }

    /// Everything until `pred` matches (included), within `d`; panics on timeout.
    pub async fn until(
        &mut self,
        d: Duration,
        what: &str,
        pred: impl Fn(&Heard) -> bool,
    ) -> Vec<(Instant, Heard)> {
        let end = Instant::now() + d;
        let mut got = Vec::new();
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.next(left).await {
                Some(h) => {
                    let hit = pred(&h.1);
                    got.push(h);
                    if hit {
                        return got;
                    }
                }
                None => panic!("no {what} within {d:?}; got {:?}", summary(&got)),
            }
        }
    }
}

impl Drop for TwilioCall {
    fn drop(&mut self) {
        let _ = self.cmds.send(Cmd::Close);
    }
}

/// A short description of heard messages (media runs counted).
pub fn summary(got: &[(Instant, Heard)]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut run = 0;
    for (_, h) in got {
        match h {
            Heard::Media(_) => run += 1,
            other => {
                if run > 0 {
                    out.push(format!("{run} media"));
                    run = 0;
                }
                out.push(format!("{other:?}"));
            }
        }
    }
    if run > 0 {
        out.push(format!("{run} media"));
    }
    out
}

/// The dominant frequency of μ-law audio (zero crossings), in Hz.
pub fn frequency(mulaw: &[u8]) -> f32 {
    let pcm: Vec<i16> = mulaw.iter().map(|&c| ulaw(c)).collect();
    let crossings = pcm.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
    crossings as f32 * 8000.0 / (2.0 * pcm.len().max(1) as f32)
}

/// RMS of μ-law audio.
pub fn rms(mulaw: &[u8]) -> f32 {
    let n = mulaw.len().max(1) as f32;
    (mulaw.iter().map(|&c| (ulaw(c) as f32).powi(2)).sum::<f32>() / n).sqrt()
}

fn ulaw(code: u8) -> i16 {
    let c = !code;
    let sign = c & 0x80;
    let exp = (c >> 4) & 7;
    let mant = c & 0x0f;
    let mag = ((((mant as i32) << 3) + 0x84) << exp) - 0x84;
    if sign != 0 {
        -mag as i16
    } else {
        mag as i16
    }
}

/// μ-law of a `freq` tone for `ms`.
pub fn tone_mulaw(freq: f32, ms: u32) -> Vec<u8> {
    (0..ms * 8)
        .map(|i| {
            let s = (i as f32 * freq * std::f32::consts::TAU / 8000.0).sin() * 8000.0;
            phonetree::media::g711::ulaw_encode(s as i16)
        })
        .collect()
}

/// The media frames of `got`, each with its dominant frequency.
pub fn media_freqs(got: &[(Instant, Heard)]) -> Vec<(Instant, f32)> {
    got.iter()
        .filter_map(|(t, h)| match h {
            Heard::Media(b) if rms(b) > 500.0 => Some((*t, frequency(b))),
            _ => None,
        })
        .collect()
}
