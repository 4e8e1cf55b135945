//! Call scenarios through the endpoint after the call is up: REFER + NOTIFY (blind transfer),
//! rejecting a call, NAT response routing (`received`/`rport`), compact-form headers.

use super::tests::{confirmed_call, request, status, Harness, INVITE, SIPP};
use super::*;
use crate::sip::event::{EndReason, TransferProgress};

fn refer_and_accept(h: &mut Harness, call: CallHandle) -> Inbound {
    h.ep.transfer(call, "sip:operator@pbx.example.com", h.now)
        .expect("transfer");
    let (dest, refer) = h.sent().remove(0);
    assert_eq!(dest.to_string(), SIPP);
    assert_eq!(refer.request().map(|r| r.method), Some(Method::Refer));
    assert_eq!(
        refer.header("Refer-To"),
        Some("<sip:operator@pbx.example.com>")
    );
    assert_eq!(
        refer.header("Referred-By"),
        Some("<sip:service@127.0.0.1:5060>")
    );
    let branch = refer.core.top_via().branch.clone().expect("branch");
    let resp = format!(
        "SIP/2.0 202 Accepted\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch={branch}\r\n\
         From: {}\r\nTo: {}\r\nCall-ID: 1-3377@127.0.0.1\r\nCSeq: {} REFER\r\nContent-Length: 0\r\n\r\n",
        refer.core.from.raw, refer.core.to.raw, refer.core.cseq.seq
    );
    h.recv(resp.as_bytes(), SIPP);
    assert_eq!(
        h.events(),
        vec![Event::Transfer {
            call,
            progress: TransferProgress::Accepted
        }]
    );
    refer
}

fn notify(tag: &str, cseq: u32, frag: &str) -> Vec<u8> {
    request(
        "NOTIFY",
        &format!("z9hG4bK-n{cseq}"),
        Some(tag),
        cseq,
        "Event: refer\r\nSubscription-State: active;expires=60\r\nContent-Type: message/sipfrag;version=2.0\r\n",
        frag,
    )
}

#[test]
fn refer_then_notify_sipfrag_success() {
    let mut h = Harness::new();
    let (call, tag) = confirmed_call(&mut h);
    h.sent();
    refer_and_accept(&mut h, call);
    h.recv(&notify(&tag, 2, "SIP/2.0 100 Trying\r\n"), SIPP);
    h.recv(&notify(&tag, 3, "SIP/2.0 200 OK\r\n"), SIPP);
    let codes: Vec<u16> = h.sent().iter().map(|(_, m)| status(m)).collect();
    assert_eq!(codes, vec![200, 200]);
    assert_eq!(
        h.events(),
        vec![
            Event::Transfer {
                call,
                progress: TransferProgress::Trying { status: 100 }
            },
            Event::Transfer {
                call,
                progress: TransferProgress::Succeeded
            },
        ]
    );
}

#[test]
fn refer_then_notify_busy_fails_the_transfer() {
    let mut h = Harness::new();
    let (call, tag) = confirmed_call(&mut h);
    h.sent();
    refer_and_accept(&mut h, call);
    h.recv(&notify(&tag, 2, "SIP/2.0 486 Busy Here\r\n"), SIPP);
    assert_eq!(status(&h.sent()[0].1), 200);
    assert_eq!(
        h.events(),
        vec![Event::Transfer {
            call,
            progress: TransferProgress::Failed {
                status: 486,
                reason: "486 Busy Here".into()
            }
        }]
    );
    // A NOTIFY for another event package is refused.
    h.recv(
        &request(
            "NOTIFY",
            "z9hG4bK-nx",
            Some(&tag),
            9,
            "Event: dialog\r\n",
            "",
        ),
        SIPP,
    );
    assert_eq!(status(&h.sent()[0].1), 489);
}

#[test]
fn pjsua_notify_fixture_parses_as_success() {
    // The fixture's dialog differs; what matters here is that the body reads as a success.
    let m = message::parse(include_bytes!("testdata/pjsua_notify_sipfrag.sip")).expect("parses");
    assert_eq!(
        crate::sip::info::parse_sipfrag(m.body()),
        Some((200, "OK".into()))
    );
}

#[test]
fn rejecting_a_call_sends_the_status_and_ends_it() {
    for code in [486u16, 488, 503, 404] {
        let mut h = Harness::new();
        h.recv(INVITE, SIPP);
        let call = match h.events().as_slice() {
            [Event::IncomingCall { call, .. }] => *call,
            other => panic!("{other:?}"),
        };
        h.sent();
        assert_eq!(
            h.ep.reject(call, 200, h.now),
            Err(CallError::InvalidStatus(200))
        );
        h.ep.reject(call, code, h.now).expect("reject");
        let m = h.sent().remove(0).1;
        assert_eq!(status(&m), code);
        assert!(m.core.to.tag.is_some());
        assert_eq!(
            h.events(),
            vec![Event::Ended {
                call,
                reason: EndReason::Rejected(code)
            }]
        );
    }
}

#[test]
fn nat_responses_go_to_the_source_with_received_and_rport() {
    let mut h = Harness::new();
    let inv =
        String::from_utf8(include_bytes!("testdata/pjsua_invite.sip").to_vec()).expect("utf8");
    h.recv(inv.as_bytes(), "198.51.100.9:34567");
    let (dest, trying) = h.sent().remove(0);
    assert_eq!(dest.to_string(), "198.51.100.9:34567");
    let via = trying.core.top_via();
    assert_eq!(via.received.as_deref(), Some("198.51.100.9"));
    assert_eq!(via.rport, Some(Some(34567)));
    // Without rport: received + the sent-by port.
    let mut h = Harness::new();
    h.recv(INVITE, "198.51.100.9:34567");
    assert_eq!(h.sent()[0].0.to_string(), "198.51.100.9:5061");
}

#[test]
fn compact_form_invite_creates_a_call() {
    let mut h = Harness::new();
    h.recv(
        include_bytes!("testdata/compact_invite.sip"),
        "10.0.0.5:5060",
    );
    let sent = h.sent();
    assert_eq!(status(&sent[0].1), 100);
    assert_eq!(sent[0].1.core.vias().len(), 2);
    assert!(
        matches!(h.events().as_slice(), [Event::IncomingCall { from_display: Some(d), .. }] if d == "Bob")
    );
}
