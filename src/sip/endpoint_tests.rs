//! Call scenarios on virtual time through the endpoint: answer/ACK/BYE both ways, CANCEL race,
//! retransmissions, 481/405/501/400, OPTIONS, INFO DTMF, re-INVITE, drain mode (REFER, rejects
//! and NAT response routing: `endpoint_refer_tests.rs`). The [`Harness`] shared by the
//! endpoint's test modules lives here.

use std::time::Duration;

use super::*;
use crate::flow::digit::Digit;
use crate::sip::event::EndReason;

pub(super) const LOCAL: &str = "127.0.0.1:5060";
pub(super) const SIPP: &str = "127.0.0.1:5061";

pub(super) struct Harness {
    pub ep: Endpoint,
    pub t0: Instant,
    pub now: Instant,
}

impl Harness {
    pub fn new() -> Harness {
        let t0 = Instant::now();
        Harness {
            ep: Endpoint::new(EndpointConfig::new(LOCAL.parse().expect("addr"), 1)),
            t0,
            now: t0,
        }
    }

    pub fn recv(&mut self, bytes: &[u8], from: &str) {
        let src: SocketAddr = from.parse().expect("addr");
        self.ep
            .handle_datagram(bytes, src, Transport::Udp, self.now);
    }

    /// Everything sent since the last call, parsed.
    pub fn sent(&mut self) -> Vec<(SocketAddr, Inbound)> {
        let mut v = Vec::new();
        while let Some(t) = self.ep.poll_transmit() {
            let m = message::parse(&t.bytes)
                .unwrap_or_else(|e| panic!("we sent something unparsable: {:?}", e.0));
            v.push((t.dest, m));
        }
        v
    }

    /// Everything sent since the last call, as text (for answers we cannot parse back, like a
    /// 400 to a request without Call-ID).
    pub fn sent_raw(&mut self) -> Vec<(SocketAddr, String)> {
        std::iter::from_fn(|| self.ep.poll_transmit())
            .map(|t| (t.dest, String::from_utf8_lossy(&t.bytes).into_owned()))
            .collect()
    }

    pub fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.ep.poll_event()).collect()
    }

    /// Advances virtual time to `t0 + at`, firing timers on the way.
    pub fn advance_to(&mut self, at: Duration) {
        let end = self.t0 + at;
        while let Some(due) = self.ep.poll_timeout() {
            if due > end {
                break;
            }
            self.now = due.max(self.now);
            self.ep.handle_timeout(self.now);
        }
        self.now = end;
    }
}

pub(super) fn status(m: &Inbound) -> u16 {
    m.response().map(|r| r.status_code.code()).unwrap_or(0)
}

/// A request from sipp's side of the fixtures' dialog.
pub(super) fn request(
    method: &str,
    branch: &str,
    to_tag: Option<&str>,
    cseq: u32,
    extra: &str,
    body: &str,
) -> Vec<u8> {
    let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    format!(
        "{method} sip:service@127.0.0.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5061;branch={branch}\r\n\
         From: sipp <sip:sipp@127.0.0.1:5061>;tag=3377SIPpTag001\r\n\
         To: service <sip:service@127.0.0.1:5060>{to_tag}\r\n\
         Call-ID: 1-3377@127.0.0.1\r\n\
         CSeq: {cseq} {method}\r\n\
         Contact: sip:sipp@127.0.0.1:5061\r\n\
         Max-Forwards: 70\r\n{extra}\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

pub(super) const INVITE: &[u8] = include_bytes!("testdata/sipp_invite.sip");
const INVITE_BRANCH: &str = "z9hG4bK-3377-1-0";

/// INVITE → answer → ACK; returns the call and our To tag.
pub(super) fn confirmed_call(h: &mut Harness) -> (CallHandle, String) {
    h.recv(INVITE, SIPP);
    let call = match h.events().as_slice() {
        [Event::IncomingCall { call, .. }] => *call,
        other => panic!("expected IncomingCall, got {other:?}"),
    };
    h.ep.answer(call, "v=0\r\n", h.now).expect("answer");
    let sent = h.sent();
    let ok = &sent.last().expect("200 sent").1;
    let tag = ok.core.to.tag.clone().expect("To tag on 200");
    h.recv(
        &request("ACK", "z9hG4bK-ack-1", Some(&tag), 1, "", ""),
        SIPP,
    );
    assert_eq!(h.events(), vec![Event::CallConfirmed { call }]);
    (call, tag)
}

#[test]
fn invite_100_at_once_answer_ack_then_caller_bye() {
    let mut h = Harness::new();
    h.recv(INVITE, SIPP);
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(status(&sent[0].1), 100);
    assert_eq!(sent[0].0, SIPP.parse::<SocketAddr>().expect("addr"));
    assert_eq!(sent[0].1.core.to.tag, None, "100 has no To tag");
    let ev = h.events();
    let Event::IncomingCall {
        call,
        from,
        to_user,
        sdp_offer,
        source,
        ..
    } = &ev[0]
    else {
        panic!("{ev:?}")
    };
    let call = *call;
    assert_eq!(from, "sip:sipp@127.0.0.1:5061");
    assert_eq!(to_user.as_deref(), Some("service"));
    assert!(sdp_offer
        .as_deref()
        .is_some_and(|s| s.contains("m=audio 6000")));
    assert_eq!(source.to_string(), SIPP);

    h.ep.answer(call, "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n", h.now)
        .expect("answer");
    let ok = h.sent().pop().expect("200").1;
    assert_eq!(status(&ok), 200);
    assert_eq!(ok.content_type().as_deref(), Some("application/sdp"));
    assert!(ok.body().starts_with(b"v=0"));
    assert!(ok
        .header("Contact")
        .is_some_and(|c| c.contains("127.0.0.1:5060")));
    assert!(ok.header("Allow").is_some());
    let tag = ok.core.to.tag.clone().expect("tag");

    // Not acknowledged yet: retransmitted at 500 ms.
    h.advance_to(Duration::from_millis(500));
    assert_eq!(
        h.sent().iter().map(|(_, m)| status(m)).collect::<Vec<_>>(),
        vec![200]
    );
    h.recv(
        &request("ACK", "z9hG4bK-ack-1", Some(&tag), 1, "", ""),
        SIPP,
    );
    assert_eq!(h.events(), vec![Event::CallConfirmed { call }]);
    h.advance_to(Duration::from_secs(40));
    assert!(h.sent().is_empty(), "no 200 retransmissions after the ACK");

    h.recv(
        &request("BYE", "z9hG4bK-bye-1", Some(&tag), 2, "", ""),
        SIPP,
    );
    let sent = h.sent();
    assert_eq!(status(&sent[0].1), 200);
    assert_eq!(sent[0].1.core.cseq.method, Method::Bye);
    assert_eq!(
        h.events(),
        vec![Event::Ended {
            call,
            reason: EndReason::RemoteBye
        }]
    );
    assert_eq!(h.ep.active_calls(), 0);
    // A retransmitted BYE is answered again from the transaction, not 481.
    h.recv(
        &request("BYE", "z9hG4bK-bye-1", Some(&tag), 2, "", ""),
        SIPP,
    );
    assert_eq!(status(&h.sent()[0].1), 200);
}

#[test]
fn retransmitted_invite_is_absorbed() {
    let mut h = Harness::new();
    h.recv(INVITE, SIPP);
    h.recv(INVITE, SIPP);
    let codes: Vec<u16> = h.sent().iter().map(|(_, m)| status(m)).collect();
    assert_eq!(codes, vec![100, 100]);
    assert_eq!(h.events().len(), 1, "one IncomingCall");
    assert_eq!(h.ep.active_calls(), 1);
}

#[test]
fn cancel_before_answer_gets_200_and_487_then_ack() {
    let mut h = Harness::new();
    h.recv(INVITE, SIPP);
    let call = match h.events().as_slice() {
        [Event::IncomingCall { call, .. }] => *call,
        other => panic!("{other:?}"),
    };
    h.sent();
    h.recv(&request("CANCEL", INVITE_BRANCH, None, 1, "", ""), SIPP);
    let sent = h.sent();
    let got: Vec<(u16, Method)> = sent
        .iter()
        .map(|(_, m)| (status(m), m.core.cseq.method))
        .collect();
    assert_eq!(got, vec![(200, Method::Cancel), (487, Method::Invite)]);
    assert_eq!(
        h.events(),
        vec![Event::Ended {
            call,
            reason: EndReason::Cancelled
        }]
    );
    // The race: the app answers after the CANCEL won.
    assert_eq!(
        h.ep.answer(call, "v=0\r\n", h.now),
        Err(CallError::UnknownCall(call))
    );
    // The 487 is retransmitted until the ACK (same branch as the INVITE).
    h.advance_to(Duration::from_millis(500));
    assert_eq!(status(&h.sent()[0].1), 487);
    let tag = sent[1].1.core.to.tag.clone().expect("487 tag");
    h.recv(&request("ACK", INVITE_BRANCH, Some(&tag), 1, "", ""), SIPP);
    h.advance_to(Duration::from_secs(40));
    assert!(h.sent().is_empty());
}

#[test]
fn cancel_after_answer_gets_200_and_does_not_end_the_call() {
    let mut h = Harness::new();
    h.recv(INVITE, SIPP);
    let call = match h.events().as_slice() {
        [Event::IncomingCall { call, .. }] => *call,
        other => panic!("{other:?}"),
    };
    h.ep.answer(call, "v=0\r\n", h.now).expect("answer");
    h.sent();
    h.recv(&request("CANCEL", INVITE_BRANCH, None, 1, "", ""), SIPP);
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (status(&sent[0].1), sent[0].1.core.cseq.method),
        (200, Method::Cancel)
    );
    assert!(h.events().is_empty());
    assert_eq!(h.ep.call_state(call), Some(CallState::Answered));
}

#[test]
fn cancel_matching_nothing_gets_481() {
    let mut h = Harness::new();
    h.recv(&request("CANCEL", "z9hG4bK-nothing", None, 1, "", ""), SIPP);
    assert_eq!(status(&h.sent()[0].1), 481);
}

#[test]
fn we_hang_up_with_bye_via_route_set_and_cseq_increment() {
    let mut h = Harness::new();
    let kam = "127.0.0.1:5070";
    h.recv(
        include_bytes!("testdata/linphone_invite_via_kamailio.sip"),
        kam,
    );
    let call = match h.events().as_slice() {
        [Event::IncomingCall { call, to_user, .. }] => {
            assert_eq!(to_user.as_deref(), Some("1001"));
            *call
        }
        other => panic!("{other:?}"),
    };
    h.ep.answer(call, "v=0\r\n", h.now).expect("answer");
    let ok = h.sent().pop().expect("200").1;
    assert_eq!(
        ok.header_list("Record-Route"),
        vec!["<sip:127.0.0.1:5070;lr>".to_string()]
    );
    assert_eq!(ok.core.vias().len(), 2, "both Vias echoed");
    let tag = ok.core.to.tag.clone().expect("tag");
    // Hang up before the ACK: the BYE waits for it (RFC 3261 §15).
    h.ep.hangup(call, h.now).expect("hangup");
    assert!(h.sent().is_empty());
    let ack = format!(
        "ACK sip:1001@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKack9\r\n\
         From: <sip:linphone@127.0.0.1>;tag=Ab3dEfGh1\r\nTo: sip:1001@127.0.0.1;tag={tag}\r\n\
         Call-ID: h1J2k3L4m5\r\nCSeq: 20 ACK\r\nContent-Length: 0\r\n\r\n"
    );
    h.recv(ack.as_bytes(), kam);
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    let (dest, bye) = &sent[0];
    assert_eq!(
        dest.to_string(),
        kam,
        "in-dialog requests go where the INVITE came from"
    );
    let r = bye.request().expect("request");
    assert_eq!(r.method, Method::Bye);
    assert_eq!(
        r.uri.to_string().to_ascii_lowercase(),
        "sip:linphone@127.0.0.1:5064;transport=udp",
        "remote target"
    );
    assert_eq!(bye.header("Route"), Some("<sip:127.0.0.1:5070;lr>"));
    assert_eq!(bye.core.to.tag.as_deref(), Some("Ab3dEfGh1"));
    assert_eq!(bye.core.from.tag.as_deref(), Some(tag.as_str()));
    assert_eq!(bye.core.call_id, "h1J2k3L4m5");
    let first_cseq = bye.core.cseq.seq;
    assert_eq!(h.events(), vec![Event::CallConfirmed { call }]);
    // Unanswered BYE is retransmitted on Timer E.
    h.advance_to(Duration::from_millis(500));
    assert_eq!(h.sent()[0].1.core.cseq.seq, first_cseq);
    let branch = bye.core.top_via().branch.clone().expect("branch");
    let resp = format!(
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch={branch};rport=5060\r\n\
         From: {}\r\nTo: {}\r\nCall-ID: h1J2k3L4m5\r\nCSeq: {first_cseq} BYE\r\nContent-Length: 0\r\n\r\n",
        bye.core.from.raw, bye.core.to.raw
    );
    h.recv(resp.as_bytes(), kam);
    assert_eq!(
        h.events(),
        vec![Event::Ended {
            call,
            reason: EndReason::LocalBye { confirmed: true }
        }]
    );
}

#[test]
fn unanswered_2xx_gives_up_at_timer_h_and_sends_bye() {
    let mut h = Harness::new();
    h.recv(INVITE, SIPP);
    let call = match h.events().as_slice() {
        [Event::IncomingCall { call, .. }] => *call,
        other => panic!("{other:?}"),
    };
    h.ep.answer(call, "v=0\r\n", h.now).expect("answer");
    h.sent();
    h.advance_to(Duration::from_secs(32));
    let sent = h.sent();
    let codes: Vec<u16> = sent
        .iter()
        .filter(|(_, m)| m.response().is_some())
        .map(|(_, m)| status(m))
        .collect();
    assert_eq!(codes, vec![200; 10], "500ms,1s,2s,4s,4s… until 32 s");
    assert!(sent
        .last()
        .and_then(|(_, m)| m.request())
        .is_some_and(|r| r.method == Method::Bye));
    assert_eq!(
        h.events(),
        vec![Event::Ended {
            call,
            reason: EndReason::AckTimeout
        }]
    );
}

#[test]
fn requests_outside_any_dialog_get_481_and_unknown_methods_405_501() {
    let mut h = Harness::new();
    h.recv(&request("BYE", "z9hG4bK-b1", Some("nope"), 2, "", ""), SIPP);
    h.recv(&request("INFO", "z9hG4bK-b2", None, 2, "", ""), SIPP);
    h.recv(
        &request("SUBSCRIBE", "z9hG4bK-b3", None, 2, "Event: dialog\r\n", ""),
        SIPP,
    );
    let sent = h.sent();
    let codes: Vec<u16> = sent.iter().map(|(_, m)| status(m)).collect();
    assert_eq!(codes, vec![481, 481, 405]);
    assert!(sent[2]
        .1
        .header("Allow")
        .is_some_and(|a| a.contains("INVITE")));
    h.recv(&request("FROBNICATE", "z9hG4bK-b4", None, 2, "", ""), SIPP);
    let (dest, text) = h.sent_raw().remove(0);
    assert_eq!(dest.to_string(), SIPP);
    assert!(
        text.starts_with("SIP/2.0 501 Not Implemented\r\n"),
        "{text}"
    );
    assert!(text.contains("branch=z9hG4bK-b4") && text.contains("\r\nAllow: INVITE"));
    assert!(
        text.contains("\r\nCSeq: 2 FROBNICATE\r\n")
            && text.contains("\r\nCall-ID: 1-3377@127.0.0.1\r\n")
    );
}

#[test]
fn garbage_is_dropped_and_broken_requests_get_400() {
    let mut h = Harness::new();
    h.recv(b"\x00\x01garbage\r\n\r\n", SIPP);
    h.recv(b"SIP/2.0 200 OK\r\n\r\n", SIPP);
    h.recv(
        b"ACK sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bKa\r\n\r\n",
        SIPP,
    );
    assert!(h.sent().is_empty());
    let no_call_id = b"OPTIONS sip:ivr@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bKf2\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@y>\r\nCSeq: 1 OPTIONS\r\n\r\n";
    h.recv(no_call_id, SIPP);
    let sent = h.sent_raw();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].1.starts_with("SIP/2.0 400 Bad Request\r\n"));
    assert!(
        sent[0]
            .1
            .contains("Warning: 399 phonetree \"missing header Call-ID\""),
        "{}",
        sent[0].1
    );
    assert!(h.events().is_empty());
}

#[test]
fn options_answered_in_and_out_of_dialog_and_503_when_draining() {
    let mut h = Harness::new();
    h.recv(
        include_bytes!("testdata/kamailio_options.sip"),
        "127.0.0.1:5070",
    );
    let m = h.sent().remove(0).1;
    assert_eq!(status(&m), 200);
    assert!(m.header("Allow").is_some_and(|a| a.contains("INFO")));
    assert!(m
        .header("Accept")
        .is_some_and(|a| a.contains("application/sdp")));

    let (_call, tag) = confirmed_call(&mut h);
    h.sent();
    h.recv(
        &request("OPTIONS", "z9hG4bK-o2", Some(&tag), 3, "", ""),
        SIPP,
    );
    let m = h.sent().remove(0).1;
    assert_eq!(status(&m), 200);
    assert!(m.header("Accept").is_some());

    h.ep.set_accepting(false);
    let kept = h.ep.server_transactions();
    h.recv(&request("OPTIONS", "z9hG4bK-o3", None, 1, "", ""), SIPP);
    let mut inv = String::from_utf8(INVITE.to_vec()).expect("utf8");
    inv = inv
        .replace(INVITE_BRANCH, "z9hG4bK-new")
        .replace("1-3377@", "2-3377@");
    h.recv(inv.as_bytes(), SIPP);
    let sent = h.sent();
    let codes: Vec<u16> = sent.iter().map(|(_, m)| status(m)).collect();
    // Refusals are stateless: no 100 Trying, no transaction kept.
    assert_eq!(codes, vec![503, 503]);
    // Both say when to come back: a dispatcher's OPTIONS probe and a caller alike.
    for (_, m) in &sent {
        assert_eq!(m.header("Retry-After"), Some("60"));
    }
    // Back to taking calls (a cancelled drain): OPTIONS says 200 again, without Retry-After.
    h.ep.set_accepting(true);
    h.recv(&request("OPTIONS", "z9hG4bK-o4", None, 1, "", ""), SIPP);
    let m = h.sent().remove(0).1;
    assert_eq!(status(&m), 200);
    assert_eq!(m.header("Retry-After"), None);
    assert_eq!(h.ep.server_transactions(), kept);
    assert_eq!(h.ep.active_calls(), 1, "the running call continues");
}

#[test]
fn info_dtmf_both_content_types() {
    let mut h = Harness::new();
    let (call, tag) = confirmed_call(&mut h);
    h.sent();
    let relay = "Content-Type: application/dtmf-relay\r\n";
    h.recv(
        &request(
            "INFO",
            "z9hG4bK-i1",
            Some(&tag),
            2,
            relay,
            "Signal=5\r\nDuration=160\r\n",
        ),
        SIPP,
    );
    h.recv(
        &request(
            "INFO",
            "z9hG4bK-i2",
            Some(&tag),
            3,
            "Content-Type: application/dtmf\r\n",
            "#",
        ),
        SIPP,
    );
    h.recv(
        &request(
            "INFO",
            "z9hG4bK-i3",
            Some(&tag),
            4,
            "Content-Type: text/plain\r\n",
            "5",
        ),
        SIPP,
    );
    let codes: Vec<u16> = h.sent().iter().map(|(_, m)| status(m)).collect();
    assert_eq!(codes, vec![200, 200, 415]);
    let d = |c| Digit::from_char(c).expect("digit");
    assert_eq!(
        h.events(),
        vec![
            Event::Dtmf {
                call,
                digit: d('5'),
                duration_ms: Some(160)
            },
            Event::Dtmf {
                call,
                digit: d('#'),
                duration_ms: None
            },
        ]
    );
    // An out-of-order CSeq is refused with 500.
    h.recv(
        &request("INFO", "z9hG4bK-i4", Some(&tag), 3, relay, "Signal=1\r\n"),
        SIPP,
    );
    assert_eq!(status(&h.sent()[0].1), 500);
    assert!(h.events().is_empty());
}

#[test]
fn baresip_info_fixture_reaches_its_dialog() {
    let mut h = Harness::new();
    h.recv(
        include_bytes!("testdata/baresip_invite.sip"),
        "127.0.0.1:46123",
    );
    let call = match h.events().as_slice() {
        [Event::IncomingCall { call, .. }] => *call,
        other => panic!("{other:?}"),
    };
    h.ep.answer(call, "v=0\r\n", h.now).expect("answer");
    let tag = h.sent().pop().expect("200").1.core.to.tag.expect("tag");
    let info = String::from_utf8(include_bytes!("testdata/baresip_info_dtmf.sip").to_vec())
        .expect("utf8")
        .replace("tag=pt-1", &format!("tag={tag}"));
    h.recv(info.as_bytes(), "127.0.0.1:46123");
    let sent = h.sent();
    assert_eq!(status(&sent[0].1), 200);
    assert!(h.events().contains(&Event::Dtmf {
        call,
        digit: Digit::from_char('5').expect("digit"),
        duration_ms: Some(160)
    }));
}

#[test]
fn reinvite_surfaces_a_reoffer_and_500_retry_after_while_pending() {
    let mut h = Harness::new();
    let (call, tag) = confirmed_call(&mut h);
    h.sent();
    let sdp = "Content-Type: application/sdp\r\n";
    h.recv(
        &request(
            "INVITE",
            "z9hG4bK-re1",
            Some(&tag),
            2,
            sdp,
            "v=0\r\na=sendonly\r\n",
        ),
        SIPP,
    );
    assert_eq!(status(&h.sent()[0].1), 100);
    assert_eq!(
        h.events(),
        vec![Event::Reoffer {
            call,
            sdp_offer: Some("v=0\r\na=sendonly\r\n".into())
        }]
    );
    h.recv(
        &request("INVITE", "z9hG4bK-re2", Some(&tag), 3, sdp, "v=0\r\n"),
        SIPP,
    );
    let sent = h.sent();
    let codes: Vec<u16> = sent.iter().map(|(_, m)| status(m)).collect();
    assert_eq!(codes, vec![100, 500]);
    assert!(sent[1].1.header("Retry-After").is_some());
    h.ep.answer_reoffer(call, "v=0\r\na=recvonly\r\n", h.now)
        .expect("answer reoffer");
    let ok = h.sent().remove(0).1;
    assert_eq!((status(&ok), ok.core.cseq.seq), (200, 2));
    assert_eq!(ok.body(), b"v=0\r\na=recvonly\r\n");
    h.recv(
        &request("ACK", "z9hG4bK-re1ack", Some(&tag), 2, "", ""),
        SIPP,
    );
    h.recv(&request("ACK", "z9hG4bK-re2", Some(&tag), 3, "", ""), SIPP); // for the 500
    h.advance_to(Duration::from_secs(40));
    assert!(
        h.sent().is_empty(),
        "the re-INVITE's 2xx stopped on its ACK"
    );
    assert_eq!(h.ep.call_state(call), Some(CallState::Confirmed));
    assert!(
        h.ep.answer_reoffer(call, "v=0\r\n", h.now).is_err(),
        "nothing pending"
    );
}
