//! The tokio runtime that pumps the sans-IO cores: sockets, timers, files and HTTP for `phonetree
//! run`. Decisions (SIP transactions, the call machine, pacing, DTMF) live in the sans-IO modules;
//! this layer feeds them input and executes their output.
//!
//! Map: [`server`] wires everything up (`serve`); [`sip_transport`] owns the UDP/TCP sockets;
//! [`endpoint_loop`] owns the SIP [`crate::sip::Endpoint`]; [`call`] runs one call (the flow
//! machine, its media session, its SIP dialog); [`services`] executes the machine's side
//! requests (TTS, webhooks); [`http`] serves `/healthz`, `/api/*`, `/login` and `/metrics`
//! (axum); [`shutdown`] drains on SIGTERM; [`media`] is the per-call RTP task; [`pii`] redacts
//! numbers in logs; [`inbound`] resolves the `sip.allow` policy at start; [`exporter`] is the
//! Prometheus recorder.

pub mod call;
pub mod endpoint_loop;
pub mod exporter;
pub mod http;
pub mod inbound;
pub mod media;
pub mod pii;
pub mod priority;
pub mod server;
pub mod services;
pub mod shutdown;
pub mod sip_transport;
