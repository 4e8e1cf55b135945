//! The runtime of recurring schedules: a thin loop around [`super::schedule::plan`] on the
//! `schedules` table. Every node runs it; the database decides which node's work counts:
//!
//! 1. each occurrence's job is created with the idempotency key
//!    [`occurrence_key`]`(schedule, occurrence)` (`jobs.idempotency_key` is UNIQUE), so two
//!    nodes that fire the same occurrence create one job;
//! 2. then the schedule is moved on by compare-and-set on `next_run_ms`
//!    ([`Db::schedule_ran`]): the node that loses the race only re-created nothing.
//!
//! The job comes first, so a crash between the two steps fires the same occurrence again after
//! the restart, which creates nothing new. The stored request is parsed at each run with the
//! running defaults and `now` = the occurrence (so the job's `run_at` is the occurrence).

use std::sync::Arc;
use std::time::Duration;

use jiff::tz::TimeZone;
use serde_json::Value;
use tokio::sync::Notify;

use super::cron::Cron;
use super::job::JobRequest;
use super::request::{CallRequest, Defaults};
use super::schedule::{occurrence_key, plan, Planned};
use crate::db::jobs::NewJob;
use crate::db::ops::Schedule;
use crate::db::{Db, DbError, DbSlot};

/// Longest sleep between two looks at the table (another node may have added a schedule).
pub const POLL: Duration = Duration::from_secs(10);

/// What one [`tick`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tick {
    /// Jobs this node created (`(schedule id, job id)`); a job another node created first is
    /// not listed.
    pub created: Vec<(String, String)>,
    /// Occurrences skipped (missed while down, older than the catch-up window).
    pub skipped: u32,
    /// The next occurrence of any schedule.
    pub wake_at_ms: Option<i64>,
}

/// A stored schedule as the planner's input; `None` (logged) if its cron or zone no longer
/// parses.
pub fn planned(s: &Schedule) -> Option<Planned> {
    let cron = Cron::parse(&s.cron)
        .map_err(|e| tracing::error!(schedule = %s.name, error = %e, "schedule: bad cron"))
        .ok()?;
    let tz = TimeZone::get(&s.tz)
        .map_err(|_| tracing::error!(schedule = %s.name, tz = %s.tz, "schedule: unknown zone"))
        .ok()?;
    Some(Planned {
        id: s.id.clone(),
        cron,
        tz,
        enabled: s.enabled,
        next_run_ms: s.next_run_ms,
    })
}

/// The job of one occurrence: the stored request parsed at the occurrence.
pub fn job_for(request: &Value, defaults: &Defaults, occurrence_ms: i64) -> Option<JobRequest> {
    CallRequest::parse(request, defaults, occurrence_ms)
        .ok()
        .map(JobRequest::Call)
}

/// Looks at every schedule once at `now_ms` and fires what is due.
pub async fn tick(
    db: &Db,
    defaults: &Defaults,
    catchup: Duration,
    now_ms: i64,
) -> Result<Tick, DbError> {
    let rows = db.list_schedules().await?;
    let input: Vec<Planned> = rows.iter().filter_map(planned).collect();
    let p = plan(&input, now_ms, catchup.as_millis() as i64);
    let mut out = Tick {
        wake_at_ms: p.wake_at_ms,
        ..Tick::default()
    };
    for f in &p.fire {
        let Some(row) = rows.iter().find(|r| r.id == f.schedule_id) else {
            continue;
        };
        match job_for(&row.request, defaults, f.occurrence_ms) {
            Some(request) => {
                let key = occurrence_key(&f.schedule_id, f.occurrence_ms);
                let job = db
                    .create_job(
                        &NewJob {
                            request: serde_json::to_value(&request).unwrap_or_default(),
                            run_at_ms: request.run_at_ms(),
                            max_attempts: request.max_attempts(),
                            idempotency_key: Some(key),
                            schedule_id: Some(f.schedule_id.clone()),
                            alert_id: None,
                        },
                        now_ms,
                    )
                    .await?;
                if job.node_id == db.node_id() && job.created_ms == now_ms {
                    out.created.push((f.schedule_id.clone(), job.id.clone()));
                }
                tracing::info!(schedule = %row.name, job = %job.id, skipped = f.skipped, "schedule fired");
            }
            None => {
                tracing::error!(schedule = %row.name, "schedule: its request no longer parses; run skipped")
            }
        }
        db.schedule_ran(
            &f.schedule_id,
            f.occurrence_ms,
            f.next_run_ms,
            Some(f.expected_next_ms),
        )
        .await?;
        out.skipped += f.skipped;
    }
    for k in &p.skip {
        tracing::warn!(schedule = %k.schedule_id, skipped = k.skipped, "schedule: runs missed longer ago than outbound.schedule_catchup skipped");
        db.schedule_moved(&k.schedule_id, k.next_run_ms, k.expected_next_ms)
            .await?;
        out.skipped += k.skipped;
    }
    Ok(out)
}

/// Runs [`tick`] at each wake-up (the next occurrence, [`POLL`] at most, or a poke from the
/// API), and pokes the dialler when it created jobs. Never returns.
pub async fn run(
    db: DbSlot,
    defaults: Defaults,
    catchup: Duration,
    wake: Arc<Notify>,
    dialler: Arc<Notify>,
) {
    loop {
        let now = crate::db::now_ms();
        let mut sleep = POLL;
        match db.get() {
            Some(d) => match tick(&d, &defaults, catchup, now).await {
                Ok(t) => {
                    if !t.created.is_empty() {
                        dialler.notify_one();
                    }
                    if let Some(at) = t.wake_at_ms {
                        let until = Duration::from_millis(at.saturating_sub(now).max(0) as u64);
                        sleep = sleep.min(until);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "schedules: database error; retrying"),
            },
            None => tracing::debug!("schedules: waiting for the database"),
        }
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = wake.notified() => {}
        }
    }
}
