//! The status page (`GET /`): version, node, uptime, registrations (state, detail, last
//! error), live calls (flow, node, theme, duration), and `GET /status/events`, an SSE stream that
//! sends the same live data as one JSON `live` event whenever it changed (checked every second).
//!
//! With several nodes on one database it also shows the cluster (every node, its flow
//! versions, its live calls as of its last heartbeat) and warns when the live nodes run
//! different versions of a flow ([`crate::engine::cluster`]).
//!
//! The page shows at most [`SHOWN`] live calls (it says how many there are); the stream sends the
//! same first [`SHOWN`]. Streams count against [`super::MAX_STREAMS`].

use std::convert::Infallible;
use std::time::{Duration, Instant, SystemTime};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use futures_util::stream::{self, Stream};
use serde::Serialize;

use super::{render, unix_ms, view, PageError, PageResult, Viewer};
use crate::engine::http::HttpState;

/// Live calls drawn at most (a phone cannot scroll 10,000 rows; the count says the rest).
pub const SHOWN: usize = 1000;
/// How often a stream looks for changes.
const EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveCall {
    pub id: String,
    pub flow: String,
    /// The flow's file name (its page is `/flows/{file}`).
    pub file: String,
    pub version: String,
    pub node: String,
    pub theme: String,
    pub since_ms: i64,
    pub duration: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reg {
    pub account: String,
    pub state: &'static str,
    pub detail: Option<String>,
    pub last_error: Option<String>,
    pub last_error_ms: Option<i64>,
}

/// The live calls (all of them, ordered by id) and registrations now.
pub fn live(s: &HttpState) -> (Vec<LiveCall>, Vec<Reg>) {
    let now = SystemTime::now();
    let snap = s.status.registry.snapshot();
    let file_of = |flow: &str| -> String {
        snap.flows
            .iter()
            .find(|e| e.program.as_ref().is_some_and(|p| p.name == flow))
            .and_then(|e| e.path.file_name())
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| flow.to_string())
    };
    let calls = s
        .status
        .calls
        .snapshot()
        .into_iter()
        .map(|c| LiveCall {
            file: file_of(&c.flow),
            duration: view::dur(
                now.duration_since(c.since)
                    .map_or(0, |d| d.as_millis() as i64),
            ),
            since_ms: unix_ms(c.since),
            id: c.id,
            flow: c.flow,
            version: c.version,
            node: c.node,
            theme: c.theme,
        })
        .collect();
    let at = Instant::now();
    let regs = s
        .status
        .regs
        .snapshot()
        .into_iter()
        .map(|r| Reg {
            state: r.state.label(),
            detail: r.state.detail(at),
            last_error_ms: r.last_error.as_ref().map(|(_, t)| unix_ms(*t)),
            last_error: r.last_error.map(|(e, _)| e),
            account: r.account,
        })
        .collect();
    (calls, regs)
}

pub async fn page(State(s): State<HttpState>, Extension(v): Extension<Viewer>) -> PageResult {
    let (calls, regs) = live(&s);
    let snap = s.status.registry.snapshot();
    let flows_bad = snap
        .flows
        .iter()
        .filter(|e| e.diagnostics.iter().any(|d| d.is_error()))
        .count();
    let flows_ok = snap.flows.iter().filter(|e| e.program.is_some()).count();
    let started_ms = unix_ms(s.status.started);
    let uptime = view::dur(unix_ms(SystemTime::now()) - started_ms);
    // The other nodes sharing the database (none shown with SQLite on one node).
    let cluster = crate::engine::http::cluster::cluster_view(&s).await.ok();
    render(
        "status.html",
        ctx! {
            viewer => v, page => "status", title => "Status",
            node_id => s.dash.node_id.clone(), started_ms, uptime,
            regs, calls, shown => SHOWN, flows_ok, flows_bad,
            db_up => s.db.get().is_some(), cluster,
        },
    )
}

/// The data of one `live` event, without its clock (compared to see whether it changed).
fn live_json(s: &HttpState) -> String {
    let (mut calls, regs) = live(s);
    let total = calls.len();
    calls.truncate(SHOWN);
    serde_json::json!({
        "total": total,
        "calls": calls.iter().map(|c| serde_json::json!({
            "id": c.id, "flow": c.flow, "file": c.file, "version": c.version,
            "node": c.node, "theme": c.theme, "since_ms": c.since_ms,
        })).collect::<Vec<_>>(),
        "regs": regs,
    })
    .to_string()
}

/// The event's data: `data` with the server's clock (`now_ms`) added first.
fn with_clock(data: &str, now_ms: i64) -> String {
    format!(
        "{{\"now_ms\":{now_ms},{}",
        data.strip_prefix('{').unwrap_or(data)
    )
}

/// `GET /status/events`: SSE, one `live` event now and one whenever the data changes.
pub async fn events(State(s): State<HttpState>) -> Response {
    let Ok(permit) = s.dash.streams.clone().try_acquire_owned() else {
        return PageError::new(StatusCode::SERVICE_UNAVAILABLE, "too many live pages open")
            .into_response();
    };
    Sse::new(live_stream(s, permit))
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn live_stream(
    s: HttpState,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold(
        (s, None::<String>, permit),
        |(s, last, permit)| async move {
            loop {
                if last.is_some() {
                    tokio::time::sleep(EVERY).await;
                }
                let now = live_json(&s);
                if last.as_deref() != Some(now.as_str()) {
                    let data = with_clock(&now, unix_ms(SystemTime::now()));
                    let ev = Event::default().event("live").data(data);
                    return Some((Ok(ev), (s, Some(now), permit)));
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_goes_first_in_the_event() {
        let d = with_clock(r#"{"total":0,"calls":[],"regs":[]}"#, 7);
        let v: serde_json::Value = serde_json::from_str(&d).unwrap();
        assert_eq!(v["now_ms"], 7);
        assert_eq!(v["total"], 0);
    }
}
