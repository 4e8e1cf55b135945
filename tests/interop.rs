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

#[path = "interop/audio.rs"]
mod audio;
#[path = "interop/harness.rs"]
mod harness;
#[path = "interop/kamailio.rs"]
mod kamailio;
#[path = "interop/sipp.rs"]
mod sipp;

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

#[test]
#[cfg_attr(
    not(interop),
    ignore = "real SIP peers: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn sipp_pcmu_rtp_from_pcap_with_rfc4733_digit_1_hears_the_story() {
    let _serial = serial();
    if !require(&[Peer::Sipp, Peer::Dumpcap]) {
        return;
    }
    let work = Work::new();
    let engine = Engine::start(&work, &[]);
    let pcap = build_pcap(&work, 10, "1@3");
    let media = free_range(4);
    let capture = Capture::start(&work, "capture", media);
    let mut cmd = sipp(&work, "uac_pcap.xml", &engine.target(), "5000", media);
    cmd.arg("-key").arg("pcap").arg(&pcap).args(["-d", "10000"]);
    let (status, _) = run_peer(&work, "sipp", &mut cmd, CALL_LIMIT);
    let rec = work.path("heard.wav");
    let recorded = capture.finish(&work, &rec);
    eprintln!("recorder: {recorded}");
    if !status.success() {
        work.fail(&format!(
            "sipp call failed ({status}):\n{}",
            sipp_messages(&work, "uac_pcap.xml")
        ));
    }
    // The digit is at 3.0 s of sipp's stream, which starts at the ACK, ~ when our audio starts.
    assert_heard(&work, &rec, "bunny/greeting.wav", 0.0, 1.0, 2.5);
    assert_heard(&work, &rec, "bunny/response_1.wav", 3.0, 4.5, 5.0);
    assert_no_call_left(&work, &engine);
}

#[test]
#[cfg_attr(
    not(interop),
    ignore = "real SIP peers: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn pjsua2_pcmu_pound_switches_to_robot_and_star_back_to_bunny() {
    let _serial = serial();
    if !require(&[Peer::Pjsua2]) {
        return;
    }
    let work = Work::new();
    let engine = Engine::start(&work, &[]);
    let args = ["--codec", "PCMU", "--dtmf", "#@3,*@9", "--duration", "14"];
    let (summary, rec) = pj_call(&work, &engine.target(), "pj_pcmu", &args);
    assert_codec(&work, &summary, "PCMU");
    let pound = sent_at(&work, &summary, "#");
    let star = sent_at(&work, &summary, "*");
    assert_heard(&work, &rec, "bunny/greeting.wav", 0.0, 1.0, 2.5);
    let not_yet = Window {
        after: 0.0,
        before: Some(pound - 0.3),
        ref_seconds: Some(2.0),
    };
    assert_not_heard(&work, &rec, "robot/greeting.wav", not_yet);
    assert_heard(&work, &rec, "robot/greeting.wav", pound, pound + 1.0, 5.0);
    assert_heard(&work, &rec, "bunny/greeting.wav", star, star + 1.0, 4.0);
    assert_no_call_left(&work, &engine);
}

#[test]
#[cfg_attr(
    not(interop),
    ignore = "real SIP peers: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn pjsua2_pcma_in_band_dtmf_hears_the_story() {
    let _serial = serial();
    if !require(&[Peer::Pjsua2]) {
        return;
    }
    let work = Work::new();
    let engine = Engine::start(&work, &[]);
    let args = [
        "--codec",
        "PCMA",
        "--dtmf",
        "1@3",
        "--method",
        "inband",
        "--duration",
        "9",
    ];
    let (summary, rec) = pj_call(&work, &engine.target(), "pj_pcma_inband", &args);
    assert_codec(&work, &summary, "PCMA");
    let one = sent_at(&work, &summary, "1");
    assert_heard(&work, &rec, "bunny/greeting.wav", 0.0, 1.0, 2.5);
    assert_heard(&work, &rec, "bunny/response_1.wav", one, one + 1.5, 4.0);
    assert_no_call_left(&work, &engine);
}

/// Integrations' audio on a real peer's call: the `echo` agent reads pjsua2's audio from its
/// AudioPort and sends it back; pjsua2's recording must contain what it sent.
#[test]
#[cfg_attr(
    not(interop),
    ignore = "real SIP peers: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn pjsua2_hears_its_own_audio_back_from_the_echo_agent() {
    let _serial = serial();
    if !require(&[Peer::Pjsua2]) {
        return;
    }
    let work = Work::new();
    work.write_flow(
        "echo.yaml",
        "name: echo\nroutes: [\"7100\"]\nstart: echo\nnodes:\n  \
         echo: { agent: { provider: echo }, next: end }\n  end: { hangup: {} }\n",
    );
    let engine = Engine::start(&work, &[]);
    let wav = work.prompt("bunny/greeting.wav");
    let wav = wav.to_string_lossy();
    let args = ["--user", "7100", "--wav", &wav, "--duration", "6"];
    let (_, rec) = pj_call(&work, &engine.target(), "pj_echo", &args);
    assert_heard(&work, &rec, "bunny/greeting.wav", 0.0, 1.0, 3.0);
    assert_no_call_left(&work, &engine);
}

#[test]
#[cfg_attr(
    not(interop),
    ignore = "real SIP peers: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn pjsua2_sip_info_dtmf_hears_the_song() {
    let _serial = serial();
    if !require(&[Peer::Pjsua2]) {
        return;
    }
    let work = Work::new();
    let engine = Engine::start(&work, &[]);
    let args = [
        "--codec",
        "PCMU",
        "--dtmf",
        "2@3",
        "--method",
        "info",
        "--duration",
        "9",
    ];
    let (summary, rec) = pj_call(&work, &engine.target(), "pj_info", &args);
    let two = sent_at(&work, &summary, "2");
    assert_heard(&work, &rec, "bunny/response_2.wav", two, two + 1.5, 4.0);
    assert_no_call_left(&work, &engine);
}

#[test]
#[cfg_attr(
    not(interop),
    ignore = "real SIP peers: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn pjsua2_over_tcp_hears_the_greeting_and_the_song() {
    let _serial = serial();
    if !require(&[Peer::Pjsua2]) {
        return;
    }
    let work = Work::new();
    let engine = Engine::start(&work, &[]);
    let args = ["--transport", "tcp", "--dtmf", "2@3", "--duration", "8"];
    let (summary, rec) = pj_call(&work, &engine.target(), "pj_tcp", &args);
    let two = sent_at(&work, &summary, "2");
    assert_heard(&work, &rec, "bunny/greeting.wav", 0.0, 1.0, 2.5);
    assert_heard(&work, &rec, "bunny/response_2.wav", two, two + 1.5, 4.0);
    assert_no_call_left(&work, &engine);
}

#[test]
#[cfg_attr(
    not(interop),
    ignore = "real SIP peers: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn pjsua2_hold_and_resume_by_reinvite_keep_the_call_going() {
    let _serial = serial();
    if !require(&[Peer::Pjsua2]) {
        return;
    }
    let work = Work::new();
    let engine = Engine::start(&work, &[]);
    let args = [
        "--hold-at",
        "2",
        "--resume-at",
        "4",
        "--dtmf",
        "1@5",
        "--duration",
        "9",
    ];
    let (summary, rec) = pj_call(&work, &engine.target(), "pj_hold", &args);
    // pjsua2 reports the audio state after each offer/answer: the hold and the resume were answered.
    if summary["media_states"] != serde_json::json!(["active", "local_hold", "active"]) {
        work.fail(&format!(
            "hold/resume re-INVITEs not answered as expected: {summary}"
        ));
    }
    let one = sent_at(&work, &summary, "1");
    assert_heard(&work, &rec, "bunny/greeting.wav", 0.0, 1.0, 1.8);
    assert_heard(&work, &rec, "bunny/response_1.wav", one, one + 1.5, 3.0);
    assert_no_call_left(&work, &engine);
}

#[test]
#[cfg_attr(
    not(interop),
    ignore = "real SIP peers: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn baresip_opus_call_hears_the_greeting_and_the_story() {
    let _serial = serial();
    if !require(&[Peer::Baresip]) {
        return;
    }
    let work = Work::new();
    let engine = Engine::start(&work, &[]);
    let rec = work.path("baresip_opus.wav");
    let rtp = free_range(20);
    let mut cmd = Command::new(python());
    cmd.arg(script("baresip_call.py"))
        .arg(engine.target())
        .arg("--dir")
        .arg(work.path("baresip"))
        .arg("--record")
        .arg(&rec)
        .args(["--codec", "opus", "--dtmf", "1@4", "--duration", "9"])
        .args([
            "--sip-port",
            &free_port().to_string(),
            "--ctrl-port",
            &free_port().to_string(),
        ])
        .args(["--rtp-ports", &format!("{rtp}-{}", rtp + 19)]);
    let (status, summary) = run_peer(&work, "baresip", &mut cmd, CALL_LIMIT);
    if !status.success() || summary["record"].is_null() {
        work.fail(&format!(
            "baresip call not answered or not recorded ({status}): {summary}"
        ));
    }
    eprintln!("baresip: {summary}");
    assert_codec(&work, &summary, "opus");
    // baresip's time zero is when it saw the answer; its recording starts with the decoder.
    assert_heard(&work, &rec, "bunny/greeting.wav", 0.0, 1.5, 3.0);
    let one = sent_at(&work, &summary, "1");
    assert_heard(
        &work,
        &rec,
        "bunny/response_1.wav",
        one - 0.5,
        one + 2.0,
        3.0,
    );
    assert_no_call_left(&work, &engine);
}

#[test]
#[cfg_attr(
    not(interop),
    ignore = "real SIP peers: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn sipp_cancel_while_ringing_gets_487_and_leaves_no_call() {
    let _serial = serial();
    if !require(&[Peer::Sipp]) {
        return;
    }
    let work = Work::new();
    let engine = Engine::start(&work, &[("PHONETREE_SIP_ANSWER_DELAY", "3s")]);
    let mut cmd = sipp(
        &work,
        "uac_cancel.xml",
        &engine.target(),
        "5000",
        free_range(4),
    );
    let (status, _) = run_peer(&work, "sipp_cancel", &mut cmd, CALL_LIMIT);
    if !status.success() {
        work.fail(&format!(
            "CANCEL while ringing failed ({status}); SIP messages:\n{}",
            sipp_messages(&work, "uac_cancel.xml")
        ));
    }
    assert_no_call_left(&work, &engine);
}

#[test]
#[cfg_attr(
    not(interop),
    ignore = "real SIP peers: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn cancel_crossing_the_100_trying_gets_487_or_a_clean_call() {
    let _serial = serial();
    if !require(&[]) {
        return;
    }
    let work = Work::new();
    // Up to 100 INVITEs from one address in a few seconds: over the default per-source rate.
    let engine = Engine::start(&work, &[("PHONETREE_SIP_RATE_INVITE", "0")]);
    // No answer delay: phonetree answers ~0.5 ms after its 100 Trying. INVITE and CANCEL back to
    // back, repeated until the CANCEL beats the answer; every lost race must end cleanly too.
    // The 200 leaves before the call's driver is even built, so on a loaded machine the answer
    // wins most races (it did before the split too, up to 20 tries): allow 100 tries (each takes
    // a few ms; the loop stops at the first 487).
    let mut cmd = Command::new(python());
    cmd.arg(script("sip_cancel.py"))
        .arg(engine.target())
        .args(["--attempts", "100"]);
    let (status, summary) = run_peer(&work, "sip_cancel", &mut cmd, CALL_LIMIT);
    eprintln!("sip_cancel: {summary}");
    let attempts = summary["attempts"].as_array().cloned().unwrap_or_default();
    if !status.success() || attempts.is_empty() {
        work.fail(&format!("sip_cancel.py failed ({status}): {summary}"));
    }
    for a in &attempts {
        if a["outcome"] != "487" && a["outcome"] != "answered" {
            work.fail(&format!("a cancelled call did not end cleanly: {a}"));
        }
    }
    let Some(won) = attempts.iter().find(|a| a["outcome"] == "487") else {
        work.fail(&format!(
            "in 100 tries no CANCEL got a 487 (every one crossed the answer): {summary}"
        ));
    };
    let seen: Vec<String> = won["responses"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|x| format!("{} {}", x[1], x[0].as_str().unwrap_or("?")))
                .collect()
        })
        .unwrap_or_default();
    let pos = |what: &str| seen.iter().position(|s| s == what);
    match (pos("200 CANCEL"), pos("487 INVITE")) {
        (Some(ok), Some(terminated)) if ok < terminated => {}
        _ => work.fail(&format!(
            "expected 200 to the CANCEL, then 487 to the INVITE: {seen:?}"
        )),
    }
    if seen.iter().filter(|s| *s == "487 INVITE").count() > 1 {
        work.fail(&format!(
            "the 487 was retransmitted after its ACK: {seen:?}"
        ));
    }
    assert_no_call_left(&work, &engine);
}

#[test]
#[cfg_attr(
    not(interop),
    ignore = "real SIP peers: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn rtp_timeout_hangs_up_a_caller_who_goes_silent() {
    let _serial = serial();
    if !require(&[Peer::Sipp]) {
        return;
    }
    let work = Work::new();
    let engine = Engine::start(&work, &[("PHONETREE_RTP_TIMEOUT", "3s")]);
    let pcap = build_pcap(&work, 2, "");
    let mut cmd = sipp(
        &work,
        "uac_rtp_stops.xml",
        &engine.target(),
        "5000",
        free_range(4),
    );
    cmd.arg("-key").arg("pcap").arg(&pcap);
    let started = std::time::Instant::now();
    let (status, _) = run_peer(&work, "sipp_silent", &mut cmd, CALL_LIMIT);
    let took = started.elapsed().as_secs_f64();
    eprintln!("BYE for the silent caller: sipp ran {took:.2} s");
    if !status.success() {
        work.fail(&format!(
            "no BYE from phonetree after the caller went silent ({status}):\n{}",
            sipp_messages(&work, "uac_rtp_stops.xml")
        ));
    }
    // 2 s of RTP, then the 3 s timeout (sipp's run also holds 0.5 s of timewait).
    if !(4.5..12.0).contains(&took) {
        work.fail(&format!(
            "the BYE came {took:.1} s into the call, expected 5-6 s"
        ));
    }
    assert_no_call_left(&work, &engine);
}

#[test]
#[cfg_attr(
    not(interop),
    ignore = "real SIP peers: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn sipp_options_is_answered_200_with_allow() {
    let _serial = serial();
    if !require(&[Peer::Sipp]) {
        return;
    }
    let work = Work::new();
    let engine = Engine::start(&work, &[]);
    let mut cmd = sipp(
        &work,
        "options.xml",
        &engine.target(),
        "5000",
        free_range(4),
    );
    let (status, _) = run_peer(&work, "sipp_options", &mut cmd, CALL_LIMIT);
    if !status.success() {
        work.fail(&format!(
            "OPTIONS failed ({status}):\n{}",
            sipp_messages(&work, "options.xml")
        ));
    }
}

#[test]
#[cfg_attr(
    not(interop),
    ignore = "real SIP peers: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn sipp_session_timer_is_negotiated_and_refreshed_both_ways() {
    let _serial = serial();
    if !require(&[Peer::Sipp]) {
        return;
    }
    let work = Work::new();
    // A flow that just waits, and an RTP timeout longer than the call (sipp sends no audio).
    work.write_flow(
        "wait.yaml",
        "name: wait\nroutes: [\"8000\"]\nstart: wait\nnodes:\n  \
         wait: { pause: 120s, next: end }\n  end: { hangup: {} }\n",
    );
    let engine = Engine::start(&work, &[("PHONETREE_RTP_TIMEOUT", "120s")]);
    let mut cmd = sipp(
        &work,
        "uac_session_timer.xml",
        &engine.target(),
        "8000",
        free_range(4),
    );
    cmd.args(["-timeout", "75s"]); // our refresh is due 45 s into the call
    let started = std::time::Instant::now();
    let (status, _) = run_peer(
        &work,
        "sipp_session_timer",
        &mut cmd,
        Duration::from_secs(90),
    );
    eprintln!(
        "session timer scenario: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if !status.success() {
        work.fail(&format!(
            "session timer scenario failed ({status}):\n{}",
            sipp_messages(&work, "uac_session_timer.xml")
        ));
    }
    assert_no_call_left(&work, &engine);
}

/// A sipp UAS on a free port playing `scenario` (the transfer target) and a flow `transfer`
/// (route 7000) that says transfer.wav, then transfers to it, or says sorry.wav when that fails.
fn transfer_target(work: &Work, scenario: &str) -> (Proc, u16) {
    let port = free_port();
    let mut uas = Command::new("sipp");
    uas.arg("-sf")
        .arg(script(&format!("sipp/{scenario}")))
        .args([
            "-i",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-mi",
            "127.0.0.1",
        ])
        .args([
            "-mp",
            &free_range(4).to_string(),
            "-m",
            "1",
            "-timeout",
            "50s",
            "-nostdin",
        ])
        .arg("-trace_msg")
        .arg("-message_file")
        .arg(work.path("sipp-target.messages.log"));
    let target = Proc::spawn(work, "sipp_target", &mut uas);
    work.write_flow(
        "transfer.yaml",
        &format!(
            "name: transfer\nroutes: [\"7000\"]\nstart: intro\nnodes:\n  \
             intro: {{ play: transfer.wav, next: operator }}\n  \
             operator: {{ transfer: \"sip:operator@127.0.0.1:{port}\", on_fail: sorry }}\n  \
             sorry: {{ play: sorry.wav, next: end }}\n  end: {{ hangup: {{}} }}\n"
        ),
    );
    (target, port)
}

#[test]
#[cfg_attr(
    not(interop),
    ignore = "real SIP peers: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn refer_transfer_sends_the_caller_to_the_target() {
    let _serial = serial();
    if !require(&[Peer::Pjsua2, Peer::Sipp]) {
        return;
    }
    let work = Work::new();
    let (mut target, port) = transfer_target(&work, "uas_answer.xml");
    let engine = Engine::start(&work, &[]);
    let args = ["--user", "7000", "--duration", "12"];
    let (summary, rec) = pj_call(&work, &engine.target(), "pj_transfer", &args);
    assert_heard(&work, &rec, "transfer.wav", 0.0, 1.0, 2.0);
    let refer_to = summary["transfer"]["to"].as_str().unwrap_or("");
    if !refer_to.contains(&format!("operator@127.0.0.1:{port}")) {
        work.fail(&format!("the caller got no REFER to the target: {summary}"));
    }
    if summary["transfer"]["answered"] != true {
        work.fail(&format!(
            "the transferred call was not answered by the target: {summary}"
        ));
    }
    if summary["hung_up_by"] != "remote" {
        work.fail(&format!(
            "phonetree did not end the transferred call (BYE): {summary}"
        ));
    }
    match target.wait(Duration::from_secs(15)) {
        Ok(s) if s.success() => {}
        other => work.fail(&format!(
            "the transfer target did not complete its call: {other:?}"
        )),
    }
    assert_no_call_left(&work, &engine);
}

#[test]
#[cfg_attr(
    not(interop),
    ignore = "real SIP peers: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn refer_transfer_to_a_busy_target_takes_on_fail() {
    let _serial = serial();
    if !require(&[Peer::Pjsua2, Peer::Sipp]) {
        return;
    }
    let work = Work::new();
    let (mut target, _) = transfer_target(&work, "uas_busy.xml");
    let engine = Engine::start(&work, &[]);
    let args = ["--user", "7000", "--duration", "14"];
    let (summary, rec) = pj_call(&work, &engine.target(), "pj_transfer_busy", &args);
    if summary["transfer"]["code"] != 486 || summary["transfer"]["answered"] != false {
        work.fail(&format!(
            "the transferred call should have met 486 Busy Here: {summary}"
        ));
    }
    // The NOTIFY carrying 486 makes the flow take on_fail: sorry.wav on the original call.
    let intro = assert_heard(&work, &rec, "transfer.wav", 0.0, 1.0, 2.0);
    assert_heard(&work, &rec, "sorry.wav", intro + 2.5, intro + 5.0, 4.0);
    if summary["hung_up_by"] != "remote" {
        work.fail(&format!(
            "the flow's hangup after sorry.wav did not end the call: {summary}"
        ));
    }
    match target.wait(Duration::from_secs(15)) {
        Ok(s) if s.success() => {}
        other => work.fail(&format!(
            "the busy target did not see its INVITE: {other:?}"
        )),
    }
    assert_no_call_left(&work, &engine);
}

/// An entry of `/api/registrations` that says it is registered.
fn registered(doc: &Value) -> bool {
    let entries = match doc {
        Value::Array(items) => items.clone(),
        Value::Object(map) => match map.get("registrations") {
            Some(Value::Array(items)) => items.clone(),
            _ => vec![doc.clone()],
        },
        _ => Vec::new(),
    };
    entries.iter().any(|e| {
        e.as_object().is_some_and(|m| {
            m.values().any(|v| v == "registered" || v == "Registered")
                || m.get("registered") == Some(&Value::Bool(true))
        })
    })
}

#[test]
#[cfg_attr(
    not(interop),
    ignore = "real SIP peers: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn kamailio_digest_registration_then_a_call_to_1001_reaches_the_flow() {
    let _serial = serial();
    if !require(&[Peer::Kamailio, Peer::Pjsua2]) {
        return;
    }
    let work = Work::new();
    let kamailio = Kamailio::start(&work, free_port());
    let domain = kamailio.domain();
    let env = [
        ("SIP_DOMAIN", domain.as_str()),
        ("SIP_USERNAME", "1001"),
        ("SIP_PASSWORD", "secret"),
    ];
    let engine = Engine::start(&work, &env);
    engine.wait_for(
        &work,
        "kamailio to hold a binding for 1001",
        Duration::from_secs(20),
        || kamailio.has_binding(&work, "1001"),
    );
    engine.wait_for(
        &work,
        "/api/registrations to say registered",
        Duration::from_secs(10),
        || registered(&engine.json(&work, "/api/registrations")),
    );
    let args = ["--user", "1001", "--duration", "5"];
    let (_, rec) = pj_call(&work, &domain, "pj_via_kamailio", &args);
    assert_heard(&work, &rec, "bunny/greeting.wav", 0.0, 1.0, 3.0);
    assert_no_call_left(&work, &engine);
    // SIGTERM: unregister, exit 0.
    let mut proc = engine.proc.lock().unwrap_or_else(|p| p.into_inner());
    proc.kill_group("TERM");
    match proc.wait(Duration::from_secs(20)) {
        Ok(s) if s.success() => {}
        other => work.fail(&format!("phonetree did not exit 0 on SIGTERM: {other:?}")),
    }
    if kamailio.has_binding(&work, "1001") {
        work.fail("1001 still registered after phonetree stopped");
    }
}

#[test]
#[cfg_attr(
    not(interop),
    ignore = "real SIP peers: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn hot_reload_between_two_calls_changes_the_prompt() {
    let _serial = serial();
    if !require(&[Peer::Pjsua2]) {
        return;
    }
    let work = Work::new();
    let flow = |prompt: &str| {
        format!(
            "name: reload\nroutes: [\"7100\"]\nstart: greet\nnodes:\n  \
             greet: {{ play: {prompt}, next: end }}\n  end: {{ hangup: {{}} }}\n"
        )
    };
    work.write_flow("reload.yaml", &flow("hours.wav"));
    let engine = Engine::start(&work, &[]);
    let before = engine.flow_version(&work, "reload");
    if before.is_none() {
        work.fail("/api/flows does not list the flow `reload`");
    }
    let args = ["--user", "7100", "--duration", "8"];
    let (_, rec1) = pj_call(&work, &engine.target(), "pj_reload_1", &args);
    assert_heard(&work, &rec1, "hours.wav", 0.0, 1.0, 4.0);
    work.write_flow("reload.yaml", &flow("sorry.wav"));
    engine.wait_for(
        &work,
        "a new version of `reload` in /api/flows",
        Duration::from_secs(10),
        || {
            let now = engine.flow_version(&work, "reload");
            now.is_some() && now != before
        },
    );
    let (_, rec2) = pj_call(&work, &engine.target(), "pj_reload_2", &args);
    assert_heard(&work, &rec2, "sorry.wav", 0.0, 1.0, 4.0);
    let anywhere = Window {
        after: 0.0,
        before: None,
        ref_seconds: Some(3.0),
    };
    assert_not_heard(&work, &rec2, "hours.wav", anywhere);
    assert_no_call_left(&work, &engine);
}

#[test]
#[cfg_attr(
    not(interop),
    ignore = "real SIP peers: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn kamailio_restart_phonetree_registers_again_and_still_gets_calls() {
    let _serial = serial();
    if !require(&[Peer::Kamailio, Peer::Pjsua2]) {
        return;
    }
    let work = Work::new();
    let port = free_port();
    let kamailio = Kamailio::start(&work, port);
    let domain = kamailio.domain();
    let env = [
        ("SIP_DOMAIN", domain.as_str()),
        ("SIP_USERNAME", "1001"),
        ("SIP_PASSWORD", "secret"),
        ("PHONETREE_ACCOUNT_EXPIRES", "30s"),
    ];
    let engine = Engine::start(&work, &env);
    engine.wait_for(
        &work,
        "the first registration",
        Duration::from_secs(20),
        || kamailio.has_binding(&work, "1001"),
    );
    // The registrar restarts and forgets every binding (usrloc in memory).
    drop(kamailio);
    let kamailio = Kamailio::start(&work, port);
    if kamailio.has_binding(&work, "1001") {
        work.fail("a fresh kamailio already has a binding: the restart did not happen");
    }
    // phonetree refreshes at 85 % of the 30 s granted, answering the new digest challenge.
    engine.wait_for(
        &work,
        "phonetree to register again",
        Duration::from_secs(45),
        || kamailio.has_binding(&work, "1001"),
    );
    let args = ["--user", "1001", "--duration", "4"];
    let (_, rec) = pj_call(&work, &domain, "pj_after_restart", &args);
    assert_heard(&work, &rec, "bunny/greeting.wav", 0.0, 1.0, 2.5);
    assert_no_call_left(&work, &engine);
}

/// Keeps the rule above true as tests are added: every `#[test]` in this file (and in
/// `tests/interop_agent.rs`) except this one carries the `cfg_attr(not(interop), ignore)` line,
/// so none passes unrun.
#[test]
fn every_interop_test_is_ignored_unless_phonetree_interop_is_set() {
    let text = [
        "tests/interop.rs",
        "tests/interop_agent.rs",
        "tests/interop_cluster.rs",
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

/// The Kamailio configuration of docs/pbx.md, as a user pastes it: the one `#!KAMAILIO` block,
/// with Kamailio's address (192.0.2.10:5060) and phonetree's (192.0.2.50:5060) replaced.
fn docs_kamailio_cfg(kamailio_port: u16, phonetree_port: u16) -> String {
    let doc = std::fs::read_to_string(root().join("docs/pbx.md")).expect("docs/pbx.md");
    let blocks: Vec<&str> = doc
        .split("```text\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .filter(|b| b.starts_with("#!KAMAILIO"))
        .collect();
    assert_eq!(blocks.len(), 1, "docs/pbx.md has one kamailio.cfg block");
    let cfg = blocks[0]
        .replace("192.0.2.10:5060", &format!("127.0.0.1:{kamailio_port}"))
        .replace("192.0.2.50:5060", &format!("127.0.0.1:{phonetree_port}"));
    assert!(
        !cfg.contains("192.0.2."),
        "an address left unreplaced:\n{cfg}"
    );
    cfg
}

/// docs/pbx.md's Kamailio example works as written on kamailio 5.6: it starts, phonetree
/// registers through it with the documented credentials, a caller reaches the flow through it
/// in registration mode (1001) and in direct mode (5000), and a CANCEL while phonetree rings is
/// relayed (200 to the CANCEL, 487 to the INVITE).
#[test]
#[cfg_attr(
    not(interop),
    ignore = "real SIP peers: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn docs_pbx_kamailio_example_registers_phonetree_and_carries_calls_and_cancel() {
    let _serial = serial();
    if !require(&[Peer::Kamailio, Peer::Pjsua2, Peer::Sipp]) {
        return;
    }
    let work = Work::new();
    let (kport, pport) = (free_port(), free_port());
    let kamailio = Kamailio::start_with(&work, kport, &docs_kamailio_cfg(kport, pport));
    let domain = kamailio.domain();
    let env = [
        ("SIP_DOMAIN", domain.as_str()),
        ("SIP_USERNAME", "1001"),
        ("SIP_PASSWORD", "use-a-long-random-secret"),
        ("PHONETREE_SIP_ANSWER_DELAY", "2s"),
    ];
    let engine = Engine::start_at(&work, pport, &env);
    engine.wait_for(
        &work,
        "/api/registrations to say registered through the docs' kamailio",
        Duration::from_secs(20),
        || registered(&engine.json(&work, "/api/registrations")),
    );
    for user in ["1001", "5000"] {
        let args = ["--user", user, "--duration", "5"];
        let (_, rec) = pj_call(&work, &domain, &format!("pj_docs_kamailio_{user}"), &args);
        assert_heard(&work, &rec, "bunny/greeting.wav", 0.0, 1.0, 3.0);
        assert_no_call_left(&work, &engine);
    }
    // A caller who hangs up while phonetree rings. Kamailio's 200 to the CANCEL and the 487 it
    // relays race between its worker processes (both orders are valid SIP), so a raw UAC that
    // accepts either order stands in for sipp's strictly ordered scenario.
    let got = cancel_while_ringing(&work, kport, "5001");
    if !(got.contains(&(200, "CANCEL".into())) && got.contains(&(487, "INVITE".into()))) {
        work.fail(&format!("CANCEL through the docs' kamailio: got {got:?}"));
    }
    assert_no_call_left(&work, &engine);
}

/// Sends an INVITE for `user` to `127.0.0.1:port`, a CANCEL once it rings (180), ACKs the 487;
/// returns every final response as (status, CSeq method).
fn cancel_while_ringing(work: &Work, port: u16, user: &str) -> Vec<(u16, String)> {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let local = sock.local_addr().expect("addr");
    let head = |method: &str| {
        format!(
            "{method} sip:{user}@127.0.0.1:{port} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch=z9hG4bK-docs-cancel-{}\r\nMax-Forwards: 70\r\n\
             From: <sip:caller@{local}>;tag=c1\r\nTo: <sip:{user}@127.0.0.1:{port}>\r\n\
             Call-ID: docs-cancel-{}@127.0.0.1\r\nCSeq: 1 {method}\r\n",
            local.port(),
            local.port()
        )
    };
    // A real (bound, silent) RTP port: phonetree refuses SDP addresses it could not use.
    let rtp = std::net::UdpSocket::bind("127.0.0.1:0").expect("rtp");
    let rtp_port = rtp.local_addr().expect("rtp addr").port();
    let sdp = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {rtp_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    );
    let invite = format!(
        "{}Contact: <sip:caller@{local}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        head("INVITE"),
        sdp.len()
    );
    let dest = ("127.0.0.1", port);
    sock.send_to(invite.as_bytes(), dest).expect("send INVITE");
    let mut finals = Vec::new();
    let mut cancelled = false;
    let end = std::time::Instant::now() + Duration::from_secs(10);
    let mut buf = vec![0u8; 8192];
    while std::time::Instant::now() < end && finals.len() < 2 {
        let Ok((n, _)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let text = String::from_utf8_lossy(&buf[..n]).to_string();
        let status: u16 = text
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let cseq = text
            .lines()
            .find_map(|l| l.strip_prefix("CSeq:"))
            .and_then(|c| c.split_whitespace().nth(1))
            .unwrap_or("")
            .to_string();
        if status == 180 && !cancelled {
            cancelled = true;
            let cancel = format!("{}Content-Length: 0\r\n\r\n", head("CANCEL"));
            sock.send_to(cancel.as_bytes(), dest).expect("send CANCEL");
        }
        if status >= 200 && !finals.contains(&(status, cseq.clone())) {
            if status == 487 {
                let to = text
                    .lines()
                    .find(|l| l.starts_with("To:"))
                    .unwrap_or("")
                    .to_string();
                let ack = head("ACK").replace(&format!("To: <sip:{user}@127.0.0.1:{port}>"), &to)
                    + "Content-Length: 0\r\n\r\n";
                sock.send_to(ack.as_bytes(), dest).expect("send ACK");
            }
            finals.push((status, cseq));
        }
    }
    if !cancelled {
        work.fail(&format!("no 180 Ringing before the answer: {finals:?}"));
    }
    finals
}
