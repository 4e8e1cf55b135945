//! NAT traversal for registrations: learning our public address from the registrar's answers
//! (RFC 3581 `received`/`rport`) and the keep-alives that hold the NAT binding open.
//!
//! Owns [`observed_address`] (the `received` + `rport` the registrar wrote on the top Via of a
//! response to one of our requests), [`PublicAddress`] (what was learned, with a bound on
//! how often a changing address may trigger a re-registration) and the keep-alive payloads
//! ([`KEEPALIVE_CRLF`], RFC 5626 §4.4.1). The registration machine (`sip::register`) calls
//! these on its responses and its `KeepAlive` timer; the endpoint adopts a learned address for
//! its Via and Contact headers.
//!
//! Trust: only responses that matched one of OUR client transactions (a random branch, sent to
//! the registrar, answered from the registrar's address) reach this module. A `received` on an
//! inbound request is never trusted (`message::Via::stamp` removes it).

use std::net::{IpAddr, SocketAddr};

use super::message::Via;

/// The double-CRLF "ping" of RFC 5626 §4.4.1 (sent over TCP/TLS connections; the server may
/// answer with a single CRLF "pong", which the framer skips).
pub const KEEPALIVE_CRLF: &[u8] = b"\r\n\r\n";

/// How many re-registrations in a row a changing public address may cause before we stop
/// following it until the next regular refresh (a registrar or NAT that reports a new port on
/// every answer must not make us loop).
pub const MAX_REBINDS: u32 = 3;

/// The address the far end saw our request come from: `received` (or the sent-by host when
/// only `rport` was filled) and `rport` (or the sent-by port). `None` when the Via carries
/// neither, or the values do not parse (nothing to learn).
pub fn observed_address(via: &Via) -> Option<SocketAddr> {
    let rport = match via.rport {
        Some(Some(p)) if p != 0 => Some(p),
        _ => None,
    };
    if via.received.is_none() && rport.is_none() {
        return None;
    }
    let ip: IpAddr = match via.received.as_deref() {
        Some(r) => r.trim().trim_matches(['[', ']']).parse().ok()?,
        None => via.host.trim_matches(['[', ']']).parse().ok()?,
    };
    if ip.is_unspecified() || ip.is_multicast() {
        return None;
    }
    let port = rport.or(via.port).unwrap_or(5060);
    Some(SocketAddr::new(ip, port))
}

/// The sent-by of a Via as an address (`None` for a host name).
fn sent_by(via: &Via) -> Option<SocketAddr> {
    let ip: IpAddr = via.host.trim_matches(['[', ']']).parse().ok()?;
    Some(SocketAddr::new(ip, via.port.unwrap_or(5060)))
}

/// What one response taught us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Learned {
    /// Nothing to learn (no `received`/`rport`, or learning is off).
    Nothing,
    /// The far end saw the address we already advertise.
    Same,
    /// A new public address: re-register with it.
    Changed(SocketAddr),
    /// A new public address, but it changed too often in a row: adopted without an immediate
    /// re-registration (the next refresh carries it).
    ChangedTooOften(SocketAddr),
}

/// The public address learned from the registrar's answers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublicAddress {
    addr: Option<SocketAddr>,
    /// Address changes in a row without an answer confirming the address we advertised.
    rebinds: u32,
}

impl PublicAddress {
    /// The learned address, if any answer showed a different one than we advertised.
    pub fn get(&self) -> Option<SocketAddr> {
        self.addr
    }

    /// Reads the top Via of a response to a request we sent advertising `advertised`.
    pub fn observe(&mut self, via: &Via, advertised: SocketAddr) -> Learned {
        let Some(seen) = observed_address(via) else {
            return Learned::Nothing;
        };
        // The sent-by we wrote is what we compare against: the answer may be to a request
        // sent before an earlier change was adopted.
        let ours = sent_by(via).unwrap_or(advertised);
        if seen == ours || Some(seen) == self.addr {
            if seen == ours {
                self.rebinds = 0;
            }
            return Learned::Same;
        }
        self.addr = Some(seen);
        self.rebinds += 1;
        if self.rebinds > MAX_REBINDS {
            Learned::ChangedTooOften(seen)
        } else {
            Learned::Changed(seen)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn via(text: &str) -> Via {
        Via::parse(text).expect("via parses")
    }

    #[test]
    fn received_and_rport_give_the_public_address() {
        let v = via("SIP/2.0/UDP 10.77.1.2:5060;branch=z9hG4bKa;received=203.0.113.7;rport=40123");
        assert_eq!(
            observed_address(&v),
            Some("203.0.113.7:40123".parse().unwrap())
        );
        // received without rport: the sent-by port.
        let v = via("SIP/2.0/UDP 10.77.1.2:5070;branch=z9hG4bKa;received=203.0.113.7");
        assert_eq!(
            observed_address(&v),
            Some("203.0.113.7:5070".parse().unwrap())
        );
        // rport alone (same host, another port).
        let v = via("SIP/2.0/UDP 10.77.1.2:5070;branch=z9hG4bKa;rport=6000");
        assert_eq!(
            observed_address(&v),
            Some("10.77.1.2:6000".parse().unwrap())
        );
        // IPv6 received.
        let v = via("SIP/2.0/UDP [fd00::2]:5060;branch=z9hG4bKa;received=2001:db8::7;rport=7");
        assert_eq!(
            observed_address(&v),
            Some("[2001:db8::7]:7".parse().unwrap())
        );
    }

    #[test]
    fn nothing_to_learn_from_a_bare_or_hostile_via() {
        for text in [
            "SIP/2.0/UDP 10.77.1.2:5060;branch=z9hG4bKa;rport",
            "SIP/2.0/UDP 10.77.1.2:5060;branch=z9hG4bKa",
            "SIP/2.0/UDP 10.77.1.2:5060;branch=z9hG4bKa;received=not-an-ip;rport=1",
            "SIP/2.0/UDP 10.77.1.2:5060;branch=z9hG4bKa;received=0.0.0.0;rport=1",
            "SIP/2.0/UDP 10.77.1.2:5060;branch=z9hG4bKa;received=224.0.0.1;rport=1",
            "SIP/2.0/UDP host.example:5060;branch=z9hG4bKa;rport=99",
        ] {
            assert_eq!(observed_address(&via(text)), None, "{text}");
        }
    }

    #[test]
    fn a_change_is_reported_once_and_a_flapping_address_is_bounded() {
        let ours: SocketAddr = "10.77.1.2:5060".parse().unwrap();
        let mut p = PublicAddress::default();
        let same = via("SIP/2.0/UDP 10.77.1.2:5060;branch=z9hG4bKa;rport=5060");
        assert_eq!(p.observe(&same, ours), Learned::Same);
        assert_eq!(p.get(), None);
        let nat =
            via("SIP/2.0/UDP 10.77.1.2:5060;branch=z9hG4bKa;received=198.51.100.1;rport=1024");
        let public: SocketAddr = "198.51.100.1:1024".parse().unwrap();
        assert_eq!(p.observe(&nat, ours), Learned::Changed(public));
        // A late answer to the old request says the same: no second re-registration.
        assert_eq!(p.observe(&nat, ours), Learned::Same);
        // The answer to the request advertising the public address confirms it.
        let confirmed = via("SIP/2.0/UDP 198.51.100.1:1024;branch=z9hG4bKb;rport=1024");
        assert_eq!(p.observe(&confirmed, public), Learned::Same);
        // A NAT that picks a new port on every answer: three re-registrations, then no more.
        let mut last = Learned::Nothing;
        for port in 2000..2010u16 {
            let v = via(&format!(
                "SIP/2.0/UDP 10.77.1.2:5060;branch=z9hG4bKa;received=198.51.100.1;rport={port}"
            ));
            last = p.observe(&v, ours);
            if port < 2000 + MAX_REBINDS as u16 {
                assert!(matches!(last, Learned::Changed(_)), "{port}: {last:?}");
            }
        }
        assert!(matches!(last, Learned::ChangedTooOften(_)), "{last:?}");
        // Once an answer confirms the address we advertised, a change counts anew.
        let now: SocketAddr = "198.51.100.1:2009".parse().unwrap();
        let v = via("SIP/2.0/UDP 198.51.100.1:2009;branch=z9hG4bKc;rport=2009");
        assert_eq!(p.observe(&v, now), Learned::Same);
        let v =
            via("SIP/2.0/UDP 198.51.100.1:2009;branch=z9hG4bKd;received=198.51.100.1;rport=3000");
        assert!(matches!(p.observe(&v, now), Learned::Changed(_)));
    }
}
