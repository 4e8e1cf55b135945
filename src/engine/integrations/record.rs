//! `record`: the caller's audio (an [`AudioPort`]) to a WAV file ([`crate::record`]), after
//! the beep, until `max`, `record.silence`, the `finish_on` key ([`Control::Finish`]) or the
//! call's end. The result is the file's `{ path, duration, size }` — also when the caller hung
//! up (what was said is kept) — or why it could not be written (the flow's `on_error`).

use std::path::PathBuf;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::oneshot;

use super::listen::PortFrames;
use super::tasks::Ctx;
use super::{Control, Done};
use crate::engine::audio_port::{AudioFrame, AudioPort};
use crate::record::session::{self, Target};
use crate::record::{beep, RecordEnd, RecordParams};

/// Longest wait for the beep to have been played before recording starts anyway.
const BEEP_WAIT: Duration = Duration::from_secs(2);

/// A record request's settings.
#[derive(Debug, Clone)]
pub struct Job {
    pub max: Duration,
    pub beep: bool,
    pub silence: Option<Duration>,
    pub node: String,
    /// `record.dir`.
    pub dir: PathBuf,
}

/// Runs one recording.
pub async fn run(ctx: Ctx, job: Job) -> Done {
    let id = ctx.id;
    let Some(mut port) = ctx.audio else {
        return Done::Record {
            id,
            result: Err("record needs the caller's audio".into()),
        };
    };
    let mut control = ctx.control;
    if job.beep {
        play_beep(&mut port).await;
    }
    let params = RecordParams {
        rate: port.format().rate,
        max: job.max,
        silence: job.silence,
    };
    let target = Target {
        dir: job.dir,
        call: ctx.call.clone(),
        node: job.node,
    };
    let (stop_tx, stop_rx) = oneshot::channel();
    let mut stop_tx = Some(stop_tx);
    let recording = session::run(params, target, PortFrames(port), stop_rx);
    tokio::pin!(recording);
    let (result, why) = loop {
        tokio::select! {
            r = &mut recording => break r,
            c = control.recv(), if stop_tx.is_some() => {
                if matches!(c, Some(Control::Finish) | None) {
                    if let Some(tx) = stop_tx.take() {
                        let _ = tx.send(RecordEnd::Finished);
                    }
                }
            }
        }
    };
    match &result {
        Ok(info) => tracing::info!(
            call = %ctx.call, path = %info.path, ms = info.duration.as_millis() as u64,
            ended = ?why, "recording saved"
        ),
        Err(e) => tracing::warn!(call = %ctx.call, "record: {e}"),
    }
    Done::Record { id, result }
}

/// Sends the beep and waits until it has been played, then drops what the caller said during
/// it (the recording starts after the beep).
async fn play_beep(port: &mut AudioPort) {
    let rate = port.format().rate;
    let per_frame = port.format().samples_per_frame();
    for chunk in beep(rate).chunks(per_frame) {
        let frame = AudioFrame {
            samples: chunk.to_vec(),
        };
        if port.send(frame).await.is_err() {
            return;
        }
    }
    if port.mark(1).await.is_err() {
        return;
    }
    // Caller frames queue meanwhile (the port holds a second of them); they are dropped below.
    let played = async {
        while let Some(m) = port.next_mark().await {
            if m == 1 {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(BEEP_WAIT, played).await;
    while let Some(Some(_)) = port.recv().now_or_never() {}
}
