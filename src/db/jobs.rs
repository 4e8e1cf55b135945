//! Outbound jobs and their attempts: the durable queue the outbound dialler works from.
//!
//! A job waits `queued` until `run_at_ms`; a node claims it ([`Db::claim_due_job`]: one
//! statement, `FOR UPDATE SKIP LOCKED` on PostgreSQL, SQLite's single writer otherwise), which
//! sets `running` with `lease_owner` = the node and `lease_until_ms`. While it dials, the node
//! renews the lease; a node that dies stops renewing, and [`Db::expire_leases`] puts its jobs
//! back in the queue with their open attempt marked `interrupted`. So a job is never held by
//! two live nodes, and none is lost. What an outcome means for retries is the dialler's
//! business, not this module's.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::calls::json_val;
use super::{Db, DbError, Dialect, Row, Stmt};
use crate::db_params;

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting for `run_at_ms` (first attempt or a retry).
    Queued,
    /// Claimed by `lease_owner` until `lease_until_ms`.
    Running,
    /// Finished: the `until` condition held (`outcome` says which).
    Done,
    /// Finished without success (attempts used up, rejected, …).
    Failed,
    Cancelled,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<JobState> {
        Some(match s {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "done" => JobState::Done,
            "failed" => JobState::Failed,
            "cancelled" => JobState::Cancelled,
            _ => return None,
        })
    }
}

/// A job as stored. `request` is the API request as accepted (JSON), opaque here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: String,
    /// The node that created it.
    pub node_id: String,
    pub state: JobState,
    pub request: Value,
    pub run_at_ms: i64,
    pub lease_owner: Option<String>,
    pub lease_until_ms: Option<i64>,
    pub attempts: u32,
    pub max_attempts: u32,
    pub outcome: Option<String>,
    pub acknowledged_ms: Option<i64>,
    pub heard_ms: Option<i64>,
    pub idempotency_key: Option<String>,
    pub schedule_id: Option<String>,
    pub alert_id: Option<String>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// What [`Db::create_job`] needs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewJob {
    pub request: Value,
    pub run_at_ms: i64,
    pub max_attempts: u32,
    /// A second job with the same key is not created; the first is returned.
    pub idempotency_key: Option<String>,
    pub schedule_id: Option<String>,
    pub alert_id: Option<String>,
}

/// One dial of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    pub job_id: String,
    pub attempt: u32,
    pub node_id: String,
    /// The call register id of this dial, once it has one.
    pub call_id: Option<String>,
    /// The number or URI dialled.
    pub contact: String,
    pub started_ms: i64,
    pub ended_ms: Option<i64>,
    /// `answered`, `busy`, `no_answer`, `rejected`, `failed`, `interrupted`, …; `None` while
    /// dialling.
    pub outcome: Option<String>,
    pub sip_status: Option<u16>,
    pub detail: Option<String>,
}

macro_rules! job_cols {
    () => {
        "id, node_id, state, request, run_at_ms, lease_owner, lease_until_ms, attempts, \
         max_attempts, outcome, acknowledged_ms, heard_ms, idempotency_key, schedule_id, \
         alert_id, created_ms, updated_ms"
    };
}

const INSERT: &str = "INSERT INTO jobs (id, node_id, state, request, run_at_ms, attempts, \
     max_attempts, idempotency_key, schedule_id, alert_id, created_ms, updated_ms) \
     VALUES ($1, $2, 'queued', $3, $4, 0, $5, $6, $7, $8, $9, $9) \
     ON CONFLICT (idempotency_key) DO NOTHING";
const GET: &str = concat!("SELECT ", job_cols!(), " FROM jobs WHERE id = $1");
const BY_KEY: &str = concat!(
    "SELECT ",
    job_cols!(),
    " FROM jobs WHERE idempotency_key = $1"
);
const LIST: &str = concat!(
    "SELECT ",
    job_cols!(),
    " FROM jobs WHERE (CAST($1 AS TEXT) IS NULL OR state = $1) \
     AND (CAST($2 AS TEXT) IS NULL OR id < $2) ORDER BY id DESC LIMIT $3"
);
pub(super) const CLAIM_SQLITE: &str = concat!(
    "UPDATE jobs SET state = 'running', lease_owner = $1, lease_until_ms = $2, updated_ms = $3 \
     WHERE state = 'queued' AND id = (SELECT id FROM jobs WHERE state = 'queued' \
     AND run_at_ms <= $3 ORDER BY run_at_ms, id LIMIT 1) RETURNING ",
    job_cols!()
);
pub(super) const CLAIM_POSTGRES: &str = concat!(
    "UPDATE jobs SET state = 'running', lease_owner = $1, lease_until_ms = $2, updated_ms = $3 \
     WHERE state = 'queued' AND id = (SELECT id FROM jobs WHERE state = 'queued' \
     AND run_at_ms <= $3 ORDER BY run_at_ms, id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING ",
    job_cols!()
);
const RENEW: &str = "UPDATE jobs SET lease_until_ms = $3, updated_ms = $4 \
     WHERE id = $1 AND state = 'running' AND lease_owner = $2";
const BUMP_ATTEMPTS: &str = "UPDATE jobs SET attempts = attempts + 1, updated_ms = $3 \
     WHERE id = $1 AND state = 'running' AND lease_owner = $2";
const INSERT_ATTEMPT: &str = "INSERT INTO job_attempts (job_id, attempt, node_id, contact, \
     started_ms) SELECT id, attempts, CAST($2 AS TEXT), CAST($4 AS TEXT), CAST($3 AS BIGINT) FROM jobs \
     WHERE id = $1 AND state = 'running' AND lease_owner = $2";
const FINISH_ATTEMPT: &str = "UPDATE job_attempts SET ended_ms = $3, outcome = $4, \
     sip_status = $5, detail = $6, call_id = COALESCE($7, call_id) \
     WHERE job_id = $1 AND attempt = $2";
const ATTEMPT_CALL: &str =
    "UPDATE job_attempts SET call_id = $3 WHERE job_id = $1 AND attempt = $2";
const ATTEMPTS: &str = "SELECT job_id, attempt, node_id, call_id, contact, started_ms, ended_ms, \
     outcome, sip_status, detail FROM job_attempts WHERE job_id = $1 ORDER BY attempt";
const FINISH: &str = "UPDATE jobs SET state = $3, outcome = $4, lease_owner = NULL, \
     lease_until_ms = NULL, updated_ms = $5 \
     WHERE id = $1 AND state = 'running' AND lease_owner = $2";
const REQUEUE: &str = "UPDATE jobs SET state = 'queued', run_at_ms = $3, outcome = $4, \
     lease_owner = NULL, lease_until_ms = NULL, updated_ms = $5 \
     WHERE id = $1 AND state = 'running' AND lease_owner = $2";
const CANCEL: &str = "UPDATE jobs SET state = 'cancelled', updated_ms = $2 \
     WHERE id = $1 AND state = 'queued'";
const ACK: &str = "UPDATE jobs SET acknowledged_ms = COALESCE(acknowledged_ms, $2), \
     updated_ms = $2 WHERE id = $1";
const HEARD: &str = "UPDATE jobs SET heard_ms = COALESCE(heard_ms, $2), updated_ms = $2 \
     WHERE id = $1";
const INTERRUPT_ATTEMPTS: &str = "UPDATE job_attempts SET outcome = 'interrupted', ended_ms = $1 \
     WHERE outcome IS NULL AND job_id IN (SELECT id FROM jobs WHERE state = 'running' \
     AND lease_until_ms < $1)";
const EXPIRE: &str = "UPDATE jobs SET state = 'queued', lease_owner = NULL, \
     lease_until_ms = NULL, outcome = 'interrupted', updated_ms = $1 \
     WHERE state = 'running' AND lease_until_ms < $1";
const COUNT_STATE: &str = "SELECT COUNT(*) FROM jobs WHERE state = $1";

pub(super) fn job(r: &Row) -> Result<Job, DbError> {
    let state = r.text(2)?;
    Ok(Job {
        id: r.text(0)?,
        node_id: r.text(1)?,
        state: JobState::parse(&state)
            .ok_or_else(|| DbError::Decode(format!("unknown job state `{state}`")))?,
        request: r.json(3, Value::Null)?,
        run_at_ms: r.int(4)?,
        lease_owner: r.opt_text(5)?,
        lease_until_ms: r.opt_int(6)?,
        attempts: r.int(7)? as u32,
        max_attempts: r.int(8)? as u32,
        outcome: r.opt_text(9)?,
        acknowledged_ms: r.opt_int(10)?,
        heard_ms: r.opt_int(11)?,
        idempotency_key: r.opt_text(12)?,
        schedule_id: r.opt_text(13)?,
        alert_id: r.opt_text(14)?,
        created_ms: r.int(15)?,
        updated_ms: r.int(16)?,
    })
}

fn attempt(r: &Row) -> Result<Attempt, DbError> {
    Ok(Attempt {
        job_id: r.text(0)?,
        attempt: r.int(1)? as u32,
        node_id: r.text(2)?,
        call_id: r.opt_text(3)?,
        contact: r.text(4)?,
        started_ms: r.int(5)?,
        ended_ms: r.opt_int(6)?,
        outcome: r.opt_text(7)?,
        sip_status: r.opt_int(8)?.map(|v| v as u16),
        detail: r.opt_text(9)?,
    })
}

impl Db {
    /// Queues a job (or returns the existing one with the same idempotency key).
    pub async fn create_job(&self, j: &NewJob, now_ms: i64) -> Result<Job, DbError> {
        let id = super::new_id();
        let n = self
            .backend
            .execute(
                INSERT,
                db_params![
                    &id,
                    self.node_id(),
                    json_val(&j.request),
                    j.run_at_ms,
                    j.max_attempts.max(1),
                    j.idempotency_key.clone(),
                    j.schedule_id.clone(),
                    j.alert_id.clone(),
                    now_ms,
                ],
            )
            .await?;
        let rows = match (&j.idempotency_key, n) {
            (Some(key), 0) => self.backend.query(BY_KEY, db_params![key]).await?,
            _ => self.backend.query(GET, db_params![&id]).await?,
        };
        rows.first()
            .map(job)
            .transpose()?
            .ok_or_else(|| DbError::Query("the job vanished after insert".into()))
    }

    pub async fn get_job(&self, id: &str) -> Result<Option<Job>, DbError> {
        let rows = self.backend.query(GET, db_params![id]).await?;
        rows.first().map(job).transpose()
    }

    /// Jobs, newest first, optionally in one state; page with `before_id`.
    pub async fn list_jobs(
        &self,
        state: Option<JobState>,
        before_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Job>, DbError> {
        let limit = i64::from(limit.clamp(1, super::calls::MAX_PAGE));
        let rows = self
            .backend
            .query(
                LIST,
                db_params![state.map(JobState::as_str), before_id, limit],
            )
            .await?;
        rows.iter().map(job).collect()
    }

    /// How many jobs are in `state` (queue depth for metrics and the dashboard).
    pub async fn count_jobs(&self, state: JobState) -> Result<u64, DbError> {
        let rows = self
            .backend
            .query(COUNT_STATE, db_params![state.as_str()])
            .await?;
        Ok(rows.first().map(|r| r.int(0)).transpose()?.unwrap_or(0) as u64)
    }

    /// Claims the earliest due job for this node until `lease_until_ms`; `None` when nothing
    /// is due. At most one node gets a given job.
    pub async fn claim_due_job(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
    ) -> Result<Option<Job>, DbError> {
        let sql = match self.dialect() {
            Dialect::Sqlite => CLAIM_SQLITE,
            Dialect::Postgres => CLAIM_POSTGRES,
        };
        let rows = self
            .backend
            .query(sql, db_params![self.node_id(), lease_until_ms, now_ms])
            .await?;
        rows.first().map(job).transpose()
    }

    /// Extends this node's lease on a running job; `false` if the job is no longer ours.
    pub async fn renew_lease(
        &self,
        job_id: &str,
        lease_until_ms: i64,
        now_ms: i64,
    ) -> Result<bool, DbError> {
        let n = self
            .backend
            .execute(
                RENEW,
                db_params![job_id, self.node_id(), lease_until_ms, now_ms],
            )
            .await?;
        Ok(n == 1)
    }

    /// Records the start of the next attempt of a job this node holds; its number, or `None`
    /// if the job is not ours.
    pub async fn start_attempt(
        &self,
        job_id: &str,
        contact: &str,
        now_ms: i64,
    ) -> Result<Option<u32>, DbError> {
        let p = db_params![job_id, self.node_id(), now_ms, contact];
        let counts = self
            .backend
            .transaction(vec![
                Stmt::new(BUMP_ATTEMPTS, p[..3].to_vec()),
                Stmt::new(INSERT_ATTEMPT, p),
            ])
            .await?;
        if counts.get(1) != Some(&1) {
            return Ok(None);
        }
        Ok(self.get_job(job_id).await?.map(|j| j.attempts))
    }

    /// Links an attempt to its call register record.
    pub async fn set_attempt_call(
        &self,
        job_id: &str,
        attempt: u32,
        call_id: &str,
    ) -> Result<(), DbError> {
        self.backend
            .execute(ATTEMPT_CALL, db_params![job_id, attempt, call_id])
            .await
            .map(|_| ())
    }

    /// Records how an attempt ended.
    pub async fn finish_attempt(&self, a: &Attempt) -> Result<(), DbError> {
        self.backend
            .execute(
                FINISH_ATTEMPT,
                db_params![
                    &a.job_id,
                    a.attempt,
                    a.ended_ms,
                    a.outcome.clone(),
                    a.sip_status,
                    a.detail.clone(),
                    a.call_id.clone(),
                ],
            )
            .await
            .map(|_| ())
    }

    pub async fn job_attempts(&self, job_id: &str) -> Result<Vec<Attempt>, DbError> {
        let rows = self.backend.query(ATTEMPTS, db_params![job_id]).await?;
        rows.iter().map(attempt).collect()
    }

    /// Ends a job this node holds (`Done`, `Failed`); `false` if it was not ours.
    pub async fn finish_job(
        &self,
        job_id: &str,
        state: JobState,
        outcome: &str,
        now_ms: i64,
    ) -> Result<bool, DbError> {
        let n = self
            .backend
            .execute(
                FINISH,
                db_params![job_id, self.node_id(), state.as_str(), outcome, now_ms],
            )
            .await?;
        Ok(n == 1)
    }

    /// Puts a job this node holds back in the queue for a retry at `run_at_ms`.
    pub async fn requeue_job(
        &self,
        job_id: &str,
        run_at_ms: i64,
        outcome: &str,
        now_ms: i64,
    ) -> Result<bool, DbError> {
        let n = self
            .backend
            .execute(
                REQUEUE,
                db_params![job_id, self.node_id(), run_at_ms, outcome, now_ms],
            )
            .await?;
        Ok(n == 1)
    }

    /// Cancels a job that is still queued; `false` if it is running or finished.
    pub async fn cancel_job(&self, job_id: &str, now_ms: i64) -> Result<bool, DbError> {
        let n = self
            .backend
            .execute(CANCEL, db_params![job_id, now_ms])
            .await?;
        Ok(n == 1)
    }

    /// Marks the job acknowledged (the first time wins).
    pub async fn mark_acknowledged(&self, job_id: &str, now_ms: i64) -> Result<(), DbError> {
        self.backend
            .execute(ACK, db_params![job_id, now_ms])
            .await
            .map(|_| ())
    }

    /// Marks the job's message heard (the first time wins).
    pub async fn mark_heard(&self, job_id: &str, now_ms: i64) -> Result<(), DbError> {
        self.backend
            .execute(HEARD, db_params![job_id, now_ms])
            .await
            .map(|_| ())
    }

    /// Requeues every running job whose lease ran out (its node died or hung), marking the
    /// open attempt `interrupted`; how many jobs were requeued.
    pub async fn expire_leases(&self, now_ms: i64) -> Result<u64, DbError> {
        let counts = self
            .backend
            .transaction(vec![
                Stmt::new(INTERRUPT_ATTEMPTS, db_params![now_ms]),
                Stmt::new(EXPIRE, db_params![now_ms]),
            ])
            .await?;
        Ok(counts.get(1).copied().unwrap_or(0))
    }
}
