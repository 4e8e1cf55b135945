//! Outbound queries beyond the basic job calls of [`super::jobs`]: releasing this node's own
//! leases at start (a process that died held them), cancelling an alert episode's queued
//! jobs, and listing jobs with the API's filters.

use super::jobs::{Job, JobState};
use super::{Db, DbError, Stmt};
use crate::db_params;

const INTERRUPT_OWN: &str = "UPDATE job_attempts SET outcome = 'interrupted', ended_ms = $2 \
     WHERE outcome IS NULL AND job_id IN (SELECT id FROM jobs WHERE state = 'running' \
     AND lease_owner = $1)";
const RELEASE_OWN: &str = "UPDATE jobs SET state = 'queued', lease_owner = NULL, \
     lease_until_ms = NULL, outcome = 'interrupted', updated_ms = $2 \
     WHERE state = 'running' AND lease_owner = $1";
const CANCEL_ALERT: &str = "UPDATE jobs SET state = 'cancelled', outcome = 'resolved', \
     updated_ms = $2 WHERE alert_id = $1 AND state = 'queued'";
const JOB_IDS: &str = "SELECT id FROM jobs WHERE (CAST($1 AS TEXT) IS NULL OR state = $1) \
     AND (CAST($2 AS TEXT) IS NULL OR LOWER(request) LIKE $2) \
     AND (CAST($3 AS BIGINT) IS NULL OR created_ms >= $3) \
     AND (CAST($4 AS BIGINT) IS NULL OR created_ms < $4) \
     AND (CAST($5 AS TEXT) IS NULL OR id < $5) ORDER BY id DESC LIMIT $6";

/// What `GET /api/calls?status=…` asks for.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    pub state: Option<JobState>,
    /// A part of a contact.
    pub number: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub before_id: Option<String>,
    pub limit: u32,
}

impl Db {
    /// This node's running jobs go back to the queue, their open attempt `interrupted`: at
    /// start the node holds nothing, so its leases belong to a process that died.
    pub async fn release_own_leases(&self, now_ms: i64) -> Result<u64, DbError> {
        let p = db_params![self.node_id(), now_ms];
        let counts = self
            .backend
            .transaction(vec![
                Stmt::new(INTERRUPT_OWN, p.clone()),
                Stmt::new(RELEASE_OWN, p),
            ])
            .await?;
        Ok(counts.get(1).copied().unwrap_or(0))
    }

    /// Cancels the queued jobs of an alert episode; how many.
    pub async fn cancel_alert_jobs(&self, alert_id: &str, now_ms: i64) -> Result<u64, DbError> {
        self.backend
            .execute(CANCEL_ALERT, db_params![alert_id, now_ms])
            .await
    }

    /// Jobs, newest first, filtered; `next` is the `before_id` of the following page (`None`
    /// on the last page). `number` is matched twice: loosely in SQL (`LIKE` over the stored
    /// request, so an index-free scan stays bounded by the page), then exactly against the
    /// request's `to` contacts, so a message text that happens to contain the digits does not
    /// match. A page may then hold fewer than `limit` jobs while `next` is still given.
    pub async fn list_jobs_filtered(&self, f: &JobFilter) -> Result<JobPage, DbError> {
        let limit = i64::from(f.limit.clamp(1, super::calls::MAX_PAGE));
        let needle = f.number.as_deref().map(|n| {
            n.chars()
                .filter(|c| !matches!(c, '%' | '_' | '"' | '\\'))
                .collect::<String>()
                .to_ascii_lowercase()
        });
        let pattern = needle.as_ref().map(|n| format!("%{n}%"));
        let rows = self
            .backend
            .query(
                JOB_IDS,
                db_params![
                    f.state.map(JobState::as_str),
                    pattern,
                    f.since_ms,
                    f.until_ms,
                    f.before_id.clone(),
                    limit
                ],
            )
            .await?;
        let next = if rows.len() as i64 == limit {
            rows.last().map(|r| r.text(0)).transpose()?
        } else {
            None
        };
        let mut jobs = Vec::with_capacity(rows.len());
        for r in rows {
            let Some(j) = self.get_job(&r.text(0)?).await? else {
                continue;
            };
            if needle
                .as_deref()
                .is_none_or(|n| contacts_contain(&j.request, n))
            {
                jobs.push(j);
            }
        }
        Ok(JobPage { jobs, next })
    }
}

/// A page of [`Db::list_jobs_filtered`].
#[derive(Debug, Clone, Default)]
pub struct JobPage {
    pub jobs: Vec<Job>,
    pub next: Option<String>,
}

/// Whether a stored request's `to` (a contact or a list) contains `needle` (lower case).
fn contacts_contain(request: &serde_json::Value, needle: &str) -> bool {
    let hit = |v: &serde_json::Value| {
        v.as_str()
            .is_some_and(|c| c.to_ascii_lowercase().contains(needle))
    };
    match &request["to"] {
        serde_json::Value::Array(items) => items.iter().any(hit),
        v => hit(v),
    }
}
