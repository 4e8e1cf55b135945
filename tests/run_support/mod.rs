//! Shared by the `run_*` integration tests: starts the real `phonetree run` binary on loopback
//! with ephemeral ports and a temporary flows folder, and a small UDP SIP/RTP caller to drive it.
//! Every receive has a timeout and the child is killed on drop.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const WAIT: Duration = Duration::from_secs(5);

/// A running `phonetree run`.
pub struct Server {
    pub child: Child,
    pub sip: SocketAddr,
    pub http: SocketAddr,
    pub log: Arc<Mutex<Vec<String>>>,
    dir: tempfile::TempDir,
}

/// 1 s of a 440 Hz tone, 8 kHz mono 16-bit WAV.
pub fn tone_wav() -> Vec<u8> {
    tone_wav_of(440.0, 1000)
}

/// `ms` of a `freq` Hz tone, 8 kHz mono 16-bit WAV.
pub fn tone_wav_of(freq: f32, ms: u32) -> Vec<u8> {
    let samples: Vec<i16> = (0..ms * 8)
        .map(|i| ((i as f32 * freq * std::f32::consts::TAU / 8000.0).sin() * 8000.0) as i16)
        .collect();
    let data_len = (samples.len() * 2) as u32;
    let mut w = Vec::new();
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + data_len).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes()); // PCM
    w.extend_from_slice(&1u16.to_le_bytes()); // mono
    w.extend_from_slice(&8000u32.to_le_bytes());
    w.extend_from_slice(&16000u32.to_le_bytes());
    w.extend_from_slice(&2u16.to_le_bytes());
    w.extend_from_slice(&16u16.to_le_bytes());
    w.extend_from_slice(b"data");
    w.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        w.extend_from_slice(&s.to_le_bytes());
    }
    w
}

/// A menu: the tone, then "1" hangs up at once; no key for 20 s fails over to the same end.
pub const MENU_FLOW: &str = r#"
name: menu
routes: ["5000"]
default: true
start: menu
nodes:
  menu:
    gather: { prompt: tone.wav, digits: { min: 1, max: 1 }, timeout: 20s, tries: 1 }
    routes: { "1": bye }
    on_fail: bye
  bye: { hangup: {} }
"#;

impl Server {
    /// Starts the server with `flows` (file name, YAML) and extra environment variables.
    pub fn start(flows: &[(&str, &str)], env: &[(&str, &str)]) -> Server {
        Self::start_files(flows, &[], env)
    }

    /// Like [`Server::start`], with extra files (name, text) in the working folder.
    pub fn start_files(
        flows: &[(&str, &str)],
        files: &[(&str, &str)],
        env: &[(&str, &str)],
    ) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let fdir = dir.path().join("flows");
        let sdir = dir.path().join("sound");
        std::fs::create_dir_all(&fdir).expect("flows dir");
        std::fs::create_dir_all(&sdir).expect("sound dir");
        std::fs::write(sdir.join("tone.wav"), tone_wav()).expect("wav");
        for (name, text) in flows {
            std::fs::write(fdir.join(name), text).expect("flow");
        }
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).expect("file");
        }
        Self::start_in(dir, env)
    }

    /// Like [`Server::start`], with extra sound files (name, WAV bytes) in `sound/`.
    pub fn start_sounds(
        flows: &[(&str, &str)],
        sounds: &[(&str, Vec<u8>)],
        env: &[(&str, &str)],
    ) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let fdir = dir.path().join("flows");
        let sdir = dir.path().join("sound");
        std::fs::create_dir_all(&fdir).expect("flows dir");
        std::fs::create_dir_all(&sdir).expect("sound dir");
        std::fs::write(sdir.join("tone.wav"), tone_wav()).expect("wav");
        for (name, bytes) in sounds {
            std::fs::write(sdir.join(name), bytes).expect("sound");
        }
        for (name, text) in flows {
            std::fs::write(fdir.join(name), text).expect("flow");
        }
        Self::start_in(dir, env)
    }

    /// Starts the server in `dir` (which holds `flows/` and `sound/`). The HTTP API listens on
    /// a free port unless `env` sets `PHONETREE_HTTP_LISTEN`.
    pub fn start_in(dir: tempfile::TempDir, env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_phonetree"));
        cmd.current_dir(dir.path())
            .args(["run", "--sip", "127.0.0.1:0"])
            .args(["--flows", "flows", "--rtp-ports", "40000-49998"])
            .env("PHONETREE_LOG", "info,phonetree=debug")
            .env("NO_COLOR", "1")
            // Each server its own speech cache: the default (`<temp>/phonetree-tts`) is shared by
            // every test, so one test's `say` could be another's cache hit (no engine request,
            // no metrics, a different voice).
            .env("PHONETREE_TTS_CACHE", dir.path().join("tts-cache"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for k in [
            "SIP_DOMAIN",
            "SIP_USERNAME",
            "SIP_USER",
            "SIP_PASSWORD",
            "SIP_PASS",
            "CRM_URL",
            "OPENAI_API_KEY",
            "OPENAI_BASE_URL",
        ] {
            cmd.env_remove(k);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        if !env.iter().any(|(k, _)| *k == "PHONETREE_HTTP_LISTEN") {
            cmd.args(["--http", "127.0.0.1:0"]);
        }
        let mut child = cmd.spawn().expect("spawn phonetree run");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel::<(SocketAddr, SocketAddr)>();
        let log2 = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("listening") {
                    let field = |name: &str| -> Option<SocketAddr> {
                        let start = line.find(&format!(" {name}="))? + name.len() + 2;
                        line[start..].split_whitespace().next()?.parse().ok()
                    };
                    if let (Some(s), Some(h)) = (field("sip"), field("http")) {
                        let _ = tx.send((s, h));
                    }
                }
                log2.lock().unwrap().push(line);
            }
        });
        let (sip, http) = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!("server did not start: {:#?}", log.lock().unwrap());
            }
        };
        Server {
            child,
            sip,
            http,
            log,
            dir,
        }
    }

    /// The flows folder the server watches.
    pub fn flows_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("flows")
    }

    /// Whether the server logs a line containing `needle` within a few seconds (log lines are
    /// read by another thread, so a line may lag the SIP message it goes with).
    pub fn logged(&self, needle: &str) -> bool {
        let end = Instant::now() + WAIT;
        loop {
            if self.log.lock().unwrap().iter().any(|l| l.contains(needle)) {
                return true;
            }
            if Instant::now() > end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// `GET path` → (status, body).
    pub fn get(&self, path: &str) -> (u16, String) {
        let mut s = TcpStream::connect(self.http).expect("connect http");
        s.set_read_timeout(Some(WAIT)).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).expect("http response");
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
        (status, body)
    }

    /// Any request: (status, response headers, body). `headers` are extra header lines.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String, String) {
        let mut s = TcpStream::connect(self.http).expect("connect http");
        s.set_read_timeout(Some(WAIT)).unwrap();
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        s.write_all(req.as_bytes()).unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).expect("http response");
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        (status, head.to_string(), body.to_string())
    }

    /// Stops the server (SIGKILL) and starts a new one in the same folder with `env`.
    pub fn restart(mut self, env: &[(&str, &str)]) -> Server {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("temp dir"));
        Self::start_in(dir, env)
    }

    /// Waits up to `within` for the process to exit on its own, then restarts it like
    /// [`Server::restart`].
    pub fn restart_after_exit(mut self, within: Duration, env: &[(&str, &str)]) -> Server {
        let _ = self.wait_exit(within);
        self.restart(env)
    }

    /// The folder the server runs in (its `data/` is the default database folder).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok);
    }

    /// Waits for the process to exit; its exit code.
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let end = Instant::now() + within;
        while Instant::now() < end {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A parsed SIP message.
#[derive(Debug, Clone)]
pub struct Msg {
    pub first: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Msg {
    pub fn parse(bytes: &[u8]) -> Msg {
        let text = String::from_utf8_lossy(bytes).to_string();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut lines = head.split("\r\n");
        let first = lines.next().unwrap_or("").to_string();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        Msg {
            first,
            headers,
            body: body.to_string(),
        }
    }

    pub fn status(&self) -> Option<u16> {
        let rest = self.first.strip_prefix("SIP/2.0 ")?;
        rest.split_whitespace().next()?.parse().ok()
    }

    pub fn method(&self) -> Option<&str> {
        (!self.first.starts_with("SIP/")).then(|| self.first.split(' ').next().unwrap_or(""))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The RTP address in the SDP body (`c=` and `m=audio`).
    pub fn sdp_rtp_addr(&self) -> Option<SocketAddr> {
        let ip = self
            .body
            .lines()
            .find_map(|l| l.strip_prefix("c=IN IP4 "))?;
        let port = self
            .body
            .lines()
            .find_map(|l| l.strip_prefix("m=audio "))?
            .split_whitespace()
            .next()?;
        format!("{}:{}", ip.trim(), port).parse().ok()
    }
}

/// A SIP user agent on one UDP socket, with an RTP socket beside it.
pub struct Caller {
    pub sip: UdpSocket,
    pub rtp: UdpSocket,
    pub server: SocketAddr,
    pub call_id: String,
    pub from_tag: String,
    pub to_tag: Option<String>,
    pub cseq: u32,
    /// Header lines (each ending in CRLF) added to the next request only.
    pub extra_headers: String,
    /// The user part of our From URI (the caller's number).
    pub from_user: String,
    n: u32,
}

impl Caller {
    pub fn new(server: SocketAddr) -> Caller {
        Self::new_at(server, "127.0.0.1")
    }

    /// A caller on another loopback address (`127.0.0.2`...), as another host would be.
    pub fn new_at(server: SocketAddr, ip: &str) -> Caller {
        let sip = UdpSocket::bind((ip, 0)).expect("bind sip");
        let rtp = UdpSocket::bind((ip, 0)).expect("bind rtp");
        let port = sip.local_addr().unwrap().port();
        Caller {
            sip,
            rtp,
            server,
            call_id: format!("test-{port}-{}@{ip}", std::process::id()),
            from_tag: format!("tag{port}"),
            to_tag: None,
            cseq: 1,
            extra_headers: String::new(),
            from_user: "+15550001".into(),
            n: 0,
        }
    }

    pub fn local(&self) -> SocketAddr {
        self.sip.local_addr().unwrap()
    }

    fn branch(&mut self) -> String {
        self.n += 1;
        format!("z9hG4bK-{}-{}", self.local().port(), self.n)
    }

    /// An SDP offer with the given `m=` payload types and rtpmaps.
    pub fn offer(&self, pts: &str, maps: &[&str]) -> String {
        let rtp = self.rtp.local_addr().unwrap();
        let (ip, port) = (rtp.ip(), rtp.port());
        let mut s = format!(
            "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP {pts}\r\n"
        );
        for m in maps {
            s.push_str(&format!("a={m}\r\n"));
        }
        s.push_str("a=ptime:20\r\na=sendrecv\r\n");
        s
    }

    pub fn pcmu_offer(&self) -> String {
        self.offer(
            "0 101",
            &[
                "rtpmap:0 PCMU/8000",
                "rtpmap:101 telephone-event/8000",
                "fmtp:101 0-16",
            ],
        )
    }

    fn request(
        &mut self,
        method: &str,
        user: &str,
        cseq: u32,
        body: Option<(&str, &str)>,
    ) -> String {
        let local = self.local();
        let branch = self.branch();
        let to_tag = self
            .to_tag
            .as_ref()
            .map(|t| format!(";tag={t}"))
            .unwrap_or_default();
        let (ctype, body) = match body {
            Some((t, b)) => (format!("Content-Type: {t}\r\n"), b),
            None => (String::new(), ""),
        };
        format!(
            "{method} sip:{user}@{srv} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch={branch};rport\r\n\
             Max-Forwards: 70\r\n\
             From: \"Test\" <sip:{fuser}@{local}>;tag={ftag}\r\n\
             To: <sip:{user}@{srv}>{to_tag}\r\n\
             Call-ID: {cid}\r\n\
             CSeq: {cseq} {method}\r\n\
             Contact: <sip:caller@{local}>\r\n\
             {extra}{ctype}Content-Length: {len}\r\n\r\n{body}",
            srv = self.server,
            fuser = self.from_user,
            ftag = self.from_tag,
            cid = self.call_id,
            len = body.len(),
            extra = std::mem::take(&mut self.extra_headers),
        )
    }

    pub fn send(&self, text: &str) {
        self.sip
            .send_to(text.as_bytes(), self.server)
            .expect("send");
    }

    /// Sends an INVITE; returns its text (to CANCEL it).
    pub fn invite(&mut self, user: &str, sdp: Option<&str>) -> String {
        let text = self.request("INVITE", user, 1, sdp.map(|b| ("application/sdp", b)));
        self.send(&text);
        text
    }

    /// CANCEL for a sent INVITE (same branch, RFC 3261 §9.1).
    pub fn cancel(&self, invite: &str, user: &str) {
        let via = invite.lines().find(|l| l.starts_with("Via:")).expect("via");
        let local = self.local();
        let text = format!(
            "CANCEL sip:{user}@{srv} SIP/2.0\r\n{via}\r\nMax-Forwards: 70\r\n\
             From: \"Test\" <sip:{fuser}@{local}>;tag={ftag}\r\nTo: <sip:{user}@{srv}>\r\n\
             Call-ID: {cid}\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n",
            srv = self.server,
            fuser = self.from_user,
            ftag = self.from_tag,
            cid = self.call_id,
        );
        self.send(&text);
    }

    pub fn ack(&mut self, user: &str, sdp: Option<&str>) {
        let text = self.request("ACK", user, 1, sdp.map(|b| ("application/sdp", b)));
        self.send(&text);
    }

    /// An in-dialog request with the next CSeq (re-INVITE, INFO); returns the CSeq used.
    pub fn in_dialog(&mut self, method: &str, user: &str, body: Option<(&str, &str)>) -> u32 {
        self.cseq += 1;
        let text = self.request(method, user, self.cseq, body);
        self.send(&text);
        self.cseq
    }

    /// ACK for a re-INVITE answered 200.
    pub fn ack_cseq(&mut self, user: &str, cseq: u32) {
        self.ack_cseq_sdp(user, cseq, None);
    }

    /// ACK for a re-INVITE, carrying the SDP answer when the re-INVITE had no offer.
    pub fn ack_cseq_sdp(&mut self, user: &str, cseq: u32, sdp: Option<&str>) {
        let text = self.request("ACK", user, cseq, sdp.map(|b| ("application/sdp", b)));
        self.send(&text);
    }

    /// Waits for a request with `method` from the server (answering nothing else).
    pub fn expect_request(&self, method: &str) -> Msg {
        self.expect_request_within(method, WAIT)
    }

    /// Like [`Caller::expect_request`] with a longer wait.
    pub fn expect_request_within(&self, method: &str, within: Duration) -> Msg {
        let end = Instant::now() + within;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let m = self
                .recv_within(left)
                .unwrap_or_else(|| panic!("no {method} within the timeout"));
            if m.method() == Some(method) {
                return m;
            }
        }
    }

    /// Waits for the response to the request with `cseq` `method`.
    pub fn expect_response(&self, cseq: u32, method: &str) -> Msg {
        let want = format!("{cseq} {method}");
        let end = Instant::now() + WAIT;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let m = self
                .recv_within(left)
                .unwrap_or_else(|| panic!("no response to {want} within the timeout"));
            if m.status().is_some_and(|s| s >= 200) && m.header("CSeq") == Some(want.as_str()) {
                return m;
            }
        }
    }

    pub fn bye(&mut self, user: &str) {
        self.cseq += 1;
        let text = self.request("BYE", user, self.cseq, None);
        self.send(&text);
    }

    pub fn options(&mut self) {
        let text = self.request("OPTIONS", "ping", 1, None);
        self.send(&text);
    }

    /// The next SIP message, within `WAIT`.
    pub fn recv(&self) -> Msg {
        self.recv_within(WAIT)
            .expect("no SIP message within the timeout")
    }

    pub fn recv_within(&self, d: Duration) -> Option<Msg> {
        self.sip.set_read_timeout(Some(d)).unwrap();
        let mut buf = vec![0u8; 65535];
        let (n, _) = self.sip.recv_from(&mut buf).ok()?;
        Some(Msg::parse(&buf[..n]))
    }

    /// Skips provisional responses; the first final response.
    pub fn final_response(&mut self) -> Msg {
        self.try_final_response().expect("no final response")
    }

    /// Like [`Caller::final_response`], `None` on timeout.
    pub fn try_final_response(&mut self) -> Option<Msg> {
        let end = Instant::now() + WAIT;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let m = self.recv_within(left)?;
            match m.status() {
                Some(s) if s >= 200 => {
                    if let Some(tag) = m
                        .header("To")
                        .and_then(|t| t.split(";tag=").nth(1))
                        .map(|t| t.split(';').next().unwrap_or(t).to_string())
                    {
                        self.to_tag = Some(tag);
                    }
                    return Some(m);
                }
                _ => continue,
            }
        }
    }

    /// Answers an in-dialog request from the server with 200 OK.
    pub fn reply_ok(&self, req: &Msg) {
        let mut text = String::from("SIP/2.0 200 OK\r\n");
        for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
            for (k, v) in &req.headers {
                if k.eq_ignore_ascii_case(name) {
                    text.push_str(&format!("{name}: {v}\r\n"));
                }
            }
        }
        text.push_str("Content-Length: 0\r\n\r\n");
        self.send(&text);
    }

    /// The next RTP packet (payload type, payload length), within `WAIT`.
    pub fn recv_rtp(&self) -> Option<(u8, usize, SocketAddr)> {
        self.rtp.set_read_timeout(Some(WAIT)).unwrap();
        let mut buf = vec![0u8; 2048];
        let (n, from) = self.rtp.recv_from(&mut buf).ok()?;
        (n >= 12 && buf[0] >> 6 == 2).then(|| (buf[1] & 0x7f, n - 12, from))
    }

    /// Sends one key as RFC 4733 events (3 updates, 3 end packets) to `dest`, plus PCMU
    /// silence before it so the server learns our address.
    pub fn send_rfc4733(&self, dest: SocketAddr, event: u8, pt: u8) {
        let ssrc = 0x1234_5678u32;
        let mut seq = 100u16;
        let ts = 8000u32;
        let packet = |marker: bool, payload_type: u8, payload: &[u8], ts: u32, seq: u16| {
            let mut p = vec![0x80, (u8::from(marker) << 7) | payload_type];
            p.extend_from_slice(&seq.to_be_bytes());
            p.extend_from_slice(&ts.to_be_bytes());
            p.extend_from_slice(&ssrc.to_be_bytes());
            p.extend_from_slice(payload);
            self.rtp.send_to(&p, dest).expect("rtp send");
        };
        for i in 0..5u32 {
            packet(i == 0, 0, &[0xff; 160], ts - 800 + i * 160, seq);
            seq += 1;
        }
        for (i, dur) in [160u16, 320, 480].into_iter().enumerate() {
            let payload = [event, 10, (dur >> 8) as u8, dur as u8];
            packet(i == 0, pt, &payload, ts, seq);
            seq += 1;
            std::thread::sleep(Duration::from_millis(20));
        }
        for _ in 0..3 {
            let dur = 640u16;
            let payload = [event, 0x80 | 10, (dur >> 8) as u8, dur as u8];
            packet(false, pt, &payload, ts, seq);
            seq += 1;
        }
    }
}

/// Headers of a request as a map (lower-case names), for assertions.
pub fn header_map(m: &Msg) -> HashMap<String, String> {
    m.headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect()
}

/// A folder path as text.
pub fn p(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}
