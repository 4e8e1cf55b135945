//! Outbound calls through the real `phonetree run` binary and its database, against a small UDP
//! callee of our own (run_support's UA): a message job answered and acknowledged with RFC 4733
//! `1` → `done/acknowledged`; a callee that answers 486 → retried with the backoff, then
//! `failed/busy` after `max_attempts`, then retried through the API as a new job (once); the
//! allow-list refusing a number at the API; a queued
//! job cancelled; `kill -9` while a call rings → after the restart the attempt is
//! `interrupted` and the job is retried, acknowledged jobs are not dialled again; a recurring
//! schedule due two seconds after its creation places its call, and its job is listed.

mod run_support;
mod twilio_standin;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use run_support::{Caller, Msg, Server, WAIT};
use serde_json::{json, Value};
use twilio_standin::TwilioStandIn;

/// A flow the message tests do not need (the built-in message flow is used), but `run` wants a
/// flows folder with something in it.
const IDLE: &str = "name: idle\nroutes: [\"5000\"]\nstart: a\nnodes:\n  a: { hangup: {} }\n";

fn http(srv: &Server, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let mut s = TcpStream::connect(srv.http).expect("connect http");
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("http response");
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn start(extra: &[(&str, &str)]) -> Server {
    let mut env = vec![
        ("PHONETREE_OUTBOUND_ALLOW", "sip:*@127.0.0.1:*"),
        ("PHONETREE_OUTBOUND_LEASE", "2s"),
    ];
    env.extend_from_slice(extra);
    Server::start(&[("idle.yaml", IDLE)], &env)
}

fn job(srv: &Server, id: &str) -> Value {
    http(srv, "GET", &format!("/api/calls/{id}"), None).1
}

/// Polls the job until `pred` holds (bounded).
fn wait_job(srv: &Server, id: &str, within: Duration, pred: impl Fn(&Value) -> bool) -> Value {
    let end = Instant::now() + within;
    loop {
        let j = job(srv, id);
        if pred(&j) {
            return j;
        }
        assert!(
            Instant::now() < end,
            "job never got there: {j:#}\n{}",
            srv.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn state(j: &Value) -> (&str, &str) {
    (
        j["job"]["state"].as_str().unwrap_or(""),
        j["job"]["outcome"].as_str().unwrap_or(""),
    )
}

/// Our callee: takes the INVITE, answers with `status` (200 with SDP, or a refusal).
fn take_invite(callee: &Caller) -> Msg {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let m = callee
            .recv_within(end.saturating_duration_since(Instant::now()))
            .expect("an INVITE from phonetree");
        if m.method() == Some("INVITE") {
            return m;
        }
    }
}

fn respond(callee: &Caller, req: &Msg, status: u16, reason: &str, sdp: Option<&str>) {
    let mut text = format!("SIP/2.0 {status} {reason}\r\n");
    for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
        for (k, v) in &req.headers {
            if k.eq_ignore_ascii_case(name) {
                if name == "To" && status > 100 && !v.contains("tag=") {
                    text.push_str(&format!("To: {v};tag=callee1\r\n"));
                } else {
                    text.push_str(&format!("{name}: {v}\r\n"));
                }
            }
        }
    }
    text.push_str(&format!("Contact: <sip:callee@{}>\r\n", callee.local()));
    match sdp {
        Some(b) => text.push_str(&format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{b}",
            b.len()
        )),
        None => text.push_str("Content-Length: 0\r\n\r\n"),
    }
    callee
        .sip
        .send_to(text.as_bytes(), req_source(req))
        .expect("send");
}

/// Where the request came from (its top Via's sent-by; phonetree is on loopback).
fn req_source(req: &Msg) -> SocketAddr {
    let via = req.header("Via").expect("Via");
    let sent_by = via.split_whitespace().nth(1).expect("sent-by");
    sent_by
        .split(';')
        .next()
        .expect("host:port")
        .parse()
        .expect("addr")
}

#[test]
fn a_message_call_is_answered_and_acknowledged_with_1() {
    let srv = start(&[]);
    let callee = Caller::new(srv.sip);
    let to = format!("sip:oncall@{}", callee.local());
    let (status, body) = http(
        &srv,
        "POST",
        "/api/calls",
        Some(&json!({"to": to, "message": "Disk full on db1", "ring_timeout": "10s"})),
    );
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().expect("job id").to_string();
    let invite = take_invite(&callee);
    assert!(
        invite.body.contains("m=audio"),
        "our INVITE carries an offer"
    );
    respond(&callee, &invite, 180, "Ringing", None);
    let sdp = callee.pcmu_offer();
    respond(&callee, &invite, 200, "OK", Some(&sdp));
    let ack = callee.recv();
    assert_eq!(ack.method(), Some("ACK"));
    // The message plays; wait for the first RTP to know where phonetree listens, then press 1.
    let (_, _, from) = callee.recv_rtp().expect("RTP from phonetree");
    std::thread::sleep(Duration::from_secs(8));
    callee.send_rfc4733(from, 1, 101);
    let j = wait_job(&srv, &id, Duration::from_secs(40), |j| state(j).0 == "done");
    assert_eq!(state(&j), ("done", "acknowledged"), "{j:#}");
    assert!(j["job"]["acknowledged_ms"].is_i64());
    assert_eq!(j["attempts"][0]["outcome"], "acknowledged");
    // The flow thanks and hangs up: a BYE comes.
    let end = Instant::now() + Duration::from_secs(20);
    while Instant::now() < end {
        if let Some(m) = callee.recv_within(Duration::from_millis(500)) {
            if m.method() == Some("BYE") {
                callee.reply_ok(&m);
                return;
            }
        }
    }
    panic!("no BYE after the acknowledgement");
}

#[test]
fn a_busy_callee_is_retried_then_the_job_fails() {
    let srv = start(&[]);
    let callee = Caller::new(srv.sip);
    let to = format!("sip:busy@{}", callee.local());
    let (status, body) = http(
        &srv,
        "POST",
        "/api/calls",
        Some(
            &json!({"to": to, "message": "m", "retry": {"max_attempts": 3, "backoff_base": "200ms", "backoff_max": "1s"}}),
        ),
    );
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().expect("id").to_string();
    for _ in 0..3 {
        let invite = take_invite(&callee);
        respond(&callee, &invite, 486, "Busy Here", None);
        let ack = callee.recv();
        assert_eq!(ack.method(), Some("ACK"), "the 486 is acknowledged");
    }
    let j = wait_job(&srv, &id, Duration::from_secs(20), |j| {
        state(j).0 == "failed"
    });
    assert_eq!(state(&j), ("failed", "busy"));
    let attempts = j["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 3);
    assert!(attempts
        .iter()
        .all(|a| a["outcome"] == "busy" && a["sip_status"] == 486));
    assert!(
        callee.recv_within(Duration::from_secs(2)).is_none(),
        "no fourth attempt"
    );
    let (status, metrics) = srv.get("/metrics");
    assert_eq!(status, 200);
    assert!(
        metrics.contains("phonetree_outbound_attempts_total{outcome=\"busy\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("phonetree_outbound_queue_depth"),
        "{metrics}"
    );

    // Retried from the API: a new job with the same request, dialled at once.
    let (status, body) = http(&srv, "POST", &format!("/api/calls/{id}/retry"), None);
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["retry_of"], id.as_str());
    let retry = body["id"].as_str().expect("id").to_string();
    assert_ne!(retry, id);
    let invite = take_invite(&callee);
    respond(&callee, &invite, 603, "Decline", None);
    assert_eq!(callee.recv().method(), Some("ACK"));
    let j = wait_job(&srv, &retry, Duration::from_secs(20), |j| {
        state(j).0 == "failed"
    });
    assert_eq!(state(&j), ("failed", "rejected"), "a 603 is not retried");
    assert_eq!(j["job"]["request"]["retry_of"], id.as_str());
    assert_eq!(j["attempts"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        job(&srv, &id)["attempts"].as_array().map(Vec::len),
        Some(3),
        "the old job keeps its record"
    );
    // A job is retried once: asking again answers the retry already made.
    let (status, body) = http(&srv, "POST", &format!("/api/calls/{id}/retry"), None);
    assert_eq!((status, body["id"].as_str()), (200, Some(retry.as_str())));
    assert!(
        callee.recv_within(Duration::from_secs(1)).is_none(),
        "not dialled again"
    );
}

#[test]
fn the_allow_list_refuses_at_the_api_and_a_queued_job_can_be_cancelled() {
    let srv = start(&[]);
    let (status, body) = http(
        &srv,
        "POST",
        "/api/calls",
        Some(&json!({"to": "+19005550100", "message": "m"})),
    );
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or("")
            .contains("outbound.allow"),
        "{body}"
    );
    let (status, body) = http(
        &srv,
        "POST",
        "/api/calls",
        Some(&json!({"to": "sip:a@127.0.0.1:9", "flow": "nope", "colour": 1})),
    );
    assert_eq!(status, 400, "{body}");
    let (status, body) = http(
        &srv,
        "POST",
        "/api/calls",
        Some(&json!({"to": "sip:later@127.0.0.1:9", "message": "m", "at": "2999-01-01T00:00:00Z"})),
    );
    assert_eq!(status, 400, "more than a year ahead: {body}");
    let in_an_hour = http(
        &srv,
        "POST",
        "/api/calls",
        Some(&json!({"to": "sip:later@127.0.0.1:9", "message": "m", "at": rfc3339_in_an_hour()})),
    );
    assert_eq!(in_an_hour.0, 201, "{}", in_an_hour.1);
    let id = in_an_hour.1["id"].as_str().expect("id").to_string();
    let (status, body) = http(&srv, "POST", &format!("/api/calls/{id}/retry"), None);
    assert_eq!(status, 409, "a queued job is not retried: {body}");
    let (status, _) = http(&srv, "POST", "/api/calls/nope/retry", None);
    assert_eq!(status, 404);
    let (status, body) = http(&srv, "DELETE", &format!("/api/calls/{id}"), None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(state(&job(&srv, &id)).0, "cancelled");
    let (status, _) = http(&srv, "DELETE", &format!("/api/calls/{id}"), None);
    assert_eq!(status, 409);
    let (status, list) = http(&srv, "GET", "/api/calls?status=cancelled", None);
    assert_eq!(status, 200);
    assert!(list["calls"]
        .as_array()
        .expect("list")
        .iter()
        .any(|j| j["id"] == id.as_str()));
}

/// An RFC 3339 time one hour from now.
fn rfc3339_in_an_hour() -> String {
    let t = std::time::SystemTime::now() + Duration::from_secs(3600);
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64;
    // Days since the epoch → civil date (Howard Hinnant's algorithm).
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn call_id(m: &Msg) -> String {
    m.header("Call-ID").unwrap_or_default().to_string()
}

/// The next INVITE whose Call-ID is not in `seen` (retransmissions of older ones skipped).
fn take_new_invite(callee: &Caller, seen: &[String], within: Duration) -> Option<Msg> {
    let end = Instant::now() + within;
    while let Some(m) = callee.recv_within(end.saturating_duration_since(Instant::now())) {
        if m.method() == Some("INVITE") && !seen.contains(&call_id(&m)) {
            return Some(m);
        }
    }
    None
}

#[test]
fn after_kill_9_mid_dial_the_attempt_is_interrupted_and_retried_once_and_nothing_is_lost() {
    let srv = start(&[]);
    let callee = Caller::new(srv.sip);
    let to = format!("sip:oncall@{}", callee.local());
    let retry = json!({"max_attempts": 2, "backoff_base": "200ms", "backoff_max": "1s"});
    let (status, body) = http(
        &srv,
        "POST",
        "/api/calls",
        Some(&json!({"to": to, "message": "m", "retry": retry, "ring_timeout": "60s"})),
    );
    assert_eq!(status, 201, "{body}");
    let ringing = body["id"].as_str().expect("id").to_string();
    let (status, body) = http(
        &srv,
        "POST",
        "/api/calls",
        Some(&json!({"to": to, "message": "later", "at": rfc3339_in_an_hour()})),
    );
    assert_eq!(status, 201, "{body}");
    let later = body["id"].as_str().expect("id").to_string();
    // The first attempt rings (180) when the process is killed.
    let first = take_invite(&callee);
    respond(&callee, &first, 180, "Ringing", None);
    wait_job(&srv, &ringing, Duration::from_secs(10), |j| {
        state(j).0 == "running" && j["attempts"].as_array().is_some_and(|a| a.len() == 1)
    });
    let srv = srv.restart(&[
        ("PHONETREE_OUTBOUND_ALLOW", "sip:*@127.0.0.1:*"),
        ("PHONETREE_OUTBOUND_LEASE", "2s"),
    ]);
    // The restarted node dials the job again, once.
    let seen = vec![call_id(&first)];
    let second = take_new_invite(&callee, &seen, Duration::from_secs(20)).expect("a retry");
    respond(&callee, &second, 486, "Busy Here", None);
    let j = wait_job(&srv, &ringing, Duration::from_secs(20), |j| {
        state(j).0 == "failed"
    });
    let attempts = j["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 2, "{j:#}");
    assert_eq!(attempts[0]["outcome"], "interrupted", "{j:#}");
    assert_eq!(attempts[1]["outcome"], "busy", "{j:#}");
    let seen = vec![call_id(&first), call_id(&second)];
    assert!(
        take_new_invite(&callee, &seen, Duration::from_secs(2)).is_none(),
        "no third dial (max_attempts 2), none in parallel"
    );
    // The job for later survived the crash, still waiting.
    assert_eq!(state(&job(&srv, &later)).0, "queued");
}

/// Alertmanager's own v4 sample shape (two firing alerts of one group).
const FIRING: &str = include_str!("../src/alerts/testdata/alertmanager_firing.json");

fn resolved(firing: &Value) -> Value {
    let mut v = firing.clone();
    v["status"] = json!("resolved");
    for a in v["alerts"].as_array_mut().expect("alerts") {
        a["status"] = json!("resolved");
        a["endsAt"] = json!("2026-11-30T09:00:00Z");
    }
    v
}

#[test]
fn an_alertmanager_notification_calls_and_texts_once_and_its_resolution_cancels_the_pending_call() {
    const SID: &str = "AC0123456789abcdef0123456789abcdef";
    let twilio = TwilioStandIn::start(SID, "tok");
    let callee = Caller::new("127.0.0.1:9".parse().expect("addr"));
    let rules = json!([
        {"name": "db1", "match": {"instance": "db1:9100"}, "strategy": "call",
         "to": [format!("sip:oncall@{}", callee.local())]},
        {"name": "db2", "match_re": {"instance": "db2:.*"}, "strategy": "sms_then_call",
         "sms_wait": "1h", "to": ["+4930111"],
         "message": "{{ labels.alertname }} {{ annotations.summary }}"}
    ])
    .to_string();
    let base = twilio.base_url();
    let srv = start(&[
        ("PHONETREE_OUTBOUND_ALLOW", "sip:*@127.0.0.1:*,+4930*"),
        ("PHONETREE_ALERTS_RULES", &rules),
        ("PHONETREE_SMS_PROVIDER", "twilio"),
        ("PHONETREE_SMS_BASE_URL", &base),
        ("TWILIO_ACCOUNT_SID", SID),
        ("TWILIO_AUTH_TOKEN", "tok"),
        ("TWILIO_FROM_NUMBER", "+15005550006"),
    ]);
    let firing: Value = serde_json::from_str(FIRING).expect("sample");
    let (status, body) = http(&srv, "POST", "/api/alertmanager", Some(&firing));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["duplicate"], false, "{body}");
    assert_eq!(
        body["actions"]["jobs"].as_array().map(Vec::len),
        Some(3),
        "{body}"
    );
    // db1: the call is placed at once (refused here: 603 ends it without retries).
    let invite = take_invite(&callee);
    respond(&callee, &invite, 603, "Decline", None);
    // db2: the SMS goes out now; the call waits an hour for an acknowledgement.
    let end = Instant::now() + Duration::from_secs(20);
    while twilio.sent().is_empty() {
        assert!(Instant::now() < end, "no SMS: {}", srv.log_text());
        std::thread::sleep(Duration::from_millis(100));
    }
    let sent = twilio.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, "+4930111");
    assert_eq!(sent[0].body, "DiskFull Disk almost full on db2");
    // Alertmanager sends the same notification again: nothing new.
    let (status, again) = http(&srv, "POST", "/api/alertmanager", Some(&firing));
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["duplicate"], true, "{again}");
    let (_, queued) = http(&srv, "GET", "/api/calls?status=queued", None);
    let pending: Vec<&Value> = queued["calls"].as_array().expect("list").iter().collect();
    assert_eq!(pending.len(), 1, "only db2's later call waits: {queued:#}");
    let pending_id = pending[0]["id"].as_str().expect("id").to_string();
    // Resolved: the waiting call is cancelled.
    let (status, body) = http(&srv, "POST", "/api/alertmanager", Some(&resolved(&firing)));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["actions"]["cancelled"], 1, "{body}");
    assert_eq!(state(&job(&srv, &pending_id)).0, "cancelled");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(twilio.sent().len(), 1, "no second SMS");
    let seen = vec![call_id(&invite)];
    assert!(
        take_new_invite(&callee, &seen, Duration::from_secs(1)).is_none(),
        "no second call"
    );
}

/// `POST /api/schedules` with a six-field cron two seconds ahead: the run creates a job that
/// dials our callee (refused 486, one attempt), the job is in `GET /api/calls` with its
/// schedule, the schedule shows its last run; bad bodies are refused with every problem; a
/// schedule is deleted by name.
#[test]
fn a_schedule_due_in_two_seconds_places_its_call_and_its_job_is_listed() {
    let srv = start(&[]);
    let callee = Caller::new(srv.sip);
    let to = format!("sip:backup@{}", callee.local());
    let (status, body) = http(
        &srv,
        "POST",
        "/api/schedules",
        Some(
            &json!({"name": "bad name", "cron": "61 * * * *", "tz": "Mars/Base", "request": {"to": to, "message": "m", "at": "2030-01-01T00:00:00Z"}, "extra": 1}),
        ),
    );
    assert_eq!(status, 400, "{body}");
    let fields: Vec<&str> = body["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .filter_map(|p| p["field"].as_str())
        .collect();
    for f in ["name", "cron", "tz", "request.at", "extra"] {
        assert!(fields.contains(&f), "{f} in {body}");
    }
    let (status, body) = http(
        &srv,
        "POST",
        "/api/schedules",
        Some(
            &json!({"name": "nope", "cron": "* * * * *", "tz": "UTC", "request": {"to": "+19005550100", "message": "m"}}),
        ),
    );
    assert_eq!(status, 403, "the allow-list applies to schedules: {body}");

    let due = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(2);
    let z = due.to_zoned_datetime(jiff::tz::TimeZone::UTC);
    let cron = format!("{} {} {} * * *", z.second(), z.minute(), z.hour());
    let (status, body) = http(
        &srv,
        "POST",
        "/api/schedules",
        Some(&json!({
            "name": "backup-check",
            "cron": cron,
            "tz": "UTC",
            "request": {"to": to, "message": "Backup check", "retry": {"max_attempts": 1}},
        })),
    );
    assert_eq!(status, 201, "{body}");
    let schedule_id = body["id"].as_str().expect("id").to_string();
    assert_eq!(body["next_run_ms"].as_i64(), Some(due.as_second() * 1000));
    let (status, _) = http(
        &srv,
        "POST",
        "/api/schedules",
        Some(
            &json!({"name": "backup-check", "cron": "0 9 * * *", "tz": "UTC", "request": {"to": to, "message": "m"}}),
        ),
    );
    assert_eq!(status, 409, "names are unique");

    let invite = take_invite(&callee);
    respond(&callee, &invite, 486, "Busy Here", None);
    assert_eq!(callee.recv().method(), Some("ACK"));

    let end = Instant::now() + Duration::from_secs(20);
    let job = loop {
        let (status, list) = http(&srv, "GET", "/api/calls?direction=outbound", None);
        assert_eq!(status, 200, "{list}");
        let found = list["calls"].as_array().and_then(|c| {
            c.iter()
                .find(|j| j["schedule_id"] == schedule_id.as_str() && j["state"] == "failed")
                .cloned()
        });
        if let Some(j) = found {
            break j;
        }
        assert!(
            Instant::now() < end,
            "no failed job of the schedule: {list:#}\n{}",
            srv.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(job["run_at_ms"].as_i64(), Some(due.as_second() * 1000));
    assert_eq!(job["outcome"], "busy");
    let (_, list) = http(&srv, "GET", "/api/schedules", None);
    let s = &list["schedules"][0];
    assert_eq!(s["name"], "backup-check");
    assert_eq!(s["last_run_ms"].as_i64(), Some(due.as_second() * 1000));
    assert!(s["next_run_ms"].as_i64() > s["last_run_ms"].as_i64(), "{s}");

    let (status, _) = http(&srv, "DELETE", "/api/schedules/backup-check", None);
    assert_eq!(status, 200);
    let (status, _) = http(&srv, "DELETE", "/api/schedules/backup-check", None);
    assert_eq!(status, 404);
    let (_, list) = http(&srv, "GET", "/api/schedules", None);
    assert_eq!(list["schedules"], json!([]));
}
