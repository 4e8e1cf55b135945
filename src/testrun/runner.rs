//! Running one test case: a scripted caller against a [`Sim`], step by step.
//!
//! `expect` advances virtual time until a matching event appears (skipping others) and fails if
//! the call ends first or `within` (default 120 s) passes; the current time becomes that event's
//! time and the next `expect` searches the events after it. `dtmf` queues keys at the current
//! time (100 ms apart), `speech` and `hangup` act at the current time, `wait` advances the clock.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::flow::program::Program;
use crate::sim::event::Event;
use crate::sim::lengths::PromptLengths;
use crate::sim::script::{CallerInput, KEY_GAP};
use crate::sim::{call_info, Sim, DEFAULT_FROM};
use crate::testrun::expect::Expectation;
use crate::testrun::file::{Step, TestCase, TestFile};

/// Matched events shown before the searched ones in a failure.
const CONTEXT_EVENTS: usize = 5;

/// Why a case failed, with what the call did.
#[derive(Debug, Clone)]
pub struct Failure {
    /// 1-based index of the failing step.
    pub step: usize,
    pub expected: Expectation,
    /// "the call ended first" or "not seen within 120s".
    pub why: String,
    /// Every event of the call so far.
    pub events: Vec<Event>,
    /// Index of the first event the failing `expect` searched.
    pub searched_from: usize,
}

/// Runs `case` of `file` against `program`.
pub fn run_case<L: PromptLengths>(
    program: &Arc<Program>,
    file: &TestFile,
    case: &TestCase,
    lengths: L,
) -> Result<(), Box<Failure>> {
    let info = call_info(
        program,
        "test-call",
        case.from.as_deref().unwrap_or(DEFAULT_FROM),
        case.to.as_deref(),
        |name| file.env.get(name).cloned(),
    );
    let mut sim = Sim::new(
        Arc::clone(program),
        info,
        lengths,
        case.mocks.clone(),
        Instant::now(),
    );
    sim.answer();
    let mut cursor = 0;
    for (i, step) in case.steps.iter().enumerate() {
        let now = sim.now();
        match step {
            Step::Expect(e) => match expect(&mut sim, e, cursor) {
                Ok(next) => cursor = next,
                Err(why) => {
                    return Err(Box::new(Failure {
                        step: i + 1,
                        expected: e.clone(),
                        why,
                        events: sim.events().to_vec(),
                        searched_from: cursor,
                    }))
                }
            },
            Step::Dtmf(keys) => {
                for (k, d) in keys.iter().enumerate() {
                    sim.schedule(now + KEY_GAP * k as u32, CallerInput::Dtmf(*d));
                }
            }
            Step::Speech(text) => sim.schedule(now, CallerInput::Speech(text.clone())),
            Step::Hangup => sim.schedule(now, CallerInput::Hangup),
            Step::Wait(d) => sim.run_until(now + *d),
        }
    }
    Ok(())
}

/// Steps the call until an event from `cursor` on matches; returns the index after it.
fn expect<L: PromptLengths>(
    sim: &mut Sim<L>,
    e: &Expectation,
    cursor: usize,
) -> Result<usize, String> {
    let deadline = sim.now() + e.within();
    let mut from = cursor;
    loop {
        if let Some(i) = sim.events()[from..].iter().position(|ev| e.matches(ev)) {
            return Ok(from + i + 1);
        }
        from = sim.events().len();
        match sim.next_due() {
            None => return Err("the call ended first".into()),
            Some(t) if t <= deadline => {
                sim.step();
            }
            Some(_) => {
                sim.run_until(deadline);
                return Err(format!("not seen within {}", show(e.within())));
            }
        }
    }
}

impl Failure {
    /// The failure as a runner prints it: the step, why, and expected vs. actual events.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "  step {}: expect {}", self.step, self.expected);
        let _ = writeln!(out, "  {}", self.why);
        let _ = writeln!(out, "  --- expected");
        let _ = writeln!(out, "  +++ actual (events searched)");
        let context = self.searched_from.saturating_sub(CONTEXT_EVENTS);
        if context > 0 {
            let _ = writeln!(out, "    ... {context} earlier events");
        }
        for e in &self.events[context..self.searched_from] {
            let _ = writeln!(out, "    {}", e.to_json_line());
        }
        let _ = writeln!(out, "  - {}", self.expected);
        for e in &self.events[self.searched_from..] {
            let _ = writeln!(out, "  + {}", e.to_json_line());
        }
        if self.searched_from == self.events.len() {
            let _ = writeln!(out, "  + (no events)");
        }
        out
    }
}

fn show(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}
