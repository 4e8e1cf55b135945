//! The operational tables: alert notifications received (deduplicated), recurring schedules,
//! and node heartbeats (one row per node, refreshed while it runs; the scale-out issue reads
//! them to show the cluster).

use serde::Serialize;
use serde_json::Value;

use super::calls::json_val;
use super::{Db, DbError, Row};
use crate::db_params;

/// A received notification (an Alertmanager webhook call, …).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertNotification {
    pub id: String,
    pub node_id: String,
    pub received_ms: i64,
    /// `alertmanager`, …
    pub source: String,
    pub group_key: Option<String>,
    pub status: String,
    pub dedupe_key: Option<String>,
    pub payload: Value,
    /// What it triggered (job ids, SMS ids), as the receiver records it.
    pub actions: Value,
}

/// A recurring schedule that creates jobs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Schedule {
    pub id: String,
    pub name: String,
    pub cron: String,
    pub tz: String,
    pub request: Value,
    pub enabled: bool,
    pub next_run_ms: Option<i64>,
    pub last_run_ms: Option<i64>,
    pub created_ms: i64,
}

/// One node's last heartbeat.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Heartbeat {
    pub node_id: String,
    pub started_ms: i64,
    pub seen_ms: i64,
    pub version: String,
    pub active_calls: u64,
    pub info: Value,
}

const INSERT_ALERT: &str = "INSERT INTO alert_notifications (id, node_id, received_ms, source, \
     group_key, status, dedupe_key, payload, actions) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
     ON CONFLICT (dedupe_key) DO NOTHING";
const ALERTS: &str = "SELECT id, node_id, received_ms, source, group_key, status, dedupe_key, \
     payload, actions FROM alert_notifications ORDER BY id DESC LIMIT $1";
const ALERT: &str = "SELECT id, node_id, received_ms, source, group_key, status, dedupe_key, \
     payload, actions FROM alert_notifications WHERE id = $1";
const SET_ALERT_ACTIONS: &str = "UPDATE alert_notifications SET actions = $2 WHERE id = $1";

const INSERT_SCHEDULE: &str = "INSERT INTO schedules (id, name, cron, tz, request, enabled, \
     next_run_ms, created_ms) VALUES ($1, $2, $3, $4, $5, 1, $6, $7)";
const SCHEDULES: &str = "SELECT id, name, cron, tz, request, enabled, next_run_ms, \
     last_run_ms, created_ms FROM schedules ORDER BY name";
const SCHEDULE_RAN: &str = "UPDATE schedules SET last_run_ms = $2, next_run_ms = $3 \
     WHERE id = $1 AND (CAST($4 AS BIGINT) IS NULL OR next_run_ms = $4)";
const SCHEDULE_MOVED: &str = "UPDATE schedules SET next_run_ms = $2 \
     WHERE id = $1 AND next_run_ms = $3";
const DELETE_SCHEDULE: &str = "DELETE FROM schedules WHERE name = $1";

const HEARTBEAT: &str = "INSERT INTO node_heartbeats (node_id, started_ms, seen_ms, version, \
     active_calls, info) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (node_id) DO UPDATE SET \
     started_ms = excluded.started_ms, seen_ms = excluded.seen_ms, version = excluded.version, \
     active_calls = excluded.active_calls, info = excluded.info";
const HEARTBEATS: &str = "SELECT node_id, started_ms, seen_ms, version, active_calls, info \
     FROM node_heartbeats ORDER BY node_id";

fn alert(r: &Row) -> Result<AlertNotification, DbError> {
    Ok(AlertNotification {
        id: r.text(0)?,
        node_id: r.text(1)?,
        received_ms: r.int(2)?,
        source: r.text(3)?,
        group_key: r.opt_text(4)?,
        status: r.text(5)?,
        dedupe_key: r.opt_text(6)?,
        payload: r.json(7, Value::Null)?,
        actions: r.json(8, Value::Array(vec![]))?,
    })
}

fn schedule(r: &Row) -> Result<Schedule, DbError> {
    Ok(Schedule {
        id: r.text(0)?,
        name: r.text(1)?,
        cron: r.text(2)?,
        tz: r.text(3)?,
        request: r.json(4, Value::Null)?,
        enabled: r.bool(5)?,
        next_run_ms: r.opt_int(6)?,
        last_run_ms: r.opt_int(7)?,
        created_ms: r.int(8)?,
    })
}

impl Db {
    /// Stores a notification; `None` if one with the same `dedupe_key` exists (a resend).
    pub async fn insert_alert(
        &self,
        source: &str,
        group_key: Option<&str>,
        status: &str,
        dedupe_key: Option<&str>,
        payload: &Value,
        now_ms: i64,
    ) -> Result<Option<AlertNotification>, DbError> {
        let id = super::new_id();
        let n = self
            .backend
            .execute(
                INSERT_ALERT,
                db_params![
                    &id,
                    self.node_id(),
                    now_ms,
                    source,
                    group_key,
                    status,
                    dedupe_key,
                    json_val(payload),
                    "[]",
                ],
            )
            .await?;
        if n == 0 {
            return Ok(None);
        }
        let rows = self.backend.query(ALERT, db_params![&id]).await?;
        rows.first().map(alert).transpose()
    }

    /// Records what a notification triggered.
    pub async fn set_alert_actions(&self, id: &str, actions: &Value) -> Result<(), DbError> {
        self.backend
            .execute(SET_ALERT_ACTIONS, db_params![id, json_val(actions)])
            .await
            .map(|_| ())
    }

    /// The newest notifications.
    pub async fn list_alerts(&self, limit: u32) -> Result<Vec<AlertNotification>, DbError> {
        let limit = i64::from(limit.clamp(1, super::calls::MAX_PAGE));
        let rows = self.backend.query(ALERTS, db_params![limit]).await?;
        rows.iter().map(alert).collect()
    }

    pub async fn create_schedule(
        &self,
        name: &str,
        cron: &str,
        tz: &str,
        request: &Value,
        next_run_ms: Option<i64>,
        now_ms: i64,
    ) -> Result<String, DbError> {
        let id = super::new_id();
        self.backend
            .execute(
                INSERT_SCHEDULE,
                db_params![&id, name, cron, tz, json_val(request), next_run_ms, now_ms],
            )
            .await?;
        Ok(id)
    }

    pub async fn list_schedules(&self) -> Result<Vec<Schedule>, DbError> {
        let rows = self.backend.query(SCHEDULES, vec![]).await?;
        rows.iter().map(schedule).collect()
    }

    /// Moves a schedule to its next run, only if its `next_run_ms` is still `expected` (so two
    /// nodes do not both fire it); `false` if another node got there first.
    pub async fn schedule_ran(
        &self,
        id: &str,
        ran_ms: i64,
        next_run_ms: Option<i64>,
        expected: Option<i64>,
    ) -> Result<bool, DbError> {
        let n = self
            .backend
            .execute(SCHEDULE_RAN, db_params![id, ran_ms, next_run_ms, expected])
            .await?;
        Ok(n == 1)
    }

    /// Moves a schedule past runs skipped (not fired), only if its `next_run_ms` is still
    /// `expected`; `last_run_ms` stays.
    pub async fn schedule_moved(
        &self,
        id: &str,
        next_run_ms: Option<i64>,
        expected: i64,
    ) -> Result<bool, DbError> {
        let n = self
            .backend
            .execute(SCHEDULE_MOVED, db_params![id, next_run_ms, expected])
            .await?;
        Ok(n == 1)
    }

    pub async fn delete_schedule(&self, name: &str) -> Result<bool, DbError> {
        Ok(self
            .backend
            .execute(DELETE_SCHEDULE, db_params![name])
            .await?
            == 1)
    }

    /// Writes this node's heartbeat.
    pub async fn heartbeat(
        &self,
        started_ms: i64,
        now_ms: i64,
        active_calls: u64,
        info: &Value,
    ) -> Result<(), DbError> {
        self.backend
            .execute(
                HEARTBEAT,
                db_params![
                    self.node_id(),
                    started_ms,
                    now_ms,
                    env!("CARGO_PKG_VERSION"),
                    active_calls as i64,
                    json_val(info),
                ],
            )
            .await
            .map(|_| ())
    }

    /// Every node's last heartbeat.
    pub async fn heartbeats(&self) -> Result<Vec<Heartbeat>, DbError> {
        let rows = self.backend.query(HEARTBEATS, vec![]).await?;
        rows.iter()
            .map(|r| {
                Ok(Heartbeat {
                    node_id: r.text(0)?,
                    started_ms: r.int(1)?,
                    seen_ms: r.int(2)?,
                    version: r.text(3)?,
                    active_calls: r.int(4)? as u64,
                    info: r.json(5, Value::Null)?,
                })
            })
            .collect()
    }
}
