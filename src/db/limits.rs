//! Cluster-wide outbound limits (issue 12): `outbound.max_concurrent` and `outbound.rate`
//! hold for every node sharing the database, not per node.
//!
//! A limited claim ([`Db::claim_due_job_limited`]) is one transaction:
//! 1. PostgreSQL only: `pg_advisory_xact_lock`, so claims from all nodes run one after the
//!    other (SQLite's `BEGIN IMMEDIATE` already serialises its single writer). Each later
//!    statement takes a fresh snapshot (READ COMMITTED), so it sees every earlier claim.
//! 2. The guard: the shared token bucket row (`outbound_rate`, refilled from its `last_ms` at
//!    `rate` per second, holding at most one second's worth, at least one) must hold a token,
//!    and the number of `running` jobs in the table must be below `max_concurrent`; if so the
//!    token is taken.
//! 3. The claim itself (`FOR UPDATE SKIP LOCKED` on PostgreSQL). Nothing due: the whole
//!    transaction rolls back, so no token is spent on an empty queue.
//!
//! A dead node's jobs stay `running` (and count against `max_concurrent`) until their lease
//! expires; then [`Db::expire_leases`] requeues them for any node. The bucket's clock is the
//! claiming node's (`last_ms` never goes back), so nodes should run NTP like any cluster.

use super::jobs::{job, Job, CLAIM_POSTGRES, CLAIM_SQLITE};
use super::{Db, DbError, Dialect, Stmt};
use crate::db_params;

/// The limits a claim respects, for the whole cluster.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClusterLimits {
    /// Jobs `running` at once, over all nodes.
    pub max_concurrent: usize,
    /// Claims per second, over all nodes (a burst of at most one second's worth).
    pub rate: f64,
}

/// What a limited claim got.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    Job(Box<Job>),
    /// No queued job is due.
    NothingDue,
    /// A job may be due, but the cluster is at `max_concurrent` or out of rate tokens.
    AtLimit,
}

/// Serialises claims across nodes (an arbitrary constant, distinct from the migration lock).
const LOCK_POSTGRES: &str = "SELECT pg_advisory_xact_lock(7318801262)";
// $1 burst, $2 now, $3 rate, $4 max_concurrent.
const TAKE_TOKEN_POSTGRES: &str = "UPDATE outbound_rate SET \
     tokens = LEAST(CAST($1 AS DOUBLE PRECISION), tokens + GREATEST(0, CAST($2 AS BIGINT) - last_ms) \
       * CAST($3 AS DOUBLE PRECISION) / 1000.0) - 1, \
     last_ms = GREATEST(last_ms, CAST($2 AS BIGINT)) \
     WHERE id = 1 AND LEAST(CAST($1 AS DOUBLE PRECISION), tokens + GREATEST(0, CAST($2 AS BIGINT) - last_ms) \
       * CAST($3 AS DOUBLE PRECISION) / 1000.0) >= 1 \
     AND (SELECT COUNT(*) FROM jobs WHERE state = 'running') < CAST($4 AS BIGINT)";
const TAKE_TOKEN_SQLITE: &str = "UPDATE outbound_rate SET \
     tokens = MIN(CAST($1 AS REAL), tokens + MAX(0, $2 - last_ms) * CAST($3 AS REAL) / 1000.0) - 1, \
     last_ms = MAX(last_ms, $2) \
     WHERE id = 1 AND MIN(CAST($1 AS REAL), tokens + MAX(0, $2 - last_ms) * CAST($3 AS REAL) / 1000.0) >= 1 \
     AND (SELECT COUNT(*) FROM jobs WHERE state = 'running') < $4";

impl Db {
    /// Claims the earliest due job like [`Db::claim_due_job`], but only within the cluster's
    /// `limits` (see the module doc): a job, nothing due, or at a limit.
    pub async fn claim_due_job_limited(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
        limits: &ClusterLimits,
    ) -> Result<Claim, DbError> {
        let rate = if limits.rate.is_finite() {
            limits.rate.max(0.001)
        } else {
            1.0
        };
        let burst = rate.max(1.0);
        let max = i64::try_from(limits.max_concurrent).unwrap_or(i64::MAX);
        let take = db_params![burst, now_ms, rate, max];
        let (guards, claim) = match self.dialect() {
            Dialect::Sqlite => (vec![Stmt::new(TAKE_TOKEN_SQLITE, take)], CLAIM_SQLITE),
            Dialect::Postgres => (
                vec![
                    Stmt::new(LOCK_POSTGRES, vec![]),
                    Stmt::new(TAKE_TOKEN_POSTGRES, take),
                ],
                CLAIM_POSTGRES,
            ),
        };
        let claim = Stmt::new(claim, db_params![self.node_id(), lease_until_ms, now_ms]);
        match self.backend.guarded_query(guards, claim).await? {
            None => Ok(Claim::AtLimit),
            Some(rows) => match rows.first() {
                None => Ok(Claim::NothingDue),
                Some(r) => Ok(Claim::Job(Box::new(job(r)?))),
            },
        }
    }
}
