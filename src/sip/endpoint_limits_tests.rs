//! The load limits at the endpoint, on virtual time: one source's INVITE flood is dropped
//! past its rate while another source's call is answered; per-source and global call limits
//! answer 503 with Retry-After and free up when calls end; trusted sources carry many calls;
//! overload sheds new calls; scans leave no state; the transaction table is bounded.

use std::time::Duration;

use super::tests::{request, status, Harness};
use super::*;
use crate::policy::inbound::{InboundPolicy, Reject, SharedInbound};
use crate::policy::limits::Limits;
use crate::policy::rate::Rate;

const INVITE: &[u8] = include_bytes!("testdata/sipp_invite.sip");
const ATTACKER: &str = "198.51.100.66:5061";
const FRIEND: &str = "192.0.2.20:5061";
const PBX: &str = "192.0.2.10:5060";

/// The fixture INVITE as a new call `n` (its own Call-ID, branch and From tag).
fn invite(n: u32) -> Vec<u8> {
    String::from_utf8_lossy(INVITE)
        .replace("z9hG4bK-3377-1-0", &format!("z9hG4bK-flood-{n}"))
        .replace("1-3377@127.0.0.1", &format!("flood-{n}@127.0.0.1"))
        .replace("3377SIPpTag001", &format!("tag-{n}"))
        .into_bytes()
}

fn out_of_dialog(method: &str, n: u32) -> Vec<u8> {
    request(method, &format!("z9hG4bK-{method}-{n}"), None, 1, "", "")
}

fn limited(limits: Limits) -> Harness {
    let mut h = Harness::new();
    h.ep.set_limits(limits);
    h
}

fn calls(h: &mut Harness) -> Vec<CallHandle> {
    h.events()
        .into_iter()
        .filter_map(|e| match e {
            Event::IncomingCall { call, .. } => Some(call),
            _ => None,
        })
        .collect()
}

fn statuses(h: &mut Harness) -> Vec<u16> {
    h.sent().iter().map(|(_, m)| status(m)).collect()
}

#[test]
fn an_invite_flood_is_dropped_past_the_rate_and_another_source_still_gets_its_call() {
    let mut h = limited(Limits {
        invite: Rate::per_second(5.0),
        max_calls_per_source: Some(1000),
        ..Limits::OFF
    });
    for n in 0..20_000 {
        h.recv(&invite(n), ATTACKER);
    }
    let from_attacker = calls(&mut h).len();
    h.sent();
    assert_eq!(
        from_attacker, 10,
        "the burst (twice the rate), then nothing"
    );
    assert_eq!(h.ep.stats().rate_limited, 19_990);
    h.recv(&invite(99_999), FRIEND);
    assert_eq!(calls(&mut h).len(), 1, "the other source's call is taken");
    // A second later the attacker gets its rate's worth again, no more.
    h.now += Duration::from_secs(1);
    for n in 20_000..20_100 {
        h.recv(&invite(n), ATTACKER);
    }
    assert_eq!(calls(&mut h).len(), 5);
    eprintln!(
        "figures: 20,000 INVITEs from one source at once → 10 calls, {} dropped; the other \
         source's call taken",
        h.ep.stats().rate_limited
    );
}

#[test]
fn options_and_register_floods_are_limited_per_source_and_keep_no_state() {
    let mut h = limited(Limits {
        options: Rate::per_second(10.0),
        register: Rate::per_second(2.0),
        ..Limits::OFF
    });
    for n in 0..1000 {
        h.recv(&out_of_dialog("OPTIONS", n), ATTACKER);
        h.recv(&out_of_dialog("REGISTER", n), ATTACKER);
    }
    let codes = statuses(&mut h);
    assert_eq!(codes.iter().filter(|&&c| c == 200).count(), 20);
    assert_eq!(codes.iter().filter(|&&c| c == 405).count(), 4);
    assert_eq!(h.ep.stats().rate_limited, 2000 - 24);
    assert_eq!(
        h.ep.server_transactions(),
        0,
        "a scan leaves nothing behind"
    );
    assert_eq!(h.ep.poll_timeout(), None);
}

#[test]
fn a_source_over_its_call_share_gets_503_with_retry_after_until_a_call_ends() {
    let mut h = limited(Limits {
        max_calls_per_source: Some(3),
        ..Limits::OFF
    });
    for n in 0..5 {
        h.recv(&invite(n), ATTACKER);
    }
    let up = calls(&mut h);
    assert_eq!(up.len(), 3);
    let sent = h.sent();
    let refusals: Vec<_> = sent.iter().filter(|(_, m)| status(m) == 503).collect();
    assert_eq!(refusals.len(), 2);
    assert_eq!(refusals[0].1.header("Retry-After"), Some("5"));
    assert_eq!(h.ep.stats().source_calls_503, 2);
    // Another source is not affected.
    h.recv(&invite(10), FRIEND);
    assert_eq!(calls(&mut h).len(), 1);
    // One of the attacker's calls ends: it may place one more.
    h.ep.reject(up[0], 486, h.now).expect("reject");
    h.sent();
    h.events();
    h.recv(&invite(5), ATTACKER);
    assert_eq!(calls(&mut h).len(), 1);
    h.recv(&invite(6), ATTACKER);
    assert!(calls(&mut h).is_empty());
}

#[test]
fn max_calls_answers_503_to_everyone_and_options_say_so() {
    let mut h = limited(Limits {
        max_calls: Some(2),
        ..Limits::OFF
    });
    h.recv(&invite(0), ATTACKER);
    h.recv(&invite(1), FRIEND);
    let up = calls(&mut h);
    assert_eq!(up.len(), 2);
    h.sent();
    h.recv(&invite(2), FRIEND);
    h.recv(&out_of_dialog("OPTIONS", 1), PBX);
    let sent = h.sent();
    let codes: Vec<u16> = sent.iter().map(|(_, m)| status(m)).collect();
    assert_eq!(codes, vec![503, 503]);
    assert_eq!(
        sent[1].1.header("Retry-After"),
        Some("5"),
        "OPTIONS at max_calls"
    );
    assert_eq!(h.ep.stats().max_calls_503, 1);
    h.ep.hangup(up[1], h.now).expect("hangup");
    h.sent();
    h.events();
    h.recv(&out_of_dialog("OPTIONS", 2), PBX);
    assert_eq!(statuses(&mut h), vec![200]);
    h.recv(&invite(3), FRIEND);
    assert_eq!(calls(&mut h).len(), 1);
}

#[test]
fn a_trusted_source_carries_many_calls_and_is_not_rate_limited() {
    let mut h = limited(Limits {
        max_calls_per_source: Some(2),
        invite: Rate::per_second(1.0),
        ..Limits::OFF
    });
    let policy = InboundPolicy::new(
        true,
        vec!["192.0.2.10/32".parse().unwrap()],
        Reject::Forbidden,
    );
    h.ep.set_inbound_policy(SharedInbound::new(policy));
    for n in 0..50 {
        h.recv(&invite(n), PBX);
    }
    assert_eq!(
        calls(&mut h).len(),
        50,
        "the PBX is limited by max_calls only"
    );
    for n in 100..110 {
        h.recv(&invite(n), ATTACKER);
    }
    assert_eq!(calls(&mut h).len(), 2, "an open-policy stranger still is");
}

#[test]
fn while_overloaded_new_calls_get_503_and_calls_up_keep_working() {
    let mut h = Harness::new();
    h.recv(&invite(0), FRIEND);
    let call = calls(&mut h)[0];
    h.ep.answer(call, "v=0\r\n", h.now).expect("answer");
    let ok = h.sent().pop().expect("200").1;
    let tag = ok.core.to.tag.clone().expect("tag");
    h.ep.set_overloaded(true);
    h.recv(&invite(1), ATTACKER);
    assert_eq!(statuses(&mut h), vec![503]);
    assert_eq!(h.ep.stats().overload_503, 1);
    // The live call's BYE is still served.
    let bye = String::from_utf8_lossy(&request("BYE", "z9hG4bK-bye", Some(&tag), 2, "", ""))
        .replace("1-3377@127.0.0.1", "flood-0@127.0.0.1")
        .replace("3377SIPpTag001", "tag-0");
    h.recv(bye.as_bytes(), FRIEND);
    assert_eq!(statuses(&mut h), vec![200]);
    h.ep.set_overloaded(false);
    h.recv(&invite(2), ATTACKER);
    assert_eq!(calls(&mut h).len(), 1);
}

#[test]
fn unmatched_in_dialog_requests_and_stray_cancels_keep_no_transaction() {
    let mut h = Harness::new();
    for n in 0..500 {
        let tag = format!("nope{n}");
        h.recv(
            &request("BYE", &format!("z9hG4bK-b{n}"), Some(&tag), 2, "", ""),
            ATTACKER,
        );
        h.recv(&out_of_dialog("CANCEL", n), ATTACKER);
        h.recv(&out_of_dialog("SUBSCRIBE", n), ATTACKER);
    }
    let codes = statuses(&mut h);
    assert_eq!(codes.iter().filter(|&&c| c == 481).count(), 1000);
    assert_eq!(codes.iter().filter(|&&c| c == 405).count(), 500);
    assert_eq!(h.ep.server_transactions(), 0);
}

#[test]
fn an_info_storm_cannot_grow_the_transaction_table_past_its_bound() {
    let mut h = Harness::new();
    h.ep.set_max_server_transactions(100);
    h.recv(INVITE, FRIEND);
    let call = calls(&mut h)[0];
    h.ep.answer(call, "v=0\r\n", h.now).expect("answer");
    let tag = h
        .sent()
        .pop()
        .expect("200")
        .1
        .core
        .to
        .tag
        .clone()
        .expect("tag");
    h.recv(
        &request("ACK", "z9hG4bK-ack", Some(&tag), 1, "", ""),
        FRIEND,
    );
    h.events();
    for n in 0..1000 {
        h.recv(
            &request("INFO", &format!("z9hG4bK-i{n}"), Some(&tag), 2 + n, "", ""),
            FRIEND,
        );
    }
    assert!(h.ep.server_transactions() <= 100);
    let codes = statuses(&mut h);
    assert!(codes.contains(&503), "answered 503 once full");
    assert!(h.ep.stats().table_full > 800);
    // Timer J frees the table; the call is still up.
    h.advance_to(Duration::from_secs(40));
    assert_eq!(h.ep.active_calls(), 1);
    assert!(h.ep.server_transactions() <= 1);
}

#[test]
fn a_stream_of_junk_gets_a_few_400s_not_one_per_message() {
    let mut h = limited(Limits {
        options: Rate::per_second(10.0),
        ..Limits::OFF
    });
    for n in 0..1000 {
        let junk = format!(
            "INVITE sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.66:5061;branch=z9hG4bK-j{n}\r\n\
             CSeq: banana\r\n\r\n"
        );
        h.recv(junk.as_bytes(), ATTACKER);
    }
    let answers = h.sent_raw().len();
    assert_eq!(answers, 20, "the burst of the OPTIONS rate");
}
