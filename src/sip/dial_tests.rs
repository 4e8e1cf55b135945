//! The pure parts of the dialler: the outcome table and the ACK for a failure. Whole calls
//! through the endpoint are in `endpoint_uac_tests`.

use super::*;
use crate::sip::message::parse;

#[test]
fn classify_follows_the_operator_table() {
    use DialOutcome::*;
    let ring = Some(CancelCause::RingTimeout);
    let app = Some(CancelCause::App);
    let table: &[(u16, Option<CancelCause>, DialOutcome)] = &[
        (486, None, Busy),
        (600, None, Busy),
        (486, ring, Busy), // a busy answer that crossed our CANCEL is still busy
        (408, None, NoAnswer),
        (480, None, NoAnswer),
        (487, ring, NoAnswer),
        (487, app, Cancelled),
        (487, None, Failed),
        (603, None, Rejected),
        (404, None, Failed),
        (503, None, Failed),
        (301, None, Failed),
        (699, None, Failed),
    ];
    for &(status, cancel, want) in table {
        assert_eq!(classify(status, cancel), want, "{status} {cancel:?}");
    }
}

#[test]
fn ack_for_a_failure_keeps_the_invite_transaction_and_takes_the_to_tag() {
    let invite = build::request(
        Method::Invite,
        "sip:1000@pbx",
        "127.0.0.1:5060",
        Transport::Udp,
        "z9hG4bKabc",
        "<sip:a@pbx>;tag=l",
        "<sip:1000@pbx>",
        "cid@h",
        7,
    )
    .header("Route", "<sip:proxy;lr>")
    .header("Contact", "<sip:a@127.0.0.1:5060>")
    .body("application/sdp", "v=0\r\n");
    let resp = parse(
        &build::response(&parse(&invite.to_bytes()).expect("parses"), 486, Some("r")).to_bytes(),
    )
    .expect("parses");
    let ack = parse(&ack_for_failure(&invite, &resp)).expect("ACK parses");
    let r = ack.request().expect("a request");
    assert_eq!(r.method, Method::Ack);
    assert_eq!(r.uri.to_string(), "sip:1000@pbx");
    assert_eq!(ack.core.top_via().branch.as_deref(), Some("z9hG4bKabc"));
    assert_eq!(ack.core.to.tag.as_deref(), Some("r"));
    assert_eq!(ack.core.cseq.seq, 7);
    assert_eq!(ack.header("Route"), Some("<sip:proxy;lr>"));
    assert!(ack.header("Contact").is_none());
    assert!(ack.body().is_empty());
}

#[test]
fn dial_errors_name_the_field_never_the_value() {
    let e = DialError::BadUri { field: "target" };
    assert_eq!(e.to_string(), "target is not a usable SIP URI");
}
