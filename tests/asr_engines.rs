//! The network speech engines against stand-ins of their servers, written to the published
//! protocols (tests/asr/*.py, Python with the PyPI packages `.ci/install-deps.sh` installs):
//! - `websocket`: a Vosk-protocol websocket server recognising with PocketSphinx;
//! - `axy`: an SDiFI `SpeechService` gRPC server compiled from tests/fixtures/axy/speech.proto.
//!
//! Caller speech (Piper, through G.711) goes through the listen core exactly as on a call.
//! Skipped when the interop venv is missing, except under `PHONETREE_INTEROP=1`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use phonetree::asr::axy::{self, AxyConfig};
use phonetree::asr::listen::{ListenCore, ListenOutput, ListenParams};
use phonetree::asr::vosk::{self, VoskConfig};
use phonetree::asr::{AsrError, Grammar, Recognizer};

fn venv_python() -> Option<PathBuf> {
    let venv = std::env::var("PHONETREE_INTEROP_VENV")
        .unwrap_or_else(|_| "/opt/phonetree-interop/venv".into());
    let py = Path::new(&venv).join("bin/python");
    let ok = Command::new(&py)
        .args(["-c", "import pocketsphinx, websockets, grpc, grpc_tools"])
        .status()
        .is_ok_and(|s| s.success());
    match ok {
        true => Some(py),
        false if std::env::var_os("PHONETREE_INTEROP").is_some() => {
            panic!("the interop venv lacks the ASR stand-ins' packages: run .ci/install-deps.sh")
        }
        false => {
            eprintln!("skipped: no interop venv with pocketsphinx/websockets/grpcio");
            None
        }
    }
}

/// A stand-in server process, killed on drop.
struct StandIn {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl StandIn {
    fn start(py: &Path, script: &str, args: &[&str]) -> StandIn {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log.jsonl");
        let mut child = Command::new(py)
            .arg(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/asr")
                    .join(script),
            )
            .arg("--log")
            .arg(&log)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("stand-in starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(p) = line.strip_prefix("PORT ") {
                    let _ = tx.send(p.trim().parse::<u16>().unwrap());
                }
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the stand-in reports its port within 30 s");
        StandIn {
            child,
            port,
            log,
            _dir: dir,
        }
    }

    fn records(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn speech(name: &str) -> Vec<i16> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/speech/{name}.wav"));
    let pcm = phonetree::audio::decode_file(&path, Duration::from_secs(30)).unwrap();
    let mut out = vec![0i16; 8 * 800];
    out.extend(
        pcm.samples
            .iter()
            .map(|&s| (s * 32768.0).clamp(-32768.0, 32767.0) as i16),
    );
    out.extend(std::iter::repeat_n(0i16, 8 * 1500));
    out
}

/// Drives one listen attempt in 20 ms frames (faster than real time) to its result.
async fn listen(
    mut rec: Recognizer,
    grammar: Option<Grammar>,
    pcm: &[i16],
) -> Result<String, AsrError> {
    let params = ListenParams {
        silence: Duration::from_millis(700),
        max_speech: Duration::from_secs(10),
        rate: 8000,
    };
    let mut core = ListenCore::new(params, grammar);
    let mut partials = 0;
    for frame in pcm.chunks(160) {
        core.audio(frame);
        while let Some(out) = core.poll() {
            match out {
                ListenOutput::Audio(a) => rec.audio(&a).expect("room in the queue"),
                ListenOutput::Finish => rec.finish(),
                ListenOutput::Done(r) => return r,
                _ => {}
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
        while let Some(ev) = rec.try_event() {
            core.recognizer(ev);
        }
    }
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(30), rec.event())
            .await
            .expect("a result in time");
        match ev {
            Some(ev) => core.recognizer(ev),
            None => core.recognizer_closed(),
        }
        while let Some(out) = core.poll() {
            match out {
                ListenOutput::Partial(_) => partials += 1,
                ListenOutput::Done(r) => {
                    let _ = partials;
                    return r;
                }
                _ => {}
            }
        }
    }
}

fn request(grammar: Option<Grammar>, language: &str) -> phonetree::asr::Request {
    phonetree::asr::Request {
        language: language.into(),
        grammar,
        call: "call-42@example".into(),
        silence: Duration::from_millis(700),
    }
}

fn vosk_cfg(port: u16) -> VoskConfig {
    VoskConfig {
        url: format!("ws://127.0.0.1:{port}"),
        connect_timeout: Duration::from_secs(5),
        result_timeout: Duration::from_secs(10),
    }
}

#[tokio::test]
async fn websocket_engine_recognises_menu_words_through_a_vosk_server() {
    let Some(py) = venv_python() else { return };
    let server = StandIn::start(&py, "vosk_standin.py", &[]);
    let menu = Grammar::new(["yes", "no", "billing", "sales", "technical support"]).unwrap();
    for (file, want) in [
        ("piper_billing", "billing"),
        ("piper_technical_support", "technical support"),
    ] {
        let rec = vosk::start(
            &vosk_cfg(server.port),
            &request(Some(menu.clone()), "en-US"),
        );
        let got = listen(rec, Some(menu.clone()), &speech(file)).await;
        assert_eq!(got.as_deref(), Ok(want), "{file}");
    }
    let records = server.records();
    assert_eq!(records.len(), 2, "one stream per attempt");
    for r in &records {
        assert_eq!(r["config"]["sample_rate"], 16000);
        assert_eq!(r["config"]["phrase_list"][5], "[unk]");
        assert!(
            r["binary"].as_u64().unwrap() >= 5,
            "audio went as binary messages"
        );
        assert_eq!(r["violations"].as_array().unwrap().len(), 0);
    }
}

#[tokio::test]
async fn websocket_engine_without_a_server_fails_fast() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let rec = vosk::start(&vosk_cfg(port), &request(None, "en-US"));
    let got = listen(rec, None, &speech("piper_yes")).await;
    assert!(matches!(got, Err(AsrError::Connect(_))), "{got:?}");
}

fn axy_cfg(port: u16) -> AxyConfig {
    AxyConfig {
        url: format!("grpc://127.0.0.1:{port}"),
        connect_timeout: Duration::from_secs(5),
        result_timeout: Duration::from_secs(10),
    }
}

#[tokio::test]
async fn axy_engine_streams_to_a_sdifi_speech_server() {
    let Some(py) = venv_python() else { return };
    let server = StandIn::start(
        &py,
        "axy_standin.py",
        &["--phrases", "yes,no,one two three four"],
    );
    let rec = axy::start(&axy_cfg(server.port), &request(None, "is-IS"));
    let got = listen(rec, None, &speech("piper_one_two_three_four")).await;
    assert_eq!(got.as_deref(), Ok("one two three four"));
    let rec = axy::start(
        &axy_cfg(server.port),
        &request(Some(Grammar::digits()), "is-IS"),
    );
    let got = listen(
        rec,
        Some(Grammar::digits()),
        &speech("piper_one_two_three_four"),
    )
    .await;
    assert_eq!(
        got.as_deref(),
        Ok("1234"),
        "a digits grammar turns the words into digits"
    );
    let records = server.records();
    assert_eq!(records.len(), 2);
    let r = &records[0];
    assert_eq!(r["language"], "is-IS");
    assert_eq!(r["rate"], 16000);
    assert_eq!(r["encoding"], 1);
    assert_eq!(r["interim"], true);
    assert_eq!(r["single_utterance"], false);
    assert_eq!(r["conversation"], "call-42@example");
    assert!(
        r["audio_bytes"].as_u64().unwrap() > 16_000,
        "at least half a second of audio"
    );
}

#[tokio::test]
async fn axy_engine_reports_a_server_error_status() {
    let Some(py) = venv_python() else { return };
    let server = StandIn::start(&py, "axy_standin.py", &["--fail"]);
    let rec = axy::start(&axy_cfg(server.port), &request(None, "en-US"));
    let got = listen(rec, None, &speech("piper_yes")).await;
    match got {
        Err(AsrError::Remote(m)) => assert!(m.contains("backend unavailable"), "{m}"),
        other => panic!("{other:?}"),
    }
}
