//! `/metrics` for text to speech: how long a `say` waits for its audio and why synthesis failed,
//! by engine. Cache hits are not requests and are not measured.
//!
//! - `phonetree_tts_request_seconds{engine}` (histogram): from the request to audio the call can
//!   play — the whole synthesis for `espeak-ng`, `piper` and a non-streamable answer, the first
//!   audio chunk for a streamed one (`openai`, a server's PCM WAV: the caller hears it then).
//! - `phonetree_tts_errors_total{engine,reason}`: `reason` is [`reason`] of the error.

use std::time::Instant;

use super::TtsError;
use crate::flow::program::TtsEngine;

/// Latency histogram name.
pub const REQUEST_SECONDS: &str = "phonetree_tts_request_seconds";
/// Error counter name.
pub const ERRORS_TOTAL: &str = "phonetree_tts_errors_total";

/// The `reason` label of an error: `not_installed`, `not_configured`, `failed` (the engine ran
/// or was reached and failed: exit status, timeout, bad audio), `http_4xx` / `http_5xx` (a
/// remote engine's answer), `io` (the cache could not be written).
pub fn reason(e: &TtsError) -> &'static str {
    match e {
        TtsError::NotInstalled { .. } => "not_installed",
        TtsError::NotConfigured(_) => "not_configured",
        TtsError::Failed { .. } => "failed",
        TtsError::Status { status, .. } if *status < 500 => "http_4xx",
        TtsError::Status { .. } => "http_5xx",
        TtsError::Io(_) => "io",
    }
}

/// Audio is ready to play, `since` the request started.
pub fn ready(engine: TtsEngine, since: Instant) {
    metrics::histogram!(REQUEST_SECONDS, "engine" => engine.as_str())
        .record(since.elapsed().as_secs_f64());
}

/// The request failed.
pub fn failed(engine: TtsEngine, e: &TtsError) {
    metrics::counter!(ERRORS_TOTAL, "engine" => engine.as_str(), "reason" => reason(e))
        .increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_are_recorded_by_engine_and_reason() {
        let rec = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = rec.handle();
        metrics::with_local_recorder(&rec, || {
            ready(TtsEngine::Http, Instant::now());
            failed(
                TtsEngine::Http,
                &TtsError::Status {
                    engine: TtsEngine::Http,
                    status: 503,
                    detail: String::new(),
                },
            );
            failed(TtsEngine::Piper, &TtsError::NotConfigured("voice".into()));
        });
        let text = handle.render();
        for line in [
            "phonetree_tts_request_seconds_count{engine=\"http\"} 1",
            "phonetree_tts_errors_total{engine=\"http\",reason=\"http_5xx\"} 1",
            "phonetree_tts_errors_total{engine=\"piper\",reason=\"not_configured\"} 1",
        ] {
            assert!(text.contains(line), "{line}: {text}");
        }
    }
}
