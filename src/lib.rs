//! phonetree: an IVR engine. YAML call flows are validated, compiled into [`flow::program::Program`]s
//! and run per call by the sans-IO [`machine`]; runtime layers (simulator, live reload, SIP/RTP)
//! pump that machine. See ARCHITECTURE.md for the map.

/// `phonetree --version`: the crate version and the git commit it was built from (`unknown`
/// outside a git checkout; see build.rs).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (git ",
    env!("PHONETREE_GIT_HASH"),
    ")"
);

pub mod alerts;
pub mod asr;
pub mod audio;
pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod engine;
pub mod flow;
#[doc(hidden)]
pub mod fuzzing;
pub mod graph;
pub mod import;
pub mod machine;
pub mod media;
pub mod outbound;
pub mod policy;
pub mod realtime;
pub mod record;
pub mod register;
pub mod registry;
pub mod sdp;
pub mod sim;
pub mod sip;
pub mod site;
pub mod sms;
pub mod testrun;
pub mod trace;
pub mod wsmedia;
