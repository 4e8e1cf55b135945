//! The Twilio leg: a call that reaches phonetree as a Twilio Media Stream (bidirectional
//! `<Connect><Stream>`), not as SIP.
//!
//! Twilio opens a websocket to `/twilio/stream` (or `/convo`) after our TwiML answered its voice
//! webhook; [`accept`] reads `connected` and `start` (stream and call SIDs, the TwiML
//! `<Parameter>`s) and [`TwilioLeg::new`] spawns the connection task ([`conn`]) that owns the
//! socket around the sans-IO [`core::TwilioCore`]. The leg itself is a thin handle with the
//! same shape as [`super::sip::SipLeg`]: commands go to the task without waiting, events come
//! back on a bounded channel.
//!
//! What works on this leg: prompts (files and URLs, paced in real time, finished by Twilio's mark
//! echo), barge-in (`clear`), keys (`dtmf` events), every integration through an
//! [`AudioTap`](crate::engine::audio_port::AudioTap) at 8 kHz, keys towards the caller (in-band
//! tones), transfer and hangup through Twilio's REST API when the auth token is configured
//! ([`rest`]); without it a transfer fails (the flow takes `on_fail`) and hangup closes the
//! stream. Admission (signatures, allowed networks) is the HTTP side's
//! ([`crate::engine::twilio_http`]). No flow knowledge here: the routing hints (`flow`, `to`) are
//! strings in [`LegInfo`].

mod conn;
pub mod core;
pub mod rest;
pub mod signature;

pub use conn::{ws_config, MAX_MESSAGE};

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::{LegCmd, LegEnd, LegEvent, LegInfo, Reject};
use crate::engine::audio_port::AudioFormat;
use crate::engine::media::{PromptCache, StreamConfig};
use crate::wsmedia::twilio::{parse_from_twilio, FromTwilio, Start};

/// How long Twilio has to send `connected` and `start` after the upgrade.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Events buffered towards the call driver (the connection stops reading while it is full).
const EVENT_QUEUE: usize = 256;

/// Most messages read before `start` (Twilio sends exactly one: `connected`).
const MAX_BEFORE_START: usize = 8;

/// What every Twilio leg of the server shares.
pub struct TwilioDeps {
    pub prompts: Arc<PromptCache>,
    /// Remote prompts (`Media::Url`).
    pub stream: StreamConfig,
    pub core: core::CoreConfig,
    /// Twilio's REST API; `None` without an auth token.
    pub rest: Option<rest::Rest>,
}

/// Why a websocket did not become a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcceptError {
    /// No `start` within [`START_TIMEOUT`].
    Timeout,
    /// The socket closed or failed first.
    Closed,
    /// Something else came first, or the `start` was unusable.
    Protocol(String),
}

impl std::fmt::Display for AcceptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AcceptError::Timeout => write!(f, "no `start` within {START_TIMEOUT:?}"),
            AcceptError::Closed => f.write_str("the stream closed before `start`"),
            AcceptError::Protocol(why) => write!(f, "protocol: {why}"),
        }
    }
}

/// Reads Twilio's first messages up to `start`.
pub async fn accept<S>(ws: &mut WebSocketStream<S>) -> Result<Start, AcceptError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let read = async {
        for _ in 0..MAX_BEFORE_START {
            let text = match ws.next().await {
                Some(Ok(Message::Text(t))) => t,
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(_)) => return Err(AcceptError::Protocol("a non-text frame".into())),
                Some(Err(_)) | None => return Err(AcceptError::Closed),
            };
            match parse_from_twilio(text.as_str()) {
                Ok(FromTwilio::Connected) => continue,
                Ok(FromTwilio::Start(s)) => {
                    if s.encoding != crate::wsmedia::twilio::ENCODING || s.sample_rate != 8000 {
                        return Err(AcceptError::Protocol(format!(
                            "unsupported media format {} at {} Hz",
                            s.encoding, s.sample_rate
                        )));
                    }
                    return Ok(s);
                }
                Ok(other) => {
                    return Err(AcceptError::Protocol(format!(
                        "expected `start`, got {other:?}"
                    )))
                }
                Err(e) => return Err(AcceptError::Protocol(e.to_string())),
            }
        }
        Err(AcceptError::Protocol(
            "too many messages before `start`".into(),
        ))
    };
    tokio::time::timeout(START_TIMEOUT, read)
        .await
        .unwrap_or(Err(AcceptError::Timeout))
}

/// One call arriving as a Twilio Media Stream.
pub struct TwilioLeg {
    info: LegInfo,
    cmds: mpsc::UnboundedSender<LegCmd>,
    events: mpsc::Receiver<LegEvent>,
    pending: VecDeque<LegEvent>,
    ended: bool,
}

impl std::fmt::Debug for TwilioLeg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioLeg")
            .field("call", &self.info.id)
            .finish()
    }
}

impl TwilioLeg {
    /// The leg of a stream that has sent `start`: spawns its connection task.
    pub fn new<S>(start: Start, ws: WebSocketStream<S>, deps: Arc<TwilioDeps>) -> TwilioLeg
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let info = info_of(&start);
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::channel(EVENT_QUEUE);
        tokio::spawn(conn::run(ws, start, cmd_rx, ev_tx, deps));
        TwilioLeg {
            info,
            cmds: cmd_tx,
            events: ev_rx,
            pending: VecDeque::new(),
            ended: false,
        }
    }

    pub fn info(&self) -> &LegInfo {
        &self.info
    }

    /// The stream is up as soon as Twilio started it: the flow may start.
    pub async fn answer(&mut self) -> Result<(), LegEnd> {
        self.pending.push_back(LegEvent::Answered);
        Ok(())
    }

    /// No flow for this call: close the stream (Twilio goes on with the TwiML after
    /// `<Connect>`, which ends the call).
    pub fn reject(self, _why: Reject) {
        let _ = self.cmds.send(LegCmd::Hangup);
    }

    pub fn audio_format(&self) -> AudioFormat {
        AudioFormat::NARROWBAND
    }

    /// For the call register: Media Streams carry μ-law at 8 kHz; no SIP status, no ringing.
    pub fn facts(&self) -> super::LegFacts {
        super::LegFacts {
            codec: Some("PCMU/8000".into()),
            ..super::LegFacts::default()
        }
    }

    /// See [`super::Leg::next_event`]. Only the channel receive awaits: cancel-safe.
    pub async fn next_event(&mut self) -> LegEvent {
        if let Some(ev) = self.pending.pop_front() {
            return ev;
        }
        if self.ended {
            return std::future::pending().await;
        }
        let ev = self.events.recv().await.unwrap_or_else(|| {
            LegEvent::Ended(LegEnd::Failed("the stream's connection task ended".into()))
        });
        if matches!(ev, LegEvent::Ended(_)) {
            self.ended = true;
        }
        ev
    }

    /// See [`super::Leg::command`]: never waits.
    pub fn command(&mut self, cmd: LegCmd) {
        if let Err(mpsc::error::SendError(cmd)) = self.cmds.send(cmd) {
            // The connection is gone; Ended follows. Report what needs an answer.
            match cmd {
                LegCmd::Play { id, .. } => self.pending.push_back(LegEvent::PlaybackFailed {
                    id,
                    reason: "the stream is closed".into(),
                }),
                LegCmd::Transfer { id, .. } => self.pending.push_back(LegEvent::TransferResult {
                    id,
                    result: Err("the stream is closed".into()),
                }),
                _ => {}
            }
        }
    }
}

/// The call's facts from `start`: CallSid as the id, `from`/`to` from the parameters our TwiML
/// puts on the stream (also `From`/`To`, Twilio's spelling), the `flow` parameter as a hint.
fn info_of(s: &Start) -> LegInfo {
    let param = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| s.custom.get(*n))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let to = param(&["to", "To", "called", "Called"]);
    LegInfo {
        id: if s.call_sid.is_empty() {
            s.stream_sid.clone()
        } else {
            s.call_sid.clone()
        },
        from: param(&["from", "From", "caller", "Caller"]).unwrap_or_default(),
        to: to.clone().unwrap_or_default(),
        dialled: to,
        source: None,
        flow: param(&["flow"]),
        params: s.custom.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn the_start_message_gives_the_calls_facts_and_routing_hints() {
        let start = Start {
            stream_sid: "MZ1".into(),
            call_sid: "CA1".into(),
            custom: BTreeMap::from([
                ("from".to_string(), "+15550001".to_string()),
                ("To".to_string(), "+15550002".to_string()),
                ("flow".to_string(), "menu".to_string()),
            ]),
            ..Start::default()
        };
        let info = info_of(&start);
        assert_eq!(info.id, "CA1");
        assert_eq!(info.from, "+15550001");
        assert_eq!(info.dialled.as_deref(), Some("+15550002"));
        assert_eq!(info.flow.as_deref(), Some("menu"));
        assert_eq!(info.params.len(), 3);
        let bare = info_of(&Start {
            stream_sid: "MZ2".into(),
            ..Start::default()
        });
        assert_eq!((bare.id.as_str(), bare.dialled), ("MZ2", None));
    }
}
