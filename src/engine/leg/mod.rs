//! Legs: the ways a caller reaches a flow, behind one small interface (FreeSWITCH's endpoint
//! interface, STYLE §9). The call driver ([`crate::engine::call`]) tells a leg what to do with
//! [`LegCmd`]s and hears back [`LegEvent`]s; it never knows which kind of leg it runs.
//!
//! The verbs: play or stop a prompt, send a DTMF key, transfer, hang up, and attach/detach an
//! integration's [`AudioTap`] (live audio both ways, see [`crate::engine::audio_port`]). The
//! events: answered, a key, a prompt finished (or failed), a transfer's outcome, the leg ended.
//! The caller's audio itself ("audio in") never goes through the driver: it flows from the leg
//! straight into the attached ports.
//!
//! [`Leg`] is a closed enum (one variant per kind, each with the same method set, so adding a
//! leg is one module plus one arm per method; see ARCHITECTURE.md, "Adding a leg"). Today:
//! [`sip::SipLeg`] (SIP dialog + RTP) and [`twilio::TwilioLeg`] (Twilio Media Streams). **No leg knows about flows**: a leg sees prompts as
//! files or URLs, requests as ids, and nothing of nodes, variables or the machine.

pub mod sip;
pub mod twilio;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;

use crate::engine::audio_port::{AudioFormat, AudioTap};
use crate::engine::media::DtmfMethod;
use crate::flow::digit::Digit;
use crate::machine::io::{Media, RequestId};

/// One caller's connection. (One per call, moved once into its task: the size difference
/// between the variants costs nothing worth a box.)
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Leg {
    Sip(sip::SipLeg),
    Twilio(twilio::TwilioLeg),
}

impl Leg {
    /// Who calls whom, fixed at the start.
    pub fn info(&self) -> &LegInfo {
        match self {
            Leg::Sip(l) => l.info(),
            Leg::Twilio(l) => l.info(),
        }
    }

    /// Answers the call (SIP: ring, 200 OK, media). `Ok` once answered; [`LegEvent::Answered`]
    /// follows when media is up and the flow may start. `Err` when the call could not be
    /// answered or ended meanwhile (the leg has already told the caller).
    pub async fn answer(&mut self) -> Result<(), LegEnd> {
        match self {
            Leg::Sip(l) => l.answer().await,
            Leg::Twilio(l) => l.answer().await,
        }
    }

    /// Refuses the call before answering.
    pub fn reject(self, why: Reject) {
        match self {
            Leg::Sip(l) => l.reject(why),
            Leg::Twilio(l) => l.reject(why),
        }
    }

    /// The next event. Cancel-safe (it may be one arm of a `select!`); after
    /// [`LegEvent::Ended`] it never resolves again.
    pub async fn next_event(&mut self) -> LegEvent {
        match self {
            Leg::Sip(l) => l.next_event().await,
            Leg::Twilio(l) => l.next_event().await,
        }
    }

    /// The format of audio ports attached now ([`LegCmd::AttachAudio`]).
    pub fn audio_format(&self) -> AudioFormat {
        match self {
            Leg::Sip(l) => l.audio_format(),
            Leg::Twilio(l) => l.audio_format(),
        }
    }

    /// Does what the driver asks; never waits. Outcomes come back as events.
    pub fn command(&mut self, cmd: LegCmd) {
        match self {
            Leg::Sip(l) => l.command(cmd),
            Leg::Twilio(l) => l.command(cmd),
        }
    }

    /// What the call register records about the leg so far.
    pub fn facts(&self) -> LegFacts {
        match self {
            Leg::Sip(l) => l.facts(),
            Leg::Twilio(l) => l.facts(),
        }
    }
}

/// What the call register records about a leg (SIP: the negotiated codec, the INVITE's final
/// status, when 180 Ringing went out).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LegFacts {
    /// `PCMU/8000`, `opus/48000/2`, …
    pub codec: Option<String>,
    pub final_status: Option<u16>,
    pub ringing_at: Option<std::time::Instant>,
}

/// Who calls whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegInfo {
    /// The call's id for logs, `/api/calls` and `{{ call.id }}` (`call-7` on SIP).
    pub id: String,
    /// The caller: a number when there is one, else a URI.
    pub from: String,
    /// The number or URI dialled.
    pub to: String,
    /// What flow routes match (the dialled user part); `None` when there is none.
    pub dialled: Option<String>,
    /// Where the call came from (calls from a registrar's address route to its account).
    pub source: Option<SocketAddr>,
    /// A flow asked for by name (Twilio's `flow` parameter); tried before the routes.
    pub flow: Option<String>,
    /// Custom parameters the caller's side sent (Twilio's `<Parameter>`s): `call.params`.
    pub params: BTreeMap<String, String>,
}

/// Why a call is refused before it is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// No flow answers this number (SIP 404).
    NoRoute,
}

/// What the driver asks of a leg.
#[derive(Debug)]
pub enum LegCmd {
    /// Queue a prompt; [`LegEvent::PlaybackFinished`] or `PlaybackFailed` follows.
    Play { id: RequestId, media: Media },
    /// Barge-in: drop the prompt now (playing or queued); no event follows.
    Stop { id: RequestId },
    /// Send a key to the caller's side.
    SendDtmf(Digit),
    /// Blind transfer; [`LegEvent::TransferResult`] follows.
    Transfer { id: RequestId, target: String },
    /// Connect an integration's port to the caller's audio.
    AttachAudio { id: RequestId, tap: AudioTap },
    /// Disconnect it (the integration ended or was cancelled).
    DetachAudio { id: RequestId },
    /// End the call from our side.
    Hangup,
}

/// What a leg tells the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegEvent {
    /// Media is up: the flow starts.
    Answered,
    /// A key press, counted once whatever carried it.
    Dtmf {
        digit: Digit,
        method: DtmfMethod,
    },
    PlaybackFinished(RequestId),
    PlaybackFailed {
        id: RequestId,
        reason: String,
    },
    /// `reason` reads like `486 Busy Here`.
    TransferResult {
        id: RequestId,
        result: Result<(), String>,
    },
    /// The leg is over (it has already done its part of hanging up).
    Ended(LegEnd),
}

/// How a leg ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegEnd {
    /// The caller hung up (SIP BYE, CANCEL).
    Remote,
    /// We hung up (a `Hangup` command) and the far end knows.
    Local,
    /// No audio from the caller for too long (RTP timeout); we hung up.
    NoMedia,
    /// The media session died mid-call (a bug in one session); we hung up.
    MediaLost,
    /// The leg could not go on (no RTP port, unusable SDP, ACK or session timer ran out...).
    Failed(String),
}

impl fmt::Display for LegEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LegEnd::Remote => f.write_str("the caller hung up"),
            LegEnd::Local => f.write_str("we hung up"),
            LegEnd::NoMedia => f.write_str("no audio from the caller"),
            LegEnd::MediaLost => f.write_str("the media session was lost"),
            LegEnd::Failed(why) => write!(f, "failed: {why}"),
        }
    }
}
