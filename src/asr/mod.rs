//! Speech recognition for `listen` nodes: one recognizer interface, four engines, and the
//! sans-IO parts that decide when a caller has spoken.
//!
//! - [`Recognizer`] is what every engine looks like to the call: 16 kHz PCM and "that was the
//!   end of the utterance" go in ([`Recognizer::audio`], [`Recognizer::finish`]), partial and
//!   final transcripts or an error come out ([`Recognizer::event`]). Dropping it cancels.
//!   Engines: [`pocketsphinx`] (offline, the default), [`vosk`] (the `websocket` engine: the Vosk
//!   server protocol), [`axy`] (SDiFI gRPC `StreamingRecognize`); the `openai` engine (Realtime
//!   transcription) is built on the agent's websocket code and implements the same interface.
//! - [`listen::ListenCore`] is the sans-IO listen session: caller audio in, VAD
//!   ([`vad`]) and endpointing ([`endpoint`]) decide speech start (barge-in) and end, audio is
//!   forwarded with a pre-roll, the recognizer's events become one result.
//! - [`grammar`] derives menu grammars from routes; [`pcm`] brings caller audio to 16 kHz.
//!
//! Not owned here: the flow semantics of `listen` (`machine::listen`), engine configuration
//! parsing (`config::asr`), the call-side task that pumps a session (`engine`).

pub mod axy;
pub mod endpoint;
pub mod engines;
pub mod grammar;
pub mod listen;
pub mod meter;
pub mod pcm;
pub mod pocketsphinx;
pub mod session;
#[cfg(test)]
pub(crate) mod testkit;
pub mod vad;
pub mod vosk;

use std::fmt;
use std::time::Duration;

use tokio::sync::mpsc;

pub use grammar::Grammar;

/// Sample rate of the audio every recognizer receives.
pub const RATE: u32 = 16_000;

/// What one listen attempt asks of an engine.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// BCP-47 language (`en-US`).
    pub language: String,
    /// Phrases to choose among (a menu), or free speech.
    pub grammar: Option<Grammar>,
    /// Call identifier, for engines that group streams by conversation (axy) and for logs.
    pub call: String,
    /// Silence that ends the utterance (the node's `listen.silence`, else `asr.silence`). The
    /// listen core endpoints with it; engines whose server decides the end of speech too
    /// (`openai`: the session's `turn_detection.silence_duration_ms`) pass it on.
    pub silence: Duration,
}

/// Something a recognizer reports.
#[derive(Debug, Clone, PartialEq)]
pub enum AsrEvent {
    /// A tentative transcript (logged; may change).
    Partial(String),
    /// The transcript of the utterance (empty when nothing was recognised). The last event.
    Final(String),
    /// The recognizer failed. The last event.
    Error(AsrError),
}

/// Why recognition failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AsrError {
    /// The engine cannot run here (no model, no URL configured). Names what is missing.
    NotConfigured(String),
    /// Could not reach the server.
    Connect(String),
    /// The server broke the protocol, answered with an error, or closed early.
    Remote(String),
    /// Too much audio queued for the recognizer (it is slower than real time at this load).
    Overloaded,
    /// The local decoder failed.
    Decoder(String),
}

impl fmt::Display for AsrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AsrError::NotConfigured(what) => write!(f, "speech recognition not configured: {what}"),
            AsrError::Connect(e) => write!(f, "cannot reach the recognizer: {e}"),
            AsrError::Remote(e) => write!(f, "recognizer error: {e}"),
            AsrError::Overloaded => write!(f, "recognizer overloaded"),
            AsrError::Decoder(e) => write!(f, "decoder error: {e}"),
        }
    }
}

impl std::error::Error for AsrError {}

/// The input half an engine implements: where audio and the end of the utterance go.
pub trait AudioSink: Send {
    /// 16 kHz mono PCM. Must not block; an engine that cannot keep up returns `Overloaded`.
    fn audio(&mut self, pcm: &[i16]) -> Result<(), AsrError>;
    /// No more audio: produce the `Final`.
    fn finish(&mut self);
}

/// A running recognizer: audio in, events out. Dropping it abandons the recognition (the
/// engine stops and frees what it holds).
pub struct Recognizer {
    sink: Box<dyn AudioSink>,
    events: mpsc::Receiver<AsrEvent>,
    finished: bool,
    /// Latency and errors for `/metrics` (set by `Engines::recognizer`).
    meter: Option<meter::Meter>,
}

impl Recognizer {
    /// Joins an engine's input half and the channel it reports on.
    pub fn new(sink: Box<dyn AudioSink>, events: mpsc::Receiver<AsrEvent>) -> Recognizer {
        Recognizer {
            sink,
            events,
            finished: false,
            meter: None,
        }
    }

    /// Reports this recognition's latency and errors under `engine` ([`meter`]).
    pub fn metered(mut self, engine: &'static str) -> Recognizer {
        self.meter = Some(meter::Meter::new(engine));
        self
    }

    /// A recognizer that fails at once (an engine that is not configured).
    pub fn failed(error: AsrError) -> Recognizer {
        let (tx, rx) = mpsc::channel(1);
        let _ = tx.try_send(AsrEvent::Error(error));
        Recognizer::new(Box::new(NullSink), rx)
    }

    pub fn audio(&mut self, pcm: &[i16]) -> Result<(), AsrError> {
        if self.finished {
            return Ok(());
        }
        let r = self.sink.audio(pcm);
        if let (Err(e), Some(m)) = (&r, self.meter.as_mut()) {
            m.audio_error(e);
        }
        r
    }

    pub fn finish(&mut self) {
        if !std::mem::replace(&mut self.finished, true) {
            if let Some(m) = self.meter.as_mut() {
                m.finished(std::time::Instant::now());
            }
            self.sink.finish();
        }
    }

    /// The next event; `None` when the engine went away without a `Final` (treated as an error
    /// by callers).
    pub async fn event(&mut self) -> Option<AsrEvent> {
        let ev = self.events.recv().await;
        if let Some(m) = self.meter.as_mut() {
            m.event(ev.as_ref(), std::time::Instant::now());
        }
        ev
    }

    /// An event if one is ready (sans-IO callers and tests).
    pub fn try_event(&mut self) -> Option<AsrEvent> {
        let ev = match self.events.try_recv() {
            Ok(ev) => Some(ev),
            Err(mpsc::error::TryRecvError::Empty) => return None,
            Err(mpsc::error::TryRecvError::Disconnected) => None,
        };
        if let Some(m) = self.meter.as_mut() {
            m.event(ev.as_ref(), std::time::Instant::now());
        }
        ev
    }
}

/// Discards audio (for [`Recognizer::failed`]).
pub(crate) struct NullSink;

#[cfg(test)]
pub(crate) use NullSink as NullSinkForTests;

impl AudioSink for NullSink {
    fn audio(&mut self, _: &[i16]) -> Result<(), AsrError> {
        Ok(())
    }
    fn finish(&mut self) {}
}

/// An [`AudioSink`] for engines that run as a task: audio and the finish mark go over a bounded
/// channel; a full channel is `Overloaded` (the task fell behind by [`FEED_QUEUE`] frames).
pub struct ChannelSink {
    tx: mpsc::Sender<Feed>,
}

/// What a task-based engine reads.
#[derive(Debug)]
pub enum Feed {
    Audio(Vec<i16>),
    Finish,
}

/// Frames a task-based engine may fall behind by (~10 s of 20 ms frames).
pub const FEED_QUEUE: usize = 500;

impl ChannelSink {
    /// The sink and the receiving end for the engine's task.
    pub fn pair() -> (ChannelSink, mpsc::Receiver<Feed>) {
        let (tx, rx) = mpsc::channel(FEED_QUEUE);
        (ChannelSink { tx }, rx)
    }
}

impl AudioSink for ChannelSink {
    fn audio(&mut self, pcm: &[i16]) -> Result<(), AsrError> {
        match self.tx.try_send(Feed::Audio(pcm.to_vec())) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => Err(AsrError::Overloaded),
            // The task ended (it reports why on its event channel).
            Err(mpsc::error::TrySendError::Closed(_)) => Ok(()),
        }
    }

    fn finish(&mut self) {
        // A full queue gets the mark when the task catches up; a closed one needs none.
        let tx = self.tx.clone();
        if let Err(mpsc::error::TrySendError::Full(f)) = self.tx.try_send(Feed::Finish) {
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    let _ = tx.send(f).await;
                });
            }
        }
    }
}
