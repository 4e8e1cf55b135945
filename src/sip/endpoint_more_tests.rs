//! Endpoint scenarios beyond a single UDP call: TCP (no retransmissions), registration routed by
//! branch, unregister on shutdown, required extensions, wrong-method responses, REFER asked
//! for before the ACK.

use std::time::Duration;

use super::tests::{request, status, Harness};
use super::*;
use crate::sip::digest::Secret;
use crate::sip::event::EndReason;
use crate::sip::register::{RegistrationConfig, RegistrationState};

const INVITE: &[u8] = include_bytes!("testdata/sipp_invite.sip");

#[test]
fn tcp_call_has_no_retransmissions_and_tcp_contact() {
    let mut h = Harness::new();
    let src: SocketAddr = "127.0.0.1:40001".parse().expect("addr");
    let inv = String::from_utf8(INVITE.to_vec())
        .expect("utf8")
        .replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    h.ep.handle_datagram(inv.as_bytes(), src, Transport::Tcp, h.now);
    let sent: Vec<Transmit> = std::iter::from_fn(|| h.ep.poll_transmit()).collect();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].dest, sent[0].transport),
        (src, Transport::Tcp),
        "back on the connection"
    );
    let call = match h.events().as_slice() {
        [Event::IncomingCall { call, .. }] => *call,
        other => panic!("{other:?}"),
    };
    h.ep.answer(call, "v=0\r\n", h.now).expect("answer");
    let ok = h.sent().remove(0).1;
    assert!(ok
        .header("Contact")
        .is_some_and(|c| c.contains("transport=tcp")));
    h.advance_to(Duration::from_secs(10));
    assert!(h.sent().is_empty(), "no Timer G over TCP");
    // Timer H still guards the missing ACK.
    h.advance_to(Duration::from_secs(33));
    let bye = h.sent().remove(0).1;
    assert_eq!(bye.request().map(|r| r.method), Some(Method::Bye));
    assert_eq!(bye.core.top_via().transport, Transport::Tcp);
    assert_eq!(
        h.events(),
        vec![Event::Ended {
            call,
            reason: EndReason::AckTimeout
        }]
    );
}

#[test]
fn require_of_an_unsupported_extension_gets_420() {
    let mut h = Harness::new();
    let inv = String::from_utf8(INVITE.to_vec()).expect("utf8").replace(
        "Max-Forwards: 70\r\n",
        "Max-Forwards: 70\r\nRequire: 100rel, timer\r\n",
    );
    h.recv(inv.as_bytes(), "127.0.0.1:5061");
    let sent = h.sent();
    let codes: Vec<u16> = sent.iter().map(|(_, m)| status(m)).collect();
    assert_eq!(codes, vec![420], "stateless: no 100 Trying");
    assert_eq!(
        sent[0].1.header("Unsupported"),
        Some("100rel"),
        "timer is supported (RFC 4028)"
    );
    assert!(h.events().is_empty(), "no call for the app");
}

#[test]
fn an_invite_whose_remote_target_we_could_not_send_to_gets_400() {
    let contact = "Contact: sip:sipp@127.0.0.1:5061\r\n";
    let from = "From: sipp <sip:sipp@127.0.0.1:5061>";
    let invite = |edits: &[(&str, &str)]| {
        let mut inv = String::from_utf8(INVITE.to_vec()).expect("utf8");
        for (find, with) in edits {
            assert!(inv.contains(find), "{find}");
            inv = inv.replacen(find, with, 1);
        }
        inv
    };
    let refused = [
        // The Contact is the remote target: our BYE's request line.
        invite(&[(contact, "Contact: <sip:a@-x: 2/.1;t!=U>\r\n")]),
        // Without a Contact the From is.
        invite(&[(contact, ""), (from, "From: <sip:a@x:99999>")]),
    ];
    for inv in refused {
        let mut h = Harness::new();
        h.recv(inv.as_bytes(), "127.0.0.1:5061");
        let codes: Vec<u16> = h.sent().iter().map(|(_, m)| status(m)).collect();
        assert_eq!(codes, vec![400], "{inv}");
        assert!(h.events().is_empty(), "no call for the app: {inv}");
    }
    // A tel: caller, and a user part with `;` (RFC 3261 user-unreserved), are calls.
    let taken = [
        invite(&[(contact, ""), (from, "From: <tel:+15550001>")]),
        invite(&[(from, "From: <sip:0088;transport=tcp@127.0.0.1>")]),
    ];
    for inv in taken {
        let mut h = Harness::new();
        h.recv(inv.as_bytes(), "127.0.0.1:5061");
        assert!(h.sent().iter().all(|(_, m)| status(m) != 400), "{inv}");
        assert!(!h.events().is_empty(), "a call: {inv}");
    }
}

#[test]
fn registration_through_the_endpoint_and_unregister_on_shutdown() {
    let mut h = Harness::new();
    let registrar: SocketAddr = "127.0.0.1:5070".parse().expect("addr");
    let cfg = RegistrationConfig::new(registrar, "127.0.0.1:5070", "1001", Secret::new("secret"));
    let reg = h.ep.register(cfg, h.now);
    let (dest, first) = h.sent().remove(0);
    assert_eq!(dest, registrar);
    assert_eq!(first.request().map(|r| r.method), Some(Method::Register));
    let reply = |req: &Inbound, status: u16, method: &str, extra: &str| {
        format!(
            "SIP/2.0 {status} X\r\nVia: {}\r\nFrom: {}\r\nTo: {};tag=k\r\nCall-ID: {}\r\nCSeq: {} {method}\r\n{extra}Content-Length: 0\r\n\r\n",
            req.core.top_via().raw, req.core.from.raw, req.core.to.raw, req.core.call_id, req.core.cseq.seq
        )
    };
    // A response whose CSeq method does not match the transaction is ignored.
    h.recv(
        reply(&first, 200, "OPTIONS", "").as_bytes(),
        "127.0.0.1:5070",
    );
    assert_eq!(
        h.ep.registration_state(reg),
        Some(&RegistrationState::Registering)
    );
    // Unanswered REGISTER is retransmitted on Timer E.
    h.advance_to(Duration::from_millis(500));
    assert_eq!(h.sent().len(), 1);
    h.recv(
        reply(
            &first,
            401,
            "REGISTER",
            "WWW-Authenticate: Digest realm=\"127.0.0.1\", nonce=\"n0nce\", qop=\"auth\"\r\n",
        )
        .as_bytes(),
        "127.0.0.1:5070",
    );
    let (_, second) = h.sent().remove(0);
    assert!(second
        .header("Authorization")
        .is_some_and(|a| a.contains("nc=00000001")));
    h.recv(
        reply(&second, 200, "REGISTER", "Expires: 60\r\n").as_bytes(),
        "127.0.0.1:5070",
    );
    let until = h.now + Duration::from_secs(60);
    assert_eq!(
        h.ep.registration_state(reg),
        Some(&RegistrationState::Registered { until })
    );
    assert!(h.events().contains(&Event::Registration {
        reg,
        state: RegistrationState::Registered { until }
    }));
    // A retransmitted 200 is absorbed by the client transaction.
    h.recv(
        reply(&second, 200, "REGISTER", "Expires: 60\r\n").as_bytes(),
        "127.0.0.1:5070",
    );
    assert!(h.events().is_empty());
    // Refresh at 85 % of 60 s = 51 s.
    h.advance_to(Duration::from_secs(50));
    assert!(h.sent().is_empty());
    h.advance_to(Duration::from_millis(51_600));
    let refresh = h.sent();
    assert_eq!(refresh.len(), 1);
    // We keep asking for what is configured; the registrar decides again.
    assert_eq!(refresh[0].1.header("Expires"), Some("3600"));
    assert!(refresh[0]
        .1
        .header("Authorization")
        .is_some_and(|a| a.contains("nc=00000002")));
    h.recv(
        reply(&refresh[0].1, 200, "REGISTER", "Expires: 60\r\n").as_bytes(),
        "127.0.0.1:5070",
    );
    h.events();

    // Shutdown: stop taking calls, unregister.
    h.ep.set_accepting(false);
    assert_eq!(h.ep.unregister_all(h.now), 1);
    let (_, bye) = h.sent().remove(0);
    assert_eq!(bye.header("Expires"), Some("0"));
    assert_eq!(
        h.ep.registration_state(reg),
        Some(&RegistrationState::Unregistering)
    );
    h.recv(
        reply(&bye, 200, "REGISTER", "").as_bytes(),
        "127.0.0.1:5070",
    );
    assert_eq!(
        h.ep.registration_state(reg),
        Some(&RegistrationState::Unregistered)
    );
    h.advance_to(Duration::from_secs(600));
    assert!(
        h.sent().iter().all(|(_, m)| m.request().is_none()),
        "no REGISTER after unregistering"
    );
}

#[test]
fn offerless_invite_gets_its_answer_in_the_ack() {
    let mut h = Harness::new();
    let inv = b"INVITE sip:ivr@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-nosdp\r\nFrom: <sip:a@127.0.0.1>;tag=a1\r\nTo: <sip:ivr@127.0.0.1>\r\nCall-ID: nosdp\r\nCSeq: 1 INVITE\r\nContact: <sip:a@127.0.0.1:5061>\r\nContent-Length: 0\r\n\r\n";
    h.recv(inv, "127.0.0.1:5061");
    let call = match h.events().as_slice() {
        [Event::IncomingCall {
            call,
            sdp_offer: None,
            ..
        }] => *call,
        other => panic!("{other:?}"),
    };
    h.ep.answer(call, "v=0\r\no=offer\r\n", h.now)
        .expect("answer with our offer");
    let tag = h.sent().pop().expect("200").1.core.to.tag.expect("tag");
    let ack = format!(
        "ACK sip:ivr@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-nosdp-ack\r\nFrom: <sip:a@127.0.0.1>;tag=a1\r\nTo: <sip:ivr@127.0.0.1>;tag={tag}\r\nCall-ID: nosdp\r\nCSeq: 1 ACK\r\nContent-Type: application/sdp\r\nContent-Length: 14\r\n\r\nv=0\r\no=answer"
    );
    h.recv(ack.as_bytes(), "127.0.0.1:5061");
    assert_eq!(
        h.events(),
        vec![
            Event::SdpAnswer {
                call,
                sdp: "v=0\r\no=answer".into()
            },
            Event::CallConfirmed { call }
        ]
    );
}

#[test]
fn ringing_then_hangup_before_answer_sends_480() {
    let mut h = Harness::new();
    h.recv(INVITE, "127.0.0.1:5061");
    let call = match h.events().as_slice() {
        [Event::IncomingCall { call, .. }] => *call,
        other => panic!("{other:?}"),
    };
    h.ep.ringing(call, h.now).expect("ringing");
    h.ep.hangup(call, h.now).expect("hangup");
    let sent = h.sent();
    let codes: Vec<u16> = sent.iter().map(|(_, m)| status(m)).collect();
    assert_eq!(codes, vec![100, 180, 480]);
    assert_eq!(
        sent[1].1.core.to.tag, sent[2].1.core.to.tag,
        "one To tag for the dialog"
    );
    assert_eq!(
        h.events(),
        vec![Event::Ended {
            call,
            reason: EndReason::Rejected(480)
        }]
    );
    assert_eq!(h.ep.hangup(call, h.now), Err(CallError::UnknownCall(call)));
}

/// Mutated real messages, in-dialog requests with guessed tags and random app commands, on
/// virtual time: the endpoint must never panic and must keep answering.
#[test]
fn fuzzed_traffic_and_commands_never_panic() {
    const SEEDS: &[&[u8]] = &[
        include_bytes!("testdata/sipp_invite.sip"),
        include_bytes!("testdata/sipp_bye.sip"),
        include_bytes!("testdata/baresip_invite.sip"),
        include_bytes!("testdata/baresip_info_dtmf.sip"),
        include_bytes!("testdata/pjsua_invite.sip"),
        include_bytes!("testdata/pjsua_notify_sipfrag.sip"),
        include_bytes!("testdata/asterisk_invite.sip"),
        include_bytes!("testdata/asterisk_401.sip"),
        include_bytes!("testdata/linphone_invite_via_kamailio.sip"),
        include_bytes!("testdata/compact_invite.sip"),
        include_bytes!("testdata/kamailio_options.sip"),
    ];
    let mut rng = crate::sip::ids::IdGen::new(2024);
    let mut h = Harness::new();
    let cfg = RegistrationConfig::new(
        "127.0.0.1:5070".parse().expect("addr"),
        "127.0.0.1",
        "1001",
        Secret::new("pw"),
    );
    h.ep.register(cfg, h.now);
    let mut calls = Vec::new();
    let mut transmits = 0;
    for step in 0..3000u64 {
        let r = rng.next_u64();
        match r % 10 {
            0..=5 => {
                let mut m = SEEDS[(r >> 8) as usize % SEEDS.len()].to_vec();
                for _ in 0..(r >> 16) % 4 {
                    let x = rng.next_u64();
                    let pos = (x >> 8) as usize % m.len().max(1);
                    match x % 4 {
                        0 if pos < m.len() => m[pos] = (x >> 32) as u8,
                        1 => m.truncate(pos),
                        2 => m.insert(pos, b';'),
                        _ => m.insert(pos, b','),
                    }
                }
                let src = format!("127.0.0.{}:{}", 1 + r % 3, 5000 + (r >> 40) % 5);
                h.recv(&m, &src);
            }
            6 => h.advance_to(h.now - h.t0 + std::time::Duration::from_millis((r >> 8) % 5000)),
            _ => {
                let call = calls
                    .get((r >> 8) as usize % calls.len().max(1))
                    .copied()
                    .unwrap_or(CallHandle(step % 5));
                let _ = match (r >> 20) % 8 {
                    0 => h.ep.answer(call, "v=0\r\n", h.now),
                    1 => h.ep.reject(call, 300 + ((r >> 30) % 400) as u16, h.now),
                    2 => h.ep.hangup(call, h.now),
                    3 => h.ep.transfer(call, "sip:x@y", h.now),
                    4 => h.ep.answer_reoffer(call, "v=0\r\n", h.now),
                    5 => h.ep.ringing(call, h.now),
                    6 => h.ep.reject_reoffer(call, 488, h.now),
                    _ => {
                        h.ep.set_accepting(r % 2 == 0);
                        Ok(())
                    }
                };
            }
        }
        for ev in h.events() {
            if let Event::IncomingCall { call, .. } = ev {
                calls.push(call);
            }
        }
        transmits += h.sent_raw().len();
    }
    assert!(
        calls.len() > 20,
        "the fuzz reached real calls: {}",
        calls.len()
    );
    assert!(transmits > 500, "and answered: {transmits}");
    h.advance_to(h.now - h.t0 + std::time::Duration::from_secs(120));
    h.ep.unregister_all(h.now);
    let _ = h.sent_raw();
}

#[test]
fn the_same_invite_by_another_path_gets_482() {
    let mut h = Harness::new();
    h.recv(INVITE, "127.0.0.1:5061");
    let forked = String::from_utf8(INVITE.to_vec())
        .expect("utf8")
        .replace("branch=z9hG4bK-3377-1-0", "branch=z9hG4bK-other-path");
    h.recv(forked.as_bytes(), "127.0.0.1:5061");
    let codes: Vec<u16> = h.sent().iter().map(|(_, m)| status(m)).collect();
    assert_eq!(codes, vec![100, 482]);
    assert_eq!(h.events().len(), 1, "one call");
}

/// Replays Kamailio's real answers (captured on loopback) to our REGISTERs, with the branch
/// swapped for the one this run generated.
#[test]
fn registers_against_captured_kamailio_answers() {
    let t0 = std::time::Instant::now();
    let mut ep = Endpoint::new(EndpointConfig::new(
        "127.0.0.1:5062".parse().expect("addr"),
        3,
    ));
    let kam: SocketAddr = "127.0.0.1:5070".parse().expect("addr");
    let cfg = RegistrationConfig::new(kam, "127.0.0.1:5070", "1001", Secret::new("secret"));
    let reg = ep.register(cfg, t0);
    let next_branch = |ep: &mut Endpoint| {
        let t = ep.poll_transmit().expect("a REGISTER");
        let m = message::parse(&t.bytes).expect("parses");
        (m.core.top_via().branch.clone().expect("branch"), m)
    };
    let (b1, _) = next_branch(&mut ep);
    let c401 = String::from_utf8(include_bytes!("testdata/kamailio_401_captured.sip").to_vec())
        .expect("utf8")
        .replace("z9hG4bK7e13569147f80e6315d7", &b1);
    ep.handle_datagram(c401.as_bytes(), kam, Transport::Udp, t0);
    let (b2, second) = next_branch(&mut ep);
    let auth = second.header("Authorization").expect("credentials");
    assert!(
        auth.contains("nonce=\"awE6WWsBOS2+mRkUv8bT7/YBlfcFfLlx\"") && auth.contains("nc=00000001")
    );
    assert!(auth.contains("realm=\"127.0.0.1\"") && auth.contains("qop=auth"));
    let c200 =
        String::from_utf8(include_bytes!("testdata/kamailio_register_200_captured.sip").to_vec())
            .expect("utf8")
            .replace("z9hG4bKb4c8b6bd27d5d6e990f4", &b2);
    ep.handle_datagram(c200.as_bytes(), kam, Transport::Udp, t0);
    assert_eq!(
        ep.registration_state(reg),
        Some(&RegistrationState::Registered {
            until: t0 + Duration::from_secs(600)
        }),
        "Kamailio granted 600 s in the Contact's expires"
    );
}

#[test]
fn captured_kamailio_relayed_invite_is_answered_through_the_proxy() {
    let mut h = Harness::new();
    h.recv(
        include_bytes!("testdata/kamailio_relayed_sipp_invite_captured.sip"),
        "127.0.0.1:5070",
    );
    let call = match h.events().as_slice() {
        [Event::IncomingCall { call, to_user, .. }] => {
            assert_eq!(to_user.as_deref(), Some("1001"));
            *call
        }
        other => panic!("{other:?}"),
    };
    h.ep.answer(call, "v=0\r\n", h.now).expect("answer");
    let sent = h.sent();
    let (dest, ok) = sent.last().expect("200");
    assert_eq!(dest.to_string(), "127.0.0.1:5070");
    assert_eq!(
        ok.header("Record-Route"),
        Some("<sip:127.0.0.1:5070;lr=on;ftag=27344SIPpTag001>")
    );
    assert_eq!(ok.core.vias().len(), 2);
}

/// The whole wire ladder of one call (answer, INFO, REFER/NOTIFY, our BYE) against a golden
/// transcript, so any change in what we put on the wire shows up in review. Refresh with
/// `UPDATE_EXPECT=1 cargo test --lib sip::endpoint`.
#[test]
fn call_ladder_matches_golden_transcript() {
    use super::tests::request;
    let mut h = Harness::new();
    let mut transcript = String::new();
    let log = |h: &mut Harness, what: &str, transcript: &mut String| {
        transcript.push_str(&format!("### {what}\n"));
        for (dest, text) in h.sent_raw() {
            transcript.push_str(&format!("--> {dest}\n{}\n", text.replace("\r\n", "\n")));
        }
    };
    h.recv(INVITE, "127.0.0.1:5061");
    log(&mut h, "INVITE from sipp", &mut transcript);
    let call = match h.events().as_slice() {
        [Event::IncomingCall { call, .. }] => *call,
        other => panic!("{other:?}"),
    };
    h.ep.answer(call, "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\n", h.now)
        .expect("answer");
    let ok = h.sent().pop().expect("200").1;
    let tag = ok.core.to.tag.clone().expect("tag");
    // Re-send the 200 into the transcript by letting Timer G fire once.
    h.advance_to(Duration::from_millis(500));
    log(
        &mut h,
        "200 OK (Timer G retransmission at 500 ms)",
        &mut transcript,
    );
    h.recv(
        &request("ACK", "z9hG4bK-ack", Some(&tag), 1, "", ""),
        "127.0.0.1:5061",
    );
    let relay = "Content-Type: application/dtmf-relay\r\n";
    h.recv(
        &request(
            "INFO",
            "z9hG4bK-info",
            Some(&tag),
            2,
            relay,
            "Signal=5\r\nDuration=160\r\n",
        ),
        "127.0.0.1:5061",
    );
    log(&mut h, "INFO DTMF", &mut transcript);
    h.ep.transfer(call, "sip:operator@pbx.example.com", h.now)
        .expect("transfer");
    log(&mut h, "REFER", &mut transcript);
    h.ep.hangup(call, h.now).expect("hangup");
    log(&mut h, "BYE", &mut transcript);

    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/sip/testdata/golden/call_ladder.txt"
    );
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::create_dir_all(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src/sip/testdata/golden"
        ))
        .expect("create golden dir");
        std::fs::write(path, &transcript).expect("write golden");
    }
    let expected =
        std::fs::read_to_string(path).expect("golden file exists (UPDATE_EXPECT=1 creates it)");
    assert_eq!(
        transcript, expected,
        "wire ladder changed; review and UPDATE_EXPECT=1"
    );
}

#[test]
fn options_ping_reports_status_or_timeout() {
    let mut h = Harness::new();
    let dest: SocketAddr = "127.0.0.1:5070".parse().expect("addr");
    let ping =
        h.ep.send_options(dest, Transport::Udp, "sip:127.0.0.1:5070", h.now);
    let (to, req) = h.sent().remove(0);
    assert_eq!(to, dest);
    assert_eq!(req.request().map(|r| r.method), Some(Method::Options));
    let resp = format!(
        "SIP/2.0 200 OK\r\nVia: {}\r\nFrom: {}\r\nTo: {};tag=k\r\nCall-ID: {}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        req.core.top_via().raw, req.core.from.raw, req.core.to.raw, req.core.call_id
    );
    h.recv(resp.as_bytes(), "127.0.0.1:5070");
    assert_eq!(
        h.events(),
        vec![Event::OptionsResult {
            ping,
            status: Some(200)
        }]
    );
    let lost =
        h.ep.send_options(dest, Transport::Udp, "sip:127.0.0.1:5070", h.now);
    h.advance_to(Duration::from_secs(40));
    assert_eq!(
        h.events(),
        vec![Event::OptionsResult {
            ping: lost,
            status: None
        }]
    );
    assert_eq!(
        h.sent().len(),
        11,
        "the request, then 10 Timer E retransmissions"
    );
}

/// An INVITE answered but not yet acknowledged: (call, our To tag).
fn answered_call(h: &mut Harness) -> (CallHandle, String) {
    h.recv(INVITE, "127.0.0.1:5061");
    let call = match h.events().as_slice() {
        [Event::IncomingCall { call, .. }] => *call,
        other => panic!("{other:?}"),
    };
    h.ep.answer(call, "v=0\r\n", h.now).expect("answer");
    let ok = h.sent().pop().expect("200").1;
    (call, ok.core.to.tag.clone().expect("To tag"))
}

#[test]
fn a_transfer_before_the_ack_sends_its_refer_when_the_ack_arrives() {
    let mut h = Harness::new();
    let (call, tag) = answered_call(&mut h);
    h.ep.transfer(call, "sip:operator@pbx", h.now)
        .expect("accepted before the ACK");
    assert!(h.sent().is_empty(), "REFER needs a confirmed dialog");
    h.recv(
        &request("ACK", "z9hG4bK-ack-1", Some(&tag), 1, "", ""),
        "127.0.0.1:5061",
    );
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    let refer = &sent[0].1;
    assert_eq!(refer.request().map(|r| r.method), Some(Method::Refer));
    assert_eq!(refer.header("Refer-To"), Some("<sip:operator@pbx>"));
    assert_eq!(h.events(), vec![Event::CallConfirmed { call }]);
}

#[test]
fn a_hangup_before_the_ack_wins_over_a_waiting_transfer() {
    let mut h = Harness::new();
    let (call, tag) = answered_call(&mut h);
    h.ep.transfer(call, "sip:operator@pbx", h.now)
        .expect("transfer");
    h.ep.hangup(call, h.now).expect("hangup");
    h.recv(
        &request("ACK", "z9hG4bK-ack-1", Some(&tag), 1, "", ""),
        "127.0.0.1:5061",
    );
    let methods: Vec<_> = h
        .sent()
        .iter()
        .filter_map(|(_, m)| m.request().map(|r| r.method))
        .collect();
    assert_eq!(methods, vec![Method::Bye], "no REFER");
}

#[test]
fn a_transfer_before_the_answer_is_refused() {
    let mut h = Harness::new();
    h.recv(INVITE, "127.0.0.1:5061");
    let call = match h.events().as_slice() {
        [Event::IncomingCall { call, .. }] => *call,
        other => panic!("{other:?}"),
    };
    let err = h.ep.transfer(call, "sip:operator@pbx", h.now).unwrap_err();
    assert!(
        matches!(err, crate::sip::call::CallError::WrongState { .. }),
        "{err:?}"
    );
}
