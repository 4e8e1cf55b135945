//! `POST /api/calls` bodies: defaults, escalation lists, times in zones, and every way a body
//! can be wrong (all reported at once).

use serde_json::json;

use super::*;

const NOW: i64 = 1_764_489_600_000; // 2025-11-30T08:00:00Z

fn defaults() -> Defaults {
    Defaults {
        tz: TimeZone::get("Europe/Berlin").expect("tzdb"),
        ..Defaults::default()
    }
}

fn parse(v: Value) -> Result<CallRequest, Vec<FieldError>> {
    CallRequest::parse(&v, &defaults(), NOW)
}

fn fields(v: Value) -> Vec<String> {
    parse(v)
        .expect_err("refused")
        .into_iter()
        .map(|e| e.field)
        .collect()
}

#[test]
fn a_message_to_one_number_takes_every_default() {
    let r = parse(json!({"to": "+4930123456", "message": "Disk full on db1"})).expect("ok");
    assert_eq!(r.to, ["+4930123456"]);
    assert_eq!(
        r.content,
        Content::Message {
            text: "Disk full on db1".into(),
            ack_key: '1',
            repeat: 2
        }
    );
    assert_eq!(r.until, Until::Acknowledged);
    assert_eq!(r.run_at_ms, NOW);
    assert_eq!(
        r.retry,
        RetryPolicy {
            max_attempts: 5,
            backoff_base_ms: 1000,
            backoff_max_ms: 30_000
        }
    );
    assert_eq!(r.ring_timeout_ms, 30_000);
    // Stored as JSON and read back unchanged (jobs outlive configuration changes).
    let back: CallRequest =
        serde_json::from_value(serde_json::to_value(&r).expect("ser")).expect("de");
    assert_eq!(back, r);
}

#[test]
fn a_flow_with_a_chain_vars_and_a_policy() {
    let r = parse(json!({
        "to": ["1001", "sip:oncall@pbx.example.com", "tel:+4930999;phone-context=x"],
        "flow": "reminder",
        "from": "+4930111",
        "account": "trunk",
        "vars": {"name": "Ada"},
        "retry": {"max_attempts": 3, "backoff_base": "10s", "backoff_max": 120},
        "until": "answered",
        "ring_timeout": "45s"
    }))
    .expect("ok");
    assert_eq!(r.to, ["1001", "sip:oncall@pbx.example.com", "+4930999"]);
    assert_eq!(
        r.content,
        Content::Flow {
            flow: "reminder".into()
        }
    );
    assert_eq!(r.vars["name"], "Ada");
    assert_eq!(r.retry.max_attempts, 3);
    assert_eq!(r.retry.backoff_base_ms, 10_000);
    assert_eq!(r.retry.backoff_max_ms, 120_000);
    assert_eq!(r.ring_timeout_ms, 45_000);
    assert_eq!(r.account.as_deref(), Some("trunk"));
}

#[test]
fn a_flow_defaults_to_until_answered() {
    let r = parse(json!({"to": "1001", "flow": "x"})).expect("ok");
    assert_eq!(r.until, Until::Answered);
}

#[test]
fn at_in_rfc3339_or_local_time_with_a_zone() {
    let r = parse(json!({"to": "1", "message": "m", "at": "2025-12-01T08:00:00Z"})).expect("ok");
    assert_eq!(r.run_at_ms, NOW + 24 * 3600 * 1000);
    // Local time in the request's zone (New York is UTC-5 in December).
    let r = parse(
        json!({"to": "1", "message": "m", "at": "2025-12-01 03:00", "tz": "America/New_York"}),
    )
    .expect("ok");
    assert_eq!(r.run_at_ms, NOW + 24 * 3600 * 1000);
    // Local time in the default zone (Berlin, UTC+1).
    let r = parse(json!({"to": "1", "message": "m", "at": "2025-12-01T09:00"})).expect("ok");
    assert_eq!(r.run_at_ms, NOW + 24 * 3600 * 1000);
    // The past means now.
    let r = parse(json!({"to": "1", "message": "m", "at": "2020-01-01T00:00:00Z"})).expect("ok");
    assert_eq!(r.run_at_ms, NOW);
}

#[test]
fn a_local_time_skipped_by_dst_is_refused() {
    // 2026-03-29 02:30 does not exist in Berlin.
    let e =
        parse(json!({"to": "1", "message": "m", "at": "2026-03-29 02:30", "tz": "Europe/Berlin"}))
            .expect_err("gap");
    assert_eq!(e[0].field, "at");
    assert!(e[0].message.contains("DST"), "{}", e[0].message);
}

#[test]
fn every_problem_is_reported_at_once() {
    let got = fields(json!({
        "to": ["+49 30 123", "sip:a@b?X-Evil=1"],
        "flow": "x",
        "message": "y",
        "retry": {"max_attempts": 0, "backoff_base": "fast", "jitter": true},
        "until": "soon",
        "ring_timeout": "1s",
        "at": "tomorrow",
        "tz": "Mars/Olympus",
        "colour": "red"
    }));
    for f in [
        "to[0]",
        "to[1]",
        "flow",
        "retry.max_attempts",
        "retry.backoff_base",
        "retry.jitter",
        "until",
        "ring_timeout",
        "at",
        "tz",
        "colour",
    ] {
        assert!(got.iter().any(|g| g == f), "{f} missing from {got:?}");
    }
}

#[test]
fn bounds_on_what_a_request_can_grow() {
    let many: Vec<String> = (0..11).map(|i| format!("10{i}")).collect();
    assert_eq!(fields(json!({"to": many, "message": "m"})), ["to"]);
    let long = "x".repeat(MAX_MESSAGE + 1);
    assert_eq!(fields(json!({"to": "1", "message": long})), ["message"]);
    let big = json!({"v": "x".repeat(MAX_VARS_BYTES)});
    assert_eq!(
        fields(json!({"to": "1", "message": "m", "vars": big})),
        ["vars"]
    );
    assert_eq!(
        fields(json!({"to": "1", "message": "m", "at": "2030-01-01T00:00:00Z"})),
        ["at"]
    );
    assert_eq!(
        fields(json!({"to": "1", "message": "m", "ack_key": "12"})),
        ["ack_key"]
    );
    assert_eq!(
        fields(json!({"to": "1", "flow": "f", "ack_key": "1"})),
        ["ack_key"]
    );
    assert_eq!(fields(json!({"to": [], "message": "m"})), ["to"]);
    assert_eq!(fields(json!("just text")), [""]);
}

#[test]
fn backoff_doubles_and_is_capped() {
    let p = RetryPolicy {
        max_attempts: 9,
        backoff_base_ms: 1000,
        backoff_max_ms: 30_000,
    };
    let waits: Vec<u64> = (1..=7).map(|n| p.backoff(n).as_secs()).collect();
    assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30]);
    assert_eq!(p.backoff(u32::MAX), Duration::from_secs(30));
}

#[test]
fn contacts_are_numbers_or_plain_sip_uris() {
    for ok in [
        "+4930123",
        "1001",
        "*21#",
        "sip:alice@pbx.example.com",
        "sips:a@b:5061;transport=tls",
        "alice",
    ] {
        assert!(is_contact(ok), "{ok}");
    }
    for bad in [
        "",
        "+",
        "sip:nohost",
        "sip:a@b\r\nX: y",
        "sip:a@b?h=v",
        "10 01",
        "<sip:a@b>",
        "\"x\"",
    ] {
        assert!(!is_contact(bad), "{bad:?}");
    }
}
