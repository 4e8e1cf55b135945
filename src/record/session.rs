//! The async pump of one recording: caller audio into [`RecordCore`] and the file, until a limit,
//! the `finish_on` key, or the call ending. File work runs on the blocking pool, a second of
//! audio at a time; whatever happens, what was recorded is closed as a valid WAV file.

use std::path::PathBuf;

use tokio::sync::oneshot;

use super::file::RecordingFile;
use super::{RecordCore, RecordEnd, RecordParams};
use crate::asr::session::Frames;
use crate::machine::io::RecordingInfo;

/// Where a recording goes.
#[derive(Debug, Clone)]
pub struct Target {
    pub dir: PathBuf,
    pub call: String,
    pub node: String,
}

/// Records until the end; the result is the file (also after a hang-up) or why it could not be
/// written. `stop` ends it early (the `finish_on` key); `frames` closing means the call ended.
pub async fn run(
    params: RecordParams,
    target: Target,
    mut frames: impl Frames,
    mut stop: oneshot::Receiver<RecordEnd>,
) -> (Result<RecordingInfo, String>, RecordEnd) {
    let rate = params.rate;
    let t = target.clone();
    let file =
        tokio::task::spawn_blocking(move || RecordingFile::create(&t.dir, &t.call, &t.node, rate))
            .await;
    let mut file = match file {
        Ok(Ok(f)) => f,
        Ok(Err(e)) => {
            return (
                Err(format!("cannot create the recording: {e}")),
                RecordEnd::Finished,
            )
        }
        Err(e) => {
            return (
                Err(format!("recording task failed: {e}")),
                RecordEnd::Finished,
            )
        }
    };
    let mut core = RecordCore::new(params);
    let batch_len = rate as usize;
    let mut batch: Vec<i16> = Vec::with_capacity(batch_len);
    let mut stop_open = true;
    while core.ended().is_none() {
        tokio::select! {
            f = frames.next_frame() => match f {
                Some(pcm) => batch.extend_from_slice(core.audio(&pcm)),
                None => core.stop(RecordEnd::Hangup),
            },
            why = &mut stop, if stop_open => match why {
                Ok(why) => core.stop(why),
                Err(_) => stop_open = false,
            },
        }
        if batch.len() >= batch_len {
            match write(file, std::mem::take(&mut batch)).await {
                Ok(f) => file = f,
                // Disk full, removed folder...: what was written stays; the flow takes on_error.
                Err(e) => return (Err(e), core.ended().unwrap_or(RecordEnd::Finished)),
            }
        }
    }
    let why = core.ended().unwrap_or(RecordEnd::Finished);
    let result = tokio::task::spawn_blocking(move || {
        file.write(&batch)?;
        file.finish()
    })
    .await;
    let result = match result {
        Ok(Ok(info)) => Ok(info),
        Ok(Err(e)) => Err(format!("cannot write the recording: {e}")),
        Err(e) => Err(format!("recording task failed: {e}")),
    };
    (result, why)
}

async fn write(mut file: RecordingFile, batch: Vec<i16>) -> Result<RecordingFile, String> {
    match tokio::task::spawn_blocking(move || file.write(&batch).map(|()| file)).await {
        Ok(Ok(f)) => Ok(f),
        Ok(Err(e)) => Err(format!("cannot write the recording: {e}")),
        Err(e) => Err(format!("recording task failed: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::sync::mpsc;

    use super::*;

    fn params(max_s: u64, silence: Option<u64>) -> RecordParams {
        RecordParams {
            rate: 8000,
            max: Duration::from_secs(max_s),
            silence: silence.map(Duration::from_millis),
        }
    }

    fn target(dir: &std::path::Path) -> Target {
        Target {
            dir: dir.to_path_buf(),
            call: "call-1".into(),
            node: "message".into(),
        }
    }

    #[tokio::test]
    async fn max_ends_it_and_the_file_has_exactly_max() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, rx) = mpsc::channel(1000);
        let (_stop_tx, stop) = oneshot::channel();
        for _ in 0..200 {
            tx.try_send(vec![1000i16; 160]).unwrap();
        }
        let (info, why) = run(params(3, None), target(dir.path()), rx, stop).await;
        let info = info.unwrap();
        assert_eq!(why, RecordEnd::Max);
        assert_eq!(info.duration, Duration::from_secs(3));
        assert_eq!(info.size, 44 + 3 * 16_000);
        assert!(info.path.ends_with("call-1-message.wav"));
    }

    #[tokio::test]
    async fn a_hang_up_keeps_what_was_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, rx) = mpsc::channel(1000);
        let (_stop_tx, stop) = oneshot::channel();
        for _ in 0..75 {
            tx.try_send(vec![500i16; 160]).unwrap();
        }
        drop(tx);
        let (info, why) = run(params(60, None), target(dir.path()), rx, stop).await;
        assert_eq!(why, RecordEnd::Hangup);
        let info = info.unwrap();
        assert_eq!(info.duration, Duration::from_millis(1500));
        let r = hound::WavReader::open(&info.path).unwrap();
        assert_eq!(r.len(), 12_000);
    }

    #[tokio::test]
    async fn the_finish_key_stops_it() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, rx) = mpsc::channel(1000);
        let (stop_tx, stop) = oneshot::channel();
        tx.try_send(vec![500i16; 160]).unwrap();
        let task = tokio::spawn(run(params(60, None), target(dir.path()), rx, stop));
        tokio::time::sleep(Duration::from_millis(50)).await;
        stop_tx.send(RecordEnd::Finished).unwrap();
        let (info, why) = task.await.unwrap();
        assert_eq!(why, RecordEnd::Finished);
        assert_eq!(info.unwrap().duration, Duration::from_millis(20));
        drop(tx);
    }

    #[tokio::test]
    async fn an_unwritable_directory_is_an_error_result() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, b"x").unwrap();
        let (_tx, rx) = mpsc::channel(1);
        let (_stop_tx, stop) = oneshot::channel();
        let (info, _) = run(params(5, None), target(&blocker), rx, stop).await;
        assert!(info.unwrap_err().contains("cannot create"));
    }
}
