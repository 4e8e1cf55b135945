//! The media half of `phonetree run`: per call, a media session owns the RTP socket, plays
//! prompts and remote streams on the 20 ms schedule, and turns what the caller sends into DTMF
//! events; a few media worker threads run all the sessions.
//!
//! What lives where:
//! - [`prompts`]: decode + resample + encode once per codec, shared LRU cache (bounded by bytes).
//! - [`stream`]: `Media::Url` over HTTP(S), decoded while it downloads, bounded buffers.
//! - [`codec`]: 20 ms frames (G.711, Opus via libopus) and receive-side decoding to 8 kHz.
//! - [`ports`]: even RTP ports from `--rtp-ports`, picked at random, released when the call
//!   ends.
//! - [`session`]: the [`MediaSession`] handle the SIP runtime holds per call.
//! - `core`: the per-call media as a sans-IO machine (`MediaCore`: datagrams, commands
//!   and the time in; packets, events and tasks out; seeded randomness), tested on virtual
//!   time; `playout` (what to send next), `receive` (RTP in → DTMF), [`latch`] (which
//!   sources count, where we send, `rtp.latching`) and `secure` (SRTP in and out) are its parts.
//! - `state`: the runtime half of a call's media: the socket, prompt loads and stream
//!   downloads on tokio, around a `MediaCore`.
//! - [`live`]: integrations' audio ports on a session (caller audio out to them, their audio
//!   in through the pacer).
//! - `worker`: the media threads (one per core): one timer queue and batched socket reads for
//!   many calls; `poller` is their epoll/eventfd/`recvmmsg` interface.
//!
//! Decisions stay in the sans-IO primitives of [`crate::media`]: packet timing and counters
//! ([`crate::media::pacer`]), RFC 4733 in and out, the Goertzel detector, the reorder buffer and
//! the DTMF merger. This layer only feeds them time, packets and audio. Not owned here: SIP, SDP
//! negotiation (the SIP runtime passes the [`crate::sdp::Negotiated`] result in), recording.

pub mod codec;
mod core;
pub mod counters;
#[doc(hidden)]
pub mod fuzz;
pub mod latch;
pub mod live;
mod playout;
mod poller;
pub mod ports;
pub mod prompts;
mod receive;
mod secure;
pub mod session;
mod state;
pub mod stream;
pub mod worker;

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use self::core::MediaStats;
use crate::flow::digit::Digit;
use crate::machine::io::RequestId;
pub use crate::media::dtmf_dedupe::DtmfMethod;
pub use codec::{CodecError, Frame};
pub use latch::{Latching, MediaPeer};
pub use ports::{PortError, PortLease, RtpPortAllocator, RtpSocket};
pub use prompts::{PromptCache, PromptCacheConfig, PromptError};
pub use session::MediaSession;
pub use stream::{StreamConfig, StreamError};
pub use worker::configure_workers;

/// The scheduling priority asked for (`rtp.priority`; see [`crate::engine::priority`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MediaPriority {
    /// Media threads `SCHED_RR` at a low real-time priority, the rest nice -10.
    #[default]
    Realtime,
    /// Every thread nice -10.
    High,
    /// Leave the threads as they are.
    Normal,
}

/// What a session sends when no prompt is playing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleAudio {
    /// No packets (the next prompt starts a new talkspurt with the marker bit).
    Nothing,
    /// Encoded silence every 20 ms (for peers that hang up on an idle stream).
    Silence,
}

/// Which calls run the in-band (Goertzel) DTMF detector on the audio they receive
/// (`rtp.inband_dtmf`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InbandDtmf {
    Off,
    /// Calls whose peer did not negotiate telephone-event: every packet (a phone without
    /// RFC 4733 sends its keys as tones). Calls that did: G.711 ones are *probed* (one packet
    /// in `PROBE_EVERY` (4) decoded and checked for a key's tone pair) and switch to
    /// full detection for the rest of the call once a tone is heard (a phone that offers
    /// RFC 4733 but plays tones anyway); Opus ones are not decoded (decoding Opus costs far
    /// more than the rest of the receive path). Issue 10 measured the receive path at 1.81×
    /// the kernel floor with every G.711 packet decoded.
    Auto,
    /// Every packet of every call, Opus included.
    Always,
}

/// Per-session settings.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// No RTP from the caller for this long → [`MediaEvent::RtpTimeout`] (not while on hold).
    pub rtp_timeout: Duration,
    pub idle: IdleAudio,
    /// When received audio is decoded for the Goertzel detector.
    pub inband_dtmf: InbandDtmf,
    /// Reorder buffer size and the number of later packets that end a wait for a lost one.
    pub jitter_capacity: usize,
    pub jitter_depth: usize,
    /// Tone length of digits sent with [`MediaSession::send_dtmf`].
    pub dtmf_duration: Duration,
    pub stream: StreamConfig,
    /// Which sources may latch the call's media (`rtp.latching`).
    pub latching: Latching,
    /// A new RTP source replaces the latched one only after the latched one has been silent
    /// this long (a NAT that rebound; an attacker cannot cut in while the caller talks).
    pub rebind_after: Duration,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            rtp_timeout: Duration::from_secs(30),
            idle: IdleAudio::Nothing,
            inband_dtmf: InbandDtmf::Auto,
            jitter_capacity: 16,
            jitter_depth: 3,
            dtmf_duration: crate::media::rfc4733::DEFAULT_DURATION,
            stream: StreamConfig::default(),
            latching: Latching::default(),
            rebind_after: Duration::from_secs(1),
        }
    }
}

/// Why a playback failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum PlaybackError {
    Prompt(Arc<PromptError>),
    Stream(StreamError),
}

impl fmt::Display for PlaybackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlaybackError::Prompt(e) => e.fmt(f),
            PlaybackError::Stream(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for PlaybackError {}

/// What a session reports to the call.
#[derive(Debug)]
pub enum MediaEvent {
    /// The last frame of the prompt was sent.
    PlaybackFinished(RequestId),
    /// The prompt could not be played (or broke off); the call treats it as finished.
    PlaybackFailed {
        id: RequestId,
        reason: PlaybackError,
    },
    /// A key press, counted once whichever transports carried it.
    Dtmf { digit: Digit, method: DtmfMethod },
    /// No RTP from the caller for `MediaConfig::rtp_timeout`.
    RtpTimeout,
    /// Symmetric RTP: we now send to this address (where the caller's packets come from).
    RemoteAddr(SocketAddr),
}
