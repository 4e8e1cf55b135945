//! The `websocket` engine: a streaming recognizer speaking the Vosk server's websocket protocol
//! (the de-facto open one; docs/speech.md has the message shapes).
//!
//! Per listen attempt, one websocket to `asr.websocket.url`:
//! 1. a text `{"config": {"sample_rate": 16000, "phrase_list": [...]}}` (the phrase list only
//!    with a grammar, plus `"[unk]"` so out-of-grammar speech is not forced onto a phrase);
//! 2. binary messages of 16-bit little-endian mono PCM at that rate, [`BATCH`] at a time;
//! 3. the text `{"eof" : 1}` (exactly so: the reference server compares the string) when the
//!    listen core decides the caller has finished.
//!
//! The server answers every message with one JSON object: `{"partial": "..."}` while an
//! utterance goes on, `{"text": "...", "result": [...]}` when it ended one (its own
//! endpointing), and after `eof` the final `{"text": "..."}`, then closes. The transcript is
//! every `text` joined; `alternatives` (when a server sends n-best) counts its first entry.
//!
//! [`Vosk`] is the sans-IO part (messages out, replies in, one result); [`start`] is the tokio
//! task that pumps it over tokio-tungstenite.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use super::{AsrError, AsrEvent, ChannelSink, Feed, Recognizer, Request, RATE};

/// Samples per binary message (100 ms at 16 kHz): the server answers each message, so 20 ms
/// messages would mean 50 replies a second.
pub const BATCH: usize = 1_600;
/// The end-of-stream message, byte for byte.
pub const EOF: &str = "{\"eof\" : 1}";

/// Largest message the recogniser may send us (its results are small JSON objects).
pub const MAX_MESSAGE: usize = 1 << 20;

/// Settings of the `websocket` engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoskConfig {
    /// `ws://` or `wss://` URL of the server.
    pub url: String,
    /// Connecting (TCP + TLS + upgrade) gives up after this.
    pub connect_timeout: Duration,
    /// After `eof`, the final result must arrive within this.
    pub result_timeout: Duration,
}

/// A reply from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Partial(String),
    /// An utterance's text (mid-stream, or the final one after `eof`).
    Text(String),
}

/// Parses one server message; `None` for JSON that is neither (ignored, as unknown fields are).
pub fn parse_reply(text: &str) -> Result<Option<Reply>, AsrError> {
    let v: Value = serde_json::from_str(text)
        .map_err(|e| AsrError::Remote(format!("reply is not JSON: {e}")))?;
    if let Some(t) = v.get("text").and_then(Value::as_str) {
        return Ok(Some(Reply::Text(t.trim().to_owned())));
    }
    if let Some(t) = v
        .get("alternatives")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(|a| a.get("text"))
        .and_then(Value::as_str)
    {
        return Ok(Some(Reply::Text(t.trim().to_owned())));
    }
    if let Some(t) = v.get("partial").and_then(Value::as_str) {
        return Ok(Some(Reply::Partial(t.trim().to_owned())));
    }
    Ok(None)
}

/// The first message: sample rate and, for a grammar, the phrase list.
pub fn config_message(req: &Request) -> String {
    let mut config = json!({ "sample_rate": RATE });
    if let Some(g) = &req.grammar {
        let mut phrases: Vec<String> = g.phrases().to_vec();
        phrases.push("[unk]".into());
        config["phrase_list"] = json!(phrases);
    }
    json!({ "config": config }).to_string()
}

/// The sans-IO side of one stream: batches audio, counts replies, joins texts.
#[derive(Debug, Default)]
pub struct Vosk {
    pending: Vec<i16>,
    texts: Vec<String>,
    /// Messages the server owes a reply to.
    owed: usize,
    eof_sent: bool,
    last_partial: String,
}

/// What to send next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Out {
    Binary(Vec<u8>),
    Text(String),
}

impl Vosk {
    pub fn new() -> Vosk {
        Vosk::default()
    }

    /// Audio from the listen core; a message when a batch is full.
    pub fn audio(&mut self, pcm: &[i16]) -> Option<Out> {
        if self.eof_sent {
            return None;
        }
        self.pending.extend_from_slice(pcm);
        (self.pending.len() >= BATCH).then(|| self.flush())
    }

    /// End of the utterance: the last audio (if any) then `eof`.
    pub fn finish(&mut self) -> Vec<Out> {
        if self.eof_sent {
            return Vec::new();
        }
        let mut v = Vec::new();
        if !self.pending.is_empty() {
            v.push(self.flush());
        }
        self.eof_sent = true;
        self.owed += 1;
        v.push(Out::Text(EOF.to_owned()));
        v
    }

    fn flush(&mut self) -> Out {
        let bytes = self.pending.iter().flat_map(|s| s.to_le_bytes()).collect();
        self.pending.clear();
        self.owed += 1;
        Out::Binary(bytes)
    }

    /// A reply; returns the event to report, if any. After `eof`, the last owed reply is the
    /// final one.
    pub fn reply(&mut self, text: &str) -> Option<AsrEvent> {
        let parsed = match parse_reply(text) {
            Ok(p) => p,
            Err(e) => return Some(AsrEvent::Error(e)),
        };
        self.owed = self.owed.saturating_sub(1);
        match parsed {
            Some(Reply::Text(t)) if !t.is_empty() => self.texts.push(t),
            Some(Reply::Partial(p)) if !p.is_empty() && p != self.last_partial => {
                self.last_partial.clone_from(&p);
                let mut so_far = self.texts.clone();
                so_far.push(p);
                if !(self.eof_sent && self.owed == 0) {
                    return Some(AsrEvent::Partial(so_far.join(" ")));
                }
            }
            _ => {}
        }
        (self.eof_sent && self.owed == 0).then(|| self.result())
    }

    /// The server closed the stream: after `eof` that is the end (a server may close instead
    /// of answering the last message); before, an error.
    pub fn closed(&mut self) -> AsrEvent {
        if self.eof_sent {
            self.result()
        } else {
            AsrEvent::Error(AsrError::Remote("server closed the stream".into()))
        }
    }

    fn result(&self) -> AsrEvent {
        AsrEvent::Final(self.texts.join(" "))
    }
}

/// Starts one recognition stream (connects in the background; audio queues meanwhile).
pub fn start(cfg: &VoskConfig, req: &Request) -> Recognizer {
    let (sink, feed) = ChannelSink::pair();
    let (tx, rx) = mpsc::channel(64);
    let cfg = cfg.clone();
    let config = config_message(req);
    tokio::spawn(async move {
        let event = match run(&cfg, config, feed, &tx).await {
            Ok(ev) => ev,
            Err(e) => AsrEvent::Error(e),
        };
        let _ = tx.send(event).await;
    });
    Recognizer::new(Box::new(sink), rx)
}

async fn run(
    cfg: &VoskConfig,
    config: String,
    mut feed: mpsc::Receiver<Feed>,
    events: &mpsc::Sender<AsrEvent>,
) -> Result<AsrEvent, AsrError> {
    let connect = tokio_tungstenite::connect_async_with_config(
        cfg.url.as_str(),
        Some(crate::engine::ws_config::ws_config(MAX_MESSAGE)),
        true,
    );
    let (ws, _) = tokio::time::timeout(cfg.connect_timeout, connect)
        .await
        .map_err(|_| AsrError::Connect("timed out".into()))?
        .map_err(|e| AsrError::Connect(e.to_string()))?;
    let (mut write, mut read) = ws.split();
    let send_err = |e: tokio_tungstenite::tungstenite::Error| AsrError::Remote(e.to_string());
    write.send(Message::text(config)).await.map_err(send_err)?;
    let mut vosk = Vosk::new();
    let mut deadline: Option<tokio::time::Instant> = None;
    loop {
        let until = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            f = feed.recv(), if deadline.is_none() => {
                let outs = match f {
                    Some(Feed::Audio(pcm)) => vosk.audio(&pcm).into_iter().collect(),
                    Some(Feed::Finish) => {
                        deadline = Some(tokio::time::Instant::now() + cfg.result_timeout);
                        vosk.finish()
                    }
                    // The recognizer was dropped: the listen was abandoned.
                    None => {
                        let _ = write.send(Message::Close(None)).await;
                        return Ok(AsrEvent::Final(String::new()));
                    }
                };
                for out in outs {
                    let msg = match out {
                        Out::Binary(b) => Message::binary(b),
                        Out::Text(t) => Message::text(t),
                    };
                    write.send(msg).await.map_err(send_err)?;
                }
            }
            m = read.next() => match m {
                Some(Ok(Message::Text(t))) => match vosk.reply(t.as_str()) {
                    // Partials are dropped rather than crowd out the final result.
                    Some(AsrEvent::Partial(p)) if events.capacity() > 1 => {
                        let _ = events.try_send(AsrEvent::Partial(p));
                    }
                    Some(AsrEvent::Partial(_)) => {}
                    Some(ev) => {
                        let _ = write.send(Message::Close(None)).await;
                        return Ok(ev);
                    }
                    None => {}
                },
                Some(Ok(Message::Close(_))) | None => return Ok(vosk.closed()),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(AsrError::Remote(e.to_string())),
            },
            () = until => return Err(AsrError::Remote("no final result in time".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asr::Grammar;

    fn req(grammar: Option<Grammar>) -> Request {
        Request {
            language: "en-US".into(),
            grammar,
            call: "c1".into(),
            silence: Duration::from_millis(700),
        }
    }

    #[test]
    fn config_carries_the_rate_and_the_phrase_list() {
        let v: Value = serde_json::from_str(&config_message(&req(None))).unwrap();
        assert_eq!(v, json!({"config": {"sample_rate": 16000}}));
        let g = Grammar::new(["yes", "no"]);
        let v: Value = serde_json::from_str(&config_message(&req(g))).unwrap();
        assert_eq!(v["config"]["phrase_list"], json!(["yes", "no", "[unk]"]));
    }

    #[test]
    fn replies_are_partials_texts_or_ignored() {
        assert_eq!(
            parse_reply(r#"{"partial" : "tech"}"#).unwrap(),
            Some(Reply::Partial("tech".into()))
        );
        assert_eq!(
            parse_reply(r#"{"result": [], "text" : "technical support"}"#).unwrap(),
            Some(Reply::Text("technical support".into()))
        );
        assert_eq!(
            parse_reply(r#"{"alternatives": [{"text": "yes", "confidence": 0.9}]}"#).unwrap(),
            Some(Reply::Text("yes".into()))
        );
        assert_eq!(parse_reply(r#"{"other": 1}"#).unwrap(), None);
        assert!(parse_reply("not json").is_err());
    }

    #[test]
    fn audio_is_batched_and_eof_ends_with_every_text_joined() {
        let mut v = Vosk::new();
        assert_eq!(v.audio(&[1; 1000]), None);
        let Some(Out::Binary(b)) = v.audio(&[2; 1000]) else {
            panic!("a batch")
        };
        assert_eq!(b.len(), 4000);
        assert_eq!(&b[..2], &1i16.to_le_bytes());
        assert_eq!(
            v.reply(r#"{"partial": "one"}"#),
            Some(AsrEvent::Partial("one".into()))
        );
        assert_eq!(v.audio(&[3; 100]), None);
        let outs = v.finish();
        assert_eq!(outs.len(), 2, "the rest of the audio, then eof");
        assert_eq!(outs[1], Out::Text(EOF.into()));
        assert_eq!(v.audio(&[0; 5000]), None, "nothing after eof");
        // Replies: the rest-of-audio message's (an utterance the server ended), then eof's.
        assert_eq!(v.reply(r#"{"text": "one two"}"#), None);
        assert_eq!(
            v.reply(r#"{"text": "three"}"#),
            Some(AsrEvent::Final("one two three".into()))
        );
    }

    #[test]
    fn a_close_before_eof_is_an_error_after_it_the_end() {
        let mut v = Vosk::new();
        assert!(matches!(v.closed(), AsrEvent::Error(_)));
        v.finish();
        assert_eq!(v.closed(), AsrEvent::Final(String::new()));
    }
}
