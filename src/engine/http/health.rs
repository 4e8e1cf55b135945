//! The health routes, always open (no token: load balancers and Kubernetes probes have none):
//! `/healthz` (200 ok|degraded, 503 draining), `/readyz` (200, or 503 draining / no flow) and
//! `/livez` (200). The rules are [`crate::engine::health`]'s, on plain facts; this module only
//! gathers the facts from [`Status`] and writes the reply.

use std::time::Instant;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use super::HttpState;
use crate::engine::health::{self, BrokenFlow, Facts, FailedRegistration};
use crate::engine::status::Status;
use crate::flow::diag::Severity;

pub async fn healthz(State(s): State<HttpState>) -> Response {
    reply(health::healthz(&facts(&s.status)))
}

pub async fn readyz(State(s): State<HttpState>) -> Response {
    reply(health::readyz(&facts(&s.status)))
}

pub async fn livez() -> Response {
    reply(health::livez())
}

fn reply((code, body): (u16, Value)) -> Response {
    let code = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (code, Json(body)).into_response()
}

/// What the health endpoints decide from.
fn facts(status: &Status) -> Facts {
    let snap = status.registry.snapshot();
    let broken_flows = snap
        .flows
        .iter()
        .filter_map(|e| {
            let errors = e
                .diagnostics
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .count();
            (errors > 0).then(|| BrokenFlow {
                path: status.registry.relative(&e.path).display().to_string(),
                errors,
                serving_previous: e.program.is_some(),
            })
        })
        .collect();
    let now = Instant::now();
    let failed_registrations = status
        .regs
        .snapshot()
        .iter()
        .filter(|r| r.state.label() == "failed")
        .map(|r| FailedRegistration {
            account: r.account.clone(),
            detail: r.state.detail(now),
        })
        .collect();
    Facts {
        draining: status.draining.load(std::sync::atomic::Ordering::Relaxed),
        calls: status.calls.len(),
        flows_loaded: snap.flows.iter().filter(|e| e.program.is_some()).count(),
        broken_flows,
        failed_registrations,
        uptime_s: status.started.elapsed().map_or(0, |d| d.as_secs()),
        version: crate::VERSION,
    }
}
