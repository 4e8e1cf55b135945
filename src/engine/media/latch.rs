//! Where a call's RTP may come from and where ours goes: the latching rule (`rtp.latching`),
//! the verification that must come before we send anything, and NAT rebinding.
//!
//! Symmetric RTP (RFC 4961) sends to wherever the caller's packets come from, which is what makes
//! NAT'd phones work, and what let anyone who sprayed a call's port take its audio over. So:
//! - **Which sources count** ([`Latching`]): `strict` takes packets only from the address the
//!   SDP names; `signalling_ip` (the default) also from any port of the IP the call's SIP came
//!   from, or of the SDP's IP (a NAT'd phone writes its private address in the SDP but sends
//!   from its public one, which is where its SIP comes from); `any` takes every source (the old
//!   behaviour, for media relays on other hosts). Everything else is dropped and counted.
//! - **Latching**: the first valid RTP packet from an allowed source fixes where we send. A new
//!   source, even one with the right SSRC, is adopted only after the latched one has been
//!   silent for [`MediaConfig::rebind_after`](super::MediaConfig::rebind_after) (a NAT that
//!   rebound), and only if the rule allows it.
//! - **Verification before sending** (reflection): until a packet latched, we send to the SDP
//!   address only once the dialog is confirmed (the ACK carries our To tag, which only the
//!   receiver of our 200 knows, so the INVITE's source address was not spoofed) *and* that
//!   address is the signalling IP, or the call came from a trusted source (a registrar or a
//!   `sip.allow` entry), or the rule is `any`. Otherwise we wait for the caller's first packet.
//!
//! Pure: fed packet sources and the time, no I/O. Not owned here: parsing RTP and checking its
//! payload type (the core does that first, so only negotiated RTP latches).

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Which sources may latch a call's media (`rtp.latching`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Latching {
    /// Only the exact address (IP and port) the SDP names.
    Strict,
    /// Any port of the SDP's IP or of the IP the call's signalling comes from.
    #[default]
    SignallingIp,
    /// Any source (a media relay on another host that rewrites nothing).
    Any,
}

impl Latching {
    /// `strict`, `signalling_ip`, `any`.
    pub fn parse(s: &str) -> Option<Latching> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "strict" => Some(Latching::Strict),
            "signalling_ip" | "signaling_ip" => Some(Latching::SignallingIp),
            "any" => Some(Latching::Any),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Latching::Strict => "strict",
            Latching::SignallingIp => "signalling_ip",
            Latching::Any => "any",
        }
    }
}

/// Who a call's media belongs to, as signalling saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaPeer {
    /// The address the SDP names (`None`: `c=0.0.0.0`, a host name, or none).
    pub sdp: Option<SocketAddr>,
    /// The IP the call's SIP comes from.
    pub signalling: IpAddr,
    /// The call came from a trusted source (a registrar, an outbound proxy or a `sip.allow`
    /// entry): its SDP address may be sent to before the caller's first packet.
    pub trusted: bool,
    /// The dialog is confirmed (ACK received), so the signalling source is not spoofed.
    pub confirmed: bool,
}

impl MediaPeer {
    /// A peer that signalled from `remote`'s IP, is trusted and confirmed: RTP goes to `remote`
    /// at once (tests, and media set up by something that verified the peer itself).
    pub fn verified(remote: SocketAddr) -> MediaPeer {
        MediaPeer {
            sdp: usable(remote),
            signalling: remote.ip(),
            trusted: true,
            confirmed: true,
        }
    }

    /// A call whose INVITE came from `signalling`, not yet confirmed.
    pub fn unconfirmed(sdp: Option<SocketAddr>, signalling: IpAddr, trusted: bool) -> MediaPeer {
        MediaPeer {
            sdp: sdp.and_then(usable),
            signalling,
            trusted,
            confirmed: false,
        }
    }
}

impl From<SocketAddr> for MediaPeer {
    fn from(remote: SocketAddr) -> Self {
        MediaPeer::verified(remote)
    }
}

/// An address RTP can be sent to or come from.
pub(super) fn usable(addr: SocketAddr) -> Option<SocketAddr> {
    let ip = addr.ip();
    let bad = ip.is_unspecified()
        || ip.is_multicast()
        || matches!(ip, IpAddr::V4(v4) if v4.is_broadcast())
        || addr.port() == 0;
    (!bad).then_some(addr)
}

/// What to do with a packet from some source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// From the latched source: use it.
    Accept,
    /// Latched onto this source now (first packet, or a rebinding): use it and send there.
    Latched { addr: SocketAddr, rebind: bool },
    /// Not from the latched source: dropped.
    Drop(DropReason),
}

/// Why a packet was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DropReason {
    /// The latching rule does not allow this source at all.
    NotAllowed,
    /// An allowed source, but the latched one is still sending.
    Competing,
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// No packet from the caller yet.
    Waiting,
    Latched {
        addr: SocketAddr,
        last_rx: Instant,
    },
}

/// The latching state of one call.
#[derive(Debug, Clone)]
pub(super) struct Latch {
    mode: Latching,
    rebind_after: Duration,
    peer: MediaPeer,
    state: State,
}

impl Latch {
    pub fn new(mode: Latching, rebind_after: Duration, peer: MediaPeer) -> Latch {
        Latch {
            mode,
            rebind_after,
            peer: MediaPeer {
                sdp: peer.sdp.and_then(usable),
                ..peer
            },
            state: State::Waiting,
        }
    }

    /// Whether the rule lets `src` send us this call's media.
    pub fn allows(&self, src: SocketAddr) -> bool {
        if usable(src).is_none() {
            return false;
        }
        match self.mode {
            Latching::Any => true,
            Latching::Strict => self.peer.sdp == Some(src),
            Latching::SignallingIp => {
                src.ip() == self.peer.signalling
                    || self.peer.sdp.is_some_and(|s| s.ip() == src.ip())
            }
        }
    }

    /// A valid RTP packet of a negotiated payload type from `src`.
    pub fn on_packet(&mut self, src: SocketAddr, now: Instant) -> Verdict {
        if !self.allows(src) {
            return Verdict::Drop(DropReason::NotAllowed);
        }
        match &mut self.state {
            State::Latched { addr, last_rx } if *addr == src => {
                *last_rx = now;
                Verdict::Accept
            }
            State::Latched { last_rx, .. }
                if now.saturating_duration_since(*last_rx) < self.rebind_after =>
            {
                Verdict::Drop(DropReason::Competing)
            }
            state => {
                let rebind = matches!(state, State::Latched { .. });
                *state = State::Latched {
                    addr: src,
                    last_rx: now,
                };
                Verdict::Latched { addr: src, rebind }
            }
        }
    }

    /// Where RTP goes now: the latched source, else the SDP address once verified, else
    /// nowhere.
    pub fn target(&self) -> Option<SocketAddr> {
        match self.state {
            State::Latched { addr, .. } => Some(addr),
            State::Waiting if self.peer.confirmed && self.sdp_verified() => self.peer.sdp,
            State::Waiting => None,
        }
    }

    /// Whether a packet latched already.
    pub fn is_latched(&self) -> bool {
        matches!(self.state, State::Latched { .. })
    }

    /// The dialog is confirmed (ACK from the caller).
    pub fn confirm(&mut self) {
        self.peer.confirmed = true;
    }

    /// A re-INVITE (or UPDATE) brought an SDP: a new address means the media moved, so latch
    /// afresh; the same address (a session refresh, hold/resume) keeps the latched source, so
    /// the stream neither glitches nor opens a window for someone else to latch.
    pub fn renegotiated(&mut self, sdp: Option<SocketAddr>) {
        let sdp = sdp.and_then(usable);
        if sdp != self.peer.sdp {
            self.peer.sdp = sdp;
            self.state = State::Waiting;
        }
    }

    /// The SDP address may be sent to without a packet from it.
    fn sdp_verified(&self) -> bool {
        self.mode == Latching::Any
            || self.peer.trusted
            || self
                .peer
                .sdp
                .is_some_and(|s| s.ip() == self.peer.signalling)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn peer(sdp: &str, sig: &str) -> MediaPeer {
        MediaPeer::unconfirmed(Some(a(sdp)), sig.parse().unwrap(), false)
    }

    const REBIND: Duration = Duration::from_secs(1);

    #[test]
    fn each_rule_allows_its_sources() {
        let p = peer("192.168.1.5:4000", "203.0.113.7");
        let strict = Latch::new(Latching::Strict, REBIND, p);
        let sig = Latch::new(Latching::SignallingIp, REBIND, p);
        let any = Latch::new(Latching::Any, REBIND, p);
        let cases = [
            ("192.168.1.5:4000", [true, true, true]),
            ("192.168.1.5:4002", [false, true, true]),
            ("203.0.113.7:31000", [false, true, true]),
            ("198.51.100.9:4000", [false, false, true]),
            ("0.0.0.0:4000", [false, false, false]),
            ("255.255.255.255:4000", [false, false, false]),
            ("224.0.0.1:4000", [false, false, false]),
            ("203.0.113.7:0", [false, false, false]),
        ];
        for (src, want) in cases {
            let got = [
                strict.allows(a(src)),
                sig.allows(a(src)),
                any.allows(a(src)),
            ];
            assert_eq!(got, want, "{src}");
        }
    }

    #[test]
    fn a_natted_phone_latches_on_its_public_address() {
        let mut l = Latch::new(
            Latching::SignallingIp,
            REBIND,
            peer("192.168.1.5:4000", "203.0.113.7"),
        );
        l.confirm();
        // Private SDP address, other IP than the signalling: nothing is sent before its RTP.
        assert_eq!(l.target(), None);
        let t = Instant::now();
        let public = a("203.0.113.7:31000");
        assert_eq!(
            l.on_packet(public, t),
            Verdict::Latched {
                addr: public,
                rebind: false
            }
        );
        assert_eq!(l.target(), Some(public));
    }

    #[test]
    fn the_sdp_address_is_sent_to_only_when_verified() {
        let t = "127.0.0.1".parse().unwrap();
        let same = MediaPeer::unconfirmed(Some(a("127.0.0.1:4000")), t, false);
        let mut l = Latch::new(Latching::SignallingIp, REBIND, same);
        assert_eq!(l.target(), None, "not before the ACK");
        l.confirm();
        assert_eq!(l.target(), Some(a("127.0.0.1:4000")));
        // A third party's address in the SDP: only a trusted source may point us there.
        let third = MediaPeer::unconfirmed(Some(a("198.51.100.9:4000")), t, false);
        let mut l = Latch::new(Latching::SignallingIp, REBIND, third);
        l.confirm();
        assert_eq!(l.target(), None);
        let mut l = Latch::new(
            Latching::SignallingIp,
            REBIND,
            MediaPeer {
                trusted: true,
                ..third
            },
        );
        l.confirm();
        assert_eq!(l.target(), Some(a("198.51.100.9:4000")));
        let mut l = Latch::new(Latching::Any, REBIND, third);
        l.confirm();
        assert_eq!(l.target(), Some(a("198.51.100.9:4000")));
    }

    #[test]
    fn a_new_source_takes_over_only_after_the_old_one_went_silent() {
        let mut l = Latch::new(
            Latching::SignallingIp,
            REBIND,
            peer("127.0.0.1:4000", "127.0.0.1"),
        );
        let t0 = Instant::now();
        let phone = a("127.0.0.1:4000");
        let other = a("127.0.0.1:5000");
        assert!(matches!(l.on_packet(phone, t0), Verdict::Latched { .. }));
        let t1 = t0 + Duration::from_millis(20);
        assert_eq!(l.on_packet(phone, t1), Verdict::Accept);
        assert_eq!(
            l.on_packet(other, t1 + Duration::from_millis(500)),
            Verdict::Drop(DropReason::Competing)
        );
        assert_eq!(l.target(), Some(phone));
        // The phone's NAT rebound: its old address is silent for a second.
        assert_eq!(
            l.on_packet(other, t1 + REBIND),
            Verdict::Latched {
                addr: other,
                rebind: true
            }
        );
        assert_eq!(l.target(), Some(other));
        // A source outside the rule never takes over, however long the silence.
        let stranger = a("10.9.9.9:4000");
        assert_eq!(
            l.on_packet(stranger, t1 + REBIND * 100),
            Verdict::Drop(DropReason::NotAllowed)
        );
    }

    #[test]
    fn a_reinvite_latches_afresh() {
        let mut l = Latch::new(
            Latching::SignallingIp,
            REBIND,
            peer("127.0.0.1:4000", "127.0.0.1"),
        );
        l.confirm();
        let t = Instant::now();
        let natted = a("127.0.0.1:4444");
        l.on_packet(natted, t);
        l.renegotiated(Some(a("127.0.0.1:4000")));
        assert_eq!(
            l.target(),
            Some(natted),
            "a refresh with the same SDP keeps the latch"
        );
        l.renegotiated(Some(a("127.0.0.1:6000")));
        assert!(!l.is_latched());
        assert_eq!(l.target(), Some(a("127.0.0.1:6000")));
        assert!(matches!(
            l.on_packet(a("127.0.0.1:6000"), t),
            Verdict::Latched { rebind: false, .. }
        ));
    }

    #[test]
    fn rules_parse() {
        assert_eq!(Latching::parse("Strict"), Some(Latching::Strict));
        assert_eq!(
            Latching::parse("signalling-ip"),
            Some(Latching::SignallingIp)
        );
        assert_eq!(
            Latching::parse("signaling_ip"),
            Some(Latching::SignallingIp)
        );
        assert_eq!(Latching::parse("any"), Some(Latching::Any));
        assert_eq!(Latching::parse("first"), None);
    }
}
