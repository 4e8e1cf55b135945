//! Several nodes on one database: a schedule fires once across two nodes and catches up after
//! downtime; the cluster's `max_concurrent` and rate hold across nodes, and a dead node's jobs
//! come back.

use super::*;

/// `outbound::scheduler::tick`: two nodes ticking at the same moment create one job for the
/// occurrence (its idempotency key) and move the schedule once; a tick after ten minutes down
/// fires only the latest missed run; a run older than the catch-up window is skipped and the
/// schedule moved on without a job.
pub(super) async fn a_schedule_fires_once_across_two_nodes_and_catches_up_after_downtime(db: Db) {
    use phonetree::outbound::request::Defaults;
    use phonetree::outbound::schedule::occurrence_key;
    use phonetree::outbound::scheduler::tick;
    use std::time::Duration;

    let defaults = Defaults {
        tz: jiff::tz::TimeZone::UTC,
        ..Defaults::default()
    };
    let hour = Duration::from_secs(3600);
    let t0: i64 = 1_796_029_200_000; // 2026-11-30T09:00:00Z
    let request = json!({"to": "sip:oncall@127.0.0.1:5099", "message": "Backup check"});
    let id = db
        .create_schedule("every-minute", "* * * * *", "UTC", &request, Some(t0), 1)
        .await
        .unwrap();
    let b = db.with_node_id("node-b");
    let (ta, tb) = tokio::join!(
        tick(&db, &defaults, hour, t0 + 500),
        tick(&b, &defaults, hour, t0 + 500)
    );
    let (ta, tb) = (ta.unwrap(), tb.unwrap());
    assert_eq!(ta.created.len() + tb.created.len(), 1, "{ta:?} {tb:?}");
    assert_eq!(db.count_jobs(JobState::Queued).await.unwrap(), 1);
    let (_, job_id) = ta.created.iter().chain(&tb.created).next().unwrap().clone();
    let job = db.get_job(&job_id).await.unwrap().unwrap();
    assert_eq!(job.run_at_ms, t0, "the job runs at the occurrence");
    assert_eq!(job.schedule_id.as_deref(), Some(id.as_str()));
    assert_eq!(job.idempotency_key, Some(occurrence_key(&id, t0)));
    assert_eq!(job.request["type"], "call");
    assert_eq!(job.request["to"], json!(["sip:oncall@127.0.0.1:5099"]));
    let s = &db.list_schedules().await.unwrap()[0];
    assert_eq!(
        (s.last_run_ms, s.next_run_ms),
        (Some(t0), Some(t0 + 60_000))
    );
    assert_eq!(ta.wake_at_ms, Some(t0 + 60_000));

    // Ticking again before the next run changes nothing.
    let again = tick(&b, &defaults, hour, t0 + 900).await.unwrap();
    assert!(again.created.is_empty());
    assert_eq!(db.count_jobs(JobState::Queued).await.unwrap(), 1);

    // Ten minutes down: one job, for the latest run (09:10); 09:01-09:09 skipped.
    let late = t0 + 10 * 60_000 + 1_000;
    let t = tick(&db, &defaults, hour, late).await.unwrap();
    assert_eq!(t.created.len(), 1);
    assert_eq!(t.skipped, 9);
    let job = db.get_job(&t.created[0].1).await.unwrap().unwrap();
    assert_eq!(job.run_at_ms, t0 + 10 * 60_000);
    assert_eq!(db.count_jobs(JobState::Queued).await.unwrap(), 2);

    // A daily run two days old with a one-hour window: no job, moved to tomorrow.
    db.create_schedule(
        "daily",
        "0 9 * * *",
        "UTC",
        &request,
        Some(t0 - 2 * 86_400_000),
        1,
    )
    .await
    .unwrap();
    assert!(db.delete_schedule("every-minute").await.unwrap());
    let t = tick(&db, &defaults, hour, t0 + 2 * 3_600_000)
        .await
        .unwrap();
    assert!(t.created.is_empty());
    assert_eq!(t.skipped, 3);
    let s = &db.list_schedules().await.unwrap()[0];
    assert_eq!(
        (s.last_run_ms, s.next_run_ms),
        (None, Some(t0 + 86_400_000))
    );
    assert_eq!(db.count_jobs(JobState::Queued).await.unwrap(), 2);
}

/// Four nodes claim at the same virtual instant `now` until each sees no more: the ids claimed.
async fn claim_race(db: &Db, now: i64, lease_until: i64, limits: ClusterLimits) -> Vec<String> {
    let jobs = four_nodes_claim(db, move |node| async move {
        let claim = node.claim_due_job_limited(now, lease_until, &limits).await;
        claim.map(|c| match c {
            Claim::Job(j) => Some(*j),
            Claim::NothingDue | Claim::AtLimit => None,
        })
    })
    .await;
    let ids: Vec<String> = jobs.into_iter().map(|j| j.id).collect();
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        ids.len(),
        "a job claimed twice"
    );
    ids
}

pub(super) async fn cluster_max_concurrent_holds_across_nodes_and_a_dead_nodes_jobs_come_back(
    db: Db,
) {
    for _ in 0..20 {
        db.create_job(&new_job(0), 0).await.unwrap();
    }
    let limits = ClusterLimits {
        max_concurrent: 5,
        rate: 1_000.0,
    };
    // Enough rate tokens for everything: only the concurrency limit can stop the claims.
    let first = claim_race(&db, 10_000, 20_000, limits).await;
    assert_eq!(
        first.len(),
        5,
        "five running over four nodes, not five per node"
    );
    assert_eq!(db.count_jobs(JobState::Running).await.unwrap(), 5);
    let again = claim_race(&db, 11_000, 20_000, limits).await;
    assert!(again.is_empty(), "still at the limit: {again:?}");

    // One call ends: exactly one slot frees, whichever node asks first takes it.
    let done = db.get_job(&first[0]).await.unwrap().unwrap();
    let owner = db.with_node_id(done.lease_owner.as_deref().unwrap());
    assert!(owner
        .finish_job(&done.id, JobState::Done, "answered", 12_000)
        .await
        .unwrap());
    assert_eq!(claim_race(&db, 12_000, 20_000, limits).await.len(), 1);

    // A node dies holding jobs: they count against the limit until their lease runs out,
    // then any node may take them again (the open attempt is marked interrupted).
    let dead_jobs: Vec<_> = {
        let mut v = Vec::new();
        for id in db
            .list_jobs(Some(JobState::Running), None, 100)
            .await
            .unwrap()
        {
            v.push(id);
        }
        v
    };
    let victim = dead_jobs[0].lease_owner.clone().unwrap();
    let theirs: Vec<_> = dead_jobs
        .iter()
        .filter(|j| j.lease_owner.as_deref() == Some(victim.as_str()))
        .collect();
    let dead = db.with_node_id(&victim);
    assert_eq!(
        dead.start_attempt(&theirs[0].id, "sip:x@127.0.0.1", 12_500)
            .await
            .unwrap(),
        Some(1)
    );
    // The survivors renew their leases; the dead node does not.
    for j in &dead_jobs {
        if j.lease_owner.as_deref() != Some(victim.as_str()) {
            let n = db.with_node_id(j.lease_owner.as_deref().unwrap());
            assert!(n.renew_lease(&j.id, 60_000, 19_000).await.unwrap());
        }
    }
    assert!(claim_race(&db, 19_000, 60_000, limits).await.is_empty());
    assert_eq!(db.expire_leases(20_001).await.unwrap(), theirs.len() as u64);
    let retaken = claim_race(&db, 20_001, 60_000, limits).await;
    assert_eq!(
        retaken.len(),
        theirs.len(),
        "the dead node's slots are free again"
    );
    assert_eq!(db.count_jobs(JobState::Running).await.unwrap(), 5);
    let attempts = db.job_attempts(&theirs[0].id).await.unwrap();
    assert_eq!(attempts[0].outcome.as_deref(), Some("interrupted"));
}

pub(super) async fn cluster_rate_holds_across_nodes_on_one_shared_bucket(db: Db) {
    let limits = ClusterLimits {
        max_concurrent: 1_000,
        rate: 2.0,
    };
    // An empty queue spends no token.
    for _ in 0..3 {
        let c = db
            .claim_due_job_limited(1_000, 90_000, &limits)
            .await
            .unwrap();
        assert_eq!(c, Claim::NothingDue);
    }
    for _ in 0..30 {
        db.create_job(&new_job(0), 0).await.unwrap();
    }
    // A full bucket holds one second's worth: two claims at t = 1 s, over all four nodes.
    assert_eq!(claim_race(&db, 1_000, 90_000, limits).await.len(), 2);
    assert!(claim_race(&db, 1_000, 90_000, limits).await.is_empty());
    // Half a second later: one token.
    assert_eq!(claim_race(&db, 1_500, 90_000, limits).await.len(), 1);
    assert!(claim_race(&db, 1_700, 90_000, limits).await.is_empty());
    // A node whose clock lags does not refill the bucket (time never goes back).
    assert!(claim_race(&db, 500, 90_000, limits).await.is_empty());
    // A long pause refills at most one second's worth.
    assert_eq!(claim_race(&db, 60_000, 90_000, limits).await.len(), 2);
    // Over 10 s of polling every 100 ms by four nodes: at most 2/s + the burst.
    let mut n = 0;
    for t in (60_100..=70_000).step_by(100) {
        n += claim_race(&db, t, 90_000, limits).await.len();
    }
    assert_eq!(n, 20, "2 per second for 10 s (the burst was spent at 60 s)");
    assert_eq!(db.count_jobs(JobState::Running).await.unwrap(), 25);
}
