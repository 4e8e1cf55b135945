//! Running `streamdouble` (PyPI: Twilio's side of Media Streams from a scenario file) against
//! `phonetree run`, and reading what it traced: what phonetree sent, replayed the way Twilio
//! would play it ([`playout`]), and when the caller's own speech started ([`speech_at`]).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{streamdouble, Proc, Work};

/// One streamdouble call: its JSON report and its trace (one event per message, `t` in s).
pub struct Run {
    pub report: Value,
    pub events: Vec<Value>,
    /// The trace's first timestamp (the connection).
    pub t0: f64,
}

/// Plays `scenario` (YAML text) against `ws://<http>/twilio/stream` with the custom
/// parameters `params`, within `limit`; fails the test when streamdouble fails or reports
/// protocol violations.
pub fn run(
    work: &Work,
    http: std::net::SocketAddr,
    name: &str,
    scenario: &str,
    params: &[(&str, &str)],
    limit: Duration,
) -> Run {
    let path = work.path(&format!("{name}.yaml"));
    std::fs::write(&path, scenario).unwrap();
    let trace_path = work.path(&format!("{name}.jsonl"));
    let mut cmd = Command::new(streamdouble());
    cmd.arg("scenario")
        .arg(&path)
        .arg(format!("ws://{http}/twilio/stream"))
        .args(["--json", "--max-drain", "15", "--trace-payloads", "--trace"])
        .arg(&trace_path);
    for (k, v) in params {
        cmd.arg("--param").arg(format!("{k}={v}"));
    }
    let mut sd = Proc::spawn(work, name, &mut cmd);
    let status = sd.wait(limit).unwrap_or_else(|e| work.fail(&e));
    let report: Value = serde_json::from_str(&sd.stdout_text()).unwrap_or(Value::Null);
    eprintln!("{name}: {report}");
    if !status.success() || report["exit_code"] != 0 {
        work.fail(&format!("streamdouble failed ({status}): {report}"));
    }
    for field in ["violations", "unknown_events"] {
        if report[field] != serde_json::json!([]) {
            work.fail(&format!("{field}: {report}"));
        }
    }
    let events = trace(work, &trace_path);
    let t0 = events.first().and_then(|e| e["t"].as_f64()).unwrap_or(0.0);
    Run { report, events, t0 }
}

/// The trace's events (JSON lines).
pub fn trace(work: &Work, path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| work.fail(&format!("no streamdouble trace: {e}")))
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn decode(e: &Value) -> Option<Vec<i16>> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(e["payload"].as_str()?)
        .ok()?;
    Some(
        bytes
            .iter()
            .map(|&c| phonetree::media::g711::ulaw_decode(c))
            .collect(),
    )
}

/// What Twilio would have played from the trace of what phonetree sent: each frame at the later
/// of its arrival and the end of the frame before (Twilio's buffer), cut where a `clear` came.
/// (streamdouble's own stereo recording places every frame at its arrival, which jitter turns
/// into overlaps and gaps that the waveform matcher cannot see through.)
pub fn playout(events: &[Value], t0: f64) -> Vec<i16> {
    let mut pcm: Vec<i16> = Vec::new();
    let mut pos = 0usize;
    for e in events.iter().filter(|e| e["dir"] == "in") {
        let at = ((e["t"].as_f64().unwrap_or(t0) - t0) * 8000.0).max(0.0) as usize;
        match e["event"].as_str() {
            Some("media") => {
                let Some(samples) = decode(e) else { continue };
                pos = pos.max(at);
                if pcm.len() < pos {
                    pcm.resize(pos, 0);
                }
                pcm.truncate(pos);
                pcm.extend(samples);
                pos = pcm.len();
            }
            Some("clear") => {
                pcm.truncate(at.min(pcm.len()));
                pos = at;
            }
            _ => {}
        }
    }
    pcm
}

/// When (s after `t0`) the caller's audio first carried speech: the first frame streamdouble
/// sent whose peak is well above the silence it streams between steps.
pub fn speech_at(events: &[Value], t0: f64) -> Option<f64> {
    events
        .iter()
        .filter(|e| e["dir"] == "out" && e["event"] == "media")
        .find(|e| decode(e).is_some_and(|s| s.iter().any(|x| x.unsigned_abs() > 2000)))
        .and_then(|e| e["t"].as_f64())
        .map(|t| t - t0)
}

/// Times (s after `t0`) of the events `ev` with direction `dir` (`in`: phonetree → Twilio).
pub fn times(events: &[Value], t0: f64, ev: &str, dir: &str) -> Vec<f64> {
    events
        .iter()
        .filter(|e| e["event"] == ev && e["dir"] == dir)
        .filter_map(|e| e["t"].as_f64().map(|t| t - t0))
        .collect()
}

/// A 16-bit 8 kHz mono WAV of `samples`.
pub fn write_wav(path: &Path, samples: &[i16]) {
    let data_len = (samples.len() * 2) as u32;
    let mut w = Vec::with_capacity(44 + samples.len() * 2);
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + data_len).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes());
    w.extend_from_slice(&8000u32.to_le_bytes());
    w.extend_from_slice(&16000u32.to_le_bytes());
    w.extend_from_slice(&2u16.to_le_bytes());
    w.extend_from_slice(&16u16.to_le_bytes());
    w.extend_from_slice(b"data");
    w.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        w.extend_from_slice(&s.to_le_bytes());
    }
    std::fs::write(path, w).expect("write wav");
}
