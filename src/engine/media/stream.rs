//! Remote prompts (`Media::Url`): an HTTP(S) MP3 or WAV body decoded while it downloads and
//! handed to the call as 20 ms frames.
//!
//! Two stages joined by bounded channels, so neither memory nor read-ahead grows with the
//! stream: an async task reads the body (reqwest with rustls) in chunks into a channel of
//! [`StreamConfig::buffer_chunks`] chunks; a blocking task reads that channel as a `Read`,
//! decodes with symphonia, resamples and encodes, and sends frames into a channel of
//! [`StreamConfig::buffer_frames`] frames that the session drains at 20 ms a frame. Every wait
//! has a timeout (connect, response headers, each read). Whatever fails ends the stream with a
//! [`StreamError`] the call sees as `PlaybackFailed`. Dropping the receiver (barge-in, hangup)
//! aborts the download and lets the decoder finish at its next frame.

use std::fmt;
use std::io::{self, Read};
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use bytes::{Buf, Bytes};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::codec::{CodecError, Frame, FrameEncoder};
use crate::audio::{self, AudioError, ResampleError, Resampler};
use crate::sdp::Codec;

/// Limits for one remote stream.
#[derive(Debug, Clone)]
pub struct StreamConfig {
    pub connect_timeout: Duration,
    /// From the request to the response headers.
    pub response_timeout: Duration,
    /// Longest wait for the next piece of the body.
    pub read_timeout: Duration,
    /// Body chunks buffered between download and decoder.
    pub buffer_chunks: usize,
    /// Encoded frames decoded ahead of playback (50 = 1 s).
    pub buffer_frames: usize,
    /// Frames held before the first is sent (10 = 200 ms), so a bursty download does not
    /// start with gaps.
    pub prebuffer_frames: usize,
    /// The HTTP client (shared for connection reuse); `None` = a process-wide default.
    pub client: Option<reqwest::Client>,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            connect_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(10),
            buffer_chunks: 16,
            buffer_frames: 50,
            prebuffer_frames: 10,
            client: None,
        }
    }
}

/// Why a remote stream failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum StreamError {
    /// The HTTP client could not be built (TLS setup).
    Client(reqwest::Error),
    /// Connecting or sending the request failed.
    Request(reqwest::Error),
    /// The response headers did not arrive in time.
    ResponseTimeout(Duration),
    /// Not a 2xx response.
    Status(u16),
    Audio(AudioError),
    Resample(ResampleError),
    Codec(CodecError),
    /// The call's codec changed (re-INVITE) while the stream played.
    CodecChanged,
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamError::Client(e) => write!(f, "http client: {e}"),
            StreamError::Request(e) => write!(f, "request failed: {e}"),
            StreamError::ResponseTimeout(d) => write!(f, "no response within {d:?}"),
            StreamError::Status(s) => write!(f, "http status {s}"),
            StreamError::Audio(e) => e.fmt(f),
            StreamError::Resample(e) => e.fmt(f),
            StreamError::Codec(e) => e.fmt(f),
            StreamError::CodecChanged => f.write_str("the call's codec changed mid-stream"),
        }
    }
}

impl std::error::Error for StreamError {}

/// What the session receives.
#[derive(Debug)]
pub(crate) enum StreamMsg {
    Frame(Frame),
    End,
    Failed(StreamError),
}

/// Aborts a task when dropped.
#[derive(Debug)]
pub(crate) struct AbortOnDrop(pub JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts streaming `url` as `codec` frames.
pub(crate) fn spawn(
    url: String,
    codec: Codec,
    cfg: &StreamConfig,
) -> (mpsc::Receiver<StreamMsg>, AbortOnDrop) {
    let (tx, rx) = mpsc::channel(cfg.buffer_frames.max(1));
    let cfg = cfg.clone();
    let task = tokio::spawn(async move {
        if let Err(e) = fetch(&url, codec, &cfg, tx.clone()).await {
            tracing::debug!(%url, error = %e, "remote prompt failed");
            let _ = tx.send(StreamMsg::Failed(e)).await;
        }
    });
    (rx, AbortOnDrop(task))
}

/// The configured client, else one shared by the process (built with the first caller's
/// connect timeout; a failed build is reported and tried again next time).
fn client(cfg: &StreamConfig) -> Result<reqwest::Client, StreamError> {
    static DEFAULT: OnceLock<reqwest::Client> = OnceLock::new();
    if let Some(c) = cfg.client.as_ref().or(DEFAULT.get()) {
        return Ok(c.clone());
    }
    let built = reqwest::Client::builder()
        .connect_timeout(cfg.connect_timeout)
        .build()
        .map_err(StreamError::Client)?;
    Ok(DEFAULT.get_or_init(|| built).clone())
}

async fn fetch(
    url: &str,
    codec: Codec,
    cfg: &StreamConfig,
    frames: mpsc::Sender<StreamMsg>,
) -> Result<(), StreamError> {
    let client = client(cfg)?;
    let request = client.get(url).timeout(cfg.response_timeout).send();
    let mut resp = tokio::time::timeout(cfg.response_timeout, request)
        .await
        .map_err(|_| StreamError::ResponseTimeout(cfg.response_timeout))?
        .map_err(StreamError::Request)?;
    if !resp.status().is_success() {
        return Err(StreamError::Status(resp.status().as_u16()));
    }
    let ext = format_hint(
        resp.headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        url,
    );
    let (bytes_tx, bytes_rx) = mpsc::channel(cfg.buffer_chunks.max(1));
    let label = url.to_string();
    let decoder = tokio::task::spawn_blocking(move || decode(bytes_rx, ext, &label, codec, frames));
    let read_timeout = cfg.read_timeout;
    // The request's own timeout covers the whole body; the per-chunk wait is ours.
    loop {
        let item = match tokio::time::timeout(read_timeout, resp.chunk()).await {
            Ok(Ok(Some(b))) => Ok(b),
            Ok(Ok(None)) => break,
            Ok(Err(e)) => Err(io::Error::other(e)),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no data for {read_timeout:?}"),
            )),
        };
        let failed = item.is_err();
        if bytes_tx.send(item).await.is_err() || failed {
            break;
        }
    }
    drop(bytes_tx);
    // The decoder reports its own outcome on the frame channel.
    let _ = decoder.await;
    Ok(())
}

/// `mp3` / `wav` from the Content-Type, else from the URL's extension.
fn format_hint(content_type: Option<&str>, url: &str) -> Option<&'static str> {
    let ct = content_type.unwrap_or("").to_ascii_lowercase();
    if ct.contains("mpeg") || ct.contains("mp3") {
        return Some("mp3");
    }
    if ct.contains("wav") || ct.contains("wave") {
        return Some("wav");
    }
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let ext = path.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "mp3" => Some("mp3"),
        "wav" => Some("wav"),
        "ogg" => Some("ogg"),
        "flac" => Some("flac"),
        _ => None,
    }
}

/// A `Read` over body chunks arriving on a channel (used from a blocking thread).
struct ChannelReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.current = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        Ok(n)
    }
}

fn decode(
    rx: mpsc::Receiver<io::Result<Bytes>>,
    ext: Option<&'static str>,
    label: &str,
    codec: Codec,
    frames: mpsc::Sender<StreamMsg>,
) {
    let reader = ChannelReader {
        rx,
        current: Bytes::new(),
    };
    let outcome = Pipeline::new(codec).and_then(|mut p| {
        let mut failure = None;
        let mut receiver_gone = false;
        let decoded =
            audio::decode_reader(reader, ext, Path::new(label), &mut |block, rate| match p
                .push(block, rate, &frames)
            {
                Ok(true) => ControlFlow::Continue(()),
                Ok(false) => {
                    receiver_gone = true;
                    ControlFlow::Break(())
                }
                Err(e) => {
                    failure = Some(e);
                    ControlFlow::Break(())
                }
            });
        if receiver_gone {
            return Ok(());
        }
        if let Some(e) = failure {
            return Err(e);
        }
        decoded.map_err(StreamError::Audio)?;
        p.finish(&frames)?;
        let _ = frames.blocking_send(StreamMsg::End);
        Ok(())
    });
    if let Err(e) = outcome {
        let _ = frames.blocking_send(StreamMsg::Failed(e));
    }
}

/// Resampler (built at the first block, when the rate is known) and encoder.
struct Pipeline {
    resampler: Option<(u32, Resampler)>,
    encoder: FrameEncoder,
    buf: Vec<f32>,
}

impl Pipeline {
    fn new(codec: Codec) -> Result<Pipeline, StreamError> {
        Ok(Pipeline {
            resampler: None,
            encoder: FrameEncoder::new(codec).map_err(StreamError::Codec)?,
            buf: Vec::new(),
        })
    }

    /// `Ok(false)` when the session no longer listens.
    fn push(
        &mut self,
        block: &[f32],
        rate: u32,
        frames: &mpsc::Sender<StreamMsg>,
    ) -> Result<bool, StreamError> {
        let to = self.encoder.codec().clock_rate();
        if self.resampler.as_ref().is_none_or(|(r, _)| *r != rate) {
            // A rate change mid-stream (chained streams) restarts the resampler.
            self.resampler = Some((
                rate,
                Resampler::new(rate, to).map_err(StreamError::Resample)?,
            ));
        }
        self.buf.clear();
        if let Some((_, r)) = self.resampler.as_mut() {
            r.push(block, &mut self.buf)
                .map_err(StreamError::Resample)?;
        }
        self.encoder.push(&self.buf).map_err(StreamError::Codec)?;
        Ok(self.send(frames))
    }

    fn finish(&mut self, frames: &mpsc::Sender<StreamMsg>) -> Result<(), StreamError> {
        self.buf.clear();
        if let Some((_, r)) = self.resampler.as_mut() {
            r.finish(&mut self.buf).map_err(StreamError::Resample)?;
        }
        self.encoder.push(&self.buf).map_err(StreamError::Codec)?;
        self.encoder.flush().map_err(StreamError::Codec)?;
        self.send(frames);
        Ok(())
    }

    fn send(&mut self, frames: &mpsc::Sender<StreamMsg>) -> bool {
        self.encoder
            .take_frames()
            .into_iter()
            .all(|f| frames.blocking_send(StreamMsg::Frame(f)).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_comes_from_content_type_then_extension() {
        assert_eq!(format_hint(Some("audio/mpeg"), "http://x/a"), Some("mp3"));
        assert_eq!(format_hint(Some("audio/x-wav"), "http://x/a"), Some("wav"));
        assert_eq!(format_hint(None, "http://x/a.WAV?sig=1"), Some("wav"));
        assert_eq!(
            format_hint(Some("application/octet-stream"), "http://x/a.mp3"),
            Some("mp3")
        );
        assert_eq!(format_hint(None, "http://x/stream"), None);
    }
}
