//! Speech on the Twilio leg with third-party peers (gated like `tests/interop.rs`):
//! `streamdouble` (PyPI) plays Twilio's side of Media Streams and *speaks* (Piper-voiced phrases
//! from `tests/fixtures/speech`, sent as the caller's μ-law media) into shipped flows:
//! - `flows/speech-menu.yaml`: its first `listen` (a grammar of the route words, recognised in
//!   the server by the offline PocketSphinx engine) takes the branch of the word said: the
//!   caller hears that branch's prompt and not another's, after a `clear` cut the menu prompt;
//! - `flows/sdifi.yaml`, unchanged: `listen` through the `axy` engine to a stand-in of SDiFI's
//!   speech server (`tests/asr/axy_standin.py`, gRPC), the transcript `PUT` to a stand-in of the
//!   Masdif dialogue server (`tests/twilio_support/masdif.rs`), and its audio reply played to
//!   the caller.
//!
//! What the caller heard is rebuilt from streamdouble's trace the way Twilio plays it
//! (`tests/interop/streamdouble.rs`) and matched against the prompts by cross-correlation.

#[path = "interop/audio.rs"]
mod audio;
#[path = "interop/harness.rs"]
#[allow(dead_code)]
mod harness;
#[path = "twilio_support/masdif.rs"]
mod masdif;
#[path = "interop/streamdouble.rs"]
#[allow(dead_code)]
mod streamdouble;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use audio::{assert_heard, assert_not_heard, Window};
use harness::*;
use serde_json::Value;

/// A caller phrase of `tests/fixtures/speech` (μ-law WAVs) as the 16-bit PCM WAV streamdouble
/// reads.
fn phrase(work: &Work, name: &str) -> PathBuf {
    let src = root().join(format!("tests/fixtures/speech/{name}.wav"));
    let out = work.path(&format!("say_{name}.wav"));
    let ok = Command::new("sox")
        .arg(&src)
        .args(["-e", "signed-integer", "-b", "16", "-r", "8000", "-c", "1"])
        .arg(&out)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        work.fail("sox could not make the caller's speech");
    }
    out
}

/// A speech stand-in of `tests/asr` on a free port (it prints `PORT <n>`).
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

/// One call to the speech menu saying `word` over the menu prompt; the caller must hear
/// `expect` (the word's branch) soon after speaking, none of `not`, and a `clear` must have cut
/// the menu prompt.
fn say_to_the_speech_menu(work: &Work, engine: &Engine, word: &str, expect: &str, not: &[&str]) {
    let scenario = format!(
        "name: say {word} to the speech menu\nsteps:\n  - wait_for: audio\n  - wait: 1.5\n  \
         - say: {}\n  - wait: 6\n  - hangup\n",
        phrase(work, word).display()
    );
    let run = streamdouble::run(
        work,
        engine.http,
        word,
        &scenario,
        &[("flow", "speech-menu")],
        Duration::from_secs(60),
    );
    let said = streamdouble::speech_at(&run.events, run.t0)
        .unwrap_or_else(|| work.fail("streamdouble's trace holds no caller speech"));
    let heard = work.path(&format!("heard_{word}.wav"));
    streamdouble::write_wav(&heard, &streamdouble::playout(&run.events, run.t0));
    // The menu prompt played first, then the branch's prompt soon after the word.
    assert_heard(work, &heard, "speech_menu.wav", 0.0, 1.0, 1.2);
    assert_heard(work, &heard, expect, said, said + 4.5, 2.0);
    for other in not {
        assert_not_heard(
            work,
            &heard,
            other,
            Window {
                after: said,
                before: None,
                ref_seconds: Some(2.0),
            },
        );
    }
    let clears = streamdouble::times(&run.events, run.t0, "clear", "in");
    if !clears.iter().any(|c| *c >= said && *c < said + 3.0) {
        work.fail(&format!(
            "no clear cut the menu prompt after the caller spoke at {said:.2} s: {clears:?}"
        ));
    }
}

#[test]
#[cfg_attr(
    not(interop),
    ignore = "real peers: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn a_listen_node_on_the_twilio_leg_takes_the_branch_of_the_menu_word_the_caller_says() {
    let _serial = serial();
    if !require(&[Peer::Streamdouble, Peer::Speech]) {
        return;
    }
    let work = Work::new();
    let engine = Engine::start(&work, &[]);
    // "sales" → account (asks for the account number); "technical support" → message.
    say_to_the_speech_menu(
        &work,
        &engine,
        "piper_sales",
        "speech_account.wav",
        &["leave_message.wav", "hours.wav"],
    );
    say_to_the_speech_menu(
        &work,
        &engine,
        "piper_technical_support",
        "leave_message.wav",
        &["speech_account.wav", "hours.wav"],
    );
    engine.wait_for(
        &work,
        "/api/calls to be empty",
        Duration::from_secs(5),
        || engine.calls(&work).is_empty(),
    );
}

#[test]
#[cfg_attr(
    not(interop),
    ignore = "real peers: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn the_shipped_sdifi_demo_over_twilio_puts_the_recognised_words_to_masdif_and_plays_its_reply() {
    let _serial = serial();
    if !require(&[Peer::Streamdouble, Peer::Speech]) {
        return;
    }
    let work = Work::new();
    let shipped = std::fs::read_to_string(root().join("flows/sdifi.yaml")).unwrap();
    work.write_flow("sdifi.yaml", &shipped);
    // SDiFI's speech server (gRPC, PocketSphinx behind it, limited to the domain's phrases).
    let log = work.path("axy.jsonl");
    let args = [
        "--log",
        &log.to_string_lossy(),
        "--phrases",
        "yes,no,billing,sales",
    ];
    let (_asr, port) = stand_in(&work, "axy_standin.py", &args);
    // Masdif answers with the hours prompt as its audio reply.
    let reply = std::fs::read(work.prompt("hours.wav")).unwrap();
    let (masdif, seen) = masdif::standin(reply);
    let engine = Engine::start(
        &work,
        &[
            ("PHONETREE_ASR_ENGINE", "axy"),
            ("PHONETREE_ASR_AXY_URL", &format!("grpc://127.0.0.1:{port}")),
            ("MASDIF_URL", &masdif),
        ],
    );
    let scenario = format!(
        "name: ask the SDiFI demo\nsteps:\n  - wait: 1.5\n  - say: {}\n  - wait: 9\n  - hangup\n",
        phrase(&work, "piper_sales").display()
    );
    let run = streamdouble::run(
        &work,
        engine.http,
        "sdifi",
        &scenario,
        &[("flow", "sdifi"), ("from", "+3545551234")],
        Duration::from_secs(60),
    );
    let said = streamdouble::speech_at(&run.events, run.t0)
        .unwrap_or_else(|| work.fail("streamdouble's trace holds no caller speech"));
    let heard = work.path("heard_sdifi.wav");
    streamdouble::write_wav(&heard, &streamdouble::playout(&run.events, run.t0));
    // The dialogue server's audio reply, soon after the caller spoke.
    assert_heard(&work, &heard, "hours.wav", said, said + 5.0, 2.0);
    let seen = seen.lock().unwrap().clone();
    if !seen
        .first()
        .is_some_and(|l| l.starts_with("POST /conversations ") && l.contains("+3545551234"))
    {
        work.fail(&format!(
            "a conversation per call, for the caller: {seen:#?}"
        ));
    }
    let body = masdif::put_body(&seen)
        .unwrap_or_else(|| work.fail(&format!("no PUT of what was said: {seen:#?}")));
    if body["text"] != "sales" || body["metadata"]["asr_generated"] != true {
        work.fail(&format!("the PUT carries the recognised words: {body}"));
    }
    if !seen.iter().any(|l| l.starts_with("GET /audio/m1.wav ")) {
        work.fail(&format!("the reply's audio was not fetched: {seen:#?}"));
    }
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let rec: Value = serde_json::from_str(text.lines().next().unwrap_or("{}")).unwrap_or_default();
    if rec["transcript"] != "sales" || rec["language"] != "is-IS" {
        work.fail(&format!("the speech server's stream: {text}"));
    }
    engine.wait_for(
        &work,
        "/api/calls to be empty",
        Duration::from_secs(5),
        || engine.calls(&work).is_empty(),
    );
}
