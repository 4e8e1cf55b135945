//! The tokio side of a call's side requests: one task per running [`Request`], aborted when
//! the driver cancels it or the call ends, its [`Done`] delivered on one channel per call.
//!
//! Owns the running table and the dispatch from request to implementation (one match arm per
//! integration). Does not decide anything about the flow: a late `Done` for a cancelled request
//! is still delivered, and the driver drops it.

use std::collections::HashMap;

use tokio::sync::mpsc;

use super::{Ask, Control, Done, Request};
use crate::engine::audio_port::{AudioFormat, AudioPort};
use crate::engine::call::deps::ServiceDeps;
use crate::engine::rt::AbortOnDrop;
use crate::engine::services;
use crate::engine::tts::stream::Spoken;
use crate::flow::program::AgentProvider;
use crate::machine::io::AgentRequest;
use crate::machine::io::RequestId;

/// Signals buffered per running request.
const CONTROL_QUEUE: usize = 4;

/// Asks buffered from all of a call's requests (a request waits while it is full).
const ASK_QUEUE: usize = 32;

/// What a running integration is given.
pub struct Ctx {
    pub id: RequestId,
    /// The call's id (logs, recording names, conversation ids).
    pub call: String,
    /// The caller's audio, for requests that need it ([`Request::needs_audio`]).
    pub audio: Option<AudioPort>,
    /// Signals from the flow (e.g. [`Control::Finish`] for a recording).
    pub control: mpsc::Receiver<Control>,
    /// Where the request asks the call for things ([`Ask`]).
    pub asks: AskSender,
}

/// What [`Tasks::next`] found.
#[derive(Debug)]
pub enum TaskEvent {
    /// A request reported (finished, or progress when [`Done::is_final`] is false); `true`
    /// when its audio must be detached.
    Done(Done, bool),
    Ask(RequestId, Ask),
}

/// A request's way to ask the call for things while it runs.
#[derive(Clone)]
pub struct AskSender {
    id: RequestId,
    tx: mpsc::Sender<(RequestId, Ask)>,
}

impl AskSender {
    /// Queues `ask` (waits while the call is behind); `false` once the call is over.
    pub async fn send(&self, ask: Ask) -> bool {
        self.tx.send((self.id, ask)).await.is_ok()
    }
}

struct Running {
    _task: AbortOnDrop,
    control: mpsc::Sender<Control>,
    audio: bool,
}

/// The running side requests of one call.
pub struct Tasks {
    /// The call's id (logs, recording names, conversation ids).
    call: String,
    running: HashMap<RequestId, Running>,
    done_tx: mpsc::UnboundedSender<Done>,
    done_rx: mpsc::UnboundedReceiver<Done>,
    ask_tx: mpsc::Sender<(RequestId, Ask)>,
    ask_rx: mpsc::Receiver<(RequestId, Ask)>,
    /// A voice agent connected ahead of its node (at most one).
    prepared: Option<super::agent::Prepared>,
}

impl Default for Tasks {
    fn default() -> Self {
        Tasks::new(String::new())
    }
}

impl Tasks {
    /// The side requests of call `call`.
    pub fn new(call: String) -> Tasks {
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let (ask_tx, ask_rx) = mpsc::channel(ASK_QUEUE);
        Tasks {
            running: HashMap::new(),
            done_tx,
            done_rx,
            ask_tx,
            ask_rx,
            prepared: None,
            call,
        }
    }

    /// Connects the voice agent `req` ahead of its node (the call's audio is in `format`).
    pub fn prepare(&mut self, req: &AgentRequest, services: &ServiceDeps, format: AudioFormat) {
        if let Some(p) = super::agent::prepare(req, &services.agent, format, &self.call) {
            self.prepared = Some(p);
        }
    }

    /// Starts `req` (with `audio` attached when it needs it). `Err` carries the `Done` of a
    /// request that failed at once (no provider for it on this server).
    pub fn start(
        &mut self,
        req: Request,
        services: &ServiceDeps,
        audio: Option<AudioPort>,
    ) -> Result<(), Done> {
        let id = req.id();
        if let Request::Agent { agent, .. } = &req {
            if agent.provider == AgentProvider::OpenAi && services.agent.openai.api_key.is_none() {
                return Err(Done::failed(&req, services.unavailable(&req)));
            }
        }
        let (control_tx, control) = mpsc::channel(CONTROL_QUEUE);
        let has_audio = audio.is_some();
        let asks = AskSender {
            id,
            tx: self.ask_tx.clone(),
        };
        let ctx = Ctx {
            id,
            call: self.call.clone(),
            audio,
            control,
            asks,
        };
        let tx = self.done_tx.clone();
        let task = match req {
            Request::Say {
                text,
                voice,
                engine,
                ..
            } => {
                let tts = services.tts.clone();
                let audio = ctx.audio;
                tokio::spawn(async move {
                    let done = match audio {
                        // A remote engine with the call's audio at hand: play as it arrives.
                        Some(port) => {
                            match tts
                                .speak_streaming(engine, voice.as_deref(), &text, port)
                                .await
                            {
                                Ok(Spoken::Played) => Done::Spoken { id, result: Ok(()) },
                                Ok(Spoken::Cached(path)) => Done::Tts {
                                    id,
                                    result: Ok(path),
                                },
                                Err(e) => Done::Tts {
                                    id,
                                    result: Err(e.to_string()),
                                },
                            }
                        }
                        None => Done::Tts {
                            id,
                            result: tts
                                .synthesize(engine, voice.as_deref(), &text)
                                .await
                                .map_err(|e| e.to_string()),
                        },
                    };
                    let _ = tx.send(done);
                })
            }
            Request::Http(req) => {
                let client = services.http.clone();
                tokio::spawn(async move {
                    let result = services::http(&client, &req).await;
                    let _ = tx.send(Done::Http { id, result });
                })
            }
            Request::Stream(req) => {
                let http = services.http.clone();
                tokio::spawn(async move {
                    let _ = tx.send(super::stream::run(ctx, req, http).await);
                })
            }
            Request::Listen {
                language,
                engine,
                silence,
                grammar,
                ..
            } => {
                let job = super::listen::Job {
                    language,
                    engine,
                    silence,
                    grammar,
                };
                let engines = services.asr.clone();
                tokio::spawn(async move {
                    let _ = tx.send(super::listen::run(ctx, job, &engines, &tx).await);
                })
            }
            Request::Record {
                max,
                beep,
                silence,
                node,
                ..
            } => {
                let job = super::record::Job {
                    max,
                    beep,
                    silence,
                    node,
                    dir: services.record_dir.clone(),
                };
                tokio::spawn(async move {
                    let _ = tx.send(super::record::run(ctx, job).await);
                })
            }
            Request::Agent { agent, .. } => match agent.provider {
                AgentProvider::Echo => tokio::spawn(async move {
                    let _ = tx.send(super::echo::run(ctx).await);
                }),
                AgentProvider::OpenAi => {
                    let deps = services.agent.clone();
                    let prepared = self.prepared.take();
                    let call = self.call.clone();
                    tokio::spawn(async move {
                        let done = super::agent::run(ctx, agent, deps, prepared, call).await;
                        let _ = tx.send(done);
                    })
                }
            },
        };
        self.running.insert(
            id,
            Running {
                _task: AbortOnDrop(task),
                control: control_tx,
                audio: has_audio,
            },
        );
        Ok(())
    }

    /// Aborts request `id`; `Some(had_audio)` when it was running.
    pub fn cancel(&mut self, id: RequestId) -> Option<bool> {
        self.running.remove(&id).map(|r| r.audio)
    }

    /// Passes a signal to request `id` (dropped when it is not running or not listening).
    pub fn control(&self, id: RequestId, c: Control) {
        if let Some(r) = self.running.get(&id) {
            let _ = r.control.try_send(c);
        }
    }

    /// The next report of a request, or the next ask of a running one. A finished request is
    /// removed from the table, and `had_audio` says whether its leg audio must be detached; a
    /// progress report ([`Done::is_final`] false) leaves it running. Cancel-safe.
    pub async fn next(&mut self) -> TaskEvent {
        // `self` holds both senders, so neither channel closes.
        tokio::select! {
            Some(done) = self.done_rx.recv() => {
                if !done.is_final() {
                    return TaskEvent::Done(done, false);
                }
                let had_audio = self.running.remove(&done.id()).is_some_and(|r| r.audio);
                TaskEvent::Done(done, had_audio)
            }
            Some((id, ask)) = self.ask_rx.recv() => TaskEvent::Ask(id, ask),
        }
    }

    pub fn len(&self) -> usize {
        self.running.len()
    }

    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }
}
