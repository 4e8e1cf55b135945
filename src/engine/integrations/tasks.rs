//! The tokio side of a call's side requests: one task per running [`Request`], aborted when
//! the driver cancels it or the call ends, its [`Done`] delivered on one channel per call.
//!
//! Owns the running table and the dispatch from request to implementation (one match arm per
//! integration). Does not decide anything about the flow: a late `Done` for a cancelled request
//! is still delivered, and the driver drops it.

use std::collections::HashMap;

use tokio::sync::mpsc;

use super::{Ask, Control, Done, Request};
use crate::engine::audio_port::AudioPort;
use crate::engine::call::deps::ServiceDeps;
use crate::engine::rt::AbortOnDrop;
use crate::engine::services;
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
    call: String,
    running: HashMap<RequestId, Running>,
    done_tx: mpsc::UnboundedSender<Done>,
    done_rx: mpsc::UnboundedReceiver<Done>,
    ask_tx: mpsc::Sender<(RequestId, Ask)>,
    ask_rx: mpsc::Receiver<(RequestId, Ask)>,
}

impl Default for Tasks {
    fn default() -> Self {
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let (ask_tx, ask_rx) = mpsc::channel(ASK_QUEUE);
        Tasks {
            call: String::new(),
            running: HashMap::new(),
            done_tx,
            done_rx,
            ask_tx,
            ask_rx,
        }
    }
}

impl Tasks {
    /// The side requests of call `call`.
    pub fn for_call(call: &str) -> Tasks {
        Tasks {
            call: call.to_owned(),
            ..Tasks::default()
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
            Request::Say { text, voice, .. } => {
                let dir = services.tts_dir.clone();
                tokio::spawn(async move {
                    let result = services::synthesize(&dir, &text, voice.as_deref())
                        .await
                        .map_err(|e| e.to_string());
                    let _ = tx.send(Done::Tts { id, result });
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
            Request::Agent { ref provider, .. } if provider == super::echo::PROVIDER => {
                tokio::spawn(async move {
                    let _ = tx.send(super::echo::run(ctx).await);
                })
            }
            // No provider here: fails at once with the capability's reason, which the call log
            // shows and the flow's error branch gets.
            other => return Err(Done::failed(&other, services.unavailable(&other))),
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
