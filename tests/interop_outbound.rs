//! Outbound interop: `phonetree run` places calls from `POST /api/calls` to real third-party
//! callees — a pjsua2 callee (`tests/interop/pj_callee.py`) that answers and presses 1 (RFC
//! 4733), the same callee registered at kamailio and reached through it as a plain number via
//! phonetree's own account, and a sipp UAS that answers every INVITE 486.
//!
//! Same gate and harness as `tests/interop.rs`: ignored unless `PHONETREE_INTEROP=1` at build
//! time, then a missing peer is a failure; one test at a time; every child killed on drop.

#[allow(dead_code)]
#[path = "interop/harness.rs"]
mod harness;
#[allow(dead_code)]
#[path = "interop/kamailio.rs"]
mod kamailio;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use harness::*;
use kamailio::Kamailio;
use serde_json::{json, Value};

/// `POST path` with a JSON body: status and JSON answer.
fn post(addr: SocketAddr, path: &str, body: &Value) -> (u16, Value) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let body = body.to_string();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read");
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// Queues a job; its id.
fn create(work: &Work, engine: &Engine, request: &Value) -> String {
    let (status, body) = post(engine.http, "/api/calls", request);
    if status != 201 {
        work.fail(&format!("POST /api/calls: {status} {body}"));
    }
    body["id"].as_str().unwrap_or_default().to_string()
}

/// Waits until the job is finished (`done`, `failed` or `cancelled`); the job document.
fn finished(work: &Work, engine: &Engine, id: &str, limit: Duration) -> Value {
    let path = format!("/api/calls/{id}");
    let mut last = Value::Null;
    engine.wait_for(work, "the job to finish", limit, || {
        last = engine.json(work, &path);
        matches!(
            last["job"]["state"].as_str(),
            Some("done" | "failed" | "cancelled")
        )
    });
    last
}

fn outcome(job: &Value) -> (String, String) {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    (s(&job["job"]["state"]), s(&job["job"]["outcome"]))
}

/// The pjsua2 callee on `port`: answers, presses 1 eight seconds into the call.
fn pj_callee(port: u16, extra: &[&str]) -> Command {
    let mut cmd = Command::new(python());
    cmd.arg(script("pj_callee.py"))
        .args(["--port", &port.to_string()])
        .args(["--rtp-port", &free_range(40).to_string()])
        .args(["--dtmf", "1@8", "--calls", "1", "--life", "60"])
        .args(extra);
    cmd
}

/// The callee's summary once it has exited (it leaves after the far end hung up).
fn callee_summary(work: &Work, callee: &mut Proc) -> Value {
    match callee.wait(Duration::from_secs(30)) {
        Ok(s) if s.success() => {}
        other => work.fail(&format!(
            "the pjsua2 callee did not finish its call: {other:?}"
        )),
    }
    callee.json().unwrap_or(Value::Null)
}

fn assert_acknowledged(work: &Work, job: &Value, summary: &Value) {
    if outcome(job) != ("done".into(), "acknowledged".into())
        || !job["job"]["acknowledged_ms"].is_i64()
    {
        work.fail(&format!("the job is not done/acknowledged: {job:#}"));
    }
    let call = &summary["calls"][0];
    if call["answered"] != true || call["dtmf_sent"][0][0] != "1" {
        work.fail(&format!("the callee did not answer and press 1: {summary}"));
    }
    // The flow thanks and hangs up: phonetree sends the BYE.
    if call["hung_up_by"] != "remote" {
        work.fail(&format!("phonetree did not end the call: {summary}"));
    }
}

#[test]
#[cfg_attr(
    not(interop),
    ignore = "real SIP peers: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn pjsua2_callee_answers_presses_1_and_the_message_job_is_acknowledged() {
    let _serial = serial();
    if !require(&[Peer::Pjsua2]) {
        return;
    }
    let work = Work::new();
    let engine = Engine::start(&work, &[("PHONETREE_OUTBOUND_ALLOW", "sip:*@127.0.0.1:*")]);
    let port = free_port();
    let mut callee = Proc::spawn(&work, "pj_callee", &mut pj_callee(port, &[]));
    wait_until(
        &work,
        "the callee to listen",
        Duration::from_secs(10),
        || callee.stdout_text().contains("listening"),
    );
    let id = create(
        &work,
        &engine,
        &json!({"to": format!("sip:oncall@127.0.0.1:{port}"), "message": "Disk full on db1",
                "ring_timeout": "20s"}),
    );
    let job = finished(&work, &engine, &id, Duration::from_secs(60));
    let summary = callee_summary(&work, &mut callee);
    assert_acknowledged(&work, &job, &summary);
    if job["attempts"].as_array().map(Vec::len) != Some(1) {
        work.fail(&format!("one attempt expected: {job:#}"));
    }
}

#[test]
#[cfg_attr(
    not(interop),
    ignore = "real SIP peers: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn a_number_is_called_through_kamailio_to_its_registered_pjsua2_callee() {
    let _serial = serial();
    if !require(&[Peer::Kamailio, Peer::Pjsua2]) {
        return;
    }
    let work = Work::new();
    let kamailio = Kamailio::start(&work, free_port());
    let domain = kamailio.domain();
    let engine = Engine::start(
        &work,
        &[
            ("SIP_DOMAIN", domain.as_str()),
            ("SIP_USERNAME", "1001"),
            ("SIP_PASSWORD", "secret"),
            ("PHONETREE_OUTBOUND_ALLOW", "100?"),
        ],
    );
    let port = free_port();
    let reg = ["--register", domain.as_str(), "--user", "1002"];
    let mut callee = Proc::spawn(&work, "pj_callee", &mut pj_callee(port, &reg));
    engine.wait_for(
        &work,
        "kamailio to hold bindings for 1001 (phonetree) and 1002 (the callee)",
        Duration::from_secs(20),
        || kamailio.has_binding(&work, "1001") && kamailio.has_binding(&work, "1002"),
    );
    let id = create(
        &work,
        &engine,
        &json!({"to": "1002", "message": "Disk full"}),
    );
    let job = finished(&work, &engine, &id, Duration::from_secs(60));
    let summary = callee_summary(&work, &mut callee);
    assert_acknowledged(&work, &job, &summary);
    // It came through the proxy from phonetree's account.
    let from = summary["calls"][0]["from"].as_str().unwrap_or_default();
    if !from.contains("1001@") {
        work.fail(&format!("the call's From is not the account: {summary}"));
    }
}

#[test]
#[cfg_attr(
    not(interop),
    ignore = "real SIP peers: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn sipp_uas_486_is_retried_with_backoff_then_the_job_fails_busy() {
    let _serial = serial();
    if !require(&[Peer::Sipp]) {
        return;
    }
    let work = Work::new();
    let port = free_port();
    let mut uas = Command::new("sipp");
    uas.arg("-sf")
        .arg(script("sipp/uas_busy.xml"))
        .args(["-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-m", "3", "-timeout", "50s", "-nostdin", "-trace_msg"])
        .arg("-message_file")
        .arg(work.path("sipp-busy.messages.log"));
    let mut sipp = Proc::spawn(&work, "sipp_busy", &mut uas);
    let engine = Engine::start(&work, &[("PHONETREE_OUTBOUND_ALLOW", "sip:*@127.0.0.1:*")]);
    let retry = json!({"max_attempts": 3, "backoff_base": "500ms", "backoff_max": "5s"});
    let id = create(
        &work,
        &engine,
        &json!({"to": format!("sip:busy@127.0.0.1:{port}"), "message": "m", "retry": retry}),
    );
    let job = finished(&work, &engine, &id, Duration::from_secs(40));
    if outcome(&job) != ("failed".into(), "busy".into()) {
        work.fail(&format!("the job should have failed busy: {job:#}"));
    }
    let attempts = job["attempts"].as_array().cloned().unwrap_or_default();
    if attempts.len() != 3
        || attempts
            .iter()
            .any(|a| a["outcome"] != "busy" || a["sip_status"] != 486)
    {
        work.fail(&format!("three busy attempts expected: {job:#}"));
    }
    // The policy's backoff (500 ms, then 1 s) separates the attempts: a lower bound.
    let gap = |i: usize| {
        attempts[i]["started_ms"].as_i64().unwrap_or(0)
            - attempts[i - 1]["ended_ms"].as_i64().unwrap_or(i64::MAX)
    };
    if gap(1) < 500 || gap(2) < 1000 {
        work.fail(&format!(
            "the retries did not wait for the backoff: {job:#}"
        ));
    }
    match sipp.wait(Duration::from_secs(15)) {
        Ok(s) if s.success() => {}
        other => work.fail(&format!(
            "sipp did not see three INVITEs acknowledged: {other:?}"
        )),
    }
}

/// Every `#[test]` here but this one carries the `cfg_attr(not(interop), ignore)` line.
#[test]
fn every_outbound_interop_test_is_ignored_unless_phonetree_interop_is_set() {
    let text = std::fs::read_to_string(root().join("tests/interop_outbound.rs")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let unmarked: Vec<&str> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.trim() == "#[test]")
        .filter(|(i, _)| !lines[i + 1].contains("cfg_attr("))
        .filter_map(|(i, _)| {
            lines[i + 1..]
                .iter()
                .find(|l| l.trim_start().starts_with("fn "))
        })
        .map(|l| l.trim())
        .filter(|l| !l.contains("every_outbound_interop_test"))
        .collect();
    assert!(unmarked.is_empty(), "not gated: {unmarked:?}");
}
