//! Websocket-media benchmarks (`cargo bench --bench twilio`, or `TWILIO=1 bench/run.sh`, which
//! writes bench/TWILIO.md and its section of BENCHMARKS.md). Not a test: nothing asserts on time.
//!
//! The release `phonetree run` binary answers calls from this process, as Twilio would (a
//! websocket to `/twilio/stream`: `connected`, `start`, a `media` frame every 20 ms, marks
//! echoed) and as a SIP caller would (`tests/run_support`: UDP SIP, 20 ms PCMU packets). A bot
//! written here speaks Twilio's protocol to the `stream` node (it reads `start`/`media`, sends a
//! `media` frame every 20 ms). Every 20 ms of audio carries a tag in its first μ-law bytes, so
//! one frame is followed from one side to the other (μ-law in, μ-law out: no transcoding
//! changes the bytes; the tags avoid 0x7F, μ-law's second zero).
//!
//! - **Added latency per direction**, for a Twilio-leg call and for a SIP call, both connected
//!   by a `stream` node to the bot: caller's frame sent (websocket `media` / RTP) → its `media`
//!   received by the bot; bot's `media` sent (at real time) → its frame received by the caller.
//!   p50/p99 over 10 s, the first second left out (connection set-up).
//! - **CPU per call** (utime + stime of the phonetree process over 10 s with every call up, per
//!   call, % of a core) at `--calls` concurrent calls of each kind: Twilio leg → bot, SIP → bot,
//!   a plain SIP IVR call (a prompt plays) and a Twilio-leg IVR call, in the same run.
//! - **Concurrent Twilio-leg calls** (`--steps`, default 250, 500, 1000): each call plays a
//!   2-minute prompt while sending Twilio's 50 frames/s. Over a 10 s window with every call up,
//!   a frame's *lateness* is its arrival minus the call's own best schedule (the earliest
//!   arrival − 20 ms × index of the window, so a perfectly paced call has 0 everywhere). A call
//!   *held* when it stayed connected, got every frame of the window and none was more than
//!   20 ms late. Both sides run on this machine: the callers' own scheduling counts against
//!   phonetree, so the figures are an upper bound of what phonetree adds.

#[path = "../tests/run_support/mod.rs"]
mod run_support;

use std::collections::{BTreeMap, HashMap};
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use phonetree::wsmedia::twilio::{
    encode_to_twilio, parse_from_twilio, parse_to_twilio, FromTwilio, ToTwilio, TwilioSide,
};
use run_support::Caller;
use tokio_tungstenite::tungstenite::Message;

const FRAME: Duration = Duration::from_millis(20);
const UP: u8 = 0x11; // caller → bot
const DOWN: u8 = 0x22; // bot → caller

/// A frame's tag in its first three μ-law bytes (values below 120: never 0x7F).
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

fn runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// The bot: a Twilio-protocol websocket server.

#[derive(Default)]
struct BotStamps {
    /// (connection, tag) → when the bot sent / received it.
    sent_down: HashMap<(usize, u32), Instant>,
    got_up: HashMap<(usize, u32), Instant>,
    connections: usize,
}

struct Bot {
    addr: SocketAddr,
    stamps: Arc<Mutex<BotStamps>>,
    stop: Arc<AtomicBool>,
}

impl Bot {
    fn start() -> Bot {
        let stamps = Arc::new(Mutex::new(BotStamps::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let (s2, stop2) = (stamps.clone(), stop.clone());
        std::thread::spawn(move || {
            runtime(1).block_on(async move {
                let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(l.local_addr().unwrap()).unwrap();
                while !stop2.load(Ordering::Relaxed) {
                    let Ok(Ok((sock, _))) =
                        tokio::time::timeout(Duration::from_millis(200), l.accept()).await
                    else {
                        continue;
                    };
                    let (stamps, stop) = (s2.clone(), stop2.clone());
                    tokio::spawn(async move {
                        let Ok(ws) = tokio_tungstenite::accept_async(sock).await else {
                            return;
                        };
                        let conn = {
                            let mut st = stamps.lock().unwrap();
                            st.connections += 1;
                            st.connections
                        };
                        bot_conn(ws, conn, stamps, stop).await;
                    });
                }
            });
        });
        Bot {
            addr: rx.recv().unwrap(),
            stamps,
            stop,
        }
    }
}

impl Drop for Bot {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

async fn bot_conn(
    ws: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    conn: usize,
    stamps: Arc<Mutex<BotStamps>>,
    stop: Arc<AtomicBool>,
) {
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        while let Some(t) = rx.recv().await {
            if sink.send(Message::text(t)).await.is_err() {
                break;
            }
        }
    });
    while let Some(Ok(msg)) = stream.next().await {
        let Message::Text(t) = msg else { continue };
        let now = Instant::now();
        match parse_from_twilio(t.as_str()) {
            Ok(FromTwilio::Start(start)) => {
                // Stream tagged frames at real time until the call or the run ends.
                let (tx, stamps, stop) = (tx.clone(), stamps.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut tick = tokio::time::interval(FRAME);
                    for k in 0.. {
                        tick.tick().await;
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                        let text = encode_to_twilio(
                            &ToTwilio::Media(tag_bytes(k, DOWN)),
                            &start.stream_sid,
                        );
                        stamps
                            .lock()
                            .unwrap()
                            .sent_down
                            .insert((conn, k), Instant::now());
                        if tx.send(text).is_err() {
                            return;
                        }
                    }
                });
            }
            Ok(FromTwilio::Media(m)) => {
                if let Some(tag) = tag_of(&m.payload, UP) {
                    stamps.lock().unwrap().got_up.insert((conn, tag), now);
                }
            }
            Ok(FromTwilio::Stop) => break,
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// phonetree

/// The release binary with these flows, quiet logs, free ports, limits raised for the run.
struct Phonetree {
    child: Child,
    sip: SocketAddr,
    http: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Phonetree {
    fn start(flows: &[(&str, &str)]) -> Phonetree {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("flows")).unwrap();
        std::fs::create_dir_all(dir.path().join("sound")).unwrap();
        for (name, text) in flows {
            std::fs::write(dir.path().join("flows").join(name), text).unwrap();
        }
        write_tone(&dir.path().join("sound/hold.wav"), 120);
        let sip_port = free_port();
        let http_port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_phonetree"))
            .current_dir(dir.path())
            .args(["run", "--sip", &format!("127.0.0.1:{sip_port}")])
            .args(["--http", &format!("127.0.0.1:{http_port}")])
            .args(["--flows", "flows", "--rtp-ports", "30000-39998"])
            .env("PHONETREE_LOG", "warn")
            .env("PHONETREE_TWILIO_MAX_CALLS", "5000")
            .env("PHONETREE_MAX_CALLS", "5000")
            .env("PHONETREE_SIP_MAX_CALLS_PER_SOURCE", "0")
            .env("PHONETREE_SIP_RATE_INVITE", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("phonetree");
        let p = Phonetree {
            child,
            sip: format!("127.0.0.1:{sip_port}").parse().unwrap(),
            http: format!("127.0.0.1:{http_port}").parse().unwrap(),
            _dir: dir,
        };
        let end = Instant::now() + Duration::from_secs(20);
        while Instant::now() < end {
            if std::net::TcpStream::connect(p.http).is_ok() {
                std::thread::sleep(Duration::from_millis(200));
                return p;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("phonetree did not start");
    }

    fn ws_url(&self) -> String {
        format!("ws://{}/twilio/stream", self.http)
    }

    /// CPU seconds (user + system) used so far.
    fn cpu(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        let after = stat.rsplit(')').next().unwrap();
        let f: Vec<&str> = after.split_whitespace().collect();
        let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
        // SAFETY: sysconf has no preconditions.
        ticks / (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }) as f64
    }
}

impl Drop for Phonetree {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
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

fn bot_flow(bot: SocketAddr) -> String {
    format!(
        "name: twbot\nroutes: [\"7100\"]\nstart: bot\nnodes:\n  bot:\n    \
         stream: {{ url: \"ws://{bot}/bot\", protocol: twilio, max_duration: 10m }}\n    \
         on_error: end\n    next: end\n  end: {{ hangup: {{}} }}\n"
    )
}

const IVR_FLOW: &str = "name: ivr\nroutes: [\"7002\"]\nstart: hold\nnodes:\n  hold: { play: hold.wav, next: end }\n  end: { hangup: {} }\n";

// ---------------------------------------------------------------------------------------------
// Twilio's side: one call over the websocket.

/// What one simulated Twilio call saw.
#[derive(Default)]
struct CallLog {
    connected: bool,
    /// Tagged frames the caller sent: (tag, when).
    sent_up: Vec<(u32, Instant)>,
    /// Frames received from `record_from` on: (index since the call's first frame, when, tag).
    got: Vec<(u32, Instant, Option<u32>)>,
}

/// Calls `url` as Twilio (call number `n`, custom parameter `flow`), sends a frame every 20 ms
/// (tagged when `tag_up`) until `until`, echoes marks, records frames received from
/// `record_from` on.
async fn twilio_call(
    url: String,
    n: usize,
    flow: &'static str,
    tag_up: bool,
    record_from: Instant,
    until: Instant,
) -> CallLog {
    let mut log = CallLog::default();
    let connect = tokio_tungstenite::connect_async(url.as_str());
    let Ok(Ok((ws, _))) = tokio::time::timeout(Duration::from_secs(10), connect).await else {
        return log;
    };
    log.connected = true;
    let (mut tx, mut rx) = ws.split();
    let mut side = TwilioSide::new(&format!("MZ{n:032}"), &format!("CA{n:032}"), "AC0001");
    let custom = BTreeMap::from([("flow".to_string(), flow.to_string())]);
    if tx.send(Message::text(side.connected())).await.is_err()
        || tx.send(Message::text(side.start(&custom))).await.is_err()
    {
        log.connected = false;
        return log;
    }
    let mut tick = tokio::time::interval(FRAME);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut k, mut idx) = (0u32, 0u32);
    let silence = vec![0xffu8; 160];
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if Instant::now() >= until {
                    break;
                }
                let frame = if tag_up { tag_bytes(k, UP) } else { silence.clone() };
                let text = Message::text(side.media(&frame, u64::from(k) * 20));
                let at = Instant::now();
                if tx.send(text).await.is_err() {
                    log.connected = false;
                    break;
                }
                if tag_up {
                    log.sent_up.push((k, at));
                }
                k += 1;
            }
            m = rx.next() => {
                let now = Instant::now();
                match m {
                    Some(Ok(Message::Text(t))) => match parse_to_twilio(t.as_str()) {
                        Ok(ToTwilio::Media(bytes)) => {
                            if now >= record_from {
                                log.got.push((idx, now, tag_of(&bytes, DOWN)));
                            }
                            idx += 1;
                        }
                        Ok(ToTwilio::Mark(name)) => {
                            let _ = tx.send(Message::text(side.mark(&name))).await;
                        }
                        _ => {}
                    },
                    Some(Ok(_)) => {}
                    _ => {
                        log.connected = false;
                        break;
                    }
                }
            }
        }
    }
    let _ = tx.send(Message::text(side.stop())).await;
    let _ = tx.close().await;
    log
}

// ---------------------------------------------------------------------------------------------
// SIP callers

/// An answered SIP call: the caller and where to send RTP.
fn dial(sip: SocketAddr, user: &str) -> (Caller, SocketAddr) {
    let mut c = Caller::new(sip);
    let offer = c.pcmu_offer();
    c.invite(user, Some(&offer));
    let ok = c.final_response();
    assert_eq!(ok.status(), Some(200), "{ok:?}");
    c.ack(user, None);
    let dest = ok.sdp_rtp_addr().expect("RTP address");
    c.rtp.set_nonblocking(true).unwrap();
    (c, dest)
}

fn rtp(seq: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 0];
    p.extend_from_slice(&(seq as u16).to_be_bytes());
    p.extend_from_slice(&(seq * 160).to_be_bytes());
    p.extend_from_slice(&0x00be_0c11_u32.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

// ---------------------------------------------------------------------------------------------
// Measurements

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn p50_p99(mut v: Vec<f64>) -> String {
    format!(
        "{:.2} / {:.2} ms (n={})",
        percentile(&mut v, 0.5),
        percentile(&mut v, 0.99),
        v.len()
    )
}

/// Frames of the first second are left out of the latency figures (set-up).
const SKIP: u32 = 50;

/// Latency (up, down) of one Twilio-leg call bridged to the bot, over `secs`.
fn twilio_bot_latency(secs: u64) -> (Vec<f64>, Vec<f64>) {
    let bot = Bot::start();
    let p = Phonetree::start(&[("twbot.yaml", &bot_flow(bot.addr))]);
    let now = Instant::now();
    let until = now + Duration::from_secs(secs);
    let log = runtime(1).block_on(twilio_call(p.ws_url(), 1, "twbot", true, now, until));
    std::thread::sleep(Duration::from_millis(300));
    let st = bot.stamps.lock().unwrap();
    let up = log
        .sent_up
        .iter()
        .filter(|(k, _)| *k >= SKIP)
        .filter_map(|(k, t)| st.got_up.get(&(1, *k)).map(|g| ms(*g - *t)))
        .collect();
    let down = log
        .got
        .iter()
        .filter_map(|(_, t, tag)| {
            let tag = (*tag)?;
            (tag >= SKIP).then_some(())?;
            st.sent_down.get(&(1, tag)).map(|s| ms(*t - *s))
        })
        .collect();
    (up, down)
}

/// Latency (up, down) of one SIP call bridged to the bot, over `secs`.
fn sip_bot_latency(secs: u32) -> (Vec<f64>, Vec<f64>) {
    let bot = Bot::start();
    let p = Phonetree::start(&[("twbot.yaml", &bot_flow(bot.addr))]);
    let (c, dest) = dial(p.sip, "7100");
    let mut sent_up = HashMap::new();
    let mut got_down: HashMap<u32, Instant> = HashMap::new();
    let t0 = Instant::now();
    let mut buf = [0u8; 2048];
    for k in 0..secs * 50 {
        let due = t0 + FRAME * k;
        while Instant::now() < due {
            if let Ok((n, _)) = c.rtp.recv_from(&mut buf) {
                if let Some(tag) = tag_of(&buf[12..n], DOWN) {
                    got_down.entry(tag).or_insert_with(Instant::now);
                }
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        let packet = rtp(k, &tag_bytes(k, UP));
        sent_up.insert(k, Instant::now());
        c.rtp.send_to(&packet, dest).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    let st = bot.stamps.lock().unwrap();
    let up = sent_up
        .iter()
        .filter(|(k, _)| **k >= SKIP)
        .filter_map(|(k, t)| st.got_up.get(&(1, *k)).map(|g| ms(*g - *t)))
        .collect();
    let down = got_down
        .iter()
        .filter(|(k, _)| **k >= SKIP)
        .filter_map(|(k, t)| st.sent_down.get(&(1, *k)).map(|s| ms(*t - *s)))
        .collect();
    (up, down)
}

const SETTLE: Duration = Duration::from_secs(3);
const WINDOW: Duration = Duration::from_secs(10);

/// `n` Twilio-leg calls of `flow`, started `stagger` apart; phonetree's CPU over the window
/// (CPU seconds per second) and each call's log.
fn twilio_calls(
    p: &Phonetree,
    flow: &'static str,
    n: usize,
    stagger: Duration,
    tag_up: bool,
) -> (f64, Instant, Vec<CallLog>) {
    let rt = runtime(2);
    let start = Instant::now();
    let window_from = start + stagger * n as u32 + SETTLE;
    let until = window_from + WINDOW + Duration::from_millis(500);
    let url = p.ws_url();
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let url = url.clone();
            rt.spawn(async move {
                tokio::time::sleep(stagger * i as u32).await;
                twilio_call(url, i + 1, flow, tag_up, window_from, until).await
            })
        })
        .collect();
    std::thread::sleep(window_from.saturating_duration_since(Instant::now()));
    let (c0, t0) = (p.cpu(), Instant::now());
    std::thread::sleep(WINDOW);
    let cpu = (p.cpu() - c0) / t0.elapsed().as_secs_f64();
    let logs = rt.block_on(async {
        let mut logs = Vec::new();
        for t in tasks {
            logs.push(t.await.unwrap_or_default());
        }
        logs
    });
    (cpu, window_from, logs)
}

/// phonetree's CPU per call (% of a core) with `n` SIP calls of `user` up, callers sending RTP.
fn cpu_sip(p: &Phonetree, user: &str, n: usize) -> f64 {
    let calls: Vec<_> = (0..n)
        .map(|_| {
            let c = dial(p.sip, user);
            std::thread::sleep(Duration::from_millis(20));
            c
        })
        .collect();
    let run = |d: Duration| {
        let t0 = Instant::now();
        let mut k: u32 = 0;
        let mut buf = [0u8; 2048];
        while t0.elapsed() < d {
            for (c, dest) in &calls {
                let _ = c.rtp.send_to(&rtp(k, &tag_bytes(k, UP)), *dest);
                while c.rtp.recv_from(&mut buf).is_ok() {}
            }
            k += 1;
            std::thread::sleep((t0 + FRAME * k).saturating_duration_since(Instant::now()));
        }
    };
    run(SETTLE);
    let (c0, t0) = (p.cpu(), Instant::now());
    run(WINDOW);
    let used = p.cpu() - c0;
    let wall = t0.elapsed().as_secs_f64();
    for (mut c, _) in calls {
        c.bye(user);
    }
    used / wall * 100.0 / n as f64
}

/// One step of the concurrency run.
struct Held {
    calls: usize,
    connected: usize,
    held: usize,
    frames: usize,
    late: usize,
    lateness: Vec<f64>,
    cpu: f64,
}

fn concurrency(n: usize) -> Held {
    let p = Phonetree::start(&[("ivr.yaml", IVR_FLOW)]);
    let stagger = Duration::from_millis(4);
    let (cpu, _, logs) = twilio_calls(&p, "ivr", n, stagger, false);
    let expected = (WINDOW.as_millis() / FRAME.as_millis()) as usize;
    let mut out = Held {
        calls: n,
        connected: 0,
        held: 0,
        frames: 0,
        late: 0,
        lateness: Vec::new(),
        cpu: cpu * 100.0,
    };
    for log in &logs {
        if !log.connected {
            continue;
        }
        out.connected += 1;
        let anchor = log.got.iter().map(|(i, t, _)| *t - FRAME * *i).min();
        let Some(anchor) = anchor else { continue };
        let late: Vec<f64> = log
            .got
            .iter()
            .map(|(i, t, _)| ms(*t - FRAME * *i - anchor))
            .collect();
        let worst = late.iter().copied().fold(0.0, f64::max);
        out.frames += late.len();
        out.late += late.iter().filter(|l| **l > 20.0).count();
        if worst <= 20.0 && late.len() + 2 >= expected {
            out.held += 1;
        }
        out.lateness.extend(late);
    }
    out
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let section = args.iter().any(|a| a == "--markdown");
    let n: usize = arg("--calls").and_then(|s| s.parse().ok()).unwrap_or(100);
    let steps: Vec<usize> = arg("--steps")
        .unwrap_or_else(|| "250,500,1000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let load_before = loadavg();

    let (tw_up, tw_down) = twilio_bot_latency(10);
    let (sip_up, sip_down) = sip_bot_latency(10);

    let bot = Bot::start();
    let flows = [
        ("twbot.yaml", bot_flow(bot.addr)),
        ("ivr.yaml", IVR_FLOW.into()),
    ];
    let flows: Vec<(&str, &str)> = flows.iter().map(|(a, b)| (*a, b.as_str())).collect();
    let per_call = |(cpu, _, logs): (f64, Instant, Vec<CallLog>)| {
        let up = logs.iter().filter(|l| l.connected).count().max(1);
        cpu * 100.0 / up as f64
    };
    let stagger = Duration::from_millis(20);
    let cpu_tw_bot = per_call(twilio_calls(
        &Phonetree::start(&flows),
        "twbot",
        n,
        stagger,
        true,
    ));
    let cpu_sip_bot = cpu_sip(&Phonetree::start(&flows), "7100", n);
    let cpu_sip_ivr = cpu_sip(&Phonetree::start(&flows), "7002", n);
    let cpu_tw_ivr = per_call(twilio_calls(
        &Phonetree::start(&flows),
        "ivr",
        n,
        stagger,
        false,
    ));
    drop(bot);

    let held: Vec<Held> = steps.iter().map(|s| concurrency(*s)).collect();
    let load_after = loadavg();

    if section {
        println!("## Websocket media: Twilio leg and bot streams (`bench/twilio.rs`)\n");
        println!(
            "Measured on {}, {} cores, release build; `phonetree run` with callers (Twilio's side over a websocket, SIP/RTP from `tests/run_support`) and a Twilio-protocol bot written in the bench, all on the same machine. Load average before / after the run: {load_before} / {load_after} (the machine is shared).\n",
            today(),
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
    }
    println!("| figure | Twilio-leg call → bot | SIP call → bot | plain SIP IVR call | Twilio-leg IVR call |");
    println!("|---|---|---|---|---|");
    println!(
        "| added latency, caller's frame in → bot's `media` out, p50 / p99 | {} | {} | | |",
        p50_p99(tw_up),
        p50_p99(sip_up)
    );
    println!(
        "| added latency, bot's `media` in → caller's frame out, p50 / p99 | {} | {} | | |",
        p50_p99(tw_down),
        p50_p99(sip_down)
    );
    println!(
        "| CPU per call at {n} concurrent calls, % of a core (ratio to the SIP IVR call) | {cpu_tw_bot:.3} % ({:.2}×) | {cpu_sip_bot:.3} % ({:.2}×) | {cpu_sip_ivr:.3} % (1×) | {cpu_tw_ivr:.3} % ({:.2}×) |",
        cpu_tw_bot / cpu_sip_ivr,
        cpu_sip_bot / cpu_sip_ivr,
        cpu_tw_ivr / cpu_sip_ivr
    );
    println!();
    println!("Concurrent Twilio-leg calls, each playing a prompt while sending 50 frames/s (target: ≥ 1,000 calls, no frame later than 20 ms):\n");
    println!("| calls | connected | held (every frame, none > 20 ms late) | frames in the window | frames > 20 ms late | lateness p50 / p99 / p99.9 / max | phonetree CPU, % of a core |");
    println!("|---|---|---|---|---|---|---|");
    for mut h in held {
        let (a, b, c, d) = (
            percentile(&mut h.lateness, 0.5),
            percentile(&mut h.lateness, 0.99),
            percentile(&mut h.lateness, 0.999),
            percentile(&mut h.lateness, 1.0),
        );
        println!(
            "| {} | {} | {} ({:.1} %) | {} | {} ({:.3} %) | {a:.1} / {b:.1} / {c:.1} / {d:.1} ms | {:.0} % |",
            h.calls,
            h.connected,
            h.held,
            100.0 * h.held as f64 / h.calls.max(1) as f64,
            h.frames,
            h.late,
            100.0 * h.late as f64 / h.frames.max(1) as f64,
            h.cpu
        );
    }
    if section {
        println!();
        println!("- *Added latency*: one call for 10 s (the first second left out), every 20 ms frame tagged in its μ-law bytes and followed across: the caller's frame (Twilio `media` over the websocket, or an RTP packet) → the bot's `media`; the bot's `media`, sent at real time → the caller's frame. The bot → caller direction includes the pacer: live audio is prebuffered and played on the leg's 20 ms schedule (the Twilio leg also keeps two frames in Twilio's buffer).");
        println!("- *CPU per call*: utime + stime of the phonetree process over 10 s with every call up, divided by the calls; the callers and the bot run in the bench process and are not counted. Bot calls stream audio both ways all the time; IVR calls play a prompt while the caller sends audio.");
        println!("- *Concurrent calls*: each call's lateness is its frame's arrival minus the call's best schedule in the 10 s window (earliest arrival − 20 ms × frame index), so a perfectly paced call reads 0; a call *held* when it got every frame of the window and none was more than 20 ms late. The callers run on the same cores and their own scheduling delays count as lateness.");
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_default()
}

fn today() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}
