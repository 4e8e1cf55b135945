//! PocketSphinx on a fixed set of threads: decoding never runs on the async runtime, and the
//! CPU and memory it takes are bounded.
//!
//! - `threads` recognizer threads (default: one per core), each owning its decoders. A
//!   recognizer (one listen attempt) is pinned to one thread, round robin; its audio and finish
//!   mark travel over that thread's bounded queue ([`QUEUE`] jobs; full = `Overloaded`).
//! - A decoder is taken only while the caller speaks (the listen core sends audio from speech
//!   start), so decoders track concurrent *speakers*, not calls. At most `decoders_per_thread`
//!   exist per thread; a speaker who finds none free waits (their audio is kept, up to
//!   [`MAX_BACKLOG`]) until one is returned. A grammar-only decoder skips the 27 MB language
//!   model (~28 MB resident instead of ~93 MB); free speech needs a language-model decoder.
//! - Partial hypotheses are reported every [`PARTIAL_EVERY`] of audio.
//!
//! A session whose [`Recognizer`] was dropped is cancelled (a `Cancel` job, and any session whose
//! event channel is closed is swept when a new one starts).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

use tokio::sync::mpsc;

use super::{Decoder, Model};
use crate::asr::{AsrError, AsrEvent, AudioSink, Grammar, Recognizer, Request};

/// Jobs queued per recognizer thread (a job is one 20 ms frame, so ~40 s of one caller).
pub const QUEUE: usize = 2_000;
/// Audio kept for a speaker waiting for a decoder (30 s at 16 kHz).
pub const MAX_BACKLOG: usize = 30 * 16_000;
/// Audio between partial hypotheses (0.5 s at 16 kHz).
pub const PARTIAL_EVERY: usize = 8_000;

/// Pool size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSize {
    pub threads: usize,
    pub decoders_per_thread: usize,
}

/// The offline engine: a model and its recognizer threads. Cheap to clone.
#[derive(Clone)]
pub struct PocketSphinx {
    shared: Arc<Shared>,
}

struct Shared {
    model: Arc<Model>,
    workers: Vec<SyncSender<Job>>,
    next: AtomicUsize,
    ids: AtomicU64,
}

enum Job {
    Start {
        id: u64,
        grammar: Option<Grammar>,
        events: mpsc::Sender<AsrEvent>,
    },
    Audio {
        id: u64,
        pcm: Vec<i16>,
    },
    Finish {
        id: u64,
    },
    Cancel {
        id: u64,
    },
}

impl PocketSphinx {
    /// Starts the threads; each loads one grammar decoder at once, so the first caller does
    /// not wait for a model load.
    pub fn start(model: Model, size: PoolSize) -> Result<PocketSphinx, AsrError> {
        let model = Arc::new(model);
        let mut workers = Vec::new();
        for n in 0..size.threads.max(1) {
            let (tx, rx) = sync_channel(QUEUE);
            let model = Arc::clone(&model);
            let max = size.decoders_per_thread.max(1);
            std::thread::Builder::new()
                .name(format!("asr-{n}"))
                .spawn(move || Worker::new(model, max).run(rx))
                .map_err(|e| AsrError::Decoder(format!("cannot start a recognizer thread: {e}")))?;
            workers.push(tx);
        }
        Ok(PocketSphinx {
            shared: Arc::new(Shared {
                model,
                workers,
                next: AtomicUsize::new(0),
                ids: AtomicU64::new(1),
            }),
        })
    }

    pub fn model(&self) -> &Model {
        &self.shared.model
    }

    /// A recognizer for one attempt. The grammar's words the dictionary lacks are left out
    /// (with a warning); a grammar with none left falls back to free speech.
    pub fn recognizer(&self, req: &Request) -> Recognizer {
        let grammar = req.grammar.as_ref().and_then(|g| {
            let kept = g.retain(|w| self.shared.model.has_word(w));
            match &kept {
                None => tracing::warn!(
                    call = %req.call,
                    grammar = %g.describe(),
                    "listen: no grammar word is in the PocketSphinx dictionary; using free speech"
                ),
                Some(k) if k.phrases().len() < g.phrases().len() => tracing::warn!(
                    call = %req.call,
                    kept = %k.describe(),
                    "listen: some grammar phrases have words the dictionary lacks; left out"
                ),
                Some(_) => {}
            }
            kept
        });
        let shared = &self.shared;
        let id = shared.ids.fetch_add(1, Ordering::Relaxed);
        let n = shared.next.fetch_add(1, Ordering::Relaxed) % shared.workers.len();
        let tx = shared.workers[n].clone();
        let (events_tx, events_rx) = mpsc::channel(64);
        let start = Job::Start {
            id,
            grammar,
            events: events_tx.clone(),
        };
        if tx.try_send(start).is_err() {
            return Recognizer::failed(AsrError::Overloaded);
        }
        let sink = Sink {
            tx,
            id,
            events: events_tx,
        };
        Recognizer::new(Box::new(sink), events_rx)
    }
}

/// The recognizer's input half: jobs for its thread.
struct Sink {
    tx: SyncSender<Job>,
    id: u64,
    events: mpsc::Sender<AsrEvent>,
}

impl AudioSink for Sink {
    fn audio(&mut self, pcm: &[i16]) -> Result<(), AsrError> {
        let job = Job::Audio {
            id: self.id,
            pcm: pcm.to_vec(),
        };
        match self.tx.try_send(job) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(AsrError::Overloaded),
            Err(TrySendError::Disconnected(_)) => {
                Err(AsrError::Decoder("recognizer thread stopped".into()))
            }
        }
    }

    fn finish(&mut self) {
        if self.tx.try_send(Job::Finish { id: self.id }).is_err() {
            let _ = self.events.try_send(AsrEvent::Error(AsrError::Overloaded));
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        // A full queue: the session is swept later (its event channel is closed by then).
        let _ = self.tx.try_send(Job::Cancel { id: self.id });
    }
}

struct Session {
    grammar: Option<Grammar>,
    decoder: Option<Decoder>,
    backlog: Vec<i16>,
    finish: bool,
    events: mpsc::Sender<AsrEvent>,
    since_partial: usize,
}

/// One recognizer thread.
struct Worker {
    model: Arc<Model>,
    max: usize,
    created: usize,
    free_grammar: Vec<Decoder>,
    free_lm: Vec<Decoder>,
    sessions: HashMap<u64, Session>,
    waiting: VecDeque<u64>,
}

impl Worker {
    fn new(model: Arc<Model>, max: usize) -> Worker {
        Worker {
            model,
            max,
            created: 0,
            free_grammar: Vec::new(),
            free_lm: Vec::new(),
            sessions: HashMap::new(),
            waiting: VecDeque::new(),
        }
    }

    fn run(mut self, rx: Receiver<Job>) {
        match Decoder::new(&self.model, false) {
            Ok(d) => {
                self.created += 1;
                self.free_grammar.push(d);
            }
            Err(e) => tracing::error!("asr: cannot load the PocketSphinx model: {e}"),
        }
        for job in rx {
            match job {
                Job::Start {
                    id,
                    grammar,
                    events,
                } => {
                    self.sweep();
                    self.sessions.insert(
                        id,
                        Session {
                            grammar,
                            decoder: None,
                            backlog: Vec::new(),
                            finish: false,
                            events,
                            since_partial: 0,
                        },
                    );
                }
                Job::Audio { id, pcm } => self.audio(id, &pcm),
                Job::Finish { id } => self.finish(id),
                Job::Cancel { id } => self.end(id),
            }
        }
    }

    fn audio(&mut self, id: u64, pcm: &[i16]) {
        if self.sessions.get(&id).is_some_and(|s| s.decoder.is_none())
            && !self.waiting.contains(&id)
        {
            self.acquire(id);
        }
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        let Some(decoder) = s.decoder.as_mut() else {
            if s.backlog.len() + pcm.len() > MAX_BACKLOG {
                let _ = s.events.try_send(AsrEvent::Error(AsrError::Overloaded));
                self.end(id);
            } else {
                s.backlog.extend_from_slice(pcm);
            }
            return;
        };
        if let Err(e) = decoder.process(pcm) {
            let _ = s
                .events
                .try_send(AsrEvent::Error(AsrError::Decoder(e.to_string())));
            self.end(id);
            return;
        }
        s.since_partial += pcm.len();
        if s.since_partial >= PARTIAL_EVERY {
            s.since_partial = 0;
            if let Some(hyp) = decoder.hypothesis() {
                // Partials are dropped rather than crowd out the final result.
                if s.events.capacity() > 1 {
                    let _ = s.events.try_send(AsrEvent::Partial(hyp));
                }
            }
        }
    }

    fn finish(&mut self, id: u64) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        s.finish = true;
        let Some(decoder) = s.decoder.as_mut() else {
            if !self.waiting.contains(&id) {
                // Finished before any audio (nothing was said): an empty result.
                if s.backlog.is_empty() {
                    let _ = s.events.try_send(AsrEvent::Final(String::new()));
                    self.end(id);
                } else {
                    self.acquire(id);
                }
            }
            return;
        };
        let event = match decoder.finish() {
            // A partial path through a grammar is no answer.
            Ok(text) => AsrEvent::Final(
                text.filter(|t| s.grammar.as_ref().is_none_or(|g| g.accepts(t)))
                    .unwrap_or_default(),
            ),
            Err(e) => AsrEvent::Error(AsrError::Decoder(e.to_string())),
        };
        let _ = s.events.try_send(event);
        self.end(id);
    }

    /// Gives `id` a decoder (or queues it), then replays its backlog and finish mark.
    fn acquire(&mut self, id: u64) {
        let Some(s) = self.sessions.get(&id) else {
            return;
        };
        let needs_lm = s.grammar.is_none();
        let decoder = if needs_lm {
            self.free_lm.pop()
        } else {
            self.free_grammar.pop().or_else(|| self.free_lm.pop())
        };
        let decoder = match decoder {
            Some(d) => Some(d),
            None if self.created < self.max => match Decoder::new(&self.model, needs_lm) {
                Ok(d) => {
                    self.created += 1;
                    Some(d)
                }
                Err(e) => {
                    self.fail(id, AsrError::Decoder(e.to_string()));
                    return;
                }
            },
            None if needs_lm && !self.free_grammar.is_empty() => {
                // At the limit with only grammar decoders free: swap one for an LM decoder.
                drop(self.free_grammar.pop());
                match Decoder::new(&self.model, true) {
                    Ok(d) => Some(d),
                    Err(e) => {
                        self.created -= 1;
                        self.fail(id, AsrError::Decoder(e.to_string()));
                        return;
                    }
                }
            }
            None => None,
        };
        let Some(mut decoder) = decoder else {
            self.waiting.push_back(id);
            return;
        };
        let Some(s) = self.sessions.get_mut(&id) else {
            self.release(decoder);
            return;
        };
        if let Err(e) = decoder
            .select(s.grammar.as_ref())
            .and_then(|()| decoder.start())
        {
            self.release(decoder);
            self.fail(id, AsrError::Decoder(e.to_string()));
            return;
        }
        s.decoder = Some(decoder);
        let backlog = std::mem::take(&mut s.backlog);
        let finish = s.finish;
        if !backlog.is_empty() {
            self.audio(id, &backlog);
        }
        if finish {
            self.finish(id);
        }
    }

    fn fail(&mut self, id: u64, e: AsrError) {
        if let Some(s) = self.sessions.get(&id) {
            let _ = s.events.try_send(AsrEvent::Error(e));
        }
        self.end(id);
    }

    /// Forgets a session; its decoder goes back to the free lists and serves a waiting one.
    fn end(&mut self, id: u64) {
        self.waiting.retain(|w| *w != id);
        if let Some(s) = self.sessions.remove(&id) {
            if let Some(d) = s.decoder {
                self.release(d);
            }
        }
    }

    fn release(&mut self, d: Decoder) {
        if d.has_lm() {
            self.free_lm.push(d);
        } else {
            self.free_grammar.push(d);
        }
        if let Some(next) = self.waiting.pop_front() {
            self.acquire(next);
        }
    }

    /// Ends sessions whose recognizer was dropped without a `Cancel` reaching us.
    fn sweep(&mut self) {
        let gone: Vec<u64> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.events.is_closed())
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            self.end(id);
        }
    }
}
