//! The dialler's [`JobStore`] on the database ([`crate::db`]): the `jobs` and `job_attempts`
//! tables with their leases. An empty [`DbSlot`] (the database not reachable yet) is a
//! [`StoreError`]; the dialler waits and tries again. Claims respect the cluster-wide
//! `outbound.max_concurrent` and `outbound.rate` ([`crate::db::limits`]).

use super::dialler::{
    AttemptReport, AttemptRow, BoxFut, ClaimResult, ClaimedJob, JobStore, StoreError,
};
use super::job::JobRequest;
use super::plan::Marks;
use crate::db::jobs::{Attempt, Job, JobState};
use crate::db::limits::{Claim, ClusterLimits};
use crate::db::{Db, DbError, DbSlot};
use crate::flow::program::Mark;

/// The database as the dialler's store, with the cluster's limits.
#[derive(Clone, Debug)]
pub struct DbStore(pub DbSlot, pub ClusterLimits);

impl DbStore {
    fn db(&self) -> Result<Db, StoreError> {
        self.0
            .get()
            .ok_or_else(|| StoreError("database unavailable".into()))
    }
}

fn err(e: DbError) -> StoreError {
    StoreError(e.to_string())
}

/// A stored job as the dialler sees it; a request that does not parse (written by a newer
/// version?) is `None`.
pub fn claimed(j: &Job) -> Option<ClaimedJob> {
    let request: JobRequest = serde_json::from_value(j.request.clone()).ok()?;
    Some(ClaimedJob {
        id: j.id.clone(),
        request,
        marks: Marks {
            acknowledged: j.acknowledged_ms.is_some(),
            heard: j.heard_ms.is_some(),
        },
    })
}

impl JobStore for DbStore {
    fn claim(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
    ) -> BoxFut<'_, Result<ClaimResult, StoreError>> {
        Box::pin(async move {
            let db = self.db()?;
            loop {
                let job = match db
                    .claim_due_job_limited(now_ms, lease_until_ms, &self.1)
                    .await
                    .map_err(err)?
                {
                    Claim::Job(j) => j,
                    Claim::NothingDue => return Ok(ClaimResult::Idle),
                    Claim::AtLimit => return Ok(ClaimResult::AtLimit),
                };
                match claimed(&job) {
                    Some(c) => return Ok(ClaimResult::Job(Box::new(c))),
                    None => {
                        tracing::error!(job = %job.id, "outbound: unreadable job request; failing it");
                        db.finish_job(&job.id, JobState::Failed, "unreadable", now_ms)
                            .await
                            .map_err(err)?;
                    }
                }
            }
        })
    }

    fn renew(
        &self,
        job: &str,
        lease_until_ms: i64,
        now_ms: i64,
    ) -> BoxFut<'_, Result<bool, StoreError>> {
        let job = job.to_string();
        Box::pin(async move {
            self.db()?
                .renew_lease(&job, lease_until_ms, now_ms)
                .await
                .map_err(err)
        })
    }

    fn start_attempt(
        &self,
        job: &str,
        contact: &str,
        now_ms: i64,
    ) -> BoxFut<'_, Result<Option<u32>, StoreError>> {
        let (job, contact) = (job.to_string(), contact.to_string());
        Box::pin(async move {
            self.db()?
                .start_attempt(&job, &contact, now_ms)
                .await
                .map_err(err)
        })
    }

    fn finish_attempt(
        &self,
        job: &str,
        attempt: u32,
        report: &AttemptReport,
        now_ms: i64,
    ) -> BoxFut<'_, Result<(), StoreError>> {
        let a = Attempt {
            job_id: job.to_string(),
            attempt,
            node_id: String::new(),
            call_id: report.call_id.clone(),
            contact: String::new(),
            started_ms: 0,
            ended_ms: Some(now_ms),
            outcome: Some(report.outcome.clone()),
            sip_status: report.sip_status,
            detail: report.detail.clone(),
        };
        Box::pin(async move { self.db()?.finish_attempt(&a).await.map_err(err) })
    }

    fn attempts(&self, job: &str) -> BoxFut<'_, Result<Vec<AttemptRow>, StoreError>> {
        let job = job.to_string();
        Box::pin(async move {
            let rows = self.db()?.job_attempts(&job).await.map_err(err)?;
            Ok(rows
                .into_iter()
                .map(|a| AttemptRow {
                    attempt: a.attempt,
                    contact: a.contact,
                    outcome: a.outcome,
                    ended_ms: a.ended_ms,
                })
                .collect())
        })
    }

    fn mark(&self, job: &str, mark: Mark, now_ms: i64) -> BoxFut<'_, Result<(), StoreError>> {
        let job = job.to_string();
        Box::pin(async move {
            let db = self.db()?;
            match mark {
                Mark::Acknowledged => db.mark_acknowledged(&job, now_ms).await,
                Mark::Heard => db.mark_heard(&job, now_ms).await,
            }
            .map_err(err)
        })
    }

    fn requeue(
        &self,
        job: &str,
        run_at_ms: i64,
        outcome: &str,
        now_ms: i64,
    ) -> BoxFut<'_, Result<bool, StoreError>> {
        let (job, outcome) = (job.to_string(), outcome.to_string());
        Box::pin(async move {
            self.db()?
                .requeue_job(&job, run_at_ms, &outcome, now_ms)
                .await
                .map_err(err)
        })
    }

    fn finish(
        &self,
        job: &str,
        done: bool,
        outcome: &str,
        now_ms: i64,
    ) -> BoxFut<'_, Result<bool, StoreError>> {
        let (job, outcome) = (job.to_string(), outcome.to_string());
        let state = if done {
            JobState::Done
        } else {
            JobState::Failed
        };
        Box::pin(async move {
            self.db()?
                .finish_job(&job, state, &outcome, now_ms)
                .await
                .map_err(err)
        })
    }

    fn expire_leases(&self, now_ms: i64) -> BoxFut<'_, Result<u64, StoreError>> {
        Box::pin(async move { self.db()?.expire_leases(now_ms).await.map_err(err) })
    }

    fn release_own(&self, now_ms: i64) -> BoxFut<'_, Result<u64, StoreError>> {
        Box::pin(async move { self.db()?.release_own_leases(now_ms).await.map_err(err) })
    }
}
