//! The sans-IO SIP signalling core: message parsing/building, RFC 3261 transactions, the UAS
//! call (dialog) machine, registration with digest auth, and the endpoint that routes datagrams.
//!
//! # Shape
//! Everything here is a state machine fed by the runtime: `Endpoint::handle_datagram(bytes,
//! source, transport, now)`, `handle_timeout(now)` and app commands (`answer`, `reject`,
//! `hangup`, `transfer`, `register`…) go in; `poll_transmit()` (datagrams to send),
//! `poll_event()` (calls, digits, transfers, registration state) and `poll_timeout()` come out.
//! No sockets, no clocks (`Instant`s are always passed in), no tokio, no DNS (the runtime
//! resolves names and hands us `SocketAddr`s). Identifiers come from a caller-seeded
//! [`ids::IdGen`], so tests are deterministic.
//!
//! ```no_run
//! # use std::time::Instant;
//! # use phonetree::sip::{Endpoint, EndpointConfig, Event, Transport};
//! # fn recv() -> (Vec<u8>, std::net::SocketAddr) { unimplemented!() }
//! # fn send(_: &[u8], _: std::net::SocketAddr, _: Transport) {}
//! # fn sdp_answer(_: Option<&str>) -> String { String::new() }
//! let mut ep = Endpoint::new(EndpointConfig::new("192.0.2.1:5060".parse()?, 0x5eed));
//! loop {
//!     // …wait for a datagram or until `ep.poll_timeout()`…
//!     let (bytes, source) = recv();
//!     ep.handle_datagram(&bytes, source, Transport::Udp, Instant::now());
//!     ep.handle_timeout(Instant::now());
//!     while let Some(ev) = ep.poll_event() {
//!         if let Event::IncomingCall { call, sdp_offer, .. } = ev {
//!             ep.answer(call, &sdp_answer(sdp_offer.as_deref()), Instant::now())?;
//!         }
//!     }
//!     while let Some(t) = ep.poll_transmit() {
//!         send(&t.bytes, t.dest, t.transport);
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//! Over TCP the runtime frames the stream with [`message::frame_len`] and passes each message
//! to `handle_datagram` with `Transport::Tcp`; `Transmit`s with `Transport::Tcp` go back on the
//! connection to `dest`.
//!
//! # Parser crate decision
//! We use `rsipstack` (pinned `=0.7.14`, `default-features = false`) **only** for its message
//! parser, `rsipstack::sip` (the continuation of rsip's parser), and write transactions, dialogs,
//! registration and digest auth ourselves:
//! - `rsip` 0.4 has had no release since 2022, does not expand compact header forms (`v:`, `i:`,
//!   `f:`… — a compact-form INVITE parses but has "no Via"; see the `compact_invite` fixture
//!   test), and writes the digest `nc` wrongly, so its auth must never be used.
//! - `rsipstack::sip` expands compact forms, keeps header values verbatim, returns `Err` (never
//!   panics) on the garbage we throw at it (see `message_tests`: fuzzed fixtures and a proptest),
//!   and parses our fixtures from sipp, baresip, pjsua, Asterisk, Linphone (through Kamailio, two
//!   Vias) and kamailio OPTIONS pings.
//! - rsipstack's own transactions/dialogs are tokio tasks with channels; the project wants
//!   deterministic sans-IO machines, so we do not use them (nor its digest/registration).
//!   With default features off we avoid its TLS, websocket and DNS stacks.
//! - Typed field extraction (Via/From/To/CSeq, tags, rport) and serialization are ours (small,
//!   total functions), so an upgrade of the crate can only affect framing. We serialize
//!   ourselves because round-tripping a URI through the crate's typed `Uri` rewrites it
//!   (`transport=udp` becomes `transport=UDP`), and header values must be echoed verbatim.
//! - Cost: with default features off it adds ~60 crates, most already in the tree via tokio;
//!   its unused transaction/dialog modules still compile. A request with an unknown method is
//!   an `Err` in the crate, so [`message`] salvages its Via/From/To/Call-ID/CSeq by hand to
//!   answer 501.
//!
//! Checked by hand against real peers on loopback (not part of the unit tests, which must not
//! need them): sipp's built-in `uac` scenario (5/5 calls, INVITE/100/200/ACK/BYE); Kamailio
//! 5.6 as registrar with digest MD5 both without qop and with `qop=auth` (nc 00000001, then
//! 00000002 on the unregister), a wrong password ending in `Failed{AuthRejected}` with 2 s
//! then 4 s backoff, and a sipp call relayed by the record-routing Kamailio to the registered
//! contact (Record-Route echoed, ACK and BYE arriving through the proxy).
//!
//! # Module map
//! - [`message`]: parse a datagram into [`message::Inbound`] + the keyed [`message::Core`].
//! - [`build`]: responses per RFC 3261 §8.2.6 and requests; Allow/Accept/Server.
//! - [`ids`]: tags, branches, Call-IDs, cnonces from a seed.
//! - [`timer`]: T1/T2/T4 and the per-transaction timer table.
//! - [`transaction`]: INVITE server, non-INVITE server, non-INVITE client and INVITE client
//!   transactions.
//! - [`dialog`]: dialog state (tags, route set, remote target, CSeqs) and in-dialog requests.
//! - [`info`]: SIP INFO DTMF bodies and `message/sipfrag` NOTIFY bodies.
//! - [`call`]: the call machine (answer, BYE both ways, CANCEL, re-INVITE, INFO, REFER).
//! - [`dial`]: outbound calls up to the answer (INVITE, digest on 401/407, ring timeout and
//!   CANCEL, ACK, the outcome of an unanswered attempt); the answered dialog joins [`call`].
//! - [`digest`]: HTTP digest (RFC 7616/2617) with a redacting [`digest::Secret`].
//! - [`register`]: the registration client (refresh, backoff, unregister).
//! - [`event`]: what the app is told ([`event::Event`]).
//! - [`tu`]: the contract between transaction users (call, register) and the endpoint.
//! - [`endpoint`]: the router the runtime pumps.

pub mod build;
pub mod call;
pub mod dial;
pub mod dialog;
pub mod digest;
pub mod endpoint;
pub mod event;
pub mod ids;
pub mod info;
pub mod message;
pub mod register;
pub mod session_timer;
pub mod timer;
pub mod transaction;
pub mod tu;

use std::fmt;
use std::net::SocketAddr;

pub use endpoint::{Endpoint, EndpointConfig, Event};

/// The transport a message travels on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    /// Reliable transports disable retransmission timers (RFC 3261 §17).
    pub fn is_reliable(self) -> bool {
        matches!(self, Transport::Tcp)
    }

    /// The Via token (`UDP`, `TCP`).
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }

    /// Parses a Via transport token; TLS/WS are not served here.
    pub fn from_token(s: &str) -> Option<Transport> {
        if s.eq_ignore_ascii_case("UDP") {
            Some(Transport::Udp)
        } else if s.eq_ignore_ascii_case("TCP") {
            Some(Transport::Tcp)
        } else {
            None
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Bytes for the runtime to send.
#[derive(Clone, PartialEq, Eq)]
pub struct Transmit {
    pub dest: SocketAddr,
    pub transport: Transport,
    pub bytes: Vec<u8>,
}

impl fmt::Debug for Transmit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let first = self.bytes.split(|b| *b == b'\r').next().unwrap_or_default();
        f.debug_struct("Transmit")
            .field("dest", &self.dest)
            .field("transport", &self.transport)
            .field("first_line", &String::from_utf8_lossy(first))
            .field("len", &self.bytes.len())
            .finish()
    }
}
