//! What a caller heard: runs `tests/interop/audio_match.py` (cross-correlation of a recording
//! against a source prompt) and turns its verdict into test assertions.

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::harness::{python, script, Work};

/// Where to look for a prompt in a recording.
#[derive(Debug, Clone, Copy, Default)]
pub struct Window {
    /// Search from this second of the recording.
    pub after: f64,
    /// The prompt must start before this second.
    pub before: Option<f64>,
    /// Use only the first N seconds of the prompt (it may be cut short by barge-in or hangup).
    pub ref_seconds: Option<f64>,
}

/// What the audio matcher found.
#[derive(Debug)]
pub struct Heard {
    pub heard: bool,
    /// Where the prompt starts in the recording, seconds.
    pub offset_s: f64,
    pub detail: Value,
}

/// Runs `tests/interop/audio_match.py`: was `prompt` heard in `recording` within `window`?
pub fn audio_match(work: &Work, recording: &Path, prompt: &Path, window: Window) -> Heard {
    let mut cmd = Command::new(python());
    cmd.arg(script("audio_match.py"))
        .arg(recording)
        .arg(prompt)
        .args(["--after", &window.after.to_string()]);
    if let Some(b) = window.before {
        cmd.args(["--before", &b.to_string()]);
    }
    if let Some(r) = window.ref_seconds {
        cmd.args(["--ref-seconds", &r.to_string()]);
    }
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| work.fail(&format!("audio_match.py: {e}")));
    let text = String::from_utf8_lossy(&out.stdout);
    let detail: Value = serde_json::from_str(text.trim())
        .unwrap_or_else(|e| work.fail(&format!("audio_match.py printed no JSON ({e}): {text}")));
    Heard {
        heard: detail["heard"].as_bool().unwrap_or(false),
        offset_s: detail["offset_s"].as_f64().unwrap_or(-1.0),
        detail,
    }
}

/// Asserts `prompt` was heard in `recording`, starting within `[from, to]` seconds; returns where.
pub fn assert_heard(
    work: &Work,
    recording: &Path,
    prompt: &str,
    from: f64,
    to: f64,
    ref_seconds: f64,
) -> f64 {
    let window = Window {
        after: (from - 0.3).max(0.0),
        before: Some(to),
        ref_seconds: Some(ref_seconds),
    };
    let h = audio_match(work, recording, &work.prompt(prompt), window);
    if !h.heard {
        work.fail(&format!(
            "{prompt} not heard in {} between {from:.1} s and {to:.1} s: {}",
            recording.display(),
            summary(&h.detail)
        ));
    }
    eprintln!(
        "heard {prompt} at {:.3} s ({})",
        h.offset_s,
        summary(&h.detail)
    );
    h.offset_s
}

/// Asserts `prompt` was NOT heard in `recording` within `window`.
pub fn assert_not_heard(work: &Work, recording: &Path, prompt: &str, window: Window) {
    let h = audio_match(work, recording, &work.prompt(prompt), window);
    if h.heard {
        work.fail(&format!(
            "{prompt} heard at {:.3} s where it should not be: {}",
            h.offset_s,
            summary(&h.detail)
        ));
    }
}

fn summary(d: &Value) -> String {
    format!(
        "offset {} s, wave {}, spec {}, chunks {}/{}, recording {} s, rms {} dB",
        d["offset_s"],
        d["wave"],
        d["spec"],
        d["chunks_ok"],
        d["chunks"],
        d["recording_s"],
        d["rms_db"]
    )
}
