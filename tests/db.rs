//! The database suite, run against both backends: every test below runs once on SQLite (a file
//! in a temporary folder) and once on PostgreSQL (a throwaway server, one database per test;
//! skipped with a message when PostgreSQL is not installed, failed when PHONETREE_REQUIRE_PG=1).

mod pg_support;

use std::collections::HashSet;
use std::sync::Arc;

use phonetree::config::database::{DatabaseConfig, DatabaseUrl};
use phonetree::db::calls::{self, CallFilter, CallRecord, Direction, TimelineEvent};
use phonetree::db::jobs::{Attempt, JobState, NewJob};
use phonetree::db::limits::{Claim, ClusterLimits};
use phonetree::db::outbound::JobFilter;
use phonetree::db::{self, Db, DbError, Stmt};
use serde_json::json;

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

async fn migrations_are_applied_once_and_a_newer_schema_is_refused(db: Db) {
    assert_eq!(db.schema_version().await.unwrap(), db::migrate::latest());
    assert_eq!(db.migrate().await.unwrap(), Vec::<u32>::new());
    db.backend()
        .execute(
            "INSERT INTO schema_migrations (version, applied_ms) VALUES ($1, $2)",
            vec![db::Val::Int(999), db::Val::Int(0)],
        )
        .await
        .unwrap();
    let err = db.migrate().await.unwrap_err();
    assert!(
        matches!(err, DbError::SchemaTooNew { found: 999, .. }),
        "{err:?}"
    );
}

fn record(id: &str, created_ms: i64) -> CallRecord {
    let mut r = CallRecord::new(
        id.to_string(),
        "node-a",
        Direction::Inbound,
        "+15550001",
        "5000",
        created_ms,
    );
    r.flow = Some("menu".into());
    r
}

async fn a_call_record_round_trips_with_its_timeline(db: Db) {
    let mut r = record("c1", 1_000);
    db.save_call(&r).await.unwrap();
    assert_eq!(db.get_call("c1").await.unwrap(), Some(r.clone()));
    r.account = Some("1001@pbx".into());
    r.flow_version = Some("abcdef123456".into());
    r.sip_call_id = Some("x@y".into());
    r.ringing_ms = Some(1_010);
    r.answered_ms = Some(1_020);
    r.ended_ms = Some(9_020);
    r.duration_ms = Some(8_000);
    r.end_reason = Some("caller_hangup".into());
    r.sip_status = Some(200);
    r.codec = Some("PCMU".into());
    r.dtmf = "1#".into();
    r.themes = vec!["bunny".into(), "robot".into()];
    r.nodes = vec!["menu".into(), "story".into(), "menu".into()];
    r.vars
        .insert("answer".into(), json!({"text": "yes", "n": 2}));
    r.job_id = Some("j1".into());
    r.attempt = Some(2);
    let events: Vec<TimelineEvent> = (0..3)
        .map(|i| TimelineEvent {
            seq: i,
            at_ms: i64::from(i) * 100 - 20,
            kind: "play".into(),
            data: json!({"event": "play", "node": "menu", "file": "menu.wav", "duration_ms": 2000}),
        })
        .collect();
    let mut stmts = vec![calls::upsert_call(&r)];
    stmts.extend(events.iter().map(|e| calls::insert_event("c1", e)));
    // A repeat of an event (a retried batch) is ignored.
    stmts.push(calls::insert_event("c1", &events[1]));
    db.backend().transaction(stmts).await.unwrap();
    assert_eq!(db.get_call("c1").await.unwrap(), Some(r.clone()));
    assert_eq!(db.call_timeline("c1").await.unwrap(), events);
    assert_eq!(db.get_call("nope").await.unwrap(), None);
    assert!(db.call_timeline("nope").await.unwrap().is_empty());
    // An update never changes the fixed facts.
    let mut other = r.clone();
    other.from = "+1999".into();
    other.created_ms = 5;
    db.save_call(&other).await.unwrap();
    let back = db.get_call("c1").await.unwrap().unwrap();
    assert_eq!((back.from.as_str(), back.created_ms), ("+15550001", 1_000));
}

async fn hostile_text_is_stored_literally(db: Db) {
    let evil = "'; DROP TABLE calls; -- \u{0} ünï \"$1\" ?1 %_\\";
    let mut r = record(evil, 1);
    r.from = evil.into();
    r.dtmf = evil.into();
    r.vars.insert(evil.into(), json!(evil));
    db.save_call(&r).await.unwrap();
    // NUL is stored as U+FFFD on both engines; everything else comes back as written.
    let clean = |s: &str| s.replace('\0', "\u{FFFD}");
    let back = db.get_call(evil).await.unwrap().unwrap();
    assert_eq!(back.id, clean(evil));
    assert_eq!(
        (back.from.as_str(), back.dtmf.as_str()),
        (clean(evil).as_str(), clean(evil).as_str())
    );
    assert_eq!(back.vars, r.vars, "JSON keeps NUL escaped");
    let found = db
        .list_calls(&CallFilter {
            number: Some("%_\\".into()),
            limit: 10,
            ..CallFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert!(db.user_by_name(evil).await.unwrap().is_none());
}

async fn calls_are_listed_by_filter_and_page(db: Db) {
    for i in 0..30i64 {
        let mut r = record(&format!("c{i:02}"), 1_000 + i);
        if i % 3 == 0 {
            r.direction = Direction::Outbound;
            r.to = format!("+4930{i:04}");
            r.job_id = Some("job-x".into());
        }
        if i % 5 == 0 {
            r.flow = Some("other".into());
        }
        db.save_call(&r).await.unwrap();
    }
    let ids = |v: Vec<CallRecord>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let all = |f: CallFilter| {
        let db = db.clone();
        async move { ids(db.list_calls(&f).await.unwrap()) }
    };
    let page1 = all(CallFilter {
        limit: 10,
        ..CallFilter::default()
    })
    .await;
    assert_eq!(
        page1.first().map(String::as_str),
        Some("c29"),
        "newest first"
    );
    assert_eq!(page1.len(), 10);
    let page2 = all(CallFilter {
        limit: 10,
        before_id: page1.last().cloned(),
        ..CallFilter::default()
    })
    .await;
    assert_eq!(page2.first().map(String::as_str), Some("c19"));
    let out = all(CallFilter {
        direction: Some(Direction::Outbound),
        limit: 100,
        ..CallFilter::default()
    })
    .await;
    assert_eq!(out.len(), 10);
    let by_number = all(CallFilter {
        number: Some("+49300012".into()),
        limit: 100,
        ..CallFilter::default()
    })
    .await;
    assert_eq!(by_number, vec!["c12"]);
    let by_flow_and_time = all(CallFilter {
        flow: Some("other".into()),
        since_ms: Some(1_005),
        until_ms: Some(1_020),
        limit: 100,
        ..CallFilter::default()
    })
    .await;
    assert_eq!(by_flow_and_time, vec!["c15", "c10", "c05"]);
    let by_job = all(CallFilter {
        job_id: Some("job-x".into()),
        limit: 3,
        ..CallFilter::default()
    })
    .await;
    assert_eq!(by_job, vec!["c27", "c24", "c21"]);
}

async fn retention_purges_old_calls_with_their_timelines(db: Db) {
    for i in 0..5i64 {
        let r = record(&format!("p{i}"), i * 1_000);
        let e = TimelineEvent {
            seq: 0,
            at_ms: 0,
            kind: "answer".into(),
            data: json!({"event": "answer"}),
        };
        db.backend()
            .transaction(vec![calls::upsert_call(&r), calls::insert_event(&r.id, &e)])
            .await
            .unwrap();
    }
    assert_eq!(db.purge_calls(3_000, 2).await.unwrap(), 2, "bounded batch");
    assert_eq!(db.purge_calls(3_000, 100).await.unwrap(), 1);
    assert_eq!(db.purge_calls(3_000, 100).await.unwrap(), 0);
    assert!(db.get_call("p0").await.unwrap().is_none());
    assert!(db.call_timeline("p0").await.unwrap().is_empty());
    assert!(db.get_call("p3").await.unwrap().is_some());
    assert_eq!(db.call_timeline("p3").await.unwrap().len(), 1);
}

fn new_job(run_at_ms: i64) -> NewJob {
    NewJob {
        request: json!({"to": "+15550002", "message": "disk full"}),
        run_at_ms,
        max_attempts: 3,
        ..NewJob::default()
    }
}

async fn jobs_are_created_once_per_idempotency_key(db: Db) {
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

async fn concurrent_claims_never_share_a_job(db: Db) {
    const JOBS: usize = 40;
    for _ in 0..JOBS {
        db.create_job(&new_job(0), 0).await.unwrap();
    }
    let claimed = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for n in 0..4 {
        let node = db.with_node_id(&format!("node-{n}"));
        let claimed = claimed.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                match node.claim_due_job(100, 60_000).await {
                    Ok(Some(j)) => {
                        assert_eq!(j.state, JobState::Running);
                        assert_eq!(j.lease_owner.as_deref(), Some(node.node_id()));
                        claimed.lock().unwrap().push(j.id);
                    }
                    Ok(None) => break,
                    // SQLite: a writer may wait out its busy timeout under contention.
                    Err(e) if e.is_transient() => continue,
                    Err(e) => panic!("{e}"),
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let claimed = claimed.lock().unwrap().clone();
    let unique: HashSet<_> = claimed.iter().collect();
    assert_eq!(claimed.len(), JOBS, "every job claimed");
    assert_eq!(unique.len(), JOBS, "no job claimed twice");
    assert_eq!(db.count_jobs(JobState::Running).await.unwrap(), JOBS as u64);
}

async fn only_due_jobs_are_claimed_in_run_at_order(db: Db) {
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

async fn expired_leases_requeue_and_interrupt_the_attempt(db: Db) {
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

async fn jobs_finish_requeue_cancel_and_acknowledge(db: Db) {
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

async fn users_tokens_and_sessions(db: Db) {
    assert_eq!(db.count_users().await.unwrap(), 0);
    let u = db
        .create_user("admin", "$argon2id$x", "admin", 5)
        .await
        .unwrap();
    assert_eq!(
        (u.name.as_str(), u.role.as_str(), u.disabled),
        ("admin", "admin", false)
    );
    assert!(matches!(
        db.create_user("admin", "h", "viewer", 6).await,
        Err(DbError::Query(_))
    ));
    assert_eq!(db.count_users().await.unwrap(), 1);
    db.create_session("s1", &u.id, "csrf1", 10, 100)
        .await
        .unwrap();
    let s = db.session("s1", 50).await.unwrap().unwrap();
    assert_eq!((s.user.name.as_str(), s.csrf.as_str()), ("admin", "csrf1"));
    assert!(db.session("s1", 100).await.unwrap().is_none(), "expired");
    assert!(db.session("s2", 50).await.unwrap().is_none());
    db.touch_login(&u.id, 55).await.unwrap();
    assert_eq!(
        db.user_by_name("admin")
            .await
            .unwrap()
            .unwrap()
            .last_login_ms,
        Some(55)
    );
    // A new password ends the sessions.
    assert!(db.set_password("admin", "$argon2id$y").await.unwrap());
    assert!(db.session("s1", 50).await.unwrap().is_none());
    assert!(!db.set_password("nobody", "h").await.unwrap());
    db.create_session("s3", &u.id, "c", 10, 100).await.unwrap();
    assert!(db.set_user_disabled("admin", true).await.unwrap());
    assert!(db.session("s3", 50).await.unwrap().is_none());
    db.create_session("s4", &u.id, "c", 10, 100).await.unwrap();
    db.delete_session("s4").await.unwrap();
    db.create_session("s5", &u.id, "c", 10, 20).await.unwrap();
    assert_eq!(db.purge_sessions(30).await.unwrap(), 1);

    let t = db.create_token("ci", "hash-1", 7).await.unwrap();
    assert!(
        db.create_token("ci", "hash-2", 7).await.is_err(),
        "names are unique"
    );
    assert_eq!(db.token_by_hash("hash-1").await.unwrap().unwrap().id, t.id);
    assert!(db.token_by_hash("hash-x").await.unwrap().is_none());
    db.touch_token(&t.id, 9).await.unwrap();
    assert_eq!(db.list_tokens().await.unwrap()[0].last_used_ms, Some(9));
    assert_eq!(db.count_tokens().await.unwrap(), 1);
    assert!(db.delete_token("ci").await.unwrap());
    assert!(!db.delete_token("ci").await.unwrap());
    assert!(db.token_by_hash("hash-1").await.unwrap().is_none());
}

async fn alerts_schedules_and_heartbeats(db: Db) {
    let payload = json!({"version": "4", "status": "firing"});
    let a = db
        .insert_alert(
            "alertmanager",
            Some("{}:{}"),
            "firing",
            Some("k1"),
            &payload,
            5,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a.payload, payload);
    assert!(
        db.insert_alert("alertmanager", None, "firing", Some("k1"), &payload, 6)
            .await
            .unwrap()
            .is_none(),
        "a resend is not stored twice"
    );
    db.set_alert_actions(&a.id, &json!([{"job": "j1"}]))
        .await
        .unwrap();
    let listed = db.list_alerts(10).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].actions, json!([{"job": "j1"}]));

    let id = db
        .create_schedule(
            "daily",
            "0 9 * * *",
            "Europe/Berlin",
            &json!({"to": "+1"}),
            Some(100),
            1,
        )
        .await
        .unwrap();
    assert!(db
        .schedule_ran(&id, 100, Some(200), Some(100))
        .await
        .unwrap());
    assert!(
        !db.schedule_ran(&id, 100, Some(200), Some(100))
            .await
            .unwrap(),
        "fired once"
    );
    let s = &db.list_schedules().await.unwrap()[0];
    assert_eq!(
        (s.next_run_ms, s.last_run_ms, s.enabled),
        (Some(200), Some(100), true)
    );
    assert!(db.delete_schedule("daily").await.unwrap());

    db.heartbeat(1, 10, 3, &json!({"flows": 2})).await.unwrap();
    db.with_node_id("node-b")
        .heartbeat(2, 11, 0, &json!({}))
        .await
        .unwrap();
    db.heartbeat(1, 20, 4, &json!({"flows": 2})).await.unwrap();
    let hb = db.heartbeats().await.unwrap();
    assert_eq!(hb.len(), 2);
    assert_eq!(
        (hb[0].node_id.as_str(), hb[0].seen_ms, hb[0].active_calls),
        ("node-a", 20, 4)
    );
    let _ = Stmt::new("SELECT 1", vec![]);
}

/// `db::outbound`: a restarted node releases its own running jobs (attempt `interrupted`) but
/// not another node's; an alert episode's queued jobs are cancelled, its running one is not;
/// the API's list filters by state, number, creation time and page.
async fn outbound_restart_release_alert_cancel_and_filtered_list(db: Db) {
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

/// `outbound::scheduler::tick`: two nodes ticking at the same moment create one job for the
/// occurrence (its idempotency key) and move the schedule once; a tick after ten minutes down
/// fires only the latest missed run; a run older than the catch-up window is skipped and the
/// schedule moved on without a job.
async fn a_schedule_fires_once_across_two_nodes_and_catches_up_after_downtime(db: Db) {
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
    let claimed = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for n in 0..4 {
        let node = db.with_node_id(&format!("node-{n}"));
        let claimed = claimed.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                match node.claim_due_job_limited(now, lease_until, &limits).await {
                    Ok(Claim::Job(j)) => {
                        assert_eq!(j.lease_owner.as_deref(), Some(node.node_id()));
                        claimed.lock().unwrap().push(j.id.clone());
                    }
                    Ok(Claim::NothingDue | Claim::AtLimit) => break,
                    Err(e) if e.is_transient() => continue,
                    Err(e) => panic!("{e}"),
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let ids = claimed.lock().unwrap().clone();
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        ids.len(),
        "a job claimed twice"
    );
    ids
}

async fn cluster_max_concurrent_holds_across_nodes_and_a_dead_nodes_jobs_come_back(db: Db) {
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

async fn cluster_rate_holds_across_nodes_on_one_shared_bucket(db: Db) {
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
