//! The HTTP status API of `phonetree run` (hyper, HTTP/1.1, GET only): `/healthz`, `/readyz`
//! and `/livez` (their rules: [`super::health`]), `/api/flows` (name, version hash, loaded_at,
//! routes, diagnostics), `/api/registrations` (account, state; never a password) and
//! `/api/calls` (live calls: flow, version, node, theme, since); and one POST,
//! `/demo/crm/lookup`, the demo flows' built-in CRM ([`super::demo_crm`]).
//! Only this file knows these JSON shapes; the data comes from [`Shared`].

use std::convert::Infallible;
use std::sync::Arc;
use std::time::SystemTime;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

use super::server::{lock, Shared};

/// Accepts connections until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "HTTP accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let shared = shared.clone();
                async move {
                    // The demo CRM (`engine::demo_crm`) is the one route with a request body.
                    if req.method() == Method::POST && req.uri().path() == super::demo_crm::PATH {
                        return Ok::<_, Infallible>(super::demo_crm::serve(req).await);
                    }
                    Ok::<_, Infallible>(handle(&shared, &req))
                }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc);
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "HTTP connection error");
            }
        });
    }
}

fn handle(shared: &Shared, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return reply(StatusCode::METHOD_NOT_ALLOWED, json!({"error": "GET only"}));
    }
    match req.uri().path() {
        "/healthz" => health_reply(super::health::healthz(&facts(shared))),
        "/readyz" => health_reply(super::health::readyz(&facts(shared))),
        "/livez" => health_reply(super::health::livez()),
        "/api/flows" => reply(StatusCode::OK, flows(shared)),
        "/api/registrations" => reply(StatusCode::OK, registrations(shared)),
        "/api/calls" => reply(StatusCode::OK, calls(shared)),
        _ => reply(StatusCode::NOT_FOUND, json!({"error": "not found"})),
    }
}

fn reply(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    if let Ok(v) = "application/json".parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn health_reply((code, body): (u16, Value)) -> Response<Full<Bytes>> {
    reply(
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        body,
    )
}

/// What the health endpoints decide from.
fn facts(shared: &Shared) -> super::health::Facts {
    use super::health::{BrokenFlow, Facts, FailedRegistration};
    use crate::flow::diag::Severity;
    let snap = shared.registry.snapshot();
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
                path: e.path.display().to_string(),
                errors,
                serving_previous: e.program.is_some(),
            })
        })
        .collect();
    let failed_registrations = lock(&shared.regs)
        .iter()
        .filter(|r| r.state == "failed")
        .map(|r| FailedRegistration {
            account: r.account.clone(),
            detail: r.detail.clone(),
        })
        .collect();
    Facts {
        draining: shared.draining.load(std::sync::atomic::Ordering::Relaxed),
        calls: shared.active_calls(),
        flows_loaded: snap.flows.iter().filter(|e| e.program.is_some()).count(),
        broken_flows,
        failed_registrations,
        uptime_s: shared.started.elapsed().map_or(0, |d| d.as_secs()),
        version: crate::VERSION,
    }
}

fn flows(shared: &Shared) -> Value {
    let snap = shared.registry.snapshot();
    let flows: Vec<Value> = snap
        .flows
        .iter()
        .map(|e| {
            let p = e.program.as_ref();
            json!({
                "path": e.path,
                "name": p.map(|p| p.name.clone()),
                "version": p.map(|p| p.hash.get(..12).unwrap_or(&p.hash).to_string()),
                "loaded_at_ms": e.loaded_at.map(unix_ms),
                "routes": p.map(|p| p.routes.clone()).unwrap_or_default(),
                "default": p.is_some_and(|p| p.default),
                "diagnostics": e.diagnostics,
            })
        })
        .collect();
    json!({ "flows": flows })
}

fn registrations(shared: &Shared) -> Value {
    let regs: Vec<Value> = lock(&shared.regs)
        .iter()
        .map(|r| json!({"account": r.account, "state": r.state, "detail": r.detail}))
        .collect();
    json!({ "registrations": regs })
}

fn calls(shared: &Shared) -> Value {
    let calls: Vec<Value> = lock(&shared.calls)
        .values()
        .map(|c| {
            json!({
                "id": c.id, "flow": c.flow, "version": c.version, "node": c.node,
                "theme": c.theme, "since_ms": unix_ms(c.since),
            })
        })
        .collect();
    json!({ "calls": calls })
}
