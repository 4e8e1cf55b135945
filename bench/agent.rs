//! Voice-agent benchmarks (`cargo bench --bench agent`, or `AGENT=1 bench/run.sh`, which writes
//! the section into BENCHMARKS.md). Not a test: nothing here asserts on time.
//!
//! The release `phonetree run` binary answers real SIP/RTP calls from this process (the
//! `tests/run_support` caller: UDP SIP, 20 ms PCMU packets) and talks to a local Realtime server
//! written here: it speaks just enough of the GA protocol (`session.created`, deltas, appends)
//! and stamps every 20 ms of audio with a tag in its first μ-law bytes, so one frame is
//! followed from one side to the other (a G.711 call is not transcoded: the bytes survive).
//!
//! - **Engine-added latency per direction**: RTP packet sent by the caller → its
//!   `input_audio_buffer.append` received by the server; server's `response.output_audio.delta`
//!   sent (one per 20 ms, at real time) → its RTP packet received by the caller. p50/p99.
//! - **First agent audio after answer**: 200 OK → first RTP packet of the agent's greeting, for a
//!   flow that starts with the agent, with `openai.preconnect` on (connect at INVITE) and off;
//!   and for a flow with a 1 s intro before the agent: intro's last packet → agent's first (the
//!   gap the caller hears). Against the local server as it is, and with 150 ms added before it
//!   accepts the websocket (a TLS handshake and a round trip to a remote service).
//! - **CPU per agent call vs a plain IVR call** at 100 concurrent calls: the agent talks all
//!   the time and the caller too (audio both ways); the IVR call plays a prompt. Twice: with the
//!   server sending each 2 s answer's audio 4× faster than real time (the service sends a
//!   response's audio faster than it plays), and paced at real time, one delta per 20 ms (the
//!   worst case: a wake-up per delta, and a playout that never has audio queued ahead). phonetree's own CPU (utime + stime of
//!   its process) over a window with every call up.

#[path = "../tests/run_support/mod.rs"]
mod run_support;

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use run_support::Caller;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// A frame's tag in its first three μ-law bytes (values avoid 0x7F, μ-law's second zero).
fn tag_bytes(tag: u32, marker: u8) -> Vec<u8> {
    let mut f = vec![0xffu8; 160];
    f[0] = (tag % 120) as u8;
    f[1] = ((tag / 120) % 120) as u8;
    f[2] = ((tag / 14_400) % 120) as u8;
    f[3] = marker;
    f
}

fn tag_of(f: &[u8], marker: u8) -> Option<u32> {
    (f.len() >= 4 && f[3] == marker && f[..3].iter().all(|b| *b < 120))
        .then(|| u32::from(f[0]) + u32::from(f[1]) * 120 + u32::from(f[2]) * 14_400)
}

/// Deltas per answer in a [`Mode::Stream`] faster than real time: 2 s of audio.
const ANSWER: u32 = 100;

const UP: u8 = 0x11; // caller → model
const DOWN: u8 = 0x22; // model → caller

/// What the bench server does with each connection.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Answer `response.create` with `frames` tagged deltas of 20 ms each. `speed` 1: one per
    /// 20 ms, at real time. `speed` k > 1: in answers of [`ANSWER`] deltas starting every
    /// `ANSWER` × 20 ms, each answer's deltas k times faster than real time (the service
    /// sends a response's audio faster than it plays): on average still real time, so the
    /// agent talks all the time either way.
    Stream { frames: u32, speed: u32 },
}

#[derive(Default)]
struct Stamps {
    /// Tag → when the server sent / received it.
    sent_down: HashMap<(usize, u32), Instant>,
    got_up: HashMap<(usize, u32), Instant>,
    connections: usize,
}

struct BenchServer {
    addr: SocketAddr,
    stamps: Arc<Mutex<Stamps>>,
    stop: Arc<AtomicBool>,
}

impl BenchServer {
    fn start(mode: Mode, accept_delay: Duration) -> BenchServer {
        let stamps = Arc::new(Mutex::new(Stamps::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let (s2, stop2) = (stamps.clone(), stop.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(l.local_addr().unwrap()).unwrap();
                while !stop2.load(Ordering::Relaxed) {
                    let Ok(Ok((sock, _))) =
                        tokio::time::timeout(Duration::from_millis(200), l.accept()).await
                    else {
                        continue;
                    };
                    let (stamps, stop) = (s2.clone(), stop2.clone());
                    // As a real service does: without it, Nagle's algorithm held each delta
                    // until phonetree's next append acknowledged the previous one (~17 ms).
                    let _ = sock.set_nodelay(true);
                    tokio::spawn(async move {
                        tokio::time::sleep(accept_delay).await;
                        let Ok(ws) = tokio_tungstenite::accept_async(sock).await else {
                            return;
                        };
                        let conn = {
                            let mut st = stamps.lock().unwrap();
                            st.connections += 1;
                            st.connections
                        };
                        serve(ws, mode, conn, stamps, stop).await;
                    });
                }
            });
        });
        BenchServer {
            addr: rx.recv().unwrap(),
            stamps,
            stop,
        }
    }

    fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }
}

impl Drop for BenchServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

async fn serve(
    ws: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    mode: Mode,
    conn: usize,
    stamps: Arc<Mutex<Stamps>>,
    stop: Arc<AtomicBool>,
) {
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        while let Some(t) = rx.recv().await {
            if sink.send(Message::Text(t.into())).await.is_err() {
                break;
            }
        }
    });
    let _ =
        tx.send(json!({"type": "session.created", "session": {"type": "realtime"}}).to_string());
    const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
    while let Some(Ok(msg)) = stream.next().await {
        let Message::Text(t) = msg else { continue };
        let now = Instant::now();
        let v: Value = serde_json::from_str(t.as_str()).unwrap_or(Value::Null);
        match v["type"].as_str() {
            Some("input_audio_buffer.append") => {
                if let Some(bytes) = v["audio"].as_str().and_then(|a| B64.decode(a).ok()) {
                    if let Some(tag) = tag_of(&bytes, UP) {
                        stamps.lock().unwrap().got_up.insert((conn, tag), now);
                    }
                }
            }
            Some("response.create") => {
                let Mode::Stream { frames, speed } = mode;
                let (tx, stamps, stop) = (tx.clone(), stamps.clone(), stop.clone());
                tokio::spawn(async move {
                    let _ = tx.send(
                        json!({"type": "response.created", "response": {"id": "r1"}}).to_string(),
                    );
                    let start = tokio::time::Instant::now();
                    let frame = Duration::from_millis(20);
                    for k in 0..frames {
                        let at = if speed <= 1 {
                            frame * k
                        } else {
                            frame * (k / ANSWER * ANSWER) + frame * (k % ANSWER) / speed
                        };
                        tokio::time::sleep_until(start + at).await;
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                        let delta = B64.encode(tag_bytes(k, DOWN));
                        let ev = json!({"type": "response.output_audio.delta", "response_id": "r1",
                            "item_id": "i1", "output_index": 0, "content_index": 0, "delta": delta});
                        stamps
                            .lock()
                            .unwrap()
                            .sent_down
                            .insert((conn, k), Instant::now());
                        if tx.send(ev.to_string()).is_err() {
                            return;
                        }
                    }
                });
            }
            _ => {}
        }
    }
}

/// The release binary with these flows, quiet logs, free ports.
struct Phonetree {
    child: Child,
    sip: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Phonetree {
    fn start(flows: &[(&str, &str)], env: &[(&str, &str)]) -> Phonetree {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("flows")).unwrap();
        std::fs::create_dir_all(dir.path().join("sound")).unwrap();
        for (name, text) in flows {
            std::fs::write(dir.path().join("flows").join(name), text).unwrap();
        }
        write_tone(&dir.path().join("sound/intro.wav"), 1);
        write_tone(&dir.path().join("sound/hold.wav"), 120);
        let sip_port = free_udp_port();
        let http_port = free_udp_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_phonetree"));
        cmd.current_dir(dir.path())
            .args(["run", "--sip", &format!("127.0.0.1:{sip_port}")])
            .args(["--http", &format!("127.0.0.1:{http_port}")])
            .args(["--flows", "flows", "--rtp-ports", "30000-39998"])
            .env("PHONETREE_LOG", "warn")
            // Every bench caller is 127.0.0.1: lift the per-source call and INVITE-rate limits.
            .env("PHONETREE_SIP_MAX_CALLS_PER_SOURCE", "0")
            .env("PHONETREE_SIP_RATE_INVITE", "0")
            .env_remove("OPENAI_API_KEY")
            .env_remove("OPENAI_BASE_URL")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().expect("phonetree");
        let p = Phonetree {
            child,
            sip: format!("127.0.0.1:{sip_port}").parse().unwrap(),
            _dir: dir,
        };
        // Ready when /healthz answers.
        let end = Instant::now() + Duration::from_secs(20);
        while Instant::now() < end {
            if std::net::TcpStream::connect(("127.0.0.1", http_port)).is_ok() {
                std::thread::sleep(Duration::from_millis(200));
                return p;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("phonetree did not start");
    }

    /// CPU seconds (user + system) used so far.
    fn cpu(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        let after = stat.rsplit(')').next().unwrap();
        let f: Vec<&str> = after.split_whitespace().collect();
        let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
        ticks / clock_ticks()
    }
}

impl Drop for Phonetree {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }) as f64
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn write_tone(path: &Path, seconds: u32) {
    let samples: Vec<u8> = (0..8000 * seconds)
        .flat_map(|i| {
            (((i as f32 * 440.0 * std::f32::consts::TAU / 8000.0).sin() * 3000.0) as i16)
                .to_le_bytes()
        })
        .collect();
    std::fs::write(path, phonetree::engine::tts::wav(&samples, 8000)).unwrap();
}

/// An answered call: the caller and where to send RTP.
fn dial(sip: SocketAddr, user: &str) -> (Caller, SocketAddr, Instant) {
    let mut c = Caller::new(sip);
    let offer = c.pcmu_offer();
    c.invite(user, Some(&offer));
    let ok = c.final_response();
    let answered = Instant::now();
    assert_eq!(ok.status(), Some(200), "{ok:?}");
    c.ack(user, None);
    let dest = ok.sdp_rtp_addr().expect("RTP address");
    c.rtp.set_nonblocking(true).unwrap();
    (c, dest, answered)
}

fn rtp(seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 0];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&0x00be_0c11_u32.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

const AGENT_FLOW: &str = "name: bot\nroutes: [\"7000\"]\nstart: bot\nnodes:\n  bot:\n    agent: { instructions: \"Bench.\", greeting: \"Hi.\", silence_timeout: 10m, max_duration: 10m }\n    next: end\n  end: { hangup: {} }\n";
const INTRO_FLOW: &str = "name: intro\nroutes: [\"7001\"]\nstart: intro\nnodes:\n  intro: { play: intro.wav, next: bot }\n  bot:\n    agent: { instructions: \"Bench.\", greeting: \"Hi.\", silence_timeout: 10m, max_duration: 10m }\n    next: end\n  end: { hangup: {} }\n";
const IVR_FLOW: &str = "name: ivr\nroutes: [\"7002\"]\nstart: hold\nnodes:\n  hold: { play: hold.wav, next: end }\n  end: { hangup: {} }\n";

fn env_for(s: &BenchServer, preconnect: bool) -> Vec<(&'static str, String)> {
    vec![
        ("OPENAI_API_KEY", "sk-bench".into()),
        ("OPENAI_BASE_URL", s.base_url()),
        ("PHONETREE_OPENAI_PRECONNECT", preconnect.to_string()),
    ]
}

fn start(flows: &[(&str, &str)], env: &[(&'static str, String)]) -> Phonetree {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Phonetree::start(flows, &env)
}

/// One call, caller sending tagged frames for `secs`, receiving the agent's: latencies (ms).
fn latency(secs: u32) -> (Vec<f64>, Vec<f64>) {
    let s = BenchServer::start(
        Mode::Stream {
            frames: secs * 50,
            speed: 1,
        },
        Duration::ZERO,
    );
    let p = start(&[("bot.yaml", AGENT_FLOW)], &env_for(&s, true));
    let (c, dest, _) = dial(p.sip, "7000");
    let mut sent_up = HashMap::new();
    let mut got_down = HashMap::new();
    let t0 = Instant::now();
    let mut buf = [0u8; 2048];
    for k in 0..secs * 50 {
        let due = t0 + Duration::from_millis(20 * u64::from(k));
        while Instant::now() < due {
            if let Ok((n, _)) = c.rtp.recv_from(&mut buf) {
                if let Some(tag) = tag_of(&buf[12..n], DOWN) {
                    got_down.entry(tag).or_insert_with(Instant::now);
                }
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        c.rtp
            .send_to(&rtp(k as u16, &tag_bytes(k, UP)), dest)
            .unwrap();
        sent_up.insert(k, Instant::now());
    }
    std::thread::sleep(Duration::from_millis(300));
    let st = s.stamps.lock().unwrap();
    let up: Vec<f64> = sent_up
        .iter()
        .filter_map(|(k, t)| st.got_up.get(&(1, *k)).map(|g| ms(*g - *t)))
        .collect();
    let down: Vec<f64> = got_down
        .iter()
        .filter_map(|(k, t)| st.sent_down.get(&(1, *k)).map(|s| ms(*t - *s)))
        .collect();
    (up, down)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// First agent audio: ms from the answer (or from the intro's end) to the first agent packet.
fn first_audio(flow: &str, user: &str, preconnect: bool, delay: Duration, calls: u32) -> Vec<f64> {
    let s = BenchServer::start(
        Mode::Stream {
            frames: 100,
            speed: 1,
        },
        delay,
    );
    let p = start(&[("f.yaml", flow)], &env_for(&s, preconnect));
    let mut out = Vec::new();
    for _ in 0..calls {
        let (c, _, answered) = dial(p.sip, user);
        let mut last_intro = None;
        let end = Instant::now() + Duration::from_secs(5);
        let mut buf = [0u8; 2048];
        while Instant::now() < end {
            match c.rtp.recv_from(&mut buf) {
                Ok((n, _)) if tag_of(&buf[12..n], DOWN).is_some() => {
                    out.push(ms(Instant::now() - last_intro.unwrap_or(answered)));
                    break;
                }
                // Silence (a μ-law zero is 0xFF or 0x7F) is not the intro.
                Ok((n, _)) if buf[12..n].iter().all(|b| b & 0x7f == 0x7f) => {}
                Ok(_) => last_intro = Some(Instant::now()),
                Err(_) => std::thread::sleep(Duration::from_micros(200)),
            }
        }
        let mut c = c;
        c.bye(user);
        std::thread::sleep(Duration::from_millis(200));
    }
    out
}

/// phonetree's CPU per call (% of a core) with `n` calls of `user` up, callers sending RTP.
fn cpu_per_call(flow: (&str, &str), user: &str, n: usize, env: &[(&'static str, String)]) -> f64 {
    let p = start(&[flow], env);
    let mut calls = Vec::new();
    for _ in 0..n {
        calls.push(dial(p.sip, user));
        std::thread::sleep(Duration::from_millis(20));
    }
    // Every 20 ms: a packet from every caller; drain what comes back.
    let run = |secs: u64| {
        let t0 = Instant::now();
        let mut k: u32 = 0;
        let mut buf = [0u8; 2048];
        while t0.elapsed() < Duration::from_secs(secs) {
            for (c, dest, _) in &calls {
                let _ = c.rtp.send_to(&rtp(k as u16, &tag_bytes(k, UP)), *dest);
                while c.rtp.recv_from(&mut buf).is_ok() {}
            }
            k += 1;
            let due = t0 + Duration::from_millis(20 * u64::from(k));
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
    };
    run(3); // settle
    let (c0, t0) = (p.cpu(), Instant::now());
    run(10);
    let used = p.cpu() - c0;
    let wall = t0.elapsed().as_secs_f64();
    for (c, _, _) in &mut calls {
        c.bye(user);
    }
    used / wall * 100.0 / n as f64
}

/// How much faster than real time the service-shaped server sends an answer's audio.
const SERVICE_SPEED: u32 = 4;

fn main() {
    let section = std::env::args().any(|a| a == "--markdown");
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_default();
    // `--cpu-only`: just the CPU comparison (for profiling it, e.g. under `perf record`).
    let cpu_only = std::env::args().any(|a| a == "--cpu-only");
    let mut rows = Vec::new();
    if !cpu_only {
        latency_and_first_audio(&mut rows);
    }
    let n = 100;
    let paced = BenchServer::start(
        Mode::Stream {
            frames: 50 * 60,
            speed: 1,
        },
        Duration::ZERO,
    );
    let agent_paced = cpu_per_call(("bot.yaml", AGENT_FLOW), "7000", n, &env_for(&paced, true));
    drop(paced);
    let service = BenchServer::start(
        Mode::Stream {
            frames: 50 * 60,
            speed: SERVICE_SPEED,
        },
        Duration::ZERO,
    );
    let agent_service = cpu_per_call(
        ("bot.yaml", AGENT_FLOW),
        "7000",
        n,
        &env_for(&service, true),
    );
    drop(service);
    let ivr = cpu_per_call(("ivr.yaml", IVR_FLOW), "7002", n, &[]);
    rows.push(format!(
        "| CPU per call at {n} concurrent calls, % of a core: agent audio in 2 s answers sent {SERVICE_SPEED}× faster than real time (as the service sends) | {agent_service:.3} % (agent: audio both ways over the websocket) | {ivr:.3} % (IVR: a prompt plays) | {:.2}× | ≤ 2× |",
        agent_service / ivr
    ));
    rows.push(format!(
        "| CPU per call at {n} concurrent calls, % of a core: agent audio paced at real time, one 20 ms delta per 20 ms (worst case) | {agent_paced:.3} % (agent: audio both ways over the websocket) | {ivr:.3} % (IVR: a prompt plays) | {:.2}× | |",
        agent_paced / ivr
    ));
    if section {
        println!("## Voice agents (`bench/agent.rs`)\n");
        println!(
            "Measured on {}, {} cores (load average {} at the start), {}; `phonetree run` against a local Realtime server written in the bench (GA events, tagged μ-law frames), callers from `tests/run_support` on the same machine.\n",
            today(),
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            load,
            if cfg!(debug_assertions) {
                "dev build (`--profile dev`: dependencies at opt-level 1, phonetree unoptimised)"
            } else {
                "release build"
            }
        );
    }
    println!("| figure | measured | baseline | ratio | target |");
    println!("|---|---|---|---|---|");
    for r in rows {
        println!("{r}");
    }
}

/// The latency rows: engine-added latency per direction, first agent audio after answer.
fn latency_and_first_audio(rows: &mut Vec<String>) {
    let (mut up, mut down) = latency(10);
    rows.push(format!(
        "| engine-added latency, RTP in → websocket out, p50 / p99 | {:.2} / {:.2} ms (n={}) | | | ≤ 5 ms p99 |",
        percentile(&mut up, 0.5),
        percentile(&mut up, 0.99),
        up.len()
    ));
    rows.push(format!(
        "| engine-added latency, websocket delta → RTP out, p50 / p99 | {:.2} / {:.2} ms (n={}) | | | ≤ 5 ms p99 |",
        percentile(&mut down, 0.5),
        percentile(&mut down, 0.99),
        down.len()
    ));
    for delay in [Duration::ZERO, Duration::from_millis(150)] {
        let label = if delay.is_zero() {
            "local server"
        } else {
            "server +150 ms handshake"
        };
        let mut on = first_audio(AGENT_FLOW, "7000", true, delay, 5);
        let mut off = first_audio(AGENT_FLOW, "7000", false, delay, 5);
        let (a, b) = (percentile(&mut on, 0.5), percentile(&mut off, 0.5));
        rows.push(format!(
            "| first agent audio after answer (flow starts with the agent), {label}, median of 5 | {a:.1} ms with pre-connect | {b:.1} ms without | {:.2}× | ≤ 300 ms |",
            a / b
        ));
        let mut on = first_audio(INTRO_FLOW, "7001", true, delay, 5);
        let mut off = first_audio(INTRO_FLOW, "7001", false, delay, 5);
        let (a, b) = (percentile(&mut on, 0.5), percentile(&mut off, 0.5));
        rows.push(format!(
            "| gap between a 1 s intro and the agent's first audio, {label}, median of 5 | {a:.1} ms with pre-connect | {b:.1} ms without | {:.2}× | |",
            a / b
        ));
    }
}

fn today() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}
