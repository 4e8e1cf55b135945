//! Faults around a running `phonetree run` (issue 10, "Faults and soak"): flows reloaded over
//! and over (half the time broken) while calls run, a registrar that goes down and comes back,
//! names that do not resolve, a webhook that never answers, a TTS engine that crashes. Calls go
//! on or take their error branch; nothing blocks other calls. Each prints its `figures:` line.
//!
//! The reload storm is sized by `PHONETREE_FAULT_RELOADS` and `PHONETREE_FAULT_CALLS`
//! (default 20 and 20 here; `bench/faults.sh` runs 100 reloads with 500 calls).

mod run_support;

use std::collections::HashSet;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::time::{Duration, Instant};

use run_support::{Caller, Msg, Server, MENU_FLOW};
use sha2::{Digest, Sha256};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The version `/api/*` shows for a flow file's text.
fn version_of(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A flow that holds calls (10 minutes of pause); `n` makes each version's text differ.
fn hold_flow(n: usize) -> String {
    format!(
        "# version {n}\nname: hold\nroutes: [\"5000\"]\ndefault: true\nstart: wait\nnodes:\n  \
         wait: {{ pause: 10m, next: bye }}\n  bye: {{ hangup: {{}} }}\n"
    )
}

/// A version that does not compile (its start node does not exist).
fn broken_flow(n: usize) -> String {
    format!("# broken {n}\nname: hold\nroutes: [\"5000\"]\nstart: nowhere\nnodes:\n  x: {{ hangup: {{}} }}\n")
}

fn answered(c: &mut Caller) {
    let offer = c.pcmu_offer();
    c.invite("5000", Some(&offer));
    let ok = c.final_response();
    assert_eq!(ok.status(), Some(200), "{ok:?}");
    c.ack("5000", None);
}

/// Call ids and versions of the live calls.
fn live_calls(srv: &Server) -> Vec<(String, String)> {
    let (_, body) = srv.get("/api/calls");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    v["calls"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| {
                    (
                        c["id"].as_str().unwrap_or("").to_string(),
                        c["version"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until `/api/flows` shows `hold.yaml` at `version` with errors (`broken`) or without.
fn wait_reloaded(srv: &Server, text: &str, broken: bool) {
    let end = Instant::now() + Duration::from_secs(10);
    let want = version_of(text);
    loop {
        let (_, body) = srv.get("/api/flows");
        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
        let flow = v["flows"]
            .as_array()
            .and_then(|a| a.iter().find(|f| f["path"] == "hold.yaml"))
            .cloned()
            .unwrap_or_default();
        let errors = flow["diagnostics"]
            .as_array()
            .is_some_and(|d| d.iter().any(|d| d["severity"] == "error"));
        // A broken save keeps the previous version in service, with the new file's errors.
        if broken && errors || !broken && !errors && flow["version"] == want.as_str() {
            return;
        }
        assert!(Instant::now() < end, "reload not seen: {body}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_reload_storm_while_calls_run_drops_no_call_and_new_calls_get_the_newest_valid_version() {
    let reloads = env_or("PHONETREE_FAULT_RELOADS", 20);
    let held = env_or("PHONETREE_FAULT_CALLS", 20);
    let first = hold_flow(0);
    let srv = Server::start(
        &[("hold.yaml", &first)],
        &[
            ("PHONETREE_RTP_TIMEOUT", "10m"),
            ("PHONETREE_SIP_MAX_CALLS_PER_SOURCE", "0"),
            ("PHONETREE_SIP_RATE_INVITE", "0"),
        ],
    );
    let path = srv.flows_dir().join("hold.yaml");
    let mut calls: Vec<Caller> = Vec::new();
    for _ in 0..held {
        let mut c = Caller::new(srv.sip);
        answered(&mut c);
        calls.push(c);
    }
    let start = Instant::now();
    let mut newest = first.clone();
    let mut checked = 0;
    let mut wrong = Vec::new();
    for i in 1..=reloads {
        let broken = i % 2 == 0;
        let text = if broken { broken_flow(i) } else { hold_flow(i) };
        std::fs::write(&path, &text).expect("save");
        wait_reloaded(&srv, &text, broken);
        if !broken {
            newest = text;
        }
        // A new call now runs the newest version that compiled.
        let before: HashSet<String> = live_calls(&srv).into_iter().map(|c| c.0).collect();
        let mut c = Caller::new(srv.sip);
        answered(&mut c);
        let after = live_calls(&srv);
        match after.iter().find(|(id, _)| !before.contains(id)) {
            Some((_, v)) if *v == version_of(&newest) => checked += 1,
            other => wrong.push(format!(
                "reload {i}: {other:?}, want {}",
                version_of(&newest)
            )),
        }
        calls.push(c);
    }
    let storm = start.elapsed();
    // No call was dropped: none got a BYE, and every one is still up to hang up now.
    let mut dropped = 0;
    for c in &calls {
        while let Some(m) = c.recv_within(Duration::from_millis(1)) {
            if m.method() == Some("BYE") {
                dropped += 1;
            }
        }
    }
    let up = live_calls(&srv).len();
    let mut bye_ok = 0;
    for c in &mut calls {
        c.bye("5000");
        if c.expect_response(c.cseq, "BYE").status() == Some(200) {
            bye_ok += 1;
        }
    }
    eprintln!(
        "figures: {reloads} reloads ({} broken) in {} ms with {held} calls held: {dropped} \
         dropped, {up} of {} calls up at the end, {bye_ok} hung up cleanly; {checked} of \
         {reloads} new calls on the newest valid version",
        reloads / 2,
        storm.as_millis(),
        calls.len()
    );
    assert!(wrong.is_empty(), "{wrong:?}");
    assert_eq!(dropped, 0);
    assert_eq!(up, calls.len());
    assert_eq!(bye_ok, calls.len());
}

/// Answers one REGISTER from `sock` with `status` (and Expires when 200).
fn answer_register(sock: &UdpSocket, req: &Msg, from: SocketAddr, status: u16, expires: u32) {
    let mut text = format!("SIP/2.0 {status} X\r\n");
    for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
        for (k, v) in &req.headers {
            if k.eq_ignore_ascii_case(name) {
                let v = if name == "To" && !v.contains("tag=") {
                    format!("{v};tag=reg")
                } else {
                    v.clone()
                };
                text.push_str(&format!("{name}: {v}\r\n"));
            }
        }
    }
    if status == 200 {
        let contact = req.header("Contact").unwrap_or("<sip:x@127.0.0.1>");
        text.push_str(&format!("Contact: {contact};expires={expires}\r\n"));
    }
    text.push_str("Content-Length: 0\r\n\r\n");
    sock.send_to(text.as_bytes(), from).expect("send");
}

/// The account's state in `/api/registrations`.
fn reg_state(srv: &Server) -> String {
    let (_, body) = srv.get("/api/registrations");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    v["registrations"][0]["state"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// Serves REGISTERs on `sock` for `d`, answering with `status` (`None`: silence, the
/// registrar is down); the number of REGISTERs seen.
fn registrar_for(sock: &UdpSocket, d: Duration, status: Option<u16>) -> usize {
    let end = Instant::now() + d;
    let mut seen = 0;
    let mut buf = vec![0u8; 65535];
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    while Instant::now() < end {
        if let Ok((n, from)) = sock.recv_from(&mut buf) {
            let m = Msg::parse(&buf[..n]);
            if m.method() == Some("REGISTER") {
                seen += 1;
                if let Some(s) = status {
                    answer_register(sock, &m, from, s, 2);
                }
            }
        }
    }
    seen
}

#[test]
fn a_registrar_that_goes_down_and_comes_back_stops_no_call() {
    let registrar = UdpSocket::bind("127.0.0.3:0").expect("registrar socket");
    let reg_addr = registrar.local_addr().unwrap();
    let srv = Server::start(
        &[("menu.yaml", MENU_FLOW)],
        &[
            ("PHONETREE_ACCOUNT_REGISTRAR", &reg_addr.to_string()),
            ("PHONETREE_ACCOUNT_USERNAME", "1001"),
            ("PHONETREE_ACCOUNT_PASSWORD", "secret"),
            ("PHONETREE_ACCOUNT_EXPIRES", "30s"),
            ("PHONETREE_REGISTRATION_BACKOFF_BASE", "1s"),
            ("PHONETREE_REGISTRATION_BACKOFF_MAX", "1s"),
        ],
    );
    // Up: registered (2 s bindings, refreshed every ~1.7 s).
    registrar_for(&registrar, Duration::from_millis(2500), Some(200));
    assert_eq!(reg_state(&srv), "registered");
    // Down, answering 503 (its database is gone): registration fails; calls from the PBX
    // (its address is trusted) are answered all along.
    let mut during = Caller::new_at(srv.sip, "127.0.0.3");
    answered(&mut during);
    let failed_regs = registrar_for(&registrar, Duration::from_secs(3), Some(503));
    let state_down = reg_state(&srv);
    let mut second = Caller::new_at(srv.sip, "127.0.0.3");
    answered(&mut second);
    // Down, silent: REGISTERs are retransmitted into the void.
    let silent_regs = registrar_for(&registrar, Duration::from_secs(2), None);
    // Back: the next attempt (or retransmission) registers again.
    registrar_for(&registrar, Duration::from_secs(4), Some(200));
    let state_back = reg_state(&srv);
    assert!(during.recv_rtp().is_some(), "the first call still plays");
    eprintln!(
        "figures: registrar 503 for 3 s ({failed_regs} REGISTERs, state {state_down}), silent \
         for 2 s ({silent_regs}), back: {state_back}; calls from the PBX answered throughout"
    );
    assert_eq!(state_down, "failed");
    assert_eq!(state_back, "registered");
    let (code, _) = srv.get("/healthz");
    assert_eq!(code, 200);
}

#[test]
fn names_that_do_not_resolve_leave_the_server_up_and_take_the_error_branch() {
    let flow = r#"
name: lookup
default: true
start: lookup
nodes:
  lookup:
    http: { url: "http://crm.phonetree-test.invalid/find", timeout: 3s }
    on_success: end
    on_error: sorry
  sorry: { play: tone.wav, next: end }
  end: { hangup: {} }
"#;
    let srv = Server::start(
        &[("lookup.yaml", flow)],
        &[
            ("PHONETREE_ACCOUNT_REGISTRAR", "pbx.phonetree-test.invalid"),
            ("PHONETREE_ACCOUNT_USERNAME", "1001"),
            ("PHONETREE_ACCOUNT_PASSWORD", "secret"),
            ("PHONETREE_SIP_ALLOW", "127.0.0.2"),
        ],
    );
    assert!(
        srv.logged("cannot resolve the registrar"),
        "{}",
        srv.log_text()
    );
    let t = Instant::now();
    let mut c = Caller::new_at(srv.sip, "127.0.0.2");
    answered(&mut c);
    // on_error plays the tone.
    assert_eq!(c.recv_rtp().map(|(pt, _, _)| pt), Some(0));
    let took = t.elapsed();
    eprintln!(
        "figures: registrar and webhook names that do not resolve: server up, call answered, \
         on_error after {} ms",
        took.as_millis()
    );
    let (_, regs) = srv.get("/api/registrations");
    assert!(regs.contains("failed"), "{regs}");
}

/// A webhook that accepts connections and never answers; how many it accepted.
fn hanging_webhook() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/slow", l.local_addr().unwrap());
    let n = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = n.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().flatten() {
            seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            held.push(s); // never answered, never closed
            if held.len() > 64 {
                break;
            }
        }
    });
    (url, n)
}

#[test]
fn a_webhook_that_hangs_times_out_into_on_error_and_other_calls_go_on() {
    let (url, accepted) = hanging_webhook();
    let flow = format!(
        r#"
name: slow
routes: ["6000"]
start: ask
nodes:
  ask:
    http: {{ url: "{url}", timeout: 2s }}
    on_success: end
    on_error: sorry
  sorry: {{ play: tone.wav, next: end }}
  end: {{ hangup: {{}} }}
"#
    );
    let srv = Server::start(&[("slow.yaml", &flow), ("menu.yaml", MENU_FLOW)], &[]);
    let t = Instant::now();
    let mut waiting = Vec::new();
    for _ in 0..5 {
        let mut c = Caller::new(srv.sip);
        let offer = c.pcmu_offer();
        c.invite("6000", Some(&offer));
        assert_eq!(c.final_response().status(), Some(200));
        c.ack("6000", None);
        waiting.push(c);
    }
    // While five calls wait on the webhook, another call is answered and plays at once.
    let mut other = Caller::new(srv.sip);
    answered(&mut other);
    assert_eq!(other.recv_rtp().map(|(pt, _, _)| pt), Some(0));
    let other_after = t.elapsed();
    // Each waiting call takes on_error after its timeout and plays the tone.
    for c in &waiting {
        assert_eq!(c.recv_rtp().map(|(pt, _, _)| pt), Some(0));
    }
    let timed_out_after = t.elapsed();
    eprintln!(
        "figures: 5 calls on a webhook that never answers ({} connections held): another call \
         played after {} ms; the five took on_error after {} ms (timeout 2 s)",
        accepted.load(std::sync::atomic::Ordering::Relaxed),
        other_after.as_millis(),
        timed_out_after.as_millis()
    );
    assert!(timed_out_after >= Duration::from_secs(2));
    assert!(srv.logged("timeout"), "{}", srv.log_text());
}

#[test]
fn a_crashing_tts_engine_fails_the_say_and_the_flow_goes_on() {
    // An `espeak-ng` on PATH that dies of SIGSEGV half-way through.
    let bin = tempfile::tempdir().unwrap();
    let fake = bin.path().join("espeak-ng");
    std::fs::write(&fake, "#!/bin/sh\nprintf 'RIFF'\nkill -SEGV $$\n").unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!("{}:/usr/bin:/bin", bin.path().display());
    let flow = r#"
name: say
routes: ["7000"]
start: greet
nodes:
  greet: { say: "Hello", next: after }
  after: { play: tone.wav, next: end }
  end: { hangup: {} }
"#;
    let srv = Server::start(
        &[("say.yaml", flow), ("menu.yaml", MENU_FLOW)],
        &[("PATH", &path)],
    );
    let mut c = Caller::new(srv.sip);
    let offer = c.pcmu_offer();
    c.invite("7000", Some(&offer));
    assert_eq!(c.final_response().status(), Some(200));
    c.ack("7000", None);
    // The failed say is skipped: the next prompt plays.
    assert_eq!(c.recv_rtp().map(|(pt, _, _)| pt), Some(0));
    assert!(srv.logged("espeak-ng failed"), "{}", srv.log_text());
    // Another call is not affected.
    let mut other = Caller::new(srv.sip);
    answered(&mut other);
    assert_eq!(other.recv_rtp().map(|(pt, _, _)| pt), Some(0));
    eprintln!(
        "figures: TTS engine killed by SIGSEGV: say failed, the flow went on, other calls fine"
    );
}
