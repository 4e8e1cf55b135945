//! Driver tests on hand-built programs (the YAML-based scenarios live in tests/scenarios.rs).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::*;
use crate::audio::AudioError;
use crate::flow::digit::Digit;
use crate::flow::program::*;
use crate::machine::testkit::Builder;
use crate::sim::lengths::FixedLengths;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn lengths() -> FixedLengths {
    FixedLengths {
        table: HashMap::from([(PathBuf::from("a.wav"), ms(1000))]),
        default: ms(500),
    }
}

fn sim_of(program: Arc<Program>, mocks: Mocks) -> Sim<FixedLengths> {
    Sim::new(
        program,
        CallInfo {
            id: "c".into(),
            ..CallInfo::default()
        },
        lengths(),
        mocks,
        Instant::now(),
    )
}

fn lines(sim: &Sim<impl PromptLengths>) -> Vec<String> {
    sim.events()
        .iter()
        .map(|e| {
            let mut v = serde_json::to_value(e).expect("events serialize");
            let o = v.as_object_mut().expect("events are objects");
            o.shift_remove("version");
            let at = o.shift_remove("at_ms").unwrap_or_default();
            format!("{at} {}", serde_json::Value::Object(o.clone()))
        })
        .collect()
}

/// `a.wav` (1 s) → say → pause 1 s → loop back to the say.
fn looping() -> Arc<Program> {
    let mut b = Builder::new(&[]);
    let k = NodeKind::Play(Play {
        prompts: b.prompts(&["a.wav"]),
        next: b.t("say"),
    });
    b.def("play", k);
    let text = b.text("hello");
    let k = NodeKind::Say(Say {
        text,
        voice: None,
        engine: None,
        next: b.t("pause"),
    });
    b.def("say", k);
    let k = NodeKind::Pause(Pause {
        duration: ms(1000),
        next: b.t("say"),
    });
    b.def("pause", k);
    b.build("play")
}

#[test]
fn max_duration_hangs_up_the_call() {
    let mut sim = sim_of(looping(), Mocks::default()).with_max(ms(2000));
    sim.answer();
    sim.run_to_end();
    assert_eq!(
        lines(&sim),
        [
            r#"0 {"event":"answer","flow":"test"}"#,
            r#"0 {"event":"play","node":"play","file":"a.wav","duration_ms":1000}"#,
            r#"1000 {"event":"say","node":"say","text":"hello","duration_ms":600}"#,
            r#"2000 {"event":"hangup","reason":"max_duration"}"#,
        ]
    );
    assert!(sim.is_ended());
    assert!(!sim.step());
    assert_eq!(sim.next_due(), None);
}

#[test]
fn a_stopped_say_is_reported_with_its_text_and_run_until_sets_the_clock() {
    let mut sim = sim_of(looping(), Mocks::default());
    sim.schedule(ms(1200), CallerInput::Dtmf(Digit::from_char('5').unwrap()));
    sim.answer();
    sim.run_until(ms(1300));
    assert_eq!(sim.now(), ms(1300));
    let l = lines(&sim);
    assert_eq!(l[3], r#"1200 {"event":"dtmf","digit":"5"}"#);
    assert_eq!(l[4], r#"1200 {"event":"stop","node":"say","text":"hello"}"#);
    assert_eq!(l.len(), 5, "{l:?}");
    sim.run_until(ms(2200));
    assert_eq!(
        lines(&sim)[5],
        r#"2200 {"event":"say","node":"say","text":"hello","duration_ms":600}"#
    );
}

/// A prompt file that cannot be read is a warning and counts as played.
#[test]
fn unreadable_prompt_warns_and_the_call_goes_on() {
    struct Broken;
    impl PromptLengths for Broken {
        fn file_length(&mut self, path: &Path) -> Result<Duration, AudioError> {
            Err(AudioError::NotFound {
                path: path.to_owned(),
            })
        }
    }
    let mut sim = Sim::new(
        looping(),
        CallInfo::default(),
        Broken,
        Mocks::default(),
        Instant::now(),
    )
    .with_max(ms(100));
    sim.answer();
    sim.run_to_end();
    let l = lines(&sim);
    assert_eq!(
        l[1],
        r#"0 {"event":"warn","node":"play","message":"a.wav: no such audio file"}"#
    );
    assert!(l[2].starts_with(r#"0 {"event":"say""#), "{l:?}");
}

fn http_flow(timeout: u64, retries: u8) -> Arc<Program> {
    let mut b = Builder::new(&[]);
    let url = b.text("https://x/{{ call.id }}");
    let (ok, err) = (b.t("ok"), b.t("err"));
    b.def(
        "hook",
        NodeKind::Http(Box::new(Http {
            method: HttpMethod::Get,
            url,
            headers: vec![],
            body: None,
            timeout: ms(timeout),
            retries,
            save: Some("r".into()),
            on_success: ok,
            on_error: err,
        })),
    );
    b.def(
        "ok",
        NodeKind::Hangup(Hangup {
            reason: Some("ok".into()),
        }),
    );
    b.def(
        "err",
        NodeKind::Hangup(Hangup {
            reason: Some("err".into()),
        }),
    );
    b.build("hook")
}

#[test]
fn http_mocks_delay_status_and_timeouts() {
    let mocks = |v| Mocks::from_value(v).unwrap();
    let mut sim = sim_of(
        http_flow(1000, 0),
        mocks(json!({"http": {"hook": {"status": 201, "json": {"a": 1}, "delay": "250ms"}}})),
    );
    sim.answer();
    sim.run_to_end();
    assert_eq!(
        lines(&sim)[1..],
        [
            r#"0 {"event":"http","node":"hook","method":"GET","url":"https://x/c"}"#,
            r#"250 {"event":"http_response","status":201}"#,
            r#"250 {"event":"hangup","reason":"ok"}"#,
        ]
    );
    let mut sim = sim_of(
        http_flow(1000, 1),
        mocks(json!({"http": {"hook": {"delay": "2s"}}})),
    );
    sim.answer();
    sim.run_to_end();
    let l = lines(&sim);
    assert_eq!(l[2], r#"1000 {"event":"http_error","error":"timeout"}"#);
    assert_eq!(l[4], r#"2000 {"event":"http_error","error":"timeout"}"#);
    assert_eq!(l[5], r#"2000 {"event":"hangup","reason":"err"}"#);
    assert_eq!(l.len(), 6, "the late replies are dropped: {l:?}");
}

#[test]
fn caller_hangup_during_http_reports_the_request_cancelled() {
    let mut sim = sim_of(
        http_flow(5000, 0),
        Mocks::from_value(json!({"http": {"hook": {"delay": "3s"}}})).unwrap(),
    );
    sim.schedule(ms(1000), CallerInput::Hangup);
    sim.answer();
    sim.run_to_end();
    assert_eq!(
        lines(&sim)[2..],
        [
            r#"1000 {"event":"http_error","error":"cancelled"}"#,
            r#"1000 {"event":"hangup","reason":"remote"}"#,
        ]
    );
}

#[test]
fn display_path_folds_parent_components() {
    assert_eq!(
        display_path(Path::new("flows/../sound/bunny/x.wav")),
        "sound/bunny/x.wav"
    );
    assert_eq!(display_path(Path::new("./a/./b.wav")), "a/b.wav");
    assert_eq!(display_path(Path::new("../s/x.wav")), "../s/x.wav");
    assert_eq!(display_path(Path::new("/abs/x/../y.wav")), "/abs/y.wav");
}
