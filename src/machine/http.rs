//! Webhooks for `http` nodes.
//!
//! An attempt renders the url, headers and JSON body, emits [`Action::Http`] and arms
//! `HttpDeadline` at the node's `timeout`. A 2xx reply saves its JSON body under `save` and goes
//! to `on_success`. A transport error, a 5xx or the deadline (which also emits
//! [`Action::Cancel`]) retries: `retries: N` allows up to N + 1 attempts; then `on_error`. Any
//! other status goes to `on_error` at once. A template that cannot be rendered emits a warning
//! and goes to `on_error`. Replies with an id other than the current attempt's are ignored.

use std::time::Instant;

use minijinja::value::Serde;
use minijinja::Value;

use crate::flow::program::{BodyTemplate, Http, NodeId, NodeKind, Program};
use crate::flow::template::Templates;
use crate::machine::call::{describe, Call, State, Step};
use crate::machine::io::{Action, HttpReply, HttpRequest, RequestId};
use crate::machine::timers::Timer;

/// An http attempt in flight.
pub(crate) struct HttpWait {
    node: NodeId,
    pub(crate) id: RequestId,
    attempt: u8,
}

impl Call {
    pub(super) fn send_http(
        &mut self,
        node: NodeId,
        cfg: &Http,
        attempt: u8,
        now: Instant,
    ) -> Step {
        let ctx = self.context();
        let templates = &self.program.templates;
        let rendered = templates.render(cfg.url, &ctx).and_then(|url| {
            let headers = cfg
                .headers
                .iter()
                .map(|(k, v)| Ok((k.clone(), templates.render(*v, &ctx)?)))
                .collect::<Result<Vec<_>, minijinja::Error>>()?;
            let body = cfg
                .body
                .as_ref()
                .map(|b| render_body(templates, b, &ctx))
                .transpose()?;
            Ok((url, headers, body))
        });
        let (url, headers, body) = match rendered {
            Ok(parts) => parts,
            Err(e) => {
                self.warn(node, format!("http: {}", describe(&e)));
                return Step::Goto(cfg.on_error);
            }
        };
        let id = self.request_id();
        self.push(Action::Http(HttpRequest {
            id,
            method: cfg.method,
            url,
            headers,
            body,
            timeout: cfg.timeout,
        }));
        self.timers.set(Timer::HttpDeadline, now + cfg.timeout);
        self.state = State::AwaitingHttp(HttpWait { node, id, attempt });
        Step::Wait
    }

    pub(super) fn on_http(
        &mut self,
        id: RequestId,
        result: Result<HttpReply, String>,
        now: Instant,
    ) -> Step {
        let wait = match std::mem::replace(&mut self.state, State::Idle) {
            State::AwaitingHttp(w) if w.id == id => w,
            other => {
                self.state = other;
                return Step::Wait;
            }
        };
        self.timers.stop(Timer::HttpDeadline);
        let program = std::sync::Arc::clone(&self.program);
        let cfg = http_of(&program, wait.node);
        match result {
            Ok(reply) if (200..300).contains(&reply.status) => {
                if let Some(name) = &cfg.save {
                    self.vars
                        .insert(name.clone(), Value::from(Serde(&reply.body)));
                }
                Step::Goto(cfg.on_success)
            }
            Ok(reply) if reply.status < 500 => Step::Goto(cfg.on_error),
            _ => self.http_retry(wait, cfg, now),
        }
    }

    pub(super) fn http_deadline(&mut self, wait: HttpWait, now: Instant) -> Step {
        self.push(Action::Cancel { id: wait.id });
        let program = std::sync::Arc::clone(&self.program);
        let cfg = http_of(&program, wait.node);
        self.http_retry(wait, cfg, now)
    }

    fn http_retry(&mut self, wait: HttpWait, cfg: &Http, now: Instant) -> Step {
        if wait.attempt < cfg.retries {
            self.send_http(wait.node, cfg, wait.attempt + 1, now)
        } else {
            Step::Goto(cfg.on_error)
        }
    }
}

fn render_body(
    templates: &Templates,
    body: &BodyTemplate,
    ctx: &Value,
) -> Result<serde_json::Value, minijinja::Error> {
    use serde_json::Value as J;
    Ok(match body {
        BodyTemplate::Null => J::Null,
        BodyTemplate::Bool(b) => J::Bool(*b),
        BodyTemplate::Number(n) => J::Number(n.clone()),
        BodyTemplate::String(t) => J::String(templates.render(*t, ctx)?),
        BodyTemplate::Array(items) => J::Array(
            items
                .iter()
                .map(|i| render_body(templates, i, ctx))
                .collect::<Result<_, _>>()?,
        ),
        BodyTemplate::Object(fields) => J::Object(
            fields
                .iter()
                .map(|(k, v)| Ok((k.clone(), render_body(templates, v, ctx)?)))
                .collect::<Result<_, minijinja::Error>>()?,
        ),
    })
}

/// The config of the node an `AwaitingHttp` state belongs to.
fn http_of(program: &Program, node: NodeId) -> &Http {
    match &program.node(node).kind {
        NodeKind::Http(c) => c,
        // Not `Step::Wait`: a call left in `Idle` with no timer would wait forever, silently.
        _ => panic!(
            "invariant: an AwaitingHttp state names an http node (only send_http builds one)"
        ),
    }
}
