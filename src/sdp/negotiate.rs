//! Offer/answer (RFC 3264) for phonetree's one audio stream.
//!
//! Answering: the first audio `m=` line whose transport the `srtp` policy takes (plain RTP, or
//! SRTP with a usable `a=crypto` line: [`super::crypto`]) and that shares a codec with us is
//! accepted; every other `m=` line (video, DTLS-SRTP, a second audio line) is declined with port 0. The codec
//! is the first of OUR preference list that the offer has (the offer's payload type number is
//! kept); telephone-event is taken at the codec's clock rate, else at any rate the offer has
//! (baresip offers `telephone-event/8000` beside `opus/48000/2`), and its rate is reported so
//! RFC 4733 durations use it. The answer's direction mirrors the offer's (sendonly → recvonly:
//! the caller put us on hold). Nothing in common is a [`NegotiationError`] for a 488.
//!
//! Offering (INVITE without SDP, answered in the ACK) is in `offer.rs`, sharing these rules.
//! The session version in [`LocalMedia`] is the caller's to bump on every new description.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use crate::media::g711::Law;

use super::crypto::{self, Crypto, Sdes, SrtpKeys, SrtpPolicy};
use super::{Address, Direction, MediaDescription, Origin, RtpMap, SessionDescription};

/// A codec phonetree can send and receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    Pcmu,
    Pcma,
    Opus,
}

impl Codec {
    pub const ALL: [Codec; 3] = [Codec::Pcmu, Codec::Pcma, Codec::Opus];

    pub fn encoding(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
            Codec::Opus => "opus",
        }
    }

    pub fn clock_rate(self) -> u32 {
        match self {
            Codec::Pcmu | Codec::Pcma => 8000,
            Codec::Opus => 48000,
        }
    }

    /// `a=rtpmap` channel count (RFC 7587: Opus is always written `/2`).
    pub fn channels(self) -> Option<u16> {
        match self {
            Codec::Opus => Some(2),
            _ => None,
        }
    }

    /// The payload type used when we offer.
    pub fn default_payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
            Codec::Opus => 111,
        }
    }

    /// Our `a=fmtp` for this codec, if any.
    pub(super) fn fmtp(self) -> Option<&'static str> {
        match self {
            Codec::Opus => Some("useinbandfec=1"),
            _ => None,
        }
    }

    /// From a configuration name: `PCMU`, `pcma`, `g711a`, `opus`...
    pub fn from_name(name: &str) -> Option<Codec> {
        match name.trim().to_ascii_lowercase().as_str() {
            "pcmu" | "g711u" | "ulaw" | "g711" => Some(Codec::Pcmu),
            "pcma" | "g711a" | "alaw" => Some(Codec::Pcma),
            "opus" => Some(Codec::Opus),
            _ => None,
        }
    }

    /// The G.711 law for PCMU/PCMA (`None` for Opus).
    pub fn g711_law(self) -> Option<Law> {
        match self {
            Codec::Pcmu => Some(Law::Mu),
            Codec::Pcma => Some(Law::A),
            Codec::Opus => None,
        }
    }

    /// Whether an offered payload type mapping is this codec.
    pub fn matches(self, map: &RtpMap) -> bool {
        map.encoding.eq_ignore_ascii_case(self.encoding())
            && map.clock_rate == self.clock_rate()
            // Opus must say 48000/2; tolerate a missing channel count, reject mono/other.
            && (self != Codec::Opus || matches!(map.channels, None | Some(2)))
    }

    pub(super) fn rtpmap(self, payload_type: u8) -> RtpMap {
        RtpMap {
            payload_type,
            encoding: self.encoding().to_string(),
            clock_rate: self.clock_rate(),
            channels: self.channels(),
        }
    }
}

impl fmt::Display for Codec {
    /// `PCMU/8000`, `PCMA/8000`, `opus/48000/2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.rtpmap(0).fmt(f)
    }
}

/// What we can do, and where we receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMedia {
    /// Address written in `o=` and `c=`.
    pub address: IpAddr,
    /// Our RTP port.
    pub port: u16,
    /// Codecs in preference order.
    pub codecs: Vec<Codec>,
    pub session_id: u64,
    /// Bump for every new description in the same session (re-INVITE answers).
    pub session_version: u64,
    /// Our packet time in ms (20).
    pub ptime: u32,
    /// Payload types for telephone-event when we offer: at 8000 and at 48000 Hz.
    pub telephone_event_pts: (u8, u8),
    /// Addresses the remote side may never name for its media: ours (SIP) — see
    /// [`super::remote`] for the full list of refused addresses.
    pub refuse: Vec<SocketAddr>,
    /// The `srtp` policy and our SDES key (default: off).
    pub srtp: Sdes,
}

impl LocalMedia {
    /// PCMU, PCMA, Opus; ptime 20; telephone-event 101 (8 kHz) / 102 (48 kHz).
    pub fn new(address: IpAddr, port: u16, session_id: u64) -> LocalMedia {
        LocalMedia {
            address,
            port,
            codecs: Codec::ALL.to_vec(),
            session_id,
            session_version: session_id,
            ptime: 20,
            telephone_event_pts: (101, 102),
            refuse: Vec::new(),
            srtp: Sdes::default(),
        }
    }

    /// Whether this is the first description of the session (no re-INVITE bumped the
    /// version yet).
    pub fn is_first_description(&self) -> bool {
        self.session_version == self.session_id
    }
}

/// The negotiated telephone-event stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    pub payload_type: u8,
    pub clock_rate: u32,
}

/// The outcome for the audio stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    pub codec: Codec,
    /// Payload type of the codec on the wire (both directions: the offer's number).
    pub payload_type: u8,
    /// `None` if the peer has no telephone-event: DTMF must then come in-band or by SIP INFO.
    pub telephone_event: Option<TelephoneEvent>,
    /// Where the peer wants RTP (`None` when it gave 0.0.0.0, an old-style hold). The runtime
    /// still switches to the source of the packets it receives (symmetric RTP).
    pub remote: Option<SocketAddr>,
    /// OUR direction: `SendRecv` normally, `RecvOnly` when the peer holds us.
    pub direction: Direction,
    /// The peer's `a=ptime` (what it wants to receive), if given.
    pub remote_ptime: Option<u32>,
    /// The peer's `a=fmtp` for the codec (Opus parameters), if given.
    pub remote_fmtp: Option<String>,
    /// Index of the accepted `m=` line.
    pub media_index: usize,
    /// SRTP keys when the stream is SRTP (SDES), `None` for plain RTP.
    pub srtp: Option<SrtpKeys>,
}

/// An accepted offer: the answer to send and what was agreed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub sdp: SessionDescription,
    pub negotiated: Negotiated,
}

/// Why an offer (or answer) cannot be used; the SIP layer replies 488 Not Acceptable Here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NegotiationError {
    /// No audio `m=` line over plain RTP with a non-zero port (`offered` lists `media proto`).
    NoAudio { offered: Vec<String> },
    /// Audio is offered, but no codec we support.
    NoCommonCodec {
        offered: Vec<String>,
        supported: Vec<String>,
    },
    /// The accepted stream has no `c=` address (neither media- nor session-level).
    NoConnection,
    /// Our own codec list is empty (a configuration error), so there is nothing to offer.
    NoCodecsConfigured,
    /// The media address is one we never send to (broadcast, multicast, ours...).
    UnsafeRemote(super::remote::UnsafeRemote),
    /// `srtp: required`, and the peer offered (or answered) plain RTP only.
    SrtpRequired,
}

impl fmt::Display for NegotiationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NegotiationError::NoAudio { offered } => {
                write!(
                    f,
                    "no usable audio stream: offered [{}]",
                    offered.join(", ")
                )
            }
            NegotiationError::NoCommonCodec { offered, supported } => write!(
                f,
                "no common codec: offered [{}], supported [{}]",
                offered.join(", "),
                supported.join(", ")
            ),
            NegotiationError::NoConnection => f.write_str("audio stream has no c= address"),
            NegotiationError::NoCodecsConfigured => f.write_str("no codecs configured"),
            NegotiationError::UnsafeRemote(why) => why.fmt(f),
            NegotiationError::SrtpRequired => {
                f.write_str("SRTP is required (srtp: required) and the peer offers plain RTP")
            }
        }
    }
}

impl std::error::Error for NegotiationError {}

/// Answers an offer. See the module docs for the rules.
pub fn negotiate(
    offer: &SessionDescription,
    local: &LocalMedia,
) -> Result<Answer, NegotiationError> {
    let mut offered_codecs = Vec::new();
    let mut chosen = None;
    let mut plain_refused = false;
    for (i, m) in offer.media.iter().enumerate() {
        if !is_audio(m) {
            continue;
        }
        let Some(crypto) = crypto::accept(m, local.srtp.policy) else {
            plain_refused |= m.is_plain_rtp() && local.srtp.policy == SrtpPolicy::Required;
            continue;
        };
        match choose_codec(m, &local.codecs) {
            Some(pick) => {
                chosen = Some((i, pick, crypto));
                break;
            }
            None => offered_codecs.extend(m.payload_types().map(|pt| describe(m, pt))),
        }
    }
    let Some((index, (codec, pt), crypto)) = chosen else {
        if offered_codecs.is_empty() && plain_refused {
            return Err(NegotiationError::SrtpRequired);
        }
        if offered_codecs.is_empty() {
            return Err(NegotiationError::NoAudio {
                offered: offer
                    .media
                    .iter()
                    .map(|m| format!("{} {}", m.media, m.proto))
                    .collect(),
            });
        }
        return Err(NegotiationError::NoCommonCodec {
            offered: offered_codecs,
            supported: local.codecs.iter().map(Codec::to_string).collect(),
        });
    };
    let m = &offer.media[index];
    let connection = m
        .connection
        .as_ref()
        .or(offer.connection.as_ref())
        .ok_or(NegotiationError::NoConnection)?;
    super::remote::check(connection, m.port, local).map_err(NegotiationError::UnsafeRemote)?;
    let telephone_event = choose_telephone_event(m, codec.clock_rate());
    let mut offer_direction = m
        .direction
        .or(offer.direction)
        .unwrap_or(Direction::SendRecv);
    if connection.is_unspecified() {
        // RFC 3264 §8.4 (from RFC 2543): c=0.0.0.0 means "do not send to me".
        offer_direction = Direction::from_flags(offer_direction.sends(), false);
    }
    let direction = offer_direction.answer_with(Direction::SendRecv);
    let remote = connection
        .ip()
        .filter(|ip| !ip.is_unspecified())
        .map(|ip| SocketAddr::new(ip, m.port));

    let media = offer
        .media
        .iter()
        .enumerate()
        .map(|(i, om)| {
            if i == index {
                let mut m = our_media(
                    local,
                    &om.proto,
                    &[(codec, pt)],
                    telephone_event.as_slice(),
                    direction,
                );
                if let Some(c) = &crypto {
                    m.extra.push(('a', local.srtp.attribute(c.tag, c.suite)));
                }
                m
            } else {
                declined(om)
            }
        })
        .collect();
    Ok(Answer {
        sdp: session(local, media),
        negotiated: Negotiated {
            codec,
            payload_type: pt,
            telephone_event,
            remote,
            direction,
            remote_ptime: m.ptime,
            remote_fmtp: m.fmtp(pt).map(str::to_string),
            media_index: index,
            srtp: crypto.map(|c| keys(&local.srtp, c)),
        },
    })
}

/// An audio line that is not disabled (its transport is the policy's to judge).
pub(super) fn is_audio(m: &MediaDescription) -> bool {
    m.media.eq_ignore_ascii_case("audio") && m.port != 0
}

/// The keys of a stream: ours from `sdes`, the peer's from its line.
pub(super) fn keys(sdes: &Sdes, theirs: Crypto) -> SrtpKeys {
    SrtpKeys {
        suite: theirs.suite,
        local: sdes.key.clone(),
        remote: theirs.key,
    }
}

/// The first codec in OUR order that the line offers, with the offer's payload type.
fn choose_codec(m: &MediaDescription, ours: &[Codec]) -> Option<(Codec, u8)> {
    ours.iter().find_map(|&codec| {
        m.payload_types()
            .find(|&pt| m.rtpmap(pt).is_some_and(|map| codec.matches(&map)))
            .map(|pt| (codec, pt))
    })
}

/// telephone-event at `rate` if offered, else at any rate offered (first listed).
pub(super) fn choose_telephone_event(m: &MediaDescription, rate: u32) -> Option<TelephoneEvent> {
    let events: Vec<TelephoneEvent> = m
        .payload_types()
        .filter_map(|pt| m.rtpmap(pt))
        .filter(|map| map.encoding.eq_ignore_ascii_case("telephone-event"))
        .map(|map| TelephoneEvent {
            payload_type: map.payload_type,
            clock_rate: map.clock_rate,
        })
        .collect();
    events
        .iter()
        .find(|e| e.clock_rate == rate)
        .or(events.first())
        .copied()
}

pub(super) fn describe(m: &MediaDescription, pt: u8) -> String {
    m.rtpmap(pt)
        .map(|map| map.to_string())
        .unwrap_or_else(|| format!("PT {pt}"))
}

fn telephone_event_map(pt: u8, rate: u32) -> RtpMap {
    RtpMap {
        payload_type: pt,
        encoding: "telephone-event".to_string(),
        clock_rate: rate,
        channels: None,
    }
}

pub(super) fn our_media(
    local: &LocalMedia,
    proto: &str,
    codecs: &[(Codec, u8)],
    events: &[TelephoneEvent],
    direction: Direction,
) -> MediaDescription {
    let mut formats = Vec::new();
    let mut rtpmaps = Vec::new();
    let mut fmtps = Vec::new();
    for &(codec, pt) in codecs {
        formats.push(pt.to_string());
        rtpmaps.push(codec.rtpmap(pt));
        if let Some(p) = codec.fmtp() {
            fmtps.push((pt.to_string(), p.to_string()));
        }
    }
    for te in events {
        formats.push(te.payload_type.to_string());
        rtpmaps.push(telephone_event_map(te.payload_type, te.clock_rate));
        fmtps.push((te.payload_type.to_string(), "0-15".to_string()));
    }
    MediaDescription {
        media: "audio".to_string(),
        port: local.port,
        port_count: None,
        proto: proto.to_string(),
        formats,
        connection: None,
        rtpmaps,
        fmtps,
        ptime: Some(local.ptime),
        maxptime: None,
        direction: Some(direction),
        extra: Vec::new(),
    }
}

/// A declined line: same media and proto, port 0, the offer's formats (RFC 3264 §6).
fn declined(om: &MediaDescription) -> MediaDescription {
    MediaDescription {
        media: om.media.clone(),
        port: 0,
        port_count: None,
        proto: om.proto.clone(),
        formats: om.formats.clone(),
        connection: None,
        rtpmaps: Vec::new(),
        fmtps: Vec::new(),
        ptime: None,
        maxptime: None,
        direction: None,
        extra: Vec::new(),
    }
}

pub(super) fn session(local: &LocalMedia, media: Vec<MediaDescription>) -> SessionDescription {
    let address = Address::from(local.address);
    SessionDescription {
        origin: Origin {
            username: "phonetree".to_string(),
            session_id: local.session_id.to_string(),
            session_version: local.session_version,
            address: address.clone(),
        },
        session_name: "phonetree".to_string(),
        connection: Some(address),
        timing: (0, 0),
        direction: None,
        extra: Vec::new(),
        media,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdp::parse;

    fn local(codecs: &[Codec]) -> LocalMedia {
        LocalMedia {
            codecs: codecs.to_vec(),
            ..LocalMedia::new("127.0.0.1".parse().unwrap(), 30000, 42)
        }
    }

    fn answer(sdp: &str, codecs: &[Codec]) -> Result<Answer, NegotiationError> {
        negotiate(&parse(sdp).unwrap(), &local(codecs))
    }

    fn te(pt: u8, rate: u32) -> Option<TelephoneEvent> {
        Some(TelephoneEvent {
            payload_type: pt,
            clock_rate: rate,
        })
    }

    const PREFS: [Codec; 3] = [Codec::Pcmu, Codec::Pcma, Codec::Opus];
    const OPUS_FIRST: [Codec; 3] = [Codec::Opus, Codec::Pcmu, Codec::Pcma];
    const BARESIP: &str = include_str!("testdata/baresip.sdp");
    const PJSUA: &str = include_str!("testdata/pjsua.sdp");
    const LINPHONE: &str = include_str!("testdata/linphone.sdp");
    const SIPP_PCAP: &str = include_str!("testdata/sipp_pcap.sdp");
    const SIPP_UAC: &str = include_str!("testdata/sipp_uac.sdp");
    const ASTERISK_HOLD: &str = include_str!("testdata/asterisk_hold.sdp");
    const ASTERISK_G729: &str = include_str!("testdata/asterisk_g729.sdp");

    #[test]
    fn baresip_opus_with_8khz_telephone_event() {
        let a = answer(BARESIP, &OPUS_FIRST).unwrap();
        let n = &a.negotiated;
        assert_eq!((n.codec, n.payload_type), (Codec::Opus, 111));
        assert_eq!(n.telephone_event, te(101, 8000));
        assert_eq!(n.remote, Some("192.168.1.23:10764".parse().unwrap()));
        assert_eq!(n.direction, Direction::SendRecv);
        assert_eq!(n.remote_ptime, Some(20));
        assert_eq!(n.remote_fmtp.as_deref(), Some("stereo=1;sprop-stereo=1"));
        let text = a.sdp.to_string();
        assert_eq!(
            text,
            "v=0\r\n\
             o=phonetree 42 42 IN IP4 127.0.0.1\r\n\
             s=phonetree\r\n\
             c=IN IP4 127.0.0.1\r\n\
             t=0 0\r\n\
             m=audio 30000 RTP/AVP 111 101\r\n\
             a=rtpmap:111 opus/48000/2\r\n\
             a=rtpmap:101 telephone-event/8000\r\n\
             a=fmtp:111 useinbandfec=1\r\n\
             a=fmtp:101 0-15\r\n\
             a=ptime:20\r\n\
             a=sendrecv\r\n"
        );
    }

    #[test]
    fn our_preference_order_wins_over_the_offer_order() {
        let a = answer(BARESIP, &PREFS).unwrap();
        assert_eq!(
            (a.negotiated.codec, a.negotiated.payload_type),
            (Codec::Pcmu, 0)
        );
        assert_eq!(a.negotiated.telephone_event, te(101, 8000));
        let a = answer(BARESIP, &[Codec::Pcma, Codec::Opus]).unwrap();
        assert_eq!(
            (a.negotiated.codec, a.negotiated.payload_type),
            (Codec::Pcma, 8)
        );
    }

    #[test]
    fn pjsua_picks_telephone_event_at_the_codec_rate_and_media_level_connection() {
        let a = answer(PJSUA, &OPUS_FIRST).unwrap();
        let n = &a.negotiated;
        assert_eq!(n.codec, Codec::Pcmu); // pjsua offers no Opus here
        assert_eq!(n.telephone_event, te(121, 8000));
        assert_eq!(n.remote, Some("10.0.0.5:4000".parse().unwrap()));
        let text = a.sdp.to_string();
        assert!(text.contains("m=audio 30000 RTP/AVP 0 121\r\n"), "{text}");
        assert!(text.contains("a=rtpmap:121 telephone-event/8000\r\n"));
    }

    #[test]
    fn linphone_opus_at_48khz_and_video_declined() {
        let a = answer(LINPHONE, &OPUS_FIRST).unwrap();
        let n = &a.negotiated;
        assert_eq!((n.codec, n.payload_type), (Codec::Opus, 96));
        assert_eq!(n.telephone_event, te(101, 48000));
        assert_eq!(a.sdp.media.len(), 2, "one answer line per offer line");
        assert_eq!(a.sdp.media[1].to_string(), "m=video 0 RTP/AVP 96 97\r\n");
        // Static payload types without rtpmap lines are understood.
        let a = answer(LINPHONE, &[Codec::Pcma, Codec::Pcmu]).unwrap();
        assert_eq!(
            (a.negotiated.codec, a.negotiated.payload_type),
            (Codec::Pcma, 8)
        );
        assert_eq!(a.negotiated.telephone_event, te(100, 8000));
    }

    #[test]
    fn sipp_offers() {
        let a = answer(SIPP_PCAP, &PREFS).unwrap();
        assert_eq!(a.negotiated.codec, Codec::Pcma);
        assert_eq!(a.negotiated.telephone_event, te(101, 8000));
        assert_eq!(a.negotiated.remote, Some("127.0.0.1:6000".parse().unwrap()));
        let a = answer(SIPP_UAC, &PREFS).unwrap();
        assert_eq!(a.negotiated.codec, Codec::Pcmu);
        assert_eq!(a.negotiated.telephone_event, None);
        assert!(a.sdp.to_string().contains("m=audio 30000 RTP/AVP 0\r\n"));
        assert!(!a.sdp.to_string().contains("telephone-event"));
    }

    #[test]
    fn asterisk_hold_is_answered_recvonly() {
        let a = answer(ASTERISK_HOLD, &PREFS).unwrap();
        assert_eq!(a.negotiated.codec, Codec::Pcmu); // G722 listed first, not ours
        assert_eq!(a.negotiated.direction, Direction::RecvOnly);
        assert!(a.sdp.to_string().contains("a=recvonly\r\n"));
        // Resume: the same offer with sendrecv.
        let resumed = ASTERISK_HOLD.replace("a=sendonly", "a=sendrecv");
        let a = answer(&resumed, &PREFS).unwrap();
        assert_eq!(a.negotiated.direction, Direction::SendRecv);
    }

    #[test]
    fn other_directions_are_mirrored() {
        let cases = [
            ("a=recvonly", Direction::SendOnly),
            ("a=inactive", Direction::Inactive),
            ("a=sendrecv", Direction::SendRecv),
        ];
        for (attr, ours) in cases {
            let a = answer(&ASTERISK_HOLD.replace("a=sendonly", attr), &PREFS).unwrap();
            assert_eq!(a.negotiated.direction, ours, "{attr}");
            assert!(a.sdp.to_string().contains(&format!("a={ours}\r\n")));
        }
        // Session-level direction applies when the media line has none.
        let s = SIPP_UAC.replace("t=0 0\r\n", "t=0 0\r\na=sendonly\r\n");
        assert_eq!(
            answer(&s, &PREFS).unwrap().negotiated.direction,
            Direction::RecvOnly
        );
    }

    #[test]
    fn old_style_hold_with_zero_address() {
        let s = SIPP_UAC.replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0");
        // In a first offer there is nowhere to send to: refused (488).
        assert_eq!(
            answer(&s, &PREFS).unwrap_err(),
            NegotiationError::UnsafeRemote(super::super::UnsafeRemote::Unspecified)
        );
        // In a re-INVITE it is RFC 2543 hold.
        let mut l = local(&PREFS);
        l.session_version += 1;
        let a = negotiate(&parse(&s).unwrap(), &l).unwrap();
        assert_eq!(a.negotiated.remote, None);
        assert_eq!(a.negotiated.direction, Direction::RecvOnly);
    }

    #[test]
    fn no_common_codec_is_a_typed_error_for_488() {
        let e = answer(ASTERISK_G729, &PREFS).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no common codec: offered [G729/8000, GSM/8000, telephone-event/8000], \
             supported [PCMU/8000, PCMA/8000, opus/48000/2]"
        );
        // A codec we support but did not enable is not common either.
        let e = answer(SIPP_UAC, &[Codec::Opus]).unwrap_err();
        assert!(matches!(e, NegotiationError::NoCommonCodec { .. }), "{e}");
    }

    #[test]
    fn srtp_only_and_video_only_offers_have_no_audio() {
        let s = SIPP_UAC.replace("RTP/AVP", "RTP/SAVP");
        let e = answer(&s, &PREFS).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no usable audio stream: offered [audio RTP/SAVP]"
        );
        let s = SIPP_UAC.replace("m=audio 6000", "m=audio 0");
        assert!(matches!(
            answer(&s, &PREFS),
            Err(NegotiationError::NoAudio { .. })
        ));
    }

    #[test]
    fn the_first_usable_audio_line_is_taken_and_the_others_declined() {
        let s = format!(
            "{}m=audio 6002 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n",
            SIPP_UAC.replace("RTP/AVP 0", "RTP/SAVP 0")
        );
        let a = answer(&s, &PREFS).unwrap();
        assert_eq!(a.negotiated.media_index, 1);
        assert_eq!(a.negotiated.remote, Some("127.0.0.1:6002".parse().unwrap()));
        assert_eq!(a.sdp.media[0].port, 0);
        assert_eq!(a.sdp.media[0].proto, "RTP/SAVP");
        assert_eq!(a.sdp.media[1].port, 30000);
    }

    #[test]
    fn opus_channel_count() {
        let base = "v=0\r\no=- 1 1 IN IP4 10.1.1.1\r\ns=-\r\nc=IN IP4 10.1.1.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 107\r\n";
        let a = answer(
            &format!("{base}a=rtpmap:107 OPUS/48000\r\n"),
            &[Codec::Opus],
        )
        .unwrap();
        assert_eq!(a.negotiated.payload_type, 107);
        assert!(answer(
            &format!("{base}a=rtpmap:107 opus/48000/1\r\n"),
            &[Codec::Opus]
        )
        .is_err());
    }

    #[test]
    fn reflection_targets_are_a_488_with_the_reason() {
        for (from, to, why) in [
            (
                "c=IN IP4 127.0.0.1",
                "c=IN IP4 255.255.255.255",
                "broadcast",
            ),
            ("c=IN IP4 127.0.0.1", "c=IN IP4 239.1.2.3", "multicast"),
            ("m=audio 6000", "m=audio 53", "below 1024"),
            ("m=audio 6000", "m=audio 30000", "our own"),
        ] {
            let e = answer(&SIPP_UAC.replace(from, to), &PREFS).unwrap_err();
            assert!(matches!(e, NegotiationError::UnsafeRemote(_)), "{e:?}");
            assert!(e.to_string().contains(why), "{e}");
        }
        // A loopback address is ours to refuse unless we are on loopback too.
        let public = LocalMedia::new("198.51.100.7".parse().unwrap(), 30000, 42);
        assert!(negotiate(&parse(SIPP_UAC).unwrap(), &public).is_err());
    }

    #[test]
    fn missing_connection_is_an_error() {
        let s = SIPP_UAC.replace("c=IN IP4 127.0.0.1\r\n", "");
        assert_eq!(
            answer(&s, &PREFS).unwrap_err(),
            NegotiationError::NoConnection
        );
    }

    #[test]
    fn ipv6_and_session_version() {
        let mut l = LocalMedia::new("2001:db8::7".parse().unwrap(), 40000, 9);
        l.session_version = 10;
        let offer = SIPP_UAC.replace("127.0.0.1", "192.0.2.44");
        let a = negotiate(&parse(&offer).unwrap(), &l).unwrap();
        let text = a.sdp.to_string();
        assert!(
            text.contains("o=phonetree 9 10 IN IP6 2001:db8::7\r\n"),
            "{text}"
        );
        assert!(text.contains("c=IN IP6 2001:db8::7\r\n"));
    }

    #[test]
    fn every_answer_parses_back() {
        for sdp in [BARESIP, PJSUA, LINPHONE, SIPP_PCAP, SIPP_UAC, ASTERISK_HOLD] {
            let a = answer(sdp, &OPUS_FIRST).unwrap();
            assert_eq!(parse(&a.sdp.to_string()).unwrap(), a.sdp);
        }
    }

    #[test]
    fn codec_names_from_configuration() {
        assert_eq!(Codec::from_name("PCMU"), Some(Codec::Pcmu));
        assert_eq!(Codec::from_name(" g711a "), Some(Codec::Pcma));
        assert_eq!(Codec::from_name("Opus"), Some(Codec::Opus));
        assert_eq!(Codec::from_name("G729"), None);
        assert_eq!(Codec::Opus.to_string(), "opus/48000/2");
        assert_eq!(Codec::Pcma.g711_law(), Some(Law::A));
        assert_eq!(Codec::Opus.g711_law(), None);
    }
}
