//! Fuzzing entry points: one function per parser or state machine that reads outside input,
//! each taking arbitrary bytes and panicking only on a bug (a broken invariant). The libFuzzer
//! targets in `fuzz/fuzz_targets/` are one line each around these; keeping the harnesses here
//! means the committed seeds (`fuzz/seeds/<target>/`) and every crash turned regression test
//! (`tests/fuzz_regressions.rs`) run through exactly the same code in `cargo test`, with no
//! fuzzing toolchain. Not a stable API (`doc(hidden)`).
//!
//! | target | what the bytes are | invariants checked beyond "no panic" |
//! |---|---|---|
//! | [`sip_endpoint`] | SIP messages split at [`MESSAGE_SEPARATOR`], each from one of four sources, UDP or TCP, time moving in between | everything the endpoint sends parses back; no call outlives its dialog tables; tables stay bounded |
//! | [`sdp`] | one SDP body | an accepted offer's answer re-parses and names a codec we offered |
//! | [`rtp`] | RTP/RFC 4733/garbage datagrams into one call's `MediaCore` | the core keeps a deadline and sends only RTP |
//! | [`tcp_framer`] | a TCP byte stream in arbitrary chunks | frames are within the buffer and never empty |
//! | [`config`] | a `phonetree.yaml` | a bad file is problems, never a panic |
//! | [`flow_loader`] | a flow file | a program exists exactly when there are no errors |
//! | [`websocket_json`] | one websocket text frame: Twilio Media Streams (both directions), a bot's reply (Ringover protocol), an OpenAI Realtime server event | what we re-encode parses back the same; a bot's transfer target the policy admits is a URI we can send |

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::policy::inbound::{InboundPolicy, Reject, SharedInbound};
use crate::policy::limits::Limits;
use crate::policy::rate::Rate;
use crate::sip::{message, Endpoint, EndpointConfig, Event, Transport};

/// Separates messages in one [`sip_endpoint`] input.
pub const MESSAGE_SEPARATOR: &[u8] = b"\r\n--next--\r\n";

/// The SDP answer the harness gives every call it answers.
const ANSWER_SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n\
                          t=0 0\r\nm=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
                          a=rtpmap:101 telephone-event/8000\r\n";

/// SIP datagrams (and framed TCP messages) from four sources into one endpoint with limits and
/// an admission policy, the app answering, rejecting, hanging up and transferring its calls.
pub fn sip_endpoint(data: &[u8]) {
    let local: SocketAddr = "127.0.0.1:5060".parse().expect("literal address");
    let mut ep = Endpoint::new(EndpointConfig::new(local, 0x5eed));
    ep.set_limits(Limits {
        max_calls: Some(8),
        max_calls_per_source: Some(4),
        invite: Rate::per_second(50.0),
        register: Rate::per_second(5.0),
        options: Rate::per_second(50.0),
    });
    // 127.0.0.4 is refused, 127.0.0.3 trusted, the others let in.
    let policy = InboundPolicy::new(
        true,
        vec!["127.0.0.3/32".parse().expect("literal net")],
        Reject::Forbidden,
    );
    ep.set_inbound_policy(SharedInbound::new(policy));
    let sources: [SocketAddr; 4] = [
        "127.0.0.1:5061".parse().expect("literal"),
        "127.0.0.2:5080".parse().expect("literal"),
        "127.0.0.3:5060".parse().expect("literal"),
        "[::1]:5062".parse().expect("literal"),
    ];
    let t0 = Instant::now();
    let mut now = t0;
    let mut calls = Vec::new();
    for (i, chunk) in split(data, MESSAGE_SEPARATOR).enumerate() {
        // The first byte of a message picks its source, transport and the time before it.
        let (ctl, msg) = match chunk.split_first() {
            Some((c, rest)) if !rest.is_empty() && !c.is_ascii_alphabetic() => (*c, rest),
            _ => (i as u8, chunk),
        };
        let source = sources[usize::from(ctl & 3)];
        let transport = if ctl & 4 == 0 {
            Transport::Udp
        } else {
            Transport::Tcp
        };
        now += Duration::from_millis(u64::from(ctl >> 3) * 97);
        ep.handle_timeout(now);
        ep.handle_datagram(msg, source, transport, now);
        drain(&mut ep, now, &mut calls, ctl);
    }
    // Let every timer run out: transactions end, unanswered calls time out.
    for _ in 0..64 {
        let Some(at) = ep.poll_timeout() else { break };
        now = at.max(now);
        ep.handle_timeout(now);
        drain(&mut ep, now, &mut calls, 0);
        if now > t0 + Duration::from_secs(7200) {
            break;
        }
    }
    assert!(ep.server_transactions() <= crate::sip::endpoint::limits::MAX_SERVER_TRANSACTIONS);
}

/// What the app does after each input: answers or rejects new calls, sometimes hangs up or
/// transfers; checks that everything sent parses.
fn drain(ep: &mut Endpoint, now: Instant, calls: &mut Vec<crate::sip::event::CallHandle>, ctl: u8) {
    while let Some(ev) = ep.poll_event() {
        match ev {
            Event::IncomingCall { call, .. } => {
                let _ = match ctl % 5 {
                    0 => ep.reject(call, 486, now),
                    1 => ep.ringing(call, now),
                    _ => ep.answer(call, ANSWER_SDP, now),
                };
                calls.push(call);
            }
            Event::Reoffer { call, .. } => {
                let _ = ep.answer_reoffer(call, ANSWER_SDP, now);
            }
            Event::CallConfirmed { call } if ctl % 7 == 3 => {
                let _ = ep.transfer(call, "sip:1000@127.0.0.1", now);
            }
            Event::Dtmf { call, .. } if ctl % 3 == 0 => {
                let _ = ep.hangup(call, now);
            }
            _ => {}
        }
    }
    while let Some(t) = ep.poll_transmit() {
        if let Err((e, _)) = message::parse(&t.bytes) {
            // By design a 400/501 to a request that lacks a mandatory header (or has it in a
            // form we cannot echo) lacks it too, and its Warning says which (a client still
            // matches it by Via branch and CSeq); a 501 names the unknown method in its CSeq,
            // which our parser (known methods only) refuses. Anything else we send must parse.
            let by_design = match &e {
                message::ParseError::MissingHeader(_) => true,
                message::ParseError::BadHeader {
                    name: "CSeq",
                    value,
                } => {
                    let mut it = value.split_whitespace();
                    it.next().is_some_and(|n| n.parse::<u32>().is_ok())
                        && it.next().is_some_and(message::is_token)
                        && it.next().is_none()
                }
                _ => false,
            };
            let answers_a_broken_request = by_design
                && (t.bytes.starts_with(b"SIP/2.0 400 ") || t.bytes.starts_with(b"SIP/2.0 501 "));
            if answers_a_broken_request {
                continue;
            }
            panic!(
                "we sent a message our parser refuses ({e}):\n{}",
                String::from_utf8_lossy(&t.bytes)
            );
        }
    }
}

/// One SDP offer: parse, negotiate against our usual media under each `srtp` policy, re-parse
/// our answer (an SRTP answer must carry our `a=crypto` line).
pub fn sdp(data: &[u8]) {
    use crate::sdp::{negotiate, parse, LocalMedia, Sdes, SrtpPolicy};
    let text = String::from_utf8_lossy(data);
    let Ok(offer) = parse(&text) else { return };
    for policy in [SrtpPolicy::Off, SrtpPolicy::Optional, SrtpPolicy::Required] {
        let mut local = LocalMedia::new("127.0.0.1".parse().expect("literal"), 40000, 7);
        local.refuse = vec!["127.0.0.1:5060".parse().expect("literal")];
        local.srtp = Sdes {
            policy,
            key: crate::media::srtp::MasterKey::new([7; crate::media::srtp::MASTER_LEN]),
        };
        if let Ok(answer) = negotiate(&offer, &local) {
            let again = parse(&answer.sdp.to_string());
            assert!(
                again.is_ok(),
                "our answer does not parse: {again:?}\n{}",
                answer.sdp
            );
            assert!(local.codecs.contains(&answer.negotiated.codec));
            if answer.negotiated.srtp.is_some() {
                let m = &again.expect("checked above").media[answer.negotiated.media_index];
                assert!(
                    crate::sdp::crypto::first_usable(m).is_some(),
                    "{}",
                    answer.sdp
                );
            }
            assert!(policy != SrtpPolicy::Required || answer.negotiated.srtp.is_some());
        }
        // As an answer to our own offer, too.
        if let Ok(n) = crate::sdp::process_answer(&offer, &local) {
            assert!(local.codecs.contains(&n.codec));
            assert!(policy != SrtpPolicy::Required || n.srtp.is_some());
        }
    }
}

/// Datagrams into one call's media core: length-prefixed chunks (first byte: length, then a
/// control byte picking the source and the time step).
pub fn rtp(data: &[u8]) {
    crate::engine::media::fuzz::receive(data);
}

/// A TCP byte stream cut into messages as the SIP transport does, fed in uneven chunks.
pub fn tcp_framer(data: &[u8]) {
    let mut buf: Vec<u8> = Vec::new();
    let mut rest = data;
    let mut step = 1usize;
    while !rest.is_empty() {
        let n = step.min(rest.len());
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        step = step * 3 % 1031 + 1;
        loop {
            match message::frame_len(&buf) {
                Ok(Some(len)) => {
                    assert!(len > 0 && len <= buf.len(), "frame {len} of {}", buf.len());
                    let msg: Vec<u8> = buf.drain(..len).collect();
                    let _ = message::parse(&msg);
                }
                Ok(None) if buf.len() <= message::MAX_MESSAGE_BYTES => break,
                // The transport closes such a stream.
                Ok(None) | Err(_) => return,
            }
        }
    }
}

/// A `phonetree.yaml`.
pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data).into_owned();
    let sources = crate::config::Sources {
        file: Some((text, "phonetree.yaml".into())),
        ..crate::config::Sources::default()
    };
    if let Err(e) = crate::config::load(&sources) {
        assert!(!e.problems.is_empty());
        let _ = e.to_string();
    }
}

/// A flow file.
pub fn flow_loader(data: &[u8]) {
    use crate::flow::compile::{compile, NoSubflows, SoundIndex};
    let text = String::from_utf8_lossy(data);
    let sounds = SoundIndex::new(
        "/nonexistent/sound",
        ["greeting.wav".to_string(), "bunny/menu.wav".to_string()],
    );
    let out = compile(&text, Path::new("fuzz.yaml"), &sounds, &NoSubflows);
    assert_eq!(
        out.program.is_some(),
        !crate::flow::diag::has_errors(&out.diagnostics)
    );
}

/// Splits `data` at every `sep`.
fn split<'a>(data: &'a [u8], sep: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
    let mut rest = Some(data);
    std::iter::from_fn(move || {
        let r = rest?;
        match r.windows(sep.len()).position(|w| w == sep) {
            Some(i) => {
                rest = Some(&r[i + sep.len()..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

/// One websocket text frame read by every parser that takes frames from outside: Twilio's side
/// and an app's side of a Media Stream, a bot's reply, an OpenAI Realtime server event; and the
/// same bytes as a binary PCM frame.
pub fn websocket_json(data: &[u8]) {
    use crate::policy::transfer::{TargetOrigin, TransferPolicy};
    use crate::wsmedia::{ringover, twilio};
    let text = String::from_utf8_lossy(data);
    let _ = twilio::parse_from_twilio(&text);
    if let Ok(msg) = twilio::parse_to_twilio(&text) {
        let again = twilio::parse_to_twilio(&twilio::encode_to_twilio(&msg, "MZ1"));
        assert_eq!(
            again.as_ref(),
            Ok(&msg),
            "an app's message re-encoded reads back the same"
        );
    }
    if let Ok(ringover::Reply::Transfer(target)) = ringover::parse_reply(&text) {
        let uri = ringover::transfer_uri(&target);
        let policy = TransferPolicy::new(&["sip:*@127.0.0.1", "tel:*"]).expect("literal patterns");
        if policy.check(&uri, TargetOrigin::Dynamic).is_ok() {
            let tel = uri.get(..4).is_some_and(|s| s.eq_ignore_ascii_case("tel:"));
            assert!(
                message::is_request_uri(&uri) || tel,
                "an admitted transfer target is no URI: {uri:?}"
            );
            assert!(!uri.contains(['\r', '\n', '<', '>']), "{uri:?}");
            assert!(
                uri.is_ascii(),
                "an admitted transfer target is ASCII: {uri:?}"
            );
            assert!(
                tel || uri.matches('@').count() == 1,
                "an admitted SIP transfer target names one host: {uri:?}"
            );
        }
    }
    let _ = crate::realtime::events::parse(&text);
    let samples = ringover::pcm_samples(data);
    assert_eq!(samples.len(), data.len() / 2);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every committed seed of `target` through its harness (what a fuzz run starts from).
    fn seeds(target: &str, f: fn(&[u8])) -> usize {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/seeds")
            .join(target);
        let mut n = 0;
        for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = e.expect("dir entry").path();
            let data = std::fs::read(&path).expect("seed");
            f(&data);
            n += 1;
        }
        n
    }

    #[test]
    fn the_sip_seeds_run_clean() {
        assert!(seeds("sip", sip_endpoint) >= 10);
    }

    #[test]
    fn the_websocket_seeds_run_clean() {
        assert!(seeds("websocket_json", websocket_json) >= 8);
    }

    #[test]
    fn the_sdp_seeds_run_clean() {
        assert!(seeds("sdp", sdp) >= 3);
    }

    #[test]
    fn the_rtp_seeds_run_clean() {
        assert!(seeds("rtp", rtp) >= 2);
    }

    #[test]
    fn the_tcp_seeds_run_clean() {
        assert!(seeds("tcp", tcp_framer) >= 2);
    }

    #[test]
    fn the_config_seeds_run_clean() {
        assert!(seeds("config", config) >= 2);
    }

    #[test]
    fn a_call_driven_through_the_sip_harness_reaches_its_dialog() {
        // INVITE, then the harness answers; an ACK and BYE for the dialog are dropped in by
        // CMP-guided mutation in a real run; here: the INVITE alone must not panic either way.
        let invite = include_bytes!("sip/testdata/sipp_invite.sip");
        let mut input = invite.to_vec();
        input.extend_from_slice(MESSAGE_SEPARATOR);
        input.extend_from_slice(include_bytes!("sip/testdata/sipp_bye.sip"));
        sip_endpoint(&input);
    }

    #[test]
    fn split_keeps_every_piece() {
        let v: Vec<&[u8]> = split(b"a--b----c", b"--").collect();
        assert_eq!(v, vec![&b"a"[..], b"b", b"", b"c"]);
    }
}
