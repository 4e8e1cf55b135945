//! The agent's task: the I/O around one [`AgentSession`] (quinn's `ConnectionDriver` shape).
//! Live calls spawn it on the agents' runtime ([`super::runtime`]), which batches the wake-ups
//! of many calls.
//!
//! It opens the socket, then loops: drain the session's outputs (client events to the socket,
//! agent audio through the [`Bridge`] into the call's [`CallAudio`], marks, clears, webhook
//! calls on a `JoinSet`), then wait on one `select!` over the socket, the caller's frames, the
//! playout's mark reports, control messages from the call (start, keys), finished webhooks,
//! the session's timer, and a 20 ms tick while agent audio waits for room in the playout.
//! Decisions are the session's; this only feeds it time and bytes.
//!
//! Agent audio arrives faster than real time and the playout's queue is bounded: frames wait
//! in a local queue (at most [`MAX_BACKLOG`], ten minutes) and are pushed as room frees, so the
//! socket is always read — a barge-in is never stuck behind a full playout.
//!
//! The playout reports a mark after every chunk of agent audio, stamped with when it played.
//! Those reports do not wake the task (at one chunk per 20 ms that was a thread wake-up per
//! chunk per call): they are read, with their stamps, whenever the task wakes for anything
//! else, before that thing is handled — so a barge-in's `audio_end_ms` and the silence timer
//! see exactly what they saw before. Only a session waiting for its audio to drain (a leaving
//! tool) asks to be woken by them.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Sleep;
use tokio_tungstenite::tungstenite::Message;

use super::bridge::Bridge;
use super::meter;
use super::tools;
use super::ws::{self, Ws};
use crate::config::openai::ApiKey;
use crate::flow::digit::Digit;
use crate::machine::io::{AgentOutcome, ToolKind};
use crate::realtime::{AgentError, AgentSession, Log, Output, Role, SessionConfig};

/// Agent audio held for the playout at most (20 ms frames): ten minutes.
pub const MAX_BACKLOG: usize = 30_000;
/// How often queued agent audio is offered again to a full playout.
const TICK: Duration = Duration::from_millis(20);
/// A partial last frame is padded and played when no audio followed it for this long.
const FLUSH_AFTER: Duration = Duration::from_millis(60);
/// A prepared session whose node never starts is closed after this long.
pub const PREPARED_TTL: Duration = Duration::from_secs(120);

/// What goes towards the caller, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum PlayoutItem {
    Frame(Vec<i16>),
    /// Report this mark once everything queued before it has been played.
    Mark(u32),
}

/// What the call side delivers to the agent.
#[derive(Debug, Clone, PartialEq)]
pub enum AudioIn {
    /// 20 ms of the caller at [`CallAudio::rate`].
    Caller(Vec<i16>),
    /// Everything queued before this mark has been played (or cleared), at that instant.
    Mark(u32, Instant),
}

/// The call's audio both ways, as the pump uses it: on a live call an integration's
/// [`AudioPort`](crate::engine::audio_port::AudioPort) (see `engine::integrations::agent`), in
/// tests a simulated playout.
pub trait CallAudio: Send {
    /// PCM rate of the frames both ways (8000 on G.711 calls).
    fn rate(&self) -> u32;
    /// The call's G.711 law, on a G.711 call.
    fn law(&self) -> Option<crate::media::g711::Law>;
    /// Queues an item towards the caller; hands it back when the queue is full.
    fn try_push(&mut self, item: PlayoutItem) -> Result<(), PlayoutItem>;
    /// Drops everything queued towards the caller (barge-in).
    fn clear(&mut self);
    /// The next caller frame, or (when `marks`) the next mark reached; `None` once the call's
    /// audio is gone. Cancel-safe (it is one arm of the pump's `select!`). With `marks` off a
    /// mark reached never wakes the pump: it waits for [`CallAudio::take_mark`].
    fn next(&mut self, marks: bool) -> Pin<Box<dyn Future<Output = Option<AudioIn>> + Send + '_>>;
    /// A mark already reached and when, without waiting.
    fn take_mark(&mut self) -> Option<(u32, Instant)>;
}

/// Messages from the call to its agent task.
pub enum Ctl {
    /// The flow entered the node: run with this configuration and audio.
    Start {
        cfg: Box<SessionConfig>,
        audio: Box<dyn CallAudio>,
    },
    Dtmf(Digit),
}

/// How the task ended.
#[derive(Debug)]
pub enum Failure {
    Connect(ws::ConnectError),
    Session(AgentError),
    /// The call went away (the control channel closed) before the session ended.
    Abandoned,
    /// The audio could not be converted (a resampler could not be built).
    Audio(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Connect(e) => e.fmt(f),
            Failure::Session(e) => e.fmt(f),
            Failure::Abandoned => f.write_str("the call left the agent"),
            Failure::Audio(e) => write!(f, "audio: {e}"),
        }
    }
}

/// Where and how to connect.
#[derive(Clone)]
pub struct Endpoint {
    pub url: String,
    pub key: ApiKey,
    pub connect_timeout: Duration,
    pub http: reqwest::Client,
    /// For log lines (the call's id).
    pub label: Arc<str>,
}

/// Runs one agent session: connects at once (the configuration given is the prepared one and
/// may be replaced by `Ctl::Start`), then serves it until it ends.
pub async fn run(
    endpoint: Endpoint,
    prepared: SessionConfig,
    ctl: mpsc::Receiver<Ctl>,
) -> Result<AgentOutcome, Failure> {
    let r = connect_and_serve(endpoint, prepared, ctl).await;
    if let Err(f) = &r {
        meter::failed(f);
    }
    r
}

async fn connect_and_serve(
    endpoint: Endpoint,
    prepared: SessionConfig,
    mut ctl: mpsc::Receiver<Ctl>,
) -> Result<AgentOutcome, Failure> {
    let t0 = Instant::now();
    let mut session = AgentSession::new(prepared, t0);
    let label = endpoint.label.clone();
    // Connect, but take a Start (and its audio) meanwhile.
    let mut pending_start: Option<(SessionConfig, Box<dyn CallAudio>)> = None;
    let (url, key, timeout) = (
        endpoint.url.clone(),
        endpoint.key.clone(),
        endpoint.connect_timeout,
    );
    let connect = ws::connect(&url, &key, timeout);
    tokio::pin!(connect);
    let ws = loop {
        tokio::select! {
            r = &mut connect => match r {
                Ok(ws) => break ws,
                Err(e) => {
                    tracing::warn!(call = %label, error = %e, "agent: cannot connect to the Realtime server");
                    return Err(Failure::Connect(e));
                }
            },
            c = ctl.recv() => match c {
                Some(Ctl::Start { cfg, audio }) => {
                    session.reconfigure((*cfg).clone());
                    session.start(Instant::now());
                    pending_start = Some((*cfg, audio));
                }
                Some(Ctl::Dtmf(_)) => {}
                None => return Err(Failure::Abandoned),
            },
        }
    };
    tracing::debug!(call = %label, took = ?t0.elapsed(), "agent: connected");
    meter::connected(t0);
    session.connected(Instant::now());
    let mut pump = Pump {
        endpoint,
        ws,
        audio: None,
        bridge: None,
        queue: VecDeque::new(),
        tools: JoinSet::new(),
        last_audio: None,
        frame_buf: Vec::new(),
        bytes: Vec::new(),
        prepared_until: Instant::now() + PREPARED_TTL,
        started: false,
        audio_from: None,
    };
    if let Some((cfg, audio)) = pending_start {
        pump.attach(&cfg, audio)?;
    }
    pump.serve(session, ctl).await
}

struct Pump {
    endpoint: Endpoint,
    ws: Ws,
    audio: Option<Box<dyn CallAudio>>,
    bridge: Option<Bridge>,
    queue: VecDeque<PlayoutItem>,
    tools: JoinSet<(String, Result<String, String>)>,
    last_audio: Option<Instant>,
    frame_buf: Vec<Vec<i16>>,
    bytes: Vec<u8>,
    /// Until when a prepared session waits for its node.
    prepared_until: Instant,
    /// The node started (the call's audio was attached).
    started: bool,
    /// Since when the caller waits for the model's first audio (until it comes).
    audio_from: Option<Instant>,
}

impl Pump {
    fn attach(&mut self, cfg: &SessionConfig, audio: Box<dyn CallAudio>) -> Result<(), Failure> {
        let bridge =
            Bridge::new(cfg.format, audio.rate()).map_err(|e| Failure::Audio(e.to_string()))?;
        self.bridge = Some(bridge);
        self.audio = Some(audio);
        self.started = true;
        self.audio_from = Some(Instant::now());
        Ok(())
    }

    async fn serve(
        mut self,
        mut session: AgentSession,
        mut ctl: mpsc::Receiver<Ctl>,
    ) -> Result<AgentOutcome, Failure> {
        let label = self.endpoint.label.clone();
        // Two timers kept for the whole session and moved with `reset` rather than a new `Sleep`
        // per loop turn: an agent call turns this loop ~100 times a second, and registering and
        // dropping two timer entries each turn went through the runtime's shared timer lock;
        // moving an entry later is a lock-free update in tokio.
        let mut timers = PumpTimers::new();
        loop {
            while let Some(out) = session.poll_output() {
                if let Some(end) = self.execute(out, &session).await {
                    let _ = self.ws.close(None).await;
                    let usage = session.usage();
                    tracing::info!(call = %label, input_tokens = usage.input_tokens,
                        output_tokens = usage.output_tokens, total_tokens = usage.total_tokens,
                        "agent: token usage");
                    return end;
                }
            }
            self.feed();
            let deadline = match (session.poll_timeout(), !self.started) {
                // Prepared and not started: give up on the node at some point.
                (d, true) => Some(d.map_or(self.prepared_until, |d| d.min(self.prepared_until))),
                (d, false) => d,
            };
            // Offer the backlog again after a tick; flush a held partial frame once no audio
            // followed it for a while.
            let quiet = if self.queue.is_empty() {
                self.last_audio
                    .filter(|_| self.bridge.as_ref().is_some_and(Bridge::holds_partial))
                    .map(|t| t + FLUSH_AFTER)
            } else {
                Some(Instant::now() + TICK)
            };
            timers.arm(deadline, quiet);
            let marks = session.awaits_playout();
            tokio::select! {
                msg = self.ws.next() => {
                    self.take_marks(&mut session);
                    let now = Instant::now();
                    match msg {
                        Some(Ok(Message::Text(t))) => session.server_text(t.as_str(), now),
                        Some(Ok(Message::Close(frame))) => {
                            let why = frame.map_or_else(|| "closed by the server".to_owned(),
                                |f| format!("closed by the server ({} {})", u16::from(f.code), f.reason));
                            session.closed(&why, now);
                        }
                        Some(Ok(_)) => {}
                        Some(Err(e)) => session.closed(&e.to_string(), now),
                        None => session.closed("the server hung up", now),
                    }
                }
                ev = next_opt(self.audio.as_mut(), marks) => {
                    self.take_marks(&mut session);
                    match ev {
                        Some(AudioIn::Caller(pcm)) => {
                            self.bytes.clear();
                            if let Some(b) = self.bridge.as_mut() {
                                if b.caller(&pcm, &mut self.bytes).is_ok() && !self.bytes.is_empty() {
                                    session.caller_audio(&self.bytes, Instant::now());
                                }
                            }
                        }
                        Some(AudioIn::Mark(m, at)) => session.played(u64::from(m), at),
                        // The call's audio went away (hangup, detach): the call ends the session.
                        None => self.audio = None,
                    }
                }
                c = ctl.recv() => {
                    self.take_marks(&mut session);
                    match c {
                        Some(Ctl::Start { cfg, audio }) => {
                            self.attach(&cfg, audio)?;
                            session.reconfigure(*cfg);
                            session.start(Instant::now());
                        }
                        Some(Ctl::Dtmf(d)) => session.dtmf(d, Instant::now()),
                        None => {
                            let _ = self.ws.close(None).await;
                            return Err(Failure::Abandoned);
                        }
                    }
                }
                Some(done) = self.tools.join_next(), if !self.tools.is_empty() => {
                    self.take_marks(&mut session);
                    if let Ok((call_id, result)) = done {
                        if let Err(e) = &result {
                            tracing::warn!(call = %label, error = %e, "agent: tool webhook failed");
                        }
                        session.tool_result(&call_id, result, Instant::now());
                    }
                }
                () = timers.deadline.as_mut(), if timers.armed.is_some() => {
                    self.take_marks(&mut session);
                    timers.armed = None;
                    let now = Instant::now();
                    if !self.started && now >= self.prepared_until {
                        tracing::debug!(call = %label, "agent: prepared session never used");
                        let _ = self.ws.close(None).await;
                        return Err(Failure::Abandoned);
                    }
                    session.handle_timeout(now);
                }
                () = timers.quiet.as_mut(), if timers.quiet_on => {
                    timers.quiet_on = false;
                    timers.quiet_at = None;
                    self.flush_held();
                }
            }
        }
    }

    /// Executes one output; `Some` when the session ended.
    async fn execute(
        &mut self,
        out: Output,
        session: &AgentSession,
    ) -> Option<Result<AgentOutcome, Failure>> {
        let label = &self.endpoint.label;
        match out {
            Output::Send(text) => {
                if let Err(e) = self.ws.send(Message::Text(text.into())).await {
                    tracing::debug!(call = %label, error = %e, "agent: send failed");
                }
            }
            Output::Audio(bytes) => {
                if let Some(t) = self.audio_from.take() {
                    meter::first_audio(t);
                }
                if let Some(b) = self.bridge.as_mut() {
                    self.frame_buf.clear();
                    if b.agent(&bytes, &mut self.frame_buf).is_ok() {
                        for f in self.frame_buf.drain(..) {
                            if self.queue.len() < MAX_BACKLOG {
                                self.queue.push_back(PlayoutItem::Frame(f));
                            }
                        }
                    }
                    self.last_audio = Some(Instant::now());
                }
            }
            Output::Mark(m) => {
                if self.queue.len() < MAX_BACKLOG {
                    self.queue
                        .push_back(PlayoutItem::Mark(u32::try_from(m).unwrap_or(u32::MAX)));
                }
            }
            Output::Clear => {
                self.queue.clear();
                self.last_audio = None;
                if let Some(b) = self.bridge.as_mut() {
                    b.clear();
                }
                if let Some(a) = self.audio.as_mut() {
                    a.clear();
                }
            }
            Output::CallTool {
                call_id,
                tool,
                arguments,
            } => {
                let hook = match session.config().tools.get(tool).map(|t| &t.kind) {
                    Some(ToolKind::Webhook(h)) => h.clone(),
                    _ => return None,
                };
                let name = session.config().tools[tool].name.clone();
                tracing::info!(call = %label, tool = %name, "agent: calling a tool webhook");
                let client = self.endpoint.http.clone();
                self.tools.spawn(async move {
                    let r = tools::call(&client, &hook, &arguments).await;
                    (call_id, r)
                });
            }
            Output::Log(l) => log(label, l),
            Output::End(r) => {
                return Some(match r {
                    Ok(o) => {
                        tracing::info!(call = %label, ended_by = %o.result["ended_by"], "agent: session ended");
                        Ok(o)
                    }
                    Err(e) => {
                        tracing::warn!(call = %label, error = %e, "agent: session failed");
                        Err(Failure::Session(e))
                    }
                })
            }
        }
        None
    }

    /// Hands the marks the playout reached meanwhile to the session, with when they were
    /// reached.
    fn take_marks(&mut self, session: &mut AgentSession) {
        if let Some(a) = self.audio.as_mut() {
            while let Some((m, at)) = a.take_mark() {
                session.played(u64::from(m), at);
            }
        }
    }

    /// Offers queued items to the playout until it is full.
    fn feed(&mut self) {
        let Some(a) = self.audio.as_mut() else {
            return;
        };
        while let Some(item) = self.queue.pop_front() {
            if let Err(back) = a.try_push(item) {
                self.queue.push_front(back);
                break;
            }
        }
    }

    /// Pads and queues a partial last frame once no audio followed it for a while.
    fn flush_held(&mut self) {
        if self.last_audio.is_some_and(|t| t.elapsed() >= FLUSH_AFTER) {
            self.last_audio = None;
            if let Some(f) = self.bridge.as_mut().and_then(Bridge::flush) {
                // Before any mark that follows the audio it belongs to.
                let at = self
                    .queue
                    .iter()
                    .rposition(|i| matches!(i, PlayoutItem::Frame(_)))
                    .map_or(0, |p| p + 1);
                self.queue.insert(at, PlayoutItem::Frame(f));
            }
        }
    }
}

fn log(label: &str, l: Log) {
    match l {
        // The caller's words (and the agent's answers to them) are personal data: debug only.
        Log::Transcript { role, text } => match role {
            Role::Caller => tracing::debug!(call = %label, "agent: caller said: {text}"),
            Role::Agent => tracing::debug!(call = %label, "agent: agent said: {text}"),
        },
        Log::Warning(w) => tracing::warn!(call = %label, "agent: {w}"),
        Log::BargeIn { heard_ms, .. } => {
            tracing::info!(call = %label, heard_ms, "agent: caller barged in")
        }
        Log::Usage(u) => {
            tracing::debug!(call = %label, total_tokens = u.total_tokens, "agent: response usage")
        }
    }
}

/// The next audio event, or never when no audio is attached.
async fn next_opt(audio: Option<&mut Box<dyn CallAudio>>, marks: bool) -> Option<AudioIn> {
    match audio {
        Some(a) => a.next(marks).await,
        None => std::future::pending().await,
    }
}

/// The pump's two timers: the session's next deadline, and the quiet timer (offer a backlog
/// again, flush a held partial frame).
struct PumpTimers {
    deadline: Pin<Box<Sleep>>,
    /// What `deadline` is set to; `None`: disarmed (or fired).
    armed: Option<Instant>,
    quiet: Pin<Box<Sleep>>,
    quiet_on: bool,
    /// What `quiet` is set to.
    quiet_at: Option<Instant>,
}

impl PumpTimers {
    fn new() -> PumpTimers {
        let now = tokio::time::Instant::now();
        PumpTimers {
            deadline: Box::pin(tokio::time::sleep_until(now)),
            armed: None,
            quiet: Box::pin(tokio::time::sleep_until(now)),
            quiet_on: false,
            quiet_at: None,
        }
    }

    /// Before each wait: the session's deadline and the quiet timer, each re-set only when it
    /// changed (a fresh `Sleep` per turn before).
    fn arm(&mut self, deadline: Option<Instant>, quiet: Option<Instant>) {
        if deadline != self.armed {
            if let Some(t) = deadline {
                self.deadline
                    .as_mut()
                    .reset(tokio::time::Instant::from_std(t));
            }
            self.armed = deadline;
        }
        self.quiet_on = quiet.is_some();
        if quiet != self.quiet_at {
            if let Some(t) = quiet {
                self.quiet.as_mut().reset(tokio::time::Instant::from_std(t));
            }
            self.quiet_at = quiet;
        }
    }
}
