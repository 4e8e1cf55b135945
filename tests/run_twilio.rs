//! `phonetree run` answering calls that arrive as Twilio Media Streams: the voice webhook's TwiML,
//! admission (signatures, loopback), routing by `flow`/`to`, prompts paced in real time and
//! finished by Twilio's mark echo, keys, barge-in `clear`, REST transfer and hangup against a
//! stand-in of Twilio's API, bad messages. Twilio's side is `tests/twilio_support` (written to
//! Twilio's documentation); the third-party peer `streamdouble` runs in `tests/interop_twilio.rs`.

mod run_support;
mod sip_call;
mod twilio_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use phonetree::engine::leg::twilio::signature;
use run_support::{tone_wav_of, Server};
use sip_call::SipCall;
use twilio_support::{media_freqs, summary, Heard, Options, TwilioCall};

const FLOW: &str = r#"
name: tw
routes: ["+15550100"]
start: greet
nodes:
  greet: { play: a.wav, next: menu }
  menu:
    gather: { prompt: b.wav, digits: { min: 1, max: 1 }, timeout: 10s, tries: 1 }
    routes: { "1": bye, "2": xfer, "3": hello }
    on_fail: bye
  hello: { play: c.wav, next: menu }
  xfer: { transfer: "tel:+15550009", on_fail: failed }
  failed: { play: c.wav, next: bye }
  bye: { hangup: {} }
"#;

/// The default flow when `to` matches nothing and `flow` is not given.
const OTHER: &str = r#"
name: other
default: true
start: hi
nodes:
  hi: { play: c.wav, next: bye }
  bye: { hangup: {} }
"#;

fn server(env: &[(&str, &str)]) -> Server {
    Server::start_sounds(
        &[("tw.yaml", FLOW), ("other.yaml", OTHER)],
        &[
            ("a.wav", tone_wav_of(440.0, 1000)),
            ("b.wav", tone_wav_of(880.0, 3000)),
            ("c.wav", tone_wav_of(1320.0, 500)),
        ],
        env,
    )
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn opts(custom: &[(&str, &str)]) -> Options {
    Options {
        custom: custom
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Options::default()
    }
}

/// Frames heard between `from` and `to` (by dominant frequency, ±15%).
fn count_freq(freqs: &[(Instant, f32)], hz: f32) -> usize {
    freqs
        .iter()
        .filter(|(_, f)| (*f - hz).abs() < hz * 0.15)
        .count()
}

fn post(srv: &Server, path: &str, body: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut s = TcpStream::connect(srv.http).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut extra = String::new();
    for (k, v) in headers {
        extra.push_str(&format!("{k}: {v}\r\n"));
    }
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: ivr.test\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (
        status,
        text.split("\r\n\r\n").nth(1).unwrap_or("").to_string(),
    )
}

#[test]
fn the_voice_webhook_answers_twiml_connecting_the_call_to_our_stream() {
    let srv = server(&[]);
    let (status, body) = post(
        &srv,
        "/twilio/voice?flow=tw",
        "CallSid=CA1&From=%2B15550001&To=%2B15550100",
        &[],
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("<Connect><Stream url=\"wss://ivr.test/twilio/stream\">"),
        "{body}"
    );
    assert!(
        body.contains("<Parameter name=\"from\" value=\"+15550001\"/>"),
        "{body}"
    );
    assert!(
        body.contains("<Parameter name=\"to\" value=\"+15550100\"/>"),
        "{body}"
    );
    assert!(
        body.contains("<Parameter name=\"flow\" value=\"tw\"/>"),
        "{body}"
    );
    assert!(
        srv.logged("no twilio.auth_token"),
        "the start-up log says signatures are not checked"
    );
    // A GET is not the webhook.
    assert_eq!(srv.get("/twilio/voice").0, 405);
}

/// Twilio sends no API token: its routes keep their own admission when the API requires one.
#[test]
fn twilios_routes_stay_open_to_twilio_when_the_api_requires_a_token() {
    let token = "a-long-enough-api-token-for-tests-0123456789";
    let srv = server(&[
        ("PHONETREE_API_AUTH", "required"),
        ("PHONETREE_API_TOKENS", token),
    ]);
    assert_eq!(srv.get("/api/calls").0, 401, "the API itself is closed");
    let (status, body) = post(&srv, "/twilio/voice", "CallSid=CA9&From=1&To=2", &[]);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<Connect><Stream"), "{body}");
    let url = format!("ws://{}/twilio/stream", srv.http);
    rt().block_on(async {
        let mut call = TwilioCall::connect(&url, opts(&[("flow", "tw")]))
            .await
            .expect("the stream's upgrade needs no API token");
        let got = call
            .until(Duration::from_secs(10), "the greeting", |h| {
                matches!(h, Heard::Media(_))
            })
            .await;
        assert!(matches!(got.last(), Some((_, Heard::Media(_)))));
    });
}

#[test]
fn a_twilio_call_hears_paced_prompts_finished_by_marks_and_a_key_moves_the_flow() {
    let srv = server(&[]);
    let url = format!("ws://{}/twilio/stream", srv.http);
    rt().block_on(async {
        let mut call = TwilioCall::connect(&url, opts(&[("to", "+15550100"), ("from", "+1555")]))
            .await
            .expect("upgrade");
        // The greeting (440 Hz, 1 s), then its mark.
        let got = call
            .until(Duration::from_secs(10), "the greeting's mark", |h| {
                matches!(h, Heard::Mark(_))
            })
            .await;
        let freqs = media_freqs(&got);
        assert!(count_freq(&freqs, 440.0) >= 45, "{:?}", summary(&got));
        assert_eq!(count_freq(&freqs, 880.0), 0);
        // Paced, not dumped: the pacing itself (two frames of lead, then one per 20 ms) is
        // checked on virtual time in `leg::twilio::core_tests::a_prompt_is_paced_in_real_time_with_a_small_lead`;
        // measured here with a wall clock it failed under load (a late reader gets a burst).
        // What this call shows is the order: the whole greeting, then its mark.
        // The menu prompt (880 Hz) follows once the mark was echoed; a key barges in.
        let got = call
            .until(Duration::from_secs(10), "the menu prompt", |h| {
                matches!(h, Heard::Media(b) if (twilio_support::frequency(b) - 880.0).abs() < 130.0)
            })
            .await;
        assert!(!got.iter().any(|(_, h)| matches!(h, Heard::Clear)));
        tokio::time::sleep(Duration::from_millis(300)).await;
        call.dtmf('3');
        let got = call
            .until(Duration::from_secs(5), "the answer to 3", |h| {
                matches!(h, Heard::Media(b) if (twilio_support::frequency(b) - 1320.0).abs() < 200.0)
            })
            .await;
        let clear = got
            .iter()
            .position(|(_, h)| *h == Heard::Clear)
            .unwrap_or_else(|| panic!("no clear after the barge-in: {:?}", summary(&got)));
        assert!(
            media_freqs(&got[clear..])
                .iter()
                .all(|(_, f)| (*f - 880.0).abs() > 130.0),
            "nothing of the menu prompt after the clear"
        );
        // 1 hangs up: without credentials the stream is closed.
        call.until(Duration::from_secs(5), "the menu again", |h| matches!(h, Heard::Mark(_)))
            .await;
        call.dtmf('1');
        call.until(Duration::from_secs(10), "the stream to close", |h| *h == Heard::Closed)
            .await;
    });
    assert!(
        srv.logged("method=MediaStream") || srv.logged("dtmf"),
        "{}",
        srv.log_text()
    );
}

#[test]
fn without_the_marks_echo_the_next_prompt_waits() {
    let srv = server(&[]);
    let url = format!("ws://{}/convo", srv.http);
    rt().block_on(async {
        let mut call = TwilioCall::connect(
            &url,
            Options {
                no_echo: true,
                ..opts(&[("flow", "tw")])
            },
        )
        .await
        .expect("upgrade on the /convo alias");
        let got = call
            .until(Duration::from_secs(10), "the greeting's mark", |h| {
                matches!(h, Heard::Mark(_))
            })
            .await;
        let Some((_, Heard::Mark(name))) = got.last().cloned() else {
            unreachable!()
        };
        // Not echoed: nothing more plays (the grace before giving up is 3 s).
        let quiet = call.next(Duration::from_millis(1000)).await;
        assert!(
            !matches!(&quiet, Some((_, Heard::Media(b))) if twilio_support::rms(b) > 500.0),
            "{quiet:?}"
        );
        call.echo(&name);
        call.until(Duration::from_secs(5), "the menu prompt after the echo", |h| {
            matches!(h, Heard::Media(b) if (twilio_support::frequency(b) - 880.0).abs() < 130.0)
        })
        .await;
    });
}

#[test]
fn routing_by_flow_parameter_then_to_then_the_default_flow() {
    let srv = server(&[]);
    let url = format!("ws://{}/twilio/stream", srv.http);
    rt().block_on(async {
        for (custom, hz) in [
            (vec![("flow", "tw"), ("to", "+1999")], 440.0),
            (vec![("to", "+15550100")], 440.0),
            (vec![("to", "+1999")], 1320.0),
            (vec![("flow", "nope")], 1320.0),
        ] {
            let mut call = TwilioCall::connect(&url, opts(&custom)).await.unwrap();
            let got = call
                .until(Duration::from_secs(10), "a first prompt", |h| {
                    matches!(h, Heard::Mark(_))
                })
                .await;
            let freqs = media_freqs(&got);
            assert!(
                count_freq(&freqs, hz) > 10,
                "{custom:?}: {:?}",
                summary(&got)
            );
            call.stop();
        }
    });
    assert!(srv.logged("asks for a flow that is not loaded"));
}

/// A stand-in of Twilio's REST API: records each request (path, auth, form body), answers 200.
fn rest_standin() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(20) {
            let Ok(mut s) = stream else { return };
            s.set_read_timeout(Some(Duration::from_secs(5))).ok();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut head = String::new();
            let mut len = 0;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                head.push_str(&line);
            }
            let mut body = vec![0; len];
            let _ = r.read_exact(&mut body);
            seen2
                .lock()
                .unwrap()
                .push(format!("{head}\n{}", String::from_utf8_lossy(&body)));
            let reply = "{\"sid\":\"CA0001\"}";
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                reply.len()
            );
        }
    });
    (url, seen)
}

#[test]
fn with_a_token_requests_need_twilios_signature_and_transfer_uses_the_rest_api() {
    let (api, seen) = rest_standin();
    let srv = server(&[
        ("TWILIO_AUTH_TOKEN", "s3cret-token"),
        ("TWILIO_ACCOUNT_SID", "AC0001"),
        ("PHONETREE_TWILIO_API_BASE", &api),
        ("PHONETREE_TWILIO_PUBLIC_HOST", "ivr.test"),
    ]);
    // Webhook: unsigned 403, signed 200.
    let body = "CallSid=CA1&From=%2B15550001&To=%2B15550100";
    assert_eq!(post(&srv, "/twilio/voice", body, &[]).0, 403);
    let params = vec![
        ("CallSid".to_string(), "CA1".to_string()),
        ("From".to_string(), "+15550001".to_string()),
        ("To".to_string(), "+15550100".to_string()),
    ];
    let sig = signature::sign("s3cret-token", "https://ivr.test/twilio/voice", &params);
    let (status, twiml) = post(&srv, "/twilio/voice", body, &[("X-Twilio-Signature", &sig)]);
    assert_eq!(status, 200, "{twiml}");
    let url = format!("ws://{}/twilio/stream", srv.http);
    rt().block_on(async {
        // The upgrade: unsigned 403, signed accepted.
        assert_eq!(
            TwilioCall::connect(&url, opts(&[("to", "+15550100")]))
                .await
                .err(),
            Some(403)
        );
        let ws_sig = signature::sign("s3cret-token", "wss://ivr.test/twilio/stream", &[]);
        let mut o = opts(&[("to", "+15550100")]);
        o.headers = vec![("X-Twilio-Signature".into(), ws_sig)];
        let mut call = TwilioCall::connect(&url, o).await.expect("signed upgrade");
        call.until(Duration::from_secs(10), "the menu prompt", |h| {
            matches!(h, Heard::Media(b) if (twilio_support::frequency(b) - 880.0).abs() < 130.0)
        })
        .await;
        call.dtmf('2');
        call.until(
            Duration::from_secs(10),
            "the stream to close after the transfer",
            |h| *h == Heard::Closed,
        )
        .await;
    });
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen.len(),
        1,
        "one REST call, no hangup after a transfer: {seen:#?}"
    );
    let req = &seen[0];
    assert!(
        req.starts_with("POST /2010-04-01/Accounts/AC0001/Calls/CA0001.json"),
        "{req}"
    );
    assert!(
        req.to_ascii_lowercase().contains("authorization: basic "),
        "{req}"
    );
    let form: Vec<(String, String)> =
        form_urlencoded::parse(req.split("\n").last().unwrap().as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    assert_eq!(
        form,
        vec![(
            "Twiml".to_string(),
            "<Response><Dial><Number>+15550009</Number></Dial></Response>".to_string()
        )]
    );
    assert!(
        !srv.log_text().contains("s3cret-token"),
        "the token is never logged"
    );
}

#[test]
fn without_credentials_a_transfer_takes_on_fail_and_a_hangup_closes_the_stream() {
    let srv = server(&[]);
    let url = format!("ws://{}/twilio/stream", srv.http);
    rt().block_on(async {
        let mut call = TwilioCall::connect(&url, opts(&[("flow", "tw")]))
            .await
            .unwrap();
        call.until(Duration::from_secs(10), "the menu prompt", |h| {
            matches!(h, Heard::Media(b) if (twilio_support::frequency(b) - 880.0).abs() < 130.0)
        })
        .await;
        call.dtmf('2');
        let got = call
            .until(Duration::from_secs(10), "the stream to close", |h| {
                *h == Heard::Closed
            })
            .await;
        assert!(
            count_freq(&media_freqs(&got), 1320.0) > 10,
            "on_fail's prompt played: {:?}",
            summary(&got)
        );
    });
    assert!(srv.logged("cannot transfer"), "{}", srv.log_text());
}

#[test]
fn bad_messages_are_logged_and_the_call_goes_on() {
    let srv = server(&[]);
    let url = format!("ws://{}/twilio/stream", srv.http);
    rt().block_on(async {
        let mut call = TwilioCall::connect(&url, opts(&[("flow", "tw")]))
            .await
            .unwrap();
        for junk in [
            "{",
            "[]",
            r#"{"event":"media","media":{"payload":"***"}}"#,
            r#"{"event":"dtmf","dtmf":{}}"#,
            r#"{"no":"event"}"#,
        ] {
            call.raw(junk);
        }
        call.until(Duration::from_secs(10), "the menu prompt", |h| {
            matches!(h, Heard::Media(b) if (twilio_support::frequency(b) - 880.0).abs() < 130.0)
        })
        .await;
        call.stop();
        call.until(Duration::from_secs(5), "the close after stop", |h| {
            *h == Heard::Closed
        })
        .await;
    });
    assert!(srv.logged("unreadable message from Twilio ignored"));
    // The call is gone from the API.
    let end = Instant::now() + Duration::from_secs(3);
    loop {
        let (_, body) = srv.get("/api/calls");
        if body.contains("\"calls\":[]") {
            break;
        }
        assert!(Instant::now() < end, "call still listed: {body}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The call log's event lines of call `id`, without the summary (the same events `simulate`
/// prints, in order).
fn story(srv: &Server, id: &str) -> Vec<String> {
    let key = format!(" call={id} ");
    srv.log_text()
        .lines()
        .filter(|l| l.contains("phonetree::engine::call_log:") && l.contains(&key))
        .filter_map(|l| {
            let text = l.split("phonetree::engine::call_log: ").nth(1)?;
            let text = text.split(" call=").next()?.trim().to_string();
            (text != "call summary").then_some(text)
        })
        .collect()
}

/// Waits until `pred` holds on what the SIP caller heard.
fn sip_until(call: &SipCall, what: &str, pred: impl Fn(&[(Instant, f32)]) -> bool) {
    let end = Instant::now() + Duration::from_secs(10);
    while !pred(&call.tones()) {
        assert!(Instant::now() < end, "no {what} within 10 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn near(f: f32, hz: f32) -> bool {
    (f - hz).abs() < hz * 0.1
}

#[test]
fn the_same_flow_tells_the_same_story_over_sip_and_over_twilio() {
    let srv = server(&[]);
    // Over SIP: 3 during the menu, then 1 during the menu again.
    let call = SipCall::start(&srv, "+15550100");
    sip_until(&call, "the menu", |t| {
        t.iter().any(|(_, f)| near(*f, 880.0))
    });
    std::thread::sleep(Duration::from_millis(300));
    call.c.send_rfc4733(call.dest, 3, 101);
    sip_until(&call, "the menu after hello", |t| {
        let hello = t.iter().position(|(_, f)| near(*f, 1320.0));
        hello.is_some_and(|i| t[i..].iter().any(|(_, f)| near(*f, 880.0)))
    });
    std::thread::sleep(Duration::from_millis(300));
    call.c.send_rfc4733(call.dest, 1, 101);
    let bye = call.c.expect_request_within("BYE", Duration::from_secs(10));
    call.c.reply_ok(&bye);
    // Over Twilio: the same keys at the same places.
    let url = format!("ws://{}/twilio/stream", srv.http);
    rt().block_on(async {
        let mut tw = TwilioCall::connect(&url, opts(&[("to", "+15550100")]))
            .await
            .unwrap();
        let menu =
            |h: &Heard| matches!(h, Heard::Media(b) if near(twilio_support::frequency(b), 880.0));
        tw.until(Duration::from_secs(10), "the menu", menu).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        tw.dtmf('3');
        tw.until(
            Duration::from_secs(10),
            "hello",
            |h| matches!(h, Heard::Media(b) if near(twilio_support::frequency(b), 1320.0)),
        )
        .await;
        tw.until(Duration::from_secs(10), "the menu again", menu)
            .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        tw.dtmf('1');
        tw.until(Duration::from_secs(10), "the close", |h| {
            *h == Heard::Closed
        })
        .await;
    });
    // Both calls' summaries are out once both are over.
    assert!(srv.logged("call=CA0001"));
    let end = Instant::now() + Duration::from_secs(5);
    while srv.log_text().matches("call summary").count() < 2 {
        assert!(Instant::now() < end, "two summaries");
        std::thread::sleep(Duration::from_millis(20));
    }
    let sip_id = srv
        .log_text()
        .lines()
        .find(|l| l.contains("call_log:") && l.contains("answer flow=tw"))
        .and_then(|l| l.split(" call=").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_default()
        .to_string();
    assert!(sip_id.starts_with("call-"), "{sip_id}");
    let over_sip = story(&srv, &sip_id);
    let over_twilio = story(&srv, "CA0001");
    assert!(over_sip.len() >= 10, "{over_sip:#?}");
    assert!(over_sip.iter().any(|l| l == "dtmf 3"), "{over_sip:#?}");
    assert_eq!(over_sip, over_twilio, "the same story on both legs");
}

/// The Masdif stand-in (`twilio_support::masdif`) replying with a 1320 Hz tone.
fn masdif_standin() -> (String, Arc<Mutex<Vec<String>>>) {
    twilio_support::masdif::standin(tone_wav_of(1320.0, 1000))
}

fn sdifi_flow() -> String {
    std::fs::read_to_string(format!("{}/flows/sdifi.yaml", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn the_sdifi_demo_over_twilio_puts_what_was_said_to_masdif_and_plays_its_audio_reply() {
    let (masdif, seen) = masdif_standin();
    // The recognizer's part is given (no speech engine or peer here; the shipped flow with a
    // speech-server stand-in runs in tests/interop_twilio_speech.rs): what the caller said is
    // set where `listen` would save it; everything else is the shipped flow.
    let flow = sdifi_flow().replace(
        "    listen: { timeout: 8s, tries: 3, language: is-IS, save: said }\n    next: ask\n    on_fail: goodbye\n",
        "    set: { said: \"hvenær er opið\" }\n    next: think\n  think: { pause: 300ms, next: ask }\n",
    );
    assert!(
        flow.contains("set: { said:"),
        "the demo's `hear` node changed shape"
    );
    let srv = Server::start_sounds(
        &[("sdifi.yaml", &flow)],
        &[
            ("sorry.wav", tone_wav_of(2200.0, 500)),
            ("goodbye.wav", tone_wav_of(1800.0, 500)),
        ],
        &[("MASDIF_URL", &masdif)],
    );
    let url = format!("ws://{}/twilio/stream", srv.http);
    rt().block_on(async {
        let mut call = TwilioCall::connect(&url, opts(&[("flow", "sdifi"), ("from", "+3545551234")]))
            .await
            .unwrap();
        let mut got = Vec::new();
        let end = Instant::now() + Duration::from_secs(15);
        while let Some(h) = call.next(end.saturating_duration_since(Instant::now())).await {
            let done = matches!(&h.1, Heard::Media(b) if (twilio_support::frequency(b) - 1320.0).abs() < 130.0);
            got.push(h);
            if done {
                break;
            }
        }
        assert!(
            count_freq(&media_freqs(&got), 1320.0) > 0,
            "no audio reply: {:?}\n{}",
            summary(&got),
            srv.log_text()
        );
        call.stop();
    });
    let seen = seen.lock().unwrap().clone();
    assert!(seen[0].starts_with("POST /conversations "), "{seen:#?}");
    assert!(seen[0].contains("+3545551234"), "{seen:#?}");
    let body = twilio_support::masdif::put_body(&seen).expect("the PUT");
    assert_eq!(body["text"], "hvenær er opið");
    assert_eq!(body["metadata"]["asr_generated"], true);
    assert!(
        seen.iter().any(|l| l.starts_with("GET /audio/m1.wav ")),
        "{seen:#?}"
    );
}

#[test]
fn the_shipped_sdifi_demo_answers_over_twilio_and_opens_a_conversation() {
    let (masdif, seen) = masdif_standin();
    let srv = Server::start_sounds(
        &[("sdifi.yaml", &sdifi_flow())],
        &[
            ("sorry.wav", tone_wav_of(2200.0, 500)),
            ("goodbye.wav", tone_wav_of(1800.0, 500)),
        ],
        &[("MASDIF_URL", &masdif)],
    );
    let url = format!("ws://{}/twilio/stream", srv.http);
    rt().block_on(async {
        let mut call = TwilioCall::connect(&url, opts(&[("flow", "sdifi")]))
            .await
            .unwrap();
        // The caller stays silent: `listen` (the server's default engine) times out its three
        // 8 s tries and the flow says goodbye. A bounded wait, not a timing assertion.
        let got = call
            .until(Duration::from_secs(60), "the close", |h| {
                *h == Heard::Closed
            })
            .await;
        assert!(
            count_freq(&media_freqs(&got), 1800.0) > 10,
            "{:?}",
            summary(&got)
        );
    });
    let seen = seen.lock().unwrap().clone();
    assert!(seen[0].starts_with("POST /conversations "), "{seen:#?}");
}
