//! What a call needs from the rest of the server, handed over at its start: [`CallDeps`]
//! (routing, the live-call table, the side-request clients, the drain signal) and
//! [`SipDeps`] (what the SIP leg needs: the endpoint, RTP ports, prompts, media settings).
//!
//! Narrow on purpose: a call sees no registrations, no HTTP listener and no other call.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::route::Router;
use crate::engine::endpoint_loop::EndpointHandle;
use crate::engine::media::{MediaConfig, PromptCache, RtpPortAllocator};
use crate::engine::net::MediaAddress;
use crate::engine::status::LiveCalls;
use crate::sdp::Codec;

/// Shared by every call of the server.
pub struct CallDeps {
    pub router: Router,
    pub calls: LiveCalls,
    pub services: ServiceDeps,
    /// Becomes `true` at the drain deadline: calls still up hang up.
    pub hangup_all: watch::Receiver<bool>,
}

/// What the side requests (TTS, webhooks, integrations) use.
pub struct ServiceDeps {
    pub http: reqwest::Client,
    /// Where `say` writes its WAV files.
    pub tts_dir: PathBuf,
}

/// What a SIP leg needs (shared by every SIP call).
pub struct SipDeps {
    pub endpoint: EndpointHandle,
    pub ports: RtpPortAllocator,
    pub prompts: Arc<PromptCache>,
    pub media: MediaConfig,
    /// Codec preference order for SDP answers and offers.
    pub codecs: Vec<Codec>,
    /// Ring (180) this long before answering.
    pub answer_delay: Duration,
    pub address: MediaAddress,
}
