//! The local engines: programs run per sentence, bounded in time, killed if the call's task is
//! dropped. `espeak-ng` writes WAV to stdout; Piper reads the text on stdin and writes a WAV
//! file (its model is a `.onnx` path, or a name looked up in `tts.piper.voices`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::{Audio, TtsError};
use crate::config::tts::TtsConfig;
use crate::flow::program::TtsEngine;

/// Longest a local engine may take for one sentence.
const LOCAL_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn espeak(text: &str, voice: Option<&str>) -> Result<Audio, TtsError> {
    let engine = TtsEngine::EspeakNg;
    let mut cmd = Command::new("espeak-ng");
    cmd.arg("--stdout");
    if let Some(v) = voice {
        cmd.args(["-v", v]);
    }
    cmd.arg("--").arg(text);
    let out = run(cmd, engine, "apt-get install espeak-ng", None).await?;
    if out.len() < 44 {
        return Err(TtsError::Failed {
            engine,
            detail: "no audio".into(),
        });
    }
    Ok(Audio {
        bytes: out,
        extension: "wav",
    })
}

pub async fn piper(cfg: &TtsConfig, text: &str, voice: Option<&str>) -> Result<Audio, TtsError> {
    let engine = TtsEngine::Piper;
    let voice = voice.ok_or_else(|| {
        TtsError::NotConfigured(
            "the piper engine needs a voice model: set tts.piper.voice (a .onnx file) or say.voice"
                .into(),
        )
    })?;
    let model = model_path(cfg, voice);
    if !model.is_file() {
        return Err(TtsError::NotConfigured(format!(
            "piper voice model {} not found",
            model.display()
        )));
    }
    let out = scratch_file();
    let mut cmd = Command::new(&cfg.piper_command);
    cmd.arg("-m").arg(&model).arg("-f").arg(&out);
    let ran = run(cmd, engine, "pip install piper-tts", Some(text)).await;
    let read = tokio::fs::read(&out).await;
    let _ = tokio::fs::remove_file(&out).await;
    ran?;
    let bytes = read.map_err(|e| TtsError::Failed {
        engine,
        detail: format!("no output file: {e}"),
    })?;
    Ok(Audio {
        bytes,
        extension: "wav",
    })
}

/// A file name of our own in the temp folder.
fn scratch_file() -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("phonetree-piper-{}-{n}.wav", std::process::id()))
}

/// `voice` as a model file: a path as given, else `<voices>/<voice>.onnx`.
fn model_path(cfg: &TtsConfig, voice: &str) -> PathBuf {
    let as_path = Path::new(voice);
    if voice.ends_with(".onnx") || as_path.components().count() > 1 {
        return as_path.to_path_buf();
    }
    cfg.piper_voices
        .as_deref()
        .unwrap_or(Path::new("."))
        .join(format!("{voice}.onnx"))
}

/// Runs `cmd` (stdin = `input`), returns its stdout; stderr's last line on failure.
async fn run(
    mut cmd: Command,
    engine: TtsEngine,
    install: &str,
    input: Option<&str>,
) -> Result<Vec<u8>, TtsError> {
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
            TtsError::NotInstalled {
                engine,
                hint: install.to_owned(),
            }
        }
        _ => TtsError::Failed {
            engine,
            detail: e.to_string(),
        },
    })?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        let text = text.to_owned();
        tokio::spawn(async move {
            let _ = stdin.write_all(text.as_bytes()).await;
            let _ = stdin.shutdown().await;
        });
    }
    let output = tokio::time::timeout(LOCAL_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| TtsError::Failed {
            engine,
            detail: format!("no result within {}s", LOCAL_TIMEOUT.as_secs()),
        })?
        .map_err(|e| TtsError::Failed {
            engine,
            detail: e.to_string(),
        })?;
    if !output.status.success() {
        let err = String::from_utf8_lossy(&output.stderr);
        let last = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        return Err(TtsError::Failed {
            engine,
            detail: format!(
                "{}: {}",
                output.status,
                last.chars().take(200).collect::<String>()
            ),
        });
    }
    Ok(output.stdout)
}
