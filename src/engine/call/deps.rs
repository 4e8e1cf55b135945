//! What a call needs from the rest of the server, handed over at its start: [`CallDeps`]
//! (routing, the live-call table, the side-request clients, the drain signal). What a leg
//! needs is the leg's own (e.g. [`crate::engine::leg::sip::SipDeps`]).
//!
//! Narrow on purpose: a call sees no registrations, no HTTP listener and no other call.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::watch;

use super::route::Router;
use crate::engine::status::LiveCalls;
use crate::policy::transfer::TransferPolicy;

/// Shared by every call of the server.
pub struct CallDeps {
    pub router: Router,
    /// Where calls may be transferred (`transfer.allow`).
    pub transfer: Arc<TransferPolicy>,
    pub calls: LiveCalls,
    /// Where each call's register record goes.
    pub register: crate::register::Register,
    pub services: ServiceDeps,
    /// Becomes `true` at the drain deadline: calls still up hang up.
    pub hangup_all: watch::Receiver<bool>,
    /// The environment flows read (process + `.env`) and what this server can run.
    pub site: Arc<crate::site::Site>,
    /// `log.redact_numbers`: mask callers' numbers in the call log.
    pub redact_numbers: bool,
}

/// What the side requests (TTS, webhooks, integrations) use.
pub struct ServiceDeps {
    pub http: reqwest::Client,
    /// `say`'s engines and their cache.
    pub tts: crate::engine::tts::Tts,
    /// Voice agents (`openai:` settings and the HTTP client for tools).
    pub agent: crate::engine::integrations::agent::AgentDeps,
    /// What this server can run (the reason a request without a provider fails).
    pub site: Arc<crate::site::Site>,
    /// Speech recognizers for `listen` (`asr:`).
    pub asr: crate::asr::engines::Engines,
    /// Where `record` writes (`record.dir`).
    pub record_dir: PathBuf,
}

impl ServiceDeps {
    /// Whether `req` gets the call's audio although its kind does not need it: a `say` on a
    /// remote engine, which plays as it downloads.
    pub fn streams(&self, req: &crate::engine::integrations::Request) -> bool {
        match req {
            crate::engine::integrations::Request::Say { engine, .. } => {
                crate::engine::tts::stream::streams(engine.unwrap_or(self.tts.config().engine))
            }
            _ => false,
        }
    }

    /// Why `req` cannot run here (the capability's reason), for a request without a provider.
    pub fn unavailable(&self, req: &crate::engine::integrations::Request) -> String {
        use crate::engine::integrations::Request;
        let provider = match req {
            Request::Agent { agent, .. } => Some(agent.provider.as_str()),
            _ => None,
        };
        let reason = self
            .site
            .caps
            .for_node(req.kind(), provider)
            .and_then(|c| c.reason());
        format!(
            "not available: {}",
            reason.unwrap_or(crate::engine::services::NOT_CONFIGURED)
        )
    }
}
