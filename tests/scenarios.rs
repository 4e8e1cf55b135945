//! Scenario tests: small flows in tests/fixtures/scenarios/ run on virtual time with scripted
//! callers and mocks; each call's event stream is compared with tests/golden/<name>.jsonl.
//! Refresh the golden files with `UPDATE_EXPECT=1 cargo test --test scenarios`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use phonetree::flow::duration::parse_duration;
use phonetree::flow::load::{load_file, LoadOptions};
use phonetree::flow::source;
use phonetree::sim::event::{Event, EventKind};
use phonetree::sim::lengths::FileLengths;
use phonetree::sim::mocks::Mocks;
use phonetree::sim::script::{parse_dtmf_script, parse_speech_script, CallerInput, Scheduled};
use phonetree::sim::{call_info, Sim};

const FIXTURES: &str = "tests/fixtures/scenarios";

#[derive(Default)]
struct Scenario {
    flow: &'static str,
    dtmf: &'static str,
    speech: &'static str,
    hangup_at: Option<&'static str>,
    mocks: &'static str,
    max: Option<&'static str>,
    env: &'static [(&'static str, &'static str)],
}

fn events_of(s: &Scenario) -> String {
    let (events, _) = simulate(s, false);
    let mut out = String::new();
    for e in &events {
        out.push_str(&e.to_json_line());
        out.push('\n');
    }
    out
}

/// Runs the scenario; with `trace`, also returns what a live call's [`CallTrace`] fed the same
/// inputs and actions reported.
fn simulate(s: &Scenario, trace: bool) -> (Vec<Event>, Vec<Event>) {
    let flow = Path::new(FIXTURES).join("flows").join(s.flow);
    let opts = LoadOptions {
        sound_dir: Some(Path::new(FIXTURES).join("sound")),
        ..LoadOptions::default()
    };
    let compiled = load_file(&flow, &opts);
    let program = match compiled.program {
        Some(p) => Arc::new(p),
        None => panic!(
            "{} does not compile: {:#?}",
            flow.display(),
            compiled.diagnostics
        ),
    };
    let mocks = source::parse(s.mocks, Path::new("mocks.yaml"))
        .value
        .map(|v| Mocks::from_value(v).expect("scenario mocks"))
        .unwrap_or_default();
    let info = call_info(&program, "scenario", "+15550001", None, |name| {
        s.env
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    });
    let mut sim = Sim::new(program, info, FileLengths::default(), mocks, Instant::now());
    if trace {
        sim = sim.with_trace();
    }
    if let Some(max) = s.max {
        sim = sim.with_max(parse_duration(max).expect("scenario max"));
    }
    let mut script = parse_dtmf_script(s.dtmf).expect("scenario dtmf");
    script.extend(parse_speech_script(s.speech).expect("scenario speech"));
    if let Some(at) = s.hangup_at {
        script.push(Scheduled {
            at: parse_duration(at).expect("hangup time"),
            input: CallerInput::Hangup,
        });
    }
    for s in script {
        sim.schedule(s.at, s.input);
    }
    sim.answer();
    sim.run_to_end();
    let traced: Vec<Event> = match sim.trace() {
        Some(t) => std::iter::from_fn(|| t.poll_event()).collect(),
        None => Vec::new(),
    };
    let events = sim.take_events();
    assert!(
        matches!(
            events.last().map(|e| &e.kind),
            Some(EventKind::Hangup { .. })
        ),
        "a simulated call always ends"
    );
    (events, traced)
}

fn check(name: &str, s: Scenario) {
    let actual = events_of(&s);
    let path = PathBuf::from("tests/golden").join(format!("{name}.jsonl"));
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(&path, &actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "missing {}; run with UPDATE_EXPECT=1 to create it. Actual:\n{actual}",
            path.display()
        )
    });
    if expected != actual {
        let mut diff = String::new();
        let (e, a): (Vec<_>, Vec<_>) = (expected.lines().collect(), actual.lines().collect());
        for i in 0..e.len().max(a.len()) {
            match (e.get(i), a.get(i)) {
                (Some(x), Some(y)) if x == y => diff.push_str(&format!("  {x}\n")),
                (x, y) => {
                    if let Some(x) = x {
                        diff.push_str(&format!("- {x}\n"));
                    }
                    if let Some(y) = y {
                        diff.push_str(&format!("+ {y}\n"));
                    }
                }
            }
        }
        panic!(
            "{} differs (UPDATE_EXPECT=1 to accept):\n{diff}",
            path.display()
        );
    }
}

macro_rules! scenario {
    ($name:ident, $s:expr) => {
        #[test]
        fn $name() {
            check(stringify!($name), $s);
        }
    };
}

scenario!(
    themes_barge_in_switch_and_wrap,
    Scenario {
        flow: "themes.yaml",
        dtmf: "1@300ms,#@2500ms,#@2700ms,*@3000ms,2@4500ms",
        ..Default::default()
    }
);

scenario!(
    themes_silence_and_invalid_fail_over,
    Scenario {
        flow: "themes.yaml",
        dtmf: "9@2s",
        ..Default::default()
    }
);

scenario!(
    themes_remote_hangup_stops_playback,
    Scenario {
        flow: "themes.yaml",
        hangup_at: Some("1s"),
        ..Default::default()
    }
);

scenario!(
    pin_terminator_too_short_then_accepted,
    Scenario {
        flow: "pin.yaml",
        dtmf: "12#@1200ms,4321#@3s",
        ..Default::default()
    }
);

scenario!(
    pin_barge_in_then_inter_digit_timeout,
    Scenario {
        flow: "pin.yaml",
        dtmf: "98765@500ms",
        ..Default::default()
    }
);

scenario!(
    pin_max_digits_complete_at_once,
    Scenario {
        flow: "pin.yaml",
        dtmf: "123456@1500ms",
        ..Default::default()
    }
);

scenario!(
    pin_no_input_twice_fails_over,
    Scenario {
        flow: "pin.yaml",
        ..Default::default()
    }
);

scenario!(
    weather_hot_says_the_temperature,
    Scenario {
        flow: "weather.yaml",
        mocks: "http: { weather: { status: 200, json: { temp: 35 }, delay: 300ms } }",
        env: &[("WEATHER_URL", "https://w.example")],
        ..Default::default()
    }
);

scenario!(
    weather_cold_sets_typed_and_text_vars,
    Scenario {
        flow: "weather.yaml",
        mocks: "http: { weather: { json: { temp: 12 } } }",
        env: &[("WEATHER_URL", "https://w.example")],
        ..Default::default()
    }
);

scenario!(
    weather_timeouts_retry_then_on_error,
    Scenario {
        flow: "weather.yaml",
        mocks: "http: { weather: { json: { temp: 35 }, delay: 1500ms } }",
        env: &[("WEATHER_URL", "https://w.example")],
        ..Default::default()
    }
);

scenario!(
    weather_5xx_retries_and_unset_env_shows_its_name,
    Scenario {
        flow: "weather.yaml",
        mocks: "http: { weather: { status: 503 } }",
        ..Default::default()
    }
);

scenario!(
    weather_without_mock_takes_on_error,
    Scenario {
        flow: "weather.yaml",
        ..Default::default()
    }
);

scenario!(
    listen_mock_matches_on_second_attempt,
    Scenario {
        flow: "listen.yaml",
        mocks: "listen: { ask: [\"maybe\", \"yeah sure\"] }",
        ..Default::default()
    }
);

scenario!(
    listen_speech_during_prompt_barges_in,
    Scenario {
        flow: "listen.yaml",
        speech: "no thanks@200ms",
        ..Default::default()
    }
);

scenario!(
    listen_silence_fails_over,
    Scenario {
        flow: "listen.yaml",
        ..Default::default()
    }
);

scenario!(
    services_record_agent_stream_transfer,
    Scenario {
        flow: "services.yaml",
        dtmf: "5@500ms,#@2s",
        mocks: "agent: { agent: { result: { intent: billing }, duration: 5s } }\nstream: { bot: { result: { ok: true }, duration: 3s } }",
        ..Default::default()
    }
);

scenario!(
    services_failures_take_their_branches,
    Scenario {
        flow: "services.yaml",
        mocks: "agent: { agent: { error: \"503 Service Unavailable\" } }\ntransfer: { operator: { ok: false, reason: \"486 Busy Here\" } }",
        ..Default::default()
    }
);

// Regression: a failed recording used to go on to `next` as if a message had been saved.
scenario!(
    record_failure_takes_on_error,
    Scenario {
        flow: "services.yaml",
        mocks: "record: { record: { error: \"recording is not available on this server\" } }",
        ..Default::default()
    }
);

scenario!(
    subflow_asked_twice_then_returns,
    Scenario {
        flow: "main.yaml",
        dtmf: "2@1s,1@3s",
        ..Default::default()
    }
);

scenario!(
    hold_is_hung_up_at_max,
    Scenario {
        flow: "hold.yaml",
        max: Some("2m"),
        ..Default::default()
    }
);

/// The live call log is the simulator's story: a [`CallTrace`] fed the inputs and actions of
/// simulated calls reports the same events at the same times. Normalized for what a live call
/// cannot know (prompt lengths: 0) and for what only the trace reports (`node` events, and
/// failures the simulator has no event for, which the trace turns into `warn`s).
#[test]
fn the_live_trace_tells_the_same_story_as_the_simulator() {
    let weather = &[("WEATHER_URL", "https://w.example")][..];
    let cases = [
        Scenario {
            flow: "themes.yaml",
            dtmf: "1@300ms,#@2500ms,#@2700ms,*@3000ms,2@4500ms",
            ..Default::default()
        },
        Scenario {
            flow: "themes.yaml",
            hangup_at: Some("1s"),
            ..Default::default()
        },
        Scenario {
            flow: "pin.yaml",
            dtmf: "12#@1200ms,4321#@3s",
            ..Default::default()
        },
        Scenario {
            flow: "weather.yaml",
            mocks: "http: { weather: { status: 200, json: { temp: 35 }, delay: 300ms } }",
            env: weather,
            ..Default::default()
        },
        Scenario {
            flow: "weather.yaml",
            mocks: "http: { weather: { json: { temp: 35 }, delay: 1500ms } }",
            env: weather,
            ..Default::default()
        },
        Scenario {
            flow: "weather.yaml",
            mocks: "http: { weather: { status: 503 } }",
            ..Default::default()
        },
        Scenario {
            flow: "listen.yaml",
            mocks: "listen: { ask: [\"maybe\", \"yeah sure\"] }",
            ..Default::default()
        },
        Scenario {
            flow: "services.yaml",
            dtmf: "5@500ms,#@2s",
            mocks: "agent: { agent: { result: { intent: billing }, duration: 5s } }\nstream: { bot: { result: { ok: true }, duration: 3s } }",
            ..Default::default()
        },
        Scenario {
            flow: "services.yaml",
            mocks: "agent: { agent: { error: \"503 Service Unavailable\" } }\ntransfer: { operator: { ok: false, reason: \"486 Busy Here\" } }",
            ..Default::default()
        },
        Scenario {
            flow: "main.yaml",
            dtmf: "2@1s,1@3s",
            ..Default::default()
        },
    ];
    for s in &cases {
        let (sim, traced) = simulate(s, true);
        let sim: Vec<String> = sim.iter().map(comparable).collect();
        let traced: Vec<String> = traced
            .iter()
            .filter(|e| match &e.kind {
                EventKind::Node { .. } => false,
                EventKind::Warn { message, .. } => !message.contains(" failed: "),
                _ => true,
            })
            .map(comparable)
            .collect();
        assert!(sim.len() >= 4, "{}: {sim:?}", s.flow);
        assert_eq!(
            traced, sim,
            "{} ({}): the trace and the simulator disagree",
            s.flow, s.dtmf
        );
    }
}

/// An event as JSON with the prompt lengths a live call cannot know set to 0.
fn comparable(e: &Event) -> String {
    let mut e = e.clone();
    if let EventKind::Play { duration_ms, .. } | EventKind::Say { duration_ms, .. } = &mut e.kind {
        *duration_ms = 0;
    }
    e.to_json_line()
}
