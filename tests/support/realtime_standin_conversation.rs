//! The stand-in's conversation on one connection: `session.update` checked and applied, the
//! input audio buffer and its energy VAD (in audio milliseconds), turns committed as items,
//! responses started, cancelled on barge-in or truncated, and every client event dispatched.

use super::*;

/// One connection's conversation state.
pub(super) struct Conversation {
    script: Arc<Script>,
    seen: Arc<Mutex<Seen>>,
    tx: mpsc::UnboundedSender<Value>,
    n: u64,
    session_type: Option<String>,
    input: Fmt,
    output: Fmt,
    voice: String,
    audio_out_started: bool,
    create_response: bool,
    interrupt_response: bool,
    silence_ms: u64,
    /// VAD state, in audio ms.
    audio_ms: u64,
    pending_bytes: Vec<u8>,
    speech_windows: u32,
    silent_ms: u64,
    in_speech: bool,
    turn_item: Option<String>,
    turns: u32,
    /// The response in flight: its cancel flag.
    active: Option<(String, Arc<AtomicBool>)>,
    active_done: Arc<Mutex<HashMap<String, bool>>>,
    answers_used: usize,
    tool_called: bool,
    /// Assistant items and the ms of audio sent for each.
    items: Arc<Mutex<HashMap<String, u64>>>,
    /// Call ids of function calls not yet answered.
    open_calls: Vec<String>,
    /// A transcription session (`?intent=transcription`).
    pub(super) transcription: bool,
    /// Caller audio since the last commit.
    uncommitted_ms: u64,
}

impl Conversation {
    pub(super) fn new(
        script: Arc<Script>,
        seen: Arc<Mutex<Seen>>,
        tx: mpsc::UnboundedSender<Value>,
    ) -> Self {
        let silence_ms = script.silence_ms;
        Conversation {
            script,
            seen,
            tx,
            n: 0,
            session_type: None,
            input: Fmt::Pcm24,
            output: Fmt::Pcm24,
            voice: "alloy".into(),
            audio_out_started: false,
            create_response: true,
            interrupt_response: true,
            silence_ms,
            audio_ms: 0,
            pending_bytes: Vec::new(),
            speech_windows: 0,
            silent_ms: 0,
            in_speech: false,
            turn_item: None,
            turns: 0,
            active: None,
            active_done: Arc::new(Mutex::new(HashMap::new())),
            answers_used: 0,
            tool_called: false,
            items: Arc::new(Mutex::new(HashMap::new())),
            open_calls: Vec::new(),
            transcription: false,
            uncommitted_ms: 0,
        }
    }

    pub(super) fn id(&mut self, prefix: &str) -> String {
        self.n += 1;
        format!("{prefix}_{:06}", self.n)
    }

    pub(super) fn send(&self, v: Value) {
        let _ = self.tx.send(v);
    }

    pub(super) fn error(&mut self, code: &str, message: &str, event_id: Option<&str>) {
        record(&self.seen, |s| {
            s.errors_sent.push((code.into(), message.into()))
        });
        let id = self.id("event");
        self.send(json!({"type": "error", "event_id": id,
            "error": {"type": "invalid_request_error", "code": code, "message": message,
                      "param": null, "event_id": event_id}}));
    }

    fn active_running(&self) -> bool {
        match &self.active {
            Some((id, _)) => !self
                .active_done
                .lock()
                .unwrap()
                .get(id)
                .copied()
                .unwrap_or(false),
            None => false,
        }
    }

    pub(super) async fn client_event(&mut self, v: Value) {
        let kind = v
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let event_id = v.get("event_id").and_then(Value::as_str).map(str::to_owned);
        record(&self.seen, |s| s.client_events.push(kind.clone()));
        match kind.as_str() {
            "session.update" => self.session_update(&v, event_id.as_deref()),
            "input_audio_buffer.append" => {
                let audio = v.get("audio").and_then(Value::as_str).unwrap_or("");
                match b64_decode(audio) {
                    Some(bytes) => self.append(&bytes),
                    None => self.error("invalid_value", "audio is not base64", event_id.as_deref()),
                }
            }
            "response.create" => {
                if self.active_running() {
                    self.error(
                        "conversation_already_has_active_response",
                        "Conversation already has an active response in progress.",
                        event_id.as_deref(),
                    );
                } else {
                    self.respond();
                }
            }
            "response.cancel" => {
                if self.active_running() {
                    self.cancel_active("client_cancelled");
                } else {
                    self.error(
                        "response_cancel_not_active",
                        "Cancellation failed: no active response found",
                        event_id.as_deref(),
                    );
                }
            }
            "conversation.item.truncate" => self.truncate(&v, event_id.as_deref()),
            "input_audio_buffer.commit" => {
                if self.uncommitted_ms < 100 {
                    self.error(
                        "input_audio_buffer_commit_empty",
                        "Error committing input audio buffer: buffer too small.",
                        event_id.as_deref(),
                    );
                } else {
                    let item = self.turn_item.take().unwrap_or_else(|| self.id("item"));
                    self.in_speech = false;
                    self.speech_windows = 0;
                    self.end_turn(item);
                }
            }
            "conversation.item.create" => {
                let item = v.get("item").cloned().unwrap_or(Value::Null);
                match item.get("type").and_then(Value::as_str) {
                    Some("function_call_output") => {
                        let call_id = item
                            .get("call_id")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_owned();
                        if !self.open_calls.contains(&call_id) {
                            self.error("invalid_value", "unknown call_id", event_id.as_deref());
                            return;
                        }
                        self.open_calls.retain(|c| *c != call_id);
                        let output = item
                            .get("output")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_owned();
                        record(&self.seen, |s| s.tool_outputs.push((call_id, output)));
                    }
                    Some("message") => {
                        let text = item
                            .pointer("/content/0/text")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_owned();
                        record(&self.seen, |s| s.user_texts.push(text));
                    }
                    _ => {
                        self.error("invalid_value", "unsupported item", event_id.as_deref());
                        return;
                    }
                }
                let id = self.id("item");
                let eid = self.id("event");
                self.send(json!({"type": "conversation.item.added", "event_id": eid, "previous_item_id": null, "item": {"id": id, "type": item["type"], "role": item.get("role")}}));
            }
            other => self.error(
                "invalid_value",
                &format!("Invalid value: '{other}'. Supported values are: ..."),
                event_id.as_deref(),
            ),
        }
    }

    fn session_update(&mut self, v: &Value, event_id: Option<&str>) {
        let Some(s) = v.get("session").filter(|s| s.is_object()) else {
            return self.error(
                "missing_required_parameter",
                "Missing required parameter: 'session'.",
                event_id,
            );
        };
        record(&self.seen, |seen| seen.session_updates.push(s.clone()));
        let want = if self.transcription {
            "transcription"
        } else {
            "realtime"
        };
        match s.get("type").and_then(Value::as_str) {
            None => {
                return self.error(
                    "missing_required_parameter",
                    "Missing required parameter: 'session.type'.",
                    event_id,
                )
            }
            Some(t) if t != want => {
                return self.error(
                    "invalid_value",
                    &format!("session.type must be '{want}' on this connection"),
                    event_id,
                )
            }
            Some(_) => {}
        }
        if self.transcription
            && s.pointer("/audio/input/transcription/model")
                .and_then(Value::as_str)
                .is_none()
        {
            return self.error(
                "missing_required_parameter",
                "Missing required parameter: 'session.audio.input.transcription.model'.",
                event_id,
            );
        }
        for beta in [
            "modalities",
            "input_audio_format",
            "output_audio_format",
            "turn_detection",
            "voice",
            "input_audio_transcription",
            "temperature",
        ] {
            if s.get(beta).is_some() {
                return self.error(
                    "unknown_parameter",
                    &format!("Unknown parameter: 'session.{beta}'."),
                    event_id,
                );
            }
        }
        let audio = s.get("audio").cloned().unwrap_or(Value::Null);
        if let Some(f) = audio.pointer("/input/format") {
            match Fmt::parse(f) {
                Some(f) => self.input = f,
                None => {
                    return self.error("invalid_value", "Invalid input audio format.", event_id)
                }
            }
        }
        if let Some(f) = audio.pointer("/output/format") {
            match Fmt::parse(f) {
                Some(f) => self.output = f,
                None => {
                    return self.error("invalid_value", "Invalid output audio format.", event_id)
                }
            }
        }
        if let Some(v) = audio.pointer("/output/voice").and_then(Value::as_str) {
            if self.audio_out_started && v != self.voice {
                return self.error(
                    "invalid_value",
                    "Cannot update a conversation's voice if assistant audio is present.",
                    event_id,
                );
            }
            self.voice = v.to_owned();
        }
        if let Some(td) = audio.pointer("/input/turn_detection") {
            self.create_response = td
                .get("create_response")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            self.interrupt_response = td
                .get("interrupt_response")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            if let Some(ms) = td.get("silence_duration_ms").and_then(Value::as_u64) {
                self.silence_ms = ms;
            }
        }
        self.session_type = Some(want.into());
        let id = self.id("event");
        let mut full = s.clone();
        full["object"] = json!("realtime.session");
        self.send(json!({"type": "session.updated", "event_id": id, "session": full}));
    }

    fn append(&mut self, bytes: &[u8]) {
        record(&self.seen, |s| {
            let room = (1usize << 20).saturating_sub(s.appended.len());
            s.appended
                .extend_from_slice(&bytes[..bytes.len().min(room)]);
        });
        self.pending_bytes.extend_from_slice(bytes);
        let window = self.input.bytes_per_ms() * 20;
        while self.pending_bytes.len() >= window {
            let w: Vec<u8> = self.pending_bytes.drain(..window).collect();
            let pcm = self.input.decode(&w);
            let rms =
                (pcm.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / pcm.len() as f64).sqrt();
            self.audio_ms += 20;
            self.uncommitted_ms += 20;
            record(&self.seen, |s| s.appended_ms = self.audio_ms);
            self.vad(rms > self.script.vad_threshold);
        }
    }

    fn vad(&mut self, speech: bool) {
        if !self.in_speech {
            self.speech_windows = if speech { self.speech_windows + 1 } else { 0 };
            if self.speech_windows >= self.script.vad_start_windows {
                self.in_speech = true;
                self.silent_ms = 0;
                let start = self
                    .audio_ms
                    .saturating_sub(20 * u64::from(self.speech_windows));
                let item = self.id("item");
                self.turn_item = Some(item.clone());
                record(&self.seen, |s| s.turns.push((start, None)));
                let eid = self.id("event");
                self.send(
                    json!({"type": "input_audio_buffer.speech_started", "event_id": eid,
                                 "audio_start_ms": start, "item_id": item}),
                );
                if self.interrupt_response && self.active_running() {
                    self.cancel_active("turn_detected");
                }
            }
            return;
        }
        if speech {
            self.silent_ms = 0;
            return;
        }
        self.silent_ms += 20;
        if self.silent_ms >= self.silence_ms {
            self.in_speech = false;
            self.speech_windows = 0;
            let end = self.audio_ms - self.silent_ms;
            let item = self.turn_item.take().unwrap_or_default();
            record(&self.seen, |s| {
                if let Some(t) = s.turns.last_mut() {
                    t.1 = Some(end);
                }
            });
            let mut ev = json!({"type": "input_audio_buffer.speech_stopped", "audio_end_ms": end, "item_id": item});
            ev["event_id"] = json!(self.id("event"));
            self.send(ev);
            self.end_turn(item);
        }
    }

    /// A caller turn is committed: a transcript (transcription sessions) or a response.
    fn end_turn(&mut self, item: String) {
        self.uncommitted_ms = 0;
        for ev in [
            json!({"type": "input_audio_buffer.committed", "previous_item_id": null, "item_id": item}),
            json!({"type": "conversation.item.added", "previous_item_id": null,
                   "item": {"id": item, "type": "message", "role": "user", "status": "completed",
                            "content": [{"type": "input_audio", "transcript": null}]}}),
        ] {
            let mut ev = ev;
            ev["event_id"] = json!(self.id("event"));
            self.send(ev);
        }
        let turn = self.turns as usize;
        self.turns += 1;
        if self.transcription {
            let text = self
                .script
                .transcripts
                .get(turn)
                .cloned()
                .unwrap_or_default();
            for (i, word) in text.split_inclusive(' ').enumerate() {
                let eid = self.id("event");
                self.send(json!({"type": "conversation.item.input_audio_transcription.delta", "event_id": eid,
                                 "item_id": item, "content_index": 0, "delta": word, "obfuscation": i}));
            }
            let eid = self.id("event");
            self.send(json!({"type": "conversation.item.input_audio_transcription.completed", "event_id": eid,
                             "item_id": item, "content_index": 0, "transcript": text,
                             "usage": {"type": "duration", "seconds": 1}}));
            return;
        }
        if self.create_response && !self.active_running() {
            self.respond();
        }
    }

    pub(super) fn cancel_active(&mut self, reason: &str) {
        if let Some((id, flag)) = &self.active {
            if !self
                .active_done
                .lock()
                .unwrap()
                .get(id)
                .copied()
                .unwrap_or(false)
            {
                flag.store(true, Ordering::SeqCst);
                self.active_done.lock().unwrap().insert(id.clone(), true);
                let id = id.clone();
                record(&self.seen, |s| {
                    s.responses.push((id.clone(), "cancelled".into()))
                });
                let eid = self.id("event");
                self.send(json!({"type": "response.done", "event_id": eid,
                    "response": {"object": "realtime.response", "id": id, "status": "cancelled",
                                 "status_details": {"type": "cancelled", "reason": reason},
                                 "output": [], "usage": usage(40, 10)}}));
            }
        }
    }

    fn truncate(&mut self, v: &Value, event_id: Option<&str>) {
        let item = v
            .get("item_id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let end = v.get("audio_end_ms").and_then(Value::as_u64);
        let sent = self.items.lock().unwrap().get(&item).copied();
        match (sent, end, v.get("content_index").and_then(Value::as_u64)) {
            (None, ..) => self.error(
                "invalid_value",
                "Only assistant messages can be truncated",
                event_id,
            ),
            (_, None, _) | (_, _, None) => self.error(
                "missing_required_parameter",
                "Missing audio_end_ms or content_index",
                event_id,
            ),
            (Some(sent), Some(end), Some(_)) if end > sent => self.error(
                "invalid_value",
                &format!("Audio content of {sent}ms is already shorter than {end}ms"),
                event_id,
            ),
            (Some(sent), Some(end), Some(_)) => {
                record(&self.seen, |s| {
                    s.truncations.push((item.clone(), end, sent))
                });
                let eid = self.id("event");
                self.send(
                    json!({"type": "conversation.item.truncated", "event_id": eid,
                                 "item_id": item, "content_index": 0, "audio_end_ms": end}),
                );
            }
        }
    }

    /// Starts the next response: a tool call on the first turn if scripted, else an answer.
    fn respond(&mut self) {
        let response_id = self.id("resp");
        let flag = Arc::new(AtomicBool::new(false));
        self.active = Some((response_id.clone(), flag.clone()));
        self.active_done
            .lock()
            .unwrap()
            .insert(response_id.clone(), false);
        let tool = if self.turns >= 1 && !self.tool_called {
            self.script.tool_call.clone()
        } else {
            None
        };
        let plan = match tool {
            Some((name, args)) => {
                self.tool_called = true;
                Plan::Call(name, args)
            }
            None => match self.script.answers.get(self.answers_used).cloned() {
                Some(a) => {
                    self.answers_used += 1;
                    self.audio_out_started = true;
                    Plan::Speak(a)
                }
                None => Plan::Silent,
            },
        };
        let item_id = self.id("item");
        let call_id = self.id("call");
        if matches!(plan, Plan::Call(..))
            || matches!(&plan, Plan::Speak(a) if a.then_call.is_some())
        {
            self.open_calls.push(call_id.clone());
        }
        let ctx = Responder {
            tx: self.tx.clone(),
            seen: self.seen.clone(),
            response_id,
            item_id,
            call_id,
            cancelled: flag,
            done: self.active_done.clone(),
            items: self.items.clone(),
            format: self.output,
            speed: self.script.speed,
            delta_ms: self.script.delta_ms,
        };
        tokio::spawn(ctx.run(plan));
    }
}
