//! The database suite, run against both backends: every test below runs once on SQLite (a file
//! in a temporary folder) and once on PostgreSQL (a throwaway server, one database per test;
//! skipped with a message when PostgreSQL is not installed, failed when PHONETREE_REQUIRE_PG=1).
//!
//! This file holds the two backends, the `both!` list of tests and the helpers the modules
//! share; the tests are in `tests/db/`, one module a concept: `call_records`, `jobs`, `users`,
//! `alerts` and `cluster`.

mod pg_support;

#[path = "db/alerts.rs"]
mod alerts;
#[path = "db/call_records.rs"]
mod call_records;
#[path = "db/cluster.rs"]
mod cluster;
#[path = "db/jobs.rs"]
mod jobs;
#[path = "db/users.rs"]
mod users;

use std::collections::HashSet;
use std::sync::Arc;

use phonetree::config::database::{DatabaseConfig, DatabaseUrl};
use phonetree::db::calls::{self, CallFilter, CallRecord, Direction, TimelineEvent};
use phonetree::db::jobs::{Attempt, Job, JobState, NewJob};
use phonetree::db::limits::{Claim, ClusterLimits};
use phonetree::db::outbound::JobFilter;
use phonetree::db::{self, Db, DbError, Stmt};
use serde_json::json;

use alerts::*;
use call_records::*;
use cluster::*;
use jobs::*;
use users::*;

async fn sqlite() -> (Db, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = DatabaseConfig {
        data_dir: dir.path().join("data"),
        ..DatabaseConfig::default()
    };
    (db::open(&cfg, "node-a").await.unwrap(), dir)
}

async fn postgres() -> Option<Db> {
    let pg = pg_support::Pg::shared()?;
    let url = pg.new_db();
    let cfg = DatabaseConfig {
        url: parse_url(&url),
        ..DatabaseConfig::default()
    };
    Some(db::open(&cfg, "node-a").await.unwrap())
}

fn parse_url(url: &str) -> Option<DatabaseUrl> {
    let env = [("PHONETREE_DATABASE_URL".to_string(), url.to_string())].into();
    let sources = phonetree::config::Sources {
        env,
        ..Default::default()
    };
    phonetree::config::load(&sources).unwrap().database.url
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (db, _dir) = super::sqlite().await;
                    super::$name(db).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = super::postgres().await else { return };
                    super::$name(db).await;
                }
            )*
        }
    };
}

both!(
    migrations_are_applied_once_and_a_newer_schema_is_refused,
    a_call_record_round_trips_with_its_timeline,
    hostile_text_is_stored_literally,
    calls_are_listed_by_filter_and_page,
    retention_purges_old_calls_with_their_timelines,
    jobs_are_created_once_per_idempotency_key,
    concurrent_claims_never_share_a_job,
    only_due_jobs_are_claimed_in_run_at_order,
    expired_leases_requeue_and_interrupt_the_attempt,
    jobs_finish_requeue_cancel_and_acknowledge,
    users_tokens_and_sessions,
    alerts_schedules_and_heartbeats,
    outbound_restart_release_alert_cancel_and_filtered_list,
    a_schedule_fires_once_across_two_nodes_and_catches_up_after_downtime,
    cluster_max_concurrent_holds_across_nodes_and_a_dead_nodes_jobs_come_back,
    cluster_rate_holds_across_nodes_on_one_shared_bucket,
);

fn new_job(run_at_ms: i64) -> NewJob {
    NewJob {
        request: json!({"to": "+15550002", "message": "disk full"}),
        run_at_ms,
        max_attempts: 3,
        ..NewJob::default()
    }
}

/// Four nodes (`node-0` to `node-3`) run `claim` at the same time until each gets `None`: every
/// job claimed, each checked to be leased by the node that claimed it. A transient error (SQLite:
/// a writer may wait out its busy timeout under contention) is tried again.
async fn four_nodes_claim<F, Fut>(db: &Db, claim: F) -> Vec<Job>
where
    F: Fn(Db) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<Option<Job>, DbError>> + Send,
{
    let claimed = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for n in 0..4 {
        let node = db.with_node_id(&format!("node-{n}"));
        let claimed = claimed.clone();
        let claim = claim.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                match claim(node.clone()).await {
                    Ok(Some(j)) => {
                        assert_eq!(j.lease_owner.as_deref(), Some(node.node_id()));
                        claimed.lock().unwrap().push(j);
                    }
                    Ok(None) => break,
                    Err(e) if e.is_transient() => continue,
                    Err(e) => panic!("{e}"),
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let jobs = std::mem::take(&mut *claimed.lock().unwrap());
    jobs
}
