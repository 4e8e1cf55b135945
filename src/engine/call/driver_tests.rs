//! The call driver on virtual time: a compiled flow, scripted leg events and side-request
//! results, and the driver's outputs as short readable lines (`leg play 1 snd/a.wav`,
//! `start say 2`, `cancel 2`, `leg hangup`). No sockets, no tasks, no sleeping.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::engine::leg::LegEnd;
use crate::engine::media::DtmfMethod;
use crate::flow::compile::{compile, NoSubflows, SoundIndex};
use crate::flow::digit::Digit;
use crate::machine::io::HttpReply;

fn program(yaml: &str) -> Arc<Program> {
    let sounds = SoundIndex::new("snd", ["a.wav", "b.wav"].map(String::from));
    let c = compile(yaml, Path::new("t.yaml"), &sounds, &NoSubflows);
    let errors: Vec<_> = c
        .diagnostics
        .iter()
        .filter(|d| d.severity == crate::flow::diag::Severity::Error)
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    Arc::new(c.program.expect("a program"))
}

/// A driver on a virtual clock, with every output formatted.
struct Script {
    d: CallDriver,
    t0: Instant,
    now: Instant,
    out: Vec<String>,
}

impl Script {
    fn new(yaml: &str) -> Script {
        let info = CallInfo {
            id: "call-1".into(),
            from: "+3545551234".into(),
            to: "5000".into(),
            ..CallInfo::default()
        };
        let t0 = Instant::now();
        Script {
            d: CallDriver::new(
                program(yaml),
                info,
                Arc::new(TransferPolicy::unconfigured()),
            ),
            t0,
            now: t0,
            out: Vec::new(),
        }
    }

    fn input(&mut self, i: DriverInput) {
        self.d.handle(i, self.now);
        while let Some(o) = self.d.poll_output() {
            self.out.push(format(&o));
        }
    }

    fn leg(&mut self, ev: LegEvent) {
        self.input(DriverInput::Leg(ev));
    }

    fn done(&mut self, done: Done) {
        self.input(DriverInput::Done(done));
    }

    /// Moves the clock to `t0 + ms`, firing every timeout due on the way.
    fn at(&mut self, ms: u64) {
        let until = self.t0 + Duration::from_millis(ms);
        while let Some(t) = self.d.poll_timeout().filter(|t| *t <= until) {
            self.now = t.max(self.now);
            self.input(DriverInput::Timeout);
        }
        self.now = until;
    }

    /// The outputs since the last call, without `view` lines.
    fn take(&mut self) -> Vec<String> {
        std::mem::take(&mut self.out)
            .into_iter()
            .filter(|l| !l.starts_with("view"))
            .collect()
    }
}

fn format(o: &DriverOutput) -> String {
    match o {
        DriverOutput::Leg(LegCmd::Play { id, media }) => match media {
            Media::File(p) => format!("leg play {} {}", id.0, p.display()),
            Media::Url(u) => format!("leg play {} {u}", id.0),
        },
        DriverOutput::Leg(LegCmd::Stop { id }) => format!("leg stop {}", id.0),
        DriverOutput::Leg(LegCmd::Transfer { id, target }) => {
            format!("leg transfer {} {target}", id.0)
        }
        DriverOutput::Leg(LegCmd::Hangup) => "leg hangup".into(),
        DriverOutput::Leg(other) => format!("leg {other:?}"),
        DriverOutput::Start(r) => format!("start {} {}", r.kind(), r.id().0),
        DriverOutput::Cancel(id) => format!("cancel {}", id.0),
        DriverOutput::Control(id, c) => format!("control {} {c:?}", id.0),
        DriverOutput::View { node, theme } => format!("view {node} {theme}"),
        DriverOutput::Prepare(a) => format!(
            "prepare agent {}",
            a.instructions.as_deref().unwrap_or_default()
        ),
        DriverOutput::Mark(m) => format!("mark {}", m.as_str()),
    }
}

fn dtmf(c: char) -> LegEvent {
    LegEvent::Dtmf {
        digit: Digit::from_char(c).expect("digit"),
        method: DtmfMethod::Rfc4733,
    }
}

const TRANSFER: &str = "name: t\nstart: xfer\nnodes:\n  xfer: { transfer: \"sip:op@pbx\", on_fail: sorry }\n  sorry: { play: a.wav, next: end }\n  end: { hangup: {} }\n";

#[test]
fn a_transfer_without_an_outcome_fails_at_the_deadline_and_takes_on_fail() {
    let mut s = Script::new(TRANSFER);
    s.leg(LegEvent::Answered);
    assert_eq!(s.take(), ["leg transfer 1 sip:op@pbx"]);
    assert_eq!(s.d.poll_timeout(), Some(s.t0 + TRANSFER_TIMEOUT));
    s.at(59_999);
    assert!(s.take().is_empty(), "still waiting");
    s.at(60_000);
    assert_eq!(s.take(), ["leg play 2 snd/a.wav"]);
    // The NOTIFY that finally arrives is too late and changes nothing.
    s.leg(LegEvent::TransferResult {
        id: RequestId(1),
        result: Ok(()),
    });
    assert!(s.take().is_empty());
    s.leg(LegEvent::PlaybackFinished(RequestId(2)));
    assert_eq!(s.take(), ["leg hangup"]);
    assert!(s.d.is_ended());
}

#[test]
fn a_transfer_outcome_in_time_disarms_the_deadline() {
    let mut s = Script::new(TRANSFER);
    s.leg(LegEvent::Answered);
    s.take();
    s.at(2_000);
    s.leg(LegEvent::TransferResult {
        id: RequestId(1),
        result: Err("486 Busy Here".into()),
    });
    assert_eq!(s.take(), ["leg play 2 snd/a.wav"]);
    assert_eq!(s.d.poll_timeout(), None, "no transfer deadline left");
    // Success instead: the flow ends without hanging up twice.
    let mut s = Script::new(TRANSFER);
    s.leg(LegEvent::Answered);
    s.take();
    s.leg(LegEvent::TransferResult {
        id: RequestId(1),
        result: Ok(()),
    });
    assert_eq!(s.take(), ["leg hangup"]);
    assert!(s.d.is_ended());
}

const SAY: &str = "name: t\nkeys:\n  \"#\": { goto: menu }\nstart: greet\nnodes:\n  greet: { say: \"Hello\", next: menu }\n  menu: { play: b.wav, next: end }\n  end: { hangup: {} }\n";

#[test]
fn a_speech_file_that_arrives_after_barge_in_is_dropped() {
    let mut s = Script::new(SAY);
    s.leg(LegEvent::Answered);
    assert_eq!(s.take(), ["start say 1"]);
    s.leg(dtmf('#'));
    assert_eq!(s.take(), ["cancel 1", "leg play 2 snd/b.wav"]);
    s.done(Done::Tts {
        id: RequestId(1),
        result: Ok(PathBuf::from("/tmp/hello.wav")),
    });
    assert!(s.take().is_empty(), "the late speech is never played");
    assert_eq!(s.d.inflight(), 1, "only the menu prompt");
}

#[test]
fn a_speech_file_becomes_a_prompt_and_a_failed_one_moves_on() {
    let mut s = Script::new(SAY);
    s.leg(LegEvent::Answered);
    s.take();
    s.done(Done::Tts {
        id: RequestId(1),
        result: Ok(PathBuf::from("/tmp/hello.wav")),
    });
    assert_eq!(s.take(), ["leg play 1 /tmp/hello.wav"]);
    s.leg(LegEvent::PlaybackFinished(RequestId(1)));
    assert_eq!(s.take(), ["leg play 2 snd/b.wav"]);

    let mut s = Script::new(SAY);
    s.leg(LegEvent::Answered);
    s.take();
    s.done(Done::Tts {
        id: RequestId(1),
        result: Err("espeak-ng is not installed".into()),
    });
    assert_eq!(s.take(), ["leg play 2 snd/b.wav"]);
}

#[test]
fn a_streamed_say_moves_on_when_played_and_a_key_cancels_it() {
    // Played through the call's audio by a remote engine: no file to play afterwards.
    let mut s = Script::new(SAY);
    s.leg(LegEvent::Answered);
    s.take();
    s.done(Done::Spoken {
        id: RequestId(1),
        result: Ok(()),
    });
    assert_eq!(s.take(), ["leg play 2 snd/b.wav"]);
    // A failure mid-stream moves on like a failed synthesis.
    let mut s = Script::new(SAY);
    s.leg(LegEvent::Answered);
    s.take();
    s.done(Done::Spoken {
        id: RequestId(1),
        result: Err("the call's audio went away".into()),
    });
    assert_eq!(s.take(), ["leg play 2 snd/b.wav"]);
    // A global key while it streams: the task is cancelled, a late result is dropped.
    let mut s = Script::new(SAY);
    s.leg(LegEvent::Answered);
    s.take();
    s.leg(dtmf('#'));
    assert_eq!(s.take(), ["cancel 1", "leg play 2 snd/b.wav"]);
    s.done(Done::Spoken {
        id: RequestId(1),
        result: Ok(()),
    });
    assert!(s.take().is_empty(), "the menu keeps playing");
}

#[test]
fn a_prompt_event_after_barge_in_is_dropped() {
    let yaml = "name: t\nkeys:\n  \"#\": { goto: b }\nstart: a\nnodes:\n  a: { play: a.wav, next: end }\n  b: { play: b.wav, next: end }\n  end: { hangup: {} }\n";
    let mut s = Script::new(yaml);
    s.leg(LegEvent::Answered);
    assert_eq!(s.take(), ["leg play 1 snd/a.wav"]);
    s.leg(dtmf('#'));
    assert_eq!(s.take(), ["leg stop 1", "leg play 2 snd/b.wav"]);
    // The leg's finish for the stopped prompt crossed the stop.
    s.leg(LegEvent::PlaybackFinished(RequestId(1)));
    assert!(s.take().is_empty(), "b keeps playing");
    s.leg(LegEvent::PlaybackFinished(RequestId(2)));
    assert_eq!(s.take(), ["leg hangup"]);
}

const HTTP: &str = "name: t\nstart: ask\nnodes:\n  ask:\n    http: { url: \"http://crm/x\", timeout: 2s }\n    on_success: yes\n    on_error: no\n  yes: { play: a.wav, next: end }\n  no: { play: b.wav, next: end }\n  end: { hangup: {} }\n";

#[test]
fn a_webhook_answer_after_its_deadline_is_dropped() {
    let mut s = Script::new(HTTP);
    s.leg(LegEvent::Answered);
    assert_eq!(s.take(), ["start http 1"]);
    s.at(2_000);
    assert_eq!(s.take(), ["cancel 1", "leg play 2 snd/b.wav"]);
    s.done(Done::Http {
        id: RequestId(1),
        result: Ok(HttpReply {
            status: 200,
            body: serde_json::Value::Null,
        }),
    });
    assert!(s.take().is_empty(), "on_error was already taken");
}

#[test]
fn a_lost_media_session_ends_the_flow_and_late_results_are_dropped() {
    let mut s = Script::new(HTTP);
    s.leg(LegEvent::Answered);
    s.take();
    s.leg(LegEvent::Ended(LegEnd::MediaLost));
    assert_eq!(
        s.take(),
        ["cancel 1"],
        "the leg hung up itself: no second hangup"
    );
    assert!(s.d.is_ended());
    assert_eq!(s.d.poll_timeout(), None);
    s.done(Done::Http {
        id: RequestId(1),
        result: Err("timeout".into()),
    });
    assert!(s.take().is_empty());
}

#[test]
fn nothing_reaches_the_flow_before_the_leg_is_answered() {
    let mut s = Script::new(SAY);
    s.leg(dtmf('#'));
    s.at(10_000);
    assert!(s.take().is_empty());
    assert!(!s.d.is_ended());
    // The leg ends before the answer: the call is over without the flow ever starting.
    s.leg(LegEvent::Ended(LegEnd::Remote));
    assert!(s.take().is_empty());
    assert!(s.d.is_ended());
}

#[test]
fn the_drain_hangs_the_leg_up_and_ends_the_flow() {
    let mut s = Script::new(SAY);
    s.leg(LegEvent::Answered);
    s.take();
    s.input(DriverInput::Drain);
    assert_eq!(s.take(), ["leg hangup", "cancel 1"]);
    assert!(s.d.is_ended());
}

#[test]
fn the_view_follows_the_node_and_is_sent_only_when_it_changes() {
    let mut s = Script::new(SAY);
    s.leg(LegEvent::Answered);
    s.done(Done::Http {
        id: RequestId(99),
        result: Err("late".into()),
    });
    let views: Vec<_> = s.out.iter().filter(|l| l.starts_with("view")).collect();
    assert_eq!(views, ["view greet "]);
    s.leg(dtmf('#'));
    assert!(s.out.iter().any(|l| l == "view menu "));
}

#[test]
fn a_machine_bug_hangs_the_call_up_instead_of_leaving_it_waiting() {
    let yaml = "name: t\nstart: menu\nnodes:\n  menu:\n    gather: { prompt: a.wav }\n    routes: { \"1\": end }\n  end: { hangup: {} }\n";
    let mut s = Script::new(yaml);
    s.leg(LegEvent::Answered);
    assert_eq!(s.take(), ["leg play 1 snd/a.wav"]);
    // Break the machine's invariant: a gather state on a node that is not a gather.
    let end = s.d.machine.program().node_by_name("end").expect("end");
    s.d.machine.force_gathering(end);
    s.leg(dtmf('1'));
    assert_eq!(s.take(), ["leg hangup"]);
    assert!(s.d.is_ended());
    assert_eq!(s.d.poll_timeout(), None);
    s.leg(dtmf('1'));
    assert!(s.take().is_empty(), "nothing reaches a broken machine");
}

#[test]
fn a_templated_transfer_without_an_allow_list_is_refused_and_takes_on_fail() {
    let yaml = "name: t\nstart: xfer\nnodes:\n  xfer: { transfer: \"sip:{{ call.from }}@pbx\", on_fail: sorry }\n  sorry: { play: a.wav, next: end }\n  end: { hangup: {} }\n";
    let mut s = Script::new(yaml);
    s.leg(LegEvent::Answered);
    assert_eq!(s.take(), ["leg play 2 snd/a.wav"], "no REFER went out");
    assert_eq!(s.d.poll_timeout(), None, "no transfer deadline");
}

const BOT: &str = "name: b\nstart: bot\nnodes:\n  bot: { stream: { url: \"ws://127.0.0.1:9/bot\", protocol: ringover }, on_error: sorry, next: end }\n  sorry: { play: a.wav, next: end }\n  end: { hangup: {} }\n";

#[test]
fn a_bot_hears_the_callers_keys_and_its_keys_reach_the_leg_while_it_runs() {
    let mut s = Script::new(BOT);
    s.leg(LegEvent::Answered);
    assert_eq!(s.take(), ["start stream 1"]);
    s.leg(dtmf('7'));
    assert_eq!(s.take(), ["control 1 Dtmf(Digit(7))"]);
    let nine = Digit::from_char('9').unwrap();
    s.input(DriverInput::Ask(RequestId(1), Ask::SendDtmf(nine)));
    assert_eq!(s.take(), ["leg SendDtmf(Digit(9))"]);
    // An ask from a request no longer in flight is dropped.
    s.input(DriverInput::Ask(RequestId(9), Ask::SendDtmf(nine)));
    assert!(s.take().is_empty());
    s.done(Done::Stream {
        id: RequestId(1),
        result: Ok(serde_json::json!({})),
    });
    assert_eq!(s.take(), ["leg hangup"]);
    s.input(DriverInput::Ask(RequestId(1), Ask::SendDtmf(nine)));
    assert!(s.take().is_empty(), "late ask");
}

#[test]
fn a_bots_transfer_goes_through_the_allow_list_as_a_dynamic_target() {
    let mut s = Script::new(BOT);
    s.leg(LegEvent::Answered);
    let _ = s.take();
    s.done(Done::StreamTransfer {
        id: RequestId(1),
        target: "tel:+15550009".into(),
    });
    // No transfer.allow: a target chosen by a bot is refused, and the flow takes on_error.
    assert_eq!(s.take(), ["leg play 3 snd/a.wav"]);

    let info = CallInfo {
        id: "call-2".into(),
        ..CallInfo::default()
    };
    let policy = TransferPolicy::new(&["tel:+1555*"]).unwrap();
    let mut d = CallDriver::new(program(BOT), info, Arc::new(policy));
    let now = Instant::now();
    d.handle(DriverInput::Leg(LegEvent::Answered), now);
    d.handle(
        DriverInput::Done(Done::StreamTransfer {
            id: RequestId(1),
            target: "tel:+15550009".into(),
        }),
        now,
    );
    let outs: Vec<String> = std::iter::from_fn(|| d.poll_output())
        .map(|o| format(&o))
        .filter(|l| !l.starts_with("view"))
        .collect();
    assert_eq!(outs, ["start stream 1", "leg transfer 2 tel:+15550009"]);
}

const AGENT: &str = "name: t\nstart: intro\nnodes:\n  intro: { play: a.wav, next: bot }\n  bot:\n    agent:\n      instructions: \"Help {{ call.from }}.\"\n      dtmf: send\n      tools:\n        - { builtin: transfer, targets: { desk: \"sip:100@pbx\" } }\n    next: end\n    on_error: end\n  end: { play: b.wav, next: bye }\n  bye: { hangup: {} }\n";

#[test]
fn an_agent_is_prepared_before_answer_and_during_the_play_before_it() {
    let mut s = Script::new(AGENT);
    s.d.prepare_at_start();
    s.input(DriverInput::Timeout);
    assert_eq!(s.take(), ["prepare agent Help +3545551234."]);
    s.leg(LegEvent::Answered);
    assert_eq!(
        s.take(),
        ["leg play 1 snd/a.wav", "prepare agent Help +3545551234."]
    );
    s.leg(LegEvent::PlaybackFinished(RequestId(1)));
    assert_eq!(s.take(), ["start agent 2"]);
    // Keys go to the running agent as controls.
    s.leg(dtmf('5'));
    assert_eq!(s.take(), ["control 2 Dtmf(Digit(5))"]);
}

#[test]
fn an_agents_transfer_goes_to_the_leg_and_a_late_outcome_is_dropped() {
    use crate::machine::io::{AgentOutcome, AgentThen};
    let mut s = Script::new(AGENT);
    s.leg(LegEvent::Answered);
    s.leg(LegEvent::PlaybackFinished(RequestId(1)));
    s.take();
    let outcome = |then| AgentOutcome {
        result: serde_json::json!({"ended_by": "transfer"}),
        then,
    };
    s.done(Done::Agent {
        id: RequestId(2),
        result: Ok(outcome(AgentThen::Transfer { target: 0 })),
    });
    assert_eq!(s.take(), ["leg transfer 3 sip:100@pbx"]);
    s.done(Done::Agent {
        id: RequestId(2),
        result: Ok(outcome(AgentThen::EndCall)),
    });
    assert!(s.take().is_empty(), "the session already ended");
    s.leg(LegEvent::TransferResult {
        id: RequestId(3),
        result: Ok(()),
    });
    assert_eq!(s.take(), ["leg hangup"]);
}

#[test]
fn the_call_s_story_names_every_node_entered_routing_nodes_too_in_order() {
    let flow = r#"
name: r
start: count
nodes:
  count: { set: { n: 1 }, next: triage }
  triage:
    switch:
      - { when: "vars.n > 5", goto: bye }
      - { goto: hop }
  hop: { goto: greet }
  greet: { play: a.wav, next: bye }
  bye: { hangup: {} }
"#;
    let mut s = Script::new(flow);
    s.leg(LegEvent::Answered);
    // The key interrupts the prompt (barge-in): `stop`, then on to `bye`.
    s.leg(dtmf('5'));
    let story: Vec<String> = std::iter::from_fn(|| s.d.poll_event())
        .map(|e| match e.kind {
            crate::sim::event::EventKind::Node { node } => format!("node {node}"),
            k => k.name().to_string(),
        })
        .collect();
    assert_eq!(
        story,
        [
            "answer",
            "node count",
            "node triage",
            "node hop",
            "node greet",
            "play",
            "dtmf",
            "stop",
            "node bye",
            "hangup"
        ]
    );
    assert!(s.d.poll_event().is_none(), "each event is handed out once");
}

#[test]
fn an_ack_node_reaches_the_pump_as_a_mark_and_the_flow_goes_on() {
    let mut s = Script::new(
        "name: t\nstart: a\nnodes:\n  a: { ack: {}, next: h }\n  h: { ack: { as: heard }, next: p }\n  p: { play: a.wav, next: end }\n  end: { hangup: {} }\n",
    );
    s.leg(LegEvent::Answered);
    assert_eq!(
        s.take(),
        ["mark acknowledged", "mark heard", "leg play 1 snd/a.wav"]
    );
}
