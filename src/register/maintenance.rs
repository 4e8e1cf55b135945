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
/// How often the heartbeat row is written.
pub const HEARTBEAT: Duration = Duration::from_secs(15);

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
