//! Outbound claim benchmark (`cargo bench --bench claims`; `CLAIMS=1 bench/run.sh` writes
//! bench/CLAIMS.md). Not a test: nothing here asserts on time.
//!
//! Jobs claimed per second on one node, SQLite (a file in a temporary folder) vs PostgreSQL (a
//! throwaway server from `tests/pg_support`, same machine), with 1 and 4 claiming tasks (the
//! tasks are separate node ids sharing the node's pool). Each round queues `--jobs` due jobs,
//! then claims until the queue is empty, each job finished as soon as it is claimed (so only a
//! few are `running` at once, as in production). Measured, per claim + finish: the cluster-limited claim
//! (`Db::claim_due_job_limited`: advisory lock on PostgreSQL, running-jobs count, rate-bucket
//! row, `FOR UPDATE SKIP LOCKED` claim, one transaction) with limits too high to bind. Baseline:
//! the plain claim (`Db::claim_due_job`, one statement, no limits) in the same run, alternating.

#[path = "../tests/pg_support/mod.rs"]
mod pg_support;

use std::sync::Arc;
use std::time::Instant;

use phonetree::config::database::{DatabaseConfig, DatabaseUrl};
use phonetree::db::jobs::{JobState, NewJob};
use phonetree::db::limits::{Claim, ClusterLimits};
use phonetree::db::{self, Db};

const LIMITS: ClusterLimits = ClusterLimits {
    max_concurrent: 1 << 40,
    rate: 1e9,
};

fn parse_url(url: &str) -> Option<DatabaseUrl> {
    let env = [("PHONETREE_DATABASE_URL".to_string(), url.to_string())].into();
    let sources = phonetree::config::Sources {
        env,
        ..Default::default()
    };
    phonetree::config::load(&sources).unwrap().database.url
}

/// Claims until empty with `tasks` claimers; claims per second.
async fn round(db: &Db, jobs: usize, tasks: usize, limited: bool) -> f64 {
    let now = db::now_ms();
    for _ in 0..jobs {
        let j = NewJob {
            request: serde_json::json!({"to": "+15550002", "message": "m"}),
            run_at_ms: 0,
            max_attempts: 1,
            ..NewJob::default()
        };
        db.create_job(&j, now).await.unwrap();
    }
    let t0 = Instant::now();
    let claimed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut handles = Vec::new();
    for n in 0..tasks {
        let node = db.with_node_id(&format!("bench-{n}"));
        let claimed = claimed.clone();
        handles.push(tokio::spawn(async move {
            loop {
                let now = db::now_ms();
                let got = if limited {
                    match node.claim_due_job_limited(now, now + 60_000, &LIMITS).await {
                        Ok(Claim::Job(j)) => Some(j.id),
                        Ok(Claim::NothingDue) => None,
                        Ok(Claim::AtLimit) => panic!("the limits must not bind"),
                        Err(e) if e.is_transient() => continue,
                        Err(e) => panic!("{e}"),
                    }
                } else {
                    match node.claim_due_job(now, now + 60_000).await {
                        Ok(j) => j.map(|j| j.id),
                        Err(e) if e.is_transient() => continue,
                        Err(e) => panic!("{e}"),
                    }
                };
                let Some(id) = got else { break };
                // The job ends at once: as in production, only a few are `running` at a time.
                let done = node.finish_job(&id, JobState::Done, "answered", now).await;
                assert!(done.unwrap());
                claimed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let secs = t0.elapsed().as_secs_f64();
    assert_eq!(claimed.load(std::sync::atomic::Ordering::Relaxed), jobs);
    jobs as f64 / secs
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let jobs: usize = args
        .iter()
        .position(|a| a == "--jobs")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let dir = tempfile::tempdir().unwrap();
    let sqlite = db::open(
        &DatabaseConfig {
            data_dir: dir.path().join("data"),
            ..DatabaseConfig::default()
        },
        "bench",
    )
    .await
    .unwrap();
    let mut backends = vec![("SQLite", sqlite)];
    match pg_support::Pg::shared() {
        Some(pg) => {
            let cfg = DatabaseConfig {
                url: parse_url(&pg.new_db()),
                ..DatabaseConfig::default()
            };
            backends.push(("PostgreSQL", db::open(&cfg, "bench").await.unwrap()));
        }
        None => eprintln!("PostgreSQL not installed: SQLite only"),
    }
    println!("| database | claiming tasks | limited claim+finish/s | plain claim+finish/s (baseline) | ratio (time) |");
    println!("|---|---:|---:|---:|---:|");
    for (name, db) in &backends {
        for tasks in [1, 4] {
            let (mut lim, mut plain) = (Vec::new(), Vec::new());
            for _ in 0..3 {
                plain.push(round(db, jobs, tasks, false).await);
                lim.push(round(db, jobs, tasks, true).await);
            }
            let (l, p) = (median(lim), median(plain));
            println!("| {name} | {tasks} | {l:.0} | {p:.0} | {:.2} |", p / l);
        }
    }
}
