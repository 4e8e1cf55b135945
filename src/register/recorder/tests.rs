//! A call's trace written through a real register to SQLite, read back.

use std::time::Duration;

use super::*;
use crate::db::{Db, DbSlot};
use crate::sim::event::MediaRef;

async fn register() -> (Register, Db, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = crate::config::database::DatabaseConfig {
        data_dir: dir.path().to_path_buf(),
        ..Default::default()
    };
    let db = crate::db::open(&cfg, "node-t").await.unwrap();
    let reg = Register::writer_only(DbSlot::ready(db.clone()), 10_000, None, "node-t");
    (reg, db, dir)
}

const T: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_call_leaves_its_record_and_timeline() {
    let (reg, db, _d) = register().await;
    let t0 = Instant::now();
    let ms = Duration::from_millis;
    let mut tr = CallRecorder::start(&reg, Direction::Inbound, "+15550001", "5000", t0);
    let id = tr.id().to_string();
    tr.set_flow("menu", "abc123");
    tr.set_account("1001@pbx");
    tr.ringing(t0 + ms(5));
    tr.answered(t0 + ms(20), "PCMU");
    tr.start_theme("bunny");
    let node = |n: &str| EventKind::Node { node: n.into() };
    let key = |d: &str| EventKind::Dtmf { digit: d.into() };
    tr.traced(
        t0 + ms(20),
        &EventKind::Answer {
            flow: "menu".into(),
            version: "abc123".into(),
        },
    );
    tr.traced(t0 + ms(20), &node("menu"));
    tr.traced(
        t0 + ms(20),
        &EventKind::Play {
            node: "menu".into(),
            media: MediaRef::File("sound/bunny/menu.wav".into()),
            duration_ms: 0,
        },
    );
    tr.traced(t0 + ms(900), &key("1"));
    tr.traced(t0 + ms(900), &node("route"));
    tr.traced(t0 + ms(900), &node("story"));
    tr.traced(
        t0 + ms(901),
        &EventKind::Theme {
            theme: "robot".into(),
        },
    );
    tr.traced(t0 + ms(950), &key("#"));
    tr.traced(
        t0 + ms(960),
        &EventKind::Http {
            node: "story".into(),
            method: "POST".into(),
            url: "https://crm.example.com/x?key=SECRET".into(),
            body: Some(json!({"token": "SECRET"})),
        },
    );
    tr.set_vars([(&"answer".to_string(), &json!("yes"))]);
    tr.traced(
        t0 + ms(1000),
        &EventKind::Hangup {
            reason: "flow".into(),
        },
    );
    tr.end(t0 + ms(2020), "flow_hangup", Some(200));
    assert!(reg.flush(T).await);

    let r = db.get_call(&id).await.unwrap().unwrap();
    assert_eq!(r.node_id, "node-t");
    assert_eq!((r.from.as_str(), r.to.as_str()), ("+15550001", "5000"));
    assert_eq!(r.flow.as_deref(), Some("menu"));
    assert_eq!(r.account.as_deref(), Some("1001@pbx"));
    assert_eq!(r.ringing_ms, Some(r.created_ms + 5));
    assert_eq!(r.answered_ms, Some(r.created_ms + 20));
    assert_eq!(r.ended_ms, Some(r.created_ms + 2020));
    assert_eq!(r.duration_ms, Some(2000));
    assert_eq!(
        (r.sip_status, r.codec.as_deref()),
        (Some(200), Some("PCMU"))
    );
    assert_eq!(r.end_reason.as_deref(), Some("flow_hangup"));
    assert_eq!(r.dtmf, "1#");
    assert_eq!(r.nodes, ["menu", "route", "story"]);
    assert_eq!(r.themes, ["bunny", "robot"]);
    assert_eq!(r.vars["answer"], "yes");
    let kinds: Vec<String> = db
        .call_timeline(&id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "invite", "ringing", "answer", "node", "play", "dtmf", "node", "node", "theme", "dtmf",
            "http", "hangup", "end"
        ]
    );
    let tl = db.call_timeline(&id).await.unwrap();
    assert_eq!(tl[2].data["codec"], "PCMU");
    assert_eq!(tl[2].data["version"], "abc123");
    assert_eq!(tl[4].data["file"], "sound/bunny/menu.wav");
    assert_eq!(tl[4].at_ms, 20);
    let http = tl[10].data.to_string();
    assert!(!http.contains("SECRET"), "{http}");
}

#[tokio::test]
async fn everything_a_caller_can_grow_is_bounded() {
    let (reg, db, _d) = register().await;
    let t0 = Instant::now();
    let mut tr = CallRecorder::start(&reg, Direction::Inbound, "a", "b", t0);
    let id = tr.id().to_string();
    tr.answered(t0, "PCMA");
    let one = EventKind::Dtmf { digit: "1".into() };
    for i in 0..(MAX_EVENTS + 100) {
        tr.traced(t0, &one);
        let node = if i % 2 == 0 { "a" } else { "b" };
        tr.traced(t0, &EventKind::Node { node: node.into() });
    }
    let big = json!("x".repeat(MAX_VAR_JSON + 10));
    tr.set_vars([(&"transcript".to_string(), &big)]);
    tr.end(t0, "caller_hangup", None);
    assert!(reg.flush(T).await);
    let r = db.get_call(&id).await.unwrap().unwrap();
    assert_eq!(r.dtmf.len(), MAX_DTMF);
    assert_eq!(r.nodes.len(), MAX_NODES);
    assert!(r.vars["transcript"].as_str().unwrap().contains("not kept"));
    let tl = db.call_timeline(&id).await.unwrap();
    assert_eq!(
        tl.len() as u32,
        MAX_EVENTS + 1,
        "the bound plus the end entry"
    );
    let end = tl.last().unwrap();
    assert_eq!(end.kind, "end");
    assert!(end.data["events_not_kept"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn a_trace_dropped_without_an_end_is_recorded_as_aborted() {
    let (reg, db, _d) = register().await;
    let tr = CallRecorder::start(&reg, Direction::Outbound, "a", "b", Instant::now());
    let id = tr.id().to_string();
    drop(tr);
    assert!(reg.flush(T).await);
    let r = db.get_call(&id).await.unwrap().unwrap();
    assert_eq!(r.end_reason.as_deref(), Some("aborted"));
    assert_eq!(r.direction, Direction::Outbound);
    assert_eq!(r.duration_ms, None);
}

#[test]
fn outcomes() {
    assert_eq!(outcome(true, "caller_hangup"), "answered");
    assert_eq!(outcome(false, "cancelled"), "cancelled");
    assert_eq!(outcome(false, "rejected:no_route"), "rejected");
    assert_eq!(outcome(false, "aborted"), "failed");
}
