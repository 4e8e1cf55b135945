//! The agent's client (`engine::agent::pump` + `realtime::AgentSession`) against the Realtime
//! stand-in (`tests/support/realtime_standin.rs`, written to the GA protocol) over a real
//! websocket, with a playout that plays in real time like a call's: greeting, barge-in with
//! truncation at what was heard, a webhook tool with the model's arguments, end_call after
//! the last words, usage; and the failures: a refused key, the beta header, a server error.
//! Loopback only; every wait is bounded.

#[path = "support/realtime_standin.rs"]
mod standin;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use phonetree::config::openai::ApiKey;
use phonetree::engine::agent::pump::{
    self, AudioIn, CallAudio, Ctl, Endpoint, Failure, PlayoutItem,
};
use phonetree::flow::agent::{AgentDtmf, TurnDetection};
use phonetree::flow::program::HttpMethod;
use phonetree::machine::io::{AgentThen, ToolKind, ToolRequest, WebhookRequest};
use phonetree::realtime::{AudioFormat, SessionConfig};
use serde_json::{json, Value};
use standin::{Answer, Script, Standin};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

const LIMIT: Duration = Duration::from_secs(30);

fn tone(hz: f32, ms: u32, amp: f32) -> Vec<i16> {
    (0..ms * 8)
        .map(|i| ((i as f32 * hz * std::f32::consts::TAU / 8000.0).sin() * amp) as i16)
        .collect()
}

/// A playout that plays one 20 ms frame per 20 ms of wall time, like a call's, and reports
/// marks as the audio before them is played. Cleared items are dropped (their marks too).
struct RealTimeCall {
    rate: u32,
    tx: mpsc::Sender<(u64, PlayoutItem)>,
    epoch: Arc<AtomicU64>,
    caller: mpsc::Receiver<Vec<i16>>,
    marks: mpsc::Receiver<(u32, Instant)>,
}

impl CallAudio for RealTimeCall {
    fn rate(&self) -> u32 {
        self.rate
    }

    fn law(&self) -> Option<phonetree::media::g711::Law> {
        None
    }

    fn try_push(&mut self, item: PlayoutItem) -> Result<(), PlayoutItem> {
        let e = self.epoch.load(Ordering::SeqCst);
        self.tx.try_send((e, item)).map_err(|e| match e {
            mpsc::error::TrySendError::Full((_, i)) | mpsc::error::TrySendError::Closed((_, i)) => {
                i
            }
        })
    }

    fn clear(&mut self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }

    fn next(&mut self, marks: bool) -> Pin<Box<dyn Future<Output = Option<AudioIn>> + Send + '_>> {
        Box::pin(async move {
            tokio::select! {
                m = self.marks.recv(), if marks => m.map(|(m, at)| AudioIn::Mark(m, at)),
                f = self.caller.recv() => f.map(AudioIn::Caller),
            }
        })
    }

    fn take_mark(&mut self) -> Option<(u32, Instant)> {
        self.marks.try_recv().ok()
    }
}

struct Call {
    audio: Option<Box<dyn CallAudio>>,
    /// Everything played to the caller (8 kHz), with silence where nothing played.
    heard: Arc<Mutex<Vec<i16>>>,
    caller_tx: mpsc::Sender<Vec<i16>>,
}

fn call(rate: u32) -> Call {
    let (tx, mut rx) = mpsc::channel::<(u64, PlayoutItem)>(50);
    let (mark_tx, mark_rx) = mpsc::channel(1000);
    let (caller_tx, caller_rx) = mpsc::channel(100);
    let epoch = Arc::new(AtomicU64::new(0));
    let heard = Arc::new(Mutex::new(Vec::new()));
    let (e2, h2) = (epoch.clone(), heard.clone());
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        loop {
            tick.tick().await;
            // Play one frame (marks in front of it are reported now).
            let mut played = false;
            while !played {
                match rx.try_recv() {
                    Ok((e, _)) if e != e2.load(Ordering::SeqCst) => continue,
                    Ok((_, PlayoutItem::Mark(m))) => {
                        let _ = mark_tx.try_send((m, Instant::now()));
                    }
                    Ok((_, PlayoutItem::Frame(f))) => {
                        h2.lock()
                            .unwrap()
                            .extend(f.iter().step_by(rate as usize / 8000));
                        played = true;
                    }
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => return,
                }
            }
            if !played {
                h2.lock().unwrap().extend(std::iter::repeat_n(0, 160));
            }
        }
    });
    Call {
        audio: Some(Box::new(RealTimeCall {
            rate,
            tx,
            epoch,
            caller: caller_rx,
            marks: mark_rx,
        })),
        heard,
        caller_tx,
    }
}

/// Sends the caller's audio in real time: silence, with `speech` starting at `at`.
fn speak(tx: mpsc::Sender<Vec<i16>>, rate: u32, at: Duration, speech: Vec<i16>, total: Duration) {
    tokio::spawn(async move {
        let n = rate as usize / 50;
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        let start = Instant::now();
        let mut i = 0usize;
        while start.elapsed() < total {
            tick.tick().await;
            let t = start.elapsed();
            let frame = if t >= at && i < speech.len() {
                let f: Vec<i16> = speech[i..(i + n).min(speech.len())].to_vec();
                i += n;
                f
            } else {
                vec![0; n]
            };
            if tx.send(frame).await.is_err() {
                return;
            }
        }
    });
}

fn tools(webhook: &str) -> Vec<ToolRequest> {
    vec![
        ToolRequest {
            name: "lookup_order".into(),
            description: "Find an order's status".into(),
            parameters: json!({"type": "object", "properties": {"order": {"type": "string"}}, "required": ["order"]}),
            kind: ToolKind::Webhook(WebhookRequest {
                method: HttpMethod::Post,
                url: webhook.into(),
                headers: vec![("X-Api-Key".into(), "hook-secret".into())],
                timeout: Duration::from_secs(5),
                retries: 0,
            }),
        },
        ToolRequest {
            name: "end_call".into(),
            description: "Hang up".into(),
            parameters: json!({"type": "object", "properties": {}}),
            kind: ToolKind::EndCall,
        },
    ]
}

fn config(format: AudioFormat, tools: Vec<ToolRequest>, greeting: bool) -> SessionConfig {
    SessionConfig {
        model: "gpt-realtime".into(),
        voice: Some("marin".into()),
        instructions: Some("You are the Acme assistant.".into()),
        greeting: greeting.then(|| "Welcome to Acme".into()),
        format,
        turn_detection: Some(TurnDetection::ServerVad {
            threshold: None,
            prefix_padding: None,
            silence_duration: Some(Duration::from_millis(400)),
            idle_timeout: None,
        }),
        dtmf: AgentDtmf::Ignore,
        tools,
        transcription_model: None,
        silence_timeout: Duration::from_secs(3),
        max_duration: Some(Duration::from_secs(60)),
        connect_timeout: Duration::from_secs(5),
    }
}

fn endpoint(s: &Standin, key: &str) -> Endpoint {
    Endpoint {
        url: format!("ws://{}/v1/realtime?model=gpt-realtime", s.addr),
        key: ApiKey::new(key),
        connect_timeout: Duration::from_secs(5),
        http: reqwest::Client::new(),
        label: "test".into(),
    }
}

/// A webhook answering `{"status":"shipped"}` and recording what it got.
async fn webhook() -> (String, Arc<Mutex<Vec<String>>>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let mut buf = vec![0u8; 16384];
            let n = s.read(&mut buf).await.unwrap_or(0);
            g.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&buf[..n]).into_owned());
            let body = r#"{"status":"shipped","eta":"tomorrow"}"#;
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = s.write_all(reply.as_bytes()).await;
        }
    });
    (format!("http://{addr}/orders"), got)
}

/// Where `needle` is in `hay` (normalized cross-correlation peak), if it clearly is.
fn find(hay: &[i16], needle: &[i16]) -> Option<usize> {
    let n = needle.len();
    if hay.len() < n {
        return None;
    }
    let norm = |x: &[i16]| x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>().sqrt();
    let nn = norm(needle);
    let mut best = (0.0, 0);
    for off in (0..=hay.len() - n).step_by(4) {
        let w = &hay[off..off + n];
        let dot: f64 = w
            .iter()
            .zip(needle)
            .map(|(&a, &b)| f64::from(a) * f64::from(b))
            .sum();
        let c = dot / (nn * norm(w)).max(1.0);
        if c > best.0 {
            best = (c, off);
        }
    }
    (best.0 > 0.8).then_some(best.1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn greeting_barge_in_webhook_tool_and_end_call() {
    // The greeting is four 1 s tones (so its head and tail differ), the answer after the tool
    // 1 s of 1100 Hz.
    let greeting: Vec<i16> = [300.0, 450.0, 600.0, 900.0]
        .iter()
        .flat_map(|&hz| tone(hz, 1000, 8000.0))
        .collect();
    let answer = tone(1100.0, 1000, 8000.0);
    let s = Standin::start(Script {
        answers: vec![
            Answer {
                pcm8k: greeting.clone(),
                transcript: "Welcome to Acme, how can I help?".into(),
                then_call: None,
            },
            Answer {
                pcm8k: answer.clone(),
                transcript: "Your order has shipped. Goodbye!".into(),
                then_call: Some(("end_call".into(), json!({}))),
            },
        ],
        tool_call: Some(("lookup_order".into(), json!({"order": "A-17"}))),
        speed: 1.5,
        ..Script::default()
    });
    let (hook, hook_got) = webhook().await;
    let mut c = call(8000);
    let (ctl_tx, ctl_rx) = mpsc::channel(8);
    let cfg = config(AudioFormat::Pcmu, tools(&hook), true);
    let task = tokio::spawn(pump::run(endpoint(&s, "sk-test"), cfg.clone(), ctl_rx));
    ctl_tx
        .send(Ctl::Start {
            cfg: Box::new(cfg),
            audio: c.audio.take().unwrap(),
        })
        .await
        .ok()
        .unwrap();
    // The caller talks over the greeting 1.5 s in, for 0.8 s (a loud 200 Hz "voice").
    speak(
        c.caller_tx.clone(),
        8000,
        Duration::from_millis(1500),
        tone(200.0, 800, 12000.0),
        Duration::from_secs(12),
    );
    let outcome = tokio::time::timeout(LIMIT, task)
        .await
        .expect("in time")
        .unwrap();
    let outcome = outcome.unwrap_or_else(|e| panic!("session failed: {e}"));
    assert_eq!(outcome.then, AgentThen::EndCall);
    let seen = s.seen();
    // GA session.update with the call's format and the tools.
    let update = &seen.session_updates[0];
    assert_eq!(update["type"], "realtime");
    assert_eq!(update["audio"]["input"]["format"]["type"], "audio/pcmu");
    assert_eq!(update["tools"][0]["name"], "lookup_order");
    assert!(
        seen.refused.is_empty() && seen.errors_sent.is_empty(),
        "{seen:?}"
    );
    // Barge-in: the greeting was cut where the caller was, not where the server was.
    assert_eq!(seen.truncations.len(), 1, "{seen:?}");
    let (_, heard_ms, sent_ms) = &seen.truncations[0];
    assert!(
        (1200..=2400).contains(heard_ms),
        "truncated at {heard_ms} ms"
    );
    assert!(sent_ms > heard_ms);
    // The tool: the model's arguments went to the webhook, its answer back to the model.
    let req = hook_got.lock().unwrap().join("\n");
    assert!(req.ends_with(r#"{"order":"A-17"}"#), "{req}");
    assert!(req.to_ascii_lowercase().contains("x-api-key: hook-secret"));
    assert_eq!(seen.tool_outputs.len(), 1);
    assert_eq!(
        seen.tool_outputs[0].1,
        r#"{"status":"shipped","eta":"tomorrow"}"#
    );
    // What the caller heard: the head of the greeting, not its tail; all of the answer.
    let heard = c.heard.lock().unwrap().clone();
    assert!(
        find(&heard, &greeting[..4000]).is_some(),
        "the greeting's start was heard"
    );
    assert!(
        find(&heard, &greeting[greeting.len() - 8000..]).is_none(),
        "its tail was cut"
    );
    assert!(
        find(&heard, &answer[answer.len() - 2000..]).is_some(),
        "the last words played before hanging up"
    );
    // The result.
    let r = &outcome.result;
    assert_eq!(r["ended_by"], "end_call");
    assert!(r["usage"]["total_tokens"].as_u64().unwrap() > 0);
    let transcript = r["transcript"].as_array().unwrap();
    assert!(transcript
        .iter()
        .any(|t| t["text"] == "Your order has shipped. Goodbye!"));
    assert!(
        transcript.iter().any(|t| t["interrupted"] == true),
        "the cut greeting is marked: {transcript:?}"
    );
}

#[tokio::test]
async fn a_refused_key_fails_at_once_and_our_client_sends_no_beta_header() {
    let s = Standin::start(Script::default());
    let (_ctl_tx, ctl_rx) = mpsc::channel(1);
    let t0 = Instant::now();
    let r = pump::run(
        endpoint(&s, "sk-wrong"),
        config(AudioFormat::Pcmu, vec![], false),
        ctl_rx,
    )
    .await;
    assert!(t0.elapsed() < Duration::from_secs(1));
    let Err(Failure::Connect(e)) = r else {
        panic!("{r:?}")
    };
    let text = e.to_string();
    assert!(
        text.contains("HTTP 401") && text.contains("invalid_api_key"),
        "{text}"
    );
    assert!(!text.contains("sk-wrong"));
    assert_eq!(s.seen().refused, [(401, "invalid_api_key".to_string())]);
}

#[tokio::test]
async fn the_standin_refuses_the_retired_beta_shape() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let s = Standin::start(Script::default());
    let mut req = format!("ws://{}/v1/realtime?model=gpt-realtime", s.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("authorization", "Bearer sk-test".parse().unwrap());
    req.headers_mut()
        .insert("openai-beta", "realtime=v1".parse().unwrap());
    let e = tokio_tungstenite::connect_async(req).await.err().unwrap();
    let tokio_tungstenite::tungstenite::Error::Http(resp) = e else {
        panic!("{e}")
    };
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = serde_json::from_slice(resp.body().as_deref().unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "beta_api_shape_disabled");
}

#[tokio::test]
async fn a_server_error_event_ends_the_session_with_its_cause() {
    let s = Standin::start(Script {
        error_after: Some(Duration::from_millis(300)),
        ..Script::default()
    });
    let mut c = call(8000);
    let (ctl_tx, ctl_rx) = mpsc::channel(8);
    let cfg = config(AudioFormat::Pcmu, vec![], false);
    let task = tokio::spawn(pump::run(endpoint(&s, "sk-test"), cfg.clone(), ctl_rx));
    ctl_tx
        .send(Ctl::Start {
            cfg: Box::new(cfg),
            audio: c.audio.take().unwrap(),
        })
        .await
        .ok()
        .unwrap();
    let t0 = Instant::now();
    let r = tokio::time::timeout(LIMIT, task).await.unwrap().unwrap();
    assert!(t0.elapsed() < Duration::from_secs(2));
    let Err(Failure::Session(e)) = r else {
        panic!("{r:?}")
    };
    assert!(e.to_string().contains("server_error"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wideband_call_speaks_24khz_pcm_and_silence_ends_the_session() {
    let greeting = tone(500.0, 1500, 8000.0);
    let s = Standin::start(Script {
        answers: vec![Answer {
            pcm8k: greeting.clone(),
            transcript: "Hello.".into(),
            then_call: None,
        }],
        speed: 3.0,
        ..Script::default()
    });
    let mut c = call(16000);
    let (ctl_tx, ctl_rx) = mpsc::channel(8);
    let mut cfg = config(AudioFormat::Pcm24k, vec![], true);
    cfg.silence_timeout = Duration::from_secs(1);
    let task = tokio::spawn(pump::run(endpoint(&s, "sk-test"), cfg.clone(), ctl_rx));
    ctl_tx
        .send(Ctl::Start {
            cfg: Box::new(cfg),
            audio: c.audio.take().unwrap(),
        })
        .await
        .ok()
        .unwrap();
    speak(
        c.caller_tx.clone(),
        16000,
        Duration::from_secs(60),
        vec![],
        Duration::from_secs(10),
    );
    let o = tokio::time::timeout(LIMIT, task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(o.then, AgentThen::Next);
    assert_eq!(o.result["ended_by"], "silence");
    let seen = s.seen();
    assert_eq!(
        seen.session_updates[0]["audio"]["output"]["format"],
        json!({"type": "audio/pcm", "rate": 24000})
    );
    assert!(
        seen.appended_ms > 1000,
        "the caller's (silent) audio was streamed"
    );
    // The greeting came back through 24 kHz → 16 kHz at its pitch.
    let heard = c.heard.lock().unwrap().clone();
    let loud = heard.iter().filter(|s| s.abs() > 2000).count();
    assert!(
        loud > 6000,
        "about 1.5 s of the greeting was heard ({loud} loud samples)"
    );
}

#[test]
fn the_standins_g711_matches_the_standard_tables() {
    use phonetree::media::g711::Law;
    for s in [-32768i16, -1000, -1, 0, 1, 77, 1000, 32767] {
        let mut a = Vec::new();
        Law::Mu.encode(&[s], &mut a);
        assert_eq!(standin::ulaw(s), a[0], "μ-law {s}");
        let mut a = Vec::new();
        Law::A.encode(&[s], &mut a);
        assert_eq!(standin::alaw(s), a[0], "A-law {s}");
    }
    for b in 0..=255u8 {
        let mut p = Vec::new();
        Law::Mu.decode(&[b], &mut p);
        assert_eq!(standin::ulaw_decode(b), p[0]);
        let mut p = Vec::new();
        Law::A.decode(&[b], &mut p);
        assert_eq!(standin::alaw_decode(b), p[0]);
    }
    assert_eq!(
        standin::b64_decode(&standin::b64_encode(b"hello!?")).unwrap(),
        b"hello!?"
    );
}

mod listen_openai {
    //! The `openai` listen engine: an `asr::Recognizer` over a Realtime transcription session.
    use super::*;
    use phonetree::asr::engines::Engines;
    use phonetree::asr::{AsrError, AsrEvent, Recognizer, Request};
    use phonetree::config::asr::AsrConfig;
    use phonetree::config::openai::OpenAiConfig;
    use phonetree::engine::agent::transcribe;
    use phonetree::flow::program::AsrEngine;
    use phonetree::realtime::transcribe::TranscribeConfig;

    fn cfg() -> TranscribeConfig {
        TranscribeConfig {
            model: "gpt-4o-transcribe".into(),
            language: Some("en-US".into()),
            prompt: Some("billing, support, operator".into()),
            format: AudioFormat::Pcm24k,
            silence: Some(Duration::from_millis(400)),
            connect_timeout: Duration::from_secs(5),
        }
    }

    fn transcription_endpoint(s: &Standin) -> Endpoint {
        Endpoint {
            url: format!("ws://{}/v1/realtime?intent=transcription", s.addr),
            ..endpoint(s, "sk-test")
        }
    }

    /// 16 kHz frames: `lead` ms of silence, `speech` ms of a loud tone, `tail` ms of silence.
    fn utterance(lead: u32, speech: u32, tail: u32) -> Vec<Vec<i16>> {
        let mut pcm = vec![0i16; (lead * 16) as usize];
        pcm.extend((0..speech * 16).map(|i| {
            ((i as f32 * 200.0 * std::f32::consts::TAU / 16000.0).sin() * 12000.0) as i16
        }));
        pcm.extend(std::iter::repeat_n(0, (tail * 16) as usize));
        pcm.chunks(320).map(<[i16]>::to_vec).collect()
    }

    /// Feeds `frames` in real time (then `finish`), and collects the events up to the last.
    async fn recognise(mut rec: Recognizer, frames: Vec<Vec<i16>>, finish: bool) -> Vec<AsrEvent> {
        let mut heard = Vec::new();
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        let mut frames = frames.into_iter();
        loop {
            tokio::select! {
                _ = tick.tick() => match frames.next() {
                    Some(f) => rec.audio(&f).unwrap(),
                    None if finish => rec.finish(),
                    None => {}
                },
                e = rec.event() => {
                    let Some(e) = e else { break };
                    let last = !matches!(e, AsrEvent::Partial(_));
                    heard.push(e);
                    if last {
                        break;
                    }
                }
                () = tokio::time::sleep(LIMIT) => break,
            }
        }
        heard
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_servers_vad_ends_the_turn_and_its_transcript_is_the_result() {
        let s = Standin::start(Script {
            transcripts: vec!["Billing, please.".into()],
            ..Script::default()
        });
        let rec = transcribe::recognizer(transcription_endpoint(&s), cfg());
        let heard = recognise(rec, utterance(300, 800, 1000), false).await;
        assert!(
            heard.contains(&AsrEvent::Partial("Billing, ".into())),
            "{heard:?}"
        );
        assert_eq!(
            heard.last(),
            Some(&AsrEvent::Final("Billing, please.".into()))
        );
        let seen = s.seen();
        assert!(seen.connections[0].ends_with("/v1/realtime?intent=transcription"));
        let u = &seen.session_updates[0];
        assert_eq!(u["type"], "transcription");
        assert_eq!(
            u["audio"]["input"]["format"],
            json!({"type": "audio/pcm", "rate": 24000})
        );
        assert_eq!(
            u["audio"]["input"]["transcription"],
            json!({"model": "gpt-4o-transcribe", "language": "en", "prompt": "billing, support, operator"})
        );
        assert_eq!(
            u["audio"]["input"]["turn_detection"]["silence_duration_ms"],
            400
        );
        assert!(seen.errors_sent.is_empty(), "{seen:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn finish_commits_the_speech_the_server_holds() {
        let s = Standin::start(Script {
            transcripts: vec!["two".into()],
            silence_ms: 5000, // the server's VAD would wait long: our endpointing is first
            ..Script::default()
        });
        let rec = transcribe::recognizer(transcription_endpoint(&s), cfg());
        let heard = recognise(rec, utterance(200, 600, 100), true).await;
        assert_eq!(
            heard.last(),
            Some(&AsrEvent::Final("two".into())),
            "{heard:?}"
        );
        assert!(s
            .seen()
            .client_events
            .iter()
            .any(|e| e == "input_audio_buffer.commit"));
    }

    /// The server's engine set, as `run` builds it: `asr.engine: openai` with `openai.*`.
    fn engines(s: &Standin, key: &str) -> Engines {
        let openai = OpenAiConfig {
            api_key: Some(ApiKey::new(key)),
            base_url: format!("http://{}/v1", s.addr),
            ..OpenAiConfig::default()
        };
        let asr = AsrConfig {
            engine: AsrEngine::OpenAi,
            pocketsphinx_model: Some("/nonexistent/model".into()),
            ..AsrConfig::default()
        };
        let make = transcribe::engine(Arc::new(openai), reqwest::Client::new()).unwrap();
        Engines::start(&asr).with_openai(make)
    }

    fn request() -> Request {
        Request {
            language: "en-US".into(),
            grammar: phonetree::asr::Grammar::new(["billing", "support"]),
            call: "call-1".into(),
            silence: Duration::from_millis(750),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_openai_engine_plugs_into_the_servers_recognizers_with_the_nodes_silence() {
        let s = Standin::start(Script {
            transcripts: vec!["Support.".into()],
            ..Script::default()
        });
        let e = engines(&s, "sk-test");
        assert_eq!(e.problem(AsrEngine::OpenAi), None);
        let rec = e.recognizer(AsrEngine::OpenAi, &request());
        let heard = recognise(rec, utterance(300, 800, 1000), false).await;
        assert_eq!(
            heard.last(),
            Some(&AsrEvent::Final("Support.".into())),
            "{heard:?}"
        );
        let seen = s.seen();
        assert!(seen.connections[0].ends_with("/v1/realtime?intent=transcription"));
        assert_eq!(
            seen.session_updates[0]["audio"]["input"]["transcription"]["prompt"],
            "billing, support"
        );
        // The request's silence (the node's `listen.silence`) ends the server's turns.
        assert_eq!(
            seen.session_updates[0]["audio"]["input"]["turn_detection"],
            json!({"type": "server_vad", "silence_duration_ms": 750})
        );
        let no_key = OpenAiConfig::default();
        assert!(transcribe::engine(Arc::new(no_key), reqwest::Client::new()).is_none());
    }

    #[tokio::test]
    async fn a_refused_key_is_a_failure() {
        let s = Standin::start(Script::default());
        let mut rec = engines(&s, "nope").recognizer(AsrEngine::OpenAi, &request());
        let h = tokio::time::timeout(LIMIT, rec.event())
            .await
            .unwrap()
            .unwrap();
        let AsrEvent::Error(AsrError::Connect(why)) = h else {
            panic!("{h:?}")
        };
        assert!(why.contains("401"), "{why}");
    }
}
