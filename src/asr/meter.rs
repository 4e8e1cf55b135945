//! `/metrics` for the speech recognizers: how long a caller waits for a transcript and why
//! recognition failed, by engine.
//!
//! Every engine is behind one [`super::Recognizer`], so the measuring is done there, once, for
//! all of them: [`super::engines::Engines::recognizer`] gives each recognizer a [`Meter`] named
//! after its engine. Series (described in `engine::exporter`):
//!
//! - `phonetree_asr_request_seconds{engine}` (histogram): from the end of the caller's utterance
//!   ([`super::Recognizer::finish`], the endpointer's decision) to the final transcript; `0`
//!   when the engine gave its transcript before the mark (it endpointed first).
//! - `phonetree_asr_errors_total{engine,reason}`: one per failed recognition, `reason` being
//!   [`reason`] of the error, or `gone` when the engine went away without a result.
//!
//! A recognition abandoned by the call (no-speech timeout, hangup: the recognizer is dropped)
//! is neither. The `metrics` macros are no-ops until the exporter installs its recorder.

use std::time::Instant;

use super::{AsrError, AsrEvent};

/// Latency histogram name.
pub const REQUEST_SECONDS: &str = "phonetree_asr_request_seconds";
/// Error counter name.
pub const ERRORS_TOTAL: &str = "phonetree_asr_errors_total";

/// The `reason` label of an error.
pub fn reason(e: &AsrError) -> &'static str {
    match e {
        AsrError::NotConfigured(_) => "not_configured",
        AsrError::Connect(_) => "connect",
        AsrError::Remote(_) => "remote",
        AsrError::Overloaded => "overloaded",
        AsrError::Decoder(_) => "decoder",
    }
}

/// What one recognition has reported so far (at most one outcome is recorded).
#[derive(Debug)]
pub struct Meter {
    engine: &'static str,
    finished_at: Option<Instant>,
    recorded: bool,
}

impl Meter {
    pub fn new(engine: &'static str) -> Meter {
        Meter {
            engine,
            finished_at: None,
            recorded: false,
        }
    }

    /// The caller's utterance ended (first call counts).
    pub fn finished(&mut self, now: Instant) {
        self.finished_at.get_or_insert(now);
    }

    /// The engine reported `ev` (`None`: it went away without a `Final`).
    pub fn event(&mut self, ev: Option<&AsrEvent>, now: Instant) {
        match ev {
            Some(AsrEvent::Partial(_)) => {}
            Some(AsrEvent::Final(_)) => {
                if !std::mem::replace(&mut self.recorded, true) {
                    let waited = self
                        .finished_at
                        .map_or(0.0, |t| now.saturating_duration_since(t).as_secs_f64());
                    metrics::histogram!(REQUEST_SECONDS, "engine" => self.engine).record(waited);
                }
            }
            Some(AsrEvent::Error(e)) => self.error(reason(e)),
            None => self.error("gone"),
        }
    }

    /// Audio was refused (the engine fell behind).
    pub fn audio_error(&mut self, e: &AsrError) {
        self.error(reason(e));
    }

    fn error(&mut self, reason: &'static str) {
        if !std::mem::replace(&mut self.recorded, true) {
            metrics::counter!(ERRORS_TOTAL, "engine" => self.engine, "reason" => reason)
                .increment(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// The exposition text of what `f` recorded (a local Prometheus recorder).
    pub(crate) fn recorded(f: impl FnOnce()) -> String {
        let rec = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = rec.handle();
        metrics::with_local_recorder(&rec, f);
        handle.render()
    }

    #[test]
    fn a_transcript_records_the_wait_after_the_utterance_once() {
        let t0 = Instant::now();
        let text = recorded(|| {
            let mut m = Meter::new("vosk");
            m.event(Some(&AsrEvent::Partial("fo".into())), t0);
            m.finished(t0);
            m.finished(t0 + Duration::from_secs(5));
            m.event(
                Some(&AsrEvent::Final("four".into())),
                t0 + Duration::from_millis(250),
            );
            m.event(None, t0 + Duration::from_secs(1));
        });
        assert!(
            text.contains("phonetree_asr_request_seconds_sum{engine=\"vosk\"} 0.25"),
            "{text}"
        );
        assert!(
            text.contains("phonetree_asr_request_seconds_count{engine=\"vosk\"} 1"),
            "{text}"
        );
        assert!(!text.contains(ERRORS_TOTAL), "{text}");
    }

    #[test]
    fn errors_are_counted_by_reason_once() {
        let text = recorded(|| {
            let mut m = Meter::new("axy");
            m.audio_error(&AsrError::Overloaded);
            m.event(
                Some(&AsrEvent::Error(AsrError::Remote("x".into()))),
                Instant::now(),
            );
            let mut m = Meter::new("axy");
            m.event(None, Instant::now());
        });
        for line in [
            "phonetree_asr_errors_total{engine=\"axy\",reason=\"overloaded\"} 1",
            "phonetree_asr_errors_total{engine=\"axy\",reason=\"gone\"} 1",
        ] {
            assert!(text.contains(line), "{line}: {text}");
        }
        assert!(!text.contains("remote"), "{text}");
        assert!(!text.contains(REQUEST_SECONDS), "{text}");
        assert_eq!(
            reason(&AsrError::NotConfigured("m".into())),
            "not_configured"
        );
    }
}
