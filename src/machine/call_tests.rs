//! Scenario tests of the call machine on hand-built programs and virtual time.

use std::time::Duration;

use minijinja::Value;
use serde_json::json;

use crate::flow::digit::Digit;
use crate::flow::program::*;
use crate::machine::io::{AgentOutcome, AgentThen, HttpReply, Input, RecordingInfo};
use crate::machine::testkit::{agent_node, Builder, Harness};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// A one-digit menu: routes 1 → story, 2 → song; tries 3, on_fail goodbye.
fn menu(b: &mut Builder, on_fail: Option<&str>) -> NodeKind {
    let routes = vec![("1".into(), b.t("story")), ("2".into(), b.t("song"))];
    let on_fail = on_fail.map(|n| b.t(n));
    NodeKind::Gather(Box::new(Gather {
        prompt: b.prompts(&["menu.wav"]),
        min_digits: 1,
        max_digits: 1,
        finish_on: None,
        timeout: secs(5),
        inter_digit_timeout: secs(2),
        tries: 3,
        invalid: b.prompts(&["invalid.wav"]),
        no_input: b.prompts(&["no_input.wav"]),
        routes,
        save: Some("choice".into()),
        next: None,
        on_fail,
    }))
}

fn play(b: &mut Builder, files: &[&str], next: &str) -> NodeKind {
    NodeKind::Play(Play {
        prompts: b.prompts(files),
        next: b.t(next),
    })
}

fn hangup() -> NodeKind {
    NodeKind::Hangup(Hangup { reason: None })
}

/// greet → menu (1 story, 2 song) → goodbye; `#`/`*` switch theme and replay greet.
fn characters() -> Harness {
    let mut b = Builder::new(&["bunny", "robot"]);
    let k = play(&mut b, &["greeting.wav"], "menu");
    b.def("greet", k);
    let k = menu(&mut b, Some("goodbye"));
    b.def("menu", k);
    let k = play(&mut b, &["story.wav"], "menu");
    b.def("story", k);
    let k = play(&mut b, &["https://example.com/song.mp3"], "menu");
    b.def("song", k);
    let k = play(&mut b, &["bye.wav"], "end");
    b.def("goodbye", k);
    b.def("end", hangup());
    b.key('#', Some(ThemeStep::Next), Some("greet"));
    b.key('*', Some(ThemeStep::Prev), Some("greet"));
    Harness::new(b.build("greet"))
}

#[test]
fn menu_routes_a_digit_after_the_prompt() {
    let mut h = characters();
    h.answer();
    h.finish();
    assert_eq!(h.take(), ["play bunny/greeting.wav", "play bunny/menu.wav"]);
    h.finish();
    h.wait(1000);
    h.dtmf("1");
    assert_eq!(h.take(), ["play bunny/story.wav"]);
    assert_eq!(h.call.digits(), "1");
    assert_eq!(h.call.vars().get("choice"), Some(&Value::from("1")));
    h.finish();
    h.finish();
    h.dtmf("2");
    assert_eq!(
        h.take(),
        ["play bunny/menu.wav", "play https://example.com/song.mp3"]
    );
}

#[test]
fn a_digit_during_a_play_node_barges_in_and_reaches_the_next_gather() {
    let mut h = characters();
    h.answer();
    h.dtmf("1");
    assert_eq!(
        h.take(),
        ["play bunny/greeting.wav", "stop", "play bunny/story.wav"]
    );
}

#[test]
fn a_digit_during_the_gather_prompt_stops_it_and_counts() {
    let mut h = characters();
    h.answer();
    h.finish();
    h.dtmf("2");
    assert_eq!(
        h.take(),
        [
            "play bunny/greeting.wav",
            "play bunny/menu.wav",
            "stop",
            "play https://example.com/song.mp3"
        ]
    );
}

#[test]
fn global_keys_switch_theme_wrapping_and_replay_the_greeting() {
    let mut h = characters();
    h.answer();
    h.finish();
    h.take();
    h.dtmf("#");
    assert_eq!(h.take(), ["stop", "theme robot", "play robot/greeting.wav"]);
    h.dtmf("#");
    assert_eq!(h.take(), ["stop", "theme bunny", "play bunny/greeting.wav"]);
    h.dtmf("*");
    assert_eq!(h.take(), ["stop", "theme robot", "play robot/greeting.wav"]);
    assert_eq!(h.call.theme(), "robot");
}

#[test]
fn no_input_replays_with_no_input_prompt_then_goes_to_on_fail() {
    let mut h = characters();
    h.answer();
    h.finish();
    h.finish();
    h.take();
    for _ in 0..2 {
        h.wait(5000);
        assert_eq!(h.take(), ["play bunny/no_input.wav"]);
        h.finish();
        assert_eq!(h.take(), ["play bunny/menu.wav"]);
        h.finish();
    }
    h.wait(4999);
    assert!(h.take().is_empty());
    h.wait(1);
    assert_eq!(h.take(), ["play bunny/no_input.wav"]);
    h.dtmf("1");
    assert!(h.take().is_empty(), "digits after the last try are ignored");
    h.finish();
    assert_eq!(h.take(), ["play bunny/bye.wav"]);
    h.finish();
    assert_eq!(h.take(), ["hangup flow"]);
    assert!(h.call.is_ended());
}

#[test]
fn invalid_digits_exhaust_tries_and_hang_up_failed_without_on_fail() {
    let mut b = Builder::new(&[]);
    let k = menu(&mut b, None);
    b.def("menu", k);
    b.def("story", hangup());
    b.def("song", hangup());
    let mut h = Harness::new(b.build("menu"));
    h.answer();
    h.dtmf("9");
    assert_eq!(h.take(), ["play menu.wav", "stop", "play invalid.wav"]);
    h.dtmf("7");
    assert_eq!(h.take(), ["stop", "play invalid.wav"]);
    h.finish();
    h.dtmf("8");
    assert_eq!(h.take(), ["play menu.wav", "stop", "play invalid.wav"]);
    h.finish();
    assert_eq!(h.take(), ["hangup failed"]);
}

#[test]
fn finish_on_beats_a_global_key_and_collects_a_number() {
    let mut b = Builder::new(&[]);
    let next = b.t("done");
    let invalid = b.prompts(&["invalid.wav"]);
    b.def(
        "pin",
        NodeKind::Gather(Box::new(Gather {
            prompt: vec![],
            min_digits: 3,
            max_digits: 6,
            finish_on: Digit::from_char('#'),
            timeout: secs(5),
            inter_digit_timeout: secs(2),
            tries: 2,
            invalid,
            no_input: vec![],
            routes: vec![],
            save: Some("pin".into()),
            next: Some(next),
            on_fail: None,
        })),
    );
    let text = b.text("pin {{ digits }} / {{ vars.pin }}");
    b.def(
        "done",
        NodeKind::Say(Say {
            text,
            voice: None,
            engine: None,
            next: Target::Return,
        }),
    );
    b.key('#', None, Some("pin"));
    let mut h = Harness::new(b.build("pin"));
    h.answer();
    h.dtmf("12#");
    assert_eq!(h.take(), ["play invalid.wav"], "too short: invalid");
    h.finish();
    h.dtmf("1234#");
    assert_eq!(h.take(), ["say pin 1234 / 1234"]);
    h.finish();
    assert_eq!(h.take(), ["hangup returned"]);
}

#[test]
fn inter_digit_timeout_completes_with_enough_digits() {
    let mut b = Builder::new(&[]);
    let next = b.t("end");
    b.def(
        "num",
        NodeKind::Gather(Box::new(Gather {
            prompt: vec![],
            min_digits: 2,
            max_digits: 4,
            finish_on: None,
            timeout: secs(5),
            inter_digit_timeout: secs(2),
            tries: 1,
            invalid: vec![],
            no_input: vec![],
            routes: vec![],
            save: None,
            next: Some(next),
            on_fail: None,
        })),
    );
    b.def("end", hangup());
    let mut h = Harness::new(b.build("num"));
    h.answer();
    h.dtmf("4");
    h.wait(1999);
    h.dtmf("2");
    h.wait(1999);
    assert!(h.take().is_empty());
    h.wait(1);
    assert_eq!(h.take(), ["hangup flow"]);
    assert_eq!(h.call.digits(), "42");
}

fn weather(retries: u8) -> Harness {
    let mut b = Builder::new(&[]);
    let url = b.text("https://w.example/{{ call.to }}");
    let from = b.text("{{ call.from }}");
    let (ok, err) = (b.t("hot_or_not"), b.t("sorry"));
    b.def(
        "weather",
        NodeKind::Http(Box::new(Http {
            method: HttpMethod::Post,
            url,
            headers: vec![],
            body: Some(BodyTemplate::Object(vec![(
                "from".into(),
                BodyTemplate::String(from),
            )])),
            timeout: secs(2),
            retries,
            save: Some("weather".into()),
            on_success: ok,
            on_error: err,
        })),
    );
    let hot = b.expr("vars.weather.temp > 30");
    let (t_hot, t_cold) = (b.t("hot"), b.t("cold"));
    b.def(
        "hot_or_not",
        NodeKind::Switch(Switch {
            arms: vec![(Some(hot), t_hot), (None, t_cold)],
        }),
    );
    let text = b.text("It is {{ vars.weather.temp }} degrees.");
    let end = b.t("end");
    b.def(
        "hot",
        NodeKind::Say(Say {
            text,
            voice: None,
            engine: None,
            next: end,
        }),
    );
    b.def(
        "cold",
        NodeKind::Set(Set {
            assign: vec![("mood".into(), SetValue::Literal(json!("chilly")))],
            next: end,
        }),
    );
    let k = play(&mut b, &["sorry.wav"], "end");
    b.def("sorry", k);
    b.def("end", hangup());
    Harness::new(b.build("weather"))
}

fn reply(status: u16, body: serde_json::Value) -> Result<HttpReply, String> {
    Ok(HttpReply { status, body })
}

#[test]
fn http_success_saves_json_and_the_switch_uses_it() {
    let mut h = weather(2);
    h.answer();
    assert_eq!(
        h.take(),
        [r#"http POST https://w.example/5000 {"from":"+15550001"}"#]
    );
    let id = h.last_id("http");
    h.input(Input::HttpResponse {
        id,
        result: reply(200, json!({"temp": 35})),
    });
    assert_eq!(h.take(), ["say It is 35 degrees."]);

    let mut h = weather(0);
    h.answer();
    let id = h.last_id("http");
    h.input(Input::HttpResponse {
        id,
        result: reply(200, json!({"temp": 3})),
    });
    assert_eq!(h.take()[1..], ["hangup flow"]);
    assert_eq!(h.call.vars().get("mood"), Some(&Value::from("chilly")));
}

#[test]
fn http_retries_on_5xx_error_and_timeout_then_takes_on_error() {
    let mut h = weather(3);
    h.answer();
    let first = h.last_id("http");
    h.input(Input::HttpResponse {
        id: first,
        result: reply(503, json!(null)),
    });
    h.input(Input::HttpResponse {
        id: h.last_id("http"),
        result: Err("connection refused".into()),
    });
    h.wait(2000);
    // a late answer to the first attempt is ignored
    h.input(Input::HttpResponse {
        id: first,
        result: reply(200, json!({"temp": 40})),
    });
    let log = h.take();
    assert_eq!(log.iter().filter(|l| l.starts_with("http")).count(), 4);
    assert_eq!(log[log.len() - 2], "cancel", "the third attempt timed out");
    h.wait(2000);
    assert_eq!(h.take(), ["cancel", "play sorry.wav"]);
}

#[test]
fn http_4xx_takes_on_error_without_retrying() {
    let mut h = weather(3);
    h.answer();
    h.take();
    h.input(Input::HttpResponse {
        id: h.last_id("http"),
        result: reply(404, json!(null)),
    });
    assert_eq!(h.take(), ["play sorry.wav"]);
}

#[test]
fn endless_instant_loop_hangs_up_with_loop() {
    let mut b = Builder::new(&[]);
    let (ta, tb) = (b.t("a"), b.t("b"));
    b.def("a", NodeKind::Goto(tb));
    b.def(
        "b",
        NodeKind::Set(Set {
            assign: vec![],
            next: ta,
        }),
    );
    let mut h = Harness::new(b.build("a"));
    h.answer();
    assert_eq!(h.take(), ["hangup loop"]);
}

#[test]
fn subflow_returns_to_its_next_and_top_level_return_ends() {
    let mut b = Builder::new(&[]);
    let (entry, after) = (b.id("sub/hello"), b.t("after"));
    b.def("main", NodeKind::Subflow(Subflow { entry, next: after }));
    let k = NodeKind::Play(Play {
        prompts: b.prompts(&["hello.wav"]),
        next: Target::Return,
    });
    b.def("sub/hello", k);
    let k = NodeKind::Play(Play {
        prompts: b.prompts(&["after.wav"]),
        next: Target::Return,
    });
    b.def("after", k);
    let mut h = Harness::new(b.build("main"));
    h.answer();
    h.finish();
    h.finish();
    assert_eq!(
        h.take(),
        ["play hello.wav", "play after.wav", "hangup returned"]
    );
}

#[test]
fn template_errors_warn_and_the_call_goes_on() {
    let mut b = Builder::new(&[]);
    let (bad_text, bad_expr, good) = (
        b.text("{{ vars.missing.x }}"),
        b.expr("vars.missing > 1"),
        b.expr("vars.n + 1"),
    );
    let (tsw, tend, tfb) = (b.t("sw"), b.t("end"), b.t("fallback"));
    b.var("n", json!(1));
    let tsay = b.t("say");
    b.def(
        "set",
        NodeKind::Set(Set {
            assign: vec![
                ("n".into(), SetValue::Expr(good)),
                ("bad".into(), SetValue::Text(bad_text)),
            ],
            next: tsay,
        }),
    );
    b.def(
        "say",
        NodeKind::Say(Say {
            text: bad_text,
            voice: None,
            engine: None,
            next: tsw,
        }),
    );
    b.def(
        "sw",
        NodeKind::Switch(Switch {
            arms: vec![(Some(bad_expr), tend), (None, tfb)],
        }),
    );
    b.def("fallback", NodeKind::Switch(Switch { arms: vec![] }));
    let mut h = Harness::new(b.build("set"));
    h.answer();
    let log = h.take();
    assert_eq!(log.len(), 4, "{log:?}");
    assert!(log[0].starts_with("warn set: set bad: undefined value"));
    assert!(log[1].starts_with("warn say: say: undefined value"));
    assert!(log[2].starts_with("warn sw: switch condition:"));
    assert_eq!(log[3], "hangup error");
    assert_eq!(h.call.vars().get("n"), Some(&Value::from(2)));
    assert!(!h.call.vars().contains_key("bad"));
}

#[test]
fn transfer_success_ends_the_call_and_failure_takes_on_fail() {
    let mut b = Builder::new(&[]);
    let target = b.text("sip:100@pbx.example.com");
    let on_fail = Some(b.t("sorry"));
    b.def("op", NodeKind::Transfer(Transfer { target, on_fail }));
    let k = play(&mut b, &["sorry.wav"], "end");
    b.def("sorry", k);
    b.def("end", hangup());
    let program = b.build("op");
    let mut h = Harness::new(program.clone());
    h.answer();
    h.dtmf("1");
    h.input(Input::TransferResult {
        id: h.last_id("transfer"),
        result: Ok(()),
    });
    assert_eq!(
        h.take(),
        ["transfer sip:100@pbx.example.com", "hangup transferred"]
    );
    let mut h = Harness::new(program);
    h.answer();
    h.input(Input::TransferResult {
        id: h.last_id("transfer"),
        result: Err("486 Busy Here".into()),
    });
    assert_eq!(h.take()[1..], ["play sorry.wav"]);
}

#[test]
fn agent_saves_its_result_errors_take_on_error_and_max_duration_cancels() {
    let mut b = Builder::new(&["bunny"]);
    let instructions = b.text("You are {{ theme }}.");
    let (next, on_error) = (b.t("end"), Some(b.t("sorry")));
    b.def(
        "agent",
        NodeKind::Agent(Box::new(Agent {
            max_duration: Some(secs(60)),
            save: Some("intent".into()),
            on_error,
            ..agent_node(Some(instructions), next)
        })),
    );
    let k = play(&mut b, &["sorry.wav"], "end");
    b.def("sorry", k);
    b.def("end", hangup());
    let program = b.build("agent");
    let mut h = Harness::new(program.clone());
    h.answer();
    h.input(Input::AgentEnded {
        id: h.last_id("agent"),
        result: Ok(AgentOutcome {
            result: json!({"intent": "billing"}),
            then: AgentThen::Next,
        }),
    });
    assert_eq!(h.take(), ["agent You are bunny.", "hangup flow"]);
    assert_eq!(
        h.call.vars().get("intent"),
        Some(&Value::from(minijinja::value::Serde(
            json!({"intent": "billing"})
        )))
    );
    let mut h = Harness::new(program.clone());
    h.answer();
    h.input(Input::AgentEnded {
        id: h.last_id("agent"),
        result: Err("socket closed".into()),
    });
    assert_eq!(h.take()[2..], ["play bunny/sorry.wav"]);
    // The engine ends the session at max_duration; the machine's backstop fires only if it
    // does not.
    let mut h = Harness::new(program);
    h.answer();
    h.wait(60_000);
    assert_eq!(h.take().len(), 1, "still waiting for the engine");
    h.wait(5_000);
    assert_eq!(h.take(), ["cancel", "hangup flow"]);
}

#[test]
fn record_finishes_on_its_key_and_saves_the_recording() {
    let mut b = Builder::new(&[]);
    let next = b.t("end");
    let prompt = b.prompts(&["beep.wav"]);
    b.def(
        "rec",
        NodeKind::Record(Box::new(Record {
            prompt,
            max: secs(30),
            finish_on: Digit::from_char('#'),
            beep: true,
            silence: None,
            save: Some("msg".into()),
            next,
            on_error: None,
        })),
    );
    b.def("end", hangup());
    let mut h = Harness::new(b.build("rec"));
    h.answer();
    h.finish();
    h.dtmf("1#");
    let id = h.last_id("record");
    h.input(Input::RecordFinished {
        id,
        result: Ok(RecordingInfo {
            path: "r/1.wav".into(),
            duration: secs(3),
            size: 48_044,
        }),
    });
    assert_eq!(
        h.take(),
        ["play beep.wav", "record", "finish recording", "hangup flow"]
    );
    let saved = h.call.vars().get("msg").cloned().unwrap_or_default();
    assert_eq!(
        saved.get_attr("duration_ms").ok(),
        Some(Value::from(3000u64))
    );
    assert_eq!(saved.get_attr("size").ok(), Some(Value::from(48_044u64)));
}

/// Regression: a recording that failed (no recorder on the server) went on to `next` as if a
/// message had been saved.
#[test]
fn a_failed_recording_takes_on_error_and_saves_nothing() {
    let mut b = Builder::new(&[]);
    let next = b.t("thanks");
    let on_error = Some(b.t("sorry"));
    b.def(
        "rec",
        NodeKind::Record(Box::new(Record {
            prompt: Vec::new(),
            max: secs(30),
            finish_on: None,
            beep: true,
            silence: None,
            save: Some("msg".into()),
            next,
            on_error,
        })),
    );
    let thanks = b.prompts(&["thanks.wav"]);
    let end = b.t("end");
    b.def(
        "thanks",
        NodeKind::Play(Play {
            prompts: thanks,
            next: end,
        }),
    );
    let sorry = b.prompts(&["sorry.wav"]);
    b.def(
        "sorry",
        NodeKind::Play(Play {
            prompts: sorry,
            next: end,
        }),
    );
    b.def("end", hangup());
    let mut h = Harness::new(b.build("rec"));
    h.answer();
    let id = h.last_id("record");
    h.input(Input::RecordFinished {
        id,
        result: Err("recording is not available on this server".into()),
    });
    let got = h.take();
    assert!(got.contains(&"play sorry.wav".to_string()), "{got:?}");
    assert!(!got.contains(&"play thanks.wav".to_string()), "{got:?}");
    assert!(h.call.vars().get("msg").is_none(), "nothing saved");
}

#[test]
fn remote_hangup_cancels_what_is_in_flight_and_ignores_later_input() {
    let mut h = weather(1);
    h.answer();
    h.input(Input::Hangup);
    let id = h.last_id("http");
    h.input(Input::HttpResponse {
        id,
        result: reply(200, json!({})),
    });
    h.dtmf("1");
    assert_eq!(h.take()[1..], ["cancel", "hangup remote"]);
    assert!(h.call.is_ended());
    assert_eq!(h.call.poll_timeout(), None);
}

#[test]
fn pause_waits_its_duration() {
    let mut b = Builder::new(&[]);
    let next = b.t("end");
    b.def(
        "p",
        NodeKind::Pause(Pause {
            duration: Duration::from_millis(1500),
            next,
        }),
    );
    b.def(
        "end",
        NodeKind::Hangup(Hangup {
            reason: Some("done".into()),
        }),
    );
    let mut h = Harness::new(b.build("p"));
    h.answer();
    h.wait(1499);
    assert!(h.take().is_empty());
    h.wait(1);
    assert_eq!(h.take(), ["hangup done"]);
}

#[test]
fn exhausted_gather_without_on_fail_returns_from_a_subflow() {
    let mut b = Builder::new(&[]);
    let (entry, after) = (b.id("sub/ask"), b.t("after"));
    b.def("main", NodeKind::Subflow(Subflow { entry, next: after }));
    let prompt = b.prompts(&["menu.wav"]);
    b.def(
        "sub/ask",
        NodeKind::Gather(Box::new(Gather {
            prompt,
            min_digits: 1,
            max_digits: 1,
            finish_on: None,
            timeout: secs(1),
            inter_digit_timeout: secs(1),
            tries: 1,
            invalid: vec![],
            no_input: vec![],
            routes: vec![],
            save: None,
            next: Some(Target::Return),
            on_fail: None,
        })),
    );
    let k = play(&mut b, &["after.wav"], "end");
    b.def("after", k);
    b.def("end", hangup());
    let mut h = Harness::new(b.build("main"));
    h.answer();
    h.finish();
    h.wait(1000);
    assert_eq!(h.take(), ["play menu.wav", "play after.wav"]);
}

#[test]
fn a_barge_in_digit_is_dropped_by_a_node_that_is_not_a_gather() {
    let mut b = Builder::new(&[]);
    let k = play(&mut b, &["one.wav"], "two");
    b.def("one", k);
    let k = play(&mut b, &["two.wav"], "menu");
    b.def("two", k);
    let k = menu(&mut b, None);
    b.def("menu", k);
    b.def("story", hangup());
    b.def("song", hangup());
    let mut h = Harness::new(b.build("one"));
    h.answer();
    h.dtmf("1");
    h.finish();
    assert_eq!(
        h.take(),
        ["play one.wav", "stop", "play two.wav", "play menu.wav"],
        "the digit skipped one.wav but did not reach the menu"
    );
}

#[test]
fn a_global_key_without_goto_cancels_the_wait_and_restarts_the_node() {
    let mut b = Builder::new(&["a", "b"]);
    let url = b.text("https://x/{{ theme }}");
    let (ok, err) = (b.t("end"), b.t("end"));
    b.def(
        "hook",
        NodeKind::Http(Box::new(Http {
            method: HttpMethod::Get,
            url,
            headers: vec![],
            body: None,
            timeout: secs(5),
            retries: 0,
            save: None,
            on_success: ok,
            on_error: err,
        })),
    );
    b.def("end", hangup());
    b.key('*', Some(ThemeStep::Next), None);
    let mut h = Harness::new(b.build("hook"));
    h.answer();
    h.wait(1000);
    h.dtmf("5");
    h.dtmf("*");
    assert_eq!(
        h.take(),
        [
            "http GET https://x/a",
            "cancel",
            "theme b",
            "http GET https://x/b"
        ]
    );
    h.wait(4999);
    assert!(h.take().is_empty(), "the deadline restarted with the node");
}
