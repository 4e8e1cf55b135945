//! `phonetree run` during a call: hold by re-INVITE, SIP INFO digits, the RTP timeout, blind
//! transfer (REFER + NOTIFY, both outcomes) and SIP over TCP.

mod run_support;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use run_support::{Caller, Msg, Server, MENU_FLOW};

const USER: &str = "5000";

/// INVITE, 200, ACK; returns the RTP address of the answer.
fn answered(c: &mut Caller) -> std::net::SocketAddr {
    let offer = c.pcmu_offer();
    c.invite(USER, Some(&offer));
    let ok = c.final_response();
    assert_eq!(ok.status(), Some(200), "{ok:?}");
    c.ack(USER, None);
    ok.sdp_rtp_addr().expect("RTP address")
}

#[test]
fn a_hold_reinvite_is_answered_recvonly_and_rtp_stops() {
    let srv = Server::start(&[("menu.yaml", MENU_FLOW)], &[]);
    let mut c = Caller::new(srv.sip);
    answered(&mut c);
    assert!(c.recv_rtp().is_some(), "audio before hold");
    let hold = c.pcmu_offer().replace("a=sendrecv", "a=sendonly");
    let cseq = c.in_dialog("INVITE", USER, Some(("application/sdp", &hold)));
    let ok = c.expect_response(cseq, "INVITE");
    assert_eq!(ok.status(), Some(200));
    assert!(ok.body.contains("a=recvonly"), "{}", ok.body);
    c.ack_cseq(USER, cseq);
    // Packets already in flight may still arrive; then silence.
    c.rtp
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 2048];
    let mut late = 0;
    while c.rtp.recv_from(&mut buf).is_ok() {
        late += 1;
        assert!(late < 5, "RTP keeps coming while on hold");
    }
    // Resume: audio again.
    let resume = c.pcmu_offer();
    let cseq = c.in_dialog("INVITE", USER, Some(("application/sdp", &resume)));
    let ok = c.expect_response(cseq, "INVITE");
    assert!(ok.body.contains("a=sendrecv"), "{}", ok.body);
    c.ack_cseq(USER, cseq);
    assert!(c.recv_rtp().is_some(), "audio after resume");
}

#[test]
fn a_sip_info_digit_reaches_the_flow() {
    let srv = Server::start(&[("menu.yaml", MENU_FLOW)], &[]);
    let mut c = Caller::new(srv.sip);
    answered(&mut c);
    let body = "Signal=1\r\nDuration=160\r\n";
    let cseq = c.in_dialog("INFO", USER, Some(("application/dtmf-relay", body)));
    let mut saw_ok = false;
    let mut saw_bye = false;
    let end = Instant::now() + Duration::from_secs(5);
    while !(saw_ok && saw_bye) && Instant::now() < end {
        let Some(m) = c.recv_within(Duration::from_secs(5)) else {
            break;
        };
        if m.status() == Some(200) && m.header("CSeq") == Some(&format!("{cseq} INFO")) {
            saw_ok = true;
        }
        if m.method() == Some("BYE") {
            saw_bye = true;
            c.reply_ok(&m);
        }
    }
    assert!(
        saw_ok && saw_bye,
        "INFO answered 200 and the digit ended the call"
    );
}

#[test]
fn a_caller_that_sends_no_rtp_is_hung_up() {
    let srv = Server::start(
        &[("menu.yaml", MENU_FLOW)],
        &[("PHONETREE_RTP_TIMEOUT", "1s")],
    );
    let mut c = Caller::new(srv.sip);
    answered(&mut c);
    // When the timer fires is checked on virtual time by the media core's unit tests; here (wall
    // clock, a loaded machine) only that the silent caller gets a BYE for that reason.
    let bye = c.expect_request("BYE");
    c.reply_ok(&bye);
    assert!(srv.logged("no RTP from the caller"));
}

const TRANSFER_FLOW: &str = r#"
name: xfer
default: true
start: go
nodes:
  go: { transfer: "sip:100@127.0.0.1", on_fail: sorry }
  sorry: { play: tone.wav, next: end }
  end: { hangup: {} }
"#;

/// Answers the REFER 202, then NOTIFYs `frag`.
fn refer_then_notify(c: &mut Caller, frag: &str) -> Msg {
    let refer = c.expect_request("REFER");
    assert_eq!(refer.header("Refer-To"), Some("<sip:100@127.0.0.1>"));
    assert!(refer.header("Referred-By").is_some());
    let mut accepted = String::from("SIP/2.0 202 Accepted\r\n");
    for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
        if let Some(v) = refer.header(name) {
            accepted.push_str(&format!("{name}: {v}\r\n"));
        }
    }
    accepted.push_str("Content-Length: 0\r\n\r\n");
    c.send(&accepted);
    c.extra_headers = "Event: refer\r\nSubscription-State: terminated;reason=noresource\r\n".into();
    let cseq = c.in_dialog("NOTIFY", USER, Some(("message/sipfrag;version=2.0", frag)));
    c.expect_response(cseq, "NOTIFY")
}

#[test]
fn a_transfer_that_succeeds_ends_our_leg_with_bye() {
    let srv = Server::start(&[("xfer.yaml", TRANSFER_FLOW)], &[]);
    let mut c = Caller::new(srv.sip);
    answered(&mut c);
    assert_eq!(
        refer_then_notify(&mut c, "SIP/2.0 200 OK\r\n").status(),
        Some(200)
    );
    let bye = c.expect_request("BYE");
    c.reply_ok(&bye);
}

#[test]
fn a_refused_transfer_takes_on_fail() {
    let srv = Server::start(&[("xfer.yaml", TRANSFER_FLOW)], &[]);
    let mut c = Caller::new(srv.sip);
    answered(&mut c);
    refer_then_notify(&mut c, "SIP/2.0 486 Busy Here\r\n");
    // on_fail plays the tone.
    let (pt, _, _) = c.recv_rtp().expect("the on_fail prompt");
    assert_eq!(pt, 0);
}

#[test]
fn an_invite_over_tcp_is_answered_on_the_connection() {
    let srv = Server::start(&[("menu.yaml", MENU_FLOW)], &[]);
    let mut s = std::net::TcpStream::connect(srv.sip).expect("TCP connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let local = s.local_addr().unwrap();
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
               m=audio 40999 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    let invite = format!(
        "INVITE sip:5000@{srv} SIP/2.0\r\nVia: SIP/2.0/TCP {local};branch=z9hG4bK-tcp1\r\n\
         Max-Forwards: 70\r\nFrom: <sip:tcp@{local}>;tag=t1\r\nTo: <sip:5000@{srv}>\r\n\
         Call-ID: tcp-call@127.0.0.1\r\nCSeq: 1 INVITE\r\nContact: <sip:tcp@{local};transport=tcp>\r\n\
         Content-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{sdp}",
        srv = srv.sip,
        len = sdp.len()
    );
    s.write_all(invite.as_bytes()).unwrap();
    let mut got = String::new();
    let mut buf = [0u8; 4096];
    let end = Instant::now() + Duration::from_secs(5);
    while !got.contains("SIP/2.0 200") && Instant::now() < end {
        let n = s.read(&mut buf).expect("read");
        assert!(n > 0, "connection closed: {got}");
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(got.starts_with("SIP/2.0 100"), "{got}");
    assert!(got.contains("SIP/2.0 200 OK"), "{got}");
}

const SAY_FLOW: &str = r#"
name: say
default: true
start: greet
nodes:
  greet: { say: "Hello from phonetree", next: end }
  end: { hangup: {} }
"#;

#[test]
fn say_speaks_with_espeak_ng_or_fails_over_with_a_clear_log_line() {
    let srv = Server::start(&[("say.yaml", SAY_FLOW)], &[]);
    let mut c = Caller::new(srv.sip);
    answered(&mut c);
    let have_espeak = std::process::Command::new("espeak-ng")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if have_espeak {
        let (pt, len, _) = c.recv_rtp().expect("the spoken text as RTP");
        assert_eq!((pt, len), (0, 160));
    }
    // Either way the flow goes on to `end` and hangs up.
    let bye = c.expect_request_within("BYE", Duration::from_secs(15));
    c.reply_ok(&bye);
    if !have_espeak {
        assert!(srv.logged("espeak-ng is not installed"));
    }
}

#[test]
fn say_without_espeak_ng_fails_the_playback_and_the_flow_goes_on() {
    let srv = Server::start(&[("say.yaml", SAY_FLOW)], &[("PATH", "/nonexistent")]);
    let mut c = Caller::new(srv.sip);
    answered(&mut c);
    let bye = c.expect_request("BYE");
    c.reply_ok(&bye);
    assert!(
        srv.logged("espeak-ng is not installed"),
        "{}",
        srv.log_text()
    );
}

const AGENT_FLOW: &str = r#"
name: agent
default: true
start: bot
nodes:
  bot:
    agent: { provider: openai, model: gpt-realtime, instructions: "Help." }
    next: end
    on_error: sorry
  sorry: { play: tone.wav, next: end }
  end: { hangup: {} }
"#;

#[test]
fn an_agent_node_without_an_api_key_fails_at_once_and_takes_on_error() {
    let srv = Server::start(&[("agent.yaml", AGENT_FLOW)], &[]);
    let mut c = Caller::new(srv.sip);
    answered(&mut c);
    // `on_error` plays the tone (`next` would have hung up without a sound).
    assert_eq!(c.recv_rtp().map(|(pt, _, _)| pt), Some(0));
    // The call log says why: no provider (and, here, no OpenAI API key).
    assert!(
        srv.logged("agent failed: not available: no OpenAI API key (set OPENAI_API_KEY)"),
        "{}",
        srv.log_text()
    );
}

#[test]
fn an_http_node_posts_json_with_the_caller_and_routes_on_the_reply() {
    let hook = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/lookup", hook.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        let (mut s, _) = hook.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        // Read until the JSON body has arrived (it ends with `}`).
        while !got.ends_with(b"}") {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        let reply = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\nconnection: close\r\n\r\n{\"ok\":true}";
        let _ = s.write_all(reply.as_bytes());
        let _ = tx.send(String::from_utf8_lossy(&got).into_owned());
    });
    let flow = format!(
        r#"
name: hook
default: true
start: lookup
nodes:
  lookup:
    http: {{ method: POST, url: "{url}", json: {{ caller: "{{{{ call.from }}}}" }}, save: r }}
    on_success: good
    on_error: end
  good: {{ play: tone.wav, next: end }}
  end: {{ hangup: {{}} }}
"#
    );
    let srv = Server::start(&[("hook.yaml", &flow)], &[]);
    let mut c = Caller::new(srv.sip);
    answered(&mut c);
    let request = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the webhook was called");
    assert!(request.starts_with("POST /lookup"), "{request}");
    assert!(request.contains(r#"{"caller":"+15550001"}"#), "{request}");
    // on_success plays the tone.
    assert_eq!(c.recv_rtp().map(|(pt, _, _)| pt), Some(0));
}

/// G.711 μ-law encoding of one sample (ITU-T G.711: bias 0x84, 3-bit segment, 4-bit mantissa).
fn ulaw(sample: i16) -> u8 {
    let mut s = i32::from(sample);
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    let s = s.min(32635) + 0x84;
    let exp = (0..8).rev().find(|e| s & (0x80 << e) != 0).unwrap_or(0);
    let mant = (s >> (exp + 3)) & 0x0f;
    !((sign | (exp << 4) | mant) as u8)
}

#[test]
fn an_in_band_tone_on_g711_is_a_digit() {
    let srv = Server::start(&[("menu.yaml", MENU_FLOW)], &[]);
    let mut c = Caller::new(srv.sip);
    // No telephone-event: keys can only come in-band (or by INFO).
    let offer = c.offer("0", &["rtpmap:0 PCMU/8000"]);
    c.invite(USER, Some(&offer));
    let ok = c.final_response();
    assert_eq!(ok.status(), Some(200));
    assert!(!ok.body.contains("telephone-event"), "{}", ok.body);
    c.ack(USER, None);
    let dest = ok.sdp_rtp_addr().expect("RTP address");
    // 200 ms of "1" (697 Hz + 1209 Hz), then silence, as 20 ms PCMU packets.
    for (seq, i) in (1u16..).zip(0..25u32) {
        let mut p = vec![0x80, if i == 0 { 0x80 } else { 0 }];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&(i * 160).to_be_bytes());
        p.extend_from_slice(&0x0bad_cafe_u32.to_be_bytes());
        for n in 0..160u32 {
            let t = (i * 160 + n) as f32 / 8000.0;
            let v = if i < 10 {
                let tau = std::f32::consts::TAU;
                ((tau * 697.0 * t).sin() + (tau * 1209.0 * t).sin()) * 6000.0
            } else {
                0.0
            };
            p.push(ulaw(v as i16));
        }
        c.rtp.send_to(&p, dest).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    let bye = c.expect_request("BYE");
    c.reply_ok(&bye);
}

#[test]
fn an_offerless_reinvite_gets_our_offer_and_the_ack_answer_switches_the_codec() {
    let srv = Server::start(&[("menu.yaml", MENU_FLOW)], &[]);
    let mut c = Caller::new(srv.sip);
    answered(&mut c);
    assert_eq!(c.recv_rtp().map(|(pt, _, _)| pt), Some(0));
    let cseq = c.in_dialog("INVITE", USER, None);
    let ok = c.expect_response(cseq, "INVITE");
    assert_eq!(ok.status(), Some(200));
    assert!(
        ok.body.contains("PCMA/8000") && ok.body.contains("opus/48000/2"),
        "{}",
        ok.body
    );
    let answer = c.offer("8", &["rtpmap:8 PCMA/8000"]);
    c.ack_cseq_sdp(USER, cseq, Some(&answer));
    // PCMU packets already in flight, then PCMA.
    let end = Instant::now() + Duration::from_secs(3);
    loop {
        let (pt, _, _) = c.recv_rtp().expect("RTP");
        if pt == 8 {
            break;
        }
        assert!(Instant::now() < end, "still PT {pt}");
    }
}
