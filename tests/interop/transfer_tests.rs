//! Blind transfer by REFER: the caller (pjsua2) is sent to a sipp target that answers, or that
//! is busy (486), in which case the flow takes `on_fail`.

use super::*;

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
