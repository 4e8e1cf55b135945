//! Outbound calls through the endpoint on virtual time: answer and BYE both ways, digest on
//! 407/401, ring timeout and CANCEL (also before any provisional response), the
//! 200-after-CANCEL race, every final status mapped to its outcome, Timer B, 2xx
//! retransmissions and forks, header injection refused, TCP, and a golden wire ladder.

use std::time::Duration;

use super::tests::{status, Harness};
use super::*;
use crate::flow::digit::Digit;
use crate::sip::dial::{DialError, DialRequest};
use crate::sip::digest::{compute_response, Algorithm, Credentials, Secret};
use crate::sip::event::{DialEnd, DialOutcome, EndReason};

const PROXY: &str = "127.0.0.1:5070";
const CALLEE: &str = "127.0.0.1:5080";
const PASSWORD: &str = "s3cret-for-alerts";
const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 101\r\n";

fn request(ring: Duration) -> DialRequest {
    DialRequest {
        target: "sip:+4930123456@pbx.example.com".into(),
        from_uri: "sip:alerts@pbx.example.com".into(),
        from_display: Some("Alerts".into()),
        next_hop: PROXY.parse().expect("addr"),
        transport: Transport::Udp,
        route: Vec::new(),
        credentials: Some(Credentials {
            username: "alerts".into(),
            password: Secret::new(PASSWORD),
        }),
        sdp_offer: OFFER.into(),
        ring_timeout: ring,
    }
}

/// A response to `req` as the far end sends it, with our headers appended.
fn reply(req: &Inbound, code: u16, to_tag: Option<&str>, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut m = build::response(req, code, to_tag);
    for (n, v) in extra {
        m = m.header(n, *v);
    }
    m.to_bytes()
}

fn answer_sdp() -> Vec<(&'static str, &'static str)> {
    vec![("Contact", "<sip:callee@127.0.0.1:5080>")]
}

fn ok_with_sdp(invite: &Inbound, tag: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut m = build::response(invite, 200, Some(tag));
    for (n, v) in extra {
        m = m.header(n, *v);
    }
    m.body("application/sdp", "v=0\r\nm=audio 50000 RTP/AVP 0\r\n")
        .to_bytes()
}

/// Starts a dial and returns the call and the INVITE as sent.
fn dial(h: &mut Harness, ring: Duration) -> (CallHandle, Inbound) {
    let call = h.ep.dial(request(ring), h.now).expect("dial");
    let mut sent = h.sent();
    assert_eq!(sent.len(), 1, "one INVITE");
    let (dest, invite) = sent.remove(0);
    assert_eq!(dest.to_string(), PROXY);
    (call, invite)
}

fn methods(sent: &[(SocketAddr, Inbound)]) -> Vec<String> {
    sent.iter()
        .map(|(_, m)| match m.request() {
            Some(r) => r.method.to_string(),
            None => status(m).to_string(),
        })
        .collect()
}

fn ended(call: CallHandle, outcome: DialOutcome, status: Option<u16>, reason: &str) -> Event {
    Event::Ended {
        call,
        reason: EndReason::NotConnected(DialEnd {
            outcome,
            status,
            reason: reason.into(),
        }),
    }
}

fn assert_nothing_held(h: &mut Harness) {
    h.advance_to(h.now - h.t0 + Duration::from_secs(120));
    assert_eq!(
        h.ep.uac.held(),
        (0, 0),
        "dials and INVITE transactions dropped"
    );
    assert_eq!(h.ep.active_calls(), 0);
}

#[test]
fn invite_carries_offer_from_contact_and_a_fresh_dialog() {
    let mut h = Harness::new();
    let (_, invite) = dial(&mut h, Duration::from_secs(30));
    let r = invite.request().expect("request");
    assert_eq!(r.method, Method::Invite);
    assert_eq!(r.uri.to_string(), "sip:+4930123456@pbx.example.com");
    assert_eq!(invite.core.from.uri, "sip:alerts@pbx.example.com");
    assert_eq!(invite.core.from.display.as_deref(), Some("Alerts"));
    assert!(invite.core.from.tag.is_some());
    assert_eq!(invite.core.to.uri, "sip:+4930123456@pbx.example.com");
    assert_eq!(invite.core.to.tag, None);
    assert_eq!(
        invite.header("Contact"),
        Some("<sip:alerts@127.0.0.1:5060>")
    );
    assert_eq!(invite.content_type().as_deref(), Some("application/sdp"));
    assert_eq!(invite.body(), OFFER.as_bytes());
    assert!(invite.header("Authorization").is_none());
    assert!(
        invite.header("Supported").is_none(),
        "no session-timer offer"
    );
}

#[test]
fn answered_call_is_acked_then_ends_with_the_callees_bye() {
    let mut h = Harness::new();
    let (call, invite) = dial(&mut h, Duration::from_secs(30));
    h.recv(&reply(&invite, 100, None, &[]), PROXY);
    h.recv(&reply(&invite, 180, Some("cal1"), &[]), PROXY);
    assert_eq!(h.events(), vec![Event::Progress { call, status: 180 }]);
    assert!(
        h.sent().is_empty(),
        "nothing answers a provisional response"
    );
    let rr = [
        ("Record-Route", "<sip:127.0.0.1:5070;lr>"),
        ("Contact", "<sip:callee@127.0.0.1:5080>"),
    ];
    h.recv(&ok_with_sdp(&invite, "cal1", &rr), PROXY);
    assert_eq!(
        h.events(),
        vec![Event::Answered {
            call,
            sdp_answer: Some("v=0\r\nm=audio 50000 RTP/AVP 0\r\n".into())
        }]
    );
    let sent = h.sent();
    assert_eq!(methods(&sent), ["ACK"]);
    let (dest, ack) = &sent[0];
    assert_eq!(dest.to_string(), PROXY, "record-routed: through the proxy");
    assert_eq!(
        ack.request().map(|r| r.uri.to_string()).as_deref(),
        Some("sip:callee@127.0.0.1:5080")
    );
    assert_eq!(ack.header("Route"), Some("<sip:127.0.0.1:5070;lr>"));
    assert_eq!(ack.core.cseq.seq, invite.core.cseq.seq);
    assert_eq!(ack.core.to.tag.as_deref(), Some("cal1"));
    assert_ne!(ack.core.top_via().branch, invite.core.top_via().branch);
    assert_eq!(h.ep.call_state(call), Some(CallState::Confirmed));

    // The callee hangs up.
    let our_tag = invite.core.from.tag.clone().expect("tag");
    let bye = format!(
        "BYE sip:alerts@127.0.0.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-p1\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-c1\r\n\
         From: <sip:+4930123456@pbx.example.com>;tag=cal1\r\n\
         To: \"Alerts\" <sip:alerts@pbx.example.com>;tag={our_tag}\r\n\
         Call-ID: {}\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n",
        invite.core.call_id
    );
    h.recv(bye.as_bytes(), PROXY);
    assert_eq!(status(&h.sent()[0].1), 200);
    assert_eq!(
        h.events(),
        vec![Event::Ended {
            call,
            reason: EndReason::RemoteBye
        }]
    );
    assert_nothing_held(&mut h);
}

#[test]
fn our_hangup_after_the_answer_sends_bye_straight_to_a_direct_contact() {
    let mut h = Harness::new();
    let (call, invite) = dial(&mut h, Duration::from_secs(30));
    h.recv(&ok_with_sdp(&invite, "c2", &answer_sdp()), PROXY);
    let ack = h.sent().remove(0);
    assert_eq!(
        ack.0.to_string(),
        CALLEE,
        "no Record-Route: the proxy left the dialog"
    );
    h.events();
    h.ep.hangup(call, h.now).expect("hangup");
    let sent = h.sent();
    assert_eq!(methods(&sent), ["BYE"]);
    assert_eq!(sent[0].0.to_string(), CALLEE);
    assert_eq!(sent[0].1.core.cseq.seq, invite.core.cseq.seq + 1);
    h.recv(&reply(&sent[0].1, 200, None, &[]), CALLEE);
    assert_eq!(
        h.events(),
        vec![Event::Ended {
            call,
            reason: EndReason::LocalBye { confirmed: true }
        }]
    );
    assert_nothing_held(&mut h);
}

fn param<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(", ").find_map(|p| {
        let (k, v) = p.trim_start_matches("Digest ").split_once('=')?;
        (k == name).then(|| v.trim_matches('"'))
    })
}

const PROXY_CHALLENGE: &str =
    "Digest realm=\"pbx.example.com\", nonce=\"n-1\", qop=\"auth\", algorithm=MD5";

#[test]
fn proxy_challenge_is_acked_and_answered_with_a_new_authenticated_invite() {
    let mut h = Harness::new();
    let (call, invite) = dial(&mut h, Duration::from_secs(30));
    h.recv(
        &reply(
            &invite,
            407,
            Some("px"),
            &[("Proxy-Authenticate", PROXY_CHALLENGE)],
        ),
        PROXY,
    );
    let sent = h.sent();
    assert_eq!(methods(&sent), ["ACK", "INVITE"]);
    let ack = &sent[0].1;
    assert_eq!(
        ack.core.top_via().branch,
        invite.core.top_via().branch,
        "same transaction"
    );
    assert_eq!(ack.core.to.tag.as_deref(), Some("px"));
    assert_eq!(ack.core.cseq.seq, invite.core.cseq.seq);
    let again = &sent[1].1;
    assert_eq!(again.core.call_id, invite.core.call_id);
    assert_eq!(again.core.from.tag, invite.core.from.tag);
    assert_eq!(again.core.cseq.seq, invite.core.cseq.seq + 1);
    assert_ne!(again.core.top_via().branch, invite.core.top_via().branch);
    let auth = again.header("Proxy-Authorization").expect("credentials");
    assert!(again.header("Authorization").is_none());
    let uri = "sip:+4930123456@pbx.example.com";
    assert_eq!(param(auth, "uri"), Some(uri));
    assert_eq!(param(auth, "username"), Some("alerts"));
    let cnonce = param(auth, "cnonce").expect("cnonce");
    let expected = compute_response(
        Algorithm::Md5,
        "alerts",
        "pbx.example.com",
        &Secret::new(PASSWORD),
        "INVITE",
        uri,
        "n-1",
        "00000001",
        cnonce,
        Some("auth"),
    );
    assert_eq!(param(auth, "response"), Some(expected.as_str()));
    assert!(!format!("{:?}{auth}", request(Duration::ZERO)).contains(PASSWORD));
    assert!(h.events().is_empty(), "a challenge is not an outcome");

    h.recv(&ok_with_sdp(again, "t9", &answer_sdp()), PROXY);
    let ack = h.sent().remove(0).1;
    assert_eq!(
        ack.header("Proxy-Authorization"),
        Some(auth),
        "the 2xx ACK repeats the INVITE's credentials (RFC 3261 §22.1)"
    );
    assert!(matches!(h.events()[..], [Event::Answered { call: c, .. }] if c == call));
}

#[test]
fn a_refused_answer_to_the_same_nonce_fails_without_a_loop() {
    let mut h = Harness::new();
    let (call, invite) = dial(&mut h, Duration::from_secs(30));
    let challenge = [("WWW-Authenticate", PROXY_CHALLENGE)];
    h.recv(&reply(&invite, 401, Some("a"), &challenge), PROXY);
    let again = h.sent().remove(1).1;
    assert!(again.header("Authorization").is_some());
    h.recv(&reply(&again, 401, Some("b"), &challenge), PROXY);
    assert_eq!(methods(&h.sent()), ["ACK"], "no third INVITE");
    assert_eq!(
        h.events(),
        vec![ended(
            call,
            DialOutcome::Failed,
            Some(401),
            "401 Unauthorized"
        )]
    );
    assert_nothing_held(&mut h);
}

#[test]
fn a_challenge_without_credentials_fails() {
    let mut h = Harness::new();
    let mut req = request(Duration::from_secs(30));
    req.credentials = None;
    let call = h.ep.dial(req, h.now).expect("dial");
    let invite = h.sent().remove(0).1;
    let challenge = [("Proxy-Authenticate", PROXY_CHALLENGE)];
    h.recv(&reply(&invite, 407, Some("a"), &challenge), PROXY);
    assert_eq!(methods(&h.sent()), ["ACK"]);
    assert_eq!(
        h.events(),
        vec![ended(
            call,
            DialOutcome::Failed,
            Some(407),
            "407 Proxy Authentication Required"
        )]
    );
}

#[test]
fn ring_timeout_cancels_and_the_487_is_no_answer() {
    let mut h = Harness::new();
    let (call, invite) = dial(&mut h, Duration::from_secs(20));
    h.advance_to(Duration::from_secs(1));
    h.sent(); // Timer A retransmission at 500 ms
    h.recv(&reply(&invite, 180, Some("r"), &[]), PROXY);
    h.events();
    h.advance_to(Duration::from_millis(19_999));
    assert!(
        h.sent().is_empty(),
        "ringing: no retransmissions, no CANCEL yet"
    );
    h.advance_to(Duration::from_secs(20));
    let sent = h.sent();
    assert_eq!(methods(&sent), ["CANCEL"]);
    let cancel = &sent[0].1;
    assert_eq!(cancel.core.top_via().branch, invite.core.top_via().branch);
    assert_eq!(cancel.core.cseq.seq, invite.core.cseq.seq);
    assert_eq!(cancel.core.to.tag, None, "CANCEL copies the INVITE's To");
    assert_eq!(
        cancel.request().map(|r| r.uri.to_string()),
        invite.request().map(|r| r.uri.to_string())
    );
    h.recv(&reply(cancel, 200, Some("r"), &[]), PROXY);
    assert!(h.events().is_empty(), "the CANCEL's 200 is not the outcome");
    h.recv(&reply(&invite, 487, Some("r"), &[]), PROXY);
    assert_eq!(methods(&h.sent()), ["ACK"]);
    assert_eq!(
        h.events(),
        vec![ended(
            call,
            DialOutcome::NoAnswer,
            Some(487),
            "487 Request Terminated"
        )]
    );
    assert_nothing_held(&mut h);
}

#[test]
fn cancel_waits_for_a_provisional_response() {
    let mut h = Harness::new();
    let (call, invite) = dial(&mut h, Duration::from_secs(2));
    h.advance_to(Duration::from_secs(3));
    assert_eq!(
        methods(&h.sent()),
        ["INVITE", "INVITE"],
        "Timer A only, no CANCEL yet"
    );
    h.recv(&reply(&invite, 100, None, &[]), PROXY);
    assert_eq!(
        methods(&h.sent()),
        ["CANCEL"],
        "sent as soon as the 100 arrived"
    );
    assert!(
        h.events().is_empty(),
        "100 Trying is not progress for the app"
    );
    h.recv(&reply(&invite, 487, Some("x"), &[]), PROXY);
    assert_eq!(
        h.events(),
        vec![ended(
            call,
            DialOutcome::NoAnswer,
            Some(487),
            "487 Request Terminated"
        )]
    );
}

#[test]
fn no_final_response_after_cancel_gives_up_at_64_t1() {
    let mut h = Harness::new();
    let (call, invite) = dial(&mut h, Duration::from_secs(5));
    h.recv(&reply(&invite, 183, Some("e"), &[]), PROXY);
    assert_eq!(h.events(), vec![Event::Progress { call, status: 183 }]);
    h.advance_to(Duration::from_secs(5));
    assert_eq!(methods(&h.sent()), ["CANCEL"]);
    h.advance_to(Duration::from_millis(36_999));
    assert!(h.events().is_empty());
    h.advance_to(Duration::from_secs(37));
    assert_eq!(
        h.events(),
        vec![ended(
            call,
            DialOutcome::NoAnswer,
            None,
            "no final response after CANCEL"
        )]
    );
    assert_nothing_held(&mut h);
}

#[test]
fn answer_racing_our_cancel_is_acked_then_hung_up() {
    let mut h = Harness::new();
    let (call, invite) = dial(&mut h, Duration::from_secs(10));
    h.recv(&reply(&invite, 180, Some("z"), &[]), PROXY);
    h.events();
    h.advance_to(Duration::from_secs(10));
    assert_eq!(methods(&h.sent()), ["CANCEL"]);
    h.recv(&ok_with_sdp(&invite, "z", &answer_sdp()), PROXY);
    let sent = h.sent();
    assert_eq!(methods(&sent), ["ACK", "BYE"]);
    assert!(h.events().is_empty(), "not reported as answered");
    assert_eq!(h.ep.call_state(call), None, "no call for the app");
    h.recv(&reply(&sent[1].1, 200, None, &[]), CALLEE);
    assert_eq!(
        h.events(),
        vec![ended(
            call,
            DialOutcome::NoAnswer,
            Some(200),
            "answered after CANCEL: ACK and BYE sent"
        )]
    );
    assert_nothing_held(&mut h);
}

#[test]
fn app_hangup_while_ringing_is_cancelled() {
    let mut h = Harness::new();
    let (call, invite) = dial(&mut h, Duration::from_secs(60));
    h.recv(&reply(&invite, 180, Some("q"), &[]), PROXY);
    h.events();
    assert!(h.ep.is_dialling(call));
    assert_eq!(h.ep.active_calls(), 1);
    h.ep.hangup(call, h.now).expect("cancel");
    assert_eq!(methods(&h.sent()), ["CANCEL"]);
    h.ep.hangup(call, h.now)
        .expect("a second hang-up is harmless");
    assert!(h.sent().is_empty(), "one CANCEL only");
    h.recv(&reply(&invite, 487, Some("q"), &[]), PROXY);
    assert_eq!(
        h.events(),
        vec![ended(
            call,
            DialOutcome::Cancelled,
            Some(487),
            "487 Request Terminated"
        )]
    );
}

#[test]
fn final_statuses_map_to_outcomes() {
    let cases = [
        (486, DialOutcome::Busy),
        (600, DialOutcome::Busy),
        (480, DialOutcome::NoAnswer),
        (408, DialOutcome::NoAnswer),
        (603, DialOutcome::Rejected),
        (404, DialOutcome::Failed),
        (487, DialOutcome::Failed),
        (488, DialOutcome::Failed),
        (503, DialOutcome::Failed),
        (302, DialOutcome::Failed),
    ];
    for (code, outcome) in cases {
        let mut h = Harness::new();
        let (call, invite) = dial(&mut h, Duration::from_secs(30));
        h.recv(&reply(&invite, code, Some("f"), &[]), PROXY);
        let sent = h.sent();
        assert_eq!(methods(&sent), ["ACK"], "{code}");
        assert_eq!(sent[0].1.core.cseq.method, Method::Ack);
        let reason = format!("{code} {}", build::reason_phrase(code));
        assert_eq!(
            h.events(),
            vec![ended(call, outcome, Some(code), &reason)],
            "{code}"
        );
        // A retransmitted final response is ACKed again, not reported again.
        h.recv(&reply(&invite, code, Some("f"), &[]), PROXY);
        assert_eq!(methods(&h.sent()), ["ACK"]);
        assert!(h.events().is_empty());
        assert_nothing_held(&mut h);
    }
}

#[test]
fn no_response_at_all_fails_at_timer_b() {
    let mut h = Harness::new();
    let (call, _) = dial(&mut h, Duration::from_secs(60));
    h.advance_to(Duration::from_millis(31_999));
    assert_eq!(
        h.sent().len(),
        6,
        "Timer A: 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s"
    );
    assert!(h.events().is_empty());
    h.advance_to(Duration::from_secs(32));
    assert_eq!(
        h.events(),
        vec![ended(
            call,
            DialOutcome::Failed,
            Some(408),
            "no response (Timer B)"
        )]
    );
    assert_nothing_held(&mut h);
}

#[test]
fn transport_error_fails_the_attempt() {
    let mut h = Harness::new();
    let (call, _) = dial(&mut h, Duration::from_secs(60));
    h.ep.dial_transport_error(call, "connection refused", h.now);
    assert_eq!(
        h.events(),
        vec![ended(
            call,
            DialOutcome::Failed,
            None,
            "transport error: connection refused"
        )]
    );
    assert_nothing_held(&mut h);
}

#[test]
fn retransmitted_2xx_is_acked_again_and_a_second_fork_is_hung_up() {
    let mut h = Harness::new();
    let (call, invite) = dial(&mut h, Duration::from_secs(30));
    h.recv(&ok_with_sdp(&invite, "f1", &answer_sdp()), PROXY);
    let first_ack = h.sent().remove(0).1;
    h.events();
    h.advance_to(Duration::from_millis(500));
    h.recv(&ok_with_sdp(&invite, "f1", &answer_sdp()), PROXY);
    let again = h.sent();
    assert_eq!(methods(&again), ["ACK"]);
    assert_eq!(
        again[0].1.core.top_via().branch,
        first_ack.core.top_via().branch,
        "the same ACK"
    );
    let fork = [("Contact", "<sip:other@127.0.0.1:5090>")];
    h.recv(&ok_with_sdp(&invite, "f2", &fork), PROXY);
    let sent = h.sent();
    assert_eq!(methods(&sent), ["ACK", "BYE"]);
    assert!(sent
        .iter()
        .all(|(d, m)| d.to_string() == "127.0.0.1:5090" && m.core.to.tag.as_deref() == Some("f2")));
    assert!(h.events().is_empty(), "the app keeps its one call");
    assert_eq!(h.ep.call_state(call), Some(CallState::Confirmed));
    // The first fork's call goes on; after Timer M only the call is left.
    h.advance_to(Duration::from_secs(40));
    assert_eq!(h.ep.uac.held(), (0, 0));
    assert_eq!(h.ep.active_calls(), 1);
}

#[test]
fn in_dialog_dtmf_and_reinvite_work_as_for_inbound_calls() {
    let mut h = Harness::new();
    let (call, invite) = dial(&mut h, Duration::from_secs(30));
    h.recv(&ok_with_sdp(&invite, "d1", &answer_sdp()), PROXY);
    h.sent();
    h.events();
    let our_tag = invite.core.from.tag.clone().expect("tag");
    let info = format!(
        "INFO sip:alerts@127.0.0.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-i1\r\n\
         From: <sip:+4930123456@pbx.example.com>;tag=d1\r\n\
         To: <sip:alerts@pbx.example.com>;tag={our_tag}\r\n\
         Call-ID: {}\r\nCSeq: 2 INFO\r\nContent-Type: application/dtmf-relay\r\n\
         Content-Length: 24\r\n\r\nSignal=1\r\nDuration=160\r\n",
        invite.core.call_id
    );
    h.recv(info.as_bytes(), CALLEE);
    assert_eq!(status(&h.sent()[0].1), 200);
    assert_eq!(
        h.events(),
        vec![Event::Dtmf {
            call,
            digit: Digit::from_char('1').expect("digit"),
            duration_ms: Some(160)
        }]
    );
}

#[test]
fn header_injection_through_a_number_is_refused() {
    let mut h = Harness::new();
    for target in [
        "sip:1000@pbx\r\nX-Evil: 1",
        "sip:1000 @pbx",
        "tel:+4930123",
        "sip:<1000>@pbx",
        "",
    ] {
        let mut req = request(Duration::from_secs(1));
        req.target = target.into();
        assert_eq!(
            h.ep.dial(req, h.now),
            Err(DialError::BadUri { field: "target" }),
            "{target:?}"
        );
    }
    let mut req = request(Duration::from_secs(1));
    req.route = vec!["<sip:proxy;lr>\r\nX: y".into()];
    assert_eq!(h.ep.dial(req, h.now), Err(DialError::BadRoute));
    let mut req = request(Duration::from_secs(1));
    req.from_display = Some("Evil\"\r\nX: y".into());
    h.ep.dial(req, h.now)
        .expect("a display name is sanitised, not refused");
    let invite = h.sent().remove(0).1;
    assert_eq!(invite.core.from.display.as_deref(), Some("EvilX: y"));
    assert!(invite.header("X").is_none());
}

#[test]
fn over_tcp_nothing_is_retransmitted() {
    let mut h = Harness::new();
    let mut req = request(Duration::from_secs(60));
    req.transport = Transport::Tcp;
    let call = h.ep.dial(req, h.now).expect("dial");
    let invite = h.sent().remove(0).1;
    assert_eq!(invite.core.top_via().transport, Transport::Tcp);
    assert!(invite
        .header("Contact")
        .is_some_and(|c| c.contains("transport=tcp")));
    h.advance_to(Duration::from_millis(31_999));
    assert!(h.sent().is_empty());
    h.advance_to(Duration::from_secs(32));
    assert!(matches!(&h.events()[..], [Event::Ended { call: c, .. }] if *c == call));
}

/// The whole wire ladder of an outbound call through an authenticating, record-routing proxy
/// (INVITE, 407, ACK, INVITE with credentials, 100, 180, 200, ACK, our BYE) against a golden
/// transcript. Refresh with `UPDATE_EXPECT=1 cargo test --lib sip::endpoint::uac_tests`.
#[test]
fn outbound_ladder_matches_golden_transcript() {
    let mut h = Harness::new();
    let mut transcript = String::new();
    // Logs what was sent and the events; returns the messages sent, parsed.
    let log = |h: &mut Harness, what: &str, transcript: &mut String| -> Vec<Inbound> {
        transcript.push_str(&format!("### {what}\n"));
        let mut parsed = Vec::new();
        for (dest, text) in h.sent_raw() {
            parsed.push(message::parse(text.as_bytes()).expect("we send parsable messages"));
            let text = text.replace(crate::sip::build::PRODUCT, "phonetree/VERSION");
            transcript.push_str(&format!("--> {dest}\n{}\n", text.replace("\r\n", "\n")));
        }
        for e in h.events() {
            transcript.push_str(&format!("event: {e:?}\n"));
        }
        parsed
    };
    let call =
        h.ep.dial(request(Duration::from_secs(30)), h.now)
            .expect("dial");
    let invite = log(&mut h, "dial: INVITE", &mut transcript).remove(0);
    let challenge = [("Proxy-Authenticate", PROXY_CHALLENGE)];
    h.recv(&reply(&invite, 407, Some("p407"), &challenge), PROXY);
    let again = log(&mut h, "407: ACK, INVITE with credentials", &mut transcript).remove(1);
    h.recv(&reply(&invite, 407, Some("p407"), &challenge), PROXY);
    log(&mut h, "407 retransmitted: the ACK again", &mut transcript);
    h.recv(&reply(&again, 100, None, &[]), PROXY);
    h.recv(&reply(&again, 180, Some("cal"), &[]), PROXY);
    log(&mut h, "100, 180", &mut transcript);
    let rr = [
        ("Record-Route", "<sip:127.0.0.1:5070;lr;ftag=x>"),
        ("Contact", "<sip:callee@127.0.0.1:5080>"),
    ];
    h.recv(&ok_with_sdp(&again, "cal", &rr), PROXY);
    log(&mut h, "200 OK: ACK", &mut transcript);
    h.ep.hangup(call, h.now).expect("hangup");
    let bye = log(&mut h, "our BYE", &mut transcript).remove(0);
    h.recv(&reply(&bye, 200, None, &[]), PROXY);
    log(&mut h, "200 to the BYE", &mut transcript);

    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/sip/testdata/golden/outbound_ladder.txt"
    );
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(path, &transcript).expect("write golden");
    }
    let expected =
        std::fs::read_to_string(path).expect("golden file exists (UPDATE_EXPECT=1 creates it)");
    assert_eq!(
        transcript, expected,
        "wire ladder changed; review and UPDATE_EXPECT=1"
    );
}
