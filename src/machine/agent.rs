//! The `agent` node on the flow side: what the machine asks of the engine and what it does with
//! the outcome. The conversation itself (audio, turns, tools that answer the model) runs in the
//! engine; the machine only starts it, forwards keys, and routes on how it ended.
//!
//! - Entering renders the request ([`AgentRequest`]: instructions, greeting, webhook urls and
//!   headers; defaults stay `None` for the engine to fill) and arms a backstop deadline at
//!   `max_duration` + [`BACKSTOP`]: the engine ends the session itself at `max_duration` with its
//!   transcript (`ended_by: max_duration`); the backstop only fires if it does not.
//! - A play or say whose `next` is an agent node emits [`Action::PrepareAgent`] with the same
//!   request, so the engine can connect while the prompt plays.
//! - Keys: global keys work as everywhere; other keys go to the session ([`Action::AgentDtmf`])
//!   when the node's `dtmf` is `send` or `end`, and are dropped when it is `ignore`.
//! - The outcome is saved under `save` and routed: `next`, a `goto` tool's node, `end_call`
//!   (the call ends, reason `end_call`), or `transfer` to the chosen target (its URI template is
//!   rendered now; a failed transfer takes `on_error`, else `next`). An error takes `on_error`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use minijinja::value::Serde;
use minijinja::Value;

use crate::flow::digit::Digit;
use crate::flow::program::{
    Agent, AgentDtmf, NodeId, NodeKind, Program, Target, ToolAction, Webhook,
};
use crate::machine::call::{describe, Call, State, Step};
use crate::machine::io::{
    Action, AgentOutcome, AgentRequest, AgentThen, HangupReason, RequestId, ToolKind, ToolRequest,
    WebhookRequest,
};
use crate::machine::session::Session;
use crate::machine::timers::Timer;

/// How long after `max_duration` the machine gives up on an engine that did not end the session.
pub const BACKSTOP: Duration = Duration::from_secs(5);

impl Call {
    pub(super) fn enter_agent(&mut self, node: NodeId, cfg: &Agent, now: Instant) -> Step {
        let request = match self.agent_request(cfg) {
            Ok(r) => r,
            Err(e) => {
                self.warn(node, e);
                return Step::Goto(cfg.on_error.unwrap_or(cfg.next));
            }
        };
        let id = self.request_id();
        self.push(Action::Agent {
            id,
            agent: Box::new(request),
        });
        if let Some(max) = cfg.max_duration {
            self.timers
                .set(Timer::SessionDeadline, now + max + BACKSTOP);
        }
        self.state = State::InSession(Session { node, id });
        Step::Wait
    }

    /// After entering a play or say node: if its `next` is an agent node, ask the engine to
    /// prepare that session.
    pub(super) fn prepare_next_agent(&mut self, program: &Program, next: Target) {
        let Target::Node(n) = next else { return };
        if let NodeKind::Agent(cfg) = &program.node(n).kind {
            // A template that cannot be rendered yet is no reason to warn: entering will.
            if let Ok(request) = self.agent_request(cfg) {
                self.push(Action::PrepareAgent {
                    agent: Box::new(request),
                });
            }
        }
    }

    /// Before the call is answered: the agent session the flow needs first, when its start node
    /// is an agent, or a play or say whose `next` is one (the driver can connect while the call
    /// rings and is answered).
    pub fn agent_at_start(&self) -> Option<AgentRequest> {
        let program = &self.program;
        let first = match &program.node(program.start).kind {
            NodeKind::Agent(_) => program.start,
            NodeKind::Play(p) => match p.next {
                Target::Node(n) => n,
                Target::Return => return None,
            },
            NodeKind::Say(s) => match s.next {
                Target::Node(n) => n,
                Target::Return => return None,
            },
            _ => return None,
        };
        match &program.node(first).kind {
            NodeKind::Agent(cfg) => self.agent_request(cfg).ok(),
            _ => None,
        }
    }

    /// A key during a session (global keys were handled before): an agent's whose `dtmf` is
    /// not `ignore` gets it, and a stream's bot always hears it.
    pub(super) fn session_digit(&mut self, s: Session, d: Digit) -> Step {
        match &self.program.node(s.node).kind {
            NodeKind::Agent(a) if a.dtmf != AgentDtmf::Ignore => {
                self.push(Action::AgentDtmf { id: s.id, digit: d });
            }
            NodeKind::Stream(_) => self.push(Action::StreamDtmf { id: s.id, digit: d }),
            _ => {}
        }
        self.state = State::InSession(s);
        Step::Wait
    }

    pub(super) fn on_agent_end(
        &mut self,
        id: RequestId,
        result: Result<AgentOutcome, String>,
    ) -> Step {
        let s = match std::mem::replace(&mut self.state, State::Idle) {
            State::InSession(s) if s.id == id => s,
            other => {
                self.state = other;
                return Step::Wait;
            }
        };
        self.timers.stop(Timer::SessionDeadline);
        let program = Arc::clone(&self.program);
        let NodeKind::Agent(a) = &program.node(s.node).kind else {
            // A stream session got an agent's input: the driver mixed them up; ignore it.
            self.state = State::InSession(s);
            return Step::Wait;
        };
        let outcome = match result {
            Ok(o) => o,
            Err(e) => {
                self.warn(s.node, format!("session ended with an error: {e}"));
                return Step::Goto(a.on_error.unwrap_or(a.next));
            }
        };
        if let Some(name) = &a.save {
            self.vars
                .insert(name.clone(), Value::from(Serde(&outcome.result)));
        }
        match outcome.then {
            AgentThen::Next => Step::Goto(a.next),
            AgentThen::EndCall => Step::End(HangupReason::Flow(Some("end_call".into()))),
            AgentThen::Goto { tool } => match a.tools.get(tool).map(|t| &t.action) {
                Some(ToolAction::Goto(target)) => Step::Goto(*target),
                _ => {
                    self.warn(s.node, format!("agent: tool #{tool} is not a goto tool"));
                    Step::Goto(a.on_error.unwrap_or(a.next))
                }
            },
            AgentThen::Transfer { target } => {
                let chosen = a.transfer_targets().and_then(|t| t.get(target));
                let Some((name, template)) = chosen else {
                    self.warn(s.node, format!("agent: no transfer target #{target}"));
                    return Step::Goto(a.on_error.unwrap_or(a.next));
                };
                match self.render(*template) {
                    Ok(uri) => {
                        let id = self.request_id();
                        self.push(Action::Transfer { id, target: uri });
                        self.state = State::Transferring { node: s.node, id };
                        Step::Wait
                    }
                    Err(e) => {
                        self.warn(
                            s.node,
                            format!("agent transfer target `{name}`: {}", describe(&e)),
                        );
                        Step::Goto(a.on_error.unwrap_or(a.next))
                    }
                }
            }
        }
    }

    fn agent_request(&self, cfg: &Agent) -> Result<AgentRequest, String> {
        let render = |what: &str, t| {
            self.render(t)
                .map_err(|e| format!("agent {what}: {}", describe(&e)))
        };
        let instructions = cfg
            .instructions
            .map(|t| render("instructions", t))
            .transpose()?;
        let greeting = cfg.greeting.map(|t| render("greeting", t)).transpose()?;
        let mut tools = Vec::with_capacity(cfg.tools.len());
        for t in &cfg.tools {
            let kind = match &t.action {
                ToolAction::Webhook(w) => ToolKind::Webhook(self.webhook(&t.name, w)?),
                ToolAction::Goto(_) => ToolKind::Goto,
                ToolAction::EndCall => ToolKind::EndCall,
                ToolAction::Transfer(targets) => ToolKind::Transfer {
                    targets: targets.iter().map(|(n, _)| n.clone()).collect(),
                },
            };
            tools.push(ToolRequest {
                name: t.name.clone(),
                description: t.description.clone(),
                parameters: t.parameters.clone(),
                kind,
            });
        }
        Ok(AgentRequest {
            provider: cfg.provider,
            model: cfg.model.clone(),
            voice: cfg.voice.clone(),
            instructions,
            greeting,
            turn_detection: cfg.turn_detection.clone(),
            dtmf: cfg.dtmf,
            tools,
            transcribe: cfg.transcribe,
            silence_timeout: cfg.silence_timeout,
            max_duration: cfg.max_duration,
        })
    }

    fn webhook(&self, tool: &str, w: &Webhook) -> Result<WebhookRequest, String> {
        let url = self
            .render(w.url)
            .map_err(|e| format!("tool `{tool}` url: {}", describe(&e)))?;
        let mut headers = Vec::with_capacity(w.headers.len());
        for (k, v) in &w.headers {
            let value = self
                .render(*v)
                .map_err(|e| format!("tool `{tool}` header {k}: {}", describe(&e)))?;
            headers.push((k.clone(), value));
        }
        Ok(WebhookRequest {
            method: w.method,
            url,
            headers,
            timeout: w.timeout,
            retries: w.retries,
        })
    }
}

#[cfg(test)]
#[path = "agent_tests.rs"]
mod tests;
