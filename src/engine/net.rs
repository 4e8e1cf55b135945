//! Local addresses: which of our IPs reaches a peer ([`route_to`], a route lookup that sends
//! nothing) and the first non-loopback interface ([`primary_ip`]). Used to pick the address we
//! advertise in Via/Contact and SDP when none is configured; [`local_ips`] tells the SIP
//! transport which destinations are ourselves. Holds the public IP learned at run time (STUN,
//! or the registrar's `received`; see `sip::nat`), which SDP then carries.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::RwLock;

/// The public IP the SIP endpoint adopted (one endpoint per process; set by the endpoint loop).
static LEARNED: RwLock<Option<IpAddr>> = RwLock::new(None);

/// Records the public IP the endpoint now advertises in Via/Contact, for SDP.
pub fn set_learned_ip(ip: Option<IpAddr>) {
    *LEARNED.write().unwrap_or_else(|p| p.into_inner()) = ip;
}

/// The public IP learned at run time, if any.
pub fn learned_ip() -> Option<IpAddr> {
    *LEARNED.read().unwrap_or_else(|p| p.into_inner())
}

/// The local address the OS would use to reach `peer` (a route lookup: no packet is sent).
pub fn route_to(peer: SocketAddr) -> Option<IpAddr> {
    let bind: SocketAddr = if peer.is_ipv6() {
        "[::]:0".parse().ok()?
    } else {
        "0.0.0.0:0".parse().ok()?
    };
    let s = UdpSocket::bind(bind).ok()?;
    s.connect(peer).ok()?;
    Some(s.local_addr().ok()?.ip()).filter(|ip| !ip.is_unspecified())
}

/// The first non-loopback IPv4 interface address, else 127.0.0.1.
pub fn primary_ip() -> IpAddr {
    if_addrs::get_if_addrs()
        .ok()
        .and_then(|ifs| {
            ifs.into_iter()
                .find(|i| !i.is_loopback() && i.ip().is_ipv4())
                .map(|i| i.ip())
        })
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// Every address of this host's interfaces (empty if they cannot be listed).
pub fn local_ips() -> Vec<IpAddr> {
    if_addrs::get_if_addrs()
        .map(|ifs| ifs.into_iter().map(|i| i.ip()).collect())
        .unwrap_or_default()
}

/// Which IP goes into a call's SDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaAddress {
    /// `advertise` from the configuration.
    pub advertise: Option<IpAddr>,
    /// The SIP listen address (used when it is not a wildcard).
    pub listen: IpAddr,
    /// The SIP address we advertise, the last resort.
    pub fallback: IpAddr,
}

impl MediaAddress {
    /// The IP written in SDP for a call from `peer`: the configured one, else the public one
    /// learned behind a NAT, else the listen address, else the one the OS routes to the peer
    /// from.
    pub fn for_peer(&self, peer: SocketAddr) -> IpAddr {
        self.for_peer_learned(peer, learned_ip())
    }

    /// [`MediaAddress::for_peer`] with the learned public IP given.
    pub fn for_peer_learned(&self, peer: SocketAddr, learned: Option<IpAddr>) -> IpAddr {
        if let Some(a) = self.advertise.or(learned) {
            return a;
        }
        if !self.listen.is_unspecified() {
            return self.listen;
        }
        route_to(peer).unwrap_or(self.fallback)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_advertised_address_wins_then_a_specific_listen_address() {
        let fallback: IpAddr = "192.0.2.7".parse().unwrap();
        let peer: SocketAddr = "127.0.0.1:5060".parse().unwrap();
        let mut m = MediaAddress {
            advertise: Some("203.0.113.5".parse().unwrap()),
            listen: "10.0.0.2".parse().unwrap(),
            fallback,
        };
        assert_eq!(m.for_peer(peer).to_string(), "203.0.113.5");
        let public: IpAddr = "198.51.100.9".parse().unwrap();
        assert_eq!(
            m.for_peer_learned(peer, Some(public)).to_string(),
            "203.0.113.5",
            "the configured address wins over a learned one"
        );
        m.advertise = None;
        assert_eq!(m.for_peer_learned(peer, Some(public)), public);
        assert_eq!(m.for_peer_learned(peer, None).to_string(), "10.0.0.2");
        m.listen = "0.0.0.0".parse().unwrap();
        assert_eq!(
            m.for_peer(peer).to_string(),
            "127.0.0.1",
            "routed to loopback"
        );
    }
}
