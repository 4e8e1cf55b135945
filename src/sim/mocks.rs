//! Canned results for the integrations a simulated call uses, keyed by node name.
//!
//! ```yaml
//! http:     { weather: { status: 200, json: { temp: 35 }, delay: 300ms }, lookup: { error: "refused" } }
//! listen:   { ask: ["yes please"] }          # transcripts on successive attempts
//! agent:    { agent: { result: { intent: billing }, duration: 20s } }   # or { error: ".." }
//!           # or the tool the model calls at the end: { tool: billing, arguments: { account: "42" } }
//! stream:   { bot: { result: {}, duration: 10s } }   # or { transfer: "tel:+1555", duration: 5s }
//! transfer: { operator: { ok: false, reason: "486 Busy Here" } }       # default: ok
//! record:   { voicemail: { error: "no disk" } }  # or { duration: 12s } (default: its `max`)
//! play:     { "https://example.com/song.mp3": 30s }                   # remote prompt lengths
//! ```
//! Defaults when a node has no mock are the driver's business (`sim::driver`). Test files merge
//! a case's `mocks:` over the file's with [`Mocks::merged_over`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::flow::diag::{self, Diagnostic};
use crate::flow::duration::parse_duration;
use crate::flow::source;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Mocks {
    pub http: BTreeMap<String, HttpMock>,
    pub listen: BTreeMap<String, ListenMock>,
    pub agent: BTreeMap<String, SessionMock>,
    pub stream: BTreeMap<String, StreamMock>,
    pub transfer: BTreeMap<String, TransferMock>,
    pub record: BTreeMap<String, RecordMock>,
    /// Lengths of prompts by URL (or file name as written) instead of the defaults.
    pub play: BTreeMap<String, MockDuration>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpMock {
    /// Reply status (default 200) ...
    pub status: Option<u16>,
    /// ... and JSON body (default `null`).
    pub json: Option<Value>,
    /// A transport failure instead of a reply.
    pub error: Option<String>,
    pub delay: Option<MockDuration>,
}

/// Transcripts for successive attempts of a `listen` (a single string is one attempt).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListenMock(pub Vec<String>);

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionMock {
    pub result: Option<Value>,
    pub error: Option<String>,
    pub duration: Option<MockDuration>,
    /// Agent only: the tool the model calls at the end (a `goto` tool, `end_call`, `transfer`).
    pub tool: Option<String>,
    /// Agent only: the tool's arguments (`transfer` takes `{ target: name }`).
    pub arguments: Option<Value>,
}

/// A bot session: like [`SessionMock`], or a bot that hands the caller on (`transfer`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamMock {
    pub result: Option<Value>,
    pub error: Option<String>,
    pub duration: Option<MockDuration>,
    /// The bot asks to transfer the caller to this target when the session ends.
    pub transfer: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferMock {
    #[serde(default = "yes")]
    pub ok: bool,
    pub reason: Option<String>,
    pub delay: Option<MockDuration>,
}

/// A recording that fails (`error`, the node's `on_error` is taken) or lasts `duration`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordMock {
    pub error: Option<String>,
    pub duration: Option<MockDuration>,
}

/// A duration written as in flows (`300ms`, `20s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MockDuration(pub Duration);

/// Why a mocks file could not be used.
#[derive(Debug)]
pub enum MockError {
    Io(std::io::Error),
    /// YAML syntax errors, with positions.
    Yaml(Vec<Diagnostic>),
    Shape(serde_json::Error),
}

impl Mocks {
    /// Reads a mocks file (YAML).
    pub fn load(path: &Path) -> Result<Mocks, MockError> {
        let text = std::fs::read_to_string(path).map_err(MockError::Io)?;
        let parsed = source::parse(&text, path);
        if diag::has_errors(&parsed.diagnostics) {
            return Err(MockError::Yaml(parsed.diagnostics));
        }
        Mocks::from_value(parsed.value.unwrap_or_default()).map_err(MockError::Shape)
    }

    /// From an already parsed value (`null` is no mocks).
    pub fn from_value(value: Value) -> Result<Mocks, serde_json::Error> {
        if value.is_null() {
            return Ok(Mocks::default());
        }
        serde_json::from_value(value)
    }

    /// `self`'s entries over `base`'s, node by node.
    pub fn merged_over(&self, base: &Mocks) -> Mocks {
        fn merge<T: Clone>(
            top: &BTreeMap<String, T>,
            base: &BTreeMap<String, T>,
        ) -> BTreeMap<String, T> {
            let mut out = base.clone();
            out.extend(top.iter().map(|(k, v)| (k.clone(), v.clone())));
            out
        }
        Mocks {
            http: merge(&self.http, &base.http),
            listen: merge(&self.listen, &base.listen),
            agent: merge(&self.agent, &base.agent),
            stream: merge(&self.stream, &base.stream),
            transfer: merge(&self.transfer, &base.transfer),
            record: merge(&self.record, &base.record),
            play: merge(&self.play, &base.play),
        }
    }
}

fn yes() -> bool {
    true
}

impl<'de> Deserialize<'de> for ListenMock {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        Ok(match OneOrMany::deserialize(d)? {
            OneOrMany::One(s) => ListenMock(vec![s]),
            OneOrMany::Many(v) => ListenMock(v),
        })
    }
}

impl<'de> Deserialize<'de> for MockDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s)
            .map(MockDuration)
            .map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for MockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MockError::Io(e) => write!(f, "{e}"),
            MockError::Yaml(diags) => {
                for d in diags {
                    writeln!(f, "{d}")?;
                }
                Ok(())
            }
            MockError::Shape(e) => write!(f, "not a mocks file: {e}"),
        }
    }
}

impl std::error::Error for MockError {}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_the_contract_example() {
        let v = source::parse(
            "http:\n  weather: { status: 200, json: { temp: 35 }, delay: 300ms }\n  lookup: { error: \"connection refused\" }\nlisten:\n  ask: [\"yes please\"]\n  other: \"no\"\nagent:\n  agent: { result: { intent: billing }, duration: 20s }\ntransfer:\n  operator: { ok: false, reason: \"486 Busy Here\" }\n",
            Path::new("m.yaml"),
        )
        .value
        .unwrap();
        let m = Mocks::from_value(v).unwrap();
        assert_eq!(m.http["weather"].json, Some(json!({"temp": 35})));
        assert_eq!(
            m.http["weather"].delay,
            Some(MockDuration(Duration::from_millis(300)))
        );
        assert_eq!(m.listen["other"], ListenMock(vec!["no".into()]));
        assert!(!m.transfer["operator"].ok);
        assert!(Mocks::from_value(json!({"htp": {}})).is_err());
        assert!(Mocks::from_value(json!({"http": {"x": {"delay": "soon"}}})).is_err());
    }

    #[test]
    fn case_mocks_merge_over_file_mocks() {
        let base = Mocks::from_value(json!({"http": {"a": {"status": 200}, "b": {"status": 201}}}))
            .unwrap();
        let top = Mocks::from_value(json!({"http": {"b": {"error": "down"}}})).unwrap();
        let m = top.merged_over(&base);
        assert_eq!(m.http["a"].status, Some(200));
        assert_eq!(m.http["b"].error.as_deref(), Some("down"));
    }
}
