//! [`AgentSession`] scenarios on virtual time: the server's events are written out as the GA
//! protocol sends them, the session's outputs are read as short lines (`send session.update`,
//! `audio 800`, `mark 3`, `clear`, `tool lookup {..}`, `end ..`).

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::*;
use crate::flow::agent::TurnDetection;
use crate::flow::program::HttpMethod;
use crate::machine::io::{ToolRequest, WebhookRequest};
use crate::realtime::AudioFormat;

fn tools() -> Vec<ToolRequest> {
    vec![
        ToolRequest {
            name: "lookup".into(),
            description: "Look an order up".into(),
            parameters: json!({"type": "object", "properties": {"order": {"type": "string"}}, "required": ["order"]}),
            kind: ToolKind::Webhook(WebhookRequest {
                method: HttpMethod::Post,
                url: "http://127.0.0.1:1/x".into(),
                headers: vec![],
                timeout: Duration::from_secs(5),
                retries: 0,
            }),
        },
        ToolRequest {
            name: "billing".into(),
            description: "Billing questions".into(),
            parameters: json!({"type": "object", "properties": {"topic": {"type": "string"}}}),
            kind: ToolKind::Goto,
        },
        ToolRequest {
            name: "end_call".into(),
            description: "Hang up".into(),
            parameters: json!({"type": "object", "properties": {}}),
            kind: ToolKind::EndCall,
        },
        ToolRequest {
            name: "transfer".into(),
            description: "Transfer".into(),
            parameters: json!({"type": "object", "properties": {"target": {"type": "string", "enum": ["sales", "support"]}}}),
            kind: ToolKind::Transfer {
                targets: vec!["sales".into(), "support".into()],
            },
        },
    ]
}

fn cfg() -> SessionConfig {
    SessionConfig {
        model: "gpt-realtime".into(),
        voice: Some("marin".into()),
        instructions: Some("Be brief.".into()),
        greeting: None,
        format: AudioFormat::Pcmu,
        turn_detection: Some(TurnDetection::ServerVad {
            threshold: None,
            prefix_padding: None,
            silence_duration: Some(Duration::from_millis(500)),
            idle_timeout: None,
        }),
        dtmf: AgentDtmf::Send,
        tools: tools(),
        transcription_model: Some("gpt-4o-mini-transcribe".into()),
        silence_timeout: Duration::from_secs(10),
        max_duration: Some(Duration::from_secs(300)),
        connect_timeout: Duration::from_secs(5),
    }
}

struct T {
    s: AgentSession,
    t0: Instant,
    now: Duration,
    /// Raw outputs so far (tests that need the JSON).
    raw: Vec<Output>,
}

impl T {
    fn new(cfg: SessionConfig) -> T {
        let t0 = Instant::now();
        T {
            s: AgentSession::new(cfg, t0),
            t0,
            now: Duration::ZERO,
            raw: Vec::new(),
        }
    }

    /// Connected and started, the session.update taken.
    fn running(cfg: SessionConfig) -> T {
        let mut t = T::new(cfg);
        t.s.connected(t.at());
        t.s.start(t.at());
        t.take();
        t.raw.clear();
        t
    }

    fn at(&self) -> Instant {
        self.t0 + self.now
    }

    fn advance(&mut self, ms: u64) {
        let end = self.now + Duration::from_millis(ms);
        while let Some(due) = self.s.poll_timeout() {
            if due > self.t0 + end {
                break;
            }
            self.now = due - self.t0;
            self.s.handle_timeout(due);
        }
        self.now = end;
    }

    fn server(&mut self, v: Value) {
        self.s.server_text(&v.to_string(), self.at());
    }

    fn delta(&mut self, response: &str, item: &str, bytes: usize) {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(vec![0x55u8; bytes]);
        self.server(
            json!({"type": "response.output_audio.delta", "response_id": response,
            "item_id": item, "output_index": 0, "content_index": 0, "delta": b64}),
        );
    }

    fn take(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        while let Some(o) = self.s.poll_output() {
            lines.push(line(&o));
            self.raw.push(o);
        }
        lines
    }

    fn sent(&self) -> Vec<Value> {
        self.raw
            .iter()
            .filter_map(|o| match o {
                Output::Send(t) => Some(serde_json::from_str(t).unwrap()),
                _ => None,
            })
            .collect()
    }

    fn end(&self) -> &Result<AgentOutcome, AgentError> {
        self.raw
            .iter()
            .find_map(|o| match o {
                Output::End(r) => Some(r),
                _ => None,
            })
            .expect("ended")
    }
}

fn line(o: &Output) -> String {
    match o {
        Output::Send(t) => {
            let v: Value = serde_json::from_str(t).unwrap();
            format!("send {}", v["type"].as_str().unwrap())
        }
        Output::Audio(a) => format!("audio {}", a.len()),
        Output::Mark(m) => format!("mark {m}"),
        Output::Clear => "clear".into(),
        Output::CallTool {
            tool, arguments, ..
        } => format!("tool {tool} {arguments}"),
        Output::Log(Log::Transcript { role, text }) => format!("log {}: {text}", role.as_str()),
        Output::Log(Log::Warning(w)) => format!("warn {w}"),
        Output::Log(Log::BargeIn { heard_ms, .. }) => format!("log barge-in {heard_ms}ms"),
        Output::Log(Log::Usage(u)) => format!("log usage {}", u.total_tokens),
        Output::End(Ok(o)) => format!("end {:?} {}", o.then, o.result["ended_by"]),
        Output::End(Err(e)) => format!("end error {e}"),
    }
}

#[test]
fn connect_configures_the_ga_session_and_start_speaks_the_greeting() {
    let mut t = T::new(SessionConfig {
        greeting: Some("Welcome to Acme!".into()),
        ..cfg()
    });
    t.s.caller_audio(&[0xff; 160], t.at());
    assert!(t.take().is_empty(), "nothing before the socket opens");
    t.s.connected(t.at());
    assert_eq!(t.take(), ["send session.update"]);
    let update = &t.sent()[0];
    let s = &update["session"];
    assert_eq!(s["type"], "realtime");
    assert_eq!(s["model"], "gpt-realtime");
    assert_eq!(s["instructions"], "Be brief.");
    assert_eq!(s["audio"]["input"]["format"], json!({"type": "audio/pcmu"}));
    assert_eq!(
        s["audio"]["output"]["format"],
        json!({"type": "audio/pcmu"})
    );
    assert_eq!(s["audio"]["output"]["voice"], "marin");
    assert_eq!(
        s["audio"]["input"]["turn_detection"],
        json!({"type": "server_vad", "create_response": true, "interrupt_response": true, "silence_duration_ms": 500})
    );
    assert_eq!(
        s["audio"]["input"]["transcription"]["model"],
        "gpt-4o-mini-transcribe"
    );
    assert_eq!(s["tools"].as_array().unwrap().len(), 4);
    assert_eq!(s["tools"][0]["type"], "function");
    assert!(s.get("temperature").is_none(), "not a GA field");
    // Prepared: caller audio is not sent before the node starts.
    t.s.caller_audio(&[0xff; 160], t.at());
    assert!(t.take().is_empty());
    t.s.start(t.at());
    assert_eq!(t.take(), ["send response.create"]);
    let create = t.sent().pop().unwrap();
    assert!(create["response"]["instructions"]
        .as_str()
        .unwrap()
        .ends_with("greet the caller by saying: Welcome to Acme!"));
    t.s.caller_audio(&[0xff; 160], t.at());
    assert_eq!(t.take(), ["send input_audio_buffer.append"]);
}

#[test]
fn a_start_before_the_socket_opens_keeps_the_first_second_of_speech() {
    let mut t = T::new(cfg());
    t.s.start(t.at());
    for _ in 0..60 {
        t.s.caller_audio(&[0xff; 160], t.at());
    }
    t.s.connected(t.at());
    let out = t.take();
    assert_eq!(out[0], "send session.update");
    assert_eq!(out.len(), 1 + 50, "one second kept");
}

/// A running session with four seconds of one answer (`r1`, `item_a`) queued in 40 ms.
fn answering() -> T {
    let mut t = T::running(cfg());
    t.server(
        json!({"type": "response.created", "response": {"id": "r1", "status": "in_progress"}}),
    );
    for _ in 0..4 {
        t.delta("r1", "item_a", 8000);
    }
    t
}

/// What a barge-in 1.3 s into the answer puts out.
const BARGE_IN_AT_1300: [&str; 3] = [
    "clear",
    "send conversation.item.truncate",
    "log barge-in 1300ms",
];

#[test]
fn marks_reported_late_with_when_they_were_reached_truncate_the_same() {
    // The pump reads marks only when it wakes for something else: here both marks reach the
    // session just before the caller's speech, stamped with when the playout reached them.
    let mut t = answering();
    t.take();
    let started = t.at() + Duration::from_millis(100);
    let one_second_in = t.at() + Duration::from_millis(1100);
    t.advance(1400);
    t.s.played(1, started);
    t.s.played(2, one_second_in);
    t.server(json!({"type": "input_audio_buffer.speech_started", "audio_start_ms": 1350, "item_id": "u2"}));
    assert_eq!(t.take(), BARGE_IN_AT_1300);
}

#[test]
fn barge_in_clears_at_once_and_truncates_at_what_was_heard() {
    let mut t = answering();
    assert_eq!(
        t.take(),
        [
            "mark 1",
            "audio 8000",
            "mark 2",
            "audio 8000",
            "mark 3",
            "audio 8000",
            "mark 4",
            "audio 8000",
            "mark 5"
        ]
    );
    t.advance(100);
    t.s.played(1, t.at()); // starts playing at 100 ms
    t.advance(1000);
    t.s.played(2, t.at()); // one second heard at 1100 ms
    t.advance(300);
    t.server(json!({"type": "input_audio_buffer.speech_started", "audio_start_ms": 1350, "item_id": "u2"}));
    assert_eq!(t.take(), BARGE_IN_AT_1300);
    let trunc = t.sent().pop().unwrap();
    assert_eq!(
        (
            trunc["item_id"].clone(),
            trunc["content_index"].clone(),
            trunc["audio_end_ms"].clone()
        ),
        (json!("item_a"), json!(0), json!(1300))
    );
    // The rest of the cancelled response is dropped, and so are stale marks.
    t.delta("r1", "item_a", 8000);
    t.s.played(3, t.at());
    assert!(t.take().is_empty());
    t.server(
        json!({"type": "response.done", "response": {"id": "r1", "status": "cancelled",
        "status_details": {"type": "cancelled", "reason": "turn_detected"},
        "usage": {"total_tokens": 50, "input_tokens": 30, "output_tokens": 20}}}),
    );
    assert_eq!(t.take(), ["log usage 50"]);
    // The next answer plays normally.
    t.server(json!({"type": "response.created", "response": {"id": "r2"}}));
    t.delta("r2", "item_b", 800);
    assert_eq!(t.take(), ["mark 6", "audio 800", "mark 7"]);
}

#[test]
fn speech_while_nothing_plays_is_not_a_barge_in() {
    let mut t = T::running(cfg());
    t.server(
        json!({"type": "input_audio_buffer.speech_started", "audio_start_ms": 0, "item_id": "u1"}),
    );
    assert!(t.take().is_empty());
}

#[test]
fn a_webhook_tool_runs_after_its_response_completes_and_its_answer_goes_back() {
    let mut t = T::running(cfg());
    t.server(json!({"type": "response.created", "response": {"id": "r1"}}));
    t.server(
        json!({"type": "response.function_call_arguments.done", "response_id": "r1",
        "item_id": "fc1", "output_index": 0, "call_id": "call_1", "name": "lookup",
        "arguments": "{\"order\":\"A-17\"}"}),
    );
    assert!(t.take().is_empty(), "not before the response is done");
    t.server(json!({"type": "response.done", "response": {"id": "r1", "status": "completed"}}));
    assert_eq!(t.take(), [r#"tool 0 {"order":"A-17"}"#]);
    // No silence timeout while the webhook runs.
    assert_eq!(t.s.poll_timeout(), Some(t.t0 + Duration::from_secs(300)));
    t.s.tool_result("call_1", Ok("{\"status\":\"shipped\"}".into()), t.at());
    assert_eq!(
        t.take(),
        ["send conversation.item.create", "send response.create"]
    );
    let item = &t.sent()[0]["item"];
    assert_eq!(
        item,
        &json!({"type": "function_call_output", "call_id": "call_1", "output": "{\"status\":\"shipped\"}"})
    );
}

#[test]
fn bad_arguments_are_answered_without_calling_the_webhook() {
    let mut t = T::running(cfg());
    t.server(
        json!({"type": "response.function_call_arguments.done", "response_id": "r1",
        "call_id": "c1", "name": "lookup", "arguments": "{\"order\": 17}"}),
    );
    t.server(
        json!({"type": "response.function_call_arguments.done", "response_id": "r1",
        "call_id": "c2", "name": "nonexistent", "arguments": "{}"}),
    );
    t.server(json!({"type": "response.done", "response": {"id": "r1", "status": "completed"}}));
    assert_eq!(
        t.take(),
        [
            "send conversation.item.create",
            "send response.create",
            "send conversation.item.create",
            "send response.create"
        ]
    );
    let sent = t.sent();
    assert!(sent[0]["item"]["output"]
        .as_str()
        .unwrap()
        .contains("invalid arguments"));
    assert!(sent[2]["item"]["output"]
        .as_str()
        .unwrap()
        .contains("no tool named"));
}

#[test]
fn calls_of_a_cancelled_response_are_not_run() {
    let mut t = T::running(cfg());
    t.server(
        json!({"type": "response.function_call_arguments.done", "response_id": "r1",
        "call_id": "c1", "name": "end_call", "arguments": "{}"}),
    );
    t.server(json!({"type": "response.done", "response": {"id": "r1", "status": "cancelled"}}));
    assert!(t.take().is_empty());
    assert!(!t.s.is_ended());
}

#[test]
fn a_goto_tool_ends_after_the_last_words_have_played() {
    let mut t = T::running(cfg());
    t.server(json!({"type": "conversation.item.added", "item": {"id": "u1", "type": "message", "role": "user"}}));
    t.server(
        json!({"type": "conversation.item.input_audio_transcription.completed",
        "item_id": "u1", "content_index": 0, "transcript": "I have a billing question"}),
    );
    t.server(json!({"type": "response.created", "response": {"id": "r1"}}));
    t.delta("r1", "a1", 8000);
    assert!(
        !t.s.awaits_playout(),
        "talking, not leaving: marks may be reported late"
    );
    t.server(
        json!({"type": "response.output_audio_transcript.done", "response_id": "r1",
        "item_id": "a1", "transcript": "Let me put you through to billing."}),
    );
    t.server(
        json!({"type": "response.function_call_arguments.done", "response_id": "r1",
        "call_id": "c1", "name": "billing", "arguments": "{\"topic\":\"refund\"}"}),
    );
    t.server(
        json!({"type": "response.done", "response": {"id": "r1", "status": "completed",
        "usage": {"total_tokens": 120, "input_tokens": 100, "output_tokens": 20}}}),
    );
    t.take();
    assert!(!t.s.is_ended(), "waits for the words to play");
    assert!(
        t.s.awaits_playout(),
        "leaving after the audio: the playout's marks must wake the pump"
    );
    t.advance(900);
    t.s.played(2, t.at());
    assert_eq!(t.take(), ["end Goto { tool: 1 } \"tool\""]);
    let Ok(o) = t.end() else { panic!("ok") };
    assert_eq!(
        o.result,
        json!({
            "transcript": [
                {"role": "caller", "text": "I have a billing question"},
                {"role": "agent", "text": "Let me put you through to billing."}
            ],
            "intent": "billing",
            "result": {"topic": "refund"},
            "usage": {"input_tokens": 100, "output_tokens": 20, "total_tokens": 120},
            "ended_by": "tool"
        })
    );
}

#[test]
fn a_playout_that_never_reports_its_marks_still_lets_the_call_go_on() {
    let mut t = T::running(cfg());
    t.delta("r1", "a1", 8000); // one second queued
    t.server(
        json!({"type": "response.function_call_arguments.done", "response_id": "r1",
        "call_id": "c1", "name": "end_call", "arguments": ""}),
    );
    t.server(json!({"type": "response.done", "response": {"id": "r1", "status": "completed"}}));
    t.take();
    t.advance(2999);
    assert!(!t.s.is_ended());
    t.advance(1);
    assert_eq!(t.take(), ["end EndCall \"end_call\""]);
}

#[test]
fn transfer_only_to_a_listed_target() {
    let mut t = T::running(cfg());
    t.server(
        json!({"type": "response.function_call_arguments.done", "response_id": "r1",
        "call_id": "c1", "name": "transfer", "arguments": "{\"target\":\"sip:666@evil\"}"}),
    );
    t.server(json!({"type": "response.done", "response": {"id": "r1", "status": "completed"}}));
    assert_eq!(
        t.take(),
        ["send conversation.item.create", "send response.create"]
    );
    assert!(t.sent()[0]["item"]["output"]
        .as_str()
        .unwrap()
        .contains("choose one of: sales, support"));
    t.server(
        json!({"type": "response.function_call_arguments.done", "response_id": "r2",
        "call_id": "c2", "name": "transfer", "arguments": "{\"target\":\"support\"}"}),
    );
    t.server(json!({"type": "response.done", "response": {"id": "r2", "status": "completed"}}));
    assert_eq!(t.take(), ["end Transfer { target: 1 } \"transfer\""]);
    let Ok(o) = t.end() else { panic!("ok") };
    assert_eq!(o.result["transfer"], "support");
}

#[test]
fn silence_waiting_for_the_caller_goes_on_and_for_the_agent_is_an_error() {
    let mut t = T::running(cfg());
    t.delta("r1", "a1", 16000); // two seconds of agent speech
    t.take();
    t.advance(11_999);
    assert!(
        !t.s.is_ended(),
        "silence counts from the end of the agent's words"
    );
    t.advance(1);
    assert_eq!(t.take(), ["end Next \"silence\""]);

    let mut t = T::running(cfg());
    t.server(json!({"type": "input_audio_buffer.speech_started", "audio_start_ms": 0}));
    t.advance(60_000);
    assert!(!t.s.is_ended(), "the caller is talking");
    t.server(json!({"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 60000}));
    t.advance(10_000);
    assert_eq!(t.take(), ["end error the agent did not answer within 10s"]);
}

#[test]
fn max_duration_cuts_the_agent_off() {
    let mut t = T::running(SessionConfig {
        max_duration: Some(Duration::from_secs(30)),
        silence_timeout: Duration::from_secs(100),
        ..cfg()
    });
    t.server(json!({"type": "input_audio_buffer.speech_started", "audio_start_ms": 0}));
    t.advance(30_000);
    assert_eq!(t.take(), ["clear", "end Next \"max_duration\""]);
}

#[test]
fn keys_are_sent_to_the_model_or_end_the_session() {
    let mut t = T::running(cfg());
    t.server(json!({"type": "response.created", "response": {"id": "r1"}}));
    t.delta("r1", "a1", 800);
    t.take();
    t.s.dtmf(crate::flow::digit::Digit::from_char('7').unwrap(), t.at());
    assert_eq!(
        t.take(),
        [
            "clear",
            "send conversation.item.truncate",
            "log barge-in 0ms",
            "send response.cancel",
            "send conversation.item.create"
        ]
    );
    assert!(t.sent().last().unwrap()["item"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .contains("pressed the key 7"));
    t.server(json!({"type": "response.done", "response": {"id": "r1", "status": "cancelled"}}));
    assert_eq!(
        t.take(),
        ["send response.create"],
        "once the interrupted response is done"
    );

    let mut t = T::running(SessionConfig {
        dtmf: AgentDtmf::End,
        ..cfg()
    });
    t.s.dtmf(crate::flow::digit::Digit::from_char('#').unwrap(), t.at());
    assert_eq!(t.take(), ["clear", "end Next \"dtmf\""]);
    let Ok(o) = t.end() else { panic!("ok") };
    assert_eq!(o.result["digit"], "#");
}

#[test]
fn server_errors_end_the_session_unless_they_are_benign_races() {
    let mut t = T::running(cfg());
    t.server(json!({"type": "error", "error": {"type": "invalid_request_error",
        "code": "conversation_already_has_active_response", "message": "busy", "event_id": "resp_4"}}));
    t.server(
        json!({"type": "error", "error": {"type": "invalid_request_error",
        "code": "invalid_value", "message": "Audio content of 900ms is already shorter than 1000ms",
        "event_id": "trunc_5"}}),
    );
    assert_eq!(t.take().len(), 2);
    assert!(!t.s.is_ended());
    t.server(json!({"type": "error", "error": {"type": "server_error", "code": "internal", "message": "boom"}}));
    assert_eq!(t.take(), ["end error server error: internal: boom"]);
    t.server(json!({"type": "response.created", "response": {"id": "r9"}}));
    assert!(t.take().is_empty(), "nothing after the end");
}

#[test]
fn connection_failures() {
    let mut t = T::new(cfg());
    t.s.start(t.at());
    t.advance(5000);
    assert_eq!(t.take(), ["end error no Realtime session within 5s"]);

    let mut t = T::running(cfg());
    t.s.closed("reset by peer", t.at());
    assert_eq!(t.take(), ["end error connection closed: reset by peer"]);

    // A prepared session that fails reports it when its node starts.
    let mut t = T::new(cfg());
    t.s.connected(t.at());
    t.take();
    t.server(json!({"type": "error", "error": {"type": "invalid_request_error", "code": "invalid_api_key", "message": "Incorrect API key"}}));
    assert!(t.s.has_failed());
    assert!(t.take().is_empty());
    t.s.start(t.at());
    assert_eq!(
        t.take(),
        ["end error server error: invalid_api_key: Incorrect API key"]
    );
}

#[test]
fn a_changed_configuration_is_sent_again_when_a_prepared_session_is_adopted() {
    let mut t = T::new(cfg());
    t.s.connected(t.at());
    t.take();
    t.s.reconfigure(cfg());
    assert!(t.take().is_empty(), "same configuration");
    t.s.reconfigure(SessionConfig {
        instructions: Some("Be very brief.".into()),
        ..cfg()
    });
    assert_eq!(t.take(), ["send session.update"]);
}

#[test]
fn a_session_prepared_for_another_format_counts_heard_time_in_the_final_one() {
    // Prepared before the codec was known (24 kHz PCM), started on a G.711 call.
    let mut t = T::new(SessionConfig {
        format: AudioFormat::Pcm24k,
        ..cfg()
    });
    t.s.connected(t.at());
    t.s.reconfigure(cfg());
    t.s.start(t.at());
    t.take();
    t.server(json!({"type": "response.created", "response": {"id": "r1"}}));
    t.delta("r1", "a1", 8000); // one second of μ-law
    t.take();
    t.s.played(1, t.at());
    t.advance(600);
    t.server(json!({"type": "input_audio_buffer.speech_started", "audio_start_ms": 0}));
    let out = t.take();
    assert!(out.contains(&"log barge-in 600ms".to_string()), "{out:?}");
}

#[test]
fn unreadable_events_are_logged_not_fatal() {
    let mut t = T::running(cfg());
    t.s.server_text("not json", t.at());
    t.server(json!({"type": "response.output_audio.delta", "response_id": "r", "item_id": "i", "delta": "%%%"}));
    let out = t.take();
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|l| l.starts_with("warn unreadable")));
    assert!(!t.s.is_ended());
}
