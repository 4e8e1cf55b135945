//! SIP signalling against sipp and a raw UAC: CANCEL while ringing and crossing the 100 Trying,
//! the RTP timeout of a caller who goes silent, OPTIONS, and session timers refreshed both ways.

use super::*;

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
