//! `phonetree run`'s HTTP API and graceful shutdown: `/healthz`, `/api/flows`,
//! `/api/registrations` without secrets, and SIGTERM draining (503 to new calls, exit 0 once the
//! running call ends).

mod run_support;

use std::time::Duration;

use run_support::{Caller, Server, MENU_FLOW};

#[test]
fn healthz_and_api_flows_describe_the_loaded_flows() {
    let srv = Server::start(&[("menu.yaml", MENU_FLOW)], &[]);
    let (status, body) = srv.get("/healthz");
    assert_eq!(status, 200);
    assert!(body.contains("\"status\":\"ok\""), "{body}");
    assert_eq!(
        srv.get("/readyz"),
        (200, r#"{"ready":true,"calls":0}"#.to_string())
    );
    assert_eq!(srv.get("/livez").0, 200);
    std::fs::write(srv.flows_dir().join("broken.yaml"), "name: [").unwrap();
    // A broken flow file: still taking calls, but degraded, and the file is named.
    let end = std::time::Instant::now() + Duration::from_secs(5);
    let body = loop {
        let (status, body) = srv.get("/healthz");
        assert_eq!(status, 200, "{body}");
        if body.contains("\"status\":\"degraded\"") || std::time::Instant::now() > end {
            break body;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(v["status"], "degraded", "{body}");
    let broken = &v["broken_flows"][0];
    assert!(
        broken["path"].as_str().unwrap().ends_with("broken.yaml"),
        "{body}"
    );
    assert_eq!(broken["serving_previous_version"], false);
    assert_eq!(srv.get("/readyz").0, 200, "degraded still takes calls");
    let (status, body) = srv.get("/api/flows");
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let flows = v["flows"].as_array().expect("flows list");
    let menu = flows
        .iter()
        .find(|f| f["name"] == "menu")
        .expect("menu listed");
    assert_eq!(menu["routes"], serde_json::json!(["5000"]));
    assert_eq!(menu["version"].as_str().map(str::len), Some(12));
    assert!(menu["loaded_at_ms"].as_u64().is_some());
    let broken = flows
        .iter()
        .find(|f| {
            f["path"]
                .as_str()
                .is_some_and(|p| p.ends_with("broken.yaml"))
        })
        .expect("broken flow listed");
    assert!(broken["name"].is_null());
    assert!(
        !broken["diagnostics"]
            .as_array()
            .expect("diagnostics")
            .is_empty(),
        "{broken}"
    );
    assert_eq!(srv.get("/nope").0, 404);
}

#[test]
fn registrations_are_listed_without_the_password() {
    // A registrar that never answers (a bound, silent UDP port): the state is visible anyway.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let domain = silent.local_addr().unwrap().to_string();
    let srv = Server::start(
        &[("menu.yaml", MENU_FLOW)],
        &[
            ("SIP_DOMAIN", &domain),
            ("SIP_USERNAME", "1001"),
            ("SIP_PASSWORD", "pw-not-shown"),
        ],
    );
    // The REGISTER reaches the registrar.
    silent
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let (n, _) = silent.recv_from(&mut buf).expect("a REGISTER");
    let text = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(text.starts_with("REGISTER sip:"), "{text}");
    let (status, body) = srv.get("/api/registrations");
    assert_eq!(status, 200);
    assert!(body.contains(&format!("1001@{domain}")), "{body}");
    assert!(!body.contains("pw-not-shown"), "{body}");
    assert!(!srv.log_text().contains("pw-not-shown"));
}

#[test]
fn sigterm_refuses_new_calls_with_503_and_exits_0_when_the_call_ends() {
    let mut srv = Server::start(
        &[("menu.yaml", MENU_FLOW)],
        &[("PHONETREE_DRAIN_TIMEOUT", "20s")],
    );
    let mut a = Caller::new(srv.sip);
    let offer = a.pcmu_offer();
    a.invite("5000", Some(&offer));
    assert_eq!(a.final_response().status(), Some(200));
    a.ack("5000", None);
    let mut prober = Caller::new(srv.sip);
    prober.options();
    assert_eq!(prober.final_response().status(), Some(200), "healthy");

    srv.signal("TERM");
    // Draining: the running call continues, a new one is refused.
    let mut b = Caller::new(srv.sip);
    let end = std::time::Instant::now() + Duration::from_secs(5);
    let status = loop {
        let offer = b.pcmu_offer();
        b.invite("5000", Some(&offer));
        let s = match b.try_final_response() {
            Some(m) => m.status(),
            None => panic!("no final response; server log:\n{}", srv.log_text()),
        };
        if s == Some(503) || std::time::Instant::now() > end {
            break s;
        }
        // The signal may not have been handled yet: hang that call up and try again.
        b.ack("5000", None);
        b.bye("5000");
        b = Caller::new(srv.sip);
    };
    assert_eq!(status, Some(503));
    // A dispatcher's OPTIONS probe hears the drain too: 503 with Retry-After.
    let mut prober = Caller::new(srv.sip);
    prober.options();
    let probe = prober.final_response();
    assert_eq!(probe.status(), Some(503));
    assert_eq!(probe.header("Retry-After"), Some("60"));
    // While draining: /healthz and /readyz answer 503 with a JSON body; /livez stays 200.
    // Only the first call counts: a call that slipped in before the signal was handled was hung
    // up above, and may take a moment to be gone (bounded wait, not a timing assertion).
    let until = std::time::Instant::now() + Duration::from_secs(10);
    let (code, body, v) = loop {
        let (code, body) = srv.get("/healthz");
        let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        if v["calls"] == 1 || std::time::Instant::now() > until {
            break (code, body, v);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(code, 503, "{body}");
    assert_eq!(v["status"], "draining");
    assert_eq!(v["calls"], 1, "{body}");
    let (code, body) = srv.get("/readyz");
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("\"ready\":false"), "{body}");
    assert_eq!(srv.get("/livez").0, 200);
    assert_eq!(
        srv.wait_exit(Duration::from_millis(300)),
        None,
        "still draining"
    );

    a.bye("5000");
    assert_eq!(srv.wait_exit(Duration::from_secs(10)), Some(0));
    assert!(srv.logged("draining"));
}

#[test]
fn a_failed_registration_makes_healthz_degraded_and_names_the_account() {
    let reg = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    reg.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let domain = reg.local_addr().unwrap().to_string();
    let srv = Server::start(
        &[("menu.yaml", MENU_FLOW)],
        &[
            ("SIP_DOMAIN", &domain),
            ("SIP_USERNAME", "1001"),
            ("SIP_PASSWORD", "wrong"),
        ],
    );
    let (m, from) = next_register(&reg);
    registrar_reply(&reg, from, &m, "403 Forbidden", "");
    let end = std::time::Instant::now() + Duration::from_secs(5);
    let body = loop {
        let (status, body) = srv.get("/healthz");
        assert_eq!(status, 200);
        if body.contains("degraded") || std::time::Instant::now() > end {
            break body;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(v["status"], "degraded", "{body}");
    assert_eq!(
        v["failed_registrations"][0]["account"],
        format!("1001@{domain}"),
        "{body}"
    );
    assert!(!body.contains("wrong"), "{body}");
}

/// A scripted registrar: answers `msg` (a REGISTER) with `status`, echoing the dialog headers.
fn registrar_reply(
    sock: &std::net::UdpSocket,
    to: std::net::SocketAddr,
    msg: &run_support::Msg,
    status: &str,
    extra: &str,
) {
    let mut r = format!("SIP/2.0 {status}\r\n");
    for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
        if let Some(v) = msg.header(name) {
            r.push_str(&format!("{name}: {v}\r\n"));
        }
    }
    r.push_str(extra);
    r.push_str("Content-Length: 0\r\n\r\n");
    sock.send_to(r.as_bytes(), to).unwrap();
}

fn next_register(sock: &std::net::UdpSocket) -> (run_support::Msg, std::net::SocketAddr) {
    let mut buf = vec![0u8; 8192];
    loop {
        let (n, from) = sock
            .recv_from(&mut buf)
            .expect("a REGISTER within the timeout");
        let m = run_support::Msg::parse(&buf[..n]);
        if m.method() == Some("REGISTER") {
            return (m, from);
        }
    }
}

#[test]
fn an_account_registers_with_digest_and_unregisters_on_sigterm() {
    let reg = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    // Bounded waits, generous for a loaded machine (a debug build starting beside other tests).
    reg.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let domain = reg.local_addr().unwrap().to_string();
    let mut srv = Server::start(
        &[("menu.yaml", MENU_FLOW)],
        &[
            ("SIP_DOMAIN", &domain),
            ("SIP_USERNAME", "1001"),
            ("SIP_PASSWORD", "secret-pw"),
        ],
    );
    let (m, from) = next_register(&reg);
    assert!(m.header("Authorization").is_none());
    registrar_reply(
        &reg,
        from,
        &m,
        "401 Unauthorized",
        "WWW-Authenticate: Digest realm=\"test\", nonce=\"abc123\", qop=\"auth\", algorithm=MD5\r\n",
    );
    // UDP: the first REGISTER may have been retransmitted before our 401 arrived; skip those.
    let (m, from) = loop {
        let (m, from) = next_register(&reg);
        if m.header("Authorization").is_some() {
            break (m, from);
        }
    };
    let auth = m.header("Authorization").expect("an authenticated retry");
    assert!(
        auth.contains("username=\"1001\"") && auth.contains("nc=00000001"),
        "{auth}"
    );
    assert!(!auth.contains("secret-pw"));
    let contact = m.header("Contact").unwrap_or_default().to_string();
    let m_cseq = m.header("CSeq").unwrap_or_default().to_string();
    registrar_reply(
        &reg,
        from,
        &m,
        "200 OK",
        &format!("Contact: {contact};expires=600\r\n"),
    );
    let end = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, body) = srv.get("/api/registrations");
        if body.contains("\"state\":\"registered\"") {
            break;
        }
        assert!(std::time::Instant::now() < end, "{body}");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The registration state per account, on /metrics.
    let (_, metrics) = srv.get("/metrics");
    let line = format!("phonetree_registration_status{{account=\"1001@{domain}\"}} 1");
    assert!(metrics.contains(&line), "{metrics}");

    srv.signal("TERM");
    // Skip retransmissions of the REGISTER we answered late; the next new one must unregister.
    let (m, from) = loop {
        let (m, from) = next_register(&reg);
        if m.header("CSeq") != Some(m_cseq.as_str()) {
            break (m, from);
        }
    };
    let expires_zero = m.header("Expires") == Some("0")
        || m.header("Contact").is_some_and(|c| c.contains("expires=0"));
    assert!(expires_zero, "unregister on shutdown: {m:?}");
    registrar_reply(&reg, from, &m, "200 OK", "");
    assert_eq!(srv.wait_exit(Duration::from_secs(20)), Some(0));
}
