//! Interop of the Twilio leg and the `stream` node with third-party peers (see `tests/interop.rs`
//! for the harness and the gate):
//! - `streamdouble` (PyPI) plays Twilio's side of Media Streams against the demo flows: what
//!   phonetree sends, decoded, correlates with the expected prompts at the right times (greeting,
//!   the response after a key, the theme switch with `#`), a `clear` follows each barge-in, marks
//!   are sent and only their echoes let the next prompt start, prompts arrive paced in real time;
//! - a pjsua2 caller reaches flows whose `stream` node connects it to a Python websocket bot
//!   (`tests/interop/stream_bot.py`) speaking the Ringover protocol (raw 8/16/24 kHz, WAV, MP3,
//!   OGG, `break`, `digits` received as RFC 4733 by pjsua2, `play` of a URL, `transfer` as a
//!   REFER that pjsua2 follows to a sipp UAS) or Twilio's (marks, the caller's keys, `clear`, the
//!   close reason as the node's result). The caller's recording correlates with each piece and
//!   not with what `break`/`clear` cut.

#[path = "interop/audio.rs"]
mod audio;
#[path = "interop/harness.rs"]
#[allow(dead_code)]
mod harness;
#[path = "interop/streamdouble.rs"]
#[allow(dead_code)]
mod streamdouble;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use audio::{assert_heard, assert_not_heard, Window};
use harness::*;
use serde_json::Value;

/// Runs sox (`args` after the input file); fails the test on error.
fn sox(work: &Work, input: &Path, output: &Path, args: &[&str]) {
    let ok = Command::new("sox")
        .arg(input)
        .args(args_before(args))
        .arg(output)
        .args(args_after(args))
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        work.fail(&format!(
            "sox {} -> {} failed",
            input.display(),
            output.display()
        ));
    }
}

/// sox options are split at `--`: output format options before, effects after.
fn args_before<'a>(args: &'a [&'a str]) -> Vec<&'a str> {
    args.iter().take_while(|a| **a != "--").copied().collect()
}

fn args_after<'a>(args: &'a [&'a str]) -> Vec<&'a str> {
    args.iter()
        .skip_while(|a| **a != "--")
        .skip(1)
        .copied()
        .collect()
}

fn duration(path: &Path) -> f64 {
    let out = Command::new("soxi")
        .arg("-D")
        .arg(path)
        .output()
        .expect("soxi");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0.0)
}

#[test]
#[cfg_attr(
    not(interop),
    ignore = "real peers: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn streamdouble_hears_the_demo_flow_over_twilio_paced_cleared_and_finished_by_marks() {
    let _serial = serial();
    if !require(&[Peer::Streamdouble]) {
        return;
    }
    let work = Work::new();
    let engine = Engine::start(&work, &[]);
    let scenario = work.path("scenario.yaml");
    std::fs::write(
        &scenario,
        "name: the characters demo over Twilio\nsteps:\n  - wait_for: audio\n  - wait: 3\n  \
         - dtmf: \"1\"\n  - wait: 0.5\n  - expect: clear\n  - wait: 5\n  - dtmf: \"#\"\n  \
         - wait: 0.5\n  - expect: clear\n  - wait: 4\n",
    )
    .unwrap();
    let (stereo, tr) = (work.path("stereo.wav"), work.path("trace.jsonl"));
    let mut cmd = Command::new(streamdouble());
    cmd.arg("scenario")
        .arg(&scenario)
        .arg(format!("ws://{}/twilio/stream", engine.http))
        .args(["--json", "--max-drain", "15", "--record-stereo"])
        .arg(&stereo)
        .args(["--trace-payloads", "--trace"])
        .arg(&tr);
    let mut sd = Proc::spawn(&work, "streamdouble", &mut cmd);
    let status = sd
        .wait(Duration::from_secs(90))
        .unwrap_or_else(|e| work.fail(&e));
    // Its report is one pretty-printed JSON document.
    let report: Value = serde_json::from_str(&sd.stdout_text()).unwrap_or(Value::Null);
    eprintln!("streamdouble: {report}");
    if !status.success() || report["exit_code"] != 0 {
        work.fail(&format!("streamdouble failed ({status}): {report}"));
    }
    for field in ["violations", "unknown_events"] {
        if report[field] != serde_json::json!([]) {
            work.fail(&format!("{field}: {report}"));
        }
    }
    let expectations = report["expectations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if expectations.len() != 2 || expectations.iter().any(|e| e["passed"] != true) {
        work.fail(&format!("a clear must follow each barge-in: {report}"));
    }
    let marks = report["marks_received"].as_u64().unwrap_or(0);
    if marks == 0 || report["marks_echoed"].as_u64() != Some(marks) {
        work.fail(&format!("marks sent and echoed: {report}"));
    }
    // Paced: a second of audio takes a second to arrive (an app dumping prompts at once
    // would show a delivery ratio far above 1).
    let ratio = report["delivery_ratio"].as_f64().unwrap_or(99.0);
    if ratio > 1.3 {
        work.fail(&format!("prompts were not paced in real time: {report}"));
    }
    eprintln!(
        "time to first audio {} ms, delivery ratio {ratio}",
        report["time_to_first_audio_ms"]
    );
    // What streamdouble heard (right channel), against the prompts, at the keys' times.
    let events = streamdouble::trace(&work, &tr);
    let t0 = events.first().and_then(|e| e["t"].as_f64()).unwrap_or(0.0);
    let at = |ev: &str, pred: &dyn Fn(&Value) -> bool| -> Vec<f64> {
        events
            .iter()
            .filter(|e| e["event"] == ev && pred(e))
            .filter_map(|e| e["t"].as_f64().map(|t| t - t0))
            .collect()
    };
    let key = |d: &'static str| at("dtmf", &move |e| e["digit"] == d)[0];
    let (one, pound) = (key("1"), key("#"));
    let heard = work.path("heard.wav");
    streamdouble::write_wav(&heard, &streamdouble::playout(&events, t0));
    assert_heard(&work, &heard, "bunny/greeting.wav", 0.0, 1.0, 2.5);
    assert_heard(&work, &heard, "bunny/response_1.wav", one, one + 1.0, 3.0);
    assert_heard(&work, &heard, "robot/greeting.wav", pound, pound + 1.0, 3.0);
    assert_not_heard(
        &work,
        &heard,
        "robot/greeting.wav",
        Window {
            after: 0.0,
            before: Some(pound - 0.5),
            ref_seconds: Some(2.0),
        },
    );
    // A clear right after each key (the prompt it interrupted was in Twilio's buffer).
    let clears = at("clear", &|e| e["dir"] == "in");
    for k in [one, pound] {
        if !clears.iter().any(|c| *c >= k && *c < k + 0.5) {
            work.fail(&format!(
                "no clear within 0.5 s of the key at {k:.3} s: {clears:?}"
            ));
        }
    }
    // Each mark's echo, and only it, lets the next prompt start: no audio between the two.
    for sent in events
        .iter()
        .filter(|e| e["event"] == "mark" && e["dir"] == "in")
    {
        let name = sent["mark"].clone();
        let t_sent = sent["t"].as_f64().unwrap_or(0.0);
        let echo = events
            .iter()
            .find(|e| e["event"] == "mark" && e["dir"] == "out" && e["mark"] == name)
            .and_then(|e| e["t"].as_f64())
            .unwrap_or_else(|| work.fail(&format!("mark {name} not echoed")));
        let media_between = events.iter().any(|e| {
            e["event"] == "media"
                && e["dir"] == "in"
                && e["t"].as_f64().is_some_and(|t| t > t_sent && t < echo)
        });
        if media_between {
            work.fail(&format!("audio was sent between mark {name} and its echo"));
        }
    }
    assert_no_call_left(&work, &engine);
}

/// No call is left in `/api/calls` (within 5 s).
fn assert_no_call_left(work: &Work, engine: &Engine) {
    engine.wait_for(
        work,
        "/api/calls to be empty",
        Duration::from_secs(5),
        || engine.calls(work).is_empty(),
    );
}

/// A bot (`stream_bot.py`) on a free port following `plan`; returns its process and port.
fn start_bot(
    work: &Work,
    protocol: &str,
    plan: &Value,
    serve: Option<(&Path, u16)>,
) -> (Proc, u16) {
    let port = free_port();
    let plan_path = work.path(&format!("plan-{protocol}.json"));
    std::fs::write(&plan_path, plan.to_string()).unwrap();
    let mut cmd = Command::new(python());
    cmd.arg(script("stream_bot.py"))
        .args([
            "--port",
            &port.to_string(),
            "--protocol",
            protocol,
            "--plan",
        ])
        .arg(&plan_path)
        .args(["--linger", "45"]);
    if let Some((file, p)) = serve {
        cmd.arg("--serve")
            .arg(file)
            .args(["--serve-port", &p.to_string()]);
    }
    let bot = Proc::spawn(work, &format!("bot_{protocol}"), &mut cmd);
    // Wait until it listens.
    wait_until(work, "the bot to listen", Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    (bot, port)
}

/// A sipp UAS answering transfers (the Refer-To target).
fn transfer_target(work: &Work) -> (Proc, u16) {
    let port = free_port();
    let mut uas = Command::new("sipp");
    uas.arg("-sf")
        .arg(script("sipp/uas_answer.xml"))
        .args([
            "-i",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-mi",
            "127.0.0.1",
        ])
        .args([
            "-mp",
            &free_range(4).to_string(),
            "-m",
            "1",
            "-timeout",
            "80s",
            "-nostdin",
        ]);
    (Proc::spawn(work, "sipp_target", &mut uas), port)
}

/// Converts a prompt of the sound folder into `bot/<name>` in `args`' format.
fn clip(work: &Work, src: &str, name: &str, args: &[&str]) -> PathBuf {
    std::fs::create_dir_all(work.sound.join("bot")).unwrap();
    let out = work.sound.join("bot").join(name);
    sox(work, &work.prompt(src), &out, args);
    out
}

fn bot_summary(work: &Work, bot: &mut Proc) -> Value {
    let _ = bot.wait(Duration::from_secs(60));
    bot.json()
        .unwrap_or_else(|| work.fail("the bot printed no summary"))
}

#[test]
#[cfg_attr(
    not(interop),
    ignore = "real peers: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn pjsua2_reaches_a_ringover_bot_that_streams_every_format_breaks_sends_keys_plays_and_transfers() {
    let _serial = serial();
    if !require(&[Peer::Pjsua2, Peer::Sipp]) {
        return;
    }
    let work = Work::new();
    // The pieces: prompts of the demo, each in one format and rate.
    let a = clip(&work, "bunny/menu.wav", "a.wav", &[]);
    let b = clip(&work, "robot/menu.wav", "b.wav", &[]);
    let c = clip(&work, "pirate/menu.wav", "c.wav", &[]);
    let d = clip(&work, "welcome.wav", "d.wav", &["-r", "24000"]);
    let e = clip(&work, "sales.wav", "e.mp3", &["-r", "16000"]);
    let f = clip(&work, "support.wav", "f.ogg", &["-r", "16000"]);
    let g = clip(&work, "main_menu.wav", "g.wav", &[]);
    let h = clip(&work, "transfer.wav", "h.wav", &[]);
    // What the break cuts: the long clip from 5 s on.
    clip(&work, "main_menu.wav", "g_tail.wav", &["--", "trim", "5"]);
    let lens: Vec<f64> = [&a, &b, &c, &d, &e, &f]
        .iter()
        .map(|p| duration(p))
        .collect();
    let before_g: f64 = lens.iter().sum();
    let break_at = before_g + 3.0;
    let serve_port = free_port();
    let (mut target, target_port) = transfer_target(&work);
    let plan = serde_json::json!([
        {"audio": a, "kind": "raw", "rate": 8000},
        {"audio": b, "kind": "raw", "rate": 16000},
        {"audio": c, "kind": "raw", "rate": 24000},
        {"audio": d, "kind": "wav"},
        {"audio": e, "kind": "mp3"},
        {"audio": f, "kind": "ogg"},
        {"audio": g, "kind": "raw", "rate": 8000},
        {"sleep": break_at},
        {"break": true},
        {"play": format!("http://127.0.0.1:{serve_port}/h.wav")},
        {"digits": 123},
        {"sleep": 5.0},
        {"transfer": format!("sip:operator@127.0.0.1:{target_port}")},
    ]);
    let (mut bot, bot_port) = start_bot(&work, "ringover", &plan, Some((&h, serve_port)));
    work.write_flow(
        "bot.yaml",
        &format!(
            "name: bot\nroutes: [\"7100\"]\nstart: bot\nnodes:\n  bot:\n    stream:\n      \
             url: \"ws://127.0.0.1:{bot_port}/ringover?call={{{{ call.id }}}}\"\n      protocol: ringover\n      \
             headers: {{ Authorization: \"Bearer interop\" }}\n      custom: {{ lang: en }}\n    \
             on_error: sorry\n    next: sorry\n  sorry: {{ play: sorry.wav, next: end }}\n  end: {{ hangup: {{}} }}\n"
        ),
    );
    let engine = Engine::start(
        &work,
        &[("PHONETREE_TRANSFER_ALLOW", "sip:operator@127.0.0.1:*")],
    );
    let rec = work.path("pj_ringover.wav");
    let (status, summary) = run_peer(
        &work,
        "pj_ringover",
        pj_caller(&engine.target(), &rec).args(["--user", "7100", "--duration", "45"]),
        Duration::from_secs(70),
    );
    eprintln!("pj: {summary}");
    if !status.success() || summary["answered"] != true {
        work.fail(&format!("the call was not answered: {summary}"));
    }
    // Each piece where it belongs (they play back to back from the answer).
    let mut at = 0.0;
    for (i, (name, len)) in ["a", "b", "c", "d", "e", "f"].iter().zip(&lens).enumerate() {
        // The matcher reads every source through sox: MP3 and OGG included.
        let file = format!(
            "bot/{name}.{}",
            ["wav", "wav", "wav", "wav", "mp3", "ogg"][i]
        );
        let found = assert_heard(&work, &rec, &file, at, at + 2.0, len.min(2.0));
        at = found + len;
    }
    let g_at = assert_heard(&work, &rec, "bot/g.wav", at, at + 2.0, 2.5);
    assert_not_heard(
        &work,
        &rec,
        "bot/g_tail.wav",
        Window {
            after: g_at + 2.0,
            before: None,
            ref_seconds: Some(2.0),
        },
    );
    assert_heard(&work, &rec, "bot/h.wav", g_at + 2.0, g_at + 5.5, 2.0);
    let keys: String = summary["dtmf_received"]
        .as_array()
        .map(|v| v.iter().filter_map(|d| d[0].as_str()).collect())
        .unwrap_or_default();
    if keys != "123" {
        work.fail(&format!(
            "the bot's digits did not reach the caller as RFC 4733: {summary}"
        ));
    }
    let refer_to = summary["transfer"]["to"].as_str().unwrap_or("");
    if !refer_to.contains(&format!("operator@127.0.0.1:{target_port}"))
        || summary["transfer"]["answered"] != true
    {
        work.fail(&format!(
            "the REFER did not take the caller to the sipp UAS: {summary}"
        ));
    }
    match target.wait(Duration::from_secs(20)) {
        Ok(s) if s.success() => {}
        other => work.fail(&format!(
            "the transfer target did not complete its call: {other:?}"
        )),
    }
    let log = bot_summary(&work, &mut bot);
    let meta = &log["texts"][0];
    if meta["event"] != "start" || meta["to"] != "7100" || meta["custom"]["lang"] != "en" {
        work.fail(&format!("metadata frame: {log}"));
    }
    if log["auth"] != "Bearer interop"
        || !log["path"]
            .as_str()
            .unwrap_or("")
            .starts_with("/ringover?call=")
    {
        work.fail(&format!("request headers/path: {log}"));
    }
    if log["binary_sizes"]["320"].as_u64().unwrap_or(0) < 200 {
        work.fail(&format!(
            "the caller's audio (20 ms of 8 kHz PCM per frame): {log}"
        ));
    }
    assert_no_call_left(&work, &engine);
}

#[test]
#[cfg_attr(
    not(interop),
    ignore = "real peers: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn pjsua2_reaches_a_twilio_bot_that_marks_hears_keys_clears_and_ends_with_a_result() {
    let _serial = serial();
    if !require(&[Peer::Pjsua2]) {
        return;
    }
    let work = Work::new();
    let first = clip(&work, "bunny/response_3.wav", "first.wav", &[]);
    let long = clip(&work, "robot/response_1.wav", "long.wav", &[]);
    clip(
        &work,
        "robot/response_1.wav",
        "long_tail.wav",
        &["--", "trim", "4"],
    );
    let first_len = duration(&first);
    let plan = serde_json::json!([
        {"sleep": 0.3},
        {"media": first},
        {"mark": "first"},
        {"wait_event": "dtmf", "timeout": 20},
        {"media": long},
        {"sleep": 2.0},
        {"clear": true},
        {"sleep": 0.5},
        {"close": "{\"intent\":\"done\"}"},
    ]);
    let (mut bot, bot_port) = start_bot(&work, "twilio", &plan, None);
    work.write_flow(
        "twbot.yaml",
        &format!(
            "name: twbot\nroutes: [\"7101\"]\nstart: bot\nnodes:\n  bot:\n    stream: {{ url: \"ws://127.0.0.1:{bot_port}/bot\", \
             custom: {{ who: \"{{{{ call.from }}}}\" }}, save: bot }}\n    on_error: sorry\n    next: check\n  \
             check:\n    switch:\n      - {{ when: \"vars.bot.intent == 'done'\", goto: bye }}\n      - {{ goto: sorry }}\n  \
             bye: {{ play: goodbye.wav, next: end }}\n  sorry: {{ play: sorry.wav, next: end }}\n  end: {{ hangup: {{}} }}\n"
        ),
    );
    let engine = Engine::start(&work, &[]);
    let rec = work.path("pj_twbot.wav");
    let key_at = first_len + 1.5;
    let (status, summary) = run_peer(
        &work,
        "pj_twbot",
        pj_caller(&engine.target(), &rec).args([
            "--user",
            "7101",
            "--dtmf",
            &format!("5@{key_at:.1}"),
            "--duration",
            "20",
        ]),
        Duration::from_secs(50),
    );
    eprintln!("pj: {summary}");
    if !status.success() || summary["answered"] != true {
        work.fail(&format!("the call was not answered: {summary}"));
    }
    let sent = summary["dtmf_sent"][0][1].as_f64().unwrap_or(key_at);
    assert_heard(&work, &rec, "bot/first.wav", 0.0, 1.5, 2.5);
    let long_at = assert_heard(&work, &rec, "bot/long.wav", sent, sent + 1.5, 1.5);
    assert_not_heard(
        &work,
        &rec,
        "bot/long_tail.wav",
        Window {
            after: long_at + 3.0,
            before: None,
            ref_seconds: Some(2.0),
        },
    );
    assert_heard(
        &work,
        &rec,
        "goodbye.wav",
        long_at + 2.0,
        long_at + 5.0,
        2.0,
    );
    let log = bot_summary(&work, &mut bot);
    let kinds: Vec<&str> = log["texts"]
        .as_array()
        .map(|v| v.iter().filter_map(|t| t["event"].as_str()).collect())
        .unwrap_or_default();
    if kinds.first() != Some(&"connected") || kinds.get(1) != Some(&"start") {
        work.fail(&format!("connected, start first: {log}"));
    }
    if log["texts"][1]["start"]["customParameters"]["to"] != "7101" {
        work.fail(&format!("customParameters: {log}"));
    }
    let dtmf = log["events"]
        .as_array()
        .and_then(|v| v.iter().find(|e| e["event"] == "dtmf").cloned())
        .unwrap_or_else(|| work.fail(&format!("the bot did not get the caller's key: {log}")));
    if dtmf["detail"]["digit"] != "5" {
        work.fail(&format!("the key: {dtmf}"));
    }
    // Counted in the caller's 20 ms frames the bot got meanwhile, not seconds: echoed on arrival
    // would be a frame or two, echoed once played is about 50 a second of clip.
    let echo = log["echo_frames"]["first"].as_i64().unwrap_or(-1);
    if (echo as f64) < first_len * 50.0 * 0.4 {
        work.fail(&format!(
            "the mark came back before its audio played ({echo} frames for {first_len} s): {log}"
        ));
    }
    assert_no_call_left(&work, &engine);
}

/// The Python block under "A 30-line bot" in docs/streams.md.
fn docs_bot() -> String {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/streams.md"))
            .expect("docs/streams.md");
    let section = doc
        .split("## A 30-line bot")
        .nth(1)
        .expect("the bot's section");
    let code = section
        .split("```python\n")
        .nth(1)
        .and_then(|s| s.split("\n```").next())
        .expect("a python block");
    assert!(code.lines().count() <= 40, "about 30 lines");
    code.to_string()
}

#[test]
#[cfg_attr(
    not(interop),
    ignore = "real peers: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn the_python_bot_of_docs_streams_md_echoes_the_caller_sends_a_key_and_ends_with_a_result() {
    let _serial = serial();
    if !require(&[Peer::Pjsua2]) {
        return;
    }
    let work = Work::new();
    let bot_py = work.path("echo_bot.py");
    std::fs::write(&bot_py, docs_bot()).unwrap();
    let port = free_port();
    let mut cmd = Command::new(python());
    cmd.arg(&bot_py).arg(port.to_string());
    let _bot = Proc::spawn(&work, "docs_bot", &mut cmd);
    wait_until(
        &work,
        "the docs' bot to listen",
        Duration::from_secs(10),
        || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
    );
    // The flow of the docs, with a check of the saved result.
    work.write_flow(
        "docbot.yaml",
        &format!(
            "name: docbot\nroutes: [\"7102\"]\nstart: bot\nnodes:\n  bot:\n    \
             stream: {{ url: \"ws://127.0.0.1:{port}\", protocol: ringover, save: bot }}\n    \
             on_error: sorry\n    next: check\n  check:\n    switch:\n      \
             - {{ when: \"vars.bot.heard_s == 3\", goto: bye }}\n      - {{ goto: sorry }}\n  \
             bye: {{ play: goodbye.wav, next: end }}\n  sorry: {{ play: sorry.wav, next: end }}\n  \
             end: {{ hangup: {{}} }}\n"
        ),
    );
    let engine = Engine::start(&work, &[]);
    let rec = work.path("pj_docbot.wav");
    let wav = work.prompt("main_menu.wav");
    let wav = wav.to_string_lossy();
    let (status, summary) = run_peer(
        &work,
        "pj_docbot",
        pj_caller(&engine.target(), &rec).args([
            "--user",
            "7102",
            "--wav",
            &wav,
            "--duration",
            "9",
        ]),
        Duration::from_secs(40),
    );
    eprintln!("pj: {summary}");
    if !status.success() || summary["answered"] != true {
        work.fail(&format!("the call was not answered: {summary}"));
    }
    // The caller's first seconds come back about a second later, then the saved result leads
    // to the goodbye.
    let echo_at = assert_heard(&work, &rec, "main_menu.wav", 0.8, 2.5, 1.5);
    assert_heard(
        &work,
        &rec,
        "goodbye.wav",
        echo_at + 1.5,
        echo_at + 4.5,
        1.0,
    );
    let keys: String = summary["dtmf_received"]
        .as_array()
        .map(|v| v.iter().filter_map(|d| d[0].as_str()).collect())
        .unwrap_or_default();
    if keys != "1" {
        work.fail(&format!(
            "the bot's key did not reach the caller: {summary}"
        ));
    }
    assert_no_call_left(&work, &engine);
}
