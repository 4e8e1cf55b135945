//! The offering side of RFC 3264, for an INVITE that came without SDP (we offer in the 200 OK
//! and the answer arrives in the ACK) and for re-INVITEs we start: [`create_offer`] lists every
//! codec we support, [`process_answer`] reads what the peer picked. Codec and telephone-event
//! rules are those of [`super::negotiate`](mod@super::negotiate).

use std::net::SocketAddr;

use super::crypto::{self, SrtpPolicy};
use super::negotiate::{choose_telephone_event, describe, is_audio, keys, our_media, session};
use super::{
    Codec, Direction, LocalMedia, Negotiated, NegotiationError, SessionDescription, TelephoneEvent,
};

/// Our offer: one audio stream with every codec we support and telephone-event at each clock
/// rate in use. Fails only when `local.codecs` is empty.
pub fn create_offer(local: &LocalMedia) -> Result<SessionDescription, NegotiationError> {
    if local.codecs.is_empty() {
        return Err(NegotiationError::NoCodecsConfigured);
    }
    let codecs: Vec<(Codec, u8)> = local
        .codecs
        .iter()
        .map(|&c| (c, c.default_payload_type()))
        .collect();
    let (te8, te48) = local.telephone_event_pts;
    let mut rates: Vec<u32> = local.codecs.iter().map(|c| c.clock_rate()).collect();
    rates.sort_unstable();
    rates.dedup();
    let events: Vec<TelephoneEvent> = rates
        .into_iter()
        .map(|clock_rate| TelephoneEvent {
            payload_type: if clock_rate == 8000 { te8 } else { te48 },
            clock_rate,
        })
        .collect();
    // `required`: RTP/SAVP; `optional`: RTP/AVP with a=crypto (a peer without SRTP ignores it).
    let proto = match local.srtp.policy {
        SrtpPolicy::Required => "RTP/SAVP",
        SrtpPolicy::Off | SrtpPolicy::Optional => "RTP/AVP",
    };
    let mut m = our_media(local, proto, &codecs, &events, Direction::SendRecv);
    if local.srtp.policy != SrtpPolicy::Off {
        m.extra.extend(local.srtp.offer_attributes());
    }
    Ok(session(local, vec![m]))
}

/// Reads the answer to our [`create_offer`]: the first codec of the answer's accepted audio
/// line that we support.
pub fn process_answer(
    answer: &SessionDescription,
    local: &LocalMedia,
) -> Result<Negotiated, NegotiationError> {
    // We offered one stream, so the answer's first m= line is ours.
    let policy = local.srtp.policy;
    let usable = |m: &&super::MediaDescription| {
        is_audio(m) && (m.is_plain_rtp() || (crypto::is_savp(m) && policy != SrtpPolicy::Off))
    };
    let Some(m) = answer.media.first().filter(usable) else {
        return Err(NegotiationError::NoAudio {
            offered: answer
                .media
                .iter()
                .map(|m| format!("{} {}", m.media, m.proto))
                .collect(),
        });
    };
    let pick = m.payload_types().find_map(|pt| {
        let map = m.rtpmap(pt)?;
        local
            .codecs
            .iter()
            .find(|c| c.matches(&map))
            .map(|&c| (c, pt))
    });
    let Some((codec, pt)) = pick else {
        return Err(NegotiationError::NoCommonCodec {
            offered: m.payload_types().map(|pt| describe(m, pt)).collect(),
            supported: local.codecs.iter().map(Codec::to_string).collect(),
        });
    };
    let crypto = match policy {
        SrtpPolicy::Off => None,
        SrtpPolicy::Optional | SrtpPolicy::Required => crypto::answer_for(m),
    };
    if crypto.is_none() && (policy == SrtpPolicy::Required || crypto::is_savp(m)) {
        return Err(NegotiationError::SrtpRequired);
    }
    let connection = m
        .connection
        .as_ref()
        .or(answer.connection.as_ref())
        .ok_or(NegotiationError::NoConnection)?;
    super::remote::check(connection, m.port, local).map_err(NegotiationError::UnsafeRemote)?;
    let their = m
        .direction
        .or(answer.direction)
        .unwrap_or(Direction::SendRecv);
    Ok(Negotiated {
        codec,
        payload_type: pt,
        telephone_event: choose_telephone_event(m, codec.clock_rate()),
        remote: connection
            .ip()
            .filter(|ip| !ip.is_unspecified())
            .map(|ip| SocketAddr::new(ip, m.port)),
        // Their answer's direction, seen from our side.
        direction: Direction::from_flags(their.receives(), their.sends()),
        remote_ptime: m.ptime,
        remote_fmtp: m.fmtp(pt).map(str::to_string),
        media_index: 0,
        srtp: crypto.map(|c| keys(&local.srtp, c)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdp::{negotiate, parse};

    fn local(codecs: &[Codec]) -> LocalMedia {
        LocalMedia {
            codecs: codecs.to_vec(),
            ..LocalMedia::new("127.0.0.1".parse().unwrap(), 30000, 42)
        }
    }

    fn te(pt: u8, rate: u32) -> Option<TelephoneEvent> {
        Some(TelephoneEvent {
            payload_type: pt,
            clock_rate: rate,
        })
    }

    const OPUS_FIRST: [Codec; 3] = [Codec::Opus, Codec::Pcmu, Codec::Pcma];

    #[test]
    fn an_offer_needs_a_codec() {
        assert_eq!(
            create_offer(&local(&[])),
            Err(NegotiationError::NoCodecsConfigured)
        );
        let text = create_offer(&local(&[Codec::Pcma])).unwrap().to_string();
        assert!(text.contains("m=audio 30000 RTP/AVP 8 101\r\n"), "{text}");
    }

    #[test]
    fn our_offer_and_a_peers_answer() {
        let l = local(&OPUS_FIRST);
        let offer = create_offer(&l).unwrap();
        let text = offer.to_string();
        assert!(
            text.contains("m=audio 30000 RTP/AVP 111 0 8 101 102\r\n"),
            "{text}"
        );
        assert!(text.contains("a=rtpmap:102 telephone-event/48000\r\n"));
        // A peer that answers with our own rules picks Opus and the 48 kHz events.
        let peer = LocalMedia::new("127.0.0.1".parse().unwrap(), 5000, 1);
        let other = LocalMedia {
            port: 30002,
            ..local(&OPUS_FIRST)
        };
        let a = negotiate(&parse(&text).unwrap(), &other).unwrap();
        assert_eq!(a.negotiated.telephone_event, te(102, 48000));
        let peer_answer = negotiate(&offer, &peer).unwrap().sdp; // PCMU first for the peer
        let n = process_answer(&peer_answer, &l).unwrap();
        assert_eq!((n.codec, n.payload_type), (Codec::Pcmu, 0));
        assert_eq!(n.telephone_event, te(101, 8000));
        assert_eq!(n.remote, Some("127.0.0.1:5000".parse().unwrap()));
        assert_eq!(n.direction, Direction::SendRecv);
        // An answer that holds us: their sendonly is our recvonly.
        let mut held = peer_answer.clone();
        held.media[0].direction = Some(Direction::SendOnly);
        assert_eq!(
            process_answer(&held, &l).unwrap().direction,
            Direction::RecvOnly
        );
        // An answer that declined the stream.
        held.media[0].port = 0;
        assert!(matches!(
            process_answer(&held, &l),
            Err(NegotiationError::NoAudio { .. })
        ));
    }
}
