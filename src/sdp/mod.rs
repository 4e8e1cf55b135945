//! SDP (RFC 4566) as real phones send it, and offer/answer (RFC 3264) for one audio stream.
//!
//! [`parse`] reads the subset that matters for a voice call (`v o s c t m` lines, `a=rtpmap`,
//! `a=fmtp`, `a=ptime`, `a=maxptime`, direction attributes, session- and media-level `c=`) into a
//! [`SessionDescription`]; every other line and attribute is kept verbatim (so nothing a phone
//! sends is an error just for being unfamiliar) and written back by [`fmt::Display`].
//! [`negotiate`] picks our codec and telephone-event payload type from an offer and builds the
//! answer, or says why not (a typed error the SIP layer turns into a 488).
//!
//! Hand-written: the SDP crates on crates.io either pull in a WebRTC stack (webrtc-sdp, sdp)
//! with ICE/DTLS types we never use, or are unmaintained; the subset here is a few hundred lines
//! and its tests use SDP as baresip, pjsua, sipp, Asterisk and Linphone write it.
//! [`remote`](UnsafeRemote) refuses media addresses we must never send to (broadcast,
//! multicast, our own ports...): a 488 rather than a reflection.
//! [`crypto`] is SDES (RFC 4568 `a=crypto`) and the `srtp` policy: which of plain RTP and
//! `RTP/SAVP` is accepted and offered; the SRTP transform itself is [`crate::media::srtp`].
//! Not owned here: ICE, DTLS-SRTP, video, T.38.

use std::fmt;

pub mod crypto;
mod negotiate;
mod offer;
mod parse;
mod remote;

pub use crypto::{Sdes, SrtpKeys, SrtpPolicy};
pub use negotiate::{
    negotiate, Answer, Codec, LocalMedia, Negotiated, NegotiationError, TelephoneEvent,
};
pub use offer::{create_offer, process_answer};
pub use parse::{parse, SdpError, SdpErrorKind};
pub use remote::UnsafeRemote;

/// A parsed session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    pub origin: Origin,
    pub session_name: String,
    /// Session-level `c=`, the default for every media section.
    pub connection: Option<Address>,
    /// `t=` start and stop (both 0 for a permanent session).
    pub timing: (u64, u64),
    /// Session-level direction (`a=sendrecv|sendonly|recvonly|inactive`), the default for media.
    pub direction: Option<Direction>,
    /// Other session-level lines (`b=`, `a=` ...) as `(type, value)`, in their original order
    /// (written back in RFC 4566 order).
    pub extra: Vec<(char, String)>,
    pub media: Vec<MediaDescription>,
}

/// `o=<username> <sess-id> <sess-version> IN <addrtype> <address>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub username: String,
    /// Kept as text: some phones send ids that do not fit in 64 bits.
    pub session_id: String,
    pub session_version: u64,
    pub address: Address,
}

/// `IN IP4 <host>` or `IN IP6 <host>` (host may be an IP or a domain name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub ip6: bool,
    pub host: String,
}

impl Address {
    /// The address as an IP, if it is one (not a domain name).
    pub fn ip(&self) -> Option<std::net::IpAddr> {
        self.host.parse().ok()
    }

    /// `0.0.0.0` / `::`: the RFC 2543 way of saying "do not send to me" (old-style hold).
    pub fn is_unspecified(&self) -> bool {
        self.ip().is_some_and(|ip| ip.is_unspecified())
    }
}

impl From<std::net::IpAddr> for Address {
    fn from(ip: std::net::IpAddr) -> Self {
        Address {
            ip6: ip.is_ipv6(),
            host: ip.to_string(),
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "IN {} {}",
            if self.ip6 { "IP6" } else { "IP4" },
            self.host
        )
    }
}

/// Media direction (RFC 3264 §5.1), from the point of view of the side that wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    fn from_attribute(name: &str) -> Option<Direction> {
        Some(match name {
            "sendrecv" => Direction::SendRecv,
            "sendonly" => Direction::SendOnly,
            "recvonly" => Direction::RecvOnly,
            "inactive" => Direction::Inactive,
            _ => return None,
        })
    }

    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    fn from_flags(sends: bool, receives: bool) -> Direction {
        match (sends, receives) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }

    /// The direction an answerer that could do `ours` replies to an offer of `self`: it sends
    /// only what the offerer receives and receives only what it sends (sendonly → recvonly).
    pub fn answer_with(self, ours: Direction) -> Direction {
        Direction::from_flags(
            self.receives() && ours.sends(),
            self.sends() && ours.receives(),
        )
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `a=rtpmap:<pt> <encoding>/<clock rate>[/<channels>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    pub payload_type: u8,
    pub encoding: String,
    pub clock_rate: u32,
    pub channels: Option<u16>,
}

impl RtpMap {
    /// The mapping RFC 3551 fixes for static payload types that phones list without `a=rtpmap`.
    pub fn for_static(pt: u8) -> Option<RtpMap> {
        let (encoding, clock_rate) = match pt {
            0 => ("PCMU", 8000),
            3 => ("GSM", 8000),
            4 => ("G723", 8000),
            8 => ("PCMA", 8000),
            9 => ("G722", 8000),
            13 => ("CN", 8000),
            18 => ("G729", 8000),
            _ => return None,
        };
        Some(RtpMap {
            payload_type: pt,
            encoding: encoding.to_string(),
            clock_rate,
            channels: None,
        })
    }
}

impl fmt::Display for RtpMap {
    /// `PCMU/8000`, `opus/48000/2` (without the payload type).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.encoding, self.clock_rate)?;
        if let Some(ch) = self.channels {
            write!(f, "/{ch}")?;
        }
        Ok(())
    }
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    /// `audio`, `video`, `image`, `application`...
    pub media: String,
    /// 0 means the stream is rejected or disabled.
    pub port: u16,
    pub port_count: Option<u16>,
    /// `RTP/AVP`, `RTP/AVPF`, `RTP/SAVP`, `UDP/TLS/RTP/SAVPF`, `udptl`...
    pub proto: String,
    /// Format tokens in the offerer's order (payload type numbers for RTP).
    pub formats: Vec<String>,
    pub connection: Option<Address>,
    pub rtpmaps: Vec<RtpMap>,
    /// `a=fmtp:<format> <parameters>` as `(format, parameters)`.
    pub fmtps: Vec<(String, String)>,
    pub ptime: Option<u32>,
    pub maxptime: Option<u32>,
    pub direction: Option<Direction>,
    /// Other lines of this section (`b=`, `a=rtcp:` ...) as `(type, value)`: other line types
    /// first, then attributes, each in their original order (written back in RFC 4566 order).
    pub extra: Vec<(char, String)>,
}

impl MediaDescription {
    /// Whether the transport is plain RTP (`RTP/AVP` or `RTP/AVPF`), the only kind we do.
    pub fn is_plain_rtp(&self) -> bool {
        self.proto.eq_ignore_ascii_case("RTP/AVP") || self.proto.eq_ignore_ascii_case("RTP/AVPF")
    }

    /// Payload types listed in `m=` (formats that are not numbers < 128 are skipped).
    pub fn payload_types(&self) -> impl Iterator<Item = u8> + '_ {
        self.formats
            .iter()
            .filter_map(|f| f.parse::<u8>().ok())
            .filter(|&pt| pt < 128)
    }

    /// What payload type `pt` is: its `a=rtpmap`, else the static assignment.
    pub fn rtpmap(&self, pt: u8) -> Option<RtpMap> {
        self.rtpmaps
            .iter()
            .find(|m| m.payload_type == pt)
            .cloned()
            .or_else(|| RtpMap::for_static(pt))
    }

    /// The `a=fmtp` parameters for payload type `pt`.
    pub fn fmtp(&self, pt: u8) -> Option<&str> {
        let pt = pt.to_string();
        self.fmtps
            .iter()
            .find(|(f, _)| *f == pt)
            .map(|(_, p)| p.as_str())
    }
}

/// Writes the `extra` lines whose type is in `types`, in their original order.
fn write_extra(f: &mut fmt::Formatter<'_>, extra: &[(char, String)], types: &str) -> fmt::Result {
    for (t, v) in extra.iter().filter(|(t, _)| types.contains(*t)) {
        write!(f, "{t}={v}\r\n")?;
    }
    Ok(())
}

/// Line types RFC 4566 §5 places around the ones we model; anything unknown goes last.
const SESSION_BEFORE_C: &str = "iuep";
const SESSION_BEFORE_T: &str = "b";
const KNOWN_SESSION: &str = "iuepb";
const MEDIA_BEFORE_C: &str = "i";

impl fmt::Display for SessionDescription {
    /// The description as SDP text with CRLF line ends, lines in RFC 4566 order.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.origin;
        write!(f, "v=0\r\n")?;
        write!(
            f,
            "o={} {} {} {}\r\n",
            o.username, o.session_id, o.session_version, o.address
        )?;
        write!(f, "s={}\r\n", self.session_name)?;
        write_extra(f, &self.extra, SESSION_BEFORE_C)?;
        if let Some(c) = &self.connection {
            write!(f, "c={c}\r\n")?;
        }
        write_extra(f, &self.extra, SESSION_BEFORE_T)?;
        write!(f, "t={} {}\r\n", self.timing.0, self.timing.1)?;
        for (t, v) in self
            .extra
            .iter()
            .filter(|(t, _)| !KNOWN_SESSION.contains(*t))
        {
            write!(f, "{t}={v}\r\n")?;
        }
        if let Some(d) = self.direction {
            write!(f, "a={d}\r\n")?;
        }
        for m in &self.media {
            write!(f, "{m}")?;
        }
        Ok(())
    }
}

impl fmt::Display for MediaDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "m={} {}", self.media, self.port)?;
        if let Some(n) = self.port_count {
            write!(f, "/{n}")?;
        }
        write!(f, " {}", self.proto)?;
        for fmt_ in &self.formats {
            write!(f, " {fmt_}")?;
        }
        write!(f, "\r\n")?;
        write_extra(f, &self.extra, MEDIA_BEFORE_C)?;
        if let Some(c) = &self.connection {
            write!(f, "c={c}\r\n")?;
        }
        for (t, v) in self.extra.iter().filter(|(t, _)| *t != 'a' && *t != 'i') {
            write!(f, "{t}={v}\r\n")?;
        }
        for m in &self.rtpmaps {
            write!(f, "a=rtpmap:{} {m}\r\n", m.payload_type)?;
        }
        for (fmt_, p) in &self.fmtps {
            write!(f, "a=fmtp:{fmt_} {p}\r\n")?;
        }
        if let Some(p) = self.ptime {
            write!(f, "a=ptime:{p}\r\n")?;
        }
        if let Some(p) = self.maxptime {
            write!(f, "a=maxptime:{p}\r\n")?;
        }
        write_extra(f, &self.extra, "a")?;
        if let Some(d) = self.direction {
            write!(f, "a={d}\r\n")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direction_answers_follow_rfc_3264() {
        use Direction::*;
        let us = SendRecv;
        assert_eq!(SendRecv.answer_with(us), SendRecv);
        assert_eq!(SendOnly.answer_with(us), RecvOnly);
        assert_eq!(RecvOnly.answer_with(us), SendOnly);
        assert_eq!(Inactive.answer_with(us), Inactive);
        assert_eq!(SendRecv.answer_with(SendOnly), SendOnly);
        assert_eq!(SendOnly.answer_with(SendOnly), Inactive);
    }

    #[test]
    fn static_payload_types_resolve() {
        assert_eq!(RtpMap::for_static(0).unwrap().to_string(), "PCMU/8000");
        assert_eq!(RtpMap::for_static(8).unwrap().to_string(), "PCMA/8000");
        assert_eq!(RtpMap::for_static(18).unwrap().to_string(), "G729/8000");
        assert!(RtpMap::for_static(96).is_none());
    }

    #[test]
    fn addresses() {
        let a = Address {
            ip6: false,
            host: "0.0.0.0".into(),
        };
        assert!(a.is_unspecified());
        let b = Address::from("2001:db8::1".parse::<std::net::IpAddr>().unwrap());
        assert_eq!(b.to_string(), "IN IP6 2001:db8::1");
        assert!(!b.is_unspecified());
        let host = Address {
            ip6: false,
            host: "pbx.example.com".into(),
        };
        assert!(host.ip().is_none() && !host.is_unspecified());
    }
}
