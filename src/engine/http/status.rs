//! The status routes (behind the API's auth): `/api/flows` (name, version hash, loaded_at, routes,
//! diagnostics), `/api/registrations` (account, state; never a password) and `/api/calls`
//! (live calls: flow, version, node, theme, since). Only this file knows these JSON shapes;
//! the data comes from [`crate::engine::status::Status`].

use std::time::{Instant, SystemTime};

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::HttpState;

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

pub async fn flows(State(s): State<HttpState>) -> Json<Value> {
    let snap = s.status.registry.snapshot();
    let flows: Vec<Value> = snap
        .flows
        .iter()
        .map(|e| {
            let p = e.program.as_ref();
            // Paths relative to the flows folder: the API never shows the server's disk.
            let rel = |path: &std::path::Path| s.status.registry.relative(path);
            let diagnostics: Vec<Value> = e
                .diagnostics
                .iter()
                .map(|d| {
                    let mut v = json!(d);
                    v["path"] = json!(rel(&d.path));
                    v
                })
                .collect();
            json!({
                "path": rel(&e.path),
                "name": p.map(|p| p.name.clone()),
                "version": p.map(|p| p.short_hash().to_string()),
                "loaded_at_ms": e.loaded_at.map(unix_ms),
                "routes": p.map(|p| p.routes.clone()).unwrap_or_default(),
                "default": p.is_some_and(|p| p.default),
                "diagnostics": diagnostics,
            })
        })
        .collect();
    Json(json!({ "flows": flows }))
}

pub async fn registrations(State(s): State<HttpState>) -> Json<Value> {
    let now = Instant::now();
    let regs: Vec<Value> = s
        .status
        .regs
        .snapshot()
        .iter()
        .map(|r| {
            json!({"account": r.account, "state": r.state.label(), "detail": r.state.detail(now)})
        })
        .collect();
    Json(json!({ "registrations": regs }))
}

pub async fn calls(State(s): State<HttpState>) -> Json<Value> {
    let calls: Vec<Value> = s
        .status
        .calls
        .snapshot()
        .iter()
        .map(|c| {
            json!({
                "id": c.id, "flow": c.flow, "version": c.version, "node": c.node,
                "theme": c.theme, "since_ms": unix_ms(c.since),
            })
        })
        .collect();
    Json(json!({ "calls": calls }))
}
