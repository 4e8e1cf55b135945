//! YAML text to a `serde_json::Value`, for test files and mocks files.
//!
//! Uses the same event parser as the flow loader (saphyr-parser). Plain scalars resolve like YAML
//! 1.2's core schema (`null`/`~`/empty, `true`/`false`, integers, floats, else strings); quoted and
//! block scalars are strings; anchors and aliases are followed; tags are ignored. Only the first
//! document is read. Errors carry the 1-based line and column. Flows themselves are loaded by
//! `flow::load`, which also keeps the position of every value.

use std::collections::HashMap;
use std::fmt;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};
use serde_json::{Map, Number, Value};

/// A YAML syntax or structure error.
#[derive(Debug, Clone, PartialEq)]
pub struct YamlError {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.col, self.message)
    }
}

impl std::error::Error for YamlError {}

/// Parses the first YAML document of `text` (an empty text is `null`).
pub fn parse(text: &str) -> Result<Value, YamlError> {
    let mut reader = Reader {
        parser: Parser::new_from_str(text),
        anchors: HashMap::new(),
        depth: 0,
    };
    loop {
        let (event, span) = reader.next()?;
        match event {
            Event::StreamStart | Event::DocumentStart(_) | Event::Nothing => {}
            Event::StreamEnd | Event::DocumentEnd => return Ok(Value::Null),
            other => return reader.value(other, span),
        }
    }
}

const MAX_DEPTH: usize = 128;

struct Reader<'a> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    anchors: HashMap<usize, Value>,
    depth: usize,
}

impl<'a> Reader<'a> {
    fn next(&mut self) -> Result<(Event<'a>, Span), YamlError> {
        match self.parser.next_event() {
            Some(Ok(pair)) => Ok(pair),
            Some(Err(e)) => Err(YamlError {
                line: e.marker().line(),
                col: e.marker().col() + 1,
                message: e.info().to_owned(),
            }),
            None => Err(YamlError {
                line: 0,
                col: 0,
                message: "unexpected end of YAML".into(),
            }),
        }
    }

    fn value(&mut self, event: Event<'a>, span: Span) -> Result<Value, YamlError> {
        let err = |message: String| YamlError {
            line: span.start.line(),
            col: span.start.col() + 1,
            message,
        };
        match event {
            Event::Scalar(text, style, anchor, _) => {
                let v = scalar(&text, style);
                self.remember(anchor, &v);
                Ok(v)
            }
            Event::Alias(id) => self
                .anchors
                .get(&id)
                .cloned()
                .ok_or_else(|| err("unknown alias".into())),
            Event::SequenceStart(anchor, _) => {
                self.enter(&err)?;
                let mut items = Vec::new();
                loop {
                    let (ev, sp) = self.next()?;
                    if matches!(ev, Event::SequenceEnd) {
                        break;
                    }
                    items.push(self.value(ev, sp)?);
                }
                self.depth -= 1;
                let v = Value::Array(items);
                self.remember(anchor, &v);
                Ok(v)
            }
            Event::MappingStart(anchor, _) => {
                self.enter(&err)?;
                let mut map = Map::new();
                loop {
                    let (ev, sp) = self.next()?;
                    if matches!(ev, Event::MappingEnd) {
                        break;
                    }
                    let key = match self.value(ev, sp)? {
                        Value::String(s) => s,
                        Value::Null => "null".to_owned(),
                        other => other.to_string(),
                    };
                    let (ev, sp) = self.next()?;
                    let v = self.value(ev, sp)?;
                    if map.insert(key.clone(), v).is_some() {
                        return Err(YamlError {
                            line: sp.start.line(),
                            col: sp.start.col() + 1,
                            message: format!("duplicate key `{key}`"),
                        });
                    }
                }
                self.depth -= 1;
                let v = Value::Object(map);
                self.remember(anchor, &v);
                Ok(v)
            }
            other => Err(err(format!("unexpected YAML event {other:?}"))),
        }
    }

    fn enter(&mut self, err: &dyn Fn(String) -> YamlError) -> Result<(), YamlError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(err("YAML nested too deeply".into()));
        }
        Ok(())
    }

    fn remember(&mut self, anchor: usize, v: &Value) {
        if anchor > 0 {
            self.anchors.insert(anchor, v.clone());
        }
    }
}

fn scalar(text: &str, style: ScalarStyle) -> Value {
    if style != ScalarStyle::Plain {
        return Value::String(text.to_owned());
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Ok(i) = text.parse::<i64>() {
        return Value::Number(i.into());
    }
    let looks_numeric = text
        .trim_start_matches(['-', '+'])
        .starts_with(|c: char| c.is_ascii_digit() || c == '.');
    if looks_numeric {
        if let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64) {
            return Value::Number(n);
        }
    }
    Value::String(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn converts_scalars_maps_lists_and_aliases() {
        let v = parse(
            "a: 1\nb: 2.5\nc: yes\nd: \"1\"\ne: ~\nf: [x, true]\ng: &g {k: v}\nh: *g\ni: \"#\"\n",
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"a": 1, "b": 2.5, "c": "yes", "d": "1", "e": null, "f": ["x", true],
                   "g": {"k": "v"}, "h": {"k": "v"}, "i": "#"})
        );
        assert_eq!(parse("").unwrap(), Value::Null);
    }

    #[test]
    fn errors_have_positions() {
        let e = parse("a: 1\nb: [1, 2\n").unwrap_err();
        assert!(e.line >= 2, "{e}");
        let e = parse("a: 1\na: 2\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("duplicate key"));
    }
}
