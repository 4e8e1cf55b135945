//! SRTP interop (SDES, RFC 4568): baresip calls `phonetree run` with its `srtp` module and hears
//! the greeting and the answer to a key press — which it can only do if both sides derived the
//! same keys, encrypted, authenticated and counted roll-overs the same way — and a server that
//! requires SRTP refuses baresip's plain RTP offer with 488.
//!
//! Same gate and harness as `tests/interop.rs`: ignored unless `PHONETREE_INTEROP=1` at build
//! time, then a missing peer is a failure; one test at a time; every child killed on drop.

#[allow(dead_code)]
#[path = "interop/audio.rs"]
mod audio;
#[allow(dead_code)]
#[path = "interop/harness.rs"]
mod harness;

use std::process::Command;
use std::time::Duration;

use audio::assert_heard;
use harness::*;
use serde_json::Value;

const CALL_LIMIT: Duration = Duration::from_secs(60);

/// One baresip call with `mediaenc` ("" for plain RTP): its summary and recording.
fn baresip(
    work: &Work,
    engine: &Engine,
    name: &str,
    mediaenc: &str,
) -> (Value, std::path::PathBuf) {
    let rec = work.path(&format!("{name}.wav"));
    let rtp = free_range(20);
    let mut cmd = Command::new(python());
    cmd.arg(script("baresip_call.py"))
        .arg(engine.target())
        .arg("--dir")
        .arg(work.path(name))
        .arg("--record")
        .arg(&rec)
        .args(["--codec", "pcmu", "--dtmf", "1@4", "--duration", "8"])
        .args([
            "--sip-port",
            &free_port().to_string(),
            "--ctrl-port",
            &free_port().to_string(),
        ])
        .args(["--rtp-ports", &format!("{rtp}-{}", rtp + 19)]);
    if !mediaenc.is_empty() {
        cmd.args(["--mediaenc", mediaenc]);
    }
    let (_, summary) = run_peer(work, name, &mut cmd, CALL_LIMIT);
    eprintln!("{name}: {summary}");
    (summary, rec)
}

/// The call was answered, SRTP with `suite` was negotiated (phonetree's media log line), and the
/// greeting and the answer to key 1 were heard.
fn assert_srtp_call(work: &Work, engine: &Engine, summary: &Value, rec: &std::path::Path) {
    if summary["answered"] != true || summary["record"].is_null() {
        work.fail(&format!(
            "baresip SRTP call not answered or not recorded: {summary}"
        ));
    }
    let log = engine.log_text();
    if !log.contains("srtp=\"AES_CM_128_HMAC_SHA1_80\"")
        && !log.contains("srtp=\"AES_CM_128_HMAC_SHA1_32\"")
    {
        work.fail("phonetree did not log an SRTP suite for the call");
    }
    assert_heard(work, rec, "bunny/greeting.wav", 0.0, 1.5, 3.0);
    let one = summary["dtmf_sent"][0][1]
        .as_f64()
        .unwrap_or_else(|| work.fail(&format!("DTMF 1 was not sent: {summary}")));
    assert_heard(work, rec, "bunny/response_1.wav", one - 0.5, one + 2.0, 3.0);
}

#[test]
#[cfg_attr(
    not(interop),
    ignore = "real SIP peers: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn baresip_srtp_mandatory_hears_the_greeting_and_the_key_press_answer() {
    let _serial = serial();
    if !require(&[Peer::Baresip]) {
        return;
    }
    let work = Work::new();
    let engine = Engine::start(&work, &[("PHONETREE_SRTP", "required")]);
    let (summary, rec) = baresip(&work, &engine, "baresip_savp", "srtp-mand");
    assert_srtp_call(&work, &engine, &summary, &rec);
}

#[test]
#[cfg_attr(
    not(interop),
    ignore = "real SIP peers: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn baresip_best_effort_srtp_with_the_seed_aliases_hears_the_greeting() {
    let _serial = serial();
    if !require(&[Peer::Baresip]) {
        return;
    }
    let work = Work::new();
    // The seed's variables: enabled + optional = `srtp: optional`.
    let engine = Engine::start(
        &work,
        &[("SIP_ENABLE_SRTP", "true"), ("SIP_SRTP_OPTIONAL", "true")],
    );
    let (summary, rec) = baresip(&work, &engine, "baresip_avp_crypto", "srtp");
    assert_srtp_call(&work, &engine, &summary, &rec);
    // The same server still takes a plain RTP call.
    let (plain, plain_rec) = baresip(&work, &engine, "baresip_plain", "");
    if plain["answered"] != true {
        work.fail(&format!("optional SRTP refused a plain call: {plain}"));
    }
    assert_heard(&work, &plain_rec, "bunny/greeting.wav", 0.0, 1.5, 3.0);
}

#[test]
#[cfg_attr(
    not(interop),
    ignore = "real SIP peers: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn required_srtp_answers_a_plain_rtp_offer_with_488() {
    let _serial = serial();
    if !require(&[Peer::Baresip]) {
        return;
    }
    let work = Work::new();
    let engine = Engine::start(&work, &[("SIP_ENABLE_SRTP", "true")]);
    let (summary, _) = baresip(&work, &engine, "baresip_plain_refused", "");
    if summary["answered"] != false {
        work.fail(&format!(
            "a plain RTP call was answered under srtp: required: {summary}"
        ));
    }
    let error = summary["error"].as_str().unwrap_or("");
    if !error.contains("488") {
        work.fail(&format!("expected a 488 for the plain offer: {summary}"));
    }
    if !engine.log_text().contains("SRTP is required") {
        work.fail("phonetree did not log why it refused the call");
    }
}
