//! Load and abuse limits of issue 10 (second part) against the real `phonetree run` on
//! loopback (docs/security.md, "Limits"): an INVITE flood from one source, `max_calls`, an INFO
//! storm's log lines, a slow HTTP client, the `Server` header, TCP responses to a closed port,
//! TCP connection limits and read deadlines.
//! Each attack is bounded in packets and time and prints its `figures:` line.

mod run_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use run_support::{Caller, Server, MENU_FLOW};

/// The server's resident memory (KiB), from /proc.
fn rss_kib(srv: &Server) -> u64 {
    std::fs::read_to_string(format!("/proc/{}/status", srv.child.id()))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// xorshift64*, for reproducible mutations.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// A call from `c` that is answered, acknowledged and sends us its RTP; whether RTP came back.
fn call_hears_audio(c: &mut Caller) -> bool {
    let offer = c.pcmu_offer();
    c.invite("5000", Some(&offer));
    let Some(ok) = c.try_final_response() else {
        return false;
    };
    if ok.status() != Some(200) {
        return false;
    }
    let dest = ok.sdp_rtp_addr().expect("RTP address");
    c.ack("5000", None);
    let mut p = vec![0x80, 0, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4];
    p.extend_from_slice(&[0xff; 160]);
    c.rtp.send_to(&p, dest).expect("rtp");
    c.recv_rtp().is_some()
}

/// `phonetree_sip_limited_total{why="<why>"}` from the server's `/metrics` (0 when absent).
fn limited(srv: &Server, why: &str) -> u64 {
    let (status, text) = srv.get("/metrics");
    assert_eq!(status, 200, "{text}");
    let series = format!("phonetree_sip_limited_total{{why=\"{why}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&series))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn an_invite_flood_from_one_source_leaves_other_sources_answered() {
    let srv = Server::start(&[("menu.yaml", MENU_FLOW)], &[]);
    let rss_before = rss_kib(&srv);
    let attacker = Caller::new(srv.sip);
    let base = format!(
        "INVITE sip:5000@{srv} SIP/2.0\r\nMax-Forwards: 70\r\nFrom: <sip:x@127.0.0.1>;tag=f\r\n\
         To: <sip:5000@{srv}>\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\n",
        srv = srv.sip
    );
    let sdp = attacker.pcmu_offer();
    let mut rng = Rng(0x5eed);
    let start = Instant::now();
    // 20,000 INVITEs never ACKed, every other one mutated (random bytes replaced).
    for i in 0..20_000u32 {
        let mut msg = format!(
            "{base}Via: SIP/2.0/UDP {};branch=z9hG4bK-fl-{i};rport\r\nCall-ID: flood-{i}\r\n\
             Content-Length: {}\r\n\r\n{sdp}",
            attacker.local(),
            sdp.len()
        )
        .into_bytes();
        if i % 2 == 1 {
            for _ in 0..4 {
                let at = (rng.next() as usize) % msg.len();
                msg[at] = rng.next() as u8;
            }
        }
        let _ = attacker.sip.send_to(&msg, srv.sip);
        if i % 500 == 0 {
            std::thread::sleep(Duration::from_millis(1)); // let the kernel buffer breathe
        }
    }
    let sent_for = start.elapsed();
    let mut answers = 0;
    let mut answered = std::collections::HashSet::new();
    while let Some(m) = attacker.recv_within(Duration::from_millis(300)) {
        answers += 1;
        if m.status() == Some(200) {
            answered.insert(m.header("Call-ID").unwrap_or("").to_string());
        }
    }
    let oks = answered.len();
    // Right afterwards, three calls from another host all work.
    let t = Instant::now();
    let mut working = 0;
    for _ in 0..3 {
        let mut c = Caller::new_at(srv.sip, "127.0.0.2");
        if call_hears_audio(&mut c) {
            working += 1;
        }
        c.bye("5000");
    }
    let rss_after = rss_kib(&srv);
    eprintln!(
        "figures: 20,000 INVITEs (half mutated) from one source in {} ms → {answers} answers, \
         {oks} calls answered; then {working} of 3 calls from another source working ({} ms); \
         RSS {} → {} KiB",
        sent_for.as_millis(),
        t.elapsed().as_millis(),
        rss_before,
        rss_after
    );
    assert_eq!(working, 3, "{}", srv.log_text());
    // The shedding is counted on /metrics.
    let shed = limited(&srv, "rate") + limited(&srv, "per_source");
    assert!(shed > 0, "phonetree_sip_limited_total: {shed}");
    assert!(
        oks <= 20,
        "the attacker's calls are capped (sip.max_calls_per_source): {oks}"
    );
    assert!(
        rss_after < rss_before + 64 * 1024,
        "memory bounded: {rss_before} → {rss_after} KiB"
    );
}

#[test]
fn max_calls_answers_503_with_retry_after_and_options_say_busy() {
    let srv = Server::start(&[("menu.yaml", MENU_FLOW)], &[("PHONETREE_MAX_CALLS", "2")]);
    let mut up = Vec::new();
    for ip in ["127.0.0.2", "127.0.0.3"] {
        let mut c = Caller::new_at(srv.sip, ip);
        let offer = c.pcmu_offer();
        c.invite("5000", Some(&offer));
        assert_eq!(c.final_response().status(), Some(200));
        c.ack("5000", None);
        up.push(c);
    }
    let mut third = Caller::new_at(srv.sip, "127.0.0.4");
    let offer = third.pcmu_offer();
    third.invite("5000", Some(&offer));
    let refused = third.final_response();
    assert_eq!(refused.status(), Some(503));
    assert_eq!(refused.header("Retry-After"), Some("5"));
    let mut prober = Caller::new_at(srv.sip, "127.0.0.5");
    prober.options();
    let probe = prober.final_response();
    assert_eq!(probe.status(), Some(503));
    assert_eq!(probe.header("Retry-After"), Some("5"));
    assert_eq!(limited(&srv, "max_calls"), 1);
    // One call ends: the next caller gets in, OPTIONS says 200 again.
    up[0].bye("5000");
    assert_eq!(up[0].expect_response(up[0].cseq, "BYE").status(), Some(200));
    std::thread::sleep(Duration::from_millis(100));
    let mut prober = Caller::new_at(srv.sip, "127.0.0.5");
    prober.options();
    assert_eq!(prober.final_response().status(), Some(200));
    eprintln!("figures: max_calls 2: third call 503 Retry-After 5, OPTIONS 503 while full");
}

/// A menu that takes key after key (every key leads back to it).
const LOOP_FLOW: &str = r#"
name: loop
routes: ["5000"]
default: true
start: menu
nodes:
  menu:
    gather: { prompt: tone.wav, digits: { min: 1, max: 1 }, timeout: 20s, tries: 3 }
    routes: { "5": menu }
    on_fail: bye
  bye: { hangup: {} }
"#;

#[test]
fn an_info_storm_does_not_flood_the_log() {
    let srv = Server::start(&[("loop.yaml", LOOP_FLOW)], &[]);
    let mut c = Caller::new(srv.sip);
    let offer = c.pcmu_offer();
    c.invite("5000", Some(&offer));
    let ok = c.final_response();
    assert_eq!(ok.status(), Some(200));
    c.ack("5000", None);
    let lines_before = srv.log.lock().unwrap().len();
    let start = Instant::now();
    let n = 3000;
    for _ in 0..n {
        c.in_dialog(
            "INFO",
            "5000",
            Some(("application/dtmf-relay", "Signal=5\r\nDuration=100\r\n")),
        );
        std::thread::sleep(Duration::from_micros(200));
    }
    let storm = start.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    c.bye("5000");
    assert!(srv.logged("call summary"), "{}", srv.log_text());
    let log = srv.log.lock().unwrap();
    // What an operator sees at the default level (the test server also logs debug lines).
    let lines = log[lines_before..]
        .iter()
        .filter(|l| !l.contains(" DEBUG ") && !l.contains(" TRACE "))
        .count();
    let summary = log
        .iter()
        .find(|l| l.contains("call summary"))
        .cloned()
        .unwrap_or_default();
    drop(log);
    eprintln!(
        "figures: {n} SIP INFO key presses in {} ms → {lines} log lines ({summary})",
        storm.as_millis()
    );
    assert!(lines < 400, "{lines} lines");
    assert!(summary.contains("suppressed_lines="), "{summary}");
    assert!(!summary.contains("suppressed_lines=0"), "{summary}");
}

#[test]
fn a_slow_http_client_is_cut_off_after_the_header_timeout() {
    let srv = Server::start(
        &[("menu.yaml", MENU_FLOW)],
        &[("PHONETREE_HTTP_HEADER_TIMEOUT", "1s")],
    );
    let mut slow = TcpStream::connect(srv.http).expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(6))).unwrap();
    let t = Instant::now();
    let mut buf = Vec::new();
    let _ = slow.read_to_end(&mut buf);
    let closed_after = t.elapsed();
    eprintln!(
        "figures: half-sent HTTP headers: connection closed after {} ms (header timeout 1 s)",
        closed_after.as_millis()
    );
    assert!(closed_after < Duration::from_secs(5), "{closed_after:?}");
    // The API still answers whole requests.
    assert_eq!(srv.get("/healthz").0, 200);
}

#[test]
fn the_server_header_has_no_version_by_default_and_can_be_set_or_dropped() {
    for (env, want) in [
        (None, Some("phonetree")),
        (Some("Acme IVR"), Some("Acme IVR")),
        (Some(""), None),
    ] {
        let vars: Vec<(&str, &str)> = env
            .map(|v| vec![("PHONETREE_SIP_USER_AGENT", v)])
            .unwrap_or_default();
        let srv = Server::start(&[("menu.yaml", MENU_FLOW)], &vars);
        let mut c = Caller::new(srv.sip);
        c.options();
        let m = c.final_response();
        assert_eq!(m.status(), Some(200));
        assert_eq!(m.header("Server"), want, "{env:?}");
    }
}

#[test]
fn tcp_responses_to_a_closed_client_port_are_not_retried_in_a_loop() {
    let srv = Server::start(&[("menu.yaml", MENU_FLOW)], &[]);
    // A TCP client sends an INVITE and closes at once: every later response of the call
    // (ringing, 200, its retransmissions, the BYE at timer H) would reconnect to its port.
    for i in 0..5 {
        let mut s = TcpStream::connect(srv.sip).expect("tcp connect");
        let local: SocketAddr = s.local_addr().unwrap();
        let rtp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let sdp = format!(
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
            rtp.local_addr().unwrap().port()
        );
        let msg = format!(
            "INVITE sip:5000@{srv} SIP/2.0\r\nVia: SIP/2.0/TCP {local};branch=z9hG4bK-tcp-{i}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:x@{local}>;tag=t{i}\r\nTo: <sip:5000@{srv}>\r\n\
             Call-ID: tcp-{i}\r\nCSeq: 1 INVITE\r\nContact: <sip:x@{local};transport=tcp>\r\n\
             Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len(),
            srv = srv.sip
        );
        s.write_all(msg.as_bytes()).unwrap();
        drop(s);
    }
    std::thread::sleep(Duration::from_secs(3));
    let log = srv.log_text();
    let warnings = log.matches("SIP TCP connect failed").count();
    eprintln!("figures: 5 TCP callers gone before our answer → {warnings} connect warnings in 3 s");
    assert!(warnings <= 5, "{log}");
    assert!(!log.contains("connected to itself"), "{log}");
    // The server is fine.
    let mut c = Caller::new(srv.sip);
    c.options();
    assert_eq!(c.final_response().status(), Some(200));
}

/// A TCP connection to `to` from the loopback address `ip` (127.0.0.x: another "source").
fn tcp_from(ip: &str, to: SocketAddr) -> TcpStream {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    rt.block_on(async {
        let s = tokio::net::TcpSocket::new_v4().unwrap();
        s.bind(format!("{ip}:0").parse().unwrap()).unwrap();
        let stream = s.connect(to).await.expect("tcp connect");
        let std = stream.into_std().unwrap();
        std.set_nonblocking(false).unwrap();
        std
    })
}

/// Whether the server closes `s` within `within` (what it sends meanwhile is skipped).
fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let end = Instant::now() + within;
    let mut buf = [0u8; 2048];
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false
            }
            Err(_) => return true, // reset
        }
    }
}

/// Sends an OPTIONS on `s` and reads the response's status line (None: no answer in 5 s).
fn tcp_options(s: &mut TcpStream, to: SocketAddr, n: u32) -> Option<u16> {
    let local = s.local_addr().unwrap();
    let msg = format!(
        "OPTIONS sip:{to} SIP/2.0\r\nVia: SIP/2.0/TCP {local};branch=z9hG4bK-opt-{n}-{}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:probe@{local}>;tag=o{n}\r\nTo: <sip:{to}>\r\n\
         Call-ID: opt-{n}-{}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        local.port(),
        local.port()
    );
    s.write_all(msg.as_bytes()).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let k = s.read(&mut buf).ok()?;
        if k == 0 {
            return None;
        }
        got.extend_from_slice(&buf[..k]);
    }
    let text = String::from_utf8_lossy(&got);
    text.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn tcp_connections_are_limited_per_source_and_in_all_and_slow_or_idle_ones_are_closed() {
    let srv = Server::start(
        &[("menu.yaml", MENU_FLOW)],
        &[
            ("PHONETREE_SIP_TCP_MAX_CONNECTIONS", "4"),
            ("PHONETREE_SIP_TCP_MAX_PER_SOURCE", "3"),
            ("PHONETREE_SIP_TCP_HEADER_TIMEOUT", "3s"),
            ("PHONETREE_SIP_TCP_IDLE_TIMEOUT", "8s"),
        ],
    );
    // Three from 127.0.0.1: two say nothing, one dribbles an INVITE a byte at a time.
    let mut silent: Vec<TcpStream> = (0..2).map(|_| tcp_from("127.0.0.1", srv.sip)).collect();
    let mut dribbler = tcp_from("127.0.0.1", srv.sip);
    let mut writer = dribbler.try_clone().unwrap();
    let dribbling = std::thread::spawn(move || {
        let invite = format!(
            "INVITE sip:5000@example.com SIP/2.0\r\nX-Slow: {}",
            "a".repeat(200)
        );
        for b in invite.bytes() {
            if writer.write_all(&[b]).is_err() {
                return true; // closed under us
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    });
    // A fourth from the same address is closed at accept.
    let mut fourth = tcp_from("127.0.0.1", srv.sip);
    assert!(closed_within(&mut fourth, Duration::from_secs(10)));
    assert_eq!(limited(&srv, "tcp_per_source"), 1);
    // Another source is served meanwhile, and fills the last slot.
    let mut other = tcp_from("127.0.0.2", srv.sip);
    assert_eq!(tcp_options(&mut other, srv.sip, 1), Some(200));
    let mut over = tcp_from("127.0.0.3", srv.sip);
    assert!(closed_within(&mut over, Duration::from_secs(10)));
    assert_eq!(limited(&srv, "tcp_full"), 1);
    // The silent ones and the dribbler are cut at the header timeout (the dribbler while it
    // is still sending).
    for s in &mut silent {
        assert!(
            closed_within(s, Duration::from_secs(20)),
            "a silent connection stayed"
        );
    }
    assert!(closed_within(&mut dribbler, Duration::from_secs(20)));
    assert!(
        dribbling.join().unwrap(),
        "the dribbler was not cut off mid-message"
    );
    assert_eq!(limited(&srv, "tcp_slow"), 3);
    // The connection that spoke outlived the header timeout and still answers ...
    assert_eq!(tcp_options(&mut other, srv.sip, 2), Some(200));
    // ... until it is silent for the idle timeout.
    assert!(closed_within(&mut other, Duration::from_secs(30)));
    assert_eq!(limited(&srv, "tcp_idle"), 1);
    // Every slot came back.
    let mut again = tcp_from("127.0.0.1", srv.sip);
    assert_eq!(tcp_options(&mut again, srv.sip, 3), Some(200));
    let log = srv.log_text();
    assert!(log.contains("SIP TCP connection refused"), "{log}");
    eprintln!(
        "figures: 4th connection from one IP and 5th in all closed at accept; 2 silent + 1 dribbling \
         connection closed at the 3 s header timeout; a connection that spoke closed after 8 s idle"
    );
}
