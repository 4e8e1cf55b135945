//! The built-in message flow behind `POST /api/calls {"message": …}`: speak the text
//! (`repeat` times), mark the call `heard`, say "press <key> to acknowledge", and on that key
//! mark it `acknowledged`, thank and hang up; without the key the whole round is repeated up
//! to three times, then the call hangs up `unacknowledged`.
//!
//! It is an ordinary flow, written as YAML and compiled by the flow compiler, so it runs on the
//! same call machine (and in `simulate`) as any other. The message text is never part of the
//! YAML: it reaches the call as the variable `message` and is spoken through
//! `{{ vars.message }}`, so text from an alert cannot change the flow. The key is a validated
//! DTMF key. One program per key, compiled once.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use crate::flow::compile::{compile, NoSubflows, SoundIndex};
use crate::flow::digit::Digit;
use crate::flow::program::Program;

/// The flow's name (shown in the register and the dashboard).
pub const NAME: &str = "message";

/// How many times the whole message + prompt round is played without the key.
pub const ROUNDS: u32 = 3;

/// The compiled message flow for `ack_key` with the text said `repeat` (1-5) times.
pub fn program(ack_key: Digit, repeat: u8) -> Arc<Program> {
    static CACHE: OnceLock<Vec<OnceLock<Arc<Program>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| (0..16 * 5).map(|_| OnceLock::new()).collect());
    let repeat = repeat.clamp(1, 5);
    let slot = usize::from(ack_key.event_code()) * 5 + usize::from(repeat - 1);
    Arc::clone(cache[slot].get_or_init(|| {
        let text = yaml(ack_key, repeat);
        let compiled = compile(
            &text,
            Path::new("builtin/message.yaml"),
            &SoundIndex::new("sound", []),
            &NoSubflows,
        );
        Arc::new(
            compiled
                .program
                .expect("the built-in message flow compiles (tested for every key)"),
        )
    }))
}

/// How a key is spoken.
fn spoken(key: Digit) -> String {
    match key.as_char() {
        '*' => "star".into(),
        '#' => "the pound key".into(),
        c => c.to_string(),
    }
}

/// The flow text (no user-supplied text in it: the key is one of sixteen characters).
pub fn yaml(ack_key: Digit, repeat: u8) -> String {
    let key = ack_key.as_char();
    let mut nodes = String::new();
    for i in 0..repeat {
        let next = if i + 1 == repeat {
            "heard".to_string()
        } else {
            format!("say{}", i + 1)
        };
        nodes.push_str(&format!(
            "  say{i}: {{ say: \"{{{{ vars.message }}}}\", next: {next} }}\n"
        ));
    }
    format!(
        "name: {NAME}\n\
         vars: {{ message: \"\", rounds: 0 }}\n\
         start: say0\n\
         nodes:\n\
         {nodes}\
         \x20 heard: {{ ack: {{ as: heard }}, next: prompt }}\n\
         \x20 prompt: {{ say: \"Press {spoken} to acknowledge.\", next: wait }}\n\
         \x20 wait:\n\
         \x20   gather: {{ timeout: 6s, tries: 1 }}\n\
         \x20   routes: {{ \"{key}\": acked }}\n\
         \x20   on_fail: count\n\
         \x20 count: {{ set: {{ rounds: \"{{{{ vars.rounds + 1 }}}}\" }}, next: again }}\n\
         \x20 again:\n\
         \x20   switch:\n\
         \x20     - {{ when: \"vars.rounds < {ROUNDS}\", goto: say0 }}\n\
         \x20     - {{ goto: unacked }}\n\
         \x20 acked: {{ ack: {{}}, next: thanks }}\n\
         \x20 thanks: {{ say: \"Thank you. The message is acknowledged. Goodbye.\", next: bye }}\n\
         \x20 bye: {{ hangup: {{}} }}\n\
         \x20 unacked: {{ hangup: {{ reason: unacknowledged }} }}\n",
        spoken = spoken(ack_key),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::machine::io::{CallInfo, Direction};
    use crate::sim::lengths::{tts_length, FixedLengths};
    use crate::sim::mocks::Mocks;
    use crate::sim::script::{CallerInput, Scheduled};
    use crate::sim::Sim;

    fn info(text: &str) -> CallInfo {
        CallInfo {
            id: "job-1/1".into(),
            from: "alerts".into(),
            to: "+4930123".into(),
            direction: Direction::Outbound,
            vars: BTreeMap::from([("message".to_string(), serde_json::json!(text))]),
            ..CallInfo::default()
        }
    }

    fn run(key: char, script: Vec<Scheduled>) -> Vec<String> {
        let p = program(Digit::from_char(key).expect("key"), 2);
        let sim = Sim::new(
            p,
            info("Disk {{ full }} on db1"),
            FixedLengths::default(),
            Mocks::default(),
            Instant::now(),
        );
        sim.run_script(script)
            .into_iter()
            .map(|e| {
                let v = serde_json::to_value(&e).expect("event json");
                let kind = v["event"].as_str().unwrap_or("?").to_string();
                match kind.as_str() {
                    "say" => format!("say {}", v["text"].as_str().unwrap_or("")),
                    "mark" => format!("mark {}", v["mark"].as_str().unwrap_or("")),
                    "hangup" => format!("hangup {}", v["reason"].as_str().unwrap_or("")),
                    "dtmf" => format!("dtmf {}", v["digit"].as_str().unwrap_or("")),
                    other => other.to_string(),
                }
            })
            .collect()
    }

    #[test]
    fn every_key_and_repeat_compiles() {
        for c in Digit::ALL {
            for repeat in 1..=5 {
                let d = Digit::from_char(c).expect("key");
                assert_eq!(program(d, repeat).name, NAME);
            }
        }
    }

    #[test]
    fn pressing_the_key_after_the_prompt_acknowledges() {
        // Message 2× then the prompt; the key comes a second after they finished.
        let after_prompt = tts_length("Disk {{ full }} on db1") * 2
            + tts_length("Press 1 to acknowledge.")
            + Duration::from_secs(1);
        let events = run(
            '1',
            vec![Scheduled {
                at: after_prompt,
                input: CallerInput::Dtmf(Digit::from_char('1').expect("1")),
            }],
        );
        let text = "say Disk {{ full }} on db1";
        assert_eq!(
            events,
            [
                "answer",
                text,
                text,
                "mark heard",
                "say Press 1 to acknowledge.",
                "dtmf 1",
                "mark acknowledged",
                "say Thank you. The message is acknowledged. Goodbye.",
                "hangup flow"
            ],
            "the text is spoken as given, never as a template"
        );
    }

    #[test]
    fn without_the_key_three_rounds_then_unacknowledged() {
        let events = run('#', Vec::new());
        assert_eq!(events.iter().filter(|e| *e == "mark heard").count(), 3);
        assert!(events.contains(&"say Press the pound key to acknowledge.".to_string()));
        assert!(!events.iter().any(|e| e == "mark acknowledged"));
        assert_eq!(
            events.last().map(String::as_str),
            Some("hangup unacknowledged")
        );
    }

    #[test]
    fn a_wrong_key_is_not_an_acknowledgement() {
        let events = run(
            '5',
            vec![Scheduled {
                at: tts_length("Disk {{ full }} on db1") * 2 + Duration::from_secs(3),
                input: CallerInput::Dtmf(Digit::from_char('1').expect("1")),
            }],
        );
        assert!(!events.iter().any(|e| e == "mark acknowledged"));
        assert_eq!(
            events.last().map(String::as_str),
            Some("hangup unacknowledged")
        );
    }
}
