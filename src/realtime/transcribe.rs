//! [`TranscribeSession`]: speech recognition over a Realtime transcription session
//! (`/realtime?intent=transcription`, `session.type: "transcription"`), the `openai` engine of
//! `listen`. Sans-IO like [`super::AgentSession`], over the same websocket pump.
//!
//! The server's VAD decides where speech starts and ends (`server_vad`, `silence_duration_ms`
//! = the node's endpointing); the first completed transcript of a committed turn is the
//! result. `speech_started` is reported so the caller's speech can stop the prompt
//! (barge-in); transcript deltas are reported as partials. A turn whose transcript comes back
//! empty (noise) does not end recognition: the next turn is awaited. Errors: no connection
//! within the connect timeout, a server `error`, the socket closing, a failed transcription.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use super::events::{self, client, ServerEvent};
use super::format::AudioFormat;
use super::session::AgentError;

/// Caller audio kept while the socket opens (2 s).
const MAX_EARLY_FRAMES: usize = 100;
/// After [`TranscribeSession::finish`], how long the transcript of the last turn may take.
pub const FINISH_WAIT: Duration = Duration::from_secs(5);
/// Longest partial transcript kept.
const MAX_PARTIAL: usize = 4000;

#[derive(Debug, Clone)]
pub struct TranscribeConfig {
    /// `gpt-4o-transcribe`, `gpt-4o-mini-transcribe`, `whisper-1`, ...
    pub model: String,
    /// ISO-639-1 (`en`); a `listen.language` such as `en-US` is cut to its first part.
    pub language: Option<String>,
    /// Words to expect (a menu's route words), passed as the transcription prompt.
    pub prompt: Option<String>,
    pub format: AudioFormat,
    /// Silence that ends the caller's turn.
    pub silence: Option<Duration>,
    pub connect_timeout: Duration,
}

impl TranscribeConfig {
    pub fn session_json(&self) -> Value {
        let mut transcription = Map::new();
        transcription.insert("model".into(), json!(self.model));
        if let Some(l) = &self.language {
            let short = l.split(['-', '_']).next().unwrap_or(l).to_ascii_lowercase();
            transcription.insert("language".into(), json!(short));
        }
        if let Some(p) = &self.prompt {
            transcription.insert("prompt".into(), json!(p));
        }
        let mut vad = json!({"type": "server_vad"});
        if let Some(d) = self.silence {
            vad["silence_duration_ms"] = json!(d.as_millis() as u64);
        }
        json!({
            "type": "transcription",
            "audio": {"input": {
                "format": self.format.to_json(),
                "transcription": Value::Object(transcription),
                "turn_detection": vad,
            }},
        })
    }
}

/// What the pump (or the listen driver) must do.
#[derive(Debug, Clone, PartialEq)]
pub enum TranscribeOutput {
    Send(String),
    /// The caller started speaking (stop the prompt).
    SpeechStarted,
    /// The words so far of the current turn.
    Partial(String),
    /// The transcript of the caller's turn; recognition is over.
    Final(String),
    /// Recognition failed; it is over.
    Failed(AgentError),
}

pub struct TranscribeSession {
    cfg: TranscribeConfig,
    out: VecDeque<TranscribeOutput>,
    connected: bool,
    done: bool,
    connect_deadline: Option<Instant>,
    early: VecDeque<Vec<u8>>,
    partial: String,
    /// Turns committed whose transcript has not come yet.
    pending: usize,
    /// The caller's side said the utterance is over (commit sent, waiting until this).
    finish_deadline: Option<Instant>,
    commit_pending: bool,
}

impl TranscribeSession {
    pub fn new(cfg: TranscribeConfig, now: Instant) -> TranscribeSession {
        TranscribeSession {
            connect_deadline: Some(now + cfg.connect_timeout),
            cfg,
            out: VecDeque::new(),
            connected: false,
            done: false,
            early: VecDeque::new(),
            partial: String::new(),
            pending: 0,
            finish_deadline: None,
            commit_pending: false,
        }
    }

    pub fn connected(&mut self, _now: Instant) {
        if self.done || self.connected {
            return;
        }
        self.connected = true;
        self.connect_deadline = None;
        let update = client::session_update("session_1", self.cfg.session_json());
        self.out.push_back(TranscribeOutput::Send(update));
        while let Some(frame) = self.early.pop_front() {
            self.out
                .push_back(TranscribeOutput::Send(client::append(&frame)));
        }
        if self.commit_pending {
            self.send_commit();
        }
    }

    /// The utterance is over (the caller side's endpointing, or a timeout): commit what the
    /// server holds and wait up to [`FINISH_WAIT`] for its transcript.
    pub fn finish(&mut self, now: Instant) {
        if self.done || self.finish_deadline.is_some() {
            return;
        }
        self.finish_deadline = Some(now + FINISH_WAIT);
        if self.connected {
            self.send_commit();
        } else {
            self.commit_pending = true;
        }
    }

    fn send_commit(&mut self) {
        self.commit_pending = false;
        let commit =
            serde_json::json!({"type": "input_audio_buffer.commit", "event_id": "commit_1"});
        self.out
            .push_back(TranscribeOutput::Send(commit.to_string()));
    }

    /// One frame of caller audio in the session's format.
    pub fn audio(&mut self, frame: &[u8], _now: Instant) {
        if self.done {
            return;
        }
        if !self.connected {
            if self.early.len() == MAX_EARLY_FRAMES {
                self.early.pop_front();
            }
            self.early.push_back(frame.to_vec());
            return;
        }
        self.out
            .push_back(TranscribeOutput::Send(client::append(frame)));
    }

    pub fn server_text(&mut self, text: &str, _now: Instant) {
        if self.done {
            return;
        }
        let Ok(ev) = events::parse(text) else {
            return;
        };
        match ev {
            // Our commit found the buffer empty (the server's VAD had committed it already, or
            // nothing was said): wait for what is pending, or end with nothing.
            ServerEvent::Error(e)
                if e.code.as_deref() == Some("input_audio_buffer_commit_empty")
                    || e.event_id.as_deref() == Some("commit_1") =>
            {
                let nothing_pending = self.pending == 0;
                nothing_pending.then(|| self.final_text(String::new()));
            }
            ServerEvent::Error(e) => self.fail(AgentError::Server(e)),
            ServerEvent::Committed { .. } => self.pending += 1,
            ServerEvent::SpeechStarted { .. } => {
                self.partial.clear();
                self.out.push_back(TranscribeOutput::SpeechStarted);
            }
            ServerEvent::CallerTranscriptDelta { delta, .. }
                if self.partial.len() + delta.len() <= MAX_PARTIAL =>
            {
                self.partial.push_str(&delta);
                self.out
                    .push_back(TranscribeOutput::Partial(self.partial.clone()));
            }
            ServerEvent::CallerTranscript { transcript, .. } => {
                self.pending = self.pending.saturating_sub(1);
                let text = transcript.trim();
                if !text.is_empty() {
                    self.final_text(text.chars().take(MAX_PARTIAL).collect());
                } else if self.finish_deadline.is_some() && self.pending == 0 {
                    self.final_text(String::new());
                }
            }
            ServerEvent::CallerTranscriptFailed { message, .. } => self.fail(AgentError::Protocol(
                format!("transcription failed: {message}"),
            )),
            _ => {}
        }
    }

    pub fn closed(&mut self, why: &str, _now: Instant) {
        self.fail(AgentError::Closed(why.to_owned()));
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.connect_deadline.is_some_and(|d| d <= now) {
            self.connect_deadline = None;
            self.fail(AgentError::ConnectTimeout(self.cfg.connect_timeout));
        }
        if self.finish_deadline.is_some_and(|d| d <= now) {
            self.finish_deadline = None;
            let partial = std::mem::take(&mut self.partial);
            self.final_text(partial.trim().to_owned());
        }
    }

    fn final_text(&mut self, text: String) {
        if !self.done {
            self.done = true;
            self.out.push_back(TranscribeOutput::Final(text));
        }
    }

    pub fn poll_output(&mut self) -> Option<TranscribeOutput> {
        self.out.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.done {
            return None;
        }
        match (self.connect_deadline, self.finish_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    fn fail(&mut self, e: AgentError) {
        if !self.done {
            self.done = true;
            self.out.push_back(TranscribeOutput::Failed(e));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> TranscribeConfig {
        TranscribeConfig {
            model: "gpt-4o-transcribe".into(),
            language: Some("en-US".into()),
            prompt: Some("billing, support".into()),
            format: AudioFormat::Pcmu,
            silence: Some(Duration::from_millis(600)),
            connect_timeout: Duration::from_secs(5),
        }
    }

    fn drain(s: &mut TranscribeSession) -> Vec<TranscribeOutput> {
        std::iter::from_fn(|| s.poll_output()).collect()
    }

    #[test]
    fn configures_a_transcription_session_and_returns_the_first_non_empty_turn() {
        let t0 = Instant::now();
        let mut s = TranscribeSession::new(cfg(), t0);
        s.audio(&[0xff; 160], t0); // before the socket is open: kept
        s.connected(t0);
        let out = drain(&mut s);
        let TranscribeOutput::Send(update) = &out[0] else {
            panic!("update")
        };
        let v: Value = serde_json::from_str(update).unwrap();
        assert_eq!(v["type"], "session.update");
        assert_eq!(v["session"]["type"], "transcription");
        assert_eq!(
            v["session"]["audio"]["input"]["format"]["type"],
            "audio/pcmu"
        );
        assert_eq!(
            v["session"]["audio"]["input"]["transcription"],
            json!({"model": "gpt-4o-transcribe", "language": "en", "prompt": "billing, support"})
        );
        assert_eq!(
            v["session"]["audio"]["input"]["turn_detection"]["silence_duration_ms"],
            600
        );
        assert!(
            matches!(&out[1], TranscribeOutput::Send(a) if a.contains("input_audio_buffer.append"))
        );
        s.server_text(
            r#"{"type":"input_audio_buffer.speech_started","audio_start_ms":100,"item_id":"i1"}"#,
            t0,
        );
        s.server_text(r#"{"type":"conversation.item.input_audio_transcription.delta","item_id":"i1","content_index":0,"delta":"bill"}"#, t0);
        s.server_text(r#"{"type":"conversation.item.input_audio_transcription.completed","item_id":"i1","content_index":0,"transcript":"  "}"#, t0);
        assert!(!s.is_done(), "an empty turn is noise");
        s.server_text(r#"{"type":"conversation.item.input_audio_transcription.completed","item_id":"i2","content_index":0,"transcript":"Billing, please."}"#, t0);
        assert_eq!(
            drain(&mut s),
            [
                TranscribeOutput::SpeechStarted,
                TranscribeOutput::Partial("bill".into()),
                TranscribeOutput::Final("Billing, please.".into())
            ]
        );
        assert!(s.is_done());
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn finish_commits_and_waits_for_the_last_transcript_or_gives_up() {
        let t0 = Instant::now();
        let mut s = TranscribeSession::new(cfg(), t0);
        s.connected(t0);
        drain(&mut s);
        s.finish(t0);
        let out = drain(&mut s);
        assert!(
            matches!(&out[0], TranscribeOutput::Send(c) if c.contains("input_audio_buffer.commit"))
        );
        s.server_text(
            r#"{"type":"input_audio_buffer.committed","item_id":"i1"}"#,
            t0,
        );
        s.server_text(r#"{"type":"conversation.item.input_audio_transcription.completed","item_id":"i1","content_index":0,"transcript":"two"}"#, t0);
        assert_eq!(drain(&mut s), [TranscribeOutput::Final("two".into())]);
        // Nothing said: the commit is refused as empty, the result is empty.
        let mut s = TranscribeSession::new(cfg(), t0);
        s.connected(t0);
        s.finish(t0);
        drain(&mut s);
        s.server_text(r#"{"type":"error","error":{"type":"invalid_request_error","code":"input_audio_buffer_commit_empty","message":"buffer too small","event_id":"commit_1"}}"#, t0);
        assert_eq!(drain(&mut s), [TranscribeOutput::Final(String::new())]);
        // A server that never answers: the partial words after FINISH_WAIT.
        let mut s = TranscribeSession::new(cfg(), t0);
        s.connected(t0);
        s.server_text(r#"{"type":"conversation.item.input_audio_transcription.delta","item_id":"i1","delta":"yes "}"#, t0);
        s.finish(t0);
        drain(&mut s);
        s.handle_timeout(t0 + FINISH_WAIT);
        assert_eq!(drain(&mut s), [TranscribeOutput::Final("yes".into())]);
    }

    #[test]
    fn failures() {
        let t0 = Instant::now();
        let mut s = TranscribeSession::new(cfg(), t0);
        assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(5)));
        s.handle_timeout(t0 + Duration::from_secs(5));
        assert_eq!(
            drain(&mut s),
            [TranscribeOutput::Failed(AgentError::ConnectTimeout(
                Duration::from_secs(5)
            ))]
        );
        let mut s = TranscribeSession::new(cfg(), t0);
        s.connected(t0);
        drain(&mut s);
        s.server_text(r#"{"type":"error","error":{"type":"invalid_request_error","code":"invalid_api_key","message":"bad key"}}"#, t0);
        s.closed("eof", t0);
        let out = drain(&mut s);
        assert_eq!(out.len(), 1, "one failure only: {out:?}");
        assert!(
            matches!(&out[0], TranscribeOutput::Failed(AgentError::Server(e)) if e.code.as_deref() == Some("invalid_api_key"))
        );
    }
}
