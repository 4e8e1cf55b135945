//! Hardening rules for a server on the public internet, as pure, separately tested pieces the
//! runtime consults (see docs/security.md for the threat model and every setting):
//! - [`inbound`]: who may start calls (`sip.allow`, `sip.reject`);
//! - [`transfer`]: where calls may be transferred to (`transfer.allow`, toll fraud);
//! - [`outbound`]: whom outbound calls may dial (`outbound.allow`, same glob matcher);
//! - [`counters`]: process-wide counts of what was refused, for logs and metrics;
//! - [`limits`]: `max_calls`, calls and request rates per source (load and floods);
//! - [`rate`]: the bounded per-key token buckets under [`limits`] and the log limiter;
//! - [`tcp`]: SIP over TCP connection limits and read deadlines (slowloris, idle connections).
//!
//! The media rules live with the media they guard: RTP latching and verification in
//! `engine::media::latch`, refused SDP addresses in `sdp::remote`, the SIP message size limit in
//! `sip::message`. Not owned here: resolving host names (`engine::inbound`) and configuration
//! parsing (`config::security`).

pub mod counters;
pub mod inbound;
pub mod limits;
pub mod outbound;
pub mod rate;
pub mod tcp;
pub mod transfer;
