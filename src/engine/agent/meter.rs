//! `/metrics` for voice agents, recorded by the [`super::pump`] (one place for every agent
//! session), labelled by `engine` (the Realtime API's vendor; `openai` is the only one):
//!
//! - `phonetree_agent_connect_seconds{engine}` (histogram): opening the socket (TCP, TLS, the
//!   HTTP upgrade).
//! - `phonetree_agent_first_audio_seconds{engine}` (histogram): from the node starting (or the
//!   connection, when the node started first) to the model's first audio — what a caller
//!   waits before the agent speaks.
//! - `phonetree_agent_errors_total{engine,reason}`: a session that could not connect or failed:
//!   [`connect_reason`] / [`session_reason`], or `audio` (no resampler). A call that leaves the
//!   agent is not an error.

use std::time::Instant;

use super::pump::Failure;
use super::ws::ConnectError;
use crate::realtime::AgentError;

pub const CONNECT_SECONDS: &str = "phonetree_agent_connect_seconds";
pub const FIRST_AUDIO_SECONDS: &str = "phonetree_agent_first_audio_seconds";
pub const ERRORS_TOTAL: &str = "phonetree_agent_errors_total";

/// The engine label of the Realtime sessions the pump serves.
pub const ENGINE: &str = "openai";

pub fn connect_reason(e: &ConnectError) -> &'static str {
    match e {
        ConnectError::Timeout(_) => "connect_timeout",
        ConnectError::Refused { .. } => "refused",
        ConnectError::Failed(_) => "connect_failed",
        ConnectError::BadUrl(_) => "bad_url",
    }
}

pub fn session_reason(e: &AgentError) -> &'static str {
    match e {
        AgentError::ConnectTimeout(_) => "connect_timeout",
        AgentError::Server(_) => "server_error",
        AgentError::Closed(_) => "closed",
        AgentError::NoAnswer(_) => "no_answer",
        AgentError::Protocol(_) => "protocol",
    }
}

/// The socket opened `since` the connect started.
pub fn connected(since: Instant) {
    metrics::histogram!(CONNECT_SECONDS, "engine" => ENGINE).record(since.elapsed().as_secs_f64());
}

/// The model's first audio arrived, `since` the node started (or the socket opened).
pub fn first_audio(since: Instant) {
    metrics::histogram!(FIRST_AUDIO_SECONDS, "engine" => ENGINE)
        .record(since.elapsed().as_secs_f64());
}

/// How a session ended, when it failed.
pub fn failed(f: &Failure) {
    let reason = match f {
        Failure::Connect(e) => connect_reason(e),
        Failure::Session(e) => session_reason(e),
        Failure::Audio(_) => "audio",
        Failure::Abandoned => return,
    };
    metrics::counter!(ERRORS_TOTAL, "engine" => ENGINE, "reason" => reason).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn failures_are_counted_by_reason_and_an_abandoned_session_is_not_one() {
        let rec = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = rec.handle();
        metrics::with_local_recorder(&rec, || {
            failed(&Failure::Connect(ConnectError::Refused {
                status: 401,
                code: None,
                message: None,
            }));
            failed(&Failure::Session(AgentError::NoAnswer(
                Duration::from_secs(3),
            )));
            failed(&Failure::Abandoned);
            connected(Instant::now());
        });
        let text = handle.render();
        for line in [
            "phonetree_agent_errors_total{engine=\"openai\",reason=\"refused\"} 1",
            "phonetree_agent_errors_total{engine=\"openai\",reason=\"no_answer\"} 1",
            "phonetree_agent_connect_seconds_count{engine=\"openai\"} 1",
        ] {
            assert!(text.contains(line), "{line}: {text}");
        }
        assert_eq!(text.matches("phonetree_agent_errors_total{").count(), 2);
    }
}
