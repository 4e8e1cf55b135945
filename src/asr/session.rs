//! The async pump of one listen attempt: caller audio and recognizer events into the sans-IO
//! [`ListenCore`], its decisions out to the call (speech started, the result) and to the log
//! (partial transcripts). One task per attempt; dropping it cancels the recognizer.

use std::future::Future;

use tokio::sync::mpsc;

use super::listen::{ListenCore, ListenOutput};
use super::Recognizer;

/// Where the caller's audio comes from: 20 ms frames of PCM at the call's rate, `None` when
/// the call's audio is gone. The engine's audio port implements it; tests use a channel.
pub trait Frames: Send {
    fn next_frame(&mut self) -> impl Future<Output = Option<Vec<i16>>> + Send;
}

impl Frames for mpsc::Receiver<Vec<i16>> {
    fn next_frame(&mut self) -> impl Future<Output = Option<Vec<i16>>> + Send {
        self.recv()
    }
}

/// What the call hears from a listen attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenEvent {
    /// The caller started talking (stop the prompt).
    SpeechStarted,
    /// The transcript (possibly empty) or why recognition failed. The last event.
    Done(Result<String, String>),
}

/// Runs an attempt until it has a result. `frames` is the caller's audio at the rate the core
/// was made for; if it closes (the call ended) the attempt ends without a result.
pub async fn run(
    mut core: ListenCore,
    mut rec: Recognizer,
    mut frames: impl Frames,
    call: &str,
    mut report: impl FnMut(ListenEvent),
) {
    let mut rec_open = true;
    loop {
        while let Some(out) = core.poll() {
            match out {
                ListenOutput::SpeechStarted => {
                    tracing::debug!(%call, "listen: speech started");
                    report(ListenEvent::SpeechStarted);
                }
                ListenOutput::Audio(pcm) => {
                    if let Err(e) = rec.audio(&pcm) {
                        core.fail(e);
                    }
                }
                ListenOutput::Finish => {
                    tracing::debug!(%call, "listen: end of speech");
                    rec.finish();
                }
                ListenOutput::Partial(text) => tracing::info!(%call, partial = %text, "listen"),
                ListenOutput::Done(result) => {
                    match &result {
                        Ok(text) => tracing::info!(%call, transcript = %text, "listen"),
                        Err(e) => tracing::warn!(%call, "listen: {e}"),
                    }
                    report(ListenEvent::Done(result.map_err(|e| e.to_string())));
                    return;
                }
            }
        }
        tokio::select! {
            frame = frames.next_frame() => match frame {
                Some(pcm) => core.audio(&pcm),
                None => return,
            },
            ev = rec.event(), if rec_open => match ev {
                Some(ev) => core.recognizer(ev),
                None => {
                    rec_open = false;
                    core.recognizer_closed();
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::asr::listen::ListenParams;
    use crate::asr::{AsrEvent, AudioSink, Recognizer};

    /// A recognizer that answers "billing" when finished, and records how much audio it got.
    struct Fake {
        samples: std::sync::Arc<std::sync::atomic::AtomicUsize>,
        tx: mpsc::Sender<AsrEvent>,
    }

    impl AudioSink for Fake {
        fn audio(&mut self, pcm: &[i16]) -> Result<(), crate::asr::AsrError> {
            self.samples
                .fetch_add(pcm.len(), std::sync::atomic::Ordering::Relaxed);
            Ok(())
        }
        fn finish(&mut self) {
            let _ = self.tx.try_send(AsrEvent::Partial("bill".into()));
            let _ = self.tx.try_send(AsrEvent::Final("billing".into()));
        }
    }

    #[tokio::test]
    async fn speech_in_gives_speech_started_then_the_transcript() {
        let (tx, rx) = mpsc::channel(8);
        let samples = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let rec = Recognizer::new(
            Box::new(Fake {
                samples: samples.clone(),
                tx,
            }),
            rx,
        );
        let params = ListenParams {
            silence: Duration::from_millis(600),
            max_speech: Duration::from_secs(10),
            rate: 8000,
        };
        let core = ListenCore::new(params, None);
        let (ftx, frx) = mpsc::channel(1000);
        for frame in crate::asr::testkit::padded("piper_billing", 1000, 1000).chunks(160) {
            ftx.try_send(frame.to_vec()).unwrap();
        }
        let mut events = Vec::new();
        run(core, rec, frx, "c1", |e| events.push(e)).await;
        assert_eq!(
            events,
            [
                ListenEvent::SpeechStarted,
                ListenEvent::Done(Ok("billing".into()))
            ]
        );
        // Only the speech and its pre-roll reached the recognizer, not the second of silence.
        let got = samples.load(std::sync::atomic::Ordering::Relaxed);
        assert!(got < 16 * 2000, "{got} samples at 16 kHz");
    }

    #[tokio::test]
    async fn the_call_ending_ends_the_attempt_without_a_result() {
        let (_tx, rx) = mpsc::channel(1);
        let rec = Recognizer::new(Box::new(crate::asr::NullSinkForTests), rx);
        let params = ListenParams {
            silence: Duration::from_millis(600),
            max_speech: Duration::from_secs(10),
            rate: 8000,
        };
        let (ftx, frx) = mpsc::channel(4);
        drop(ftx);
        let mut events = Vec::new();
        run(ListenCore::new(params, None), rec, frx, "c1", |e| {
            events.push(e)
        })
        .await;
        assert!(events.is_empty());
    }
}
