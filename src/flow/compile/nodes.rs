//! Lowering of each node kind from its schema type to its [`NodeKind`], with the checks that
//! belong to one node: targets, digit counts and timers, DTMF keys, listen patterns, subflows.

use std::time::Duration;

use regex::RegexBuilder;

use super::Builder;
use crate::flow::ast::{self, KindDoc, Links, Prompts};
use crate::flow::digit::{parse_digits, Digit};
use crate::flow::duration::parse_duration;
use crate::flow::program::*;
use crate::flow::source::{self, push_segment};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_INTER_DIGIT: Duration = Duration::from_secs(2);
const DEFAULT_TRIES: u8 = 3;
const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(5);

/// Pointers into one node: `/nodes/<name>/<field>...`.
struct At {
    base: String,
}

impl At {
    fn new(name: &str) -> Self {
        At {
            base: source::pointer(["nodes", name]),
        }
    }

    fn p(&self, segs: &[&str]) -> String {
        let mut s = self.base.clone();
        for seg in segs {
            push_segment(&mut s, seg);
        }
        s
    }
}

impl Builder<'_> {
    pub(super) fn lower_node(
        &mut self,
        unit: usize,
        name: &str,
        kind: KindDoc,
        links: Links,
    ) -> NodeKind {
        let at = At::new(name);
        let k = kind.key();
        match kind {
            KindDoc::Play(p) => NodeKind::Play(Play {
                prompts: self.prompts(unit, &p, &at.p(&[k])),
                next: self.next(unit, &links, &at),
            }),
            KindDoc::Say(s) => {
                let (text, voice, engine, ptr) = match &s {
                    ast::SayDoc::Text(t) => (t.as_str(), None, None, at.p(&[k])),
                    ast::SayDoc::Full {
                        text,
                        voice,
                        engine,
                    } => (
                        text.as_str(),
                        voice.clone(),
                        engine.as_deref().and_then(TtsEngine::from_name),
                        at.p(&[k, "text"]),
                    ),
                };
                let text = self.text(unit, text, &ptr);
                NodeKind::Say(Say {
                    text,
                    voice,
                    engine,
                    next: self.next(unit, &links, &at),
                })
            }
            KindDoc::Gather(g) => {
                NodeKind::Gather(Box::new(self.gather(unit, name, g, links, &at)))
            }
            KindDoc::Listen(l) => {
                NodeKind::Listen(Box::new(self.listen(unit, name, l, links, &at)))
            }
            KindDoc::Http(h) => NodeKind::Http(Box::new(self.http(unit, h, links, &at))),
            KindDoc::Switch(arms) => {
                let mut out = Vec::with_capacity(arms.len());
                for (i, arm) in arms.iter().enumerate() {
                    let idx = i.to_string();
                    let cond = arm
                        .when
                        .as_deref()
                        .map(|w| self.expr(unit, w, &at.p(&[k, &idx, "when"])));
                    let target = self.target(unit, &arm.goto, &at.p(&[k, &idx, "goto"]));
                    out.push((cond, target));
                }
                if arms.iter().all(|a| a.when.is_some()) {
                    let pos = self.key_pos(unit, &at.p(&[k]));
                    self.warning(
                        unit,
                        pos,
                        "flow.switch_no_default",
                        format!("`switch` in node `{name}` has no default arm"),
                        Some("add a last arm without `when` (`- goto: somewhere`); when no arm holds the call ends".into()),
                    );
                }
                NodeKind::Switch(Switch { arms: out })
            }
            KindDoc::Set(assign) => {
                let mut out = Vec::with_capacity(assign.0.len());
                for (var, value) in &assign.0 {
                    self.defined.insert(var.clone());
                    let v = self.set_value(unit, value, &at.p(&[k, var]));
                    out.push((var.clone(), v));
                }
                NodeKind::Set(Set {
                    assign: out,
                    next: self.next(unit, &links, &at),
                })
            }
            KindDoc::Goto(t) => NodeKind::Goto(self.target(unit, &t, &at.p(&[k]))),
            KindDoc::Subflow(s) => {
                let next = self.next(unit, &links, &at);
                let ptr = match &s {
                    ast::SubflowDoc::File(_) => at.p(&[k]),
                    ast::SubflowDoc::Full { .. } => at.p(&[k, "flow"]),
                };
                let entry = self.subflow(unit, s.file(), &ptr, next);
                if entry.is_none() {
                    self.dangling.insert(self.current);
                }
                NodeKind::Subflow(Subflow {
                    entry: entry.unwrap_or(NodeId(0)),
                    next,
                })
            }
            KindDoc::Pause(d) => {
                let duration = self.duration(unit, &d, &at.p(&[k])).unwrap_or_default();
                NodeKind::Pause(Pause {
                    duration,
                    next: self.next(unit, &links, &at),
                })
            }
            KindDoc::Record(r) => {
                let prompt = self.opt_prompts(unit, r.prompt.as_ref(), &at.p(&[k, "prompt"]));
                let max = self
                    .duration(unit, &r.max, &at.p(&[k, "max"]))
                    .unwrap_or_default();
                if max.is_zero() {
                    self.zero_timer(
                        unit,
                        &at.p(&[k, "max"]),
                        format!("`record.max` of node `{name}` is zero"),
                        "give the longest recording, e.g. `60s`",
                    );
                }
                let finish_on = r
                    .finish_on
                    .as_deref()
                    .and_then(|f| self.dtmf_key(unit, f, &at.p(&[k, "finish_on"])));
                if let Some(s) = &r.save {
                    self.defined.insert(s.clone());
                }
                let silence = r.silence.as_deref().map(|text| {
                    let ptr = at.p(&[k, "silence"]);
                    let d = self.opt_duration(unit, Some(text), &ptr, Duration::ZERO);
                    if d.is_zero() {
                        self.zero_timer(
                            unit,
                            &ptr,
                            "`record.silence` is zero: the recording would end at once".into(),
                            "the pause that ends a message, e.g. `3s`",
                        );
                    }
                    d
                });
                NodeKind::Record(Box::new(Record {
                    prompt,
                    max,
                    finish_on,
                    beep: r.beep.unwrap_or(true),
                    silence,
                    save: r.save,
                    next: self.next(unit, &links, &at),
                    on_error: self.opt_target(
                        unit,
                        links.on_error.as_deref(),
                        &at.p(&["on_error"]),
                    ),
                }))
            }
            KindDoc::Agent(a) => {
                NodeKind::Agent(Box::new(self.agent(unit, name, a, &links, &at.p(&[]))))
            }
            KindDoc::Stream(s) => {
                let url = self.text(unit, &s.url, &at.p(&[k, "url"]));
                if let Some(v) = &s.save {
                    self.defined.insert(v.clone());
                }
                let mut map = |field: &str, pairs: &ast::Ordered<String>| {
                    pairs
                        .0
                        .iter()
                        .map(|(name, value)| {
                            let t = self.text(unit, value, &at.p(&[k, field, name]));
                            (name.clone(), t)
                        })
                        .collect::<Vec<_>>()
                };
                let headers = map("headers", &s.headers);
                let custom = map("custom", &s.custom);
                let max_duration = s
                    .max_duration
                    .as_deref()
                    .and_then(|d| self.duration(unit, d, &at.p(&[k, "max_duration"])));
                NodeKind::Stream(Box::new(Stream {
                    url,
                    protocol: match s.protocol.as_deref() {
                        Some("ringover") => StreamProtocol::Ringover,
                        _ => StreamProtocol::Twilio,
                    },
                    headers,
                    custom,
                    max_duration,
                    rate: s.rate.unwrap_or(8000),
                    save: s.save,
                    next: self.next(unit, &links, &at),
                    on_error: self.opt_target(
                        unit,
                        links.on_error.as_deref(),
                        &at.p(&["on_error"]),
                    ),
                }))
            }
            KindDoc::Transfer(t) => {
                let ptr = match &t {
                    ast::TransferDoc::Target(_) => at.p(&[k]),
                    ast::TransferDoc::Full { .. } => at.p(&[k, "target"]),
                };
                let target = self.uri(unit, t.target(), &ptr);
                NodeKind::Transfer(Transfer {
                    target,
                    on_fail: self.opt_target(unit, links.on_fail.as_deref(), &at.p(&["on_fail"])),
                })
            }
            KindDoc::Hangup(h) => NodeKind::Hangup(Hangup { reason: h.reason }),
            KindDoc::Ack(a) => NodeKind::Ack(Ack {
                mark: match a.mark {
                    ast::MarkDoc::Acknowledged => Mark::Acknowledged,
                    ast::MarkDoc::Heard => Mark::Heard,
                },
                next: self.next(unit, &links, &at),
            }),
        }
    }

    fn next(&mut self, unit: usize, links: &Links, at: &At) -> Target {
        match links.next.as_deref() {
            Some(n) => self.target(unit, n, &at.p(&["next"])),
            None => Target::Return,
        }
    }

    fn gather(
        &mut self,
        unit: usize,
        name: &str,
        g: ast::GatherDoc,
        links: Links,
        at: &At,
    ) -> Gather {
        let k = "gather";
        let prompt = self.opt_prompts(unit, g.prompt.as_ref(), &at.p(&[k, "prompt"]));
        let invalid = self.opt_prompts(unit, g.invalid.as_ref(), &at.p(&[k, "invalid"]));
        let no_input = self.opt_prompts(unit, g.no_input.as_ref(), &at.p(&[k, "no_input"]));
        let min = g.digits.min.unwrap_or(1);
        let max = g.digits.max.unwrap_or(min.max(1));
        if min > max {
            let pos = self.value_pos(unit, &at.p(&[k, "digits"]));
            self.error(
                unit,
                pos,
                "flow.bad_digits",
                format!("node `{name}` wants at least {min} digits but at most {max}"),
                Some("make `digits.min` ≤ `digits.max`".into()),
            );
        }
        let timeout = self.opt_duration(
            unit,
            g.timeout.as_deref(),
            &at.p(&[k, "timeout"]),
            DEFAULT_TIMEOUT,
        );
        let inter_digit_timeout = self.opt_duration(
            unit,
            g.inter_digit_timeout.as_deref(),
            &at.p(&[k, "inter_digit_timeout"]),
            DEFAULT_INTER_DIGIT,
        );
        if timeout.is_zero() {
            self.zero_timer(unit, &at.p(&[k, "timeout"]), format!("`gather.timeout` of node `{name}` is zero: the caller gets no time to press a key"), "use a few seconds, e.g. `5s`");
        } else if (max > 1 || g.inter_digit_timeout.is_some()) && inter_digit_timeout >= timeout {
            let ptr = at.p(&[k, "inter_digit_timeout"]);
            let pos = self.value_pos(unit, &ptr);
            self.error(
                unit,
                pos,
                "flow.bad_timer",
                format!(
                    "`inter_digit_timeout` ({}) of node `{name}` is not shorter than `timeout` ({})",
                    fmt_duration(inter_digit_timeout),
                    fmt_duration(timeout)
                ),
                Some("the pause between digits should be shorter than the wait for the first one".into()),
            );
        }
        let finish_on = g
            .finish_on
            .as_deref()
            .and_then(|f| self.dtmf_key(unit, f, &at.p(&[k, "finish_on"])));
        if let Some(f) = finish_on {
            if self.global_keys.contains(f) {
                let pos = self.value_pos(unit, &at.p(&[k, "finish_on"]));
                self.warning(
                    unit,
                    pos,
                    "flow.shadowed_route",
                    format!(
                        "`finish_on: \"{f}\"` in node `{name}` is also a global key, which wins"
                    ),
                    Some("pick another key or unbind it in `keys`".into()),
                );
            }
        }
        let mut routes = Vec::new();
        for (digits, target) in links.routes.iter().flat_map(|r| r.iter()) {
            let ptr = at.p(&["routes", digits]);
            let t = self.target(unit, target, &ptr);
            routes.push((digits.to_owned(), t));
            let pos = self.key_pos(unit, &ptr);
            let Some(keys) = parse_digits(digits).filter(|d| !d.is_empty()) else {
                self.error(
                    unit,
                    pos,
                    "flow.not_dtmf",
                    format!("route `{digits}` of node `{name}` is not a DTMF key sequence"),
                    Some("routes of a gather are keys: 0-9, *, #, A-D".into()),
                );
                continue;
            };
            let len = keys.len();
            if len > usize::from(max) || len < usize::from(min) {
                self.error(
                    unit,
                    pos,
                    "flow.route_length",
                    format!("route `{digits}` of node `{name}` can never match: the gather collects {min} to {max} digits"),
                    Some(format!("set `digits: {{ min: {}, max: {} }}` or shorten the route", min.min(len as u8), max.max(len.min(64) as u8))),
                );
            }
            if let Some(first) = keys.first() {
                if self.global_keys.contains(*first) {
                    self.warning(
                        unit,
                        pos,
                        "flow.shadowed_route",
                        format!("route `{digits}` of node `{name}` is shadowed by the global key `{first}`"),
                        Some("global keys interrupt every node; use another key for this route".into()),
                    );
                }
            }
        }
        let next = self.opt_target(unit, links.next.as_deref(), &at.p(&["next"]));
        if !routes.is_empty() && next.is_some() {
            let pos = self.key_pos(unit, &at.p(&["next"]));
            self.warning(
                unit,
                pos,
                "flow.ignored_next",
                format!("`next` of gather node `{name}` is never taken: it has `routes`"),
                Some("an entry no route matches plays `invalid` and asks again; remove `next`, or remove `routes` to accept any entry".into()),
            );
        }
        if routes.is_empty() && next.is_none() {
            let pos = self.key_pos(unit, &at.p(&[k]));
            self.error(
                unit,
                pos,
                "flow.no_exit",
                format!("gather node `{name}` has neither `routes` nor `next`"),
                Some("add `routes: {\"1\": node}`, or `next:` to take any entry".into()),
            );
        }
        if let Some(s) = &g.save {
            self.defined.insert(s.clone());
        }
        Gather {
            prompt,
            min_digits: min,
            max_digits: max,
            finish_on,
            timeout,
            inter_digit_timeout,
            tries: g.tries.unwrap_or(DEFAULT_TRIES),
            invalid,
            no_input,
            routes,
            save: g.save,
            next,
            on_fail: self.opt_target(unit, links.on_fail.as_deref(), &at.p(&["on_fail"])),
        }
    }

    fn listen(
        &mut self,
        unit: usize,
        name: &str,
        l: ast::ListenDoc,
        links: Links,
        at: &At,
    ) -> Listen {
        let k = "listen";
        let prompt = self.opt_prompts(unit, l.prompt.as_ref(), &at.p(&[k, "prompt"]));
        let timeout = self.opt_duration(
            unit,
            l.timeout.as_deref(),
            &at.p(&[k, "timeout"]),
            DEFAULT_TIMEOUT,
        );
        if timeout.is_zero() {
            self.zero_timer(
                unit,
                &at.p(&[k, "timeout"]),
                "`listen.timeout` is zero: the caller gets no time to speak".into(),
                "use a few seconds, e.g. `5s`",
            );
        }
        let mut routes = Vec::new();
        let mut keys = Vec::new();
        for (pattern, target) in links.routes.iter().flat_map(|r| r.iter()) {
            let ptr = at.p(&["routes", pattern]);
            let t = self.target(unit, target, &ptr);
            // A route of DTMF keys (`"1"`, `"*0"`) is taken by keys, not by speech.
            if is_key_route(pattern) {
                keys.push((pattern.to_string(), t));
                continue;
            }
            match RegexBuilder::new(pattern)
                .case_insensitive(true)
                .size_limit(1 << 20)
                .build()
            {
                Ok(re) => routes.push((re, t)),
                Err(e) => {
                    let pos = self.key_pos(unit, &ptr);
                    let detail = e
                        .to_string()
                        .lines()
                        .last()
                        .unwrap_or_default()
                        .trim()
                        .trim_start_matches("error: ")
                        .to_owned();
                    self.error(
                        unit,
                        pos,
                        "flow.bad_regex",
                        format!("listen route `{pattern}` is not a valid pattern: {detail}"),
                        Some(
                            "routes of a listen are regular expressions such as `yes|yeah`".into(),
                        ),
                    );
                }
            }
        }
        if let Some(s) = &l.save {
            self.defined.insert(s.clone());
        }
        let next = self.opt_target(unit, links.next.as_deref(), &at.p(&["next"]));
        if routes.is_empty() && next.is_none() && links.routes.as_ref().is_none_or(|r| r.is_empty())
        {
            let pos = self.key_pos(unit, &at.p(&[k]));
            self.error(
                unit,
                pos,
                "flow.no_exit",
                format!("listen node `{name}` has neither `routes` nor `next`"),
                Some("add `routes: {\"yes|yeah\": node}`, or `next:` to take any answer".into()),
            );
        }
        let engine = l
            .engine
            .as_deref()
            .and_then(|e| AsrEngine::from_name(&e.to_ascii_lowercase()));
        let silence = l.silence.as_deref().map(|text| {
            let ptr = at.p(&[k, "silence"]);
            let d = self.opt_duration(unit, Some(text), &ptr, Duration::ZERO);
            if d.is_zero() {
                self.zero_timer(
                    unit,
                    &ptr,
                    "`listen.silence` is zero: every pause would end the answer".into(),
                    "the time a caller may pause mid-answer, e.g. `700ms`",
                );
            }
            d
        });
        let grammar = match l.grammar {
            Some(ast::GrammarDoc::Kind(_)) => ListenGrammar::Digits,
            Some(ast::GrammarDoc::Phrases(p)) => crate::asr::Grammar::new(&p)
                .map_or(ListenGrammar::Free, |g| {
                    ListenGrammar::Phrases(g.phrases().to_vec())
                }),
            // Plain-word routes and nothing else accepted: a menu grammar.
            None if next.is_none() => crate::asr::grammar::phrases_of_routes(
                links
                    .routes
                    .iter()
                    .flat_map(|r| r.iter())
                    .map(|(p, _)| p)
                    .filter(|p| !is_key_route(p)),
            )
            .map_or(ListenGrammar::Free, ListenGrammar::Phrases),
            None => ListenGrammar::Free,
        };
        Listen {
            prompt,
            timeout,
            tries: l.tries.unwrap_or(DEFAULT_TRIES),
            language: l.language,
            save: l.save,
            routes,
            keys,
            next,
            on_fail: self.opt_target(unit, links.on_fail.as_deref(), &at.p(&["on_fail"])),
            engine,
            silence,
            grammar,
        }
    }

    fn http(&mut self, unit: usize, h: ast::HttpDoc, links: Links, at: &At) -> Http {
        let k = "http";
        let method = match h.method.as_deref().unwrap_or("GET") {
            "POST" => HttpMethod::Post,
            "PUT" => HttpMethod::Put,
            "PATCH" => HttpMethod::Patch,
            "DELETE" => HttpMethod::Delete,
            _ => HttpMethod::Get,
        };
        let url = self.text(unit, &h.url, &at.p(&[k, "url"]));
        let mut headers = Vec::with_capacity(h.headers.0.len());
        for (name, value) in &h.headers.0 {
            let t = self.text(unit, value, &at.p(&[k, "headers", name]));
            headers.push((name.clone(), t));
        }
        let body = h
            .json
            .as_ref()
            .map(|j| self.body(unit, j, &at.p(&[k, "json"])));
        let timeout = self.opt_duration(
            unit,
            h.timeout.as_deref(),
            &at.p(&[k, "timeout"]),
            DEFAULT_HTTP_TIMEOUT,
        );
        if timeout.is_zero() {
            self.zero_timer(
                unit,
                &at.p(&[k, "timeout"]),
                "`http.timeout` is zero: every request would fail".into(),
                "use e.g. `2s`",
            );
        }
        if let Some(s) = &h.save {
            self.defined.insert(s.clone());
        }
        let on_success = links.on_success.as_deref().unwrap_or("return");
        let on_error = links.on_error.as_deref().unwrap_or("return");
        Http {
            method,
            url,
            headers,
            body,
            timeout,
            retries: h.retries.unwrap_or(0),
            save: h.save,
            on_success: self.target(unit, on_success, &at.p(&["on_success"])),
            on_error: self.target(unit, on_error, &at.p(&["on_error"])),
        }
    }

    /// Parses a duration the schema already shaped; reports one too large to represent.
    /// A timer that is zero where that makes no sense (`flow.bad_timer` at its value).
    fn zero_timer(&mut self, unit: usize, ptr: &str, message: String, hint: &str) {
        let pos = self.value_pos(unit, ptr);
        self.error(unit, pos, "flow.bad_timer", message, Some(hint.into()));
    }

    /// An optional duration field: its value, or `default` when absent or invalid (the error is
    /// reported).
    fn opt_duration(
        &mut self,
        unit: usize,
        text: Option<&str>,
        ptr: &str,
        default: Duration,
    ) -> Duration {
        text.and_then(|t| self.duration(unit, t, ptr))
            .unwrap_or(default)
    }

    pub(super) fn duration(&mut self, unit: usize, text: &str, ptr: &str) -> Option<Duration> {
        match parse_duration(text) {
            Ok(d) => Some(d),
            Err(e) => {
                let pos = self.value_pos(unit, ptr);
                self.error(
                    unit,
                    pos,
                    "flow.bad_duration",
                    format!("`{text}`: {e}"),
                    Some(crate::flow::duration::hint(text)),
                );
                None
            }
        }
    }

    /// Parses one DTMF key written at `ptr`.
    pub(super) fn dtmf_key(&mut self, unit: usize, text: &str, ptr: &str) -> Option<Digit> {
        let mut chars = text.chars();
        match (chars.next().and_then(Digit::from_char), chars.next()) {
            (Some(d), None) => Some(d),
            _ => {
                let pos = self.value_pos(unit, ptr);
                self.error(
                    unit,
                    pos,
                    "flow.not_dtmf",
                    format!("`{text}` is not a DTMF key"),
                    Some("use one of 0-9, *, #, A-D".into()),
                );
                None
            }
        }
    }

    fn opt_prompts(&mut self, unit: usize, p: Option<&Prompts>, ptr: &str) -> Vec<PromptId> {
        p.map(|p| self.prompts(unit, p, ptr)).unwrap_or_default()
    }

    fn prompts(&mut self, unit: usize, p: &Prompts, ptr: &str) -> Vec<PromptId> {
        match p {
            Prompts::One(name) => vec![self.prompt(unit, name, ptr)],
            Prompts::Many(names) => names
                .iter()
                .enumerate()
                .map(|(i, n)| self.prompt(unit, n, &format!("{ptr}/{i}")))
                .collect(),
        }
    }

    /// Compiles a subflow file into this program (once per file) and returns its entry node.
    fn subflow(&mut self, unit: usize, file: &str, ptr: &str, next: Target) -> Option<NodeId> {
        let from = self.units[unit].path.clone();
        let (path, text) = match self.resolver.read(&from, file) {
            Ok((path, text)) => (super::normalize_path(&path), text),
            Err(e) => {
                let pos = self.value_pos(unit, ptr);
                self.error(
                    unit,
                    pos,
                    "flow.subflow_missing",
                    format!("subflow `{file}` cannot be read: {e}"),
                    Some("the path is relative to this flow's folder".into()),
                );
                return None;
            }
        };
        if let Some(i) = self.stack.iter().position(|p| *p == path) {
            let chain: Vec<String> = self.stack[i..]
                .iter()
                .chain(std::iter::once(&path))
                .map(|p| p.display().to_string())
                .collect();
            let pos = self.value_pos(unit, ptr);
            self.error(
                unit,
                pos,
                "flow.subflow_cycle",
                format!("subflows call each other in a cycle: {}", chain.join(" → ")),
                Some(
                    "a subflow cannot (directly or not) include itself; use `goto` inside one flow"
                        .into(),
                ),
            );
            return None;
        }
        if let Some((sub, entry)) = self.subflows.get(&path).copied() {
            self.units[sub].callers_next.push((unit, next));
            return entry;
        }
        let front = super::front(&text, &path);
        self.diags.extend(front.diags);
        let Some(doc) = front.doc else {
            let pos = self.value_pos(unit, ptr);
            self.error(
                unit,
                pos,
                "flow.subflow_invalid",
                format!("subflow `{file}` cannot be read as a flow"),
                Some(format!("run `phonetree validate {}`", path.display())),
            );
            return None;
        };
        let prefix = format!(
            "{}/",
            doc.name.clone().unwrap_or_else(|| super::file_stem(&path))
        );
        for (name, default) in doc.env.entries() {
            if !self.env.contains(&name) {
                if let Some(d) = default {
                    self.env_defaults.push((name.clone(), d));
                }
                self.env.push(name);
            }
        }
        for (k, v) in doc.vars.iter() {
            if self.defined.insert(k.to_owned()) {
                self.vars.push((k.to_owned(), v.clone()));
            }
        }
        let sub = self.add_unit(
            path.clone(),
            front.spans,
            prefix,
            &front.nodes,
            &front.broken,
            &front.raw_links,
        );
        self.units[sub].callers_next.push((unit, next));
        self.subflows.insert(path.clone(), (sub, None));
        self.stack.push(path.clone());
        self.lower_unit(sub, front.nodes);
        self.stack.pop();
        let entry = self.start_of(sub, doc.start.as_deref());
        self.subflows.insert(path, (sub, entry));
        entry
    }
}

/// `1500ms` → "1.5s"-style text for messages.
fn fmt_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 60_000 == 0 && ms > 0 {
        format!("{}m", ms / 60_000)
    } else if ms % 1_000 == 0 {
        format!("{}s", ms / 1_000)
    } else {
        format!("{ms}ms")
    }
}

/// A listen route taken by keys: only `0-9`, `*`, `#`.
fn is_key_route(pattern: &str) -> bool {
    !pattern.is_empty()
        && pattern
            .chars()
            .all(|c| c.is_ascii_digit() || c == '*' || c == '#')
}
