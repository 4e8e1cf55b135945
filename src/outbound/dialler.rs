//! The dialler: claims due jobs from the store, places their calls (or sends their SMS) within
//! `outbound.max_concurrent` and `outbound.rate`, records every attempt, and requeues or
//! finishes each job as [`super::plan`] decides.
//!
//! Durability comes from the store's leases, not from memory: a claimed job carries this
//! node's lease, renewed while its attempt runs; a node that dies stops renewing, and whoever
//! next runs [`JobStore::expire_leases`] (any node, or this one after a restart via
//! [`JobStore::release_own`]) marks the open attempt `interrupted` and puts the job back in the
//! queue, where the plan retries it like any failed attempt. A job is claimed by one node at
//! a time (the claim is one atomic statement; with a shared database the limits are
//! cluster-wide, enforced by the store in the claim's transaction: [`crate::db::limits`]), an acknowledgement is stored the moment the
//! flow's `ack` node runs, and the plan never dials a job whose `until` holds — so after a
//! `kill -9` no job is lost, none acknowledged is dialled again, none is dialled twice at once.
//!
//! The store and the call placer are traits ([`JobStore`], [`Placer`]): the database and the
//! SIP engine in production, in-memory fakes in the tests (`dialler_tests.rs`: backoffs of a
//! few milliseconds, outcomes checked, never the wall-clock).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;

use super::job::JobRequest;
use super::limits::RateLimit;
use super::plan::{decide, AttemptOutcome, Decision, Marks};
use super::request::CallRequest;
use crate::flow::program::Mark;
use crate::policy::outbound::OutboundPolicy;

/// A boxed future (the traits below are used as `dyn`).
pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A store failure (the database is down): the dialler waits and tries again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A claimed job.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedJob {
    pub id: String,
    pub request: JobRequest,
    pub marks: Marks,
}

/// What a claim got.
#[derive(Debug, Clone, PartialEq)]
pub enum ClaimResult {
    Job(Box<ClaimedJob>),
    /// Nothing is due.
    Idle,
    /// The store's own (cluster-wide) limits refused a claim now: look again shortly.
    AtLimit,
}

/// One stored attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRow {
    pub attempt: u32,
    pub contact: String,
    /// `None` while it runs.
    pub outcome: Option<String>,
    pub ended_ms: Option<i64>,
}

/// How an attempt ended, for the store.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AttemptReport {
    pub outcome: String,
    pub sip_status: Option<u16>,
    pub detail: Option<String>,
    /// The call register's id of this call, when it had one.
    pub call_id: Option<String>,
}

/// Where jobs live (the database in production).
pub trait JobStore: Send + Sync + 'static {
    /// The earliest due queued job, now leased to this node until `lease_until_ms`; a
    /// shared store may refuse with [`ClaimResult::AtLimit`] (cluster-wide limits).
    fn claim(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
    ) -> BoxFut<'_, Result<ClaimResult, StoreError>>;
    /// Extends this node's lease; `false` when the job is no longer ours.
    fn renew(
        &self,
        job: &str,
        lease_until_ms: i64,
        now_ms: i64,
    ) -> BoxFut<'_, Result<bool, StoreError>>;
    /// Opens the next attempt; its number, or `None` when the job is no longer ours.
    fn start_attempt(
        &self,
        job: &str,
        contact: &str,
        now_ms: i64,
    ) -> BoxFut<'_, Result<Option<u32>, StoreError>>;
    fn finish_attempt(
        &self,
        job: &str,
        attempt: u32,
        report: &AttemptReport,
        now_ms: i64,
    ) -> BoxFut<'_, Result<(), StoreError>>;
    /// The job's attempts, oldest first.
    fn attempts(&self, job: &str) -> BoxFut<'_, Result<Vec<AttemptRow>, StoreError>>;
    /// Stores a mark with its time (the first one wins).
    fn mark(&self, job: &str, mark: Mark, now_ms: i64) -> BoxFut<'_, Result<(), StoreError>>;
    /// Back to the queue for `run_at_ms`.
    fn requeue(
        &self,
        job: &str,
        run_at_ms: i64,
        outcome: &str,
        now_ms: i64,
    ) -> BoxFut<'_, Result<bool, StoreError>>;
    /// Finished: `done` (the `until` held) or failed.
    fn finish(
        &self,
        job: &str,
        done: bool,
        outcome: &str,
        now_ms: i64,
    ) -> BoxFut<'_, Result<bool, StoreError>>;
    /// Requeues jobs whose lease ran out, their open attempt `interrupted`; how many.
    fn expire_leases(&self, now_ms: i64) -> BoxFut<'_, Result<u64, StoreError>>;
    /// At start: this node holds nothing, so its leases (left by a process that died) end now.
    fn release_own(&self, now_ms: i64) -> BoxFut<'_, Result<u64, StoreError>>;
}

/// Places one call or sends one SMS (the SIP engine and the SMS client in production).
pub trait Placer: Send + Sync + 'static {
    /// Calls `contact` (index into `req.to`) for job `job`; marks from the flow go to
    /// `on_mark` as they happen. Returns how the attempt ended.
    fn call(
        &self,
        job: &str,
        attempt: u32,
        req: &CallRequest,
        contact: usize,
        on_mark: MarkSink,
    ) -> BoxFut<'static, AttemptReport>;
    /// Sends one SMS.
    fn sms(&self, job: &str, to: &str, text: &str) -> BoxFut<'static, AttemptReport>;
}

/// Receives the flow's marks of one attempt.
pub type MarkSink = Arc<dyn Fn(Mark) + Send + Sync>;

/// The dialler's settings.
#[derive(Debug, Clone)]
pub struct DiallerConfig {
    pub max_concurrent: usize,
    /// Calls per second.
    pub rate: f64,
    /// How long a claim lasts without renewal.
    pub lease: Duration,
    /// How often the queue is looked at when nobody pokes the dialler.
    pub poll: Duration,
    pub allow: OutboundPolicy,
}

/// What the dialler counts (metrics, the dashboard).
#[derive(Debug, Default)]
pub struct DiallerStats {
    pub running: AtomicUsize,
    pub attempts: Mutex<std::collections::BTreeMap<String, u64>>,
}

impl DiallerStats {
    fn count(&self, outcome: &str) {
        metrics::counter!("phonetree_outbound_attempts_total", "outcome" => outcome.to_string())
            .increment(1);
        if let Ok(mut m) = self.attempts.lock() {
            *m.entry(outcome.to_string()).or_default() += 1;
        }
    }

    /// Attempts so far by outcome.
    pub fn by_outcome(&self) -> Vec<(String, u64)> {
        self.attempts
            .lock()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default()
    }
}

/// The running dialler.
pub struct Dialler {
    store: Arc<dyn JobStore>,
    placer: Arc<dyn Placer>,
    cfg: DiallerConfig,
    wake: Arc<Notify>,
    pub stats: Arc<DiallerStats>,
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Dialler {
    pub fn new(store: Arc<dyn JobStore>, placer: Arc<dyn Placer>, cfg: DiallerConfig) -> Dialler {
        Dialler {
            store,
            placer,
            cfg,
            wake: Arc::new(Notify::new()),
            stats: Arc::new(DiallerStats::default()),
        }
    }

    /// Pokes the dialler (a job was created): it looks at the queue at once.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Runs until the task is dropped. Jobs in flight keep running on their own tasks.
    pub async fn run(self) {
        let this = Arc::new(self);
        let mut rate = RateLimit::new(this.cfg.rate);
        if let Err(e) = this.store.release_own(now_ms()).await {
            tracing::warn!(error = %e, "outbound: could not release this node's old leases");
        }
        let mut last_expiry = tokio::time::Instant::now();
        loop {
            if last_expiry.elapsed() >= this.cfg.lease / 3 {
                last_expiry = tokio::time::Instant::now();
                match this.store.expire_leases(now_ms()).await {
                    Ok(n) if n > 0 => {
                        tracing::info!(jobs = n, "outbound: leases expired, jobs requeued")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "outbound: lease expiry failed"),
                }
            }
            let mut wait = this.cfg.poll;
            while this.stats.running.load(Ordering::SeqCst) < this.cfg.max_concurrent {
                if let Err(at) = rate.try_take(std::time::Instant::now()) {
                    wait = wait.min(at.saturating_duration_since(std::time::Instant::now()));
                    break;
                }
                let now = now_ms();
                let lease = this.cfg.lease.as_millis() as i64;
                match this.store.claim(now, now + lease).await {
                    Ok(ClaimResult::Job(job)) => {
                        this.stats.running.fetch_add(1, Ordering::SeqCst);
                        let me = this.clone();
                        tokio::spawn(async move {
                            me.work(*job).await;
                            me.stats.running.fetch_sub(1, Ordering::SeqCst);
                            me.wake.notify_one();
                        });
                    }
                    Ok(ClaimResult::Idle) => break,
                    Ok(ClaimResult::AtLimit) => {
                        // Another node holds the cluster's slots or tokens: look again after
                        // about one token's time (a finished local call wakes us earlier).
                        let token = Duration::from_secs_f64(1.0 / this.cfg.rate.max(0.001));
                        wait = wait.min(token.clamp(Duration::from_millis(10), this.cfg.poll));
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "outbound: cannot claim jobs");
                        break;
                    }
                }
            }
            let _ = tokio::time::timeout(wait.max(Duration::from_millis(1)), this.wake.notified())
                .await;
        }
    }

    /// Runs one claimed job's next attempt (or finishes it).
    async fn work(&self, job: ClaimedJob) {
        let id = job.id.clone();
        if let Err(e) = self.work_inner(job).await {
            // The lease runs out and the job comes back: nothing is lost.
            tracing::warn!(job = %id, error = %e, "outbound: store error; the job will be retried");
        }
    }

    async fn work_inner(&self, job: ClaimedJob) -> Result<(), StoreError> {
        let id = job.id.as_str();
        let mut marks = job.marks;
        loop {
            let now = now_ms();
            let decision = self.decide(&job, marks).await?;
            let (contact, at) = match decision {
                Decision::Done { outcome } => {
                    tracing::info!(job = %id, %outcome, "outbound job done");
                    self.store.finish(id, true, &outcome, now).await?;
                    return Ok(());
                }
                Decision::Failed { outcome } => {
                    tracing::info!(job = %id, %outcome, "outbound job failed");
                    self.store.finish(id, false, &outcome, now).await?;
                    return Ok(());
                }
                Decision::Dial { contact, at_ms } => (contact, at_ms),
            };
            if at > now {
                let last = self
                    .store
                    .attempts(id)
                    .await?
                    .last()
                    .and_then(|a| a.outcome.clone());
                self.store
                    .requeue(id, at, last.as_deref().unwrap_or(""), now)
                    .await?;
                return Ok(());
            }
            let (contact_text, refused) = match &job.request {
                JobRequest::Call(c) => {
                    let to = c.to.get(contact).cloned().unwrap_or_default();
                    let refused = self.cfg.allow.check(&to).err();
                    (to, refused)
                }
                JobRequest::Sms(s) => (s.to.clone(), self.cfg.allow.check(&s.to).err()),
            };
            let Some(n) = self.store.start_attempt(id, &contact_text, now).await? else {
                return Ok(()); // no longer ours
            };
            let report = match refused {
                Some(why) => AttemptReport {
                    outcome: AttemptOutcome::Refused.as_str().into(),
                    detail: Some(why.to_string()),
                    ..AttemptReport::default()
                },
                None => self.attempt(&job, n, contact, &contact_text).await,
            };
            self.stats.count(&report.outcome);
            if let Some(AttemptOutcome::Answered {
                acknowledged,
                heard,
            }) = AttemptOutcome::parse(&report.outcome)
            {
                marks.acknowledged |= acknowledged;
                marks.heard |= heard;
            }
            self.store.finish_attempt(id, n, &report, now_ms()).await?;
        }
    }

    async fn decide(&self, job: &ClaimedJob, marks: Marks) -> Result<Decision, StoreError> {
        let rows = self.store.attempts(&job.id).await?;
        let now = now_ms();
        Ok(match &job.request {
            JobRequest::Call(c) => {
                let records = super::job::records(
                    rows.into_iter()
                        .filter_map(|r| Some((r.contact, r.outcome?, r.ended_ms.unwrap_or(0)))),
                );
                decide(c, marks, &records, now)
            }
            JobRequest::Sms(s) => {
                let last_end = rows.iter().filter_map(|r| r.ended_ms).max().unwrap_or(0);
                let outcomes: Vec<String> = rows.into_iter().filter_map(|r| r.outcome).collect();
                let refs: Vec<&str> = outcomes.iter().map(String::as_str).collect();
                if refs.last() == Some(&"refused") {
                    Decision::Failed {
                        outcome: "refused".into(),
                    }
                } else {
                    s.decide(&refs, last_end)
                }
            }
        })
    }

    /// One call or SMS, with the lease renewed while it runs and marks stored at once.
    async fn attempt(&self, job: &ClaimedJob, n: u32, contact: usize, to: &str) -> AttemptReport {
        let id = job.id.clone();
        let store = self.store.clone();
        let lease = self.cfg.lease;
        let renewer = tokio::spawn({
            let (id, store) = (id.clone(), store.clone());
            async move {
                loop {
                    tokio::time::sleep(lease / 3).await;
                    let now = now_ms();
                    match store.renew(&id, now + lease.as_millis() as i64, now).await {
                        Ok(true) => {}
                        Ok(false) => break,
                        Err(e) => {
                            tracing::warn!(job = %id, error = %e, "outbound: lease renewal failed")
                        }
                    }
                }
            }
        });
        let report = match &job.request {
            JobRequest::Call(c) => {
                let sink: MarkSink = {
                    let (id, store) = (id.clone(), store.clone());
                    Arc::new(move |m: Mark| {
                        let (id, store) = (id.clone(), store.clone());
                        tokio::spawn(async move {
                            if let Err(e) = store.mark(&id, m, now_ms()).await {
                                tracing::warn!(job = %id, error = %e, "outbound: cannot store a mark");
                            }
                        });
                    })
                };
                self.placer.call(&id, n, c, contact, sink).await
            }
            JobRequest::Sms(s) => self.placer.sms(&id, to, &s.text).await,
        };
        renewer.abort();
        report
    }
}

#[cfg(test)]
#[path = "dialler_tests.rs"]
mod tests;
