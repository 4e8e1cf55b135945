//! `sip.allow` at the endpoint: refused sources get a stateless 403 or nothing, no call and no
//! transaction; listed sources and in-dialog requests are untouched; oversized datagrams are
//! dropped and counted.

use super::tests::Harness;
use super::*;
use crate::policy::inbound::{InboundPolicy, Reject, SharedInbound};

const INVITE: &[u8] = include_bytes!("testdata/sipp_invite.sip");
const REGISTRAR: &str = "192.0.2.10:5060";
const STRANGER: &str = "198.51.100.66:5061";

fn restricted(reject: Reject) -> Harness {
    let mut h = Harness::new();
    let policy = InboundPolicy::new(false, vec!["192.0.2.10/32".parse().unwrap()], reject);
    h.ep.set_inbound_policy(SharedInbound::new(policy));
    h
}

#[test]
fn a_stranger_gets_a_stateless_403_and_no_call() {
    let mut h = restricted(Reject::Forbidden);
    for _ in 0..3 {
        h.recv(INVITE, STRANGER); // with its retransmissions
    }
    let sent = h.sent();
    assert_eq!(sent.len(), 3);
    for (dest, m) in &sent {
        assert_eq!(*dest, STRANGER.parse::<SocketAddr>().unwrap());
        assert_eq!(m.response().map(|r| r.status_code.code()), Some(403));
    }
    assert!(h.events().is_empty(), "no call");
    assert_eq!(h.ep.active_calls(), 0);
    assert_eq!(
        h.ep.poll_timeout(),
        None,
        "no transaction kept for a refused source"
    );
    assert_eq!(h.ep.stats().refused_403, 3);
}

#[test]
fn silent_rejection_answers_nothing() {
    let mut h = restricted(Reject::Silent);
    h.recv(INVITE, STRANGER);
    assert!(h.sent_raw().is_empty());
    assert!(h.events().is_empty());
    assert_eq!(h.ep.stats().refused_silent, 1);
}

#[test]
fn the_registrar_still_gets_its_calls_and_options_are_not_filtered() {
    let mut h = restricted(Reject::Silent);
    h.recv(INVITE, REGISTRAR);
    assert!(matches!(
        h.events().as_slice(),
        [Event::IncomingCall { .. }]
    ));
    let text = String::from_utf8_lossy(INVITE)
        .replacen("INVITE sip:", "OPTIONS sip:", 1)
        .replace("CSeq: 1 INVITE", "CSeq: 1 OPTIONS")
        .replace("z9hG4bK-3377-1-0", "z9hG4bK-opt");
    h.recv(text.as_bytes(), STRANGER);
    let sent = h.sent();
    assert!(sent
        .iter()
        .any(|(d, m)| *d == STRANGER.parse::<SocketAddr>().unwrap()
            && m.response().map(|r| r.status_code.code()) == Some(200)));
}

#[test]
fn oversized_datagrams_are_dropped_and_counted() {
    let mut h = Harness::new();
    let mut big = INVITE.to_vec();
    big.resize(message::MAX_MESSAGE_BYTES + 1, b' ');
    h.recv(&big, "127.0.0.1:5061");
    assert!(h.sent_raw().is_empty());
    assert!(h.events().is_empty());
    assert_eq!(h.ep.stats().oversize, 1);
}
