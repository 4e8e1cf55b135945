//! NAT in the endpoint: an `impl Endpoint` block that adopts the public address a registration
//! learned (RFC 3581 `received`/`rport`, see [`crate::sip::nat`]) or a STUN server reported
//! ([`crate::sip::stun`]) for the Via and Contact of everything sent afterwards (calls'
//! Contacts included, so a caller behind the registrar's proxy can reach us), unless the
//! runtime pinned the address (`sip.advertise`).
//!
//! STUN shares the SIP UDP socket: `handle_datagram` hands a datagram that [`stun::is_stun`]
//! recognises to [`Endpoint::on_stun`]. Registrations started while the first discovery runs
//! wait for its outcome (at most 3.5 s), so that their first REGISTER carries the public
//! address.

use std::net::SocketAddr;
use std::time::Instant;

use super::{Endpoint, Transmit};
use crate::sip::event::RegId;
use crate::sip::stun::{self, StunClient, StunError, StunOutput, TransactionId};
use crate::sip::transaction::Peer;
use crate::sip::Transport;

/// The endpoint's NAT settings and state.
#[derive(Debug, Clone)]
pub(super) struct NatState {
    /// Follow the address registrations learn (false when `sip.advertise` pins it).
    pub follow: bool,
    /// The STUN discovery, when a server is configured.
    pub stun: Option<StunClient>,
    /// Registrations waiting for the first STUN outcome.
    pub waiting: Vec<RegId>,
}

impl Default for NatState {
    fn default() -> Self {
        NatState {
            follow: true,
            stun: None,
            waiting: Vec::new(),
        }
    }
}

impl Endpoint {
    /// Whether the advertised address follows what registrations learn from `received`/`rport`
    /// (on by default; the runtime turns it off when `sip.advertise` names the address).
    pub fn set_follow_public_address(&mut self, follow: bool) {
        self.nat.follow = follow;
    }

    /// The address written in Via and Contact now (the configured one, or the learned public
    /// address).
    pub fn advertised_addr(&self) -> SocketAddr {
        self.cfg.local_addr
    }

    /// Asks the STUN server `server` for our public address now and every
    /// [`stun::REDISCOVER`]; registrations started before the first answer wait for it.
    pub fn stun_discover(&mut self, server: SocketAddr, now: Instant) {
        let id = self.stun_id();
        self.nat.stun = Some(StunClient::new(server, id, now));
    }

    /// The public address the STUN server reported last, if any.
    pub fn stun_state(&self) -> Option<stun::StunState> {
        self.nat.stun.as_ref().map(StunClient::state)
    }

    fn stun_id(&mut self) -> TransactionId {
        let mut id = [0u8; 12];
        id[..8].copy_from_slice(&self.ids.next_u64().to_le_bytes());
        id[8..].copy_from_slice(&self.ids.next_u64().to_le_bytes()[..4]);
        id
    }

    /// When the STUN client's next send, give-up or rediscovery is due.
    pub(super) fn stun_timeout(&self) -> Option<Instant> {
        self.nat.stun.as_ref().and_then(StunClient::poll_timeout)
    }

    /// Sends, retransmits or gives up the STUN request when due.
    pub(super) fn stun_handle_timeout(&mut self, now: Instant) {
        if self.stun_timeout().is_none_or(|at| at > now) {
            return;
        }
        let fresh = self.stun_id();
        let Some(client) = self.nat.stun.as_mut() else {
            return;
        };
        match client.handle_timeout(now, fresh) {
            Some(StunOutput::Send(bytes)) => self.transmits.push_back(Transmit {
                dest: client.server(),
                transport: Transport::Udp,
                bytes,
            }),
            Some(StunOutput::GaveUp) => {
                tracing::warn!(server = %client.server(),
                    "STUN: no answer; advertising the configured address");
                self.release_waiting(now);
            }
            None => {}
        }
    }

    /// A STUN datagram on the SIP socket.
    pub(super) fn on_stun(&mut self, bytes: &[u8], source: SocketAddr, now: Instant) {
        let Some(client) = self.nat.stun.as_mut() else {
            tracing::debug!(%source, "STUN message without a discovery running; dropped");
            return;
        };
        match client.handle(bytes, source, now) {
            Ok(addr) => {
                tracing::info!(server = %source, public = %addr, "STUN: our public address");
                self.adopt_public(Some(addr));
                self.release_waiting(now);
            }
            Err(e @ StunError::ErrorResponse(_)) => {
                tracing::warn!(server = %source, error = %e, "STUN: the server refused");
                self.release_waiting(now);
            }
            Err(e) => tracing::debug!(%source, error = %e, "STUN message ignored"),
        }
    }

    /// Whether registration `id` must wait for the first STUN outcome (it is then started by
    /// `release_waiting`).
    pub(super) fn hold_registration(&mut self, id: RegId) -> bool {
        let pending = self
            .nat
            .stun
            .as_ref()
            .is_some_and(StunClient::first_pending);
        if pending {
            self.nat.waiting.push(id);
        }
        pending
    }

    fn release_waiting(&mut self, now: Instant) {
        for id in std::mem::take(&mut self.nat.waiting) {
            self.with_reg(id, now, |r, ctx| r.start(ctx));
        }
    }

    /// Sends bytes that are no SIP message (a CRLF keep-alive).
    pub(super) fn transmit_raw(&mut self, bytes: Vec<u8>, peer: Peer) {
        self.transmits.push_back(Transmit {
            dest: peer.dest,
            transport: peer.transport,
            bytes,
        });
    }

    /// Adopts a newly learned public address for Via and Contact.
    pub(super) fn adopt_public(&mut self, public: Option<SocketAddr>) {
        let Some(addr) = public else { return };
        if !self.nat.follow || addr == self.cfg.local_addr {
            return;
        }
        tracing::info!(old = %self.cfg.local_addr, public = %addr,
            "NAT: the registrar sees us at another address; advertising it in Via and Contact");
        self.cfg.local_addr = addr;
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::Harness;
    use super::*;
    use crate::sip::digest::Secret;
    use crate::sip::message::Inbound;
    use crate::sip::register::RegistrationConfig;
    use crate::sip::{Event, Transport};

    const INVITE: &[u8] = include_bytes!("testdata/sipp_invite.sip");
    const REGISTRAR: &str = "127.0.0.1:5070";

    fn reply(req: &Inbound, status: u16, via_params: &str, extra: &str) -> String {
        let via = req.core.top_via().raw.replace(";rport", "") + via_params;
        format!(
            "SIP/2.0 {status} X\r\nVia: {via}\r\nFrom: {}\r\nTo: {};tag=k\r\nCall-ID: {}\r\nCSeq: {} REGISTER\r\n{extra}Content-Length: 0\r\n\r\n",
            req.core.from.raw, req.core.to.raw, req.core.call_id, req.core.cseq.seq
        )
    }

    /// Registers through the endpoint with `nat` stamped on the registrar's 200 (from `from`).
    fn register_behind(h: &mut Harness, nat: &str, from: &str) -> Vec<Inbound> {
        let cfg = RegistrationConfig::new(
            REGISTRAR.parse().expect("addr"),
            REGISTRAR,
            "1001",
            Secret::new("secret"),
        );
        h.ep.register(cfg, h.now);
        let (_, first) = h.sent().remove(0);
        h.recv(reply(&first, 200, nat, "Expires: 60\r\n").as_bytes(), from);
        h.sent().into_iter().map(|(_, m)| m).collect()
    }

    fn answer_contact(h: &mut Harness) -> String {
        h.recv(INVITE, "127.0.0.1:5061");
        let call = h
            .events()
            .into_iter()
            .find_map(|e| match e {
                Event::IncomingCall { call, .. } => Some(call),
                _ => None,
            })
            .expect("a call");
        h.ep.answer(call, "v=0\r\n", h.now).expect("answer");
        let ok = h.sent().pop().expect("200").1;
        ok.header("Contact").expect("Contact").to_string()
    }

    #[test]
    fn the_learned_public_address_goes_into_the_new_register_and_the_calls_contact() {
        let mut h = Harness::new();
        let sent = register_behind(&mut h, ";received=203.0.113.7;rport=40000", REGISTRAR);
        assert_eq!(sent.len(), 1, "one re-REGISTER");
        let again = &sent[0];
        assert_eq!(
            again.header("Contact"),
            Some("<sip:1001@203.0.113.7:40000>, <sip:1001@127.0.0.1:5060>;expires=0")
        );
        assert_eq!(again.core.top_via().sent_by(), "203.0.113.7:40000");
        assert_eq!(h.ep.advertised_addr(), "203.0.113.7:40000".parse().unwrap());
        assert!(answer_contact(&mut h).contains("@203.0.113.7:40000"));
    }

    #[test]
    fn a_pinned_address_is_kept_for_calls() {
        let mut h = Harness::new();
        h.ep.set_follow_public_address(false);
        register_behind(&mut h, ";received=203.0.113.7;rport=40000", REGISTRAR);
        assert_eq!(h.ep.advertised_addr(), "127.0.0.1:5060".parse().unwrap());
        assert!(answer_contact(&mut h).contains("@127.0.0.1:5060"));
    }

    #[test]
    fn a_response_from_elsewhere_changes_nothing() {
        let mut h = Harness::new();
        let sent = register_behind(
            &mut h,
            ";received=203.0.113.7;rport=40000",
            "127.0.0.9:5070",
        );
        assert!(sent.is_empty(), "no re-REGISTER: {sent:?}");
        assert_eq!(h.ep.advertised_addr(), "127.0.0.1:5060".parse().unwrap());
    }

    /// A Binding success for the request in `req` naming `public` (XOR-MAPPED-ADDRESS, IPv4).
    fn stun_answer(req: &[u8], public: SocketAddr) -> Vec<u8> {
        let SocketAddr::V4(v4) = public else {
            panic!("IPv4 only here")
        };
        let cookie = stun::MAGIC_COOKIE.to_be_bytes();
        let port = v4.port() ^ 0x2112;
        let mut m = vec![0x01, 0x01, 0x00, 0x0c];
        m.extend_from_slice(&req[4..20]);
        m.extend_from_slice(&[0x00, 0x20, 0x00, 0x08, 0x00, 0x01]);
        m.extend_from_slice(&port.to_be_bytes());
        m.extend(v4.ip().octets().iter().zip(cookie).map(|(a, k)| a ^ k));
        m
    }

    fn account() -> RegistrationConfig {
        RegistrationConfig::new(
            REGISTRAR.parse().expect("addr"),
            REGISTRAR,
            "1001",
            Secret::new("secret"),
        )
    }

    #[test]
    fn stun_first_then_the_register_carries_the_mapped_address() {
        let mut h = Harness::new();
        let server: SocketAddr = "127.0.0.1:3478".parse().unwrap();
        h.ep.stun_discover(server, h.now);
        h.ep.register(account(), h.now);
        assert!(h.sent_raw().is_empty(), "nothing before the timer");
        assert_eq!(h.ep.poll_timeout(), Some(h.now));
        h.ep.handle_timeout(h.now);
        let sent: Vec<_> = std::iter::from_fn(|| h.ep.poll_transmit()).collect();
        assert_eq!(
            sent.len(),
            1,
            "only the Binding request: the REGISTER waits"
        );
        assert_eq!((sent[0].dest, sent[0].transport), (server, Transport::Udp));
        assert!(stun::is_stun(&sent[0].bytes));
        // A forged answer from elsewhere is ignored (and never answered as SIP).
        let public: SocketAddr = "203.0.113.9:40000".parse().unwrap();
        let answer = stun_answer(&sent[0].bytes, public);
        h.recv(&answer, "127.0.0.1:9999");
        assert!(h.sent_raw().is_empty());
        assert_eq!(h.ep.advertised_addr(), "127.0.0.1:5060".parse().unwrap());
        h.recv(&answer, "127.0.0.1:3478");
        assert_eq!(h.ep.advertised_addr(), public);
        assert_eq!(h.ep.stun_state(), Some(stun::StunState::Known(public)));
        let sent = h.sent();
        assert_eq!(sent.len(), 1, "the REGISTER, now");
        assert_eq!(
            sent[0].1.header("Contact"),
            Some("<sip:1001@203.0.113.9:40000>")
        );
    }

    #[test]
    fn a_registration_moves_the_address_only_when_its_own_learning_changes() {
        let mut h = Harness::new();
        let sent = register_behind(&mut h, ";received=203.0.113.7;rport=40000", REGISTRAR);
        let again = sent.into_iter().next().expect("the re-REGISTER");
        assert_eq!(h.ep.advertised_addr(), "203.0.113.7:40000".parse().unwrap());
        // STUN (say, rediscovery) reports another address: adopted.
        let server: SocketAddr = "127.0.0.1:3478".parse().unwrap();
        h.ep.stun_discover(server, h.now);
        h.ep.handle_timeout(h.now);
        let req = h.ep.poll_transmit().expect("a Binding request");
        let stun_public: SocketAddr = "198.51.100.1:5000".parse().unwrap();
        h.recv(&stun_answer(&req.bytes, stun_public), "127.0.0.1:3478");
        assert_eq!(h.ep.advertised_addr(), stun_public);
        // The registrar confirms what the registration already knew: no flip back.
        h.recv(
            reply(
                &again,
                200,
                ";received=203.0.113.7;rport=40000",
                "Expires: 60\r\n",
            )
            .as_bytes(),
            REGISTRAR,
        );
        assert_eq!(h.ep.advertised_addr(), stun_public);
    }

    #[test]
    fn an_unanswered_stun_server_delays_registering_by_at_most_3_5_s() {
        let mut h = Harness::new();
        h.ep.stun_discover("127.0.0.1:3478".parse().unwrap(), h.now);
        h.ep.register(account(), h.now);
        h.advance_to(std::time::Duration::from_millis(3400));
        let raw = h.sent_raw();
        assert_eq!(raw.len(), 3, "three Binding requests");
        h.advance_to(std::time::Duration::from_millis(3500));
        let sent = h.sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(
            sent[0].1.header("Contact"),
            Some("<sip:1001@127.0.0.1:5060>")
        );
    }

    #[test]
    fn stun_without_a_discovery_is_dropped_silently() {
        let mut h = Harness::new();
        let req = stun::binding_request(&[3; 12]);
        h.recv(
            &stun_answer(&req, "203.0.113.9:1".parse().unwrap()),
            "127.0.0.1:3478",
        );
        h.recv(&req, "127.0.0.1:3478");
        assert!(h.sent_raw().is_empty());
        assert!(h.events().is_empty());
    }

    #[test]
    fn a_crlf_keepalive_leaves_as_raw_bytes_over_tcp() {
        let mut h = Harness::new();
        let mut cfg = RegistrationConfig::new(
            REGISTRAR.parse().expect("addr"),
            REGISTRAR,
            "1001",
            Secret::new("secret"),
        );
        cfg.transport = Transport::Tcp;
        cfg.keepalive = std::time::Duration::from_secs(20);
        h.ep.register(cfg, h.now);
        let (_, first) = h.sent().remove(0);
        h.ep.handle_datagram(
            reply(&first, 200, ";rport=5060", "Expires: 600\r\n").as_bytes(),
            REGISTRAR.parse().unwrap(),
            Transport::Tcp,
            h.now,
        );
        h.advance_to(std::time::Duration::from_secs(20));
        let raw = h.sent_raw();
        assert_eq!(raw.len(), 1);
        assert_eq!(raw[0].0, REGISTRAR.parse::<SocketAddr>().unwrap());
        assert_eq!(raw[0].1, "\r\n\r\n");
    }
}
