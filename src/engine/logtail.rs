//! The dashboard's live log tail: every event the process logs, as the JSON line
//! `--log-format json` writes, kept in a bounded ring (the last [`RECENT`] lines) and sent to
//! a bounded broadcast channel that the logs page's SSE stream reads.
//!
//! [`LogTail::make_writer`] is a `tracing_subscriber` `MakeWriter`: `cli::run` adds a second
//! fmt layer (JSON, events flattened, exactly the JSON format's settings) writing into it, behind
//! the same filter as the log itself, so the tail shows the same events with the same fields.
//! The fmt layer formats one event into a buffer and writes it with one `write_all`, so one
//! writer (made per event, with the event's level from `make_writer_for`) holds one line;
//! the line is published when the writer is dropped. Publishing never blocks: a slow page
//! loses lines (the stream says how many), the logging thread never waits.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::broadcast;

use super::rt::lock;

/// Lines kept for a page that opens the tail.
pub const RECENT: usize = 500;
/// Lines a live stream may fall behind before it skips.
const CHANNEL: usize = 1024;
/// A longer line is cut (a huge field must not pin memory in the ring).
const MAX_LINE: usize = 16 * 1024;

/// A log level as a number: higher is more severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Trace = 0,
    Debug = 1,
    Info = 2,
    Warn = 3,
    Error = 4,
}

impl Severity {
    pub fn of(level: &tracing::Level) -> Severity {
        match *level {
            tracing::Level::TRACE => Severity::Trace,
            tracing::Level::DEBUG => Severity::Debug,
            tracing::Level::INFO => Severity::Info,
            tracing::Level::WARN => Severity::Warn,
            _ => Severity::Error,
        }
    }

    /// `error`, `warn`, `info`, `debug`, `trace` (case-insensitive); `None` otherwise.
    pub fn parse(s: &str) -> Option<Severity> {
        Some(match s.to_ascii_lowercase().as_str() {
            "trace" => Severity::Trace,
            "debug" => Severity::Debug,
            "info" => Severity::Info,
            "warn" | "warning" => Severity::Warn,
            "error" => Severity::Error,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Trace => "trace",
            Severity::Debug => "debug",
            Severity::Info => "info",
            Severity::Warn => "warn",
            Severity::Error => "error",
        }
    }

    pub const ALL: [Severity; 5] = [
        Severity::Error,
        Severity::Warn,
        Severity::Info,
        Severity::Debug,
        Severity::Trace,
    ];
}

/// One logged event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Counts from 1 in this process: a gap tells a reader it missed lines.
    pub seq: u64,
    pub severity: Severity,
    /// The event as `--log-format json` writes it (no trailing newline).
    pub json: String,
}

#[derive(Default)]
struct Ring {
    seq: u64,
    lines: VecDeque<Arc<LogLine>>,
}

/// The tail: a ring of recent lines and a broadcast of new ones.
pub struct LogTail {
    ring: Mutex<Ring>,
    tx: broadcast::Sender<Arc<LogLine>>,
}

impl Default for LogTail {
    fn default() -> Self {
        LogTail {
            ring: Mutex::new(Ring::default()),
            tx: broadcast::channel(CHANNEL).0,
        }
    }
}

impl std::fmt::Debug for LogTail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogTail")
            .field("recent", &lock(&self.ring).lines.len())
            .finish()
    }
}

/// The process's tail (the one `cli::run` feeds; empty when logging was set up otherwise).
pub fn global() -> Arc<LogTail> {
    static TAIL: OnceLock<Arc<LogTail>> = OnceLock::new();
    TAIL.get_or_init(|| Arc::new(LogTail::default())).clone()
}

impl LogTail {
    /// Adds a line (trailing newline removed, cut at [`MAX_LINE`]).
    pub fn push(&self, severity: Severity, text: &str) {
        let mut text = text.trim_end_matches(['\n', '\r']);
        if text.is_empty() {
            return;
        }
        if text.len() > MAX_LINE {
            let mut end = MAX_LINE;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text = &text[..end];
        }
        let line = {
            let mut ring = lock(&self.ring);
            ring.seq += 1;
            let line = Arc::new(LogLine {
                seq: ring.seq,
                severity,
                json: text.to_string(),
            });
            if ring.lines.len() == RECENT {
                ring.lines.pop_front();
            }
            ring.lines.push_back(line.clone());
            line
        };
        // No receiver is not an error: nobody has the page open.
        let _ = self.tx.send(line);
    }

    /// The kept lines at `min` or more severe, oldest first.
    pub fn recent(&self, min: Severity) -> Vec<Arc<LogLine>> {
        lock(&self.ring)
            .lines
            .iter()
            .filter(|l| l.severity >= min)
            .cloned()
            .collect()
    }

    /// New lines from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LogLine>> {
        self.tx.subscribe()
    }

    /// The `MakeWriter` a fmt layer writes into.
    pub fn make_writer(self: &Arc<Self>) -> TailMakeWriter {
        TailMakeWriter(self.clone())
    }
}

/// See [`LogTail::make_writer`].
#[derive(Clone)]
pub struct TailMakeWriter(Arc<LogTail>);

/// Collects one event's bytes; publishes them when dropped.
pub struct TailWriter {
    tail: Arc<LogTail>,
    severity: Severity,
    buf: Vec<u8>,
}

impl std::io::Write for TailWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() <= MAX_LINE {
            self.buf.extend_from_slice(b);
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for TailWriter {
    fn drop(&mut self) {
        if !self.buf.is_empty() {
            let text = String::from_utf8_lossy(&self.buf);
            self.tail.push(self.severity, &text);
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for TailMakeWriter {
    type Writer = TailWriter;

    fn make_writer(&'a self) -> TailWriter {
        TailWriter {
            tail: self.0.clone(),
            severity: Severity::Info,
            buf: Vec::new(),
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> TailWriter {
        TailWriter {
            tail: self.0.clone(),
            severity: Severity::of(meta.level()),
            buf: Vec::new(),
        }
    }
}

/// The fmt layer that feeds `tail`: the JSON format with the settings `--log-format json`
/// uses (events flattened), so the tail's lines are that format's lines.
pub fn layer<S>(tail: &Arc<LogTail>) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_ansi(false)
        .with_writer(tail.make_writer())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::prelude::*;

    #[test]
    fn the_ring_is_bounded_and_filters_by_severity() {
        let tail = LogTail::default();
        for i in 0..(RECENT + 10) {
            let sev = if i % 2 == 0 {
                Severity::Info
            } else {
                Severity::Warn
            };
            tail.push(sev, &format!("{{\"n\":{i}}}\n"));
        }
        let all = tail.recent(Severity::Trace);
        assert_eq!(all.len(), RECENT);
        assert_eq!(all[0].seq, 11, "the oldest lines went first");
        assert!(!all[0].json.ends_with('\n'));
        let warn = tail.recent(Severity::Warn);
        assert_eq!(warn.len(), RECENT / 2);
        assert!(warn.iter().all(|l| l.severity == Severity::Warn));
        tail.push(Severity::Error, &"x".repeat(MAX_LINE * 2));
        assert_eq!(tail.recent(Severity::Error)[0].json.len(), MAX_LINE);
        assert_eq!(Severity::parse("WARNING"), Some(Severity::Warn));
        assert_eq!(Severity::parse("loud"), None);
    }

    #[test]
    fn the_layer_writes_the_json_formats_lines_and_subscribers_get_them() {
        let tail = Arc::new(LogTail::default());
        let mut rx = tail.subscribe();
        let subscriber = tracing_subscriber::registry().with(layer(&tail));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(call = "call-1", node = "menu", "entered a node");
            tracing::warn!(status = 503u16, "webhook failed");
        });
        let lines = tail.recent(Severity::Trace);
        assert_eq!(lines.len(), 2);
        let first: serde_json::Value = serde_json::from_str(&lines[0].json).unwrap();
        assert_eq!(first["level"], "INFO");
        assert_eq!(first["message"], "entered a node");
        assert_eq!(first["call"], "call-1", "fields are flattened: {first}");
        assert!(first["timestamp"].is_string());
        assert_eq!(lines[1].severity, Severity::Warn);
        let got = rx.try_recv().unwrap();
        assert_eq!(got.seq, 1);
        assert_eq!(rx.try_recv().unwrap().seq, 2);
    }
}
