//! Speech and recording on live calls: `phonetree run` on loopback, a pjsua2 caller that *speaks*
//! (Piper-voiced phrases from `tests/fixtures/speech`, sent as its microphone audio), and the
//! caller's recording checked for the prompt of the route its words should take.
//!
//! - the offline engine (PocketSphinx) on "yes", "no", a menu word and a number, with barge-in;
//! - the `websocket` engine against a Vosk-protocol stand-in and `axy` against an SDiFI gRPC
//!   stand-in (`tests/asr/*.py`, written to the published protocols);
//! - `record`: the file holds what the caller sent (cross-correlation), and a caller who hangs
//!   up mid-message leaves a valid file.
//!
//! Gated like `tests/interop.rs`: ignored unless `PHONETREE_INTEROP=1` (`cfg(interop)`); peers
//! from `.ci/install-deps.sh`. What each test proves: docs/speech.md, "Tests".

#[allow(dead_code)]
#[path = "interop/audio.rs"]
mod audio;
#[allow(dead_code)]
#[path = "interop/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use audio::{assert_heard, audio_match, Window};
use harness::*;
use serde_json::Value;

const CALL_LIMIT: Duration = Duration::from_secs(60);

/// A listen menu: words route to distinct prompts; `number` takes a spoken 4-digit number.
const MENU: &str = r#"name: speech
routes: ["7200"]
start: ask
nodes:
  ask:
    listen: { prompt: main_menu.wav, timeout: 8s, tries: 1, save: said }
    routes: { "yes|yeah": "yes", "no": "no", "billing": billing, "sales": sales_word }
    on_fail: failed
  "yes": { play: sales.wav, next: end }
  "no": { play: goodbye.wav, next: end }
  billing: { play: support.wav, next: end }
  sales_word: { play: transfer.wav, next: end }
  failed: { play: sorry.wav, next: end }
  end: { hangup: {} }
"#;

const NUMBER: &str = r#"name: number
routes: ["7201"]
start: ask
nodes:
  ask:
    listen: { prompt: welcome.wav, grammar: digits, timeout: 8s, tries: 1, save: n }
    routes: { "^1234$": right }
    on_fail: failed
  right: { play: hours.wav, next: end }
  failed: { play: sorry.wav, next: end }
  end: { hangup: {} }
"#;

/// The fixture `name` as the caller's 8 kHz 16-bit audio: `lead` s of silence, the phrase,
/// `tail` s of silence.
fn caller_speech(work: &Work, name: &str, lead: f64, tail: f64) -> PathBuf {
    let src = root().join(format!("tests/fixtures/speech/{name}.wav"));
    let out = work.path(&format!("say_{name}.wav"));
    let ok = Command::new("sox")
        .arg(&src)
        .args(["-e", "signed-integer", "-b", "16", "-r", "8000", "-c", "1"])
        .arg(&out)
        .args(["pad", &lead.to_string(), &tail.to_string()])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        work.fail("sox could not make the caller's speech");
    }
    out
}

fn call(
    work: &Work,
    engine: &Engine,
    user: &str,
    wav: &Path,
    name: &str,
    secs: u32,
) -> (Value, PathBuf) {
    let rec = work.path(&format!("{name}.wav"));
    let wav = wav.to_string_lossy().into_owned();
    let secs = secs.to_string();
    let args = ["--user", user, "--wav", &wav, "--duration", &secs];
    let (status, summary) = run_peer(
        work,
        name,
        pj_caller(&engine.target(), &rec).args(args),
        CALL_LIMIT,
    );
    if !status.success() || summary["answered"] != true || summary["record"].is_null() {
        work.fail(&format!(
            "{name}: not answered or not recorded ({status}): {summary}"
        ));
    }
    eprintln!("{name}: {summary}");
    (summary, rec)
}

/// Says `phrase` 1 s into the call (over the 9.8 s menu prompt) and checks the caller hears
/// `expect` well before the prompt would have ended: the words were understood and the prompt
/// was cut (barge-in).
fn menu_call(work: &Work, engine: &Engine, phrase: &str, expect: &str) {
    let wav = caller_speech(work, phrase, 1.0, 7.0);
    let (_, rec) = call(work, engine, "7200", &wav, phrase, 9);
    assert_heard(work, &rec, expect, 1.5, 5.5, 1.5);
}

fn stand_in(work: &Work, script: &str, args: &[&str]) -> (Proc, u16) {
    let mut cmd = Command::new(python());
    cmd.arg(root().join("tests/asr").join(script)).args(args);
    let proc = Proc::spawn(work, script, &mut cmd);
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(port) = proc
            .stdout_text()
            .lines()
            .find_map(|l| l.strip_prefix("PORT ")?.trim().parse::<u16>().ok())
        {
            return (proc, port);
        }
        if Instant::now() >= end {
            work.fail(&format!("{script} did not report its port"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
#[cfg_attr(
    not(interop),
    ignore = "real SIP peers: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn offline_engine_understands_yes_no_and_a_menu_word_over_the_prompt() {
    let _serial = serial();
    if !require(&[Peer::Pjsua2, Peer::Speech]) {
        return;
    }
    let work = Work::new();
    work.write_flow("speech.yaml", MENU);
    let engine = Engine::start(&work, &[]);
    menu_call(&work, &engine, "piper_yes", "sales.wav");
    menu_call(&work, &engine, "piper_no", "goodbye.wav");
    menu_call(&work, &engine, "piper_billing", "support.wav");
}

#[test]
#[cfg_attr(
    not(interop),
    ignore = "real SIP peers: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn offline_engine_takes_a_spoken_number_as_digits() {
    let _serial = serial();
    if !require(&[Peer::Pjsua2, Peer::Speech]) {
        return;
    }
    let work = Work::new();
    work.write_flow("number.yaml", NUMBER);
    let engine = Engine::start(&work, &[]);
    // After the 1.9 s welcome prompt.
    let wav = caller_speech(&work, "piper_one_two_three_four", 2.5, 6.0);
    let (_, rec) = call(&work, &engine, "7201", &wav, "number", 9);
    assert_heard(&work, &rec, "hours.wav", 3.5, 7.5, 1.5);
}

#[test]
#[cfg_attr(
    not(interop),
    ignore = "real SIP peers: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn websocket_engine_on_a_call_through_a_vosk_protocol_server() {
    let _serial = serial();
    if !require(&[Peer::Pjsua2, Peer::Speech]) {
        return;
    }
    let work = Work::new();
    work.write_flow("speech.yaml", MENU);
    let log = work.path("vosk.jsonl");
    let (_server, port) = stand_in(&work, "vosk_standin.py", &["--log", &log.to_string_lossy()]);
    let url = format!("ws://127.0.0.1:{port}");
    let engine = Engine::start(
        &work,
        &[
            ("PHONETREE_ASR_ENGINE", "websocket"),
            ("PHONETREE_ASR_WEBSOCKET_URL", &url),
        ],
    );
    menu_call(&work, &engine, "piper_billing", "support.wav");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let rec: Value = serde_json::from_str(text.lines().next().unwrap_or("{}")).unwrap();
    assert_eq!(rec["transcript"], "billing", "{text}");
    assert_eq!(rec["config"]["sample_rate"], 16000, "{text}");
}

#[test]
#[cfg_attr(
    not(interop),
    ignore = "real SIP peers: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn axy_engine_on_a_call_through_a_sdifi_speech_server() {
    let _serial = serial();
    if !require(&[Peer::Pjsua2, Peer::Speech]) {
        return;
    }
    let work = Work::new();
    work.write_flow("speech.yaml", MENU);
    let log = work.path("axy.jsonl");
    let args = [
        "--log",
        &log.to_string_lossy(),
        "--phrases",
        "yes,no,billing,sales",
    ];
    let (_server, port) = stand_in(&work, "axy_standin.py", &args);
    let url = format!("grpc://127.0.0.1:{port}");
    let engine = Engine::start(
        &work,
        &[
            ("PHONETREE_ASR_ENGINE", "axy"),
            ("PHONETREE_ASR_AXY_URL", &url),
            ("PHONETREE_ASR_LANGUAGE", "is-IS"),
        ],
    );
    menu_call(&work, &engine, "piper_no", "goodbye.wav");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let rec: Value = serde_json::from_str(text.lines().next().unwrap_or("{}")).unwrap();
    assert_eq!(rec["transcript"], "no", "{text}");
    assert_eq!(rec["language"], "is-IS", "{text}");
    assert!(
        !rec["conversation"].as_str().unwrap_or("").is_empty(),
        "{text}"
    );
}

const RECORD: &str = r##"name: rec
routes: ["7300"]
start: msg
nodes:
  msg:
    record: { max: 20s, silence: 2s, finish_on: "#", save: m }
    next: done
    on_error: failed
  done: { play: goodbye.wav, next: end }
  failed: { play: sorry.wav, next: end }
  end: { hangup: {} }
"##;

/// The recordings phonetree wrote (`record.dir` = `recordings/` under the work dir).
fn recordings(work: &Work) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(work.path("recordings"))
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
#[cfg_attr(
    not(interop),
    ignore = "real SIP peers: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn record_keeps_what_the_caller_said_and_ends_on_silence() {
    let _serial = serial();
    if !require(&[Peer::Pjsua2]) {
        return;
    }
    let work = Work::new();
    work.write_flow("rec.yaml", RECORD);
    let engine = Engine::start(&work, &[]);
    // The caller talks from 1 s (after the 250 ms beep) for ~4.8 s, then is silent.
    let said = work.prompt("hours.wav");
    let wav = work.path("message.wav");
    let ok = Command::new("sox")
        .arg(&said)
        .arg(&wav)
        .args(["pad", "1.0", "6.0"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "sox");
    let (_, rec) = call(&work, &engine, "7300", &wav, "record", 11);
    // 2 s of silence ended the message: goodbye.wav follows around 1 + 4.8 + 2 s.
    assert_heard(&work, &rec, "goodbye.wav", 6.5, 9.5, 1.5);
    let files = recordings(&work);
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.ends_with("-msg.wav"), "{name}");
    let h = audio_match(&work, &files[0], &said, Window::default());
    assert!(
        h.heard,
        "the recording holds what the caller said: {}",
        h.detail
    );
    let r = hound_spec(&files[0]);
    assert_eq!(r, (8000, 1, 16), "8 kHz mono 16-bit (the call's rate)");
}

#[test]
#[cfg_attr(
    not(interop),
    ignore = "real SIP peers: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn a_caller_who_hangs_up_mid_message_leaves_a_valid_recording() {
    let _serial = serial();
    if !require(&[Peer::Pjsua2]) {
        return;
    }
    let work = Work::new();
    work.write_flow("rec.yaml", RECORD);
    let engine = Engine::start(&work, &[]);
    let said = work.prompt("hours.wav");
    let (_, _) = call(&work, &engine, "7300", &said, "hangup_mid", 3);
    let end = Instant::now() + Duration::from_secs(10);
    while recordings(&work).is_empty() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
    }
    let files = recordings(&work);
    assert_eq!(files.len(), 1, "{files:?}");
    let (rate, channels, bits) = hound_spec(&files[0]);
    assert_eq!((rate, channels, bits), (8000, 1, 16));
    let secs = wav_seconds(&files[0]);
    assert!((1.5..3.5).contains(&secs), "{secs} s kept of a 3 s call");
}

/// (rate, channels, bits) from a WAV header, and the header's data length checked against the
/// file (a valid, finished file).
fn hound_spec(path: &Path) -> (u32, u16, u16) {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[0..4], b"RIFF");
    let riff = u32::from_le_bytes([b[4], b[5], b[6], b[7]]) as usize;
    assert_eq!(riff + 8, b.len(), "RIFF size matches the file");
    let rate = u32::from_le_bytes([b[24], b[25], b[26], b[27]]);
    let channels = u16::from_le_bytes([b[22], b[23]]);
    let bits = u16::from_le_bytes([b[34], b[35]]);
    (rate, channels, bits)
}

fn wav_seconds(path: &Path) -> f64 {
    let len = std::fs::metadata(path).unwrap().len();
    (len.saturating_sub(44)) as f64 / 16000.0
}
