//! What a caller hears: the flow's prompts through every codec (PCMU, PCMA, Opus), every way a
//! phone sends DTMF (RFC 4733 from a sipp pcap, in-band, SIP INFO), SIP over TCP, hold and resume
//! by re-INVITE, the echo agent, and a flow changed by hot reload between two calls.

use super::*;

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
