//! Which remote media addresses we refuse to send RTP to (reflection and amplification).
//!
//! An SDP offer names where RTP should go, and one 500-byte INVITE used to make us send a
//! whole greeting (hundreds of kilobytes) to any address it named. Whatever the latching rule
//! later decides, an offer or answer whose audio address is one of these is refused (488, the
//! reason in the log and in a `Warning` header):
//! - broadcast (`255.255.255.255`) and multicast addresses;
//! - the unspecified address (`0.0.0.0`, `::`) in the first description of a session (in a
//!   re-INVITE it is the RFC 2543 way of putting us on hold, and we send nothing there);
//! - ports below 1024 (DNS, NTP, SSDP... are classic reflection targets; RTP lives above);
//! - our own SIP address, and our own RTP address;
//! - loopback addresses, unless our own media address is loopback too (a test or a local
//!   softphone on the same machine).
//!
//! Host names in `c=` are not resolved (we never send to them before the caller's RTP arrives).

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use super::negotiate::LocalMedia;
use super::Address;

/// Why a remote media address is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnsafeRemote {
    Broadcast(IpAddr),
    Multicast(IpAddr),
    Unspecified,
    LowPort(u16),
    /// Our own SIP or RTP address.
    Ours(SocketAddr),
    Loopback(IpAddr),
}

impl fmt::Display for UnsafeRemote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnsafeRemote::Broadcast(ip) => write!(f, "media address {ip} is a broadcast address"),
            UnsafeRemote::Multicast(ip) => write!(f, "media address {ip} is a multicast address"),
            UnsafeRemote::Unspecified => {
                f.write_str("media address 0.0.0.0 in the first offer (nowhere to send to)")
            }
            UnsafeRemote::LowPort(p) => write!(f, "media port {p} is below 1024"),
            UnsafeRemote::Ours(a) => write!(f, "media address {a} is our own"),
            UnsafeRemote::Loopback(ip) => write!(f, "media address {ip} is a loopback address"),
        }
    }
}

/// Checks the address and port an offer or answer gives for its accepted audio stream (a
/// refusal is counted in `sdp_refused`).
pub(super) fn check(conn: &Address, port: u16, local: &LocalMedia) -> Result<(), UnsafeRemote> {
    let r = classify(conn, port, local);
    if r.is_err() {
        let c = crate::policy::counters::global();
        crate::policy::counters::Counters::bump(&c.sdp_refused);
    }
    r
}

fn classify(conn: &Address, port: u16, local: &LocalMedia) -> Result<(), UnsafeRemote> {
    let Some(ip) = conn.ip() else {
        return Ok(()); // a host name: never resolved, never sent to before latching
    };
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    if ip.is_unspecified() {
        return if local.is_first_description() {
            Err(UnsafeRemote::Unspecified)
        } else {
            Ok(())
        };
    }
    if matches!(ip, IpAddr::V4(v4) if v4.is_broadcast()) {
        return Err(UnsafeRemote::Broadcast(ip));
    }
    if ip.is_multicast() {
        return Err(UnsafeRemote::Multicast(ip));
    }
    if port < 1024 {
        return Err(UnsafeRemote::LowPort(port));
    }
    let addr = SocketAddr::new(ip, port);
    let ours = SocketAddr::new(local.address, local.port);
    if addr == ours || local.refuse.contains(&addr) {
        return Err(UnsafeRemote::Ours(addr));
    }
    if ip.is_loopback() && !local.address.is_loopback() {
        return Err(UnsafeRemote::Loopback(ip));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(addr: &str) -> LocalMedia {
        let mut l = LocalMedia::new(addr.parse().unwrap(), 40000, 7);
        l.refuse = vec!["203.0.113.1:5060".parse().unwrap()];
        l
    }

    fn conn(host: &str) -> Address {
        Address {
            ip6: host.contains(':'),
            host: host.to_string(),
        }
    }

    #[test]
    fn reflection_targets_are_refused() {
        let l = local("203.0.113.1");
        let cases: [(&str, u16, Option<UnsafeRemote>); 10] = [
            ("198.51.100.7", 4000, None),
            ("pbx.example.com", 4000, None),
            (
                "255.255.255.255",
                4000,
                Some(UnsafeRemote::Broadcast("255.255.255.255".parse().unwrap())),
            ),
            (
                "224.0.0.251",
                5353,
                Some(UnsafeRemote::Multicast("224.0.0.251".parse().unwrap())),
            ),
            (
                "ff02::1",
                4000,
                Some(UnsafeRemote::Multicast("ff02::1".parse().unwrap())),
            ),
            ("0.0.0.0", 4000, Some(UnsafeRemote::Unspecified)),
            ("198.51.100.7", 53, Some(UnsafeRemote::LowPort(53))),
            (
                "203.0.113.1",
                5060,
                Some(UnsafeRemote::Ours("203.0.113.1:5060".parse().unwrap())),
            ),
            (
                "203.0.113.1",
                40000,
                Some(UnsafeRemote::Ours("203.0.113.1:40000".parse().unwrap())),
            ),
            (
                "127.0.0.1",
                4000,
                Some(UnsafeRemote::Loopback("127.0.0.1".parse().unwrap())),
            ),
        ];
        for (host, port, want) in cases {
            assert_eq!(classify(&conn(host), port, &l).err(), want, "{host}:{port}");
        }
    }

    #[test]
    fn hold_and_local_tests_stay_possible() {
        let mut l = local("203.0.113.1");
        l.session_version += 1; // a re-INVITE: 0.0.0.0 is old-style hold
        assert_eq!(classify(&conn("0.0.0.0"), 4000, &l), Ok(()));
        let lo = local("127.0.0.1");
        assert_eq!(classify(&conn("127.0.0.1"), 4000, &lo), Ok(()));
    }
}
