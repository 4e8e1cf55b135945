//! Background upkeep of the database: deleting call records past `register.retention` and
//! expired login sessions (hourly, in bounded batches so a large purge never holds the
//! database for long), and this node's heartbeat row (every [`HEARTBEAT`]).

use std::time::Duration;

use serde_json::Value;

use crate::db::DbSlot;

/// How often old records and sessions are purged.
pub const PURGE_EVERY: Duration = Duration::from_secs(3600);
/// Calls deleted per statement.
pub const PURGE_BATCH: u32 = 1000;
/// How often the heartbeat row is written (it carries the live calls the other nodes show).
pub const HEARTBEAT: Duration = Duration::from_secs(5);

/// Purges forever (first pass a minute after start, then hourly).
pub async fn retention(slot: DbSlot, retention: Option<Duration>) {
    tokio::time::sleep(Duration::from_secs(60)).await;
    let mut tick = tokio::time::interval(PURGE_EVERY);
    loop {
        tick.tick().await;
        purge_once(&slot, retention).await;
    }
}

/// One purge pass; the calls deleted.
pub async fn purge_once(slot: &DbSlot, retention: Option<Duration>) -> u64 {
    let Some(db) = slot.get() else { return 0 };
    let now = crate::db::now_ms();
    if let Err(e) = db.purge_sessions(now).await {
        tracing::debug!(error = %e, "session purge failed");
    }
    let Some(keep) = retention else { return 0 };
    let before = now - keep.as_millis() as i64;
    let mut total = 0;
    loop {
        match db.purge_calls(before, PURGE_BATCH).await {
            Ok(n) => {
                total += n;
                if n < u64::from(PURGE_BATCH) {
                    break;
                }
                tokio::task::yield_now().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "call register retention: purge failed; will retry");
                break;
            }
        }
    }
    if total > 0 {
        tracing::info!(
            calls = total,
            "call register retention: old records deleted"
        );
    }
    total
}

/// Writes this node's heartbeat forever; `info` is called each time for the current facts.
pub async fn heartbeat<F>(slot: DbSlot, started_ms: i64, info: F)
where
    F: Fn() -> (u64, Value) + Send + 'static,
{
    let mut tick = tokio::time::interval(HEARTBEAT);
    loop {
        tick.tick().await;
        let Some(db) = slot.get() else { continue };
        let (calls, info) = info();
        if let Err(e) = db
            .heartbeat(started_ms, crate::db::now_ms(), calls, &info)
            .await
        {
            tracing::debug!(error = %e, "heartbeat not written");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::calls::{CallRecord, Direction};

    #[tokio::test]
    async fn a_purge_pass_deletes_only_records_past_retention_and_expired_sessions() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = crate::config::database::DatabaseConfig {
            data_dir: dir.path().to_path_buf(),
            ..Default::default()
        };
        let db = crate::db::open(&cfg, "n").await.unwrap();
        let now = crate::db::now_ms();
        let day = 86_400_000;
        for (id, age) in [("old1", 3 * day), ("old2", 2 * day), ("new", day / 2)] {
            let r = CallRecord::new(id.into(), "n", Direction::Inbound, "a", "b", now - age);
            db.save_call(&r).await.unwrap();
        }
        let u = db.create_user("u", "h", "admin", now).await.unwrap();
        db.create_session("gone", &u.id, "c", now - 10, now - 1)
            .await
            .unwrap();
        db.create_session("live", &u.id, "c", now, now + day)
            .await
            .unwrap();
        let slot = DbSlot::ready(db.clone());
        assert_eq!(purge_once(&slot, None).await, 0, "forever keeps everything");
        assert!(db.session("live", now).await.unwrap().is_some());
        assert_eq!(
            purge_once(&slot, Some(Duration::from_secs(86_400))).await,
            2
        );
        assert!(db.get_call("new").await.unwrap().is_some());
        assert!(db.get_call("old1").await.unwrap().is_none());
        assert_eq!(
            db.purge_sessions(now).await.unwrap(),
            0,
            "expired ones went already"
        );
        assert_eq!(
            purge_once(&DbSlot::default(), Some(Duration::from_secs(1))).await,
            0
        );
    }
}
