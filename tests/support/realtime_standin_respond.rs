//! The stand-in's responses: a scripted answer streamed as audio deltas with its transcript,
//! or a scripted function call, each as the service sends them, stopping when cancelled.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::wire::{b64_encode, rand_suffix, usage, Fmt};
use super::{record, Answer, Seen};

pub enum Plan {
    Speak(Answer),
    Call(String, Value),
    Silent,
}

pub struct Responder {
    pub tx: mpsc::UnboundedSender<Value>,
    pub seen: Arc<Mutex<Seen>>,
    pub response_id: String,
    pub item_id: String,
    pub call_id: String,
    pub cancelled: Arc<AtomicBool>,
    pub done: Arc<Mutex<HashMap<String, bool>>>,
    pub items: Arc<Mutex<HashMap<String, u64>>>,
    pub format: Fmt,
    pub speed: f64,
    pub delta_ms: u64,
}

impl Responder {
    pub fn send(&self, mut v: Value) {
        v["event_id"] = json!(format!("event_{}_{}", self.response_id, rand_suffix()));
        let _ = self.tx.send(v);
    }

    pub fn stopped(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    pub async fn run(self, plan: Plan) {
        let r = &self.response_id;
        self.send(json!({"type": "response.created", "response": {"object": "realtime.response", "id": r, "status": "in_progress", "output": []}}));
        let mut out_tokens = 5;
        match plan {
            Plan::Speak(a) => {
                self.speak(&a).await;
                out_tokens += a.transcript.split_whitespace().count() as u64;
                if let (Some((name, args)), false) = (&a.then_call, self.stopped()) {
                    self.call(1, name, args);
                }
            }
            Plan::Call(name, args) => self.call(0, &name, &args),
            Plan::Silent => {}
        }
        if self.stopped() {
            return;
        }
        self.done.lock().unwrap().insert(r.clone(), true);
        record(&self.seen, |s| {
            s.responses.push((r.clone(), "completed".into()))
        });
        self.send(json!({"type": "response.done", "response": {"object": "realtime.response", "id": r,
            "status": "completed", "status_details": null, "output": [], "usage": usage(120, out_tokens)}}));
    }

    pub async fn speak(&self, a: &Answer) {
        let (r, item) = (&self.response_id, &self.item_id);
        self.items.lock().unwrap().insert(item.clone(), 0);
        self.send(json!({"type": "conversation.item.added", "previous_item_id": null,
            "item": {"id": item, "type": "message", "role": "assistant", "status": "in_progress", "content": []}}));
        self.send(json!({"type": "response.output_item.added", "response_id": r, "output_index": 0,
            "item": {"id": item, "type": "message", "role": "assistant", "status": "in_progress", "content": []}}));
        self.send(
            json!({"type": "response.content_part.added", "response_id": r, "item_id": item,
            "output_index": 0, "content_index": 0, "part": {"type": "audio", "transcript": ""}}),
        );
        let per_delta = (8 * self.delta_ms) as usize; // 8 kHz samples
        let pace = Duration::from_secs_f64(self.delta_ms as f64 / 1000.0 / self.speed);
        let words: Vec<&str> = a.transcript.split_inclusive(' ').collect();
        let chunks = a.pcm8k.len().div_ceil(per_delta.max(1)).max(1);
        for (k, chunk) in a.pcm8k.chunks(per_delta).enumerate() {
            if self.stopped() {
                return;
            }
            // The words spread over the audio, as the service streams them.
            let (from, to) = (k * words.len() / chunks, (k + 1) * words.len() / chunks);
            if to > from {
                self.send(json!({"type": "response.output_audio_transcript.delta", "response_id": r,
                    "item_id": item, "output_index": 0, "content_index": 0, "delta": words[from..to].concat()}));
            }
            let bytes = self.format.encode8k(chunk);
            let ms = (chunk.len() / 8) as u64;
            *self.items.lock().unwrap().entry(item.clone()).or_default() += ms;
            self.send(
                json!({"type": "response.output_audio.delta", "response_id": r, "item_id": item,
                "output_index": 0, "content_index": 0, "delta": b64_encode(&bytes)}),
            );
            tokio::time::sleep(pace).await;
        }
        if self.stopped() {
            return;
        }
        self.send(json!({"type": "response.output_audio.done", "response_id": r, "item_id": item, "output_index": 0, "content_index": 0}));
        self.send(json!({"type": "response.output_audio_transcript.done", "response_id": r, "item_id": item,
            "output_index": 0, "content_index": 0, "transcript": a.transcript}));
        self.send(json!({"type": "response.content_part.done", "response_id": r, "item_id": item,
            "output_index": 0, "content_index": 0, "part": {"type": "audio", "transcript": a.transcript}}));
        self.send(
            json!({"type": "response.output_item.done", "response_id": r, "output_index": 0,
            "item": {"id": item, "type": "message", "role": "assistant", "status": "completed"}}),
        );
    }

    pub fn call(&self, index: u32, name: &str, args: &Value) {
        let r = &self.response_id;
        let item = format!("{}_fc", self.item_id);
        let arguments = args.to_string();
        record(&self.seen, |s| {
            s.tool_calls
                .push((self.call_id.clone(), name.into(), arguments.clone()))
        });
        self.send(json!({"type": "response.output_item.added", "response_id": r, "output_index": index,
            "item": {"id": item, "type": "function_call", "status": "in_progress", "name": name, "call_id": self.call_id, "arguments": ""}}));
        self.send(json!({"type": "response.function_call_arguments.delta", "response_id": r, "item_id": item,
            "output_index": index, "call_id": self.call_id, "delta": arguments}));
        self.send(json!({"type": "response.function_call_arguments.done", "response_id": r, "item_id": item,
            "output_index": index, "call_id": self.call_id, "name": name, "arguments": arguments}));
        self.send(json!({"type": "response.output_item.done", "response_id": r, "output_index": index,
            "item": {"id": item, "type": "function_call", "status": "completed", "name": name, "call_id": self.call_id, "arguments": arguments}}));
    }
}
