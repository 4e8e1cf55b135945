//! Call records and the schema: migrations applied once (a newer schema refused), a record
//! round-tripping with its timeline, hostile text stored literally, listing by filter and page,
//! and retention purging old calls with their timelines.

use super::*;

pub(super) async fn migrations_are_applied_once_and_a_newer_schema_is_refused(db: Db) {
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

pub(super) async fn a_call_record_round_trips_with_its_timeline(db: Db) {
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

pub(super) async fn hostile_text_is_stored_literally(db: Db) {
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

pub(super) async fn calls_are_listed_by_filter_and_page(db: Db) {
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

pub(super) async fn retention_purges_old_calls_with_their_timelines(db: Db) {
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
