//! Voice agents through the real binary: `phonetree run` with `OPENAI_BASE_URL` pointing at the
//! Realtime stand-in (`tests/support/realtime_standin.rs`, the GA protocol) and our RTP caller.
//! A G.711 call reaches the model as `audio/pcmu` without transcoding — the caller's μ-law bytes
//! are the bytes the model gets, the model's bytes are the bytes the caller gets —, a flow that
//! starts with an agent has it connected before the call is answered, and a refused key takes
//! `on_error`. A `listen` node on the `openai` engine opens a transcription session with the
//! node's silence as the server's end-of-turn silence and routes on its transcript. The
//! agent's, `say`'s and `listen`'s request latency and errors are in `/metrics` by engine (`say`
//! through a TTS server of our own, `listen` through the stand-in's transcription sessions and
//! an engine that is not configured). Loopback only; every wait is bounded.

mod run_support;
#[path = "support/realtime_standin.rs"]
mod standin;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use phonetree::media::g711::Law;
use run_support::{Caller, Server};
use standin::{Answer, Script, Standin};

const FLOW: &str = r#"
name: bot
routes: ["5000"]
start: bot
nodes:
  bot:
    agent:
      instructions: "You are a test."
      greeting: "Hello."
      silence_timeout: 3s
    next: bye
    on_error: sorry
  sorry: { play: tone.wav, next: bye }
  bye: { hangup: {} }
"#;

/// A chirp (300 → 3000 Hz), so any stretch of it is unique.
fn chirp(ms: u32) -> Vec<i16> {
    let n = (ms * 8) as usize;
    let secs = f64::from(ms) / 1000.0;
    (0..n)
        .map(|i| {
            let t = i as f64 / 8000.0;
            let k = 2700.0 / secs;
            let phase = std::f64::consts::TAU * (300.0 * t + 0.5 * k * t * t);
            (7000.0 * phase.sin()) as i16
        })
        .collect()
}

fn rtp(seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 0];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&0x5eed_0001_u32.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// Whether `needle` is in `hay`, byte for byte — except that μ-law's two zeros (0x7F, "-0",
/// and 0xFF, "+0") are one: a G.711 decoder maps both to 0 and an encoder writes 0 as 0xFF.
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    let z = |b: &u8| if *b == 0x7f { 0xff } else { *b };
    let needle: Vec<u8> = needle.iter().map(z).collect();
    let hay: Vec<u8> = hay.iter().map(z).collect();
    hay.windows(needle.len()).any(|w| w == needle.as_slice())
}

/// Sends `payload` as 20 ms PCMU packets in real time while collecting what comes back for
/// `listen`; returns the PCMU payloads received, in order.
fn talk(c: &Caller, dest: SocketAddr, payload: &[u8], listen: Duration) -> Vec<u8> {
    let rx = c.rtp.try_clone().expect("clone");
    rx.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let receiver = std::thread::spawn(move || {
        let mut got = Vec::new();
        let end = Instant::now() + listen;
        let mut buf = [0u8; 2048];
        while Instant::now() < end {
            if let Ok((n, _)) = rx.recv_from(&mut buf) {
                if n > 12 && buf[1] & 0x7f == 0 {
                    got.extend_from_slice(&buf[12..n]);
                }
            }
        }
        got
    });
    let start = Instant::now();
    for (i, chunk) in payload.chunks(160).enumerate() {
        c.rtp
            .send_to(&rtp(100 + i as u16, 160 * i as u32, chunk), dest)
            .unwrap();
        let next = start + Duration::from_millis(20 * (i as u64 + 1));
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    receiver.join().unwrap()
}

#[test]
fn a_g711_call_reaches_the_model_untranscoded_and_was_connected_before_the_answer() {
    let greeting = chirp(2000);
    let s = Standin::start(Script {
        answers: vec![Answer {
            pcm8k: greeting.clone(),
            transcript: "Hello.".into(),
            then_call: None,
        }],
        speed: 4.0,
        ..Script::default()
    });
    let srv = Server::start(
        &[("bot.yaml", FLOW)],
        &[
            ("OPENAI_API_KEY", "sk-test"),
            ("OPENAI_BASE_URL", &s.base_url()),
        ],
    );
    let mut c = Caller::new(srv.sip);
    let offer = c.pcmu_offer();
    c.invite("5000", Some(&offer));
    let ok = c.final_response();
    assert_eq!(ok.status(), Some(200), "{ok:?}");
    c.ack("5000", None);
    let dest = ok.sdp_rtp_addr().expect("RTP address");
    // The caller says a chirp of its own (quietly, so the stand-in's VAD hears no speech).
    let mut mine = Vec::new();
    Law::Mu.encode(
        &chirp(1000).iter().map(|s| s / 20).collect::<Vec<_>>(),
        &mut mine,
    );
    let heard = talk(&c, dest, &mine, Duration::from_millis(2600));
    c.bye("5000");

    // What the model sent is what the caller got, byte for byte (the middle second).
    let mut sent = Vec::new();
    Law::Mu.encode(&greeting, &mut sent);
    assert!(
        contains(&heard, &sent[4000..12000]),
        "the greeting's μ-law bytes arrive unchanged ({} bytes heard)",
        heard.len()
    );
    // What the caller sent is what the model got.
    let seen = s.seen();
    assert!(
        contains(&seen.appended, &mine[800..4800]),
        "the caller's μ-law bytes reach the model unchanged ({} bytes appended)",
        seen.appended.len()
    );
    // The session prepared before the answer (codec not known yet) is set to the call's format
    // once the node starts.
    let last = seen.session_updates.last().expect("session.update");
    assert_eq!(last["audio"]["input"]["format"]["type"], "audio/pcmu");
    assert_eq!(last["audio"]["output"]["format"]["type"], "audio/pcmu");
    assert!(
        srv.logged("agent: using the prepared session"),
        "the flow starts with the agent: it was connected while the call was answered"
    );
}

#[test]
fn a_refused_key_takes_on_error_with_the_cause_in_the_log() {
    let s = Standin::start(Script::default());
    let srv = Server::start_files(
        &[("bot.yaml", FLOW)],
        &[],
        &[
            ("OPENAI_API_KEY", "sk-wrong"),
            ("OPENAI_BASE_URL", &s.base_url()),
        ],
    );
    let mut c = Caller::new(srv.sip);
    let offer = c.pcmu_offer();
    c.invite("5000", Some(&offer));
    let ok = c.final_response();
    assert_eq!(ok.status(), Some(200));
    c.ack("5000", None);
    // `on_error` plays the tone.
    assert_eq!(c.recv_rtp().map(|(pt, _, _)| pt), Some(0));
    c.bye("5000");
    assert!(srv.logged("invalid_api_key"), "{}", srv.log_text());
    assert!(
        !srv.log_text().contains("sk-wrong"),
        "the key is never logged"
    );
    assert_eq!(
        metric(
            &srv,
            "phonetree_agent_errors_total",
            &[("engine", "openai"), ("reason", "refused")]
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &srv,
            "phonetree_agent_connect_seconds",
            &[("engine", "openai")]
        ),
        None
    );
}

/// `/metrics` parsed with a Prometheus text-format parser: a sample's value (a histogram's
/// count), by name and labels.
fn metric(srv: &Server, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let (status, text) = srv.get("/metrics");
    assert_eq!(status, 200, "{text}");
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text format");
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => *v,
            prometheus_parse::Value::Histogram(h) => h.last().map_or(0.0, |b| b.count),
            prometheus_parse::Value::Summary(_) => f64::NAN,
        })
}

#[test]
fn an_agent_sessions_connect_first_audio_and_failure_are_in_metrics() {
    let s = Standin::start(Script {
        answers: vec![Answer {
            pcm8k: chirp(1000),
            transcript: "Hello.".into(),
            then_call: None,
        }],
        error_after: Some(Duration::from_millis(1500)),
        ..Script::default()
    });
    let srv = Server::start(
        &[("bot.yaml", FLOW)],
        &[
            ("OPENAI_API_KEY", "sk-test"),
            ("OPENAI_BASE_URL", &s.base_url()),
        ],
    );
    let mut c = Caller::new(srv.sip);
    let offer = c.pcmu_offer();
    c.invite("5000", Some(&offer));
    let ok = c.final_response();
    assert_eq!(ok.status(), Some(200), "{ok:?}");
    c.ack("5000", None);
    // The greeting, then the server's error: `on_error` plays the tone and the flow hangs up.
    let bye = c.expect_request_within("BYE", Duration::from_secs(15));
    c.reply_ok(&bye);
    assert!(srv.logged("agent: session failed"), "{}", srv.log_text());
    let openai = [("engine", "openai")];
    assert_eq!(
        metric(&srv, "phonetree_agent_connect_seconds", &openai),
        Some(1.0)
    );
    assert_eq!(
        metric(&srv, "phonetree_agent_first_audio_seconds", &openai),
        Some(1.0),
        "the greeting's audio"
    );
    assert_eq!(
        metric(
            &srv,
            "phonetree_agent_errors_total",
            &[("engine", "openai"), ("reason", "server_error")]
        ),
        Some(1.0)
    );
}

/// A TTS server (`tts.engine: http`) on loopback: "Hello there." gets 300 ms of tone as a WAV,
/// anything else a 500. Serves `n` requests.
fn tts_server(n: usize) -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/synthesize", l.local_addr().unwrap());
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for mut s in l.incoming().flatten().take(n) {
            s.set_read_timeout(Some(Duration::from_secs(5))).ok();
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            while !req.ends_with(b"}") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => req.extend_from_slice(&buf[..k]),
                }
            }
            let text = String::from_utf8_lossy(&req);
            let (status, body) = if text.contains("Hello there.") {
                ("200 OK", run_support::tone_wav_of(440.0, 300))
            } else {
                ("500 Internal Server Error", b"broken".to_vec())
            };
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\nContent-Type: audio/wav\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(&body);
        }
    });
    url
}

const EARS: &str = r#"
name: ears
routes: ["5000"]
start: hello
nodes:
  hello: { say: "Hello there.", next: oops }
  oops: { say: "This one breaks.", next: ask }
  ask:
    listen: { engine: openai, timeout: 8s, tries: 1, save: said }
    next: deaf
    on_fail: deaf
  deaf:
    listen: { engine: websocket, timeout: 3s, tries: 1 }
    next: bye
    on_fail: bye
  bye: { hangup: {} }
"#;

#[test]
fn say_and_listen_requests_and_their_errors_are_in_metrics_by_engine() {
    let s = Standin::start(Script {
        transcripts: vec!["Billing.".into()],
        ..Script::default()
    });
    let srv = Server::start(
        &[("ears.yaml", EARS)],
        &[
            ("OPENAI_API_KEY", "sk-test"),
            ("OPENAI_BASE_URL", &s.base_url()),
            ("PHONETREE_TTS_ENGINE", "http"),
            ("PHONETREE_TTS_HTTP_URL", &tts_server(4)),
        ],
    );
    let mut c = Caller::new(srv.sip);
    let offer = c.pcmu_offer();
    c.invite("5000", Some(&offer));
    let ok = c.final_response();
    assert_eq!(ok.status(), Some(200), "{ok:?}");
    c.ack("5000", None);
    let dest = ok.sdp_rtp_addr().expect("RTP address");
    // Silence while the greeting plays, then real speech (Piper), then silence that ends it.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/speech/piper_billing.wav");
    let pcm = phonetree::audio::decode_file(&path, Duration::from_secs(30)).unwrap();
    let mut said: Vec<i16> = vec![0; 8 * 1200];
    said.extend(
        pcm.samples
            .iter()
            .map(|&x| (x * 32768.0).clamp(-32768.0, 32767.0) as i16),
    );
    said.extend(std::iter::repeat_n(0i16, 8 * 2000));
    let mut mu = Vec::new();
    Law::Mu.encode(&said, &mut mu);
    talk(&c, dest, &mu, Duration::from_millis(100));
    let bye = c.expect_request_within("BYE", Duration::from_secs(15));
    c.reply_ok(&bye);
    assert!(
        s.seen()
            .connections
            .iter()
            .any(|p| p.contains("intent=transcription")),
        "the listen reached the transcription stand-in"
    );
    let http = [("engine", "http")];
    assert_eq!(
        metric(&srv, "phonetree_tts_request_seconds", &http),
        Some(1.0),
        "{}",
        srv.log_text()
    );
    assert_eq!(
        metric(
            &srv,
            "phonetree_tts_errors_total",
            &[("engine", "http"), ("reason", "http_5xx")]
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &srv,
            "phonetree_asr_request_seconds",
            &[("engine", "openai")]
        ),
        Some(1.0),
        "{}",
        srv.log_text()
    );
    assert_eq!(
        metric(
            &srv,
            "phonetree_asr_errors_total",
            &[("engine", "websocket"), ("reason", "not_configured")]
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(&srv, "phonetree_asr_errors_total", &[("engine", "openai")]),
        None,
        "the openai listen succeeded"
    );
}

const LISTEN_FLOW: &str = r#"
name: menu
routes: ["5001"]
start: ask
nodes:
  ask:
    listen: { engine: openai, silence: 900ms, timeout: 8s, tries: 1, save: said }
    routes: { "billing": billing }
    on_fail: failed
  billing: { play: tone.wav, next: bye }
  failed: { hangup: {} }
  bye: { hangup: {} }
"#;

/// A speech fixture (8 kHz) as μ-law: `lead_ms` of silence, the phrase, `tail_ms` of silence.
fn spoken(name: &str, lead_ms: usize, tail_ms: usize) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/fixtures/speech/{name}.wav"));
    let pcm = phonetree::audio::decode_file(&path, Duration::from_secs(30)).expect("fixture");
    assert_eq!(pcm.rate, 8000, "{name}");
    let mut s = vec![0i16; 8 * lead_ms];
    s.extend(
        pcm.samples
            .iter()
            .map(|&x| (x * 32768.0).clamp(-32768.0, 32767.0) as i16),
    );
    s.extend(std::iter::repeat_n(0i16, 8 * tail_ms));
    let mut mu = Vec::new();
    Law::Mu.encode(&s, &mut mu);
    mu
}

#[test]
fn an_openai_listen_gives_the_transcription_session_the_nodes_silence_and_routes_its_transcript() {
    let s = Standin::start(Script {
        transcripts: vec!["Billing, please.".into()],
        ..Script::default()
    });
    let srv = Server::start(
        &[("menu.yaml", LISTEN_FLOW)],
        &[
            ("OPENAI_API_KEY", "sk-test"),
            ("OPENAI_BASE_URL", &s.base_url()),
        ],
    );
    let mut c = Caller::new(srv.sip);
    let offer = c.pcmu_offer();
    c.invite("5001", Some(&offer));
    let ok = c.final_response();
    assert_eq!(ok.status(), Some(200), "{ok:?}");
    c.ack("5001", None);
    let dest = ok.sdp_rtp_addr().expect("RTP address");
    // "billing", then silence while the transcript comes back and the route's tone plays.
    let said = spoken("piper_billing", 500, 6000);
    let heard = talk(
        &c,
        dest,
        &said,
        Duration::from_millis(20 * (said.len() as u64 / 160)),
    );
    c.bye("5001");

    let seen = s.seen();
    assert_eq!(seen.connections.len(), 1, "{:?}", seen.connections);
    assert!(
        seen.connections[0].ends_with("/v1/realtime?intent=transcription"),
        "{:?}",
        seen.connections
    );
    let update = &seen.session_updates[0];
    assert_eq!(update["type"], "transcription");
    // The node's `silence: 900ms` is the server's end of turn.
    assert_eq!(
        update["audio"]["input"]["turn_detection"],
        serde_json::json!({"type": "server_vad", "silence_duration_ms": 900})
    );
    assert_eq!(
        update["audio"]["input"]["transcription"]["prompt"], "billing",
        "the menu's words guide the transcription"
    );
    assert!(seen.errors_sent.is_empty(), "{:?}", seen.errors_sent);
    // The transcript took the `billing` route: its tone reached the caller.
    let tone: Vec<i16> = (0..8000)
        .map(|i| ((i as f32 * 440.0 * std::f32::consts::TAU / 8000.0).sin() * 8000.0) as i16)
        .collect();
    let mut tone_mu = Vec::new();
    Law::Mu.encode(&tone, &mut tone_mu);
    assert!(
        contains(&heard, &tone_mu[2000..3600]),
        "the billing route played its tone ({} bytes heard); log: {}",
        heard.len(),
        srv.log_text()
    );
}
