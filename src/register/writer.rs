//! The register's writer task: drains the channel into [`Pending`], writes batches in one
//! transaction each, keeps records through database outages (bounded), and on close writes
//! until the deadline and saves the rest to the spill file.
//!
//! While a batch is being written the channel keeps being drained, so a slow or hanging
//! database (PostgreSQL connect timeout) never backs up into the calls.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::pending::{Envelope, Pending};
use super::{CloseReport, Cmd, Item, Stats};
use crate::db::calls::{insert_event, upsert_call};
use crate::db::{DbSlot, Stmt};

/// Records per transaction.
pub const BATCH: usize = 256;
/// How long a record may wait for others to share its transaction. A call hands over ~10
/// records (its row at start, answer and end, its timeline) a few at a time; writing each
/// handful in its own transaction cost a 10 s call +13.5 % CPU (bench/OPS.md), most of it
/// per-transaction overhead (a blocking-pool hop, BEGIN/COMMIT, a WAL append). Waiting this
/// long lets the records of every call in the window share one. A flush or close writes at once.
pub const LINGER: Duration = Duration::from_millis(100);
const BACKOFF_MIN: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// How long a closing writer waits when nobody gave a deadline (all handles dropped).
const ORPHAN_CLOSE: Duration = Duration::from_secs(5);

struct Writer {
    slot: DbSlot,
    pending: Pending,
    spill: Option<PathBuf>,
    /// The spill file was loaded at start: delete it once everything from it is written.
    spill_loaded: bool,
    stats: Arc<Stats>,
    flushers: Vec<oneshot::Sender<()>>,
    closing: Option<(Instant, Option<oneshot::Sender<CloseReport>>)>,
    backoff: Duration,
    retry_at: Option<Instant>,
    down_since: Option<Instant>,
}

pub(super) async fn run(
    slot: DbSlot,
    mut rx: mpsc::Receiver<Cmd>,
    cap: usize,
    spill: Option<PathBuf>,
    stats: Arc<Stats>,
) {
    let mut w = Writer {
        slot,
        pending: Pending::new(cap),
        spill,
        spill_loaded: false,
        stats,
        flushers: Vec::new(),
        closing: None,
        backoff: BACKOFF_MIN,
        retry_at: None,
        down_since: None,
    };
    w.load_spill().await;
    let mut open = true;
    loop {
        while let Ok(cmd) = rx.try_recv() {
            w.absorb(cmd);
        }
        w.publish();
        if w.pending.is_empty() {
            w.idle();
            if let Some((_, done)) = w.closing.take() {
                if let Some(done) = done {
                    let _ = done.send(CloseReport {
                        spilled: 0,
                        dropped: w.pending.dropped(),
                    });
                }
                return;
            }
        }
        if let Some((deadline, _)) = &w.closing {
            if Instant::now() >= *deadline {
                w.give_up().await;
                return;
            }
        }
        let linger_until = w.linger_until();
        if !w.pending.is_empty()
            && w.retry_at.is_none_or(|t| Instant::now() >= t)
            && linger_until.is_none()
        {
            w.write_batch(&mut rx).await;
            continue;
        }
        let close_at = w.closing.as_ref().map(|(d, _)| *d);
        tokio::select! {
            () = sleep_opt(linger_until) => {}
            cmd = rx.recv(), if open => match cmd {
                Some(cmd) => w.absorb(cmd),
                None => {
                    open = false;
                    if w.closing.is_none() {
                        w.closing = Some((Instant::now() + ORPHAN_CLOSE, None));
                    }
                }
            },
            () = sleep_opt(w.retry_at) => {}
            () = sleep_opt(close_at) => {}
        }
    }
}

async fn sleep_opt(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

impl Writer {
    fn absorb(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Item(e) => {
                if !self.pending.push(e) {
                    self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("phonetree_register_dropped_total").increment(1);
                }
            }
            Cmd::Flush(tx) => self.flushers.push(tx),
            Cmd::Close { deadline, done } => {
                // Write now even if a retry was scheduled later.
                self.retry_at = None;
                self.closing = Some((deadline, Some(done)));
            }
        }
    }

    /// Until when to wait for more records before writing: while the batch is not full, its
    /// oldest record is younger than [`LINGER`], and nobody waits (flush, close, a retry).
    fn linger_until(&self) -> Option<Instant> {
        if self.pending.queued() >= BATCH
            || self.closing.is_some()
            || !self.flushers.is_empty()
            || self.retry_at.is_some()
        {
            return None;
        }
        let until = Instant::from_std(self.pending.oldest()?) + LINGER;
        (Instant::now() < until).then_some(until)
    }

    fn publish(&self) {
        let q = self.pending.queued() as u64;
        self.stats.queued.store(q, Ordering::Relaxed);
        metrics::gauge!("phonetree_register_queue").set(q as f64);
    }

    /// Everything is written: answer flushes, forget a loaded spill file.
    fn idle(&mut self) {
        for f in self.flushers.drain(..) {
            let _ = f.send(());
        }
        if self.spill_loaded {
            self.spill_loaded = false;
            if let Some(p) = &self.spill {
                let _ = std::fs::remove_file(p);
            }
        }
    }

    async fn write_batch(&mut self, rx: &mut mpsc::Receiver<Cmd>) {
        let Some(db) = self.slot.get() else {
            self.down("the database is not open yet");
            if let Some((deadline, _)) = &mut self.closing {
                *deadline = Instant::now();
            }
            return;
        };
        let batch = self.pending.take_batch(BATCH);
        let stmts = statements(&batch);
        let result = {
            let write = db.backend().transaction(stmts);
            tokio::pin!(write);
            loop {
                tokio::select! {
                    r = &mut write => break r,
                    Some(cmd) = rx.recv() => self.absorb(cmd),
                }
            }
        };
        match result {
            Ok(_) => self.written(batch),
            Err(e) if e.is_transient() => {
                self.pending.put_back(batch);
                self.down(&e.to_string());
                // Closing: the spill file keeps the records; do not hold the shutdown up.
                if let Some((deadline, _)) = &mut self.closing {
                    *deadline = Instant::now();
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, records = batch.len(),
                    "call register batch refused; writing its records one by one");
                self.one_by_one(&db, batch).await;
            }
        }
    }

    /// A permanent error in a batch: write each record alone, drop only those refused.
    async fn one_by_one(&mut self, db: &crate::db::Db, batch: Vec<Envelope>) {
        let mut rest = batch.into_iter();
        while let Some(e) = rest.next() {
            match db
                .backend()
                .transaction(statements(std::slice::from_ref(&e)))
                .await
            {
                Ok(_) => self.written(vec![e]),
                Err(err) if err.is_transient() => {
                    let mut back = vec![e];
                    back.extend(rest);
                    self.pending.put_back(back);
                    self.down(&err.to_string());
                    return;
                }
                Err(err) => {
                    self.pending.done(1);
                    self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("phonetree_register_dropped_total").increment(1);
                    tracing::error!(error = %err, "call register record refused by the database: dropped");
                }
            }
        }
    }

    fn written(&mut self, batch: Vec<Envelope>) {
        let now = std::time::Instant::now();
        for e in &batch {
            metrics::histogram!("phonetree_db_write_lag_seconds")
                .record(now.saturating_duration_since(e.enqueued).as_secs_f64());
        }
        self.pending.done(batch.len());
        self.stats
            .written
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        metrics::counter!("phonetree_register_written_total").increment(batch.len() as u64);
        self.backoff = BACKOFF_MIN;
        self.retry_at = None;
        self.stats.db_up.store(true, Ordering::Relaxed);
        metrics::gauge!("phonetree_db_up").set(1.0);
        if let Some(since) = self.down_since.take() {
            tracing::info!(after = ?since.elapsed(), queued = self.pending.queued(),
                "call register: database reachable again, writing the records kept meanwhile");
        }
    }

    fn down(&mut self, why: &str) {
        if self.down_since.is_none() {
            self.down_since = Some(Instant::now());
            tracing::warn!(error = %why, queued = self.pending.queued(),
                "call register: database unavailable; keeping records in memory and retrying");
        }
        self.stats.db_up.store(false, Ordering::Relaxed);
        metrics::gauge!("phonetree_db_up").set(0.0);
        self.retry_at = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
    }

    /// The close deadline passed with records left: save them for the next start.
    async fn give_up(&mut self) {
        let left = self.pending.drain_all();
        let mut report = CloseReport {
            spilled: 0,
            dropped: self.pending.dropped(),
        };
        if !left.is_empty() {
            match &self.spill {
                Some(path) => match save_spill(path, &left) {
                    Ok(()) => {
                        report.spilled = left.len();
                        tracing::warn!(records = left.len(), file = %path.display(),
                            "call register: database unavailable at shutdown; records saved for the next start");
                    }
                    Err(e) => {
                        report.dropped += left.len() as u64;
                        tracing::error!(records = left.len(), error = %e,
                            "call register: cannot save the unwritten records: lost");
                    }
                },
                None => report.dropped += left.len() as u64,
            }
        }
        // The loaded file was rewritten with everything left (or is no longer needed).
        self.spill_loaded = false;
        for f in self.flushers.drain(..) {
            drop(f);
        }
        if let Some((_, Some(done))) = self.closing.take() {
            let _ = done.send(report);
        }
    }

    async fn load_spill(&mut self) {
        let Some(path) = self.spill.clone() else {
            return;
        };
        let loaded = tokio::task::spawn_blocking(move || read_spill(&path))
            .await
            .unwrap_or_default();
        if loaded.is_empty() {
            return;
        }
        tracing::info!(
            records = loaded.len(),
            "call register: writing records saved at the last shutdown"
        );
        for item in loaded {
            self.pending.push(Envelope {
                item,
                enqueued: std::time::Instant::now(),
            });
        }
        self.spill_loaded = true;
    }
}

/// The statements for a batch; several copies of one call's row collapse to the last.
fn statements(batch: &[Envelope]) -> Vec<Stmt> {
    let mut last: HashMap<&str, usize> = HashMap::new();
    for (i, e) in batch.iter().enumerate() {
        if let Item::Call(r) = &e.item {
            last.insert(r.id.as_str(), i);
        }
    }
    batch
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match &e.item {
            Item::Call(r) => (last.get(r.id.as_str()) == Some(&i)).then(|| upsert_call(r)),
            Item::Event { call_id, event } => Some(insert_event(call_id, event)),
        })
        .collect()
}

fn save_spill(path: &Path, items: &[Envelope]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("jsonl.tmp");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
    for e in items {
        serde_json::to_writer(&mut f, &e.item)?;
        f.write_all(b"\n")?;
    }
    f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Reads a spill file; unreadable lines are skipped (logged), a missing file is empty.
fn read_spill(path: &Path) -> Vec<Item> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            tracing::error!(error = %e, file = %path.display(), "cannot read the register spill file");
            return Vec::new();
        }
    };
    let mut bad = 0;
    let items: Vec<Item> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| match serde_json::from_str(l) {
            Ok(i) => Some(i),
            Err(_) => {
                bad += 1;
                None
            }
        })
        .collect();
    if bad > 0 {
        tracing::warn!(lines = bad, "register spill file: unreadable lines skipped");
    }
    items
}

#[cfg(test)]
mod tests;
