//! The flow JSON schema (`schema/flow.schema.json`, embedded) and its violations as diagnostics.
//!
//! Owns the embedded schema text, the validator (built once per process) and the translation of
//! every jsonschema error into a human [`Diagnostic`] at the offending line and column: unknown
//! keys get a did-you-mean, a node with no kind lists the kinds, `oneOf` failures are reduced to
//! the branch the author meant. It does not check meaning (references, prompts, loops): that is
//! `flow::compile`.

use std::collections::HashSet;
use std::path::Path;
use std::sync::LazyLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{ValidationError, Validator};
use serde_json::Value;

use crate::flow::diag::{did_you_mean, Diagnostic, Pos};
use crate::flow::source::{push_segment, SpanMap};

/// The schema text, byte for byte as in `schema/flow.schema.json`.
pub const SCHEMA_TEXT: &str = include_str!("../../schema/flow.schema.json");

/// The node kinds, in schema order.
pub const NODE_KINDS: [&str; 16] = [
    "play", "say", "gather", "listen", "http", "switch", "set", "goto", "subflow", "pause",
    "record", "agent", "stream", "transfer", "hangup", "ack",
];

const DURATION_PATTERN: &str = "^[0-9]+(ms|s|m|h)$";

static SCHEMA: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(SCHEMA_TEXT).expect("the embedded schema is valid JSON (tested)")
});

static VALIDATOR: LazyLock<Validator> = LazyLock::new(|| {
    jsonschema::draft202012::new(&SCHEMA)
        .expect("the embedded schema is a valid 2020-12 schema (tested)")
});

/// One schema violation: where it is (a JSON pointer) and how it is reported.
#[derive(Debug)]
pub struct Violation {
    pub pointer: String,
    pub diagnostic: Diagnostic,
}

/// Validates a flow value; returns one violation per problem, in document order.
pub fn validate(value: &Value, spans: &SpanMap, path: &Path) -> Vec<Violation> {
    let mut out = Mapper {
        root: value,
        spans,
        path,
        out: Vec::new(),
        kind_conflicts: HashSet::new(),
    };
    for error in VALIDATOR.iter_errors(value) {
        out.map(&error);
    }
    let mut v = out.out;
    v.sort_by_key(|v| (v.diagnostic.line, v.diagnostic.col));
    v
}

struct Mapper<'a> {
    root: &'a Value,
    spans: &'a SpanMap,
    path: &'a Path,
    out: Vec<Violation>,
    /// Nodes already reported for holding two kinds (each kind's branch reports the other).
    kind_conflicts: HashSet<String>,
}

impl Mapper<'_> {
    fn push(
        &mut self,
        pointer: &str,
        pos: Pos,
        code: &'static str,
        message: String,
        hint: Option<String>,
    ) {
        let diagnostic = Diagnostic::error(self.path, pos, code, message).with_hint_opt(hint);
        self.out.push(Violation {
            pointer: pointer.to_owned(),
            diagnostic,
        });
    }

    fn map(&mut self, e: &ValidationError<'_>) {
        let ptr = e.instance_path().as_str();
        let instance: &Value = e.instance();
        let what = describe(ptr, self.root);
        match e.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                let allowed = allowed_keys(e.schema_path().as_str());
                let segs = segments(ptr);
                let is_node = segs.len() == 2 && segs[0] == "nodes";
                for key in unexpected {
                    let mut child = ptr.to_owned();
                    push_segment(&mut child, key);
                    let pos = self.spans.key_or_value(&child);
                    if is_node && NODE_KINDS.contains(&key.as_str()) {
                        if !self.kind_conflicts.insert(ptr.to_owned()) {
                            continue;
                        }
                        let kinds: Vec<&str> = instance
                            .as_object()
                            .map(|o| {
                                o.keys()
                                    .map(String::as_str)
                                    .filter(|k| NODE_KINDS.contains(k))
                                    .collect()
                            })
                            .unwrap_or_default();
                        self.push(
                            ptr,
                            pos,
                            "schema.two_kinds",
                            format!("{what} has more than one kind: {}", kinds.join(", ")),
                            Some("a node does exactly one thing; split it into two nodes joined by `next`".into()),
                        );
                        continue;
                    }
                    let hint = match did_you_mean(key, allowed.iter().map(String::as_str)) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None if allowed.is_empty() => "remove it".to_owned(),
                        None => format!("allowed here: {}", allowed.join(", ")),
                    };
                    self.push(
                        &child,
                        pos,
                        "schema.unknown_key",
                        format!("unknown key `{key}` in {what}"),
                        Some(hint),
                    );
                }
            }
            ValidationErrorKind::AnyOf { .. } if is_node_pointer(ptr) => {
                let unknown: Vec<&str> = instance
                    .as_object()
                    .map(|o| {
                        o.keys()
                            .map(String::as_str)
                            .filter(|k| !is_routing_key(k))
                            .collect()
                    })
                    .unwrap_or_default();
                let kinds = NODE_KINDS.join(", ");
                match unknown.first() {
                    Some(k) => {
                        let mut child = ptr.to_owned();
                        push_segment(&mut child, k);
                        let hint = match did_you_mean(k, NODE_KINDS) {
                            Some(s) => format!("did you mean `{s}`? node kinds: {kinds}"),
                            None => format!("node kinds: {kinds}"),
                        };
                        self.push(
                            ptr,
                            self.spans.key_or_value(&child),
                            "schema.unknown_kind",
                            format!("unknown node kind `{k}` in {what}"),
                            Some(hint),
                        );
                    }
                    None => self.push(
                        ptr,
                        self.spans.key_or_value(ptr),
                        "schema.unknown_kind",
                        format!("{what} has no kind"),
                        Some(format!("give it one of: {kinds}")),
                    ),
                }
            }
            ValidationErrorKind::Required { property } => {
                let prop = property.as_str().unwrap_or_default();
                let pos = self.spans.key_or_value(ptr);
                if ptr.is_empty() && prop == "start" {
                    let first = instance
                        .get("nodes")
                        .and_then(Value::as_object)
                        .and_then(|n| n.keys().next().cloned());
                    let hint = match first {
                        Some(n) => format!("add `start: {n}` (the node a call begins in)"),
                        None => "add `start: <node>` (the node a call begins in)".to_owned(),
                    };
                    self.push(
                        ptr,
                        pos,
                        "flow.missing_start",
                        "the flow has no `start`".into(),
                        Some(hint),
                    );
                } else {
                    self.push(
                        ptr,
                        pos,
                        "schema.missing_key",
                        format!("{what} needs `{prop}`"),
                        Some(format!(
                            "add `{prop}:` {}",
                            field_help(e.schema_path().as_str(), prop)
                        )),
                    );
                }
            }
            ValidationErrorKind::Type { .. }
                if instance.is_number() && is_duration_schema(e.schema_path().as_str()) =>
            {
                self.push(
                    ptr,
                    self.spans.value(ptr),
                    "schema.duration",
                    format!("{what} must be a duration, found the bare number {instance}"),
                    Some(crate::flow::duration::hint(&instance.to_string())),
                );
            }
            ValidationErrorKind::Type { kind } => {
                let expected = type_names(kind);
                let found = json_type(instance);
                let hint = if expected.contains("string")
                    && matches!(instance, Value::Number(_) | Value::Bool(_))
                {
                    Some(format!("quote it: \"{instance}\""))
                } else if ptr.is_empty() {
                    Some("a flow is a mapping with at least `start:` and `nodes:`".to_owned())
                } else if expected.contains("mapping") && instance.is_null() {
                    Some("write `{}` for an empty mapping".to_owned())
                } else {
                    None
                };
                self.push(
                    ptr,
                    self.spans.value(ptr),
                    "schema.type",
                    format!("{what} must be {expected}, found {found}"),
                    hint,
                );
            }
            ValidationErrorKind::Pattern { pattern } if pattern == DURATION_PATTERN => {
                self.push(
                    ptr,
                    self.spans.value(ptr),
                    "schema.duration",
                    format!("{what}: {instance} is not a duration"),
                    Some(crate::flow::duration::hint(
                        instance.as_str().unwrap_or_default(),
                    )),
                );
            }
            ValidationErrorKind::Enum { options } => {
                let opts: Vec<String> = options
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|o| o.to_string())
                    .collect();
                let hint = instance.as_str().and_then(|s| {
                    let names: Vec<&str> = options
                        .as_array()?
                        .iter()
                        .filter_map(Value::as_str)
                        .collect();
                    names
                        .iter()
                        .copied()
                        .find(|n| n.eq_ignore_ascii_case(s))
                        .or_else(|| did_you_mean(s, names.iter().copied()))
                        .map(|s| format!("did you mean `{s}`?"))
                });
                self.push(
                    ptr,
                    self.spans.value(ptr),
                    "schema.enum",
                    format!(
                        "{what} must be one of {}, found {instance}",
                        opts.join(", ")
                    ),
                    hint,
                );
            }
            ValidationErrorKind::PropertyNames { error } => {
                let name = error.instance().as_str().unwrap_or_default().to_owned();
                let mut child = ptr.to_owned();
                push_segment(&mut child, &name);
                let pos = self.spans.key_or_value(&child);
                let message = if name == "return" {
                    format!("`return` cannot name a node in {what}: it is the target that returns from a subflow")
                } else {
                    format!("`{name}` is not a valid name in {what}")
                };
                self.push(&child, pos, "schema.bad_name", message, Some("use letters, digits, `_`, `-` and `.`, starting with a letter, digit or `_`".into()));
            }
            ValidationErrorKind::OneOfNotValid { context }
            | ValidationErrorKind::AnyOf { context } => {
                // Keep the branches whose top-level type matched: those are what the author meant.
                let meant: Vec<&Vec<ValidationError<'static>>> = context
                    .iter()
                    .filter(|branch| {
                        !branch.iter().any(|b| {
                            b.instance_path().as_str() == ptr
                                && matches!(b.kind(), ValidationErrorKind::Type { .. })
                        })
                    })
                    .collect();
                // Every branch wants another type here (`env: 3` for a list or a mapping): say
                // which types, as for a plain type error.
                let types: Vec<String> = context
                    .iter()
                    .filter_map(|branch| {
                        branch.iter().find_map(|b| match b.kind() {
                            ValidationErrorKind::Type { kind }
                                if b.instance_path().as_str() == ptr =>
                            {
                                Some(type_names(kind))
                            }
                            _ => None,
                        })
                    })
                    .collect();
                if meant.len() == 1 {
                    for b in meant[0] {
                        self.map(b);
                    }
                } else if meant.is_empty() && types.len() == context.len() && !types.is_empty() {
                    self.push(
                        ptr,
                        self.spans.value(ptr),
                        "schema.type",
                        format!(
                            "{what} must be {}, found {}",
                            types.join(" or "),
                            json_type(instance)
                        ),
                        None,
                    );
                } else {
                    let expected = schema_at(e.schema_path().as_str())
                        .and_then(|s| s.get("description"))
                        .and_then(Value::as_str)
                        .or_else(|| {
                            parent_schema(e.schema_path().as_str())
                                .and_then(|s| s.get("description"))
                                .and_then(Value::as_str)
                        })
                        .unwrap_or("a different value");
                    self.push(
                        ptr,
                        self.spans.value(ptr),
                        "schema.invalid",
                        format!("{what} is not valid: found {}", json_type(instance)),
                        Some(format!("expected: {expected}")),
                    );
                }
            }
            ValidationErrorKind::MinItems { .. }
            | ValidationErrorKind::MinLength { .. }
            | ValidationErrorKind::MinProperties { .. } => {
                let hint = if schema_path_ends(e, "key_binding/minProperties") {
                    "give it `theme:` and/or `goto:`".to_owned()
                } else {
                    "give it a value or remove it".to_owned()
                };
                self.push(
                    ptr,
                    self.spans.value(ptr),
                    "schema.empty",
                    format!("{what} must not be empty"),
                    Some(hint),
                );
            }
            ValidationErrorKind::Minimum { limit } => {
                self.push(
                    ptr,
                    self.spans.value(ptr),
                    "schema.range",
                    format!("{what} must be at least {limit}, found {instance}"),
                    None,
                );
            }
            ValidationErrorKind::Maximum { limit } => {
                self.push(
                    ptr,
                    self.spans.value(ptr),
                    "schema.range",
                    format!("{what} must be at most {limit}, found {instance}"),
                    None,
                );
            }
            ValidationErrorKind::Pattern { .. } => {
                let desc = parent_schema(e.schema_path().as_str())
                    .and_then(|s| s.get("description"))
                    .and_then(Value::as_str)
                    .unwrap_or("a different value");
                self.push(
                    ptr,
                    self.spans.value(ptr),
                    "schema.pattern",
                    format!("{what}: {instance} is not valid here"),
                    Some(format!(
                        "expected {}",
                        lower_first(desc.trim_end_matches('.'))
                    )),
                );
            }
            _ => {
                self.push(
                    ptr,
                    self.spans.value(ptr),
                    "schema.invalid",
                    format!("{what}: {e}"),
                    None,
                );
            }
        }
    }
}

/// Whether `ptr` is `/nodes/<name>`.
fn is_node_pointer(ptr: &str) -> bool {
    let s = segments(ptr);
    s.len() == 2 && s[0] == "nodes"
}

fn is_routing_key(k: &str) -> bool {
    matches!(k, "next" | "routes" | "on_fail" | "on_success" | "on_error")
}

/// Unescaped segments of a JSON pointer.
pub fn segments(ptr: &str) -> Vec<String> {
    ptr.split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect()
}

/// A human name for the place a pointer designates.
fn describe(ptr: &str, root: &Value) -> String {
    let s = segments(ptr);
    match s.as_slice() {
        [] => "the flow".to_owned(),
        [n, name] if n == "nodes" => format!("node `{name}`"),
        [n, name, rest @ ..] if n == "nodes" => {
            format!(
                "`{}` of node `{name}`",
                dotted(rest, root.get("nodes").and_then(|n| n.get(name)))
            )
        }
        rest => format!("`{}`", dotted(rest, Some(root))),
    }
}

/// `["switch", "0", "when"]` → `switch[0].when`; keys that are not identifiers are quoted.
fn dotted(segs: &[String], mut value: Option<&Value>) -> String {
    let mut out = String::new();
    for s in segs {
        match value {
            Some(Value::Array(items)) => {
                out.push_str(&format!("[{s}]"));
                value = s.parse::<usize>().ok().and_then(|i| items.get(i));
            }
            other => {
                if s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !s.starts_with(|c: char| c.is_ascii_digit())
                {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(s);
                } else {
                    out.push_str(&format!("[\"{s}\"]"));
                }
                value = other.and_then(|v| v.get(s));
            }
        }
    }
    out
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_lowercase().chain(c).collect())
        .unwrap_or_default()
}

fn schema_path_ends(e: &ValidationError<'_>, suffix: &str) -> bool {
    e.schema_path().as_str().ends_with(suffix)
}

/// Whether the keyword at `schema_path` belongs to the `duration` definition (directly or
/// through a `$ref` to it).
fn is_duration_schema(schema_path: &str) -> bool {
    let Some((holder, _keyword)) = schema_path.rsplit_once('/') else {
        return false;
    };
    if holder.ends_with("/$defs/duration") {
        return true;
    }
    let holder = holder.strip_suffix("/$ref").unwrap_or(holder);
    SCHEMA
        .pointer(holder)
        .and_then(|s| s.get("$ref"))
        .and_then(Value::as_str)
        == Some("#/$defs/duration")
}

fn schema_at(schema_path: &str) -> Option<&'static Value> {
    SCHEMA.pointer(schema_path)
}

/// The schema object holding the keyword at `schema_path`.
fn parent_schema(schema_path: &str) -> Option<&'static Value> {
    let (parent, _) = schema_path.rsplit_once('/')?;
    SCHEMA.pointer(parent)
}

/// The property names allowed by the schema object whose `additionalProperties` failed.
fn allowed_keys(schema_path: &str) -> Vec<String> {
    parent_schema(schema_path)
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
        .map(|p| p.keys().filter(|k| *k != "$schema").cloned().collect())
        .unwrap_or_default()
}

/// The description of a required property, for hints.
fn field_help(schema_path: &str, prop: &str) -> String {
    let desc = parent_schema(schema_path)
        .and_then(|s| s.get("properties"))
        .and_then(|p| p.get(prop))
        .and_then(|p| {
            p.get("description").or_else(|| {
                p.get("$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| SCHEMA.pointer(r.trim_start_matches('#')))
                    .and_then(|s| s.get("description"))
            })
        })
        .and_then(Value::as_str);
    desc.map(|d| format!("— {}", d.trim_end_matches('.')))
        .unwrap_or_default()
}

fn type_names(kind: &TypeKind) -> String {
    match kind {
        TypeKind::Single(t) => article(&t.to_string()),
        TypeKind::Multiple(set) => set
            .iter()
            .map(|t| article(&t.to_string()))
            .collect::<Vec<_>>()
            .join(" or "),
    }
}

fn article(t: &str) -> String {
    match t {
        "object" => "a mapping".to_owned(),
        "array" => "a list".to_owned(),
        "integer" => "an integer".to_owned(),
        "null" => "empty".to_owned(),
        t => format!("a {t}"),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::source;

    fn check(text: &str) -> Vec<Diagnostic> {
        let p = source::parse(text, Path::new("t.yaml"));
        validate(&p.value.unwrap(), &p.spans, Path::new("t.yaml"))
            .into_iter()
            .map(|v| v.diagnostic)
            .collect()
    }

    #[test]
    fn schema_is_valid_against_its_meta_schema_and_documents_every_field() {
        jsonschema::meta::validate(&SCHEMA).unwrap();
        // Every property of every object schema has a description (directly or via its $ref).
        fn walk(v: &Value, at: &str, missing: &mut Vec<String>) {
            if let Some(props) = v.get("properties").and_then(Value::as_object) {
                for (k, p) in props {
                    let described = p.get("description").is_some()
                        || p.get("$ref")
                            .and_then(Value::as_str)
                            .and_then(|r| SCHEMA.pointer(r.trim_start_matches('#')))
                            .is_some_and(|t| t.get("description").is_some());
                    if !described && k != "$schema" {
                        missing.push(format!("{at}/{k}"));
                    }
                }
            }
            match v {
                Value::Object(o) => o
                    .iter()
                    .for_each(|(k, c)| walk(c, &format!("{at}/{k}"), missing)),
                Value::Array(a) => a
                    .iter()
                    .enumerate()
                    .for_each(|(i, c)| walk(c, &format!("{at}/{i}"), missing)),
                _ => {}
            }
        }
        let mut missing = Vec::new();
        walk(&SCHEMA, "", &mut missing);
        assert!(missing.is_empty(), "{missing:?}");
        let kinds: Vec<&str> = SCHEMA["$defs"]["node"]["anyOf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["required"][0].as_str().unwrap())
            .collect();
        assert_eq!(kinds, NODE_KINDS);
    }

    #[test]
    fn embedded_schema_compiles() {
        assert!(
            VALIDATOR.is_valid(&serde_json::json!({"start": "a", "nodes": {"a": {"hangup": {}}}}))
        );
    }

    #[test]
    fn unknown_key_suggests() {
        let d = check("start: a\nnodes:\n  a: { play: x.wav, nxt: b }\n");
        assert_eq!(d.len(), 1);
        assert_eq!(
            (d[0].code, d[0].line, d[0].col),
            ("schema.unknown_key", 3, 21)
        );
        assert_eq!(d[0].hint.as_deref(), Some("did you mean `next`?"));
    }

    #[test]
    fn unknown_kind_lists_kinds() {
        let d = check("start: a\nnodes:\n  a:\n    plya: x.wav\n");
        assert_eq!(d.len(), 1);
        assert_eq!(
            (d[0].code, d[0].line, d[0].col),
            ("schema.unknown_kind", 4, 5)
        );
        assert!(d[0]
            .hint
            .as_deref()
            .unwrap()
            .starts_with("did you mean `play`?"));
    }

    #[test]
    fn one_of_reports_the_meant_branch() {
        let d = check("start: a\nnodes:\n  a: { subflow: { flow: x.yaml, nxt: b } }\n");
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].code, "schema.unknown_key");
        // No branch takes a number: the types the branches want are named.
        let d = check("start: a\nnodes:\n  a: { play: 5 }\n");
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].code, "schema.type");
        assert_eq!(
            d[0].message,
            "`play` of node `a` must be a string or a list, found a number"
        );
        let d = check("env: 3\nstart: a\nnodes:\n  a: { hangup: {} }\n");
        assert_eq!(
            d[0].message,
            "`env` must be a list or a mapping, found a number"
        );
    }

    #[test]
    fn two_kinds_reported_once() {
        let d = check("start: a\nnodes:\n  a: { play: x.wav, say: hi }\n");
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].code, "schema.two_kinds");
    }

    #[test]
    fn durations_types_and_missing() {
        let d = check("nodes:\n  a: { pause: 5 s }\n  b: { http: { method: post }, on_success: a }\n  c: { play: [a.wav, 3] }\nroutes: [5000]\n");
        let codes: Vec<_> = d.iter().map(|d| d.code).collect();
        assert!(codes.contains(&"flow.missing_start"), "{codes:?}");
        assert!(codes.contains(&"schema.duration"));
        assert!(codes.contains(&"schema.enum"));
        assert!(codes.contains(&"schema.missing_key"));
        let quoted = d
            .iter()
            .find(|d| d.code == "schema.type" && d.line == 5)
            .unwrap();
        assert_eq!(quoted.hint.as_deref(), Some("quote it: \"5000\""));
        assert_eq!(
            quoted.message,
            "`routes[0]` must be a string, found a number"
        );
    }

    #[test]
    fn empties_ranges_and_names_read_well() {
        let d = check("start: a\nkeys: { \"1\": {} }\nthemes: { list: [] }\nvars: { 9x: 1 }\nnodes:\n  a: { gather: { tries: 0 }, next: a }\n  b: { switch: [] }\n");
        let got: Vec<_> = d
            .iter()
            .map(|d| (d.code, d.line, d.message.as_str()))
            .collect();
        assert!(
            got.contains(&("schema.empty", 2, "`keys[\"1\"]` must not be empty")),
            "{got:?}"
        );
        assert!(
            got.contains(&("schema.empty", 3, "`themes.list` must not be empty")),
            "{got:?}"
        );
        assert!(
            got.contains(&(
                "schema.range",
                6,
                "`gather.tries` of node `a` must be at least 1, found 0"
            )),
            "{got:?}"
        );
        assert!(
            got.contains(&("schema.empty", 7, "`switch` of node `b` must not be empty")),
            "{got:?}"
        );
        assert!(
            d.iter().any(|d| d.code == "schema.bad_name" && d.line == 4),
            "{got:?}"
        );
        let empty = check("");
        assert_eq!(empty.len(), 1);
        assert_eq!(
            empty[0].message,
            "the flow must be a mapping, found nothing"
        );
    }
}
