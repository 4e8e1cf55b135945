//! phonetree behind kamailio: digest registration then calls to the registered number, a
//! re-registration after phonetree restarts, and docs/pbx.md's kamailio example as written
//! (registration, direct mode and a CANCEL relayed while phonetree rings).

use super::*;

/// An entry of `/api/registrations` that says it is registered.
fn registered(doc: &Value) -> bool {
    let entries = match doc {
        Value::Array(items) => items.clone(),
        Value::Object(map) => match map.get("registrations") {
            Some(Value::Array(items)) => items.clone(),
            _ => vec![doc.clone()],
        },
        _ => Vec::new(),
    };
    entries.iter().any(|e| {
        e.as_object().is_some_and(|m| {
            m.values().any(|v| v == "registered" || v == "Registered")
                || m.get("registered") == Some(&Value::Bool(true))
        })
    })
}

#[test]
#[cfg_attr(
    not(interop),
    ignore = "real SIP peers: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn kamailio_digest_registration_then_a_call_to_1001_reaches_the_flow() {
    let _serial = serial();
    if !require(&[Peer::Kamailio, Peer::Pjsua2]) {
        return;
    }
    let work = Work::new();
    let kamailio = Kamailio::start(&work, free_port());
    let domain = kamailio.domain();
    let env = [
        ("SIP_DOMAIN", domain.as_str()),
        ("SIP_USERNAME", "1001"),
        ("SIP_PASSWORD", "secret"),
    ];
    let engine = Engine::start(&work, &env);
    engine.wait_for(
        &work,
        "kamailio to hold a binding for 1001",
        Duration::from_secs(20),
        || kamailio.has_binding(&work, "1001"),
    );
    engine.wait_for(
        &work,
        "/api/registrations to say registered",
        Duration::from_secs(10),
        || registered(&engine.json(&work, "/api/registrations")),
    );
    let args = ["--user", "1001", "--duration", "5"];
    let (_, rec) = pj_call(&work, &domain, "pj_via_kamailio", &args);
    assert_heard(&work, &rec, "bunny/greeting.wav", 0.0, 1.0, 3.0);
    assert_no_call_left(&work, &engine);
    // SIGTERM: unregister, exit 0.
    let mut proc = engine.proc.lock().unwrap_or_else(|p| p.into_inner());
    proc.kill_group("TERM");
    match proc.wait(Duration::from_secs(20)) {
        Ok(s) if s.success() => {}
        other => work.fail(&format!("phonetree did not exit 0 on SIGTERM: {other:?}")),
    }
    if kamailio.has_binding(&work, "1001") {
        work.fail("1001 still registered after phonetree stopped");
    }
}

#[test]
#[cfg_attr(
    not(interop),
    ignore = "real SIP peers: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn kamailio_restart_phonetree_registers_again_and_still_gets_calls() {
    let _serial = serial();
    if !require(&[Peer::Kamailio, Peer::Pjsua2]) {
        return;
    }
    let work = Work::new();
    let port = free_port();
    let kamailio = Kamailio::start(&work, port);
    let domain = kamailio.domain();
    let env = [
        ("SIP_DOMAIN", domain.as_str()),
        ("SIP_USERNAME", "1001"),
        ("SIP_PASSWORD", "secret"),
        ("PHONETREE_ACCOUNT_EXPIRES", "30s"),
    ];
    let engine = Engine::start(&work, &env);
    engine.wait_for(
        &work,
        "the first registration",
        Duration::from_secs(20),
        || kamailio.has_binding(&work, "1001"),
    );
    // The registrar restarts and forgets every binding (usrloc in memory).
    drop(kamailio);
    let kamailio = Kamailio::start(&work, port);
    if kamailio.has_binding(&work, "1001") {
        work.fail("a fresh kamailio already has a binding: the restart did not happen");
    }
    // phonetree refreshes at 85 % of the 30 s granted, answering the new digest challenge.
    engine.wait_for(
        &work,
        "phonetree to register again",
        Duration::from_secs(45),
        || kamailio.has_binding(&work, "1001"),
    );
    let args = ["--user", "1001", "--duration", "4"];
    let (_, rec) = pj_call(&work, &domain, "pj_after_restart", &args);
    assert_heard(&work, &rec, "bunny/greeting.wav", 0.0, 1.0, 2.5);
    assert_no_call_left(&work, &engine);
}

/// The Kamailio configuration of docs/pbx.md, as a user pastes it: the one `#!KAMAILIO` block,
/// with Kamailio's address (192.0.2.10:5060) and phonetree's (192.0.2.50:5060) replaced.
fn docs_kamailio_cfg(kamailio_port: u16, phonetree_port: u16) -> String {
    let doc = std::fs::read_to_string(root().join("docs/pbx.md")).expect("docs/pbx.md");
    let blocks: Vec<&str> = doc
        .split("```text\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .filter(|b| b.starts_with("#!KAMAILIO"))
        .collect();
    assert_eq!(blocks.len(), 1, "docs/pbx.md has one kamailio.cfg block");
    let cfg = blocks[0]
        .replace("192.0.2.10:5060", &format!("127.0.0.1:{kamailio_port}"))
        .replace("192.0.2.50:5060", &format!("127.0.0.1:{phonetree_port}"));
    assert!(
        !cfg.contains("192.0.2."),
        "an address left unreplaced:\n{cfg}"
    );
    cfg
}

/// docs/pbx.md's Kamailio example works as written on kamailio 5.6: it starts, phonetree
/// registers through it with the documented credentials, a caller reaches the flow through it
/// in registration mode (1001) and in direct mode (5000), and a CANCEL while phonetree rings is
/// relayed (200 to the CANCEL, 487 to the INVITE).
#[test]
#[cfg_attr(
    not(interop),
    ignore = "real SIP peers: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn docs_pbx_kamailio_example_registers_phonetree_and_carries_calls_and_cancel() {
    let _serial = serial();
    if !require(&[Peer::Kamailio, Peer::Pjsua2, Peer::Sipp]) {
        return;
    }
    let work = Work::new();
    let (kport, pport) = (free_port(), free_port());
    let kamailio = Kamailio::start_with(&work, kport, &docs_kamailio_cfg(kport, pport));
    let domain = kamailio.domain();
    let env = [
        ("SIP_DOMAIN", domain.as_str()),
        ("SIP_USERNAME", "1001"),
        ("SIP_PASSWORD", "use-a-long-random-secret"),
        ("PHONETREE_SIP_ANSWER_DELAY", "2s"),
    ];
    let engine = Engine::start_at(&work, pport, &env);
    engine.wait_for(
        &work,
        "/api/registrations to say registered through the docs' kamailio",
        Duration::from_secs(20),
        || registered(&engine.json(&work, "/api/registrations")),
    );
    for user in ["1001", "5000"] {
        let args = ["--user", user, "--duration", "5"];
        let (_, rec) = pj_call(&work, &domain, &format!("pj_docs_kamailio_{user}"), &args);
        assert_heard(&work, &rec, "bunny/greeting.wav", 0.0, 1.0, 3.0);
        assert_no_call_left(&work, &engine);
    }
    // A caller who hangs up while phonetree rings. Kamailio's 200 to the CANCEL and the 487 it
    // relays race between its worker processes (both orders are valid SIP), so a raw UAC that
    // accepts either order stands in for sipp's strictly ordered scenario.
    let got = cancel_while_ringing(&work, kport, "5001");
    if !(got.contains(&(200, "CANCEL".into())) && got.contains(&(487, "INVITE".into()))) {
        work.fail(&format!("CANCEL through the docs' kamailio: got {got:?}"));
    }
    assert_no_call_left(&work, &engine);
}

/// Sends an INVITE for `user` to `127.0.0.1:port`, a CANCEL once it rings (180), ACKs the 487;
/// returns every final response as (status, CSeq method).
fn cancel_while_ringing(work: &Work, port: u16, user: &str) -> Vec<(u16, String)> {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let local = sock.local_addr().expect("addr");
    let head = |method: &str| {
        format!(
            "{method} sip:{user}@127.0.0.1:{port} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch=z9hG4bK-docs-cancel-{}\r\nMax-Forwards: 70\r\n\
             From: <sip:caller@{local}>;tag=c1\r\nTo: <sip:{user}@127.0.0.1:{port}>\r\n\
             Call-ID: docs-cancel-{}@127.0.0.1\r\nCSeq: 1 {method}\r\n",
            local.port(),
            local.port()
        )
    };
    // A real (bound, silent) RTP port: phonetree refuses SDP addresses it could not use.
    let rtp = std::net::UdpSocket::bind("127.0.0.1:0").expect("rtp");
    let rtp_port = rtp.local_addr().expect("rtp addr").port();
    let sdp = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {rtp_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    );
    let invite = format!(
        "{}Contact: <sip:caller@{local}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        head("INVITE"),
        sdp.len()
    );
    let dest = ("127.0.0.1", port);
    sock.send_to(invite.as_bytes(), dest).expect("send INVITE");
    let mut finals = Vec::new();
    let mut cancelled = false;
    let end = std::time::Instant::now() + Duration::from_secs(10);
    let mut buf = vec![0u8; 8192];
    while std::time::Instant::now() < end && finals.len() < 2 {
        let Ok((n, _)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let text = String::from_utf8_lossy(&buf[..n]).to_string();
        let status: u16 = text
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let cseq = text
            .lines()
            .find_map(|l| l.strip_prefix("CSeq:"))
            .and_then(|c| c.split_whitespace().nth(1))
            .unwrap_or("")
            .to_string();
        if status == 180 && !cancelled {
            cancelled = true;
            let cancel = format!("{}Content-Length: 0\r\n\r\n", head("CANCEL"));
            sock.send_to(cancel.as_bytes(), dest).expect("send CANCEL");
        }
        if status >= 200 && !finals.contains(&(status, cseq.clone())) {
            if status == 487 {
                let to = text
                    .lines()
                    .find(|l| l.starts_with("To:"))
                    .unwrap_or("")
                    .to_string();
                let ack = head("ACK").replace(&format!("To: <sip:{user}@127.0.0.1:{port}>"), &to)
                    + "Content-Length: 0\r\n\r\n";
                sock.send_to(ack.as_bytes(), dest).expect("send ACK");
            }
            finals.push((status, cseq));
        }
    }
    if !cancelled {
        work.fail(&format!("no 180 Ringing before the answer: {finals:?}"));
    }
    finals
}
