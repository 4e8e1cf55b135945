//! `listen`: the caller's audio (an [`AudioPort`]) into a recognizer, through the sans-IO
//! listen core ([`crate::asr::listen::ListenCore`]: VAD, endpointing, pre-roll), until it has a
//! transcript. Reports [`Done::SpeechStarted`] when the caller starts talking (the flow stops
//! the prompt: barge-in) and [`Done::Speech`] with the result.
//!
//! The engine is the node's `listen.engine` or `asr.engine`; every engine is behind the same
//! [`crate::asr::Recognizer`], so this file has one code path for all of them. The no-speech
//! timeout is the flow machine's (`listen.timeout`): it cancels this task.

use std::time::Duration;

use tokio::sync::mpsc;

use super::tasks::Ctx;
use super::Done;
use crate::asr::engines::Engines;
use crate::asr::listen::{ListenCore, ListenParams};
use crate::asr::session::{self, Frames, ListenEvent};
use crate::asr::{Grammar, Request};
use crate::engine::audio_port::AudioPort;
use crate::flow::program::{AsrEngine, ListenGrammar};
use crate::machine::io::RequestId;

/// A listen request's settings.
#[derive(Debug, Clone)]
pub struct Job {
    pub language: Option<String>,
    pub engine: Option<AsrEngine>,
    pub silence: Option<Duration>,
    pub grammar: ListenGrammar,
}

/// Runs one listen attempt.
pub async fn run(
    ctx: Ctx,
    job: Job,
    engines: &Engines,
    progress: &mpsc::UnboundedSender<Done>,
) -> Done {
    let id = ctx.id;
    let Some(port) = ctx.audio else {
        return speech(id, Err("listen needs the caller's audio".into()));
    };
    let engine = job.engine.unwrap_or(engines.default);
    let grammar = match job.grammar {
        ListenGrammar::Free => None,
        ListenGrammar::Digits => Some(Grammar::digits()),
        ListenGrammar::Phrases(p) => Grammar::new(&p),
    };
    let params = ListenParams {
        silence: job.silence.unwrap_or(engines.silence),
        max_speech: engines.max_speech,
        rate: port.format().rate,
    };
    let request = Request {
        language: job.language.unwrap_or_else(|| engines.language.clone()),
        grammar: grammar.clone(),
        call: ctx.call.clone(),
        silence: params.silence,
    };
    tracing::debug!(
        call = %ctx.call,
        engine = engine.as_str(),
        grammar = %grammar.as_ref().map_or_else(|| "free speech".into(), Grammar::describe),
        "listen"
    );
    let recognizer = engines.recognizer(engine, &request);
    let core = ListenCore::new(params, grammar);
    let mut result = None;
    session::run(
        core,
        recognizer,
        PortFrames(port),
        &ctx.call,
        |ev| match ev {
            ListenEvent::SpeechStarted => {
                let _ = progress.send(Done::SpeechStarted { id });
            }
            ListenEvent::Done(r) => result = Some(r),
        },
    )
    .await;
    speech(
        id,
        result.unwrap_or_else(|| Err("the call's audio ended".into())),
    )
}

fn speech(id: RequestId, result: Result<String, String>) -> Done {
    Done::Speech { id, result }
}

/// An audio port as a source of caller frames.
pub(super) struct PortFrames(pub AudioPort);

impl Frames for PortFrames {
    async fn next_frame(&mut self) -> Option<Vec<i16>> {
        self.0.recv().await.map(|f| f.samples)
    }
}
