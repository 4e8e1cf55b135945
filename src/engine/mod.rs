//! The tokio runtime that pumps the sans-IO cores: sockets, timers, files and HTTP for `phonetree
//! run`. Decisions (SIP transactions, the call machine, pacing, DTMF) live in the sans-IO modules;
//! this layer feeds them input and executes their output.
//!
//! Map: [`server`] wires everything up (`serve`) and nothing imports it; [`sip_transport`] owns
//! the UDP/TCP sockets; [`endpoint_loop`] owns the SIP [`crate::sip::Endpoint`] and hands out
//! [`endpoint_loop::EndpointHandle`]s; [`call`] runs one call: the sans-IO
//! [`call::driver::CallDriver`] (the flow machine and its requests) pumped against a [`leg`]
//! (today SIP/RTP) and the [`integrations`] (TTS, webhooks, agents... through an
//! [`audio_port::AudioPort`]); [`services`] holds the TTS and webhook clients; [`status`] is
//! what [`http`] (axum: `/healthz`, `/readyz`, `/livez`, `/api/*`, `/login`, `/metrics`, the
//! demo CRM) and [`shutdown`] (drain on SIGTERM) read; [`health`] and [`demo_crm`] are the
//! answers of their routes on plain data; [`call_log`] logs a call's story (and hands it to the
//! call register); [`exporter`] is the Prometheus recorder; [`media`] runs the RTP sessions on
//! worker threads; [`pii`] redacts numbers in logs; [`sip_trace`] logs whole SIP messages;
//! [`net`] picks local addresses; [`inbound`] resolves the `sip.allow` policy at start;
//! [`log_limit`] keeps floods out of the log; `rt` has the small helpers the pumps share;
//! [`twilio_http`] is Twilio's way in (the voice webhook and the Media Streams websocket, each
//! stream a [`leg::twilio::TwilioLeg`]).

pub mod agent;
pub mod audio_port;
pub mod call;
pub mod call_log;
pub mod cluster;
pub mod demo_crm;
pub mod endpoint_loop;
pub mod exporter;
pub mod health;
pub mod http;
pub mod inbound;
pub mod integrations;
pub mod leg;
pub mod log_limit;
pub mod logtail;
pub mod media;
pub mod net;
pub mod outbound;
pub mod pii;
pub mod priority;
mod rt;
pub mod server;
pub mod services;
pub mod shutdown;
pub mod sip_trace;
pub mod sip_transport;
pub mod sip_transport_tls;
pub mod status;
pub mod tts;
pub mod twilio_http;
pub mod ws_config;
