//! SIP over TLS interop: baresip calls `phonetree run` over TLS (`;transport=tls` to the
//! `sip.tls.port` listener, which holds the self-signed certificate made at start) with SRTP
//! mandatory, so the SDES keys travel inside TLS; it hears the greeting and the answer to its
//! key press. Proves the TLS handshake with a third-party stack (libre/OpenSSL), SIP framing over
//! it, our `SIP/2.0/TLS` Via and `;transport=tls` Contact (baresip's ACK and BYE come back on
//! the same connection), and SRTP negotiated over it. pjsua2 (PJSIP's TLS transport) is the
//! second peer: a plain-RTP call over TLS with a key press.
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

const CALL_LIMIT: Duration = Duration::from_secs(60);

#[test]
#[cfg_attr(
    not(interop),
    ignore = "real SIP peers: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn baresip_over_tls_with_mandatory_srtp_hears_the_greeting_and_the_key_press_answer() {
    let _serial = serial();
    if !require(&[Peer::Baresip]) {
        return;
    }
    let work = Work::new();
    let tls_port = free_port();
    let engine = Engine::start(
        &work,
        &[
            ("PHONETREE_SRTP", "required"),
            ("PHONETREE_SIP_TLS_PORT", &tls_port.to_string()),
            ("PHONETREE_LOG_SIP_TRACE", "true"),
        ],
    );
    let rec = work.path("baresip_tls.wav");
    let rtp = free_range(20);
    let mut cmd = Command::new(python());
    cmd.arg(script("baresip_call.py"))
        .arg(format!("127.0.0.1:{tls_port}"))
        .arg("--dir")
        .arg(work.path("baresip_tls"))
        .arg("--record")
        .arg(&rec)
        .args(["--codec", "pcmu", "--dtmf", "1@4", "--duration", "8"])
        .args([
            "--sip-port",
            &free_port().to_string(),
            "--ctrl-port",
            &free_port().to_string(),
        ])
        .args(["--rtp-ports", &format!("{rtp}-{}", rtp + 19)])
        .args(["--mediaenc", "srtp-mand", "--tls"]);
    let (_, summary) = run_peer(&work, "baresip_tls", &mut cmd, CALL_LIMIT);
    eprintln!("baresip_tls: {summary}");
    if summary["answered"] != true || summary["record"].is_null() {
        work.fail(&format!(
            "baresip TLS call not answered or not recorded: {summary}"
        ));
    }
    let log = engine.log_text();
    if !log.contains("self-signed certificate") {
        work.fail("phonetree did not say its TLS certificate is self-signed");
    }
    // The INVITE came over TLS (the SIP trace names the transport) and SRTP was negotiated.
    if !log.contains("transport=Tls") || !log.contains("Via: SIP/2.0/TLS") {
        work.fail("no SIP message over TLS in phonetree's trace");
    }
    if !log.contains("srtp=\"AES_CM_128_HMAC_SHA1_80\"")
        && !log.contains("srtp=\"AES_CM_128_HMAC_SHA1_32\"")
    {
        work.fail("phonetree did not log an SRTP suite for the call");
    }
    assert_heard(&work, &rec, "bunny/greeting.wav", 0.0, 1.5, 3.0);
    let one = summary["dtmf_sent"][0][1]
        .as_f64()
        .unwrap_or_else(|| work.fail(&format!("DTMF 1 was not sent: {summary}")));
    assert_heard(
        &work,
        &rec,
        "bunny/response_1.wav",
        one - 0.5,
        one + 2.0,
        3.0,
    );
    // baresip hung up: its BYE reached us over the TLS connection.
    wait_until(
        &work,
        "baresip's BYE over TLS",
        Duration::from_secs(5),
        || engine.log_text().contains("BYE sip:"),
    );
}

#[test]
#[cfg_attr(
    not(interop),
    ignore = "real SIP peers: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn pjsua2_over_tls_hears_the_greeting_and_the_key_press_answer() {
    let _serial = serial();
    if !require(&[Peer::Pjsua2]) {
        return;
    }
    let work = Work::new();
    let tls_port = free_port();
    let engine = Engine::start(
        &work,
        &[
            ("PHONETREE_SIP_TLS_PORT", &tls_port.to_string()),
            ("PHONETREE_LOG_SIP_TRACE", "true"),
        ],
    );
    let rec = work.path("pj_tls.wav");
    let target = format!("127.0.0.1:{tls_port}");
    let mut cmd = pj_caller(&target, &rec);
    cmd.args(["--transport", "tls", "--dtmf", "1@3", "--duration", "7"]);
    let (status, summary) = run_peer(&work, "pj_tls", &mut cmd, CALL_LIMIT);
    eprintln!("pj_tls: {summary}");
    if !status.success() || summary["answered"] != true || summary["record"].is_null() {
        work.fail(&format!(
            "pjsua2 TLS call not answered or not recorded: {summary}"
        ));
    }
    if !engine.log_text().contains("Via: SIP/2.0/TLS") {
        work.fail("no SIP message over TLS in phonetree's trace");
    }
    let one = summary["dtmf_sent"]
        .as_array()
        .and_then(|sent| sent.iter().find(|d| d[0] == "1"))
        .and_then(|d| d[1].as_f64())
        .unwrap_or_else(|| work.fail(&format!("DTMF 1 was not sent: {summary}")));
    assert_heard(&work, &rec, "bunny/greeting.wav", 0.0, 1.5, 2.5);
    assert_heard(&work, &rec, "bunny/response_1.wav", one, one + 2.0, 3.0);
}
