//! The trace on hand-fed inputs and actions; its agreement with the simulator on whole calls is
//! checked in tests/scenarios.rs (`the_live_trace_tells_the_same_story_as_the_simulator`).

use std::path::PathBuf;
use std::time::Duration;

use super::*;
use crate::flow::digit::Digit;
use crate::flow::program::HttpMethod;
use crate::machine::io::{HangupReason, HttpReply, HttpRequest};

fn program() -> Program {
    crate::flow::load::compile_text(
        "name: t\nstart: a\nnodes:\n  a: { say: hi, next: b }\n  b: { hangup: {} }\n",
        std::path::Path::new("t.yaml"),
        &Default::default(),
    )
    .program
    .unwrap_or_else(|| panic!("compiles"))
}

fn trace() -> CallTrace {
    let info = CallInfo {
        id: "c1".into(),
        from: "+15550001".into(),
        to: "5000".into(),
        ..CallInfo::default()
    };
    CallTrace::new(&program(), &info)
}

fn drain(t: &mut CallTrace) -> Vec<String> {
    std::iter::from_fn(|| t.poll_event())
        .map(|e| e.to_json_line())
        .collect()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn a_webhook_answering_501_is_an_event_of_its_own() {
    let mut t = trace();
    t.input(&Input::Answered, ms(0));
    let req = HttpRequest {
        id: RequestId(7),
        method: HttpMethod::Post,
        url: "http://crm.example.com/lookup".into(),
        headers: vec![],
        body: None,
        timeout: ms(2000),
    };
    t.enter("lookup", ms(10));
    t.action(&Action::Http(req), ms(10));
    let reply = HttpReply {
        status: 501,
        body: serde_json::Value::Null,
    };
    t.input(
        &Input::HttpResponse {
            id: RequestId(7),
            result: Ok(reply),
        },
        ms(40),
    );
    let got = drain(&mut t);
    assert_eq!(got.len(), 4, "{got:?}");
    assert!(
        got[1].contains(r#""event":"node","node":"lookup""#),
        "{got:?}"
    );
    assert!(got[2].contains(r#""event":"http","node":"lookup","method":"POST""#));
    assert_eq!(
        got[3],
        r#"{"at_ms":40,"event":"http_response","status":501}"#
    );
}

#[test]
fn an_http_request_cancelled_at_its_timeout_reads_timeout() {
    let mut t = trace();
    let req = HttpRequest {
        id: RequestId(1),
        method: HttpMethod::Get,
        url: "http://x/".into(),
        headers: vec![],
        body: None,
        timeout: ms(500),
    };
    t.enter("w", ms(0));
    t.action(&Action::Http(req.clone()), ms(0));
    t.action(&Action::Cancel { id: RequestId(1) }, ms(500));
    t.action(
        &Action::Http(HttpRequest {
            id: RequestId(2),
            ..req
        }),
        ms(600),
    );
    t.action(&Action::Cancel { id: RequestId(2) }, ms(700));
    let got = drain(&mut t);
    assert!(got[2].contains(r#""error":"timeout""#), "{got:?}");
    assert!(got[4].contains(r#""error":"cancelled""#), "{got:?}");
}

#[test]
fn failures_without_an_event_of_their_own_become_warnings_naming_the_node() {
    let mut t = trace();
    t.enter("voicemail", ms(0));
    t.action(
        &Action::Record {
            id: RequestId(3),
            max: ms(1000),
            beep: true,
            silence: None,
        },
        ms(0),
    );
    t.input(
        &Input::RecordFinished {
            id: RequestId(3),
            result: Err("no recorder".into()),
        },
        ms(5),
    );
    t.enter("operator", ms(6));
    t.action(
        &Action::Transfer {
            id: RequestId(4),
            target: "sip:100@pbx".into(),
        },
        ms(6),
    );
    t.input(
        &Input::TransferResult {
            id: RequestId(4),
            result: Err("486 Busy Here".into()),
        },
        ms(9),
    );
    let got = drain(&mut t);
    assert!(
        got.iter().any(|l| l.contains(
            r#""event":"warn","node":"voicemail","message":"record failed: no recorder""#
        )),
        "{got:?}"
    );
    assert!(
        got.iter()
            .any(|l| l.contains(r#""node":"operator","message":"transfer failed: 486 Busy Here""#)),
        "{got:?}"
    );
}

#[test]
fn playback_and_stop_name_the_prompt_and_the_summary_tells_the_end() {
    let mut t = trace();
    t.input(&Input::Answered, ms(0));
    t.enter("greet", ms(0));
    t.action(
        &Action::Play {
            id: RequestId(1),
            media: Media::File(PathBuf::from("flows/../sound/bunny/greeting.wav")),
        },
        ms(0),
    );
    t.input(&Input::Dtmf(Digit::from_char('1').unwrap()), ms(900));
    t.action(&Action::Stop { id: RequestId(1) }, ms(900));
    t.action(
        &Action::Theme {
            name: "robot".into(),
        },
        ms(900),
    );
    t.input(&Input::Dtmf(Digit::from_char('#').unwrap()), ms(1500));
    t.enter("end", ms(2500));
    t.action(
        &Action::Hangup {
            reason: HangupReason::Flow(None),
        },
        ms(2500),
    );
    let got = drain(&mut t);
    let names: Vec<&str> = got
        .iter()
        .map(|l| {
            l.split("\"event\":\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
        })
        .collect();
    assert_eq!(
        names,
        ["answer", "node", "play", "dtmf", "stop", "theme", "dtmf", "node", "hangup"]
    );
    assert!(
        got[2].contains(r#""file":"sound/bunny/greeting.wav""#),
        "{}",
        got[2]
    );
    assert!(
        got[4].contains(r#""event":"stop","node":"greet""#),
        "{}",
        got[4]
    );
    let s = t.summary();
    assert_eq!(
        s,
        Summary {
            flow: "t".into(),
            version: s.version.clone(),
            from: "+15550001".into(),
            to: "5000".into(),
            duration: ms(2500),
            end: "flow".into(),
            keys: "1#".into(),
            last_node: "end".into(),
        }
    );
    assert!(t.is_ended());
}

#[test]
fn a_driver_that_never_polls_keeps_a_bounded_queue_and_keys() {
    let mut t = trace();
    let one = Digit::from_char('1').unwrap();
    for i in 0..(MAX_QUEUED as u64 * 4) {
        t.input(&Input::Dtmf(one), ms(i));
    }
    assert_eq!(t.summary().keys.len(), MAX_KEYS);
    assert_eq!(drain(&mut t).len(), MAX_QUEUED);
}

#[test]
fn fed_from_the_machine_routing_nodes_are_entered_and_actions_belong_to_their_node() {
    let flow = "name: r\nstart: count\nnodes:\n  \
                count: { set: { n: 1 }, next: triage }\n  \
                triage:\n    switch:\n      - { when: \"vars.n > 5\", goto: bye }\n      - { goto: hop }\n  \
                hop: { goto: greet }\n  \
                greet: { say: hi, next: bye }\n  \
                bye: { hangup: {} }\n";
    let program =
        crate::flow::load::compile_text(flow, std::path::Path::new("r.yaml"), &Default::default())
            .program
            .unwrap_or_else(|| panic!("compiles"));
    let info = CallInfo::default();
    let program = std::sync::Arc::new(program);
    let mut machine = crate::machine::Call::new(program.clone(), info.clone());
    let mut t = CallTrace::new(&program, &info);
    t.input(&Input::Answered, ms(0));
    machine.handle(Input::Answered, std::time::Instant::now());
    while let Some(e) = machine.poll_emitted() {
        t.emitted(&e, &program, ms(0));
    }
    let got = drain(&mut t);
    assert!(got[0].contains(r#""event":"answer""#), "{got:?}");
    let nodes: Vec<&str> = got[1..5]
        .iter()
        .map(|l| {
            l.strip_prefix(r#"{"at_ms":0,"event":"node","node":""#)
                .and_then(|r| r.strip_suffix(r#""}"#))
                .unwrap_or(l)
        })
        .collect();
    assert_eq!(nodes, ["count", "triage", "hop", "greet"]);
    assert!(
        got[5].contains(r#""event":"say","node":"greet","text":"hi""#),
        "{got:?}"
    );
}

#[test]
fn what_the_register_keeps_has_no_webhook_body_and_no_url_query() {
    let http = EventKind::Http {
        node: "lookup".into(),
        method: "POST".into(),
        url: "https://crm.example.com/find?key=SECRET".into(),
        body: Some(serde_json::json!({"api_key": "SECRET"})),
    };
    let kept = serde_json::to_string(&for_the_record(&http)).unwrap();
    assert!(!kept.contains("SECRET"), "{kept}");
    assert!(kept.contains("https://crm.example.com/find?…"), "{kept}");
    let dtmf = EventKind::Dtmf { digit: "1".into() };
    assert_eq!(for_the_record(&dtmf), dtmf);
}
