//! Sans-IO media primitives for the SIP/RTP engine: G.711 codecs, RTP packet codec, the outbound
//! packet pacer, RFC 4733 telephone-events, the in-band DTMF (Goertzel) detector, DTMF
//! de-duplication across transports, the receive-side reorder buffer, and SRTP (RFC 3711).
//!
//! Everything here is a pure function or a state machine driven by the caller: no sockets, no
//! clocks (time is an [`std::time::Instant`] passed in), no tokio, and nothing panics on bytes
//! from the network. The runtime that owns sockets and timers pumps these. SDP offer/answer lives
//! in [`crate::sdp`].

pub mod dtmf_dedupe;
pub mod g711;
pub mod goertzel;
pub mod jitter;
pub mod pacer;
pub mod rfc4733;
pub mod rtp;
pub mod srtp;
