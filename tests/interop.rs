//! Interop tests: `phonetree run` on loopback against real third-party SIP peers — sipp, pjsua2,
//! baresip, kamailio — that place calls, send DTMF the ways real phones do, and record what they
//! hear. A test passes only if the recording contains the expected prompt where the flow says it
//! should be (cross-correlation against the source prompt, see `tests/interop/audio_match.py`).
//!
//! Peers come from `.ci/install-deps.sh`. Every test is `#[cfg_attr(not(interop), ignore = ..)]`:
//! a plain `cargo test` lists it as *ignored* with the reason and the variable to set, never as
//! passed; `PHONETREE_INTEROP=1` (as in `.ci/run`; build.rs turns it into `cfg(interop)`) runs
//! them, and then a missing peer is a failure. What each test proves: docs/interop.md.
//! Run: `bash .ci/install-deps.sh && PHONETREE_INTEROP=1 cargo test --test interop`.
//!
//! This file holds the shared helpers (one pjsua2 call, DTMF send times, codecs, no call left,
//! sipp's RTP pcap) and the ignore guard; the tests are in `tests/interop/*_tests.rs`, one
//! module a concept: `media_tests` (what a caller hears), `signalling_tests` (CANCEL, OPTIONS,
//! session timers, RTP timeout), `transfer_tests` (REFER) and `kamailio_tests` (registration
//! and docs/pbx.md's example).

#[path = "interop/audio.rs"]
mod audio;
#[path = "interop/harness.rs"]
mod harness;
#[path = "interop/kamailio.rs"]
mod kamailio;
#[path = "interop/sipp.rs"]
mod sipp;

#[path = "interop/kamailio_tests.rs"]
mod kamailio_tests;
#[path = "interop/media_tests.rs"]
mod media_tests;
#[path = "interop/signalling_tests.rs"]
mod signalling_tests;
#[path = "interop/transfer_tests.rs"]
mod transfer_tests;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use audio::{assert_heard, assert_not_heard, Window};
use harness::*;
use kamailio::Kamailio;
use serde_json::Value;
use sipp::{sipp, sipp_messages, Capture};

const CALL_LIMIT: Duration = Duration::from_secs(60);

/// Places one pjsua2 call (`pj_caller.py` with `args`) and returns its summary and recording.
fn pj_call(work: &Work, target: &str, name: &str, args: &[&str]) -> (Value, PathBuf) {
    let rec = work.path(&format!("{name}.wav"));
    let (status, summary) = run_peer(work, name, pj_caller(target, &rec).args(args), CALL_LIMIT);
    if !status.success() || summary["answered"] != true || summary["record"].is_null() {
        work.fail(&format!(
            "{name}: the call was not answered or not recorded ({status}): {summary}"
        ));
    }
    eprintln!("{name}: {summary}");
    (summary, rec)
}

/// When the caller sent `digit` (seconds since its recording started).
fn sent_at(work: &Work, summary: &Value, digit: &str) -> f64 {
    summary["dtmf_sent"]
        .as_array()
        .and_then(|sent| sent.iter().find(|d| d[0] == digit))
        .and_then(|d| d[1].as_f64())
        .unwrap_or_else(|| work.fail(&format!("DTMF {digit} was not sent: {summary}")))
}

fn assert_codec(work: &Work, summary: &Value, codec: &str) {
    let got = summary["codec"].as_str().unwrap_or("");
    if !got
        .to_ascii_lowercase()
        .contains(&codec.to_ascii_lowercase())
    {
        work.fail(&format!(
            "negotiated codec {got:?}, expected {codec}: {summary}"
        ));
    }
}

/// No call is left in `/api/calls` (within 5 s of the last BYE).
fn assert_no_call_left(work: &Work, engine: &Engine) {
    engine.wait_for(
        work,
        "/api/calls to be empty",
        Duration::from_secs(5),
        || engine.calls(work).is_empty(),
    );
}

fn silence(work: &Work, seconds: u32) -> PathBuf {
    let path = work.path("silence.wav");
    let ok = Command::new("sox")
        .args(["-n", "-r", "8000", "-c", "1", "-b", "16"])
        .arg(&path)
        .args(["trim", "0", &seconds.to_string()])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        work.fail("sox could not write silence.wav");
    }
    path
}

/// A PCMU RTP pcap for sipp: `seconds` of silence with RFC 4733 `dtmf` (`"1@3"`: digit@second).
fn build_pcap(work: &Work, seconds: u32, dtmf: &str) -> PathBuf {
    let pcap = work.path("tx.pcap");
    let mut build = Command::new(python());
    build
        .arg(script("rtp_pcap.py"))
        .arg("build")
        .arg(silence(work, seconds + 2))
        .arg(&pcap)
        .args([
            "--codec",
            "PCMU",
            "--dtmf",
            dtmf,
            "--seconds",
            &seconds.to_string(),
        ]);
    if !run_peer(work, "rtp_build", &mut build, CALL_LIMIT)
        .0
        .success()
    {
        work.fail("rtp_pcap.py build failed");
    }
    pcap
}

/// Keeps the rule above true as tests are added: every `#[test]` in this file, its modules
/// (`tests/interop/*_tests.rs`) and the other interop files below except this one carries the
/// `cfg_attr(not(interop), ignore)` line, so none passes unrun.
#[test]
fn every_interop_test_is_ignored_unless_phonetree_interop_is_set() {
    let text = [
        "tests/interop.rs",
        "tests/interop/kamailio_tests.rs",
        "tests/interop/media_tests.rs",
        "tests/interop/signalling_tests.rs",
        "tests/interop/transfer_tests.rs",
        "tests/interop_agent.rs",
        "tests/interop_cluster.rs",
        "tests/interop_nat.rs",
    ]
    .map(|f| std::fs::read_to_string(root().join(f)).unwrap())
    .join("\n");
    let lines: Vec<&str> = text.lines().collect();
    let mut unmarked = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if l.trim() != "#[test]" {
            continue;
        }
        let marked = lines[i + 1..]
            .iter()
            .take_while(|l| !l.trim_start().starts_with("fn "))
            .any(|l| l.contains("cfg_attr("));
        let name = lines[i + 1..]
            .iter()
            .find(|l| l.trim_start().starts_with("fn "))
            .map(|l| l.trim())
            .unwrap_or_default();
        if !marked && !name.contains("every_interop_test_is_ignored") {
            unmarked.push(name.to_string());
        }
    }
    assert!(
        unmarked.is_empty(),
        "add `#[cfg_attr(not(interop), ignore = \"...\")]` to: {unmarked:?}"
    );
}
