//! The call register's write path: every call's record and timeline reach the database without
//! the call ever waiting for it.
//!
//! A call's pump holds a [`CallRecorder`] (plain data: the [`CallRecord`] being filled in and a
//! sequence number for its timeline) and hands [`Item`]s to the [`Register`]: a bounded channel
//! (`try_send`: a full channel drops and counts, never blocks) to one writer task
//! ([`writer`]). The writer batches up to [`writer::BATCH`] records into one transaction. When
//! the database is unreachable (or not open yet) it keeps them in a bounded buffer
//! ([`pending::Pending`], `register.spill`), retries with backoff, and writes them when the
//! database is back. On SIGTERM, [`Register::close`] writes what it can until a deadline and
//! saves the rest to `data_dir/register-spill.jsonl`, which the next start loads first.
//!
//! [`maintenance`] deletes records past `register.retention`, expired sessions, and writes this
//! node's heartbeat. Not owned here: what a call does (its pump fills the recorder).

pub mod maintenance;
pub mod pending;
pub mod recorder;
pub mod writer;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

pub use recorder::CallRecorder;

use crate::config::database::DatabaseConfig;
use crate::db::calls::{CallRecord, TimelineEvent};
use crate::db::DbSlot;
use pending::Envelope;

/// The spill file's name under `data_dir`.
pub const SPILL_FILE: &str = "register-spill.jsonl";
/// Records the channel to the writer holds; beyond that a record is dropped (counted).
const CHANNEL: usize = 8192;

/// One thing to write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Item {
    /// Insert or update a call's row (the latest copy wins).
    Call(Box<CallRecord>),
    /// Add one timeline entry.
    Event {
        call_id: String,
        event: TimelineEvent,
    },
}

/// What the writer did, for `/healthz`, logs and tests.
#[derive(Debug, Default)]
pub struct Stats {
    pub written: AtomicU64,
    pub dropped: AtomicU64,
    pub queued: AtomicU64,
    /// The last write attempt succeeded (or none was needed yet).
    pub db_up: AtomicBool,
}

/// A copy of [`Stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub written: u64,
    pub dropped: u64,
    pub queued: u64,
    pub db_up: bool,
}

/// What [`Register::close`] managed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CloseReport {
    /// Records left when the deadline came, saved to the spill file.
    pub spilled: usize,
    /// Records lost (spill file not writable, or dropped earlier by the bound).
    pub dropped: u64,
}

pub(crate) enum Cmd {
    Item(Envelope),
    Flush(oneshot::Sender<()>),
    Close {
        deadline: tokio::time::Instant,
        done: oneshot::Sender<CloseReport>,
    },
}

/// The handle call tasks write through (cheap to clone).
#[derive(Clone)]
pub struct Register {
    tx: mpsc::Sender<Cmd>,
    stats: Arc<Stats>,
    node_id: Arc<str>,
    /// `register.enabled: false`: everything handed over is discarded (no writer runs).
    off: bool,
}

impl std::fmt::Debug for Register {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Register")
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

impl Register {
    /// Starts the writer (loading a spill file left by the last run) and the maintenance task.
    /// Must be called inside a tokio runtime.
    pub fn start(slot: DbSlot, cfg: &DatabaseConfig, node_id: &str) -> Register {
        if !cfg.register_enabled {
            return Register::off(node_id);
        }
        let spill = cfg.data_dir.join(SPILL_FILE);
        let reg = Register::writer_only(slot.clone(), cfg.spill, Some(spill), node_id);
        tokio::spawn(maintenance::retention(slot, cfg.retention));
        reg
    }

    /// Just the writer (no retention task); `spill` is where unwritten records go on close.
    pub fn writer_only(
        slot: DbSlot,
        cap: usize,
        spill: Option<PathBuf>,
        node_id: &str,
    ) -> Register {
        let (tx, rx) = mpsc::channel(CHANNEL);
        let stats = Arc::new(Stats {
            db_up: AtomicBool::new(true),
            ..Stats::default()
        });
        tokio::spawn(writer::run(slot, rx, cap, spill, stats.clone()));
        Register {
            tx,
            stats,
            node_id: node_id.into(),
            off: false,
        }
    }

    /// A register that records nothing (`register.enabled: false`): `send` returns at once,
    /// `flush` and `close` have nothing to do. Retention does not run either.
    pub fn off(node_id: &str) -> Register {
        let (tx, _) = mpsc::channel(1);
        Register {
            tx,
            stats: Arc::new(Stats {
                db_up: AtomicBool::new(true),
                ..Stats::default()
            }),
            node_id: node_id.into(),
            off: true,
        }
    }

    /// Whether calls are recorded.
    pub fn is_on(&self) -> bool {
        !self.off
    }

    /// The node id records are stamped with.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// Hands a record to the writer; never waits. A full channel drops it (counted).
    pub fn send(&self, item: Item) {
        if self.off {
            return;
        }
        let env = Envelope {
            item,
            enqueued: Instant::now(),
        };
        if self.tx.try_send(Cmd::Item(env)).is_err() {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("phonetree_register_dropped_total").increment(1);
        }
    }

    /// Waits until everything sent so far is written, or `timeout`; whether it was.
    pub async fn flush(&self, timeout: Duration) -> bool {
        if self.off {
            return true;
        }
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Cmd::Flush(tx)).await.is_err() {
            return false;
        }
        matches!(tokio::time::timeout(timeout, rx).await, Ok(Ok(())))
    }

    /// Writes what it can until `timeout`, saves the rest to the spill file and stops the
    /// writer (the drain's last step).
    pub async fn close(&self, timeout: Duration) -> CloseReport {
        if self.off {
            return CloseReport::default();
        }
        let (done, rx) = oneshot::channel();
        let deadline = tokio::time::Instant::now() + timeout;
        if self.tx.send(Cmd::Close { deadline, done }).await.is_err() {
            return CloseReport::default();
        }
        // The writer answers by the deadline; the extra second covers writing the file.
        tokio::time::timeout(timeout + Duration::from_secs(1), rx)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default()
    }

    pub fn stats(&self) -> StatsSnapshot {
        StatsSnapshot {
            written: self.stats.written.load(Ordering::Relaxed),
            dropped: self.stats.dropped.load(Ordering::Relaxed),
            queued: self.stats.queued.load(Ordering::Relaxed),
            db_up: self.stats.db_up.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_register_turned_off_takes_everything_and_writes_nothing() {
        let cfg = DatabaseConfig {
            register_enabled: false,
            ..DatabaseConfig::default()
        };
        let r = Register::start(DbSlot::default(), &cfg, "n");
        assert!(!r.is_on());
        r.send(Item::Event {
            call_id: "c".into(),
            event: TimelineEvent {
                seq: 0,
                at_ms: 0,
                kind: "node".into(),
                data: serde_json::json!({}),
            },
        });
        assert!(r.flush(Duration::from_secs(1)).await);
        assert_eq!(
            r.close(Duration::from_secs(1)).await,
            CloseReport::default()
        );
        assert_eq!(
            r.stats(),
            StatsSnapshot {
                written: 0,
                dropped: 0,
                queued: 0,
                db_up: true
            }
        );
    }
}
