//! Alerts received, outbound schedules and node heartbeats.

use super::*;

pub(super) async fn alerts_schedules_and_heartbeats(db: Db) {
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
