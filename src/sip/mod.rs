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
//! connection to `dest`. TLS is the same with `Transport::Tls` (the runtime decrypts): Via
//! `SIP/2.0/TLS`, Contact `;transport=tls` on the TLS port ([`EndpointConfig::tls_port`]).
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
//! - [`nat`]: public address from `received`/`rport`, keep-alive payloads (RFC 3581, 5626).
//! - [`stun`]: STUN Binding (RFC 5389) codec and client: the SIP socket's public address.
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
pub mod nat;
pub mod register;
pub mod session_timer;
pub mod stun;
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
    /// TCP inside TLS (RFC 3261 §26.2; the runtime owns the TLS session).
    Tls,
}

impl Transport {
    /// Reliable transports disable retransmission timers (RFC 3261 §17).
    pub fn is_reliable(self) -> bool {
        matches!(self, Transport::Tcp | Transport::Tls)
    }

    /// The Via token (`UDP`, `TCP`, `TLS`).
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }

    /// Parses a Via transport token (or a `transport=` URI parameter); WS/SCTP are not served.
    pub fn from_token(s: &str) -> Option<Transport> {
        [Transport::Udp, Transport::Tcp, Transport::Tls]
            .into_iter()
            .find(|t| s.eq_ignore_ascii_case(t.as_str()))
    }

    /// The `;transport=` URI parameter for a Contact (none for UDP, the default).
    pub fn uri_param(self) -> &'static str {
        match self {
            Transport::Udp => "",
            Transport::Tcp => ";transport=tcp",
            Transport::Tls => ";transport=tls",
        }
    }

    /// The port a URI without one means (RFC 3263: 5061 for TLS, else 5060).
    pub fn default_port(self) -> u16 {
        match self {
            Transport::Tls => 5061,
            Transport::Udp | Transport::Tcp => 5060,
        }
    }

    /// The transport a URI asks for, if any: `sips:` means TLS (RFC 3261 §26.2.2), else its
    /// `;transport=` parameter (`udp`, `tcp`, `tls`; others are ignored).
    pub fn of_uri(uri: &str) -> Option<Transport> {
        let uri = uri.trim().trim_start_matches('<');
        if uri
            .get(..5)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("sips:"))
        {
            return Some(Transport::Tls);
        }
        let params = uri.split(['?', '>']).next().unwrap_or_default();
        params.split(';').skip(1).find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("transport")
                .then(|| Transport::from_token(v.trim()))
                .flatten()
        })
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

#[cfg(test)]
mod tests {
    use super::Transport;

    #[test]
    fn tls_is_a_reliable_transport_with_its_own_tokens() {
        assert!(Transport::Tls.is_reliable());
        assert_eq!(Transport::Tls.as_str(), "TLS");
        assert_eq!(Transport::from_token("tls"), Some(Transport::Tls));
        assert_eq!(Transport::from_token("TCP"), Some(Transport::Tcp));
        assert_eq!(Transport::from_token("WSS"), None);
        assert_eq!(Transport::Tls.uri_param(), ";transport=tls");
        assert_eq!(Transport::Udp.uri_param(), "");
        assert_eq!(Transport::Tls.default_port(), 5061);
        assert_eq!(Transport::Tcp.default_port(), 5060);
    }

    #[test]
    fn uris_map_to_transports() {
        assert_eq!(
            Transport::of_uri("sips:1000@pbx.example.com"),
            Some(Transport::Tls)
        );
        assert_eq!(
            Transport::of_uri("<SIPS:pbx.example.com>"),
            Some(Transport::Tls)
        );
        assert_eq!(
            Transport::of_uri("sip:1000@10.0.0.1:5071;transport=TLS"),
            Some(Transport::Tls)
        );
        assert_eq!(
            Transport::of_uri("sip:1000@10.0.0.1;lr;transport=tcp>;expires=60"),
            Some(Transport::Tcp)
        );
        assert_eq!(Transport::of_uri("sip:1000@10.0.0.1"), None);
        assert_eq!(Transport::of_uri("sip:1000@10.0.0.1;transport=sctp"), None);
        // A header parameter after `?` is not the URI's transport.
        assert_eq!(Transport::of_uri("sip:a@b?X=1;transport=tls"), None);
        assert_eq!(
            super::message::uri_socket_addr("sips:a@10.0.0.1"),
            Some("10.0.0.1:5061".parse().unwrap())
        );
        assert_eq!(
            super::message::uri_socket_addr("sip:a@10.0.0.1;transport=tls"),
            Some("10.0.0.1:5061".parse().unwrap())
        );
        assert_eq!(
            super::message::uri_socket_addr("sip:a@10.0.0.1"),
            Some("10.0.0.1:5060".parse().unwrap())
        );
    }

    /// An INVITE over TLS is answered on TLS with our TLS port in the Contact; our BYE goes
    /// back over TLS with a `SIP/2.0/TLS` Via on that port.
    #[test]
    fn a_call_over_tls_answers_and_hangs_up_on_tls() {
        use std::time::Instant;

        use super::{Endpoint, EndpointConfig, Event};

        let mut cfg = EndpointConfig::new("192.0.2.1:5060".parse().unwrap(), 7);
        cfg.tls_port = Some(5061);
        let mut ep = Endpoint::new(cfg);
        let now = Instant::now();
        let caller = "192.0.2.9:40123".parse().unwrap();
        let invite = "INVITE sip:5000@192.0.2.1:5061;transport=tls SIP/2.0\r\n\
            Via: SIP/2.0/TLS 192.0.2.9:40123;branch=z9hG4bK-t1\r\nMax-Forwards: 70\r\n\
            From: <sip:a@192.0.2.9>;tag=f1\r\nTo: <sip:5000@192.0.2.1>\r\nCall-ID: tls-1\r\n\
            CSeq: 1 INVITE\r\nContact: <sip:a@192.0.2.9:40123;transport=tls>\r\n\
            Content-Length: 0\r\n\r\n";
        ep.handle_datagram(invite.as_bytes(), caller, Transport::Tls, now);
        let call = std::iter::from_fn(|| ep.poll_event())
            .find_map(|e| match e {
                Event::IncomingCall { call, .. } => Some(call),
                _ => None,
            })
            .expect("an incoming call");
        ep.answer(call, "v=0\r\n", now).unwrap();
        let sent: Vec<_> = std::iter::from_fn(|| ep.poll_transmit()).collect();
        let ok = sent
            .iter()
            .find(|t| t.bytes.starts_with(b"SIP/2.0 200"))
            .expect("a 200");
        assert_eq!((ok.dest, ok.transport), (caller, Transport::Tls));
        let text = String::from_utf8_lossy(&ok.bytes);
        assert!(
            text.contains("Contact: <sip:5000@192.0.2.1:5061;transport=tls>"),
            "{text}"
        );
        let to = text
            .lines()
            .find_map(|l| l.strip_prefix("To: "))
            .expect("To")
            .to_string();
        let ack = format!(
            "ACK sip:5000@192.0.2.1:5061;transport=tls SIP/2.0\r\n\
             Via: SIP/2.0/TLS 192.0.2.9:40123;branch=z9hG4bK-t2\r\nMax-Forwards: 70\r\n\
             From: <sip:a@192.0.2.9>;tag=f1\r\nTo: {to}\r\nCall-ID: tls-1\r\n\
             CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
        );
        ep.handle_datagram(ack.as_bytes(), caller, Transport::Tls, now);
        ep.hangup(call, now).unwrap();
        let bye = std::iter::from_fn(|| ep.poll_transmit())
            .find(|t| t.bytes.starts_with(b"BYE "))
            .expect("a BYE");
        assert_eq!((bye.dest, bye.transport), (caller, Transport::Tls));
        let text = String::from_utf8_lossy(&bye.bytes);
        assert!(text.contains("Via: SIP/2.0/TLS 192.0.2.1:5061;"), "{text}");
    }
}
