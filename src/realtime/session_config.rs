//! [`SessionConfig`]: everything an agent session is configured with, and how it becomes the
//! `session` object of the first `session.update` (GA shape: `audio.input`/`audio.output`,
//! turn detection that creates and interrupts responses on the server, function tools).

use std::time::Duration;

use serde_json::{json, Map, Value};

use super::format::AudioFormat;
use crate::flow::agent::{AgentDtmf, TurnDetection};
use crate::machine::io::ToolRequest;

#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub model: String,
    pub voice: Option<String>,
    pub instructions: Option<String>,
    pub greeting: Option<String>,
    pub format: AudioFormat,
    pub turn_detection: Option<TurnDetection>,
    pub dtmf: AgentDtmf,
    pub tools: Vec<ToolRequest>,
    /// Transcribe the caller with this model.
    pub transcription_model: Option<String>,
    pub silence_timeout: Duration,
    pub max_duration: Option<Duration>,
    pub connect_timeout: Duration,
}

impl SessionConfig {
    /// The `session` object of `session.update`.
    pub fn session_json(&self) -> Value {
        let mut input = Map::new();
        input.insert("format".into(), self.format.to_json());
        if let Some(td) = &self.turn_detection {
            input.insert("turn_detection".into(), turn_detection_json(td));
        }
        if let Some(m) = &self.transcription_model {
            input.insert("transcription".into(), json!({ "model": m }));
        }
        let mut output = Map::new();
        output.insert("format".into(), self.format.to_json());
        if let Some(v) = &self.voice {
            output.insert("voice".into(), Value::String(v.clone()));
        }
        let mut s = Map::new();
        s.insert("type".into(), json!("realtime"));
        s.insert("model".into(), json!(self.model));
        s.insert("output_modalities".into(), json!(["audio"]));
        if let Some(i) = &self.instructions {
            s.insert("instructions".into(), json!(i));
        }
        s.insert(
            "audio".into(),
            json!({"input": Value::Object(input), "output": Value::Object(output)}),
        );
        if !self.tools.is_empty() {
            let tools: Vec<Value> = self
                .tools
                .iter()
                .map(|t| {
                    json!({"type": "function", "name": t.name, "description": t.description,
                           "parameters": t.parameters})
                })
                .collect();
            s.insert("tools".into(), Value::Array(tools));
            s.insert("tool_choice".into(), json!("auto"));
        }
        Value::Object(s)
    }
}

/// `turn_detection` as the API wants it; responses are created and interrupted by the server.
pub fn turn_detection_json(td: &TurnDetection) -> Value {
    match td {
        TurnDetection::ServerVad {
            threshold,
            prefix_padding,
            silence_duration,
            idle_timeout,
        } => {
            let mut v =
                json!({"type": "server_vad", "create_response": true, "interrupt_response": true});
            if let Some(t) = threshold {
                v["threshold"] = json!(t);
            }
            if let Some(d) = prefix_padding {
                v["prefix_padding_ms"] = json!(d.as_millis() as u64);
            }
            if let Some(d) = silence_duration {
                v["silence_duration_ms"] = json!(d.as_millis() as u64);
            }
            if let Some(d) = idle_timeout {
                v["idle_timeout_ms"] = json!(d.as_millis() as u64);
            }
            v
        }
        TurnDetection::SemanticVad { eagerness } => {
            let mut v = json!({"type": "semantic_vad", "create_response": true, "interrupt_response": true});
            if let Some(e) = eagerness {
                v["eagerness"] = json!(e.as_str());
            }
            v
        }
    }
}
