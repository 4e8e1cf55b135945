//! Schema types: a flow file as written, deserialized from the schema-checked JSON value.
//!
//! These mirror `schema/flow.schema.json` and nothing more: names are still strings, durations
//! are still text, templates are not compiled. The compiler (`flow::compile`) turns them into
//! the runtime [`Program`](crate::flow::program::Program); the two are deliberately different types.
//! Nodes are kept as raw values in [`FlowDoc::nodes`] and deserialized one by one, so one broken
//! node does not hide the problems of the others.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

/// A mapping that keeps the file's order.
#[derive(Debug, Clone)]
pub struct Ordered<V>(pub Vec<(String, V)>);

impl<V> Default for Ordered<V> {
    fn default() -> Self {
        Ordered(Vec::new())
    }
}

impl<V> Ordered<V> {
    pub fn iter(&self) -> impl Iterator<Item = (&str, &V)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Ordered<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V2<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for V2<V> {
            type Value = Ordered<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, V>()? {
                    out.push((k, v));
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(V2(PhantomData))
    }
}

/// The top level of a flow file.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct FlowDoc {
    pub name: Option<String>,
    pub routes: Vec<String>,
    pub default: bool,
    pub env: EnvDoc,
    pub vars: Ordered<Value>,
    pub themes: Option<ThemesDoc>,
    pub keys: Ordered<KeyDoc>,
    pub start: Option<String>,
    /// Raw nodes; see [`NodeDoc`].
    pub nodes: Ordered<Value>,
}

/// `env: [A, B]`, or `env: { A: "default", B: ~ }` (a default for a variable that is not set).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum EnvDoc {
    Names(Vec<String>),
    WithDefaults(Ordered<Option<String>>),
}

impl Default for EnvDoc {
    fn default() -> Self {
        EnvDoc::Names(Vec::new())
    }
}

impl EnvDoc {
    /// Each name with its default, in the file's order.
    pub fn entries(&self) -> Vec<(String, Option<String>)> {
        match self {
            EnvDoc::Names(n) => n.iter().map(|n| (n.clone(), None)).collect(),
            EnvDoc::WithDefaults(m) => m.0.clone(),
        }
    }

    /// Whether it is the mapping form (the pointer of an entry is `/env/NAME`, not `/env/i`).
    pub fn is_mapping(&self) -> bool {
        matches!(self, EnvDoc::WithDefaults(_))
    }
}

#[derive(Debug, Deserialize)]
pub struct ThemesDoc {
    pub list: Vec<String>,
    pub start: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct KeyDoc {
    pub theme: Option<String>,
    pub goto: Option<String>,
}

/// One node as written: exactly one kind field is set (the schema guarantees it).
#[derive(Debug, Deserialize)]
pub struct NodeDoc {
    play: Option<Prompts>,
    say: Option<SayDoc>,
    gather: Option<GatherDoc>,
    listen: Option<ListenDoc>,
    http: Option<HttpDoc>,
    switch: Option<Vec<ArmDoc>>,
    set: Option<Ordered<Value>>,
    goto: Option<String>,
    subflow: Option<SubflowDoc>,
    pause: Option<String>,
    record: Option<RecordDoc>,
    agent: Option<AgentDoc>,
    stream: Option<StreamDoc>,
    transfer: Option<TransferDoc>,
    hangup: Option<HangupDoc>,
    ack: Option<AckDoc>,
    #[serde(flatten)]
    pub links: Links,
}

/// The routing keys beside a node's kind.
#[derive(Debug, Default, Deserialize)]
pub struct Links {
    pub next: Option<String>,
    pub routes: Option<Ordered<String>>,
    pub on_fail: Option<String>,
    pub on_success: Option<String>,
    pub on_error: Option<String>,
}

/// A node's kind with its settings.
#[derive(Debug)]
pub enum KindDoc {
    Play(Prompts),
    Say(SayDoc),
    Gather(GatherDoc),
    Listen(ListenDoc),
    Http(HttpDoc),
    Switch(Vec<ArmDoc>),
    Set(Ordered<Value>),
    Goto(String),
    Subflow(SubflowDoc),
    Pause(String),
    Record(RecordDoc),
    Agent(AgentDoc),
    Stream(StreamDoc),
    Transfer(TransferDoc),
    Hangup(HangupDoc),
    Ack(AckDoc),
}

impl NodeDoc {
    /// Splits the node into its kind and its links; `None` if it has no kind.
    pub fn into_parts(self) -> Option<(KindDoc, Links)> {
        let kind = if let Some(v) = self.play {
            KindDoc::Play(v)
        } else if let Some(v) = self.say {
            KindDoc::Say(v)
        } else if let Some(v) = self.gather {
            KindDoc::Gather(v)
        } else if let Some(v) = self.listen {
            KindDoc::Listen(v)
        } else if let Some(v) = self.http {
            KindDoc::Http(v)
        } else if let Some(v) = self.switch {
            KindDoc::Switch(v)
        } else if let Some(v) = self.set {
            KindDoc::Set(v)
        } else if let Some(v) = self.goto {
            KindDoc::Goto(v)
        } else if let Some(v) = self.subflow {
            KindDoc::Subflow(v)
        } else if let Some(v) = self.pause {
            KindDoc::Pause(v)
        } else if let Some(v) = self.record {
            KindDoc::Record(v)
        } else if let Some(v) = self.agent {
            KindDoc::Agent(v)
        } else if let Some(v) = self.stream {
            KindDoc::Stream(v)
        } else if let Some(v) = self.transfer {
            KindDoc::Transfer(v)
        } else if let Some(v) = self.hangup {
            KindDoc::Hangup(v)
        } else {
            KindDoc::Ack(self.ack?)
        };
        Some((kind, self.links))
    }
}

impl KindDoc {
    /// The kind's key in the flow (`play`, `gather`, ...).
    pub fn key(&self) -> &'static str {
        match self {
            KindDoc::Play(_) => "play",
            KindDoc::Say(_) => "say",
            KindDoc::Gather(_) => "gather",
            KindDoc::Listen(_) => "listen",
            KindDoc::Http(_) => "http",
            KindDoc::Switch(_) => "switch",
            KindDoc::Set(_) => "set",
            KindDoc::Goto(_) => "goto",
            KindDoc::Subflow(_) => "subflow",
            KindDoc::Pause(_) => "pause",
            KindDoc::Record(_) => "record",
            KindDoc::Agent(_) => "agent",
            KindDoc::Stream(_) => "stream",
            KindDoc::Transfer(_) => "transfer",
            KindDoc::Hangup(_) => "hangup",
            KindDoc::Ack(_) => "ack",
        }
    }
}

/// One prompt or a list of them.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Prompts {
    One(String),
    Many(Vec<String>),
}

impl Prompts {
    pub fn as_slice(&self) -> &[String] {
        match self {
            Prompts::One(s) => std::slice::from_ref(s),
            Prompts::Many(v) => v,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum SayDoc {
    Text(String),
    Full {
        text: String,
        voice: Option<String>,
        engine: Option<String>,
    },
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct GatherDoc {
    pub prompt: Option<Prompts>,
    pub digits: DigitsDoc,
    pub finish_on: Option<String>,
    pub timeout: Option<String>,
    pub inter_digit_timeout: Option<String>,
    pub tries: Option<u8>,
    pub invalid: Option<Prompts>,
    pub no_input: Option<Prompts>,
    pub save: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DigitsDoc {
    pub min: Option<u8>,
    pub max: Option<u8>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListenDoc {
    pub prompt: Option<Prompts>,
    pub timeout: Option<String>,
    pub tries: Option<u8>,
    pub language: Option<String>,
    pub save: Option<String>,
    pub engine: Option<String>,
    pub silence: Option<String>,
    pub grammar: Option<GrammarDoc>,
}

/// `listen.grammar`: `digits`, or the phrases to choose among.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum GrammarDoc {
    Kind(String),
    Phrases(Vec<String>),
}

#[derive(Debug, Deserialize)]
pub struct HttpDoc {
    pub method: Option<String>,
    pub url: String,
    #[serde(default)]
    pub headers: Ordered<String>,
    pub json: Option<Value>,
    pub timeout: Option<String>,
    pub retries: Option<u8>,
    pub save: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ArmDoc {
    pub when: Option<String>,
    pub goto: String,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum SubflowDoc {
    File(String),
    Full { flow: String },
}

impl SubflowDoc {
    pub fn file(&self) -> &str {
        match self {
            SubflowDoc::File(f) | SubflowDoc::Full { flow: f } => f,
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct RecordDoc {
    pub prompt: Option<Prompts>,
    pub max: String,
    pub finish_on: Option<String>,
    pub beep: Option<bool>,
    pub silence: Option<String>,
    pub save: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AgentDoc {
    pub provider: Option<String>,
    pub model: Option<String>,
    pub voice: Option<String>,
    pub instructions: Option<String>,
    pub greeting: Option<String>,
    pub turn_detection: Option<TurnDetectionDoc>,
    pub dtmf: Option<String>,
    pub tools: Vec<AgentToolDoc>,
    pub transcribe: Option<bool>,
    pub silence_timeout: Option<String>,
    pub max_duration: Option<String>,
    pub save: Option<String>,
}

/// `server_vad`, `semantic_vad`, or the full form with its parameters.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum TurnDetectionDoc {
    Kind(String),
    Full(TurnDetectionFull),
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TurnDetectionFull {
    #[serde(rename = "type")]
    pub kind: String,
    pub threshold: Option<f64>,
    pub prefix_padding: Option<String>,
    pub silence_duration: Option<String>,
    pub idle_timeout: Option<String>,
    pub eagerness: Option<String>,
}

/// One tool as written: `name` + `webhook` or `goto`, or `builtin: end_call | transfer`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AgentToolDoc {
    pub name: Option<String>,
    pub builtin: Option<String>,
    pub description: Option<String>,
    pub parameters: Option<Value>,
    pub webhook: Option<WebhookDoc>,
    pub goto: Option<String>,
    pub targets: Option<Ordered<String>>,
}

#[derive(Debug, Deserialize)]
pub struct WebhookDoc {
    pub url: String,
    pub method: Option<String>,
    #[serde(default)]
    pub headers: Ordered<String>,
    pub timeout: Option<String>,
    pub retries: Option<u8>,
}

#[derive(Debug, Deserialize)]
pub struct StreamDoc {
    pub url: String,
    pub protocol: Option<String>,
    #[serde(default)]
    pub headers: Ordered<String>,
    #[serde(default)]
    pub custom: Ordered<String>,
    pub max_duration: Option<String>,
    pub rate: Option<u32>,
    pub save: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum TransferDoc {
    Target(String),
    Full { target: String },
}

impl TransferDoc {
    pub fn target(&self) -> &str {
        match self {
            TransferDoc::Target(t) | TransferDoc::Full { target: t } => t,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct HangupDoc {
    pub reason: Option<String>,
}

/// `ack: {}` / `ack: { as: heard }`.
#[derive(Debug, Default, Deserialize)]
pub struct AckDoc {
    #[serde(rename = "as", default)]
    pub mark: MarkDoc,
}

/// What an `ack` node marks.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MarkDoc {
    #[default]
    Acknowledged,
    Heard,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_order_and_splits_nodes() {
        let doc: FlowDoc = serde_json::from_value(json!({
            "start": "b", "nodes": {"b": {"play": ["x.wav", "y.wav"], "next": "a"}, "a": {"hangup": {}}},
            "keys": {"#": {"theme": "next"}}
        }))
        .unwrap();
        let names: Vec<&str> = doc.nodes.iter().map(|(k, _)| k).collect();
        assert_eq!(names, ["b", "a"]);
        let node: NodeDoc = serde_json::from_value(doc.nodes.0[0].1.clone()).unwrap();
        let (kind, links) = node.into_parts().unwrap();
        assert_eq!(kind.key(), "play");
        assert_eq!(links.next.as_deref(), Some("a"));
        let KindDoc::Play(p) = kind else {
            panic!("play")
        };
        assert_eq!(p.as_slice(), ["x.wav", "y.wav"]);
    }

    #[test]
    fn untagged_shapes() {
        let n: NodeDoc =
            serde_json::from_value(json!({"transfer": {"target": "sip:1@x"}})).unwrap();
        let Some((KindDoc::Transfer(t), _)) = n.into_parts() else {
            panic!("transfer")
        };
        assert_eq!(t.target(), "sip:1@x");
        let n: NodeDoc =
            serde_json::from_value(json!({"subflow": "other.yaml", "next": "x"})).unwrap();
        let Some((KindDoc::Subflow(s), _)) = n.into_parts() else {
            panic!("subflow")
        };
        assert_eq!(s.file(), "other.yaml");
    }
}
