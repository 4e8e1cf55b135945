//! The job queue on one node: idempotency keys, concurrent claims that never share a job, due
//! jobs claimed in `run_at` order, expired leases, finish/requeue/cancel/acknowledge, and
//! `db::outbound`'s restart release, alert cancellation and filtered list.

use super::*;

pub(super) async fn jobs_are_created_once_per_idempotency_key(db: Db) {
    let mut j = new_job(0);
    j.idempotency_key = Some("alert-1".into());
    let a = db.create_job(&j, 10).await.unwrap();
    let b = db.create_job(&j, 20).await.unwrap();
    assert_eq!(a.id, b.id);
    assert_eq!(a.state, JobState::Queued);
    assert_eq!(a.request["message"], "disk full");
    assert_eq!((a.max_attempts, a.attempts, a.created_ms), (3, 0, 10));
    let c = db.create_job(&new_job(0), 30).await.unwrap();
    let d = db.create_job(&new_job(0), 30).await.unwrap();
    assert_ne!(c.id, d.id, "no key: every request is a job");
    assert_eq!(db.count_jobs(JobState::Queued).await.unwrap(), 3);
    let listed = db.list_jobs(Some(JobState::Queued), None, 2).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].id, d.id, "newest first");
    assert_eq!(db.get_job(&a.id).await.unwrap().unwrap(), a);
}

pub(super) async fn concurrent_claims_never_share_a_job(db: Db) {
    const JOBS: usize = 40;
    for _ in 0..JOBS {
        db.create_job(&new_job(0), 0).await.unwrap();
    }
    let jobs = four_nodes_claim(
        &db,
        |node| async move { node.claim_due_job(100, 60_000).await },
    )
    .await;
    for j in &jobs {
        assert_eq!(j.state, JobState::Running);
    }
    let claimed: Vec<String> = jobs.into_iter().map(|j| j.id).collect();
    let unique: HashSet<_> = claimed.iter().collect();
    assert_eq!(claimed.len(), JOBS, "every job claimed");
    assert_eq!(unique.len(), JOBS, "no job claimed twice");
    assert_eq!(db.count_jobs(JobState::Running).await.unwrap(), JOBS as u64);
}

pub(super) async fn only_due_jobs_are_claimed_in_run_at_order(db: Db) {
    let late = db.create_job(&new_job(500), 0).await.unwrap();
    let early = db.create_job(&new_job(200), 0).await.unwrap();
    assert!(db.claim_due_job(100, 1_000).await.unwrap().is_none());
    assert_eq!(
        db.claim_due_job(600, 1_000).await.unwrap().unwrap().id,
        early.id
    );
    let j = db.claim_due_job(600, 1_000).await.unwrap().unwrap();
    assert_eq!(j.id, late.id);
    assert_eq!(j.lease_until_ms, Some(1_000));
    assert!(db.claim_due_job(600, 1_000).await.unwrap().is_none());
}

pub(super) async fn expired_leases_requeue_and_interrupt_the_attempt(db: Db) {
    let j = db.create_job(&new_job(0), 0).await.unwrap();
    let claimed = db.claim_due_job(10, 1_000).await.unwrap().unwrap();
    assert_eq!(claimed.id, j.id);
    assert_eq!(
        db.start_attempt(&j.id, "+15550002", 20).await.unwrap(),
        Some(1)
    );
    let other = db.with_node_id("node-b");
    assert!(
        !other.renew_lease(&j.id, 5_000, 30).await.unwrap(),
        "not its lease"
    );
    assert_eq!(other.start_attempt(&j.id, "+1", 30).await.unwrap(), None);
    assert!(db.renew_lease(&j.id, 2_000, 30).await.unwrap());
    assert_eq!(db.expire_leases(1_500).await.unwrap(), 0, "renewed");
    // The node dies: nobody renews; after the lease the job is queued again.
    assert_eq!(db.expire_leases(2_500).await.unwrap(), 1);
    let back = db.get_job(&j.id).await.unwrap().unwrap();
    assert_eq!(back.state, JobState::Queued);
    assert_eq!(back.lease_owner, None);
    assert_eq!(back.attempts, 1);
    let attempts = db.job_attempts(&j.id).await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].outcome.as_deref(), Some("interrupted"));
    assert_eq!(attempts[0].ended_ms, Some(2_500));
    // Another node takes it over and dials attempt 2.
    assert_eq!(
        other.claim_due_job(2_600, 9_000).await.unwrap().unwrap().id,
        j.id
    );
    assert_eq!(
        other
            .start_attempt(&j.id, "+15550002", 2_600)
            .await
            .unwrap(),
        Some(2)
    );
    assert!(!db
        .finish_job(&j.id, JobState::Done, "answered", 2_700)
        .await
        .unwrap());
}

pub(super) async fn jobs_finish_requeue_cancel_and_acknowledge(db: Db) {
    let j = db.create_job(&new_job(0), 0).await.unwrap();
    db.claim_due_job(1, 1_000).await.unwrap().unwrap();
    let n = db
        .start_attempt(&j.id, "+15550002", 2)
        .await
        .unwrap()
        .unwrap();
    db.set_attempt_call(&j.id, n, "call-1").await.unwrap();
    db.finish_attempt(&Attempt {
        job_id: j.id.clone(),
        attempt: n,
        node_id: "node-a".into(),
        call_id: None,
        contact: "+15550002".into(),
        started_ms: 2,
        ended_ms: Some(5),
        outcome: Some("busy".into()),
        sip_status: Some(486),
        detail: Some("486 Busy Here".into()),
    })
    .await
    .unwrap();
    let a = &db.job_attempts(&j.id).await.unwrap()[0];
    assert_eq!(
        a.call_id.as_deref(),
        Some("call-1"),
        "kept when not given again"
    );
    assert_eq!(
        (a.sip_status, a.outcome.as_deref()),
        (Some(486), Some("busy"))
    );
    assert!(db.requeue_job(&j.id, 100, "busy", 6).await.unwrap());
    let q = db.get_job(&j.id).await.unwrap().unwrap();
    assert_eq!(
        (q.state, q.run_at_ms, q.outcome.as_deref()),
        (JobState::Queued, 100, Some("busy"))
    );
    db.claim_due_job(100, 1_000).await.unwrap().unwrap();
    db.mark_heard(&j.id, 110).await.unwrap();
    db.mark_acknowledged(&j.id, 120).await.unwrap();
    db.mark_acknowledged(&j.id, 130).await.unwrap();
    assert!(db
        .finish_job(&j.id, JobState::Done, "acknowledged", 140)
        .await
        .unwrap());
    let done = db.get_job(&j.id).await.unwrap().unwrap();
    assert_eq!(done.state, JobState::Done);
    assert_eq!(
        (done.heard_ms, done.acknowledged_ms),
        (Some(110), Some(120))
    );
    assert!(
        !db.cancel_job(&j.id, 150).await.unwrap(),
        "finished jobs stay finished"
    );
    let k = db.create_job(&new_job(1_000), 0).await.unwrap();
    assert!(db.cancel_job(&k.id, 10).await.unwrap());
    assert!(db.claim_due_job(2_000, 3_000).await.unwrap().is_none());
}

/// `db::outbound`: a restarted node releases its own running jobs (attempt `interrupted`) but
/// not another node's; an alert episode's queued jobs are cancelled, its running one is not;
/// the API's list filters by state, number, creation time and page.
pub(super) async fn outbound_restart_release_alert_cancel_and_filtered_list(db: Db) {
    let mine = db.create_job(&new_job(0), 100).await.unwrap();
    db.claim_due_job(110, 60_000).await.unwrap().unwrap();
    db.start_attempt(&mine.id, "+15550002", 120).await.unwrap();
    let other = db.with_node_id("node-b");
    let theirs = db.create_job(&new_job(0), 200).await.unwrap();
    other.claim_due_job(210, 60_000).await.unwrap().unwrap();
    assert_eq!(db.release_own_leases(300).await.unwrap(), 1);
    let back = db.get_job(&mine.id).await.unwrap().unwrap();
    assert_eq!((back.state, back.lease_owner), (JobState::Queued, None));
    let attempts = db.job_attempts(&mine.id).await.unwrap();
    assert_eq!(attempts[0].outcome.as_deref(), Some("interrupted"));
    let held = db.get_job(&theirs.id).await.unwrap().unwrap();
    assert_eq!(
        held.state,
        JobState::Running,
        "another node's lease is left alone"
    );

    let alert = |key: &str, run_at| NewJob {
        request: json!({"to": ["+4930111"], "message": "disk"}),
        alert_id: Some("fp1:start".into()),
        idempotency_key: Some(key.into()),
        ..new_job(run_at)
    };
    let sms = db.create_job(&alert("fp1:sms", 0), 400).await.unwrap();
    let call = db
        .create_job(&alert("fp1:call", 90_000), 400)
        .await
        .unwrap();
    // The SMS is being sent when the resolution comes: only the waiting call is cancelled.
    let claimed = db.claim_due_job(500, 60_000).await.unwrap().unwrap();
    assert_eq!(claimed.id, mine.id, "oldest due first");
    db.claim_due_job(500, 60_000).await.unwrap().unwrap();
    let running_sms = db.get_job(&sms.id).await.unwrap().unwrap();
    assert_eq!(running_sms.state, JobState::Running);
    assert_eq!(db.cancel_alert_jobs("fp1:start", 600).await.unwrap(), 1);
    assert_eq!(
        db.get_job(&call.id).await.unwrap().unwrap().state,
        JobState::Cancelled
    );
    assert_eq!(db.cancel_alert_jobs("fp1:start", 700).await.unwrap(), 0);

    let list = |f: JobFilter| {
        let db = db.clone();
        async move {
            db.list_jobs_filtered(&f)
                .await
                .unwrap()
                .jobs
                .into_iter()
                .map(|j| j.id)
                .collect::<Vec<_>>()
        }
    };
    let f = |limit| JobFilter {
        limit,
        ..JobFilter::default()
    };
    assert_eq!(list(f(50)).await.len(), 4);
    let cancelled = JobFilter {
        state: Some(JobState::Cancelled),
        ..f(50)
    };
    assert_eq!(list(cancelled).await, vec![call.id.clone()]);
    let by_number = JobFilter {
        number: Some("4930".into()),
        ..f(50)
    };
    let mut got = list(by_number).await;
    got.sort();
    let mut want = vec![sms.id.clone(), call.id.clone()];
    want.sort();
    assert_eq!(got, want, "a part of a contact");
    let hostile = JobFilter {
        number: Some("%' OR 1=1 --".into()),
        ..f(50)
    };
    assert!(list(hostile).await.is_empty(), "the number is data");
    let in_the_text_only = JobFilter {
        number: Some("disk".into()),
        ..f(50)
    };
    assert!(
        list(in_the_text_only).await.is_empty(),
        "contacts only, not the message"
    );
    let early = JobFilter {
        since_ms: Some(100),
        until_ms: Some(300),
        ..f(50)
    };
    let mut got = list(early).await;
    got.sort();
    let mut want = vec![mine.id.clone(), theirs.id.clone()];
    want.sort();
    assert_eq!(got, want, "created in [100, 300)");
    // Pages: newest first, `before` the last id of the previous page.
    let page1 = list(f(3)).await;
    assert_eq!(page1.len(), 3);
    let page2 = list(JobFilter {
        before_id: page1.last().cloned(),
        ..f(3)
    })
    .await;
    assert_eq!(page2.len(), 1);
    assert!(!page1.contains(&page2[0]));
}
