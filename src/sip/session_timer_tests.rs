//! RFC 4028 session timers through the endpoint, on virtual time: the 2xx carries the
//! negotiated `Session-Expires`, refreshes either way keep the call, a session nobody refreshes
//! ends with BYE, 422 for a too small interval.

use std::time::Duration;

use super::tests::{request, status, Harness};
use super::*;
use crate::sip::event::EndReason;

const SIPP: &str = "127.0.0.1:5061";
const INVITE: &[u8] = include_bytes!("testdata/sipp_invite.sip");

fn invite_with(extra: &str) -> Vec<u8> {
    String::from_utf8(INVITE.to_vec())
        .expect("utf8")
        .replace(
            "Max-Forwards: 70\r\n",
            &format!("Max-Forwards: 70\r\n{extra}"),
        )
        .into_bytes()
}

/// INVITE (with `extra` headers) → answer → ACK; returns the call, our tag and the 200.
pub(super) fn answered(h: &mut Harness, extra: &str) -> (CallHandle, String, Inbound) {
    h.recv(&invite_with(extra), SIPP);
    let call = match h.events().as_slice() {
        [Event::IncomingCall { call, .. }] => *call,
        other => panic!("expected IncomingCall, got {other:?}"),
    };
    h.ep.answer(call, "v=0\r\n", h.now).expect("answer");
    let ok = h.sent().pop().expect("200 sent").1;
    assert_eq!(status(&ok), 200);
    let tag = ok.core.to.tag.clone().expect("To tag");
    h.recv(
        &request("ACK", "z9hG4bK-ack-1", Some(&tag), 1, "", ""),
        SIPP,
    );
    assert_eq!(h.events(), vec![Event::CallConfirmed { call }]);
    (call, tag, ok)
}

/// The call ended with `SessionExpired` and nothing else happened.
fn assert_expired(h: &mut Harness, call: CallHandle) {
    assert_eq!(
        h.events(),
        vec![Event::Ended {
            call,
            reason: EndReason::SessionExpired
        }]
    );
}

fn methods(sent: &[(SocketAddr, Inbound)]) -> Vec<String> {
    sent.iter()
        .map(|(_, m)| match m.request() {
            Some(r) => r.method.to_string(),
            None => status(m).to_string(),
        })
        .collect()
}

#[test]
fn the_uac_refreshes_and_an_unrefreshed_session_ends_with_bye() {
    let mut h = Harness::new();
    let (call, tag, ok) = answered(
        &mut h,
        "Supported: timer\r\nSession-Expires: 120;refresher=uac\r\n",
    );
    assert_eq!(ok.header("Session-Expires"), Some("120;refresher=uac"));
    assert_eq!(ok.header("Require"), Some("timer"));
    assert_eq!(ok.header("Supported"), Some("timer"));
    assert!(ok.header("Allow").is_some_and(|a| a.contains("UPDATE")));

    // The UAC refreshes with a bare UPDATE at 50 s: 200 with the interval, timer restarted.
    h.advance_to(Duration::from_secs(50));
    h.recv(
        &request(
            "UPDATE",
            "z9hG4bK-upd-1",
            Some(&tag),
            2,
            "Supported: timer\r\nSession-Expires: 120;refresher=uac\r\n",
            "",
        ),
        SIPP,
    );
    let sent = h.sent();
    assert_eq!(methods(&sent), ["200"]);
    assert_eq!(
        sent[0].1.header("Session-Expires"),
        Some("120;refresher=uac")
    );
    assert!(
        sent[0].1.header("Contact").is_some(),
        "UPDATE is a target refresh"
    );

    // Nothing more: the session is ended 32 s before it would expire (50 + 120 − 32).
    h.advance_to(Duration::from_secs(137));
    assert!(methods(&h.sent()).iter().all(|m| m != "BYE"), "not yet");
    assert!(h.events().is_empty());
    h.advance_to(Duration::from_secs(138));
    assert_eq!(methods(&h.sent()), ["BYE"]);
    assert_expired(&mut h, call);
}

#[test]
fn we_refresh_with_update_when_asked_to_and_end_the_call_on_481() {
    let mut h = Harness::new();
    let (call, tag, ok) = answered(
        &mut h,
        "Supported: timer\r\nAllow: INVITE, ACK, BYE, UPDATE\r\nSession-Expires: 120;refresher=uas\r\n",
    );
    assert_eq!(ok.header("Session-Expires"), Some("120;refresher=uas"));
    h.advance_to(Duration::from_secs(59));
    assert!(h.sent().is_empty());
    h.advance_to(Duration::from_secs(60));
    let sent = h.sent();
    assert_eq!(methods(&sent), ["UPDATE"]);
    let update = &sent[0].1;
    assert_eq!(update.header("Session-Expires"), Some("120;refresher=uas"));
    assert_eq!(update.header("Require"), Some("timer"));
    assert!(update.body().is_empty(), "a refresh carries no offer");
    // Answer it 200: the next refresh is due 60 s later.
    let resp = |code: u16, reason: &str, m: &Inbound| {
        let via = m.header("Via").expect("via").to_string();
        let cseq = m.header("CSeq").expect("cseq").to_string();
        format!(
            "SIP/2.0 {code} {reason}\r\nVia: {via}\r\n\
             From: service <sip:service@127.0.0.1:5060>;tag={tag}\r\n\
             To: sipp <sip:sipp@127.0.0.1:5061>;tag=3377SIPpTag001\r\n\
             Call-ID: 1-3377@127.0.0.1\r\nCSeq: {cseq}\r\nContent-Length: 0\r\n\r\n"
        )
        .into_bytes()
    };
    h.recv(&resp(200, "OK", update), SIPP);
    h.advance_to(Duration::from_secs(119));
    assert!(h.sent().is_empty());
    h.advance_to(Duration::from_secs(120));
    let sent = h.sent();
    assert_eq!(methods(&sent), ["UPDATE"]);
    // The far end lost the dialog: BYE and the call is over.
    h.recv(
        &resp(481, "Call/Transaction Does Not Exist", &sent[0].1),
        SIPP,
    );
    assert_eq!(methods(&h.sent()), ["BYE"]);
    assert_expired(&mut h, call);
}

#[test]
fn a_too_small_interval_gets_422_and_no_call() {
    let mut h = Harness::new();
    h.recv(
        &invite_with("Supported: timer\r\nSession-Expires: 30\r\n"),
        SIPP,
    );
    let sent = h.sent();
    assert_eq!(methods(&sent), ["422"]);
    assert_eq!(sent[0].1.header("Min-SE"), Some("90"));
    assert!(h.events().is_empty());
}

#[test]
fn without_session_expires_no_timer_runs_and_a_reinvite_can_start_one() {
    let mut h = Harness::new();
    let (_call, tag, ok) = answered(&mut h, "");
    assert_eq!(ok.header("Session-Expires"), None);
    assert_eq!(ok.header("Require"), None);
    h.advance_to(Duration::from_secs(3600));
    assert!(h.sent().is_empty(), "no refresh, no BYE");
    // A re-INVITE asking for a timer starts it; its 2xx carries the interval.
    h.recv(
        &request(
            "INVITE",
            "z9hG4bK-reinv-1",
            Some(&tag),
            2,
            "Supported: timer\r\nSession-Expires: 600\r\nContent-Type: application/sdp\r\n",
            "v=0\r\n",
        ),
        SIPP,
    );
    let call = match h.events().as_slice() {
        [Event::Reoffer { call, .. }] => *call,
        other => panic!("expected a re-offer, got {other:?}"),
    };
    h.ep.answer_reoffer(call, "v=0\r\n", h.now).expect("answer");
    let ok = h.sent().pop().expect("200").1;
    assert_eq!(ok.header("Session-Expires"), Some("600;refresher=uac"));
}

#[test]
fn an_update_with_an_offer_goes_to_the_app_and_needs_no_ack() {
    let mut h = Harness::new();
    let (call, tag, _) = answered(&mut h, "Supported: timer\r\nSession-Expires: 1800\r\n");
    h.recv(
        &request(
            "UPDATE",
            "z9hG4bK-upd-2",
            Some(&tag),
            2,
            "Content-Type: application/sdp\r\n",
            "v=0\r\n",
        ),
        SIPP,
    );
    assert!(matches!(h.events().as_slice(), [Event::Reoffer { call: c, .. }] if *c == call));
    h.ep.answer_reoffer(call, "v=0\r\n", h.now).expect("answer");
    let ok = h.sent().pop().expect("200").1;
    assert_eq!(status(&ok), 200);
    assert_eq!(ok.header("Session-Expires"), Some("1800;refresher=uac"));
    // No ACK follows an UPDATE: nothing is retransmitted.
    h.advance_to(Duration::from_secs(40));
    assert!(h.sent().is_empty());
}
