//! Lowering of an `agent` node: its settings, turn detection and tools.
//!
//! Checks here (the schema has already checked shapes): tool names unique within the node
//! (`flow.duplicate_tool`), each tool exactly one of `webhook` / `goto` / `builtin`
//! (`flow.bad_tool`), `parameters` a valid JSON Schema for an object (`flow.bad_tool_schema`),
//! `goto` naming a known node, `targets` only on (and required by) `builtin: transfer`, and the
//! durations. A built-in's parameters are ours, never the author's.

use std::time::Duration;

use serde_json::{json, Value};

use super::Builder;
use crate::flow::agent::{DEFAULT_SILENCE_TIMEOUT, END_CALL, TRANSFER};
use crate::flow::ast::{AgentDoc, AgentToolDoc, Links, TurnDetectionDoc};
use crate::flow::program::*;

/// Default per-attempt timeout of a webhook tool (as the `http` node).
const DEFAULT_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(5);

impl Builder<'_> {
    pub(super) fn agent(
        &mut self,
        unit: usize,
        name: &str,
        a: AgentDoc,
        links: &Links,
        base: &str,
    ) -> Agent {
        let p = |segs: &[&str]| {
            let mut s = format!("{base}/agent");
            for seg in segs {
                crate::flow::source::push_segment(&mut s, seg);
            }
            s
        };
        let instructions = a
            .instructions
            .as_deref()
            .map(|t| self.text(unit, t, &p(&["instructions"])));
        let greeting = a
            .greeting
            .as_deref()
            .map(|t| self.text(unit, t, &p(&["greeting"])));
        let max_duration = a
            .max_duration
            .as_deref()
            .and_then(|d| self.duration(unit, d, &p(&["max_duration"])));
        if max_duration.is_some_and(|d| d.is_zero()) {
            self.bad_timer(unit, &p(&["max_duration"]), "`agent.max_duration` is zero");
        }
        let silence_timeout = a
            .silence_timeout
            .as_deref()
            .and_then(|d| self.duration(unit, d, &p(&["silence_timeout"])))
            .unwrap_or(DEFAULT_SILENCE_TIMEOUT);
        if silence_timeout.is_zero() {
            self.bad_timer(
                unit,
                &p(&["silence_timeout"]),
                "`agent.silence_timeout` is zero",
            );
        }
        let turn_detection = a
            .turn_detection
            .as_ref()
            .map(|t| self.turn_detection(unit, t, &p(&["turn_detection"])));
        let dtmf = match a.dtmf.as_deref() {
            Some("send") => AgentDtmf::Send,
            Some("end") => AgentDtmf::End,
            _ => AgentDtmf::Ignore,
        };
        let mut tools = Vec::with_capacity(a.tools.len());
        let mut seen: Vec<String> = Vec::new();
        for (i, t) in a.tools.into_iter().enumerate() {
            let ptr = p(&["tools", &i.to_string()]);
            let Some(tool) = self.tool(unit, name, t, &ptr) else {
                continue;
            };
            if seen.contains(&tool.name) {
                let pos = self.value_pos(unit, &ptr);
                self.error(
                    unit,
                    pos,
                    "flow.duplicate_tool",
                    format!("node `{name}` has two tools named `{}`", tool.name),
                    Some("the model calls tools by name: give each a different one".into()),
                );
                continue;
            }
            seen.push(tool.name.clone());
            tools.push(tool);
        }
        if let Some(s) = &a.save {
            self.defined.insert(s.clone());
        }
        Agent {
            provider: match a.provider.as_deref() {
                Some("echo") => AgentProvider::Echo,
                _ => AgentProvider::OpenAi,
            },
            model: a.model,
            voice: a.voice,
            instructions,
            greeting,
            turn_detection,
            dtmf,
            tools,
            transcribe: a.transcribe.unwrap_or(false),
            silence_timeout,
            max_duration,
            save: a.save,
            next: match links.next.as_deref() {
                Some(n) => self.target(unit, n, &format!("{base}/next")),
                None => Target::Return,
            },
            on_error: self.opt_target(unit, links.on_error.as_deref(), &format!("{base}/on_error")),
        }
    }

    fn bad_timer(&mut self, unit: usize, ptr: &str, message: &str) {
        let pos = self.value_pos(unit, ptr);
        self.error(
            unit,
            pos,
            "flow.bad_timer",
            message.to_owned(),
            Some("give a length such as `30s`".into()),
        );
    }

    fn turn_detection(&mut self, unit: usize, t: &TurnDetectionDoc, ptr: &str) -> TurnDetection {
        let full = match t {
            TurnDetectionDoc::Kind(k) if k == "semantic_vad" => {
                return TurnDetection::SemanticVad { eagerness: None }
            }
            TurnDetectionDoc::Kind(_) => {
                return TurnDetection::ServerVad {
                    threshold: None,
                    prefix_padding: None,
                    silence_duration: None,
                    idle_timeout: None,
                }
            }
            TurnDetectionDoc::Full(f) => f,
        };
        if full.kind == "semantic_vad" {
            let eagerness = match full.eagerness.as_deref() {
                Some("low") => Some(Eagerness::Low),
                Some("medium") => Some(Eagerness::Medium),
                Some("high") => Some(Eagerness::High),
                Some(_) => Some(Eagerness::Auto),
                None => None,
            };
            return TurnDetection::SemanticVad { eagerness };
        }
        let mut dur = |field: &str, v: &Option<String>| {
            v.as_deref()
                .and_then(|d| self.duration(unit, d, &format!("{ptr}/{field}")))
        };
        TurnDetection::ServerVad {
            threshold: full.threshold,
            prefix_padding: dur("prefix_padding", &full.prefix_padding),
            silence_duration: dur("silence_duration", &full.silence_duration),
            idle_timeout: dur("idle_timeout", &full.idle_timeout),
        }
    }

    fn tool(&mut self, unit: usize, node: &str, t: AgentToolDoc, ptr: &str) -> Option<AgentTool> {
        let kinds = [t.webhook.is_some(), t.goto.is_some(), t.builtin.is_some()];
        if kinds.iter().filter(|k| **k).count() != 1 {
            let pos = self.value_pos(unit, ptr);
            self.error(
                unit,
                pos,
                "flow.bad_tool",
                format!("a tool of node `{node}` must have exactly one of `webhook`, `goto` or `builtin`"),
                Some("e.g. `{ name: lookup, description: .., parameters: {..}, webhook: { url: .. } }` or `{ builtin: end_call }`".into()),
            );
            return None;
        }
        if t.targets.is_some() && t.builtin.as_deref() != Some(TRANSFER) {
            let pos = self.key_pos(unit, &format!("{ptr}/targets"));
            self.error(
                unit,
                pos,
                "flow.bad_tool",
                "`targets` belongs to `builtin: transfer` only".to_owned(),
                None,
            );
        }
        if let Some(builtin) = t.builtin.as_deref() {
            return self.builtin(unit, node, builtin, t.name, t.description, t.targets, ptr);
        }
        let Some(name) = t.name else {
            let pos = self.value_pos(unit, ptr);
            self.error(
                unit,
                pos,
                "flow.bad_tool",
                format!("a tool of node `{node}` has no `name`"),
                Some("the model calls a tool by its name, e.g. `name: lookup_order`".into()),
            );
            return None;
        };
        if name == END_CALL || name == TRANSFER {
            let pos = self.value_pos(unit, &format!("{ptr}/name"));
            self.error(
                unit,
                pos,
                "flow.bad_tool",
                format!("`{name}` is the name of a built-in tool"),
                Some(format!(
                    "write `builtin: {name}` to switch it on, or choose another name"
                )),
            );
            return None;
        }
        let parameters = match t.parameters {
            Some(schema) => self.tool_schema(unit, &name, schema, &format!("{ptr}/parameters"))?,
            None => json!({"type": "object", "properties": {}}),
        };
        let description = t.description.unwrap_or_default();
        let action = if let Some(w) = t.webhook {
            let wp = format!("{ptr}/webhook");
            let method = match w.method.as_deref().unwrap_or("POST") {
                "GET" => HttpMethod::Get,
                "PUT" => HttpMethod::Put,
                "PATCH" => HttpMethod::Patch,
                "DELETE" => HttpMethod::Delete,
                _ => HttpMethod::Post,
            };
            let url = self.text(unit, &w.url, &format!("{wp}/url"));
            let mut headers = Vec::with_capacity(w.headers.0.len());
            for (k, v) in &w.headers.0 {
                let mut hp = format!("{wp}/headers");
                crate::flow::source::push_segment(&mut hp, k);
                headers.push((k.clone(), self.text(unit, v, &hp)));
            }
            let timeout = w
                .timeout
                .as_deref()
                .and_then(|d| self.duration(unit, d, &format!("{wp}/timeout")))
                .unwrap_or(DEFAULT_WEBHOOK_TIMEOUT);
            if timeout.is_zero() {
                self.bad_timer(
                    unit,
                    &format!("{wp}/timeout"),
                    "a webhook `timeout` is zero",
                );
            }
            ToolAction::Webhook(Box::new(Webhook {
                method,
                url,
                headers,
                timeout,
                retries: w.retries.unwrap_or(0),
            }))
        } else {
            let goto = t.goto.unwrap_or_default();
            ToolAction::Goto(self.target(unit, &goto, &format!("{ptr}/goto")))
        };
        Some(AgentTool {
            name,
            description,
            parameters,
            action,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn builtin(
        &mut self,
        unit: usize,
        node: &str,
        builtin: &str,
        name: Option<String>,
        description: Option<String>,
        targets: Option<crate::flow::ast::Ordered<String>>,
        ptr: &str,
    ) -> Option<AgentTool> {
        if name.as_deref().is_some_and(|n| n != builtin) {
            let pos = self.value_pos(unit, &format!("{ptr}/name"));
            self.error(
                unit,
                pos,
                "flow.bad_tool",
                format!("built-in tools keep their name (`{builtin}`)"),
                Some("remove `name`".into()),
            );
        }
        if builtin == END_CALL {
            return Some(AgentTool {
                name: END_CALL.to_owned(),
                description: description.unwrap_or_else(|| {
                    "End the phone call. Call this only after you have said goodbye.".to_owned()
                }),
                parameters: json!({"type": "object", "properties": {}}),
                action: ToolAction::EndCall,
            });
        }
        let Some(targets) = targets.filter(|t| !t.is_empty()) else {
            let pos = self.value_pos(unit, ptr);
            self.error(
                unit,
                pos,
                "flow.bad_tool",
                format!("the transfer tool of node `{node}` lists no `targets`"),
                Some("the model may only transfer to names the flow lists: `targets: { sales: \"sip:200@pbx\" }`".into()),
            );
            return None;
        };
        let mut compiled = Vec::with_capacity(targets.0.len());
        for (k, v) in &targets.0 {
            let mut tp = format!("{ptr}/targets");
            crate::flow::source::push_segment(&mut tp, k);
            compiled.push((k.clone(), self.uri(unit, v, &tp)));
        }
        let names: Vec<&str> = compiled.iter().map(|(k, _)| k.as_str()).collect();
        Some(AgentTool {
            name: TRANSFER.to_owned(),
            description: description.unwrap_or_else(|| {
                format!(
                    "Transfer the caller to a person or department: one of {}. Tell the caller before you call this.",
                    names.join(", ")
                )
            }),
            parameters: json!({
                "type": "object",
                "properties": {"target": {"type": "string", "enum": names}},
                "required": ["target"],
            }),
            action: ToolAction::Transfer(compiled),
        })
    }

    /// A tool's `parameters`: a valid JSON Schema whose instances are objects.
    fn tool_schema(&mut self, unit: usize, tool: &str, schema: Value, ptr: &str) -> Option<Value> {
        let problem = if schema.get("type").and_then(Value::as_str) != Some("object") {
            Some("its `type` must be `object` (the arguments are a JSON object)".to_owned())
        } else if let Err(e) = jsonschema::meta::validate(&schema) {
            Some(format!("not a valid JSON Schema: {e}"))
        } else if let Err(e) = jsonschema::validator_for(&schema) {
            Some(format!("not a usable JSON Schema: {e}"))
        } else {
            None
        };
        match problem {
            None => Some(schema),
            Some(p) => {
                let pos = self.value_pos(unit, ptr);
                self.error(
                    unit,
                    pos,
                    "flow.bad_tool_schema",
                    format!("the parameters of tool `{tool}`: {p}"),
                    Some("e.g. `{ type: object, properties: { order: { type: string } }, required: [order] }`".into()),
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use crate::flow::agent::DEFAULT_SILENCE_TIMEOUT;
    use crate::flow::compile::{compile, Compiled, NoSubflows, SoundIndex};
    use crate::flow::program::*;

    fn run(agent: &str) -> Compiled {
        let text = format!(
            "start: a\nnodes:\n  a:\n    agent:\n{agent}\n    next: b\n  b: {{ hangup: {{}} }}\n"
        );
        compile(
            &text,
            Path::new("t.yaml"),
            &SoundIndex::new("snd", []),
            &NoSubflows,
        )
    }

    fn agent(c: &Compiled) -> &Agent {
        let p = c.program.as_ref().expect("compiles");
        match &p.nodes[0].kind {
            NodeKind::Agent(a) => a,
            _ => panic!("agent"),
        }
    }

    #[test]
    fn an_agent_needs_no_settings_of_its_own() {
        let c = run("      {}");
        assert!(c.diagnostics.is_empty(), "{:?}", c.diagnostics);
        let a = agent(&c);
        assert_eq!((a.model.as_ref(), a.instructions), (None, None));
        assert_eq!(a.silence_timeout, DEFAULT_SILENCE_TIMEOUT);
        assert_eq!(a.dtmf, AgentDtmf::Ignore);
    }

    #[test]
    fn turn_detection_short_and_full_forms() {
        let c = run("      turn_detection: semantic_vad");
        assert_eq!(
            agent(&c).turn_detection,
            Some(TurnDetection::SemanticVad { eagerness: None })
        );
        let c = run("      turn_detection: { type: semantic_vad, eagerness: low }");
        assert_eq!(
            agent(&c).turn_detection,
            Some(TurnDetection::SemanticVad {
                eagerness: Some(Eagerness::Low)
            })
        );
        let c = run("      turn_detection: { type: server_vad, threshold: 0.7, prefix_padding: 200ms, idle_timeout: 6s }");
        assert_eq!(
            agent(&c).turn_detection,
            Some(TurnDetection::ServerVad {
                threshold: Some(0.7),
                prefix_padding: Some(Duration::from_millis(200)),
                silence_duration: None,
                idle_timeout: Some(Duration::from_secs(6)),
            })
        );
        let c = run("      turn_detection: { type: semantic_vad, threshold: 0.7 }");
        assert!(c.program.is_none(), "threshold is server_vad only");
    }

    #[test]
    fn a_parameters_schema_that_is_not_json_schema_is_refused() {
        let c = run("      tools:\n        - { name: t, webhook: { url: \"http://x\" }, parameters: { type: object, properties: { a: { type: nonsense } } } }");
        let codes: Vec<_> = c.diagnostics.iter().map(|d| d.code).collect();
        assert_eq!(codes, ["flow.bad_tool_schema"]);
        assert!(c.diagnostics[0].message.contains("not a valid JSON Schema"));
        let c = run("      tools:\n        - { name: t, webhook: { url: \"http://x\" }, parameters: { type: object, properties: { a: { $ref: \"#/nowhere\" } } } }");
        let codes: Vec<_> = c.diagnostics.iter().map(|d| d.code).collect();
        assert_eq!(codes, ["flow.bad_tool_schema"], "{:?}", c.diagnostics);
    }

    #[test]
    fn tools_without_parameters_take_no_arguments_and_webhooks_default_to_post() {
        let c = run("      tools:\n        - { name: hours, description: Opening hours, webhook: { url: \"http://x/{{ call.from }}\", timeout: 2s, retries: 2 } }");
        let a = agent(&c);
        assert_eq!(a.tools[0].parameters["type"], "object");
        let ToolAction::Webhook(w) = &a.tools[0].action else {
            panic!("webhook")
        };
        assert_eq!(
            (w.method, w.timeout, w.retries),
            (HttpMethod::Post, Duration::from_secs(2), 2)
        );
    }

    #[test]
    fn transfer_targets_are_uri_templates_under_the_transfer_policy() {
        use crate::policy::transfer::{origin_of, TargetOrigin, TEMPLATE_WARNING};
        let c = run(
            "      tools:\n        - { builtin: transfer, targets: { sales: \"sip:200@pbx\" } }",
        );
        assert!(c.diagnostics.is_empty(), "{:?}", c.diagnostics);
        let p = c.program.as_ref().unwrap();
        assert_eq!(origin_of(p, Some(NodeId(0))), TargetOrigin::Literal);
        let c = run("      tools:\n        - { builtin: transfer, targets: { desk: \"sip:{{ call.from }}@pbx\" } }");
        let codes: Vec<_> = c.diagnostics.iter().map(|d| d.code).collect();
        assert_eq!(codes, [TEMPLATE_WARNING]);
        let p = c.program.as_ref().unwrap();
        assert_eq!(origin_of(p, Some(NodeId(0))), TargetOrigin::Dynamic);
    }

    #[test]
    fn zero_timers_are_errors() {
        let c = run("      silence_timeout: 0s\n      max_duration: 0m");
        let codes: Vec<_> = c.diagnostics.iter().map(|d| d.code).collect();
        assert_eq!(codes, ["flow.bad_timer", "flow.bad_timer"]);
    }
}
