//! The call register's tables: `calls` (one row per call) and `call_events` (its timeline).
//!
//! Writes come as [`Stmt`]s ([`upsert_call`], [`insert_event`]) so the register's writer can
//! batch many calls' records into one transaction; reads are [`Db`] methods. The timeline holds
//! the events `phonetree simulate` prints (`{"event":"play",…}`), plus `node` entries and SIP
//! milestones, each as its JSON object.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Db, DbError, Row, Stmt, Val};
use crate::db_params;

/// Which way a call went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Inbound,
    Outbound,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }

    pub fn parse(s: &str) -> Option<Direction> {
        match s {
            "inbound" | "in" => Some(Direction::Inbound),
            "outbound" | "out" => Some(Direction::Outbound),
            _ => None,
        }
    }
}

/// One call as the register keeps it. Times are Unix milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    pub id: String,
    pub node_id: String,
    pub direction: Direction,
    pub from: String,
    pub to: String,
    pub account: Option<String>,
    pub flow: Option<String>,
    pub flow_version: Option<String>,
    pub sip_call_id: Option<String>,
    pub created_ms: i64,
    pub ringing_ms: Option<i64>,
    pub answered_ms: Option<i64>,
    pub ended_ms: Option<i64>,
    pub duration_ms: Option<i64>,
    /// Why the call ended (`caller_hangup`, `flow_hangup`, `rejected`, `cancelled`, …).
    pub end_reason: Option<String>,
    /// The final SIP status of the call's INVITE (200, 404, 487, …).
    pub sip_status: Option<u16>,
    pub codec: Option<String>,
    /// Keys pressed, in order (`"12#"`).
    pub dtmf: String,
    /// Themes the call was in, in order of first visit.
    pub themes: Vec<String>,
    /// Nodes entered, in order (repeats kept).
    pub nodes: Vec<String>,
    /// Variables saved by listen/agent/record/http nodes.
    pub vars: Map<String, Value>,
    /// For outbound calls: the job and its attempt number.
    pub job_id: Option<String>,
    pub attempt: Option<u32>,
}

impl CallRecord {
    /// A record with only the fixed facts set.
    pub fn new(
        id: String,
        node_id: &str,
        direction: Direction,
        from: &str,
        to: &str,
        created_ms: i64,
    ) -> CallRecord {
        CallRecord {
            id,
            node_id: node_id.to_string(),
            direction,
            from: from.to_string(),
            to: to.to_string(),
            account: None,
            flow: None,
            flow_version: None,
            sip_call_id: None,
            created_ms,
            ringing_ms: None,
            answered_ms: None,
            ended_ms: None,
            duration_ms: None,
            end_reason: None,
            sip_status: None,
            codec: None,
            dtmf: String::new(),
            themes: Vec::new(),
            nodes: Vec::new(),
            vars: Map::new(),
            job_id: None,
            attempt: None,
        }
    }
}

/// One timeline entry. `at_ms` counts from the answer (like `simulate`; negative before it);
/// `data` is the whole event object, `event` name included.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEvent {
    pub seq: u32,
    pub at_ms: i64,
    pub kind: String,
    pub data: Value,
}

/// What [`Db::list_calls`] returns, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallFilter {
    pub direction: Option<Direction>,
    /// A part of the caller's or the called number (or URI).
    pub number: Option<String>,
    pub flow: Option<String>,
    /// Created at or after (Unix ms).
    pub since_ms: Option<i64>,
    /// Created before (Unix ms).
    pub until_ms: Option<i64>,
    /// Page after this id (the last id of the previous page).
    pub before_id: Option<String>,
    pub job_id: Option<String>,
    /// At most this many (capped at [`MAX_PAGE`]).
    pub limit: u32,
}

/// The largest page [`Db::list_calls`] returns.
pub const MAX_PAGE: u32 = 1000;

macro_rules! call_cols {
    () => {
        "id, node_id, direction, from_uri, to_uri, account, flow, flow_version, \
         sip_call_id, created_ms, ringing_ms, answered_ms, ended_ms, duration_ms, end_reason, \
         sip_status, codec, dtmf, themes, nodes, vars, job_id, attempt"
    };
}

const UPSERT: &str = concat!(
    "INSERT INTO calls (",
    call_cols!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
     $18, $19, $20, $21, $22, $23) ON CONFLICT (id) DO UPDATE SET \
     account = excluded.account, flow = excluded.flow, flow_version = excluded.flow_version, \
     sip_call_id = excluded.sip_call_id, ringing_ms = excluded.ringing_ms, \
     answered_ms = excluded.answered_ms, ended_ms = excluded.ended_ms, \
     duration_ms = excluded.duration_ms, end_reason = excluded.end_reason, \
     sip_status = excluded.sip_status, codec = excluded.codec, dtmf = excluded.dtmf, \
     themes = excluded.themes, nodes = excluded.nodes, vars = excluded.vars, \
     job_id = excluded.job_id, attempt = excluded.attempt"
);

const INSERT_EVENT: &str = "INSERT INTO call_events (call_id, seq, at_ms, kind, data) \
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (call_id, seq) DO NOTHING";

const GET: &str = concat!("SELECT ", call_cols!(), " FROM calls WHERE id = $1");

const LIST: &str = concat!(
    "SELECT ",
    call_cols!(),
    " FROM calls WHERE (CAST($1 AS TEXT) IS NULL OR direction = $1) \
     AND (CAST($2 AS TEXT) IS NULL OR from_uri LIKE $2 ESCAPE '\\' OR to_uri LIKE $2 ESCAPE '\\') \
     AND (CAST($3 AS TEXT) IS NULL OR flow = $3) \
     AND (CAST($4 AS BIGINT) IS NULL OR created_ms >= $4) \
     AND (CAST($5 AS BIGINT) IS NULL OR created_ms < $5) \
     AND (CAST($6 AS TEXT) IS NULL OR id < $6) \
     AND (CAST($7 AS TEXT) IS NULL OR job_id = $7) \
     ORDER BY id DESC LIMIT $8"
);

const TIMELINE: &str = "SELECT seq, at_ms, kind, data FROM call_events WHERE call_id = $1 \
     ORDER BY seq";

const PURGE_EVENTS: &str = "DELETE FROM call_events WHERE call_id IN \
     (SELECT id FROM calls WHERE created_ms < $1 ORDER BY created_ms, id LIMIT $2)";
const PURGE_CALLS: &str = "DELETE FROM calls WHERE id IN \
     (SELECT id FROM calls WHERE created_ms < $1 ORDER BY created_ms, id LIMIT $2)";

/// Inserts the record, or updates everything but the fixed facts if it exists.
pub fn upsert_call(r: &CallRecord) -> Stmt {
    Stmt::new(
        UPSERT,
        db_params![
            &r.id,
            &r.node_id,
            r.direction.as_str(),
            &r.from,
            &r.to,
            r.account.clone(),
            r.flow.clone(),
            r.flow_version.clone(),
            r.sip_call_id.clone(),
            r.created_ms,
            r.ringing_ms,
            r.answered_ms,
            r.ended_ms,
            r.duration_ms,
            r.end_reason.clone(),
            r.sip_status,
            r.codec.clone(),
            &r.dtmf,
            json_val(&r.themes),
            json_val(&r.nodes),
            json_val(&r.vars),
            r.job_id.clone(),
            r.attempt,
        ],
    )
}

/// Adds one timeline entry (a repeat of the same `seq` is ignored).
pub fn insert_event(call_id: &str, e: &TimelineEvent) -> Stmt {
    Stmt::new(
        INSERT_EVENT,
        db_params![call_id, e.seq, e.at_ms, &e.kind, e.data.to_string()],
    )
}

/// A JSON column's text (lists and maps of plain values cannot fail to serialize).
pub(crate) fn json_val<T: Serialize>(v: &T) -> Val {
    // serde_json escapes NUL as \u0000, which PostgreSQL text accepts.
    Val::Text(serde_json::to_string(v).unwrap_or_else(|_| "null".into()))
}

fn record(r: &Row) -> Result<CallRecord, DbError> {
    let direction = r.text(2)?;
    Ok(CallRecord {
        id: r.text(0)?,
        node_id: r.text(1)?,
        direction: Direction::parse(&direction)
            .ok_or_else(|| DbError::Decode(format!("unknown direction `{direction}`")))?,
        from: r.text(3)?,
        to: r.text(4)?,
        account: r.opt_text(5)?,
        flow: r.opt_text(6)?,
        flow_version: r.opt_text(7)?,
        sip_call_id: r.opt_text(8)?,
        created_ms: r.int(9)?,
        ringing_ms: r.opt_int(10)?,
        answered_ms: r.opt_int(11)?,
        ended_ms: r.opt_int(12)?,
        duration_ms: r.opt_int(13)?,
        end_reason: r.opt_text(14)?,
        sip_status: r.opt_int(15)?.map(|v| v as u16),
        codec: r.opt_text(16)?,
        dtmf: r.text(17)?,
        themes: r.json(18, Vec::new())?,
        nodes: r.json(19, Vec::new())?,
        vars: r.json(20, Map::new())?,
        job_id: r.opt_text(21)?,
        attempt: r.opt_int(22)?.map(|v| v as u32),
    })
}

/// `%part%` for LIKE, with the pattern characters in `part` taken literally.
fn like_pattern(part: &str) -> String {
    let mut s = String::with_capacity(part.len() + 2);
    s.push('%');
    for c in part.chars() {
        if matches!(c, '%' | '_' | '\\') {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('%');
    s
}

impl Db {
    /// Writes a record (insert or update) on its own; the register batches [`upsert_call`].
    pub async fn save_call(&self, r: &CallRecord) -> Result<(), DbError> {
        let s = upsert_call(r);
        self.backend.execute(s.sql, s.params).await.map(|_| ())
    }

    pub async fn get_call(&self, id: &str) -> Result<Option<CallRecord>, DbError> {
        let rows = self.backend.query(GET, db_params![id]).await?;
        rows.first().map(record).transpose()
    }

    /// A call's timeline, in order.
    pub async fn call_timeline(&self, id: &str) -> Result<Vec<TimelineEvent>, DbError> {
        let rows = self.backend.query(TIMELINE, db_params![id]).await?;
        rows.iter()
            .map(|r| {
                Ok(TimelineEvent {
                    seq: r.int(0)? as u32,
                    at_ms: r.int(1)?,
                    kind: r.text(2)?,
                    data: r.json(3, Value::Null)?,
                })
            })
            .collect()
    }

    /// Calls matching `f`, newest first.
    pub async fn list_calls(&self, f: &CallFilter) -> Result<Vec<CallRecord>, DbError> {
        let limit = i64::from(f.limit.clamp(1, MAX_PAGE));
        let params = db_params![
            f.direction.map(Direction::as_str),
            f.number.as_deref().map(like_pattern),
            f.flow.clone(),
            f.since_ms,
            f.until_ms,
            f.before_id.clone(),
            f.job_id.clone(),
            limit,
        ];
        let rows = self.backend.query(LIST, params).await?;
        rows.iter().map(record).collect()
    }

    /// Deletes up to `limit` calls created before `before_ms`, with their timelines; how many
    /// calls went. Called in a loop by the retention task.
    pub async fn purge_calls(&self, before_ms: i64, limit: u32) -> Result<u64, DbError> {
        let p = db_params![before_ms, i64::from(limit)];
        let counts = self
            .backend
            .transaction(vec![
                Stmt::new(PURGE_EVENTS, p.clone()),
                Stmt::new(PURGE_CALLS, p),
            ])
            .await?;
        Ok(counts.get(1).copied().unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_take_wildcards_literally() {
        assert_eq!(like_pattern("+49"), "%+49%");
        assert_eq!(like_pattern("a%b_c\\"), "%a\\%b\\_c\\\\%");
    }

    #[test]
    fn the_column_list_matches_the_upsert() {
        assert_eq!(call_cols!().split(',').count(), 23);
        assert!(UPSERT.contains("$23)"));
    }
}
