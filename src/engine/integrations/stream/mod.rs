//! The `stream` node's engine: the caller connected to a voice bot over a websocket, in the
//! bot's protocol ([`bots`]: Twilio Media Streams, or the Ringover streamer / mod_audio_stream).
//!
//! The pump: connect (with `stream.headers`, bounded in time), send the protocol's start, then
//! one `select!` over the caller's next frame (sent at once, 20 ms each, resampled when the bot
//! wants another rate), the bot's next message, the flow's signals (the caller's keys, for a
//! Twilio-protocol bot), marks reached on the port, and the audio queue. The bot's audio goes to
//! the caller through the call's [`AudioPort`] (the leg paces it with the same prebuffer and
//! clear-by-epoch as agent audio); it waits here in a bounded queue ([`MAX_QUEUED`] frames) and
//! moves to the port as the port has room, so a long `streamAudio` never blocks the bot's
//! socket: a `break`/`clear` right after it is read at once. Barge-in is the bot's decision.
//!
//! Endings: the bot's `end` (Ringover) or a clean websocket close gives the flow a result (the
//! close reason, JSON if it is JSON) after the queued audio has played; a `transfer` hands the
//! caller on through the flow's transfer rules ([`Done::StreamTransfer`]); a failed connect or
//! a dropped socket is an error (`on_error`) as soon as it is seen; the caller hanging up ends
//! the stream with Twilio's `stop` (Twilio protocol) and a close.

mod bots;
mod decode;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use bots::{BotOut, RingoverBot, TwilioBot};

use super::tasks::{AskSender, Ctx};
use super::{Ask, Control, Done};
use crate::engine::audio_port::{AudioFrame, AudioPort, PortEvent, TryMarkError, TrySendError};
use crate::engine::rt::AbortOnDrop;
use crate::flow::program::StreamProtocol;
use crate::machine::io::StreamRequest;
use crate::wsmedia::ringover::Metadata;

/// TCP, TLS and the websocket handshake together.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest message a bot may send (a `streamAudio` carries whole clips, base64).
pub const MAX_MESSAGE: usize = 8 << 20;

/// Bot audio waiting for room on the port, in frames (15 000 = 5 minutes).
pub const MAX_QUEUED: usize = 15_000;

/// How long a write to the bot may wait.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// A bot audio remainder shorter than a frame is played (padded) after this long without more.
const CARRY_FLUSH: Duration = Duration::from_millis(60);

/// Longest wait for queued audio to play out after the bot ended.
const DRAIN_LIMIT: Duration = Duration::from_secs(330);

/// The mark that says the queue has played out.
const DRAIN_MARK: u32 = u32::MAX;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Runs one stream session to its end.
pub async fn run(mut ctx: Ctx, req: StreamRequest, http: reqwest::Client) -> Done {
    let id = req.id;
    let Some(port) = ctx.audio.take() else {
        return Done::Stream {
            id,
            result: Err("the stream needs the caller's audio".into()),
        };
    };
    let ws = match connect(&req).await {
        Ok(ws) => ws,
        Err(e) => {
            tracing::warn!(call = %req.call_id, error = %e, "stream: cannot reach the bot");
            return Done::Stream { id, result: Err(e) };
        }
    };
    tracing::info!(call = %req.call_id, protocol = req.protocol.as_str(), "stream: connected to the bot");
    let mut pump = Pump::new(port, ws, &req, http);
    let end = pump.run(&mut ctx.control, &ctx.asks).await;
    tracing::info!(call = %req.call_id, end = ?end, "stream: ended");
    match end {
        End::Result(v) => Done::Stream { id, result: Ok(v) },
        End::Transfer(target) => Done::StreamTransfer { id, target },
        End::Failed(e) => Done::Stream { id, result: Err(e) },
    }
}

/// Opens the bot's websocket.
async fn connect(req: &StreamRequest) -> Result<Ws, String> {
    let url = req.url.trim();
    if !(url.starts_with("ws://") || url.starts_with("wss://")) {
        return Err("the stream url must be ws:// or wss://".into());
    }
    let mut request = url
        .into_client_request()
        .map_err(|e| format!("bad stream url: {e}"))?;
    for (k, v) in &req.headers {
        let name = tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| format!("bad header name `{k}`"))?;
        let value = v
            .parse()
            .map_err(|_| format!("bad value for header `{k}`"))?;
        request.headers_mut().insert(name, value);
    }
    let config = crate::engine::ws_config::ws_config(MAX_MESSAGE);
    match tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio_tungstenite::connect_async_with_config(request, Some(config), true),
    )
    .await
    {
        Ok(Ok((ws, _))) => Ok(ws),
        Ok(Err(tokio_tungstenite::tungstenite::Error::Http(resp))) => Err(format!(
            "the bot refused the websocket: http {}",
            resp.status().as_u16()
        )),
        Ok(Err(e)) => Err(format!("cannot connect to the bot: {e}")),
        Err(_) => Err(format!("no websocket within {CONNECT_TIMEOUT:?}")),
    }
}

/// How a session ended.
#[derive(Debug)]
enum End {
    Result(serde_json::Value),
    Transfer(String),
    Failed(String),
}

enum Proto {
    Twilio(TwilioBot),
    Ringover(RingoverBot),
}

/// Bot audio queued for the port.
enum Seg {
    Frames(VecDeque<AudioFrame>),
    Mark(u32),
    /// Being fetched or decoded (the task is aborted when the segment is dropped: `break`).
    Loading(
        oneshot::Receiver<Result<Vec<i16>, String>>,
        #[allow(dead_code)] AbortOnDrop,
    ),
}

struct Pump {
    port: AudioPort,
    ws: Ws,
    proto: Proto,
    http: reqwest::Client,
    frame_len: usize,
    queue: VecDeque<Seg>,
    queued: usize,
    /// Samples short of a whole frame.
    carry: Vec<i16>,
    carry_at: Option<Instant>,
    /// The port had no room for the head frame.
    blocked: bool,
    dropped: u64,
    bad: u64,
    call: String,
    /// The Twilio side's `customParameters`: the flow's `custom`, then `from`/`to`.
    custom: std::collections::BTreeMap<String, String>,
}

/// What woke the pump.
enum Wake {
    Caller(Option<AudioFrame>),
    Bot(Option<Result<Message, tokio_tungstenite::tungstenite::Error>>),
    Control(Option<Control>),
    Mark(Option<u32>),
    Loaded(Result<Vec<i16>, String>),
    Tick,
}

impl Wake {
    /// The port's event; `None` (the leg detached) is `Caller(None)`.
    fn of_port(e: Option<PortEvent>) -> Wake {
        match e {
            Some(PortEvent::Caller(f)) => Wake::Caller(Some(f)),
            Some(PortEvent::Mark(m, _)) => Wake::Mark(Some(m)),
            None => Wake::Caller(None),
        }
    }
}

impl Pump {
    fn new(port: AudioPort, ws: Ws, req: &StreamRequest, http: reqwest::Client) -> Pump {
        let rate = port.format().rate;
        let proto = match req.protocol {
            StreamProtocol::Twilio => {
                let (stream_sid, call_sid) = (sid("MZ"), sid("CA"));
                Proto::Twilio(TwilioBot::new(
                    &stream_sid,
                    &call_sid,
                    "AC00000000000000000000000000000000",
                    rate,
                ))
            }
            StreamProtocol::Ringover => Proto::Ringover(RingoverBot::new(
                Metadata {
                    call_id: req.call_id.clone(),
                    from: req.from.clone(),
                    to: req.to.clone(),
                    custom: req
                        .custom
                        .iter()
                        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                        .collect(),
                    sample_rate: if req.rate == 16000 { 16000 } else { 8000 },
                },
                rate,
            )),
        };
        Pump {
            frame_len: port.format().samples_per_frame(),
            port,
            ws,
            proto,
            http,
            queue: VecDeque::new(),
            queued: 0,
            carry: Vec::new(),
            carry_at: None,
            blocked: false,
            dropped: 0,
            bad: 0,
            call: req.call_id.clone(),
            custom: {
                let mut c = req.custom.clone();
                c.entry("from".into()).or_insert_with(|| req.from.clone());
                c.entry("to".into()).or_insert_with(|| req.to.clone());
                c
            },
        }
    }

    async fn run(
        &mut self,
        control: &mut tokio::sync::mpsc::Receiver<Control>,
        asks: &AskSender,
    ) -> End {
        let start = match &mut self.proto {
            Proto::Twilio(b) => b.start(&self.custom),
            Proto::Ringover(b) => b.start(),
        };
        if let Err(e) = self.send_all(start).await {
            return End::Failed(e);
        }
        loop {
            if let Some(end) = self.step(control, asks).await {
                return end;
            }
        }
    }

    /// One turn of the loop; `Some` when the session is over.
    async fn step(
        &mut self,
        control: &mut tokio::sync::mpsc::Receiver<Control>,
        asks: &AskSender,
    ) -> Option<End> {
        self.feed();
        let wake = self.wait(control).await;
        let now = Instant::now();
        match wake {
            Wake::Caller(Some(frame)) => {
                let outs = match &mut self.proto {
                    Proto::Twilio(b) => b.caller(&frame.samples),
                    Proto::Ringover(b) => b.caller(&frame.samples),
                };
                self.send_all(outs).await.err().map(End::Failed)
            }
            Wake::Caller(None) => {
                // The call is over (or the flow left the node): say goodbye and go.
                if let Proto::Twilio(b) = &mut self.proto {
                    let stop = b.stop();
                    let _ = self.send_all(vec![stop]).await;
                }
                let _ = tokio::time::timeout(SEND_TIMEOUT, self.ws.close(None)).await;
                Some(End::Result(serde_json::Value::Null))
            }
            Wake::Bot(m) => self.on_bot(m, now, asks).await,
            Wake::Control(Some(Control::Dtmf(d))) => match &mut self.proto {
                Proto::Twilio(b) => {
                    let out = b.dtmf(d);
                    self.send_all(vec![out]).await.err().map(End::Failed)
                }
                Proto::Ringover(_) => None,
            },
            Wake::Control(_) => None,
            Wake::Mark(Some(id)) => {
                let out = match &mut self.proto {
                    Proto::Twilio(b) => b.mark_reached(id),
                    Proto::Ringover(_) => None,
                };
                self.send_all(out.into_iter().collect())
                    .await
                    .err()
                    .map(End::Failed)
            }
            Wake::Mark(None) => None,
            Wake::Loaded(result) => {
                if let Some(Seg::Loading(..)) = self.queue.front() {
                    self.queue.pop_front();
                }
                match result {
                    Ok(samples) => self.push_front_audio(samples),
                    Err(e) => {
                        tracing::warn!(call = %self.call, error = %e, "stream: bot audio skipped")
                    }
                }
                None
            }
            Wake::Tick => {
                if self.carry_at.is_some_and(|t| now >= t + CARRY_FLUSH) {
                    self.flush_carry();
                }
                None
            }
        }
    }

    /// Waits for the next thing to do.
    async fn wait(&mut self, control: &mut tokio::sync::mpsc::Receiver<Control>) -> Wake {
        let tick = match (self.blocked, self.carry_at) {
            (true, _) => Some(Instant::now() + Duration::from_millis(20)),
            (false, Some(t)) => Some(t + CARRY_FLUSH),
            _ => None,
        };
        let loading = match self.queue.front_mut() {
            Some(Seg::Loading(rx, _)) => Some(rx),
            _ => None,
        };
        tokio::select! {
            e = self.port.next_event() => Wake::of_port(e),
            m = self.ws.next() => Wake::Bot(m),
            c = control.recv() => Wake::Control(c),
            r = async move {
                match loading {
                    Some(rx) => rx.await.unwrap_or_else(|_| Err("decoding was aborted".into())),
                    None => std::future::pending().await,
                }
            } => Wake::Loaded(r),
            () = crate::engine::rt::sleep_opt(tick) => Wake::Tick,
        }
    }

    async fn on_bot(
        &mut self,
        m: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
        now: Instant,
        asks: &AskSender,
    ) -> Option<End> {
        let text = match m {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Binary(_))) => {
                self.bad("a binary frame (this protocol sends audio as text)");
                return None;
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => return None,
            Some(Ok(Message::Close(frame))) => {
                let reason = frame.map(|f| f.reason.to_string()).unwrap_or_default();
                let result = close_result(&reason);
                // Completes the closing handshake (our reply to the bot's close frame).
                let _ = tokio::time::timeout(SEND_TIMEOUT, self.ws.close(None)).await;
                return Some(self.drain(End::Result(result)).await);
            }
            Some(Err(e)) => return Some(End::Failed(format!("the bot's connection broke: {e}"))),
            None => return Some(End::Failed("the bot's connection dropped".into())),
        };
        let outs = match &mut self.proto {
            Proto::Twilio(b) => b.bot_message(text.as_str()),
            Proto::Ringover(b) => b.bot_message(text.as_str()),
        };
        for out in outs {
            match out {
                BotOut::Text(_) | BotOut::Binary(_) => {
                    if let Err(e) = self.send_all(vec![out]).await {
                        return Some(End::Failed(e));
                    }
                }
                BotOut::Audio(samples) => self.push_audio(&samples, now),
                BotOut::Decode { kind, data } => {
                    let rate = self.port.format().rate;
                    self.load(move |tx| {
                        tokio::task::spawn_blocking(move || {
                            let _ = tx.send(decode::decode(Some(kind), data, rate));
                        })
                    });
                }
                BotOut::Play(url) => {
                    let (rate, http) = (self.port.format().rate, self.http.clone());
                    self.load(move |tx| {
                        tokio::spawn(async move {
                            let _ = tx.send(decode::fetch(&http, &url, rate).await);
                        })
                    });
                }
                BotOut::Mark(id) => {
                    self.flush_carry();
                    self.queue.push_back(Seg::Mark(id));
                }
                BotOut::Clear => self.clear().await,
                BotOut::Dtmf(digits) => {
                    for d in digits {
                        if !asks.send(Ask::SendDtmf(d)).await {
                            return Some(End::Result(serde_json::Value::Null));
                        }
                    }
                }
                BotOut::Transfer(target) => {
                    let _ = tokio::time::timeout(SEND_TIMEOUT, self.ws.close(None)).await;
                    return Some(self.drain(End::Transfer(target)).await);
                }
                BotOut::End(v) => {
                    let _ = tokio::time::timeout(SEND_TIMEOUT, self.ws.close(None)).await;
                    return Some(self.drain(End::Result(v)).await);
                }
                BotOut::Bad(e) => self.bad(&e.to_string()),
            }
        }
        None
    }

    /// Queues a fetch or decode whose result keeps its place in the queue.
    fn load<F>(&mut self, start: F)
    where
        F: FnOnce(oneshot::Sender<Result<Vec<i16>, String>>) -> tokio::task::JoinHandle<()>,
    {
        self.flush_carry();
        let (tx, rx) = oneshot::channel();
        let task = start(tx);
        self.queue.push_back(Seg::Loading(rx, AbortOnDrop(task)));
    }

    /// Bot audio after what is queued (whole frames; the rest waits in `carry`).
    fn push_audio(&mut self, samples: &[i16], now: Instant) {
        self.carry.extend_from_slice(samples);
        let n = self.frame_len;
        let whole = self.carry.len() / n * n;
        let frames: Vec<AudioFrame> = self
            .carry
            .drain(..whole)
            .collect::<Vec<_>>()
            .chunks(n)
            .map(|c| AudioFrame {
                samples: c.to_vec(),
            })
            .collect();
        self.append(frames);
        self.carry_at = (!self.carry.is_empty()).then_some(now);
    }

    /// Loaded audio takes the loading segment's place (at the head).
    fn push_front_audio(&mut self, samples: Vec<i16>) {
        let mut frames: VecDeque<AudioFrame> = samples
            .chunks(self.frame_len)
            .map(|c| {
                let mut s = c.to_vec();
                s.resize(self.frame_len, 0);
                AudioFrame { samples: s }
            })
            .collect();
        let room = MAX_QUEUED.saturating_sub(self.queued);
        if frames.len() > room {
            self.dropped += (frames.len() - room) as u64;
            frames.truncate(room);
            tracing::warn!(call = %self.call, "stream: too much bot audio queued; the rest is dropped");
        }
        self.queued += frames.len();
        self.queue.push_front(Seg::Frames(frames));
    }

    fn append(&mut self, frames: Vec<AudioFrame>) {
        if frames.is_empty() {
            return;
        }
        let room = MAX_QUEUED.saturating_sub(self.queued);
        if frames.len() > room {
            self.dropped += (frames.len() - room) as u64;
            if self.dropped == (frames.len() - room) as u64 {
                tracing::warn!(call = %self.call, "stream: too much bot audio queued; the rest is dropped");
            }
        }
        let frames = frames.into_iter().take(room);
        self.queued += frames.len();
        match self.queue.back_mut() {
            Some(Seg::Frames(q)) => q.extend(frames),
            _ => self.queue.push_back(Seg::Frames(frames.collect())),
        }
    }

    /// A remainder shorter than a frame plays now, padded.
    fn flush_carry(&mut self) {
        self.carry_at = None;
        if self.carry.is_empty() {
            return;
        }
        let mut samples = std::mem::take(&mut self.carry);
        samples.resize(self.frame_len, 0);
        self.append(vec![AudioFrame { samples }]);
    }

    /// Moves queued audio to the port while it has room.
    fn feed(&mut self) {
        self.blocked = false;
        loop {
            match self.queue.front_mut() {
                Some(Seg::Frames(q)) => {
                    let Some(frame) = q.pop_front() else {
                        self.queue.pop_front();
                        continue;
                    };
                    match self.port.try_send(frame) {
                        Ok(()) => self.queued = self.queued.saturating_sub(1),
                        Err(TrySendError::Full(frame)) => {
                            q.push_front(frame);
                            self.blocked = true;
                            return;
                        }
                        Err(_) => return,
                    }
                }
                Some(Seg::Mark(id)) => {
                    let id = *id;
                    match self.port.try_mark(id) {
                        Ok(()) => {
                            self.queue.pop_front();
                        }
                        Err(TryMarkError::Detached) => return,
                        Err(TryMarkError::Full) => {
                            self.blocked = true;
                            return;
                        }
                    }
                }
                Some(Seg::Loading(..)) | None => return,
            }
        }
    }

    /// `break` / `clear`: nothing queued plays; marks still queued here are echoed now (the
    /// port echoes the ones it held).
    async fn clear(&mut self) {
        self.port.clear();
        self.carry.clear();
        self.carry_at = None;
        self.queued = 0;
        let marks: Vec<u32> = self
            .queue
            .drain(..)
            .filter_map(|s| match s {
                Seg::Mark(id) => Some(id),
                _ => None,
            })
            .collect();
        for id in marks {
            if let Proto::Twilio(b) = &mut self.proto {
                if let Some(out) = b.mark_reached(id) {
                    let _ = self.send_all(vec![out]).await;
                }
            }
        }
    }

    /// Plays out what is queued, then ends with `end` (bounded; a hangup ends it too).
    async fn drain(&mut self, end: End) -> End {
        self.flush_carry();
        self.queue.push_back(Seg::Mark(DRAIN_MARK));
        let limit = tokio::time::Instant::now() + DRAIN_LIMIT;
        loop {
            self.feed();
            let loading = match self.queue.front_mut() {
                Some(Seg::Loading(rx, _)) => Some(rx),
                _ => None,
            };
            let wake = tokio::select! {
                e = self.port.next_event() => Wake::of_port(e),
                r = async move {
                    match loading {
                        Some(rx) => rx.await.unwrap_or_else(|_| Err("decoding was aborted".into())),
                        None => std::future::pending().await,
                    }
                } => Wake::Loaded(r),
                () = tokio::time::sleep(Duration::from_millis(20)), if self.blocked => Wake::Tick,
                () = tokio::time::sleep_until(limit) => return end,
            };
            match wake {
                Wake::Caller(None) | Wake::Mark(None) => return end,
                Wake::Mark(Some(DRAIN_MARK)) => return end,
                Wake::Loaded(r) => {
                    self.queue.pop_front();
                    if let Ok(samples) = r {
                        self.push_front_audio(samples);
                    }
                }
                _ => {}
            }
        }
    }

    async fn send_all(&mut self, outs: Vec<BotOut>) -> Result<(), String> {
        for out in outs {
            let msg = match out {
                BotOut::Text(t) => Message::text(t),
                BotOut::Binary(b) => Message::binary(b),
                _ => continue,
            };
            match tokio::time::timeout(SEND_TIMEOUT, self.ws.send(msg)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(format!("the bot's connection broke: {e}")),
                Err(_) => return Err("the bot stopped reading".into()),
            }
        }
        Ok(())
    }

    fn bad(&mut self, why: &str) {
        self.bad += 1;
        if self.bad <= 10 || self.bad.is_power_of_two() {
            tracing::warn!(call = %self.call, count = self.bad, error = %why,
                "stream: unreadable message from the bot ignored");
        }
    }
}

/// A close frame's reason as the session's result: JSON as is, other text as `{"reason": ..}`.
fn close_result(reason: &str) -> serde_json::Value {
    let reason = reason.trim();
    if reason.is_empty() {
        return serde_json::json!({});
    }
    serde_json::from_str(reason).unwrap_or_else(|_| serde_json::json!({ "reason": reason }))
}

/// A Twilio-looking SID (`MZ` + 32 hex digits), random.
fn sid(prefix: &str) -> String {
    let a = getrandom::u64().unwrap_or(0x5eed);
    let b = getrandom::u64().unwrap_or(0x7a11);
    format!("{prefix}{a:016x}{b:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_reasons_become_results() {
        assert_eq!(close_result(""), serde_json::json!({}));
        assert_eq!(
            close_result(r#"{"intent":"sales"}"#),
            serde_json::json!({"intent": "sales"})
        );
        assert_eq!(close_result("done"), serde_json::json!({"reason": "done"}));
        assert!(sid("MZ").starts_with("MZ") && sid("MZ").len() == 34);
    }
}
