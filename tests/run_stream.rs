//! The `stream` node in `phonetree run`: a SIP caller (our UDP client with RTP) reaches a flow
//! that connects it to a bot — a websocket server in this test speaking the Ringover protocol or
//! Twilio's — and the caller hears what the bot sends: raw PCM at 8/16/24 kHz, WAV, MP3, OGG,
//! a `play` URL; a `break` cuts a long clip; `digits` arrive as RFC 4733; a `transfer` becomes a
//! REFER; a Twilio bot's marks are echoed when played, it hears the caller's keys and its close
//! reason is the node's result; a bot that cannot be reached or drops takes `on_error`.
//! Interop with a real SIP phone (pjsua2) and sipp is in `tests/interop_twilio.rs`.

mod run_support;
mod sip_call;
mod twilio_support;

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use run_support::{tone_wav_of, Caller, Msg, Server};
use serde_json::{json, Value};
use sip_call::SipCall;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use twilio_support::tone_mulaw;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// What a bot saw.
#[derive(Default, Debug)]
struct BotLog {
    path: String,
    auth: Option<String>,
    texts: Vec<Value>,
    binary: Vec<usize>,
    /// (mark name, media frames received from sending it to its echo).
    echoes: Vec<(String, u32)>,
}

type Log = Arc<Mutex<BotLog>>;

/// A websocket server on loopback running `script` for each connection (at most `n`).
fn bot<F, Fut>(n: usize, script: F) -> (SocketAddr, Log)
where
    F: Fn(tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>, Log) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let log: Log = Arc::default();
    let log2 = log.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            for _ in 0..n {
                let Ok(Ok((tcp, _))) =
                    tokio::time::timeout(Duration::from_secs(60), listener.accept()).await
                else {
                    return;
                };
                let seen = log2.clone();
                #[allow(clippy::result_large_err)]
                let ws = tokio_tungstenite::accept_hdr_async(
                    tcp,
                    move |req: &Request, resp: Response| {
                        let mut l = seen.lock().unwrap();
                        l.path = req.uri().to_string();
                        l.auth = req
                            .headers()
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned);
                        Ok(resp)
                    },
                )
                .await
                .unwrap();
                let _ =
                    tokio::time::timeout(Duration::from_secs(60), script(ws, log2.clone())).await;
            }
        });
    });
    (addr, log)
}

/// A tiny HTTP server answering every GET with `body` (a WAV).
fn http_file(body: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/clip.wav", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for s in listener.incoming().take(5) {
            let Ok(mut s) = s else { return };
            let mut buf = [0u8; 2048];
            let _ = s.read(&mut buf);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: audio/wav\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(&body);
        }
    });
    url
}

/// Frames of each tone (±8%), in the order first heard.
fn runs(tones: &[(Instant, f32)], freqs: &[f32]) -> Vec<(f32, usize)> {
    let mut out: Vec<(f32, usize)> = Vec::new();
    for (_, f) in tones {
        let Some(&hz) = freqs.iter().find(|hz| (f - *hz).abs() < *hz * 0.08) else {
            continue;
        };
        match out.iter_mut().find(|(h, _)| *h == hz) {
            Some((_, n)) => *n += 1,
            None => out.push((hz, 1)),
        }
    }
    out
}

fn wav_bytes(rate: u32, freq: f32, ms: u32) -> Vec<u8> {
    let samples: Vec<i16> = (0..rate * ms / 1000)
        .map(|i| ((i as f32 * freq * std::f32::consts::TAU / rate as f32).sin() * 8000.0) as i16)
        .collect();
    let data_len = (samples.len() * 2) as u32;
    let mut w = Vec::new();
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + data_len).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes());
    w.extend_from_slice(&rate.to_le_bytes());
    w.extend_from_slice(&(rate * 2).to_le_bytes());
    w.extend_from_slice(&2u16.to_le_bytes());
    w.extend_from_slice(&16u16.to_le_bytes());
    w.extend_from_slice(b"data");
    w.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        w.extend_from_slice(&s.to_le_bytes());
    }
    w
}

fn raw(rate: u32, freq: f32, ms: u32) -> String {
    let mut bytes = Vec::new();
    for i in 0..rate * ms / 1000 {
        let s = ((i as f32 * freq * std::f32::consts::TAU / rate as f32).sin() * 8000.0) as i16;
        bytes.extend_from_slice(&s.to_le_bytes());
    }
    json!({"type": "streamAudio", "data": {"audioDataType": "raw", "sampleRate": rate, "audioData": B64.encode(bytes)}}).to_string()
}

fn encoded(kind: &str, bytes: &[u8]) -> String {
    json!({"type": "streamAudio", "data": {"audioDataType": kind, "audioData": B64.encode(bytes)}})
        .to_string()
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/audio/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// The REFER's Refer-To, after answering it 202 and NOTIFYing success.
fn accept_refer(c: &mut Caller, user: &str) -> String {
    let refer = c.expect_request_within("REFER", Duration::from_secs(20));
    let mut accepted = String::from("SIP/2.0 202 Accepted\r\n");
    for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
        if let Some(v) = refer.header(name) {
            accepted.push_str(&format!("{name}: {v}\r\n"));
        }
    }
    accepted.push_str("Content-Length: 0\r\n\r\n");
    c.send(&accepted);
    c.extra_headers = "Event: refer\r\nSubscription-State: terminated;reason=noresource\r\n".into();
    let cseq = c.in_dialog(
        "NOTIFY",
        user,
        Some(("message/sipfrag;version=2.0", "SIP/2.0 200 OK\r\n")),
    );
    let _: Msg = c.expect_response(cseq, "NOTIFY");
    refer.header("Refer-To").unwrap_or("").to_string()
}

fn flow(name: &str, route: &str, stream: &str) -> String {
    format!(
        "name: {name}\nroutes: [\"{route}\"]\nstart: bot\nnodes:\n  bot:\n    stream: {stream}\n    \
         on_error: failed\n    next: after\n  after: {{ play: a.wav, next: end }}\n  \
         failed: {{ play: c.wav, next: end }}\n  end: {{ hangup: {{}} }}\n"
    )
}

fn sounds() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("a.wav", tone_wav_of(1800.0, 600)),
        ("c.wav", tone_wav_of(2200.0, 600)),
    ]
}

#[test]
fn a_ringover_bot_streams_every_format_breaks_sends_keys_plays_a_url_and_transfers() {
    let play_url = http_file(wav_bytes(8000, 1000.0, 600));
    let (addr, log) = bot(1, move |ws, log| {
        let play_url = play_url.clone();
        async move {
            let (mut tx, mut rx) = ws.split();
            let reader = tokio::spawn(async move {
                while let Some(Ok(m)) = rx.next().await {
                    let mut l = log.lock().unwrap();
                    match m {
                        Message::Text(t) => l
                            .texts
                            .push(serde_json::from_str(&t).unwrap_or(Value::Null)),
                        Message::Binary(b) => l.binary.push(b.len()),
                        _ => {}
                    }
                }
            });
            tokio::time::sleep(Duration::from_millis(300)).await;
            let pieces = vec![
                raw(8000, 440.0, 600),
                raw(16000, 550.0, 600),
                raw(24000, 770.0, 600),
                encoded("wav", &wav_bytes(24000, 880.0, 600)),
                encoded("mp3", &fixture("bot_1320hz.mp3")),
                encoded("ogg", &fixture("bot_660hz.ogg")),
                raw(8000, 330.0, 4000),
            ];
            for p in pieces {
                tx.send(Message::text(p)).await.unwrap();
            }
            // 3.6 s of pieces, then 1 s into the long clip: break.
            tokio::time::sleep(Duration::from_millis(4600)).await;
            tx.send(Message::text(r#"{"event":"break"}"#))
                .await
                .unwrap();
            tx.send(Message::text(
                json!({"event": "play", "file": play_url}).to_string(),
            ))
            .await
            .unwrap();
            tx.send(Message::text(r#"{"event":"digits","data":12}"#))
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(1500)).await;
            tx.send(Message::text(
                r#"{"event":"transfer","data":"sip:agent@127.0.0.1"}"#,
            ))
            .await
            .unwrap();
            let _ = tokio::time::timeout(Duration::from_secs(5), reader).await;
        }
    });
    let stream = format!(
        "{{ url: \"ws://{addr}/ringover?call={{{{ call.id }}}}\", protocol: ringover, \
         headers: {{ Authorization: \"Bearer t0k\" }}, custom: {{ lang: is, who: \"{{{{ call.from }}}}\" }} }}"
    );
    let srv = Server::start_sounds(
        &[("ro.yaml", &flow("ro", "7000", &stream))],
        &sounds(),
        &[("PHONETREE_TRANSFER_ALLOW", "sip:agent@*")],
    );
    let mut call = SipCall::start(&srv, "7000");
    let refer_to = accept_refer(&mut call.c, "7000");
    assert!(refer_to.contains("sip:agent@127.0.0.1"), "{refer_to}");
    let bye = call.c.expect_request_within("BYE", Duration::from_secs(5));
    call.c.reply_ok(&bye);
    let tones = call.tones();
    let got = runs(
        &tones,
        &[440.0, 550.0, 770.0, 880.0, 1320.0, 660.0, 330.0, 1000.0],
    );
    let order: Vec<f32> = got.iter().map(|(h, _)| *h).collect();
    assert_eq!(
        order,
        [440.0, 550.0, 770.0, 880.0, 1320.0, 660.0, 330.0, 1000.0],
        "every piece, in order: {got:?}"
    );
    for (hz, n) in &got {
        if *hz != 330.0 {
            assert!(
                (20..=40).contains(n),
                "{hz} Hz: {n} frames (0.6 s = 30): {got:?}"
            );
        }
    }
    let cut = got.iter().find(|(h, _)| *h == 330.0).map_or(0, |(_, n)| *n);
    assert!(
        (15..=110).contains(&cut),
        "the break cut the 4 s clip after ~1 s: {cut} frames of it played"
    );
    assert_eq!(call.keys(), vec![1, 2], "the bot's digits as RFC 4733");
    let l = log.lock().unwrap();
    assert!(l.path.starts_with("/ringover?call=call-"), "{}", l.path);
    assert_eq!(l.auth.as_deref(), Some("Bearer t0k"));
    let meta = &l.texts[0];
    assert_eq!(meta["event"], "start");
    assert_eq!(meta["from"], "+15550001");
    assert_eq!(meta["to"], "7000");
    assert_eq!(meta["custom"], json!({"lang": "is", "who": "+15550001"}));
    assert_eq!(meta["audio"]["sampleRate"], 8000);
    assert!(l.binary.len() > 100, "the caller's audio reached the bot");
    assert!(
        l.binary.iter().all(|n| *n == 320),
        "20 ms of 16-bit PCM at 8 kHz each"
    );
}

#[test]
fn a_ringover_bot_at_16k_gets_wideband_frames_and_its_end_result_is_saved() {
    let (addr, log) = bot(1, |ws, log| async move {
        let (mut tx, mut rx) = ws.split();
        let mut n = 0;
        while let Some(Ok(m)) = rx.next().await {
            match m {
                Message::Binary(b) => {
                    log.lock().unwrap().binary.push(b.len());
                    n += 1;
                    if n == 25 {
                        tx.send(Message::text(raw(16000, 440.0, 400)))
                            .await
                            .unwrap();
                        tx.send(Message::text(
                            r#"{"event":"end","data":{"intent":"sales"}}"#,
                        ))
                        .await
                        .unwrap();
                    }
                }
                Message::Text(t) => log
                    .lock()
                    .unwrap()
                    .texts
                    .push(serde_json::from_str(&t).unwrap()),
                _ => {}
            }
        }
    });
    let stream =
        format!("{{ url: \"ws://{addr}/ro16\", protocol: ringover, rate: 16000, save: bot }}");
    let flow = format!(
        "name: ro16\nroutes: [\"7010\"]\nstart: bot\nnodes:\n  bot:\n    stream: {stream}\n    \
         on_error: failed\n    next: check\n  check:\n    switch:\n      - {{ when: \"vars.bot.intent == 'sales'\", goto: after }}\n      \
         - {{ goto: failed }}\n  after: {{ play: a.wav, next: end }}\n  failed: {{ play: c.wav, next: end }}\n  end: {{ hangup: {{}} }}\n"
    );
    let srv = Server::start_sounds(&[("ro16.yaml", &flow)], &sounds(), &[]);
    let call = SipCall::start(&srv, "7010");
    let bye = call.c.expect_request_within("BYE", Duration::from_secs(15));
    call.c.reply_ok(&bye);
    let got = runs(&call.tones(), &[440.0, 1800.0, 2200.0]);
    assert_eq!(
        got.iter().map(|(h, _)| *h).collect::<Vec<_>>(),
        [440.0, 1800.0],
        "{got:?}"
    );
    assert!(
        got[0].1 >= 15,
        "the bot's last words played before the flow went on: {got:?}"
    );
    let l = log.lock().unwrap();
    assert_eq!(l.texts[0]["audio"]["sampleRate"], 16000);
    assert!(
        l.binary.iter().all(|n| *n == 640),
        "20 ms at 16 kHz: {:?}",
        &l.binary[..5]
    );
}

#[test]
fn a_twilio_bot_gets_twilios_messages_its_marks_echoed_when_played_and_the_callers_keys() {
    let (addr, log) = bot(1, |ws, log| async move {
        let (mut tx, mut rx) = ws.split();
        // Media frames from phonetree counted when the mark went out; the echo's distance from it
        // in frames (the caller sends one per 20 ms) tells "echoed once played" from "echoed on
        // arrival" without reading a clock. The exact rule is unit-tested in
        // `audio_port::tests::a_mark_is_reported_when_the_audio_before_it_has_played`.
        let mut sent_mark: Option<u32> = None;
        let mut media = 0u32;
        while let Some(Ok(m)) = rx.next().await {
            let Message::Text(t) = m else { continue };
            let v: Value = serde_json::from_str(&t).unwrap();
            let ev = v["event"].as_str().unwrap_or("").to_string();
            match ev.as_str() {
                "media" => {
                    media += 1;
                    if media == 10 {
                        let sid = v["streamSid"].as_str().unwrap().to_string();
                        let audio = B64.encode(tone_mulaw(440.0, 1000));
                        let msg = json!({"event": "media", "streamSid": sid, "media": {"payload": audio}});
                        tx.send(Message::text(msg.to_string())).await.unwrap();
                        let mark = json!({"event": "mark", "streamSid": sid, "mark": {"name": "greeting"}});
                        tx.send(Message::text(mark.to_string())).await.unwrap();
                        sent_mark = Some(media);
                    }
                    if media % 50 == 0 {
                        log.lock().unwrap().texts.push(v.clone());
                    }
                }
                "mark" => {
                    let frames = sent_mark.map_or(0, |at| media - at);
                    let name = v["mark"]["name"].as_str().unwrap_or("").to_string();
                    log.lock().unwrap().echoes.push((name, frames));
                }
                "dtmf" => {
                    log.lock().unwrap().texts.push(v.clone());
                    let sid = v["streamSid"].as_str().unwrap().to_string();
                    let audio = B64.encode(tone_mulaw(880.0, 3000));
                    let msg =
                        json!({"event": "media", "streamSid": sid, "media": {"payload": audio}});
                    tx.send(Message::text(msg.to_string())).await.unwrap();
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    tx.send(Message::text(
                        json!({"event": "clear", "streamSid": sid}).to_string(),
                    ))
                    .await
                    .unwrap();
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    let _ = tx
                        .send(Message::Close(Some(CloseFrame {
                            code: CloseCode::Normal,
                            reason: r#"{"intent":"bye"}"#.into(),
                        })))
                        .await;
                }
                _ => log.lock().unwrap().texts.push(v.clone()),
            }
        }
    });
    let stream = format!(
        "{{ url: \"ws://{addr}/tw\", custom: {{ who: \"{{{{ call.from }}}}\" }}, save: bot }}"
    );
    let flow = format!(
        "name: tb\nroutes: [\"7001\"]\nstart: bot\nnodes:\n  bot:\n    stream: {stream}\n    \
         on_error: failed\n    next: check\n  check:\n    switch:\n      - {{ when: \"vars.bot.intent == 'bye'\", goto: after }}\n      \
         - {{ goto: failed }}\n  after: {{ play: a.wav, next: end }}\n  failed: {{ play: c.wav, next: end }}\n  end: {{ hangup: {{}} }}\n"
    );
    let srv = Server::start_sounds(&[("tb.yaml", &flow)], &sounds(), &[]);
    let call = SipCall::start(&srv, "7001");
    // Press 5 after the greeting has played.
    std::thread::sleep(Duration::from_millis(2200));
    call.c.send_rfc4733(call.dest, 5, 101);
    let bye = call.c.expect_request_within("BYE", Duration::from_secs(15));
    call.c.reply_ok(&bye);
    let got = runs(&call.tones(), &[440.0, 880.0, 1800.0, 2200.0]);
    assert_eq!(
        got.iter().map(|(h, _)| *h).collect::<Vec<_>>(),
        [440.0, 880.0, 1800.0],
        "greeting, the cleared clip, then `next` (the close reason saved): {got:?}"
    );
    assert!((40..=55).contains(&got[0].1), "{got:?}");
    assert!(got[1].1 < 60, "the clear cut the 3 s clip: {got:?}");
    let l = log.lock().unwrap();
    let kinds: Vec<&str> = l.texts.iter().filter_map(|v| v["event"].as_str()).collect();
    assert_eq!(&kinds[..2], ["connected", "start"], "{kinds:?}");
    let start = &l.texts[1]["start"];
    assert_eq!(start["customParameters"]["who"], "+15550001");
    assert_eq!(start["customParameters"]["to"], "7001");
    assert_eq!(start["mediaFormat"]["encoding"], "audio/x-mulaw");
    let media = l
        .texts
        .iter()
        .find(|v| v["event"] == "media")
        .expect("media");
    assert_eq!(
        B64.decode(media["media"]["payload"].as_str().unwrap())
            .unwrap()
            .len(),
        160
    );
    assert!(kinds.contains(&"dtmf"), "{kinds:?}");
    let dtmf = l.texts.iter().find(|v| v["event"] == "dtmf").unwrap();
    assert_eq!(dtmf["dtmf"]["digit"], "5");
    assert_eq!(l.echoes.len(), 1, "{:?}", l.echoes);
    assert_eq!(l.echoes[0].0, "greeting");
    // The 1 s clip is 50 frames; echoed on arrival it would be 0-2.
    assert!(
        l.echoes[0].1 >= 20,
        "echoed once played, not on arrival (frames between): {:?}",
        l.echoes
    );
}

#[test]
fn a_bot_that_cannot_be_reached_or_drops_takes_on_error() {
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let (addr, _log) = bot(1, |ws, _log| async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        drop(ws);
    });
    let srv = Server::start_sounds(
        &[
            (
                "a.yaml",
                &flow(
                    "refused",
                    "7002",
                    &format!("{{ url: \"ws://{closed}/x\" }}"),
                ),
            ),
            (
                "b.yaml",
                &flow(
                    "dropped",
                    "7003",
                    &format!("{{ url: \"ws://{addr}/x\", protocol: ringover }}"),
                ),
            ),
        ],
        &sounds(),
        &[],
    );
    for number in ["7002", "7003"] {
        let call = SipCall::start(&srv, number);
        let bye = call.c.expect_request_within("BYE", Duration::from_secs(10));
        call.c.reply_ok(&bye);
        let got = runs(&call.tones(), &[1800.0, 2200.0]);
        assert_eq!(
            got.iter().map(|(h, _)| *h).collect::<Vec<_>>(),
            [2200.0],
            "{number}: {got:?}"
        );
        let first = call.tones()[0].0;
        let answered = call.heard.lock().unwrap()[0].0;
        assert!(first >= answered);
    }
    assert!(srv.logged("cannot reach the bot"), "{}", srv.log_text());
    assert!(
        srv.logged("session ended with an error"),
        "{}",
        srv.log_text()
    );
}
