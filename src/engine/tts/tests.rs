//! The TTS engines against local stand-ins of their documented interfaces (OpenAI
//! `/v1/audio/speech`, a `{text, voice}` TTS server, a Piper-compatible CLI), espeak-ng when it
//! is installed, and the cache.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::config::openai::ApiKey;

/// One HTTP exchange: (request line, headers lowercased, body).
type Seen = (String, String, Vec<u8>);

/// Serves `reply` (status line + headers, then the body) to one request; returns what it got.
async fn one_shot(
    status: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
) -> (String, tokio::task::JoinHandle<Seen>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let h = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut buf = Vec::new();
        let mut chunk = vec![0u8; 4096];
        let (head, body_start) = loop {
            let n = s.read(&mut chunk).await.unwrap();
            buf.extend_from_slice(&chunk[..n]);
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break (String::from_utf8_lossy(&buf[..p]).into_owned(), p + 4);
            }
        };
        let len: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse().unwrap())
            })
            .unwrap_or(0);
        while buf.len() < body_start + len {
            let n = s.read(&mut chunk).await.unwrap();
            buf.extend_from_slice(&chunk[..n]);
        }
        let mut resp = format!(
            "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        resp.extend_from_slice(&body);
        s.write_all(&resp).await.unwrap();
        let mut lines = head.lines();
        let first = lines.next().unwrap_or("").to_owned();
        let headers = lines.collect::<Vec<_>>().join("\n").to_ascii_lowercase();
        (first, headers, buf[body_start..body_start + len].to_vec())
    });
    (format!("http://{addr}"), h)
}

fn tts(dir: &Path, f: impl FnOnce(&mut TtsConfig, &mut OpenAiConfig)) -> Tts {
    let mut cfg = TtsConfig {
        cache: dir.to_path_buf(),
        ..TtsConfig::default()
    };
    let mut openai = OpenAiConfig::default();
    f(&mut cfg, &mut openai);
    Tts::new(cfg, openai, reqwest::Client::new())
}

fn seconds(path: &Path) -> f64 {
    crate::audio::duration_of(path).unwrap().as_secs_f64()
}

#[tokio::test]
async fn openai_speech_is_requested_as_documented_and_cached() {
    let dir = tempfile::tempdir().unwrap();
    // Half a second of 24 kHz 16-bit PCM, as `response_format: pcm` returns it.
    let pcm: Vec<u8> = (0..12000i16)
        .flat_map(|i| ((i % 200) * 50).to_le_bytes())
        .collect();
    let (base, server) = one_shot("200 OK", "audio/pcm", pcm).await;
    let t = tts(dir.path(), |_, o| {
        o.base_url = format!("{base}/v1");
        o.api_key = Some(ApiKey::new("sk-tts-test"));
    });
    let path = t
        .synthesize(Some(TtsEngine::OpenAi), Some("coral"), "Hello from Acme.")
        .await
        .unwrap();
    let (line, headers, body) = server.await.unwrap();
    assert_eq!(line, "POST /v1/audio/speech HTTP/1.1");
    assert!(headers.contains("authorization: bearer sk-tts-test"));
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"model": "gpt-4o-mini-tts", "voice": "coral", "input": "Hello from Acme.", "response_format": "pcm"})
    );
    assert!((seconds(&path) - 0.5).abs() < 0.01, "{}", seconds(&path));
    // The same sentence again: from the cache (the server is gone).
    let again = t
        .synthesize(Some(TtsEngine::OpenAi), Some("coral"), "Hello from Acme.")
        .await
        .unwrap();
    assert_eq!(again, path);
    // Another voice is another file (and needs the server).
    assert!(t
        .synthesize(Some(TtsEngine::OpenAi), Some("alloy"), "Hello from Acme.")
        .await
        .is_err());
}

#[tokio::test]
async fn openai_errors_name_the_status_and_message_not_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let body = br#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}"#.to_vec();
    let (base, _server) = one_shot("401 Unauthorized", "application/json", body).await;
    let t = tts(dir.path(), |_, o| {
        o.base_url = format!("{base}/v1");
        o.api_key = Some(ApiKey::new("sk-leak-me"));
    });
    let e = t
        .synthesize(Some(TtsEngine::OpenAi), None, "Hi")
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(e, "openai answered HTTP 401: Incorrect API key provided");
    let t = tts(dir.path(), |_, _| {});
    let e = t
        .synthesize(Some(TtsEngine::OpenAi), None, "Hi")
        .await
        .unwrap_err();
    assert!(matches!(e, TtsError::NotConfigured(_)), "{e}");
}

#[tokio::test]
async fn the_http_engine_posts_text_and_voice_and_keeps_the_audio_format() {
    let dir = tempfile::tempdir().unwrap();
    let audio = wav(&[0u8; 16000], 8000);
    let (base, server) = one_shot("200 OK", "audio/wav", audio.clone()).await;
    let t = tts(dir.path(), |c, _| {
        c.http_url = Some(format!("{base}/synthesize"));
        c.http_voice = Some("en_US-joe-medium".into());
        c.http_api_key = Some(ApiKey::new("tok"));
    });
    let path = t
        .synthesize(Some(TtsEngine::Http), None, "Press one.")
        .await
        .unwrap();
    let (line, headers, body) = server.await.unwrap();
    assert_eq!(line, "POST /synthesize HTTP/1.1");
    assert!(headers.contains("authorization: bearer tok"));
    assert!(headers.contains("content-type: application/json"));
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"text": "Press one.", "voice": "en_US-joe-medium"})
    );
    assert_eq!(path.extension().unwrap(), "wav");
    assert_eq!(std::fs::read(&path).unwrap(), audio);
    // Piper's server sends its WAV as `text/html`: the bytes decide.
    let (base, _s) = one_shot("200 OK", "text/html; charset=utf-8", audio.clone()).await;
    let t2 = tts(&dir.path().join("c2"), |c, _| c.http_url = Some(base));
    let path = t2
        .synthesize(Some(TtsEngine::Http), None, "Again.")
        .await
        .unwrap();
    assert_eq!(path.extension().unwrap(), "wav");
    // Not audio at all.
    let (base, _s) = one_shot("200 OK", "text/html", b"<html>".to_vec()).await;
    let t = tts(dir.path(), |c, _| c.http_url = Some(base));
    let e = t
        .synthesize(Some(TtsEngine::Http), None, "x")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("not audio"), "{e}");
}

#[tokio::test]
async fn piper_gets_the_text_on_stdin_and_its_model() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("joe.onnx");
    std::fs::write(&model, b"model").unwrap();
    // A Piper-compatible CLI: `-m MODEL -f OUT`, text on stdin; writes a WAV and a trace.
    let trace = dir.path().join("trace.txt");
    let script = dir.path().join("fake-piper");
    let half_second = dir.path().join("half.wav");
    std::fs::write(&half_second, wav(&[0u8; 8000], 8000)).unwrap();
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s|' \"$@\" > {t}\ncat >> {t}\ncp {w} \"$4\"\n",
            t = trace.display(),
            w = half_second.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let t = tts(&dir.path().join("cache"), |c, _| {
        c.piper_command = script.clone();
        c.piper_voices = Some(dir.path().to_path_buf());
        c.piper_voice = Some("joe".into());
    });
    let path = t
        .synthesize(Some(TtsEngine::Piper), None, "Your balance is ten dollars.")
        .await
        .unwrap();
    assert!((seconds(&path) - 0.5).abs() < 0.01);
    let got = std::fs::read_to_string(&trace).unwrap();
    assert!(
        got.starts_with(&format!("-m|{}|-f|", model.display())),
        "{got}"
    );
    assert!(got.ends_with("|Your balance is ten dollars."), "{got}");
    // A missing model and a missing program are told apart.
    let e = t
        .synthesize(Some(TtsEngine::Piper), Some("nobody"), "x")
        .await
        .unwrap_err();
    assert!(matches!(e, TtsError::NotConfigured(_)), "{e}");
    let t = tts(&dir.path().join("cache2"), |c, _| {
        c.piper_command = dir.path().join("no-such-piper");
        c.piper_voice = Some(model.display().to_string());
    });
    let e = t
        .synthesize(Some(TtsEngine::Piper), None, "x")
        .await
        .unwrap_err();
    assert!(matches!(e, TtsError::NotInstalled { .. }), "{e}");
}

#[tokio::test]
async fn espeak_when_installed() {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("espeak-ng").is_file()))
        .unwrap_or(false);
    if !on_path {
        eprintln!("skipped: espeak-ng is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let t = tts(dir.path(), |_, _| {});
    let path = t.synthesize(None, None, "Hello").await.unwrap();
    assert!(seconds(&path) > 0.2);
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let again = t
        .synthesize(Some(TtsEngine::EspeakNg), None, "Hello")
        .await
        .unwrap();
    assert_eq!(again, path);
    assert_eq!(
        std::fs::metadata(&again).unwrap().modified().unwrap(),
        modified,
        "not made again"
    );
}

#[tokio::test]
async fn the_cache_is_bounded_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let c = cache::Cache::new(dir.path().to_path_buf(), 1000);
    for i in 0..5 {
        c.store(&format!("k{i}"), "wav", &[0u8; 300]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["k2.wav", "k3.wav", "k4.wav"],
        "at most 900 bytes, newest kept"
    );
    assert!(c.lookup("k4").await.is_some());
    assert!(c.lookup("k0").await.is_none());
    assert_ne!(cache::key("a", "", "b", "c"), cache::key("a", "", "bc", ""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_engine_plays_as_it_downloads_and_caches_what_it_played() {
    use crate::engine::audio_port::{pair, AudioFormat, LiveNext, PortConfig};
    use crate::engine::tts::stream::Spoken;
    let dir = tempfile::tempdir().unwrap();
    // One second of 24 kHz PCM (a 300 Hz tone), as `response_format: pcm` streams it.
    let pcm: Vec<u8> = (0..24000)
        .flat_map(|i| {
            (((i as f32 * 300.0 * std::f32::consts::TAU / 24000.0).sin() * 8000.0) as i16)
                .to_le_bytes()
        })
        .collect();
    let (base, server) = one_shot("200 OK", "audio/pcm", pcm).await;
    let t = tts(dir.path(), |_, o| {
        o.base_url = format!("{base}/v1");
        o.api_key = Some(ApiKey::new("sk-stream"));
    });
    let (port, mut tap) = pair(AudioFormat::NARROWBAND, PortConfig::default());
    // The leg's side: one slot every 2 ms (faster than real time: only the frames matter).
    let player = tokio::spawn(async move {
        let mut frames = Vec::new();
        for _ in 0..2000 {
            match tap.live.next_slot(std::time::Instant::now()) {
                LiveNext::Frame(f) => frames.push(f.samples),
                LiveNext::Silence | LiveNext::Idle => {}
            }
            if tap.live.is_finished() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        frames
    });
    let spoken = t
        .speak_streaming(Some(TtsEngine::OpenAi), Some("coral"), "Streamed.", port)
        .await
        .unwrap();
    assert!(matches!(spoken, Spoken::Played), "{spoken:?}");
    let frames = player.await.unwrap();
    // About 50 frames of 8 kHz for one second (the resampler's edges may cost one).
    assert!((48..=51).contains(&frames.len()), "{}", frames.len());
    assert!(frames.iter().all(|f| f.len() == 160));
    let rms = (frames[25]
        .iter()
        .map(|&s| f64::from(s).powi(2))
        .sum::<f64>()
        / 160.0)
        .sqrt();
    assert!(rms > 3000.0, "the tone came through: {rms}");
    let (_, _, body) = server.await.unwrap();
    assert!(String::from_utf8_lossy(&body).contains("\"response_format\":\"pcm\""));
    // Cached: the next time it is a file.
    let (port, _tap) = pair(AudioFormat::NARROWBAND, PortConfig::default());
    let again = t
        .speak_streaming(Some(TtsEngine::OpenAi), Some("coral"), "Streamed.", port)
        .await
        .unwrap();
    let Spoken::Cached(path) = again else {
        panic!("{again:?}")
    };
    assert!((seconds(&path) - 1.0).abs() < 0.01);
}

#[tokio::test]
async fn a_wav_that_is_not_16_bit_pcm_is_played_from_the_cache_file() {
    use crate::engine::audio_port::{pair, AudioFormat, PortConfig};
    use crate::engine::tts::stream::Spoken;
    let dir = tempfile::tempdir().unwrap();
    // An MP3-looking body: not streamable.
    let mut body = b"ID3".to_vec();
    body.extend(std::iter::repeat_n(0u8, 1000));
    let (base, _server) = one_shot("200 OK", "audio/mpeg", body).await;
    let t = tts(dir.path(), |c, _| {
        c.http_url = Some(format!("{base}/synthesize"))
    });
    let (port, _tap) = pair(AudioFormat::NARROWBAND, PortConfig::default());
    let spoken = t
        .speak_streaming(Some(TtsEngine::Http), None, "Not streamed.", port)
        .await
        .unwrap();
    let Spoken::Cached(path) = spoken else {
        panic!("{spoken:?}")
    };
    assert_eq!(path.extension().unwrap(), "mp3");
}
