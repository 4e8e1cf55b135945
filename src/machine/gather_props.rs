//! Property tests of digit collection: random gather settings and random callers, run through
//! the simulator on virtual time and compared with a small reference model of the rules in
//! `gather.rs` (min/max, terminator, inter-digit and first-digit timeouts, barge-in, retries).
//!
//! Ties at one instant resolve as in the simulator: timers fire first, then the caller's keys,
//! then playback ends. A last property feeds the machine arbitrary inputs (unknown ids, repeated
//! answers, late replies) and checks it never panics nor acts after its hangup.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use crate::flow::digit::Digit;
use crate::flow::program::{Gather, Hangup, NodeKind};
use crate::machine::io::CallInfo;
use crate::machine::testkit::Builder;
use crate::sim::event::{EventKind, MediaRef};
use crate::sim::lengths::FixedLengths;
use crate::sim::mocks::Mocks;
use crate::sim::script::CallerInput;
use crate::sim::Sim;

#[derive(Debug, Clone)]
struct Cfg {
    min: u8,
    max: u8,
    finish: bool,
    timeout: u64,
    inter: u64,
    tries: u8,
    prompt_len: u64,
    feedback_len: u64,
    routes: Option<Vec<String>>,
}

fn cfg() -> impl Strategy<Value = Cfg> {
    (
        1u8..=4,
        0u8..=3,
        any::<bool>(),
        5u64..=50,
        3u64..=30,
        1u8..=3,
        1u64..=20,
        1u64..=10,
    )
        .prop_flat_map(|(min, extra, finish, timeout, inter, tries, p, f)| {
            let max = min + extra;
            let route = proptest::collection::vec(
                prop::sample::select(vec!['1', '2']),
                min as usize..=max as usize,
            )
            .prop_map(|v| v.into_iter().collect::<String>());
            let routes = proptest::option::of(proptest::collection::vec(route, 1..4));
            routes.prop_map(move |routes| Cfg {
                min,
                max,
                finish,
                timeout: timeout * 100,
                inter: inter * 100,
                tries,
                prompt_len: p * 100,
                feedback_len: f * 100,
                routes,
            })
        })
}

/// Keys at strictly increasing times (ms after answer).
fn script() -> impl Strategy<Value = Vec<(u64, char)>> {
    proptest::collection::vec(
        (
            1u64..=40,
            prop::sample::select(vec!['1', '2', '1', '2', '3', '#']),
        ),
        0..16,
    )
    .prop_map(|v| {
        let mut t = 0;
        v.into_iter()
            .map(|(gap, k)| {
                t += gap * 50;
                (t, k)
            })
            .collect()
    })
}

/// What the call did, as `(ms, line)`.
type Log = Vec<(u64, String)>;

/// The machine, run on the simulator.
fn run_machine(c: &Cfg, keys: &[(u64, char)]) -> (Log, String) {
    let mut b = Builder::new(&[]);
    let routes = match &c.routes {
        Some(list) => list
            .iter()
            .enumerate()
            .map(|(i, r)| (r.clone(), b.t(&format!("r{i}"))))
            .collect(),
        None => vec![],
    };
    let next = c.routes.is_none().then(|| b.t("done"));
    let on_fail = Some(b.t("fail"));
    let g = Gather {
        prompt: b.prompts(&["menu.wav"]),
        min_digits: c.min,
        max_digits: c.max,
        finish_on: if c.finish {
            Digit::from_char('#')
        } else {
            None
        },
        timeout: Duration::from_millis(c.timeout),
        inter_digit_timeout: Duration::from_millis(c.inter),
        tries: c.tries,
        invalid: b.prompts(&["invalid.wav"]),
        no_input: b.prompts(&["no_input.wav"]),
        routes,
        save: Some("entry".into()),
        next,
        on_fail,
    };
    b.def("g", NodeKind::Gather(Box::new(g)));
    let names: Vec<String> = std::iter::once("done".to_string())
        .chain(std::iter::once("fail".to_string()))
        .chain((0..c.routes.as_ref().map_or(0, Vec::len)).map(|i| format!("r{i}")))
        .collect();
    for n in &names {
        b.def(
            n,
            NodeKind::Hangup(Hangup {
                reason: Some(n.clone()),
            }),
        );
    }
    let program = b.build("g");
    let lengths = FixedLengths {
        table: HashMap::from([
            (
                PathBuf::from("menu.wav"),
                Duration::from_millis(c.prompt_len),
            ),
            (
                PathBuf::from("invalid.wav"),
                Duration::from_millis(c.feedback_len),
            ),
            (
                PathBuf::from("no_input.wav"),
                Duration::from_millis(c.feedback_len),
            ),
        ]),
        default: Duration::ZERO,
    };
    let mut sim = Sim::new(
        Arc::clone(&program),
        CallInfo::default(),
        lengths,
        Mocks::default(),
        Instant::now(),
    );
    for &(t, k) in keys {
        let d = Digit::from_char(k).expect("script keys are DTMF");
        sim.schedule(Duration::from_millis(t), CallerInput::Dtmf(d));
    }
    sim.answer();
    sim.run_to_end();
    let log = sim
        .events()
        .iter()
        .filter_map(|e| {
            let line = match &e.kind {
                EventKind::Play {
                    media: MediaRef::File(f),
                    ..
                } => format!("play {f}"),
                EventKind::Stop { .. } => "stop".into(),
                EventKind::Hangup { reason } => format!("hangup {reason}"),
                _ => return None,
            };
            Some((e.at_ms, line))
        })
        .collect();
    (log, sim.call().digits().to_owned())
}

/// The reference model of the gather rules.
fn run_model(c: &Cfg, keys: &[(u64, char)]) -> (Log, String) {
    enum Phase {
        Playing {
            queue: VecDeque<&'static str>,
            end: u64,
            exhausted: bool,
        },
        Waiting {
            deadline: Option<u64>,
        },
    }
    let mut log: Log = vec![(0, "play menu.wav".into())];
    let mut phase = Phase::Playing {
        queue: VecDeque::new(),
        end: c.prompt_len,
        exhausted: false,
    };
    let (mut digits, mut failures, mut saved) = (String::new(), 0u8, String::new());
    let mut keys: VecDeque<(u64, char)> = keys.iter().copied().collect();
    let len_of = |f: &str| {
        if f == "menu.wav" {
            c.prompt_len
        } else {
            c.feedback_len
        }
    };

    // Returns Some(reason) when the call ends.
    let fail = |t: u64, invalid: bool, failures: &mut u8, digits: &mut String, log: &mut Log| {
        *failures += 1;
        digits.clear();
        let exhausted = *failures >= c.tries;
        let feedback = if invalid {
            "invalid.wav"
        } else {
            "no_input.wav"
        };
        log.push((t, format!("play {feedback}")));
        let queue = if exhausted {
            VecDeque::new()
        } else {
            VecDeque::from(["menu.wav"])
        };
        Phase::Playing {
            queue,
            end: t + c.feedback_len,
            exhausted,
        }
    };
    let complete =
        |t: u64, digits: &mut String, saved: &mut String, failures: &mut u8, log: &mut Log| {
            *saved = digits.clone();
            match &c.routes {
                None => Err("done".to_string()),
                Some(list) => match list.iter().position(|r| r == digits) {
                    Some(i) => Err(format!("r{i}")),
                    None => Ok(fail(t, true, failures, digits, log)),
                },
            }
        };
    loop {
        let key_t = keys.front().map(|k| k.0);
        let (timer_t, end_t) = match &phase {
            Phase::Waiting { deadline } => (*deadline, None),
            Phase::Playing { end, .. } => (None, Some(*end)),
        };
        let next = [timer_t, key_t, end_t]
            .into_iter()
            .flatten()
            .min()
            .expect("always something due");
        let step = if timer_t == Some(next) {
            let t = next;
            if digits.is_empty() {
                Ok(fail(t, false, &mut failures, &mut digits, &mut log))
            } else if digits.len() >= c.min as usize {
                complete(t, &mut digits, &mut saved, &mut failures, &mut log)
            } else {
                Ok(fail(t, true, &mut failures, &mut digits, &mut log))
            }
        } else if key_t == Some(next) {
            let (t, k) = keys.pop_front().expect("a key is due");
            match phase {
                Phase::Playing {
                    exhausted: true, ..
                } => Ok(phase),
                _ => {
                    if matches!(phase, Phase::Playing { .. }) {
                        log.push((t, "stop".into()));
                    }
                    if c.finish && k == '#' {
                        if digits.len() >= c.min as usize {
                            complete(t, &mut digits, &mut saved, &mut failures, &mut log)
                        } else {
                            Ok(fail(t, true, &mut failures, &mut digits, &mut log))
                        }
                    } else {
                        digits.push(k);
                        if digits.len() >= c.max as usize {
                            complete(t, &mut digits, &mut saved, &mut failures, &mut log)
                        } else {
                            Ok(Phase::Waiting {
                                deadline: Some(t + c.inter),
                            })
                        }
                    }
                }
            }
        } else {
            let t = next;
            match phase {
                Phase::Playing {
                    mut queue,
                    exhausted,
                    ..
                } => match queue.pop_front() {
                    Some(f) => {
                        log.push((t, format!("play {f}")));
                        Ok(Phase::Playing {
                            queue,
                            end: t + len_of(f),
                            exhausted,
                        })
                    }
                    None if exhausted => Err("fail".to_string()),
                    None => Ok(Phase::Waiting {
                        deadline: Some(t + c.timeout),
                    }),
                },
                Phase::Waiting { .. } => unreachable!("no playback while waiting"),
            }
        };
        match step {
            Ok(p) => phase = p,
            Err(reason) => {
                log.push((next, format!("hangup {reason}")));
                return (log, saved);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn gather_matches_the_reference_model(c in cfg(), keys in script()) {
        let (machine, machine_digits) = run_machine(&c, &keys);
        let (model, model_digits) = run_model(&c, &keys);
        prop_assert_eq!(&machine, &model, "cfg {:?} keys {:?}", c, keys);
        prop_assert_eq!(&machine_digits, &model_digits);
    }

    #[test]
    fn saved_entries_respect_min_max_and_never_hold_the_terminator(c in cfg(), keys in script()) {
        let (log, digits) = run_machine(&c, &keys);
        let last = log.last().map(|l| l.1.clone()).unwrap_or_default();
        prop_assert!(last.starts_with("hangup "), "the call always ends: {:?}", log);
        if last != "hangup fail" {
            prop_assert!(digits.len() >= c.min as usize && digits.len() <= c.max as usize);
            prop_assert!(!(c.finish && digits.contains('#')));
        }
        let failures = log.iter().filter(|l| l.1 == "play invalid.wav" || l.1 == "play no_input.wav").count();
        prop_assert!(failures <= c.tries as usize);
        if last == "hangup fail" {
            prop_assert_eq!(failures, c.tries as usize, "on_fail only after every try failed");
        }
    }

    #[test]
    fn every_digit_during_a_prompt_barges_in(c in cfg(), keys in script()) {
        let (log, _) = run_machine(&c, &keys);
        // a stop is always at the time of a key, right after the playback it stops started
        for (t, line) in &log {
            if line == "stop" {
                prop_assert!(keys.iter().any(|k| k.0 == *t));
            }
        }
    }
}

#[test]
fn model_sanity_menu_digit_after_prompt() {
    let c = Cfg {
        min: 1,
        max: 1,
        finish: false,
        timeout: 5000,
        inter: 2000,
        tries: 3,
        prompt_len: 1000,
        feedback_len: 500,
        routes: Some(vec!["1".into()]),
    };
    let (log, digits) = run_model(&c, &[(1500, '1')]);
    assert_eq!(
        log,
        vec![
            (0, "play menu.wav".to_string()),
            (1500, "hangup r0".to_string())
        ]
    );
    assert_eq!(digits, "1");
    assert_eq!(run_machine(&c, &[(1500, '1')]).0, log);
}

/// Any input, including ids the machine never issued.
fn any_input() -> impl Strategy<Value = crate::machine::io::Input> {
    use crate::machine::io::{HttpReply, Input, RequestId};
    let id = (0u64..12).prop_map(RequestId);
    prop_oneof![
        Just(Input::Answered),
        prop::sample::select(Digit::ALL.to_vec())
            .prop_map(|c| Input::Dtmf(Digit::from_char(c).expect("a DTMF key"))),
        id.clone().prop_map(Input::PlaybackFinished),
        id.clone().prop_map(|id| Input::PlaybackFailed {
            id,
            reason: "x".into()
        }),
        Just(Input::Timeout),
        (id.clone(), 100u16..600).prop_map(|(id, status)| Input::HttpResponse {
            id,
            result: Ok(HttpReply {
                status,
                body: serde_json::json!({"temp": 40})
            }),
        }),
        id.clone().prop_map(|id| Input::Speech {
            id,
            result: Ok("yes".into())
        }),
        id.clone().prop_map(|id| Input::AgentEnded {
            id,
            result: Err("x".into())
        }),
        id.prop_map(|id| Input::TransferResult { id, result: Ok(()) }),
        Just(Input::Hangup),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Whatever arrives in whatever order, the machine never panics, never acts after its
    /// hangup, and an ended call has no timer.
    #[test]
    fn arbitrary_inputs_never_break_the_machine(
        inputs in proptest::collection::vec((any_input(), 0u64..3000), 0..60)
    ) {
        use crate::machine::io::Action;
        let mut b = Builder::new(&["a", "b"]);
        let routes = vec![("1".to_string(), b.t("g"))];
        let prompt = b.prompts(&["menu.wav"]);
        b.def("g", NodeKind::Gather(Box::new(Gather {
            prompt, min_digits: 1, max_digits: 2, finish_on: Digit::from_char('#'),
            timeout: Duration::from_secs(1), inter_digit_timeout: Duration::from_millis(500),
            tries: 2, invalid: vec![], no_input: vec![], routes, save: None, next: None,
            on_fail: None,
        })));
        b.key('*', Some(crate::flow::program::ThemeStep::Next), None);
        let mut call = crate::machine::Call::new(b.build("g"), CallInfo::default());
        let t0 = Instant::now();
        let mut now = t0;
        let mut ended = false;
        for (input, dt) in inputs {
            now += Duration::from_millis(dt);
            call.handle(input, now);
            while let Some(a) = call.poll_action() {
                prop_assert!(!ended, "an action after hangup: {:?}", a);
                if matches!(a, Action::Hangup { .. }) {
                    ended = true;
                }
            }
            prop_assert_eq!(ended, call.is_ended());
            if ended {
                prop_assert_eq!(call.poll_timeout(), None);
            }
        }
    }
}
