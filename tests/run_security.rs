//! The attacks of issue 10 against the real `phonetree run` on loopback (docs/security.md):
//! each test is the attack tool, bounded in packets and time, and prints its figures (`figures:`
//! lines, copied into the table in docs/security.md). Other hosts are other loopback addresses
//! (`127.0.0.2`), which Linux routes like any address of `lo`.

mod run_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use run_support::{Caller, Server, MENU_FLOW};

/// One RTP packet.
fn rtp(pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, (u8::from(marker) << 7) | pt];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// Counts the datagrams arriving on `socket` until `stop`.
fn counter(socket: UdpSocket, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<(u64, u64)> {
    std::thread::spawn(move || {
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let (mut packets, mut bytes) = (0, 0);
        let mut buf = [0u8; 2048];
        while !stop.load(Ordering::Relaxed) {
            if let Ok((n, _)) = socket.recv_from(&mut buf) {
                packets += 1;
                bytes += n as u64;
            }
        }
        (packets, bytes)
    })
}

/// A victim call up and sending audio: the caller, where phonetree's RTP comes from.
fn answered_call(srv: &Server) -> (Caller, SocketAddr) {
    let mut c = Caller::new(srv.sip);
    let offer = c.pcmu_offer();
    c.invite("5000", Some(&offer));
    let ok = c.final_response();
    assert_eq!(ok.status(), Some(200), "{ok:?}");
    let dest = ok.sdp_rtp_addr().expect("RTP address in the answer");
    c.ack("5000", None);
    (c, dest)
}

#[test]
fn an_rtp_port_sprayer_gets_no_audio_and_injects_no_digit() {
    let srv = Server::start(&[("menu.yaml", MENU_FLOW)], &[]);
    let (victim, port) = answered_call(&srv);
    let ssrc = 0x1234_5678u32; // the attacker "guesses" the victim's SSRC right
    let stop = Arc::new(AtomicBool::new(false));
    // The victim talks: 20 ms of PCMU silence every 20 ms.
    let talker = {
        let s = victim.rtp.try_clone().unwrap();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut seq = 1u16;
            while !stop.load(Ordering::Relaxed) {
                let p = rtp(0, seq == 1, seq, u32::from(seq) * 160, ssrc, &[0xff; 160]);
                s.send_to(&p, port).unwrap();
                seq = seq.wrapping_add(1);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(100)); // the victim's first packets latch
    let heard = counter(victim.rtp.try_clone().unwrap(), stop.clone());
    // Two attackers: another host, and the victim's own IP on another port (behind the same
    // NAT). For one second each sends, every 10 ms, audio and a whole key press of "9" (which
    // would end the call: the menu has no route for it) with the victim's SSRC.
    let mut attackers = Vec::new();
    let sent = Arc::new(AtomicU64::new(0));
    for ip in ["127.0.0.2", "127.0.0.1"] {
        let s = UdpSocket::bind((ip, 0)).unwrap();
        let got = counter(s.try_clone().unwrap(), stop.clone());
        let (sent, stop) = (sent.clone(), stop.clone());
        let spray = std::thread::spawn(move || {
            let mut seq = 30_000u16;
            let until = Instant::now() + Duration::from_secs(1);
            while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                let ts = u32::from(seq) * 160;
                let mut burst = vec![rtp(0, false, seq, ts, ssrc, &[0x00; 160])];
                for (i, end) in [false, false, true, true, true].into_iter().enumerate() {
                    let dur = 160u16 * (i as u16 + 1);
                    let payload = [
                        9,
                        if end { 0x8a } else { 0x0a },
                        (dur >> 8) as u8,
                        dur as u8,
                    ];
                    burst.push(rtp(101, i == 0, seq + 1 + i as u16, ts, ssrc, &payload));
                }
                for p in &burst {
                    s.send_to(p, port).unwrap();
                    sent.fetch_add(1, Ordering::Relaxed);
                }
                seq = seq.wrapping_add(8);
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        attackers.push((ip, spray, got));
    }
    let mut stolen = Vec::new();
    for (ip, spray, got) in attackers {
        spray.join().unwrap();
        stolen.push((ip, got));
    }
    // No BYE: no injected digit ended the call.
    let bye = victim.recv_within(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    talker.join().unwrap();
    let (victim_packets, _) = heard.join().unwrap();
    let stolen: Vec<(&str, u64)> = stolen
        .into_iter()
        .map(|(ip, got)| (ip, got.join().unwrap().0))
        .collect();
    let injected = srv.log_text().matches("digit=9").count();
    eprintln!(
        "figures: rtp spray: {} attack packets (audio + RFC 4733 '9', victim's SSRC), \
         attackers received {:?} packets, victim received {victim_packets} in ~1.2 s, \
         digits injected {injected}",
        sent.load(Ordering::Relaxed),
        stolen
    );
    assert!(bye.is_none(), "the call ended: {bye:?}");
    assert_eq!(injected, 0, "{}", srv.log_text());
    for (ip, n) in &stolen {
        assert_eq!(*n, 0, "attacker {ip} received audio");
    }
    assert!(
        victim_packets >= 40,
        "the victim kept its audio: {victim_packets}"
    );
    // The victim's own key still works: "1" hangs up.
    victim.send_rfc4733(port, 1, 101);
    let m = victim.expect_request("BYE");
    victim.reply_ok(&m);
}

#[test]
fn an_sdp_pointing_elsewhere_reflects_nothing_and_bad_addresses_get_488() {
    let srv = Server::start(&[("menu.yaml", MENU_FLOW)], &[]);
    // The victim of the reflection: another host, named in the attacker's SDP.
    let victim = UdpSocket::bind("127.0.0.2:0").unwrap();
    let vport = victim.local_addr().unwrap().port();
    let stop = Arc::new(AtomicBool::new(false));
    let hit = counter(victim.try_clone().unwrap(), stop.clone());
    let mut c = Caller::new(srv.sip);
    let offer = c
        .pcmu_offer()
        .replace("IN IP4 127.0.0.1", "IN IP4 127.0.0.2")
        .replace(
            &format!("m=audio {}", c.rtp.local_addr().unwrap().port()),
            &format!("m=audio {vport}"),
        );
    let invite = c.invite("5000", Some(&offer));
    assert_eq!(c.final_response().status(), Some(200));
    c.ack("5000", None);
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::Relaxed);
    let (packets, bytes) = hit.join().unwrap();
    eprintln!(
        "figures: reflection: INVITE of {} bytes with c= another host → {packets} packets, \
         {bytes} bytes towards it in 1.5 s (greeting 1 s)",
        invite.len()
    );
    assert_eq!(bytes, 0, "RTP reflected towards the SDP's third party");
    c.bye("5000");

    let bad = [
        ("IN IP4 127.0.0.1", "IN IP4 255.255.255.255", "broadcast"),
        ("IN IP4 127.0.0.1", "IN IP4 239.255.255.250", "multicast"),
        ("IN IP4 127.0.0.1", "IN IP4 0.0.0.0", "0.0.0.0"),
    ];
    for (from, to, why) in bad {
        let mut c = Caller::new(srv.sip);
        let offer = c.pcmu_offer().replace(from, to);
        c.invite("5000", Some(&offer));
        assert_eq!(c.final_response().status(), Some(488), "{to}");
        assert!(srv.logged(why), "{why}: {}", srv.log_text());
    }
    for (port, why) in [(srv.sip.port(), "our own"), (53, "below 1024")] {
        let mut c = Caller::new(srv.sip);
        let mine = c.rtp.local_addr().unwrap().port();
        let offer = c
            .pcmu_offer()
            .replace(&format!("m=audio {mine}"), &format!("m=audio {port}"));
        c.invite("5000", Some(&offer));
        assert_eq!(c.final_response().status(), Some(488), "port {port}");
        assert!(srv.logged(why), "{why}: {}", srv.log_text());
    }
}

const TRANSFER_FLOW: &str = r#"
name: xfer
routes: ["5000"]
default: true
start: go
nodes:
  go: { transfer: "sip:{{ call.from }}@pbx.example.com", on_fail: refused }
  refused: { hangup: {} }
"#;

/// Places a call from `from_user` to the transfer flow: the REFER's Refer-To, or `None` when
/// the flow hung up instead (transfer refused).
fn transfer_from(srv: &Server, from_user: &str) -> Option<String> {
    let mut c = Caller::new(srv.sip);
    c.from_user = from_user.to_string();
    let offer = c.pcmu_offer();
    c.invite("5000", Some(&offer));
    assert_eq!(c.final_response().status(), Some(200));
    c.ack("5000", None);
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        let Some(m) = c.recv_within(Duration::from_millis(200)) else {
            continue;
        };
        match m.method() {
            Some("REFER") => {
                c.reply_ok(&m);
                return Some(m.header("Refer-To").unwrap_or_default().to_string());
            }
            Some("BYE") => {
                c.reply_ok(&m);
                return None;
            }
            _ => {}
        }
    }
    panic!("neither REFER nor BYE: {}", srv.log_text());
}

#[test]
fn a_refer_to_injection_is_escaped_and_refused() {
    let injection = "00881234567890;transport=tcp";
    // No transfer.allow: a templated target is refused, the flow takes on_fail.
    let srv = Server::start(&[("xfer.yaml", TRANSFER_FLOW)], &[]);
    assert_eq!(transfer_from(&srv, injection), None);
    assert_eq!(transfer_from(&srv, "1001"), None);
    assert!(srv.logged("transfer refused"), "{}", srv.log_text());
    drop(srv);
    // With a list: the escaped injection does not match it, a short extension does.
    let srv = Server::start(
        &[("xfer.yaml", TRANSFER_FLOW)],
        &[("PHONETREE_TRANSFER_ALLOW", "sip:1???@pbx.example.com")],
    );
    let refused = transfer_from(&srv, injection);
    let allowed = transfer_from(&srv, "1001");
    eprintln!(
        "figures: refer-to injection: From user {injection:?} → REFER {refused:?}; \
         From user \"1001\" → REFER {allowed:?}"
    );
    assert_eq!(refused, None);
    assert_eq!(allowed.as_deref(), Some("<sip:1001@pbx.example.com>"));
}

#[test]
fn sip_allow_answers_strangers_403_or_nothing() {
    let srv = Server::start(
        &[("menu.yaml", MENU_FLOW)],
        &[("PHONETREE_SIP_ALLOW", "127.0.0.2")],
    );
    let mut stranger = Caller::new(srv.sip);
    let offer = stranger.pcmu_offer();
    stranger.invite("5000", Some(&offer));
    assert_eq!(stranger.final_response().status(), Some(403));
    let mut friend = Caller::new_at(srv.sip, "127.0.0.2");
    let offer = friend.pcmu_offer();
    friend.invite("5000", Some(&offer));
    assert_eq!(friend.final_response().status(), Some(200));
    friend.ack("5000", None);
    assert!(
        friend.recv_rtp().is_some(),
        "a trusted caller gets its greeting"
    );
    drop(srv);

    let srv = Server::start(
        &[("menu.yaml", MENU_FLOW)],
        &[
            ("PHONETREE_SIP_ALLOW", "10.0.0.0/8"),
            ("PHONETREE_SIP_REJECT", "silent"),
        ],
    );
    let mut scanner = Caller::new(srv.sip);
    let offer = scanner.pcmu_offer();
    scanner.invite("5000", Some(&offer));
    assert!(
        scanner.recv_within(Duration::from_secs(1)).is_none(),
        "a silent rejection answers nothing"
    );
    // OPTIONS (a health check) is still answered.
    scanner.options();
    assert_eq!(scanner.final_response().status(), Some(200));
}

#[test]
fn direct_mode_says_everyone_may_call() {
    let srv = Server::start(&[("menu.yaml", MENU_FLOW)], &[]);
    assert!(srv.logged("direct mode: every source address may place calls"));
}

#[test]
fn an_inbound_via_received_does_not_redirect_responses() {
    let srv = Server::start(&[("menu.yaml", MENU_FLOW)], &[]);
    let c = Caller::new(srv.sip);
    let port = c.local().port();
    // The victim listens on the port the Via names, on another host.
    let victim = UdpSocket::bind(("127.0.0.2", port)).unwrap();
    victim
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let options = format!(
        "OPTIONS sip:ping@{srv} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-recv-1;received=127.0.0.2\r\n\
         Max-Forwards: 70\r\nFrom: <sip:a@127.0.0.1>;tag=r1\r\nTo: <sip:ping@{srv}>\r\n\
         Call-ID: recv-1@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        srv = srv.sip
    );
    c.send(&options);
    let mut buf = [0u8; 2048];
    assert!(victim.recv_from(&mut buf).is_err(), "response reflected");
    let back = c
        .recv_within(Duration::from_secs(2))
        .expect("response to us");
    assert_eq!(back.status(), Some(200));
    assert!(
        !back.header("Via").unwrap_or_default().contains("127.0.0.2"),
        "{back:?}"
    );
}

#[test]
fn oversized_messages_are_dropped_and_a_huge_content_length_closes_the_stream() {
    let srv = Server::start(&[("menu.yaml", MENU_FLOW)], &[]);
    let mut c = Caller::new(srv.sip);
    let mut big = format!(
        "OPTIONS sip:ping@{} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bK-big;rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:a@127.0.0.1>;tag=b1\r\nTo: <sip:ping@x>\r\n\
         Call-ID: big-1@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nX-Pad: ",
        srv.sip,
        c.local()
    );
    big.push_str(&"a".repeat(40_000));
    big.push_str("\r\nContent-Length: 0\r\n\r\n");
    c.send(&big);
    assert!(
        c.recv_within(Duration::from_millis(500)).is_none(),
        "answered a 40 KB datagram"
    );
    let mut tcp = TcpStream::connect(srv.sip).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    write!(
        tcp,
        "INVITE sip:5000@{} SIP/2.0\r\nContent-Length: 18446744073709551615\r\n\r\n",
        srv.sip
    )
    .unwrap();
    let mut buf = [0u8; 256];
    assert_eq!(tcp.read(&mut buf).unwrap_or(0), 0, "the stream is closed");
    c.options();
    assert_eq!(c.final_response().status(), Some(200), "still serving");
}

#[test]
fn validate_warns_about_a_templated_transfer_unless_transfer_allow_is_set() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("flows")).unwrap();
    std::fs::write(dir.path().join("flows/xfer.yaml"), TRANSFER_FLOW).unwrap();
    let validate = |env: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_phonetree"));
        cmd.current_dir(dir.path())
            .args(["validate", "flows"])
            .env_remove("PHONETREE_TRANSFER_ALLOW");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run validate");
        assert!(out.status.success(), "a warning is not an error");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let warned = validate(&[]);
    assert!(warned.contains("flow.transfer_template"), "{warned}");
    assert!(warned.contains("transfer.allow"), "{warned}");
    let listed = validate(&[("PHONETREE_TRANSFER_ALLOW", "sip:1???@pbx.example.com")]);
    assert!(!listed.contains("flow.transfer_template"), "{listed}");
    std::fs::write(
        dir.path().join("phonetree.yaml"),
        "transfer: { allow: ['sip:*@pbx.example.com'] }\n",
    )
    .unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_phonetree"));
    let out = cmd
        .current_dir(dir.path())
        .args(["validate", "flows", "phonetree.yaml"])
        .env_remove("PHONETREE_TRANSFER_ALLOW")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("flow.transfer_template"), "{text}");
}

#[test]
fn a_silent_policy_survives_an_invite_burst_and_still_serves_its_registrar() {
    let srv = Server::start(
        &[("menu.yaml", MENU_FLOW)],
        &[
            ("PHONETREE_SIP_ALLOW", "127.0.0.2"),
            ("PHONETREE_SIP_REJECT", "silent"),
        ],
    );
    let scanner = Caller::new(srv.sip);
    let base = format!(
        "INVITE sip:5000@{srv} SIP/2.0\r\nMax-Forwards: 70\r\nFrom: <sip:x@127.0.0.1>;tag=s\r\n\
         To: <sip:5000@{srv}>\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n",
        srv = srv.sip
    );
    for i in 0..500 {
        scanner.send(&format!(
            "{base}Via: SIP/2.0/UDP {};branch=z9hG4bK-scan-{i};rport\r\nCall-ID: scan-{i}\r\n\r\n",
            scanner.local()
        ));
    }
    let mut answered = 0;
    while scanner.recv_within(Duration::from_millis(300)).is_some() {
        answered += 1;
    }
    let mut friend = Caller::new_at(srv.sip, "127.0.0.2");
    let offer = friend.pcmu_offer();
    let t = Instant::now();
    friend.invite("5000", Some(&offer));
    assert_eq!(friend.final_response().status(), Some(200));
    eprintln!(
        "figures: sip.allow silent: 500 INVITEs from a stranger → {answered} answers; the \
         registrar's call answered {} ms later",
        t.elapsed().as_millis()
    );
    assert_eq!(answered, 0);
    let (_, calls) = srv.get("/api/calls");
    assert_eq!(calls.matches("\"flow\"").count(), 1, "{calls}");
}
