//! `phonetree run` answers calls from a small UDP SIP client: the call ladder with RTP and an
//! RFC 4733 digit, BYE, OPTIONS, CANCEL, 488 for no common codec, 404 for an unroutable number,
//! and an INVITE without SDP.

mod run_support;

use std::time::Duration;

use run_support::{Caller, Server, MENU_FLOW};

#[test]
fn a_call_is_answered_plays_rtp_and_a_digit_moves_the_flow() {
    let srv = Server::start(&[("menu.yaml", MENU_FLOW)], &[]);
    let mut c = Caller::new(srv.sip);
    let offer = c.pcmu_offer();
    c.invite("5000", Some(&offer));
    let first = c.recv();
    assert_eq!(first.status(), Some(100), "100 Trying first: {first:?}");
    let ok = c.final_response();
    assert_eq!(ok.status(), Some(200), "{ok:?}");
    assert_eq!(ok.header("Content-Type"), Some("application/sdp"));
    assert!(ok.body.contains("a=rtpmap:0 PCMU/8000"), "{}", ok.body);
    assert!(ok.body.contains("telephone-event/8000"), "{}", ok.body);
    let rtp_dest = ok.sdp_rtp_addr().expect("RTP address in the answer");
    c.ack("5000", None);

    // The greeting arrives as PCMU from the advertised port.
    let (pt, len, from) = c.recv_rtp().expect("RTP from phonetree");
    assert_eq!((pt, len), (0, 160), "20 ms PCMU frames");
    assert_eq!(from, rtp_dest, "RTP comes from the port in the SDP answer");

    // The call shows in /api/calls while it is up.
    let (status, body) = srv.get("/api/calls");
    assert_eq!(status, 200);
    assert!(body.contains("\"flow\":\"menu\""), "{body}");
    assert!(body.contains("\"node\":\"menu\""), "{body}");

    // "1" routes to `bye`: the server hangs up with BYE.
    c.send_rfc4733(rtp_dest, 1, 101);
    let bye = loop {
        let m = c.recv();
        if m.method() == Some("BYE") {
            break m;
        }
    };
    c.reply_ok(&bye);
    assert!(srv.logged("dtmf"), "digit logged: {}", srv.log_text());
    // Caller numbers are in clear by default (`log.redact_numbers` masks them: run_call_log.rs).
    assert!(srv.logged("from=+15550001"), "{}", srv.log_text());
}

#[test]
fn the_caller_hangs_up_with_bye_and_gets_200() {
    let srv = Server::start(&[("menu.yaml", MENU_FLOW)], &[]);
    let mut c = Caller::new(srv.sip);
    let offer = c.pcmu_offer();
    c.invite("5000", Some(&offer));
    assert_eq!(c.final_response().status(), Some(200));
    c.ack("5000", None);
    c.bye("5000");
    let resp = loop {
        let m = c.recv();
        if m.status().is_some() && m.header("CSeq").is_some_and(|s| s.ends_with("BYE")) {
            break m;
        }
    };
    assert_eq!(resp.status(), Some(200));
    // The call is gone from the API.
    let end = std::time::Instant::now() + Duration::from_secs(3);
    loop {
        let (_, body) = srv.get("/api/calls");
        if body.contains("\"calls\":[]") {
            break;
        }
        assert!(std::time::Instant::now() < end, "call still listed: {body}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn options_is_answered_200() {
    let srv = Server::start(&[("menu.yaml", MENU_FLOW)], &[]);
    let mut c = Caller::new(srv.sip);
    c.options();
    assert_eq!(c.final_response().status(), Some(200));
}

#[test]
fn cancel_while_ringing_gets_487() {
    let srv = Server::start(
        &[("menu.yaml", MENU_FLOW)],
        &[("PHONETREE_SIP_ANSWER_DELAY", "10s")],
    );
    let mut c = Caller::new(srv.sip);
    let offer = c.pcmu_offer();
    let invite = c.invite("5000", Some(&offer));
    // 100 Trying, then 180 Ringing while the answer delay runs.
    let mut saw_180 = false;
    while !saw_180 {
        saw_180 = c.recv().status() == Some(180);
    }
    c.cancel(&invite, "5000");
    let mut got = Vec::new();
    while got.len() < 2 {
        let m = c.recv();
        if let Some(s) = m.status() {
            got.push((s, m.header("CSeq").unwrap_or("").to_string()));
        }
    }
    assert!(got.contains(&(200, "1 CANCEL".into())), "{got:?}");
    assert!(got.contains(&(487, "1 INVITE".into())), "{got:?}");
}

#[test]
fn no_common_codec_gets_488() {
    let srv = Server::start(&[("menu.yaml", MENU_FLOW)], &[]);
    let mut c = Caller::new(srv.sip);
    let offer = c.offer("9", &["rtpmap:9 G722/8000"]);
    c.invite("5000", Some(&offer));
    assert_eq!(c.final_response().status(), Some(488));
    assert!(srv.logged("no common codec"), "{}", srv.log_text());
}

#[test]
fn an_unknown_number_without_a_default_flow_gets_404() {
    let flow = MENU_FLOW.replace("default: true\n", "");
    let srv = Server::start(&[("menu.yaml", &flow)], &[]);
    let mut c = Caller::new(srv.sip);
    let offer = c.pcmu_offer();
    c.invite("7777", Some(&offer));
    assert_eq!(c.final_response().status(), Some(404));
}

#[test]
fn an_invite_without_sdp_gets_an_offer_and_the_ack_carries_the_answer() {
    let srv = Server::start(&[("menu.yaml", MENU_FLOW)], &[]);
    let mut c = Caller::new(srv.sip);
    c.invite("5000", None);
    let ok = c.final_response();
    assert_eq!(ok.status(), Some(200));
    assert!(
        ok.body.contains("PCMU/8000") && ok.body.contains("PCMA/8000"),
        "{}",
        ok.body
    );
    let answer = c.offer("8", &["rtpmap:8 PCMA/8000"]);
    c.ack("5000", Some(&answer));
    let (pt, _, _) = c.recv_rtp().expect("RTP after the answer in the ACK");
    assert_eq!(pt, 8, "PCMA as the ACK's answer chose");
}

#[test]
fn opus_is_answered_and_sent_as_opus() {
    let srv = Server::start(&[("menu.yaml", MENU_FLOW)], &[]);
    let mut c = Caller::new(srv.sip);
    let offer = c.offer(
        "111 101",
        &[
            "rtpmap:111 opus/48000/2",
            "fmtp:111 useinbandfec=1",
            "rtpmap:101 telephone-event/8000",
        ],
    );
    c.invite("5000", Some(&offer));
    let ok = c.final_response();
    assert_eq!(ok.status(), Some(200));
    assert!(ok.body.contains("a=rtpmap:111 opus/48000/2"), "{}", ok.body);
    c.ack("5000", None);
    let (pt, len, _) = c.recv_rtp().expect("Opus RTP");
    assert_eq!(pt, 111);
    assert!(len > 0 && len < 400, "an Opus frame, not G.711: {len}");
}

#[test]
fn the_configured_codec_order_picks_the_answer() {
    let srv = Server::start(&[("menu.yaml", MENU_FLOW)], &[("CODEC", "pcma")]);
    let mut c = Caller::new(srv.sip);
    let offer = c.offer("0 8", &["rtpmap:0 PCMU/8000", "rtpmap:8 PCMA/8000"]);
    c.invite("5000", Some(&offer));
    let ok = c.final_response();
    assert!(
        ok.body.contains("m=audio") && ok.body.contains(" RTP/AVP 8"),
        "{}",
        ok.body
    );
    c.ack("5000", None);
    assert_eq!(c.recv_rtp().map(|(pt, _, _)| pt), Some(8));
}
