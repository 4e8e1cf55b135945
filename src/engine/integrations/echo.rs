//! The `echo` agent: plays the caller's own audio back to them (an echo test line, like
//! Asterisk's `Echo()`), through the same [`AudioPort`] every integration uses.
//!
//! Useful to check a trunk's audio path both ways and to measure the round trip, and the
//! simplest example of an integration: read frames with [`AudioPort::recv`], send frames with
//! [`AudioPort::send`]. A `#` from the caller does not reach it (keys go to the flow); it ends
//! when the caller hangs up, when the flow cancels it, or after [`MAX_DURATION`].

use std::time::Duration;

use super::tasks::Ctx;
use super::Done;
use crate::engine::audio_port::AudioPort;
use crate::machine::io::{AgentOutcome, AgentThen};

/// Longest echo session.
pub const MAX_DURATION: Duration = Duration::from_secs(600);

/// Echoes until the port closes or [`MAX_DURATION`] passes; the result is how much audio was
/// echoed (`{"echoed_ms": ..}`).
pub async fn run(ctx: Ctx) -> Done {
    let id = ctx.id;
    let Some(port) = ctx.audio else {
        return Done::Agent {
            id,
            result: Err("echo needs the caller's audio".into()),
        };
    };
    let frames = tokio::time::timeout(MAX_DURATION, echo(port))
        .await
        .unwrap_or_else(|_| MAX_DURATION.as_millis() as u64 / 20);
    Done::Agent {
        id,
        result: Ok(AgentOutcome {
            result: serde_json::json!({ "echoed_ms": frames * 20 }),
            then: AgentThen::Next,
        }),
    }
}

async fn echo(mut port: AudioPort) -> u64 {
    let mut frames = 0;
    while let Some(frame) = port.recv().await {
        if port.send(frame).await.is_err() {
            break;
        }
        frames += 1;
    }
    frames
}
