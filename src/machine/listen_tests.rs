//! `listen` on virtual time: recognition during the prompt (barge-in), the no-speech deadline
//! and its backstop, retries, key routes.

use std::time::Duration;

use minijinja::Value;

use crate::flow::program::{Hangup, Listen, ListenGrammar, NodeKind, Play, Program};
use crate::machine::io::{Action, Input};
use crate::machine::testkit::{Builder, Harness};
use std::sync::Arc;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// ask: listen (prompt ask.wav, 5 s, 2 tries), `yes|yeah` → agent, optional key routes, on_fail
/// → menu.
fn program(keys: &[(&str, &str)]) -> Arc<Program> {
    let mut b = Builder::new(&[]);
    let routes = vec![(regex::Regex::new("(?i)yes|yeah").unwrap(), b.t("agent"))];
    let keys = keys.iter().map(|(k, t)| (k.to_string(), b.t(t))).collect();
    let on_fail = Some(b.t("menu"));
    let prompt = b.prompts(&["ask.wav"]);
    b.def(
        "ask",
        NodeKind::Listen(Box::new(Listen {
            prompt,
            timeout: secs(5),
            tries: 2,
            language: None,
            save: Some("answer".into()),
            routes,
            keys,
            next: None,
            on_fail,
            engine: None,
            silence: None,
            grammar: ListenGrammar::Phrases(vec!["yes".into(), "yeah".into()]),
        })),
    );
    for (name, file) in [
        ("agent", "agent.wav"),
        ("menu", "menu.wav"),
        ("two", "two.wav"),
    ] {
        let k = NodeKind::Play(Play {
            prompts: b.prompts(&[file]),
            next: b.t("end"),
        });
        b.def(name, k);
    }
    b.def("end", NodeKind::Hangup(Hangup { reason: None }));
    b.build("ask")
}

fn speech(h: &mut Harness, text: &str) {
    let id = h.last_id("listen");
    h.input(Input::Speech {
        id,
        result: Ok(text.into()),
    });
}

#[test]
fn recognizer_starts_with_the_prompt_and_speech_is_routed() {
    let mut h = Harness::new(program(&[]));
    h.answer();
    assert_eq!(h.take(), ["listen", "play ask.wav"]);
    let Some(Action::Listen { grammar, .. }) = h.actions.first() else {
        panic!("listen first")
    };
    assert_eq!(
        *grammar,
        ListenGrammar::Phrases(vec!["yes".into(), "yeah".into()])
    );
    h.finish();
    speech(&mut h, "no way");
    assert_eq!(
        h.take(),
        ["listen", "play ask.wav"],
        "no match: another try"
    );
    speech(&mut h, "Yeah sure");
    assert_eq!(
        h.take(),
        ["stop", "play agent.wav"],
        "an answer over the prompt stops it"
    );
    assert_eq!(h.call.vars().get("answer"), Some(&Value::from("Yeah sure")));
}

#[test]
fn speech_started_stops_the_prompt_and_holds_off_the_deadline() {
    let mut h = Harness::new(program(&[]));
    h.answer();
    h.take();
    let id = h.last_id("listen");
    h.wait(300);
    h.input(Input::SpeechStarted { id });
    assert_eq!(h.take(), ["stop"]);
    // Longer than `timeout` while the caller talks: no failure yet.
    h.wait(20_000);
    assert!(h.take().is_empty());
    speech(&mut h, "yes");
    assert_eq!(h.take(), ["play agent.wav"]);
}

#[test]
fn a_recognizer_that_never_answers_is_abandoned_at_the_backstop() {
    let mut h = Harness::new(program(&[]));
    h.answer();
    h.take();
    let id = h.last_id("listen");
    h.input(Input::SpeechStarted { id });
    h.take();
    h.wait(crate::machine::listen::SPEECH_BACKSTOP.as_millis() as u64 + 1);
    assert_eq!(h.take(), ["cancel", "listen", "play ask.wav"]);
    h.input(Input::SpeechStarted { id });
    assert!(h.take().is_empty(), "a stale listen's events are ignored");
}

#[test]
fn silence_times_out_after_the_prompt_twice_then_fails_over() {
    let mut h = Harness::new(program(&[]));
    h.answer();
    h.wait(4000);
    h.finish();
    assert_eq!(
        h.take(),
        ["listen", "play ask.wav"],
        "timeout counts from the end of the prompt"
    );
    h.wait(5000);
    h.finish();
    h.wait(5000);
    assert_eq!(
        h.take(),
        [
            "cancel",
            "listen",
            "play ask.wav",
            "cancel",
            "play menu.wav"
        ]
    );
}

#[test]
fn without_key_routes_a_key_only_skips_the_prompt() {
    let mut h = Harness::new(program(&[]));
    h.answer();
    h.take();
    h.dtmf("5");
    assert_eq!(h.take(), ["stop"]);
    h.dtmf("6");
    assert!(h.take().is_empty(), "keys are ignored while listening");
    speech(&mut h, "yes");
    assert_eq!(h.take(), ["play agent.wav"]);
}

#[test]
fn a_key_route_ends_listening_and_is_routed_like_a_gather() {
    let mut h = Harness::new(program(&[("1", "agent"), ("22", "two")]));
    h.answer();
    h.take();
    h.dtmf("1");
    assert_eq!(h.take(), ["stop", "cancel", "play agent.wav"]);
    assert_eq!(h.call.vars().get("answer"), Some(&Value::from("1")));

    let mut h = Harness::new(program(&[("1", "agent"), ("22", "two")]));
    h.answer();
    h.finish();
    h.take();
    h.dtmf("2");
    assert_eq!(
        h.take(),
        ["cancel"],
        "the start of a key route waits for more"
    );
    h.dtmf("2");
    assert_eq!(h.take(), ["play two.wav"]);
}

#[test]
fn keys_no_route_takes_count_a_try_and_a_half_entry_times_out() {
    let mut h = Harness::new(program(&[("1", "agent"), ("22", "two")]));
    h.answer();
    h.take();
    h.dtmf("9");
    assert_eq!(h.take(), ["stop", "cancel", "listen", "play ask.wav"]);
    h.dtmf("2");
    h.take();
    h.wait(5000);
    assert_eq!(h.take(), ["play menu.wav"], "second failure: on_fail");
}
