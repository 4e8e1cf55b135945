//! YAML text to a JSON value plus a map from every JSON pointer to its line and column.
//!
//! The flow pipeline validates and deserializes `serde_json::Value`s, but every diagnostic must
//! point at a line. This module drives saphyr-parser's span-keeping event parser, builds the
//! value with an explicit stack (no recursion, nesting capped at [`MAX_DEPTH`]) and records, for
//! each pointer such as `/nodes/menu/gather/timeout`, where its key and its value start.
//! Plain scalars resolve by the YAML 1.2 core schema. Duplicate keys, unsupported tags, complex
//! keys, multiple documents and alias bombs are diagnostics, never panics.
//!
//! It knows nothing about flows: the schema, the types and the checks come after.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};
use serde_json::{Map, Number, Value};

use crate::flow::diag::{Diagnostic, Pos};

/// Deepest nesting of sequences and mappings accepted.
pub const MAX_DEPTH: usize = 64;
/// Most values a document may expand to (aliases included).
pub const MAX_VALUES: usize = 1_000_000;

/// A parsed document: the value (if the YAML was readable) and where everything is.
#[derive(Debug, Default)]
pub struct Parsed {
    pub value: Option<Value>,
    pub spans: SpanMap,
    pub diagnostics: Vec<Diagnostic>,
}

/// Positions by JSON pointer (RFC 6901, as jsonschema reports instance paths).
#[derive(Debug, Default, Clone)]
pub struct SpanMap {
    values: HashMap<String, Pos>,
    keys: HashMap<String, Pos>,
}

impl SpanMap {
    /// Where the value at `pointer` starts, else where its closest ancestor starts.
    pub fn value(&self, pointer: &str) -> Pos {
        let mut p = pointer;
        loop {
            if let Some(pos) = self.values.get(p) {
                return *pos;
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => return Pos::START,
            }
        }
    }

    /// Where the key naming the value at `pointer` starts (mapping members only).
    pub fn key(&self, pointer: &str) -> Option<Pos> {
        self.keys.get(pointer).copied()
    }

    /// The key's position if `pointer` names a mapping member, else the value's.
    pub fn key_or_value(&self, pointer: &str) -> Pos {
        self.key(pointer).unwrap_or_else(|| self.value(pointer))
    }
}

/// Builds a JSON pointer from unescaped segments.
pub fn pointer<'a>(segments: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for s in segments {
        push_segment(&mut out, s);
    }
    out
}

/// Appends one escaped segment (`~` → `~0`, `/` → `~1`).
pub fn push_segment(out: &mut String, segment: &str) {
    out.push('/');
    for c in segment.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
}

/// Parses YAML text. Problems are reported against `path`.
pub fn parse(text: &str, path: &Path) -> Parsed {
    let mut b = Builder {
        path,
        stack: Vec::new(),
        anchors: HashMap::new(),
        spans: SpanMap::default(),
        diagnostics: Vec::new(),
        root: None,
        values: 0,
        docs: 0,
    };
    let mut parser = Parser::new_from_str(text);
    while let Some(item) = parser.next_event() {
        match item {
            Ok((event, span)) => {
                if !b.event(event, span) {
                    break;
                }
            }
            Err(e) => {
                let m = e.marker();
                b.diagnostics.push(
                    Diagnostic::error(
                        path,
                        Pos {
                            line: m.line().max(1),
                            col: m.col() + 1,
                        },
                        "yaml.syntax",
                        format!("YAML syntax error: {}", e.info()),
                    )
                    .with_hint("check the indentation and quoting around this place"),
                );
                return Parsed {
                    value: None,
                    spans: b.spans,
                    diagnostics: b.diagnostics,
                };
            }
        }
    }
    let value = Some(b.root.unwrap_or(Value::Null));
    Parsed {
        value,
        spans: b.spans,
        diagnostics: b.diagnostics,
    }
}

struct Builder<'p> {
    path: &'p Path,
    stack: Vec<Frame>,
    anchors: HashMap<usize, (Value, usize)>,
    spans: SpanMap,
    diagnostics: Vec<Diagnostic>,
    root: Option<Value>,
    /// Values produced so far, aliases counted by their size.
    values: usize,
    docs: usize,
}

enum Frame {
    Seq {
        items: Vec<Value>,
        ptr: String,
        anchor: usize,
        start: usize,
    },
    Map {
        map: Map<String, Value>,
        ptr: String,
        anchor: usize,
        key: KeyState,
        start: usize,
    },
    /// A subtree being thrown away (too deep, or used as a key); counts nesting.
    Skip { depth: usize, as_key: bool },
}

enum KeyState {
    /// The next scalar is a key.
    Expect,
    /// The next value belongs to this key (`None`: the key was bad, drop the value).
    Have(Option<String>),
}

impl Builder<'_> {
    fn error(&mut self, span: Span, code: &'static str, message: String, hint: &str) {
        self.diagnostics
            .push(Diagnostic::error(self.path, pos(span), code, message).with_hint(hint));
    }

    /// Handles one event; `false` stops parsing.
    fn event(&mut self, event: Event<'_>, span: Span) -> bool {
        if let Some(Frame::Skip { depth, as_key }) = self.stack.last_mut() {
            match event {
                Event::SequenceStart(..) | Event::MappingStart(..) => *depth += 1,
                Event::SequenceEnd | Event::MappingEnd => {
                    *depth -= 1;
                    if *depth == 0 {
                        let as_key = *as_key;
                        self.stack.pop();
                        if as_key {
                            if let Some(Frame::Map { key, .. }) = self.stack.last_mut() {
                                *key = KeyState::Have(None);
                            }
                        } else {
                            return self.finish(Value::Null, 0, span);
                        }
                    }
                }
                _ => {}
            }
            return true;
        }
        let kind_of_start = match &event {
            Event::MappingStart(..) => Some(true),
            Event::SequenceStart(..) => Some(false),
            _ => None,
        };
        match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing | Event::DocumentEnd => true,
            Event::DocumentStart(_) => {
                self.docs += 1;
                if self.docs > 1 {
                    self.error(
                        span,
                        "yaml.multiple_documents",
                        "a flow file holds one YAML document".into(),
                        "remove the `---` and everything after it, or split it into another file",
                    );
                    return false;
                }
                true
            }
            Event::Alias(id) => {
                if self.expecting_key() {
                    self.bad_key(span);
                    return true;
                }
                let Some((value, size)) = self.anchors.get(&id).cloned() else {
                    self.error(
                        span,
                        "yaml.alias",
                        "alias to an unknown anchor".into(),
                        "define the anchor (`&name`) before using it",
                    );
                    return self.finish(Value::Null, 0, span);
                };
                self.finish(value, size, span)
            }
            Event::Scalar(text, style, anchor, tag) => {
                if self.expecting_key() {
                    if let Some(Frame::Map { map, ptr, key, .. }) = self.stack.last_mut() {
                        let mut child = ptr.clone();
                        push_segment(&mut child, &text);
                        if map.contains_key(text.as_ref()) {
                            let first = self.spans.keys.get(&child).copied().unwrap_or(Pos::START);
                            let message = format!("duplicate key `{text}`");
                            *key = KeyState::Have(None);
                            self.diagnostics.push(
                                Diagnostic::error(
                                    self.path,
                                    pos(span),
                                    "yaml.duplicate_key",
                                    message,
                                )
                                .with_hint(format!(
                                    "first defined at line {}; remove one of them",
                                    first.line
                                )),
                            );
                        } else {
                            self.spans.keys.insert(child, pos(span));
                            *key = KeyState::Have(Some(text.into_owned()));
                        }
                    }
                    return true;
                }
                let value = self.scalar(text, style, tag, span);
                if anchor != 0 {
                    self.anchors.insert(anchor, (value.clone(), 1));
                }
                self.finish(value, 1, span)
            }
            Event::SequenceStart(anchor, tag) | Event::MappingStart(anchor, tag) => {
                let is_map = matches!(kind_of_start, Some(true));
                if self.expecting_key() {
                    self.bad_key(span);
                    self.stack.push(Frame::Skip {
                        depth: 1,
                        as_key: true,
                    });
                    return true;
                }
                self.check_collection_tag(tag.as_deref(), span);
                let ptr = self.child_pointer();
                if self.stack.len() >= MAX_DEPTH {
                    self.error(
                        span,
                        "yaml.too_deep",
                        format!("nesting deeper than {MAX_DEPTH} levels"),
                        "flatten this structure",
                    );
                    self.stack.push(Frame::Skip {
                        depth: 1,
                        as_key: false,
                    });
                    return true;
                }
                if let Some(ptr) = &ptr {
                    self.spans.values.insert(ptr.clone(), pos(span));
                }
                let ptr = ptr.unwrap_or_default();
                let start = self.values;
                self.stack.push(if is_map {
                    Frame::Map {
                        map: Map::new(),
                        ptr,
                        anchor,
                        key: KeyState::Expect,
                        start,
                    }
                } else {
                    Frame::Seq {
                        items: Vec::new(),
                        ptr,
                        anchor,
                        start,
                    }
                });
                true
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (value, anchor, start) = match self.stack.pop() {
                    Some(Frame::Seq {
                        items,
                        anchor,
                        start,
                        ..
                    }) => (Value::Array(items), anchor, start),
                    Some(Frame::Map {
                        map, anchor, start, ..
                    }) => (Value::Object(map), anchor, start),
                    _ => return true,
                };
                let size = self.values - start + 1;
                if anchor != 0 {
                    self.anchors.insert(anchor, (value.clone(), size));
                }
                // The members were already counted as they arrived.
                self.finish_counted(value, span)
            }
        }
    }

    fn expecting_key(&self) -> bool {
        matches!(
            self.stack.last(),
            Some(Frame::Map {
                key: KeyState::Expect,
                ..
            })
        )
    }

    fn bad_key(&mut self, span: Span) {
        self.error(
            span,
            "yaml.complex_key",
            "mapping keys must be plain strings".into(),
            "use a string key",
        );
    }

    /// The pointer of the value about to be added to the innermost collection (`None` when it
    /// will be dropped).
    fn child_pointer(&self) -> Option<String> {
        match self.stack.last() {
            None => Some(String::new()),
            Some(Frame::Seq { items, ptr, .. }) => {
                let mut p = ptr.clone();
                p.push('/');
                p.push_str(&items.len().to_string());
                Some(p)
            }
            Some(Frame::Map {
                ptr,
                key: KeyState::Have(Some(k)),
                ..
            }) => {
                let mut p = ptr.clone();
                push_segment(&mut p, k);
                Some(p)
            }
            _ => None,
        }
    }

    /// Adds a finished value of `size` values to its parent.
    fn finish(&mut self, value: Value, size: usize, span: Span) -> bool {
        self.values = self.values.saturating_add(size);
        if self.values > MAX_VALUES {
            self.error(
                span,
                "yaml.too_large",
                format!("the document expands to more than {MAX_VALUES} values"),
                "aliases multiply their anchor's size; use fewer of them",
            );
            return false;
        }
        if let Some(p) = self.child_pointer() {
            self.spans.values.entry(p).or_insert(pos(span));
        }
        self.finish_counted(value, span)
    }

    fn finish_counted(&mut self, value: Value, _span: Span) -> bool {
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(value);
                }
            }
            Some(Frame::Seq { items, .. }) => items.push(value),
            Some(Frame::Map { map, key, .. }) => {
                if let KeyState::Have(Some(k)) = std::mem::replace(key, KeyState::Expect) {
                    map.insert(k, value);
                }
            }
            Some(Frame::Skip { .. }) => {}
        }
        true
    }

    fn check_collection_tag(&mut self, tag: Option<&Tag>, span: Span) {
        if let Some(tag) = tag {
            let core =
                tag.is_yaml_core_schema() && matches!(tag.suffix.as_str(), "map" | "seq" | "omap");
            if !core {
                self.unsupported_tag(tag, span);
            }
        }
    }

    fn unsupported_tag(&mut self, tag: &Tag, span: Span) {
        self.error(
            span,
            "yaml.unsupported_tag",
            format!("unsupported YAML tag `{tag}`"),
            "remove the tag; flows use plain YAML values",
        );
    }

    fn scalar(
        &mut self,
        text: Cow<'_, str>,
        style: ScalarStyle,
        tag: Option<Cow<'_, Tag>>,
        span: Span,
    ) -> Value {
        if let Some(tag) = tag {
            if tag.is_yaml_core_schema() {
                let resolved = match tag.suffix.as_str() {
                    "str" => Some(Value::String(text.to_string())),
                    "null" => Some(Value::Null),
                    "bool" => resolve_bool(&text).map(Value::Bool),
                    "int" => resolve_int(&text),
                    "float" => resolve_float(&text).or_else(|| resolve_int(&text)),
                    _ => None,
                };
                if let Some(v) = resolved {
                    return v;
                }
                self.error(
                    span,
                    "yaml.unsupported_tag",
                    format!("`{text}` is not a valid `{tag}`"),
                    "remove the tag or fix the value",
                );
            } else {
                self.unsupported_tag(&tag, span);
            }
        }
        if style != ScalarStyle::Plain {
            return Value::String(text.into_owned());
        }
        resolve_plain(&text)
    }
}

fn pos(span: Span) -> Pos {
    Pos {
        line: span.start.line().max(1),
        col: span.start.col() + 1,
    }
}

/// YAML 1.2 core schema resolution of a plain scalar.
fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        _ => {}
    }
    if let Some(b) = resolve_bool(text) {
        return Value::Bool(b);
    }
    resolve_int(text)
        .or_else(|| resolve_float(text))
        .unwrap_or_else(|| Value::String(text.to_owned()))
}

fn resolve_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

fn resolve_int(text: &str) -> Option<Value> {
    let (radix, digits) = if let Some(h) = text.strip_prefix("0x") {
        (16, h)
    } else if let Some(o) = text.strip_prefix("0o") {
        (8, o)
    } else {
        let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
        if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if let Ok(i) = text.parse::<i64>() {
            return Some(Value::Number(i.into()));
        }
        if let Ok(u) = text.parse::<u64>() {
            return Some(Value::Number(u.into()));
        }
        // Too large for an integer: keep it as a float if it is finite, else as text.
        return Some(
            text.parse::<f64>()
                .ok()
                .and_then(Number::from_f64)
                .map_or_else(|| Value::String(text.to_owned()), Value::Number),
        );
    };
    if digits.is_empty() {
        return None;
    }
    u64::from_str_radix(digits, radix)
        .ok()
        .map(|u| Value::Number(u.into()))
}

fn resolve_float(text: &str) -> Option<Value> {
    let first = text.bytes().next()?;
    if !(first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.')) {
        return None;
    }
    if !text
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
    {
        return None;
    }
    if !text.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    let f: f64 = text.parse().ok()?;
    // Non-finite values have no JSON form; they stay text and the schema decides.
    Some(Number::from_f64(f).map_or_else(|| Value::String(text.to_owned()), Value::Number))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(text: &str) -> Parsed {
        let p = parse(text, Path::new("t.yaml"));
        assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
        p
    }

    fn codes(text: &str) -> Vec<&'static str> {
        parse(text, Path::new("t.yaml"))
            .diagnostics
            .iter()
            .map(|d| d.code)
            .collect()
    }

    #[test]
    fn builds_value_and_spans() {
        let p = ok(
            "start: greet\nnodes:\n  greet: { play: a.wav, next: end }\n  end:\n    hangup: {}\n",
        );
        assert_eq!(
            p.value.unwrap(),
            json!({"start": "greet", "nodes": {"greet": {"play": "a.wav", "next": "end"}, "end": {"hangup": {}}}})
        );
        assert_eq!(p.spans.value("/start"), Pos { line: 1, col: 8 });
        assert_eq!(p.spans.key("/nodes/greet"), Some(Pos { line: 3, col: 3 }));
        assert_eq!(p.spans.value("/nodes/greet/next"), Pos { line: 3, col: 31 });
        assert_eq!(
            p.spans.key("/nodes/end/hangup"),
            Some(Pos { line: 5, col: 5 })
        );
        // Unknown pointers fall back to their closest ancestor.
        assert_eq!(
            p.spans.value("/nodes/greet/next/x/y"),
            Pos { line: 3, col: 31 }
        );
    }

    #[test]
    fn resolves_core_schema_scalars() {
        let p = ok("a: 5000\nb: '5000'\nc: ~\nd: true\ne: 1.5\nf: 0x10\ng: hello\nh: 99999999999999999999999\ni: .inf\nj:\n  - 1\n  - x\n");
        assert_eq!(
            p.value.unwrap(),
            json!({"a": 5000, "b": "5000", "c": null, "d": true, "e": 1.5, "f": 16, "g": "hello",
                   "h": 1e23, "i": ".inf", "j": [1, "x"]})
        );
    }

    #[test]
    fn escapes_pointers() {
        let p = ok("\"a/b\": { \"c~d\": 1 }\n");
        assert_eq!(pointer(["a/b", "c~d"]), "/a~1b/c~0d");
        assert_eq!(p.spans.key("/a~1b/c~0d"), Some(Pos { line: 1, col: 10 }));
    }

    #[test]
    fn syntax_error_has_a_position() {
        let p = parse("a: [1, 2\nb: 3\n", Path::new("t.yaml"));
        assert!(p.value.is_none());
        assert_eq!(p.diagnostics.len(), 1);
        assert_eq!(p.diagnostics[0].code, "yaml.syntax");
        assert!(p.diagnostics[0].line >= 1);
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let p = parse("a: 1\nb: 2\na: 3\n", Path::new("t.yaml"));
        assert_eq!(p.diagnostics.len(), 1);
        let d = &p.diagnostics[0];
        assert_eq!((d.code, d.line, d.col), ("yaml.duplicate_key", 3, 1));
        assert_eq!(p.value.unwrap(), json!({"a": 1, "b": 2}));
    }

    #[test]
    fn aliases_expand_and_bombs_stop() {
        let p = ok("base: &b { x: 1 }\nother: *b\n");
        assert_eq!(
            p.value.unwrap(),
            json!({"base": {"x": 1}, "other": {"x": 1}})
        );
        let mut bomb = String::from("a: &a [1,1,1,1,1,1,1,1,1,1]\n");
        let mut prev = 'a';
        for c in 'b'..='k' {
            bomb.push_str(&format!("{c}: &{c} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"));
            prev = c;
        }
        assert!(codes(&bomb).contains(&"yaml.too_large"));
    }

    #[test]
    fn deep_nesting_is_capped() {
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        // saphyr stops very deep flow collections itself; either way it is one error.
        assert_eq!(codes(&deep).len(), 1);
        assert_eq!(
            codes(&("[".repeat(100) + &"]".repeat(100))),
            vec!["yaml.too_deep"]
        );
        let deep_map = (0..200)
            .map(|i| format!("{}k:\n", "  ".repeat(i)))
            .collect::<String>();
        assert!(codes(&deep_map).contains(&"yaml.too_deep"));
    }

    #[test]
    fn odd_input_never_panics() {
        for text in [
            "",
            "---\n",
            "--- a\n--- b\n",
            "? [a]\n: 1\n",
            "!!int x: 1\n",
            "a: !custom 1\n",
            "*x\n",
            "a: !!int nope\n",
            "\t",
            "a:\n- b\n-c",
            "{a: 1, a: 2}",
            "[*a]",
            "a: &x\nb: *x\n",
            "? |\n  k\n: v\n",
            "\u{feff}a: 1",
            "a: 0x\nb: 0o9\n",
            "- - - - -\n",
            "{[1]: 2}",
        ] {
            let _ = parse(text, Path::new("t.yaml"));
        }
        assert_eq!(codes("--- a\n--- b\n"), vec!["yaml.multiple_documents"]);
        assert_eq!(codes("a: !custom 1\n"), vec!["yaml.unsupported_tag"]);
        assert_eq!(codes("{[1]: 2, b: 3}"), vec!["yaml.complex_key"]);
        assert_eq!(
            parse("{[1]: 2, b: 3}", Path::new("t")).value.unwrap(),
            json!({"b": 3})
        );
    }
}
