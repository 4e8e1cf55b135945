//! What `phonetree run` logs about a live call: every flow event with the call id (the same
//! events `simulate` prints), a webhook that answers 501, the summary line, caller numbers in
//! clear unless `log.redact_numbers`, `.env` values reaching the flow's `env:`, and the SIP
//! message trace with credentials masked.

mod run_support;

use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::sync::mpsc;
use std::time::Duration;

use run_support::{Caller, Msg, Server};

/// A webhook (read from `.env`), then a one-key menu.
const HOOKS_FLOW: &str = r#"
name: hooks
routes: ["5000"]
env: [HOOK_URL]
start: lookup
nodes:
  lookup:
    http: { method: POST, url: "{{ env.HOOK_URL }}/lookup?key=SECRET", json: { caller: "{{ call.from }}" }, timeout: 3s }
    on_success: menu
    on_error: menu
  menu:
    gather: { prompt: tone.wav, digits: { min: 1, max: 1 }, timeout: 20s, tries: 1 }
    routes: { "1": bye }
    on_fail: bye
  bye: { hangup: {} }
"#;

/// An HTTP server that answers one request with `501 Not Implemented` and reports the request.
fn webhook_501() -> (String, mpsc::Receiver<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = l.accept() {
            s.set_read_timeout(Some(Duration::from_secs(5))).ok();
            let mut buf = vec![0u8; 8192];
            let n = s.read(&mut buf).unwrap_or(0);
            let _ = tx.send(String::from_utf8_lossy(&buf[..n]).into_owned());
            let _ = s.write_all(
                b"HTTP/1.1 501 Not Implemented\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            );
        }
    });
    (url, rx)
}

/// Places a call to 5000, waits for the webhook and the prompt, presses 1, answers the BYE.
fn call_and_press_1(srv: &Server, hook: &mpsc::Receiver<String>) -> String {
    let mut c = Caller::new(srv.sip);
    let offer = c.pcmu_offer();
    c.invite("5000", Some(&offer));
    let ok = c.final_response();
    assert_eq!(ok.status(), Some(200), "{ok:?}");
    let rtp_dest = ok.sdp_rtp_addr().expect("RTP address");
    c.ack("5000", None);
    let request = hook
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("the webhook was not called: {}", srv.log_text()));
    c.recv_rtp().expect("the prompt plays");
    c.send_rfc4733(rtp_dest, 1, 101);
    let bye = loop {
        let m: Msg = c.recv();
        if m.method() == Some("BYE") {
            break m;
        }
    };
    c.reply_ok(&bye);
    assert!(srv.logged("call summary"), "{}", srv.log_text());
    request
}

fn lines_with<'a>(log: &'a str, needle: &str) -> Vec<&'a str> {
    log.lines().filter(|l| l.contains(needle)).collect()
}

#[test]
fn a_live_call_logs_each_flow_event_and_a_summary_and_a_501_is_a_warning() {
    let (url, hook) = webhook_501();
    let dotenv = format!("HOOK_URL={url}\n");
    let srv = Server::start_files(&[("hooks.yaml", HOOKS_FLOW)], &[(".env", &dotenv)], &[]);
    let request = call_and_press_1(&srv, &hook);
    // `.env` reached the flow's `env:` allow-list (the request came to our webhook).
    assert!(request.starts_with("POST /lookup?key=SECRET "), "{request}");
    assert!(request.contains(r#"{"caller":"+15550001"}"#), "{request}");
    let log = srv.log_text();
    let call_lines = lines_with(&log, " call=");
    for event in [
        "answer",
        "node",
        "http",
        "http_response",
        "play",
        "dtmf",
        "hangup",
    ] {
        assert!(
            call_lines
                .iter()
                .any(|l| l.contains(&format!("event=\"{event}\""))),
            "no `{event}` line: {log}"
        );
    }
    let http = lines_with(&log, "event=\"http\"");
    assert!(http[0].contains("http POST http://127.0.0.1:"), "{http:?}");
    assert!(http[0].contains("/lookup?… (node lookup)"), "{http:?}");
    let r501 = lines_with(&log, "http_response 501");
    assert_eq!(r501.len(), 1, "{log}");
    assert!(r501[0].contains("WARN"), "{}", r501[0]);
    assert!(lines_with(&log, "event=\"dtmf\"")[0].contains("dtmf 1"));
    assert!(!log.contains("SECRET"), "no query string in logs: {log}");
    let summary = lines_with(&log, "call summary");
    assert_eq!(summary.len(), 1, "{log}");
    for field in [
        "flow=hooks",
        "version=",
        "from=+15550001",
        "to=5000",
        "duration_ms=",
        "end=flow",
        "keys=1",
        "last_node=bye",
    ] {
        assert!(summary[0].contains(field), "{field}: {}", summary[0]);
    }
    // Every flow line carries the same call id as the summary.
    let id = summary[0]
        .split(" call=")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    assert!(call_lines
        .iter()
        .filter(|l| l.contains(" event="))
        .all(|l| l.contains(&format!(" call={id} "))));
}

#[test]
fn redact_numbers_masks_the_caller_but_never_the_dialled_number() {
    let (url, hook) = webhook_501();
    let dotenv = format!("HOOK_URL={url}\n");
    let srv = Server::start_files(
        &[("hooks.yaml", HOOKS_FLOW)],
        &[(".env", &dotenv)],
        &[("PHONETREE_LOG_REDACT_NUMBERS", "true")],
    );
    call_and_press_1(&srv, &hook);
    let log = srv.log_text();
    assert!(!log.contains("15550001"), "the caller is masked: {log}");
    let summary = lines_with(&log, "call summary");
    assert!(summary[0].contains("from=***001"), "{}", summary[0]);
    assert!(summary[0].contains("to=5000"), "{}", summary[0]);
    assert!(summary[0].contains("keys=•"), "{}", summary[0]);
    assert!(lines_with(&log, "event=\"dtmf\"")[0].contains("dtmf •"));
}

#[test]
fn sip_trace_logs_whole_messages_with_authorization_masked() {
    // A registrar that challenges the REGISTER, so the next one carries Authorization.
    let registrar = UdpSocket::bind("127.0.0.1:0").unwrap();
    registrar
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let domain = registrar.local_addr().unwrap().to_string();
    let dotenv = format!("SIP_DOMAIN={domain}\nSIP_USER=1001\nSIP_PASS=trace-secret\n");
    let srv = Server::start_files(
        &[("menu.yaml", run_support::MENU_FLOW)],
        &[(".env", &dotenv)],
        &[("PHONETREE_LOG_SIP_TRACE", "on")],
    );
    let mut buf = vec![0u8; 4096];
    let (n, from) = registrar.recv_from(&mut buf).expect("REGISTER");
    let first = Msg::parse(&buf[..n]);
    let challenge = format!(
        "SIP/2.0 401 Unauthorized\r\nVia: {}\r\nFrom: {}\r\nTo: {};tag=r1\r\nCall-ID: {}\r\nCSeq: {}\r\n\
         WWW-Authenticate: Digest realm=\"test\", nonce=\"n0nce\", algorithm=MD5, qop=\"auth\"\r\n\
         Content-Length: 0\r\n\r\n",
        first.header("Via").unwrap(),
        first.header("From").unwrap(),
        first.header("To").unwrap(),
        first.header("Call-ID").unwrap(),
        first.header("CSeq").unwrap(),
    );
    registrar.send_to(challenge.as_bytes(), from).unwrap();
    let (n, _) = registrar
        .recv_from(&mut buf)
        .expect("REGISTER with credentials");
    let second = Msg::parse(&buf[..n]);
    let auth = second
        .header("Authorization")
        .expect("Authorization")
        .to_string();
    let response = auth
        .split("response=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a digest response")
        .to_string();
    assert!(
        srv.logged("Authorization: Digest username=\"1001\", ***"),
        "{}",
        srv.log_text()
    );
    assert!(srv.logged("SIP/2.0 401 Unauthorized"));
    assert!(srv.logged("REGISTER sip:"));
    let log = srv.log_text();
    assert!(
        !log.contains(&response),
        "the digest response is masked: {log}"
    );
    assert!(!log.contains("trace-secret"), "{log}");
    assert!(
        log.contains("dir=\"sent\"") && log.contains("dir=\"received\""),
        "{log}"
    );
}
