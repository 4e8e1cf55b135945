//! Simulated agent sessions: how a mocked conversation ends and what it reports.
//!
//! A mock (`agent: { node: { .. } }`) says how long the conversation lasts (`duration`, default
//! [`SESSION_LENGTH`](super::driver::SESSION_LENGTH)), and either an `error`, or which tool the
//! model calls at the end (`tool`, with `arguments`), or neither (the caller falls silent:
//! `ended_by: silence`). A `max_duration` shorter than the mock ends it there
//! (`ended_by: max_duration`). The saved value has the engine's shape — `{transcript, usage,
//! ended_by}` plus `intent`/`result` for a `goto` tool — with the mock's `result` object laid
//! over it (so `result: { intent: human }` still sets `vars.<save>.intent`).
//! A key with `dtmf: end` ends the session at once (`ended_by: dtmf`, `digit`).

use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::flow::agent::TRANSFER;
use crate::flow::digit::Digit;
use crate::machine::io::{AgentOutcome, AgentRequest, AgentThen, ToolKind};
use crate::sim::mocks::SessionMock;

/// When the mocked session ends (after its start) and how.
pub(super) fn mocked_end(
    mock: Option<&SessionMock>,
    req: &AgentRequest,
    default_length: Duration,
) -> (Duration, Result<AgentOutcome, String>) {
    let Some(m) = mock else {
        return (Duration::ZERO, Err("no mock".to_owned()));
    };
    if let Some(e) = &m.error {
        return (m.duration.map_or(Duration::ZERO, |d| d.0), Err(e.clone()));
    }
    let length = m.duration.map_or(default_length, |d| d.0);
    if let Some(max) = req.max_duration.filter(|max| *max < length) {
        let value = shape("max_duration", None, overlay(m));
        return (max, Ok(outcome(value, AgentThen::Next)));
    }
    let Some(tool) = &m.tool else {
        let value = shape("silence", None, overlay(m));
        return (length, Ok(outcome(value, AgentThen::Next)));
    };
    let Some((index, t)) = req.tools.iter().enumerate().find(|(_, t)| &t.name == tool) else {
        return (
            length,
            Err(format!(
                "the mock calls tool `{tool}`, which the node does not offer"
            )),
        );
    };
    let args = m.arguments.clone().unwrap_or_else(|| json!({}));
    let (ended_by, then) = match &t.kind {
        ToolKind::Goto => ("tool", AgentThen::Goto { tool: index }),
        ToolKind::EndCall => ("end_call", AgentThen::EndCall),
        ToolKind::Transfer { targets } => {
            let want = args.get("target").and_then(Value::as_str).unwrap_or("");
            match targets.iter().position(|n| n == want) {
                Some(target) => ("transfer", AgentThen::Transfer { target }),
                None => {
                    return (
                        length,
                        Err(format!("{TRANSFER}: `{want}` is not one of the node's targets")),
                    )
                }
            }
        }
        ToolKind::Webhook(_) => {
            return (
                length,
                Err(format!(
                    "tool `{tool}` is a webhook: the conversation goes on after it (mock a goto tool, end_call or transfer)"
                )),
            )
        }
    };
    let intent = matches!(then, AgentThen::Goto { .. }).then(|| (tool.clone(), args));
    let value = shape(ended_by, intent, overlay(m));
    (length, Ok(outcome(value, then)))
}

/// A `dtmf: end` key ends the session now.
pub(super) fn ended_by_key(digit: Digit) -> AgentOutcome {
    let mut value = shape("dtmf", None, Map::new());
    if let Value::Object(o) = &mut value {
        o.insert("digit".into(), Value::String(digit.to_string()));
    }
    outcome(value, AgentThen::Next)
}

fn outcome(result: Value, then: AgentThen) -> AgentOutcome {
    AgentOutcome { result, then }
}

fn overlay(m: &SessionMock) -> Map<String, Value> {
    match &m.result {
        Some(Value::Object(o)) => o.clone(),
        _ => Map::new(),
    }
}

/// The engine's result shape, with `extra` laid over it.
fn shape(ended_by: &str, intent: Option<(String, Value)>, extra: Map<String, Value>) -> Value {
    let mut o = Map::new();
    o.insert("transcript".into(), json!([]));
    if let Some((name, args)) = intent {
        o.insert("intent".into(), Value::String(name));
        o.insert("result".into(), args);
    }
    o.insert(
        "usage".into(),
        json!({"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}),
    );
    o.insert("ended_by".into(), Value::String(ended_by.into()));
    o.extend(extra);
    Value::Object(o)
}
