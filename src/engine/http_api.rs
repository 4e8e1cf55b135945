//! The HTTP status API of `phonetree run` (hyper, HTTP/1.1, GET only): `/healthz`, `/readyz`
//! and `/livez` (their rules: [`super::health`]), `/api/flows` (name, version hash, loaded_at,
//! routes, diagnostics), `/api/registrations` (account, state; never a password) and
//! `/api/calls` (live calls: flow, version, node, theme, since); and one POST,
//! `/demo/crm/lookup`, the demo flows' built-in CRM ([`super::demo_crm`]). Twilio's routes
//! (`/twilio/voice`, `/twilio/stream`, `/convo`) are [`super::twilio_http`]'s. Only this file knows
//! these JSON shapes; the data comes from [`Status`].
//!
//! [`handle`] is a plain function of the status and the request, so every route is unit-tested
//! without a socket; [`serve`] only accepts connections and calls it.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

use super::status::Status;
use super::twilio_http::{is_twilio_path, TwilioHttp};

/// Accepts connections until the task is dropped. Twilio's routes (`/twilio/*`, `/convo`) go
/// to `twilio` ([`super::twilio_http`]); connections may upgrade to websockets.
pub async fn serve(
    listener: tokio::net::TcpListener,
    status: Arc<Status>,
    twilio: Option<Arc<TwilioHttp>>,
) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "HTTP accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let status = status.clone();
        let twilio = twilio.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let status = status.clone();
                let twilio = twilio.clone();
                async move {
                    if let Some(t) = twilio.filter(|_| is_twilio_path(req.uri().path())) {
                        return Ok::<_, Infallible>(t.handle(req, peer).await);
                    }
                    // The demo CRM (`engine::demo_crm`) is the one route with a request body.
                    if req.method() == Method::POST && req.uri().path() == super::demo_crm::PATH {
                        return Ok::<_, Infallible>(super::demo_crm::serve(req).await);
                    }
                    Ok::<_, Infallible>(handle(&status, &req))
                }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .with_upgrades();
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "HTTP connection error");
            }
        });
    }
}

/// Answers one request (any body type: only the method and path are read).
pub fn handle<B>(status: &Status, req: &Request<B>) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return reply(StatusCode::METHOD_NOT_ALLOWED, json!({"error": "GET only"}));
    }
    match req.uri().path() {
        "/healthz" => health_reply(super::health::healthz(&facts(status))),
        "/readyz" => health_reply(super::health::readyz(&facts(status))),
        "/livez" => health_reply(super::health::livez()),
        "/api/flows" => reply(StatusCode::OK, flows(status)),
        "/api/registrations" => reply(StatusCode::OK, registrations(status)),
        "/api/calls" => reply(StatusCode::OK, calls(status)),
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
fn facts(status: &Status) -> super::health::Facts {
    use super::health::{BrokenFlow, Facts, FailedRegistration};
    use crate::flow::diag::Severity;
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
                path: e.path.display().to_string(),
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

fn flows(status: &Status) -> Value {
    let snap = status.registry.snapshot();
    let flows: Vec<Value> = snap
        .flows
        .iter()
        .map(|e| {
            let p = e.program.as_ref();
            json!({
                "path": e.path,
                "name": p.map(|p| p.name.clone()),
                "version": p.map(|p| p.short_hash().to_string()),
                "loaded_at_ms": e.loaded_at.map(unix_ms),
                "routes": p.map(|p| p.routes.clone()).unwrap_or_default(),
                "default": p.is_some_and(|p| p.default),
                "diagnostics": e.diagnostics,
            })
        })
        .collect();
    json!({ "flows": flows })
}

fn registrations(status: &Status) -> Value {
    let now = Instant::now();
    let regs: Vec<Value> = status
        .regs
        .snapshot()
        .iter()
        .map(|r| {
            json!({"account": r.account, "state": r.state.label(), "detail": r.state.detail(now)})
        })
        .collect();
    json!({ "registrations": regs })
}

fn calls(status: &Status) -> Value {
    let calls: Vec<Value> = status
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
    json!({ "calls": calls })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::status::{CallView, RegState};
    use crate::flow::load::LoadOptions;
    use crate::registry::Registry;
    use crate::sip::event::RegId;
    use http_body_util::BodyExt;

    const FLOW: &str =
        "name: menu\nroutes: [\"5000\"]\nstart: bye\nnodes:\n  bye: { hangup: {} }\n";

    fn status(dir: &std::path::Path) -> Status {
        std::fs::write(dir.join("menu.yaml"), FLOW).unwrap();
        let (registry, _) = Registry::open(dir, LoadOptions::default());
        Status::new(Arc::new(registry))
    }

    fn get(status: &Status, method: Method, path: &str) -> (StatusCode, Value) {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .body(())
            .unwrap();
        let resp = handle(status, &req);
        let code = resp.status();
        let bytes = futures_body(resp);
        (code, serde_json::from_slice(&bytes).unwrap())
    }

    fn futures_body(resp: Response<Full<Bytes>>) -> Bytes {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(resp.into_body().collect()).unwrap().to_bytes()
    }

    #[test]
    fn healthz_counts_flows_and_calls() {
        let dir = tempfile::tempdir().unwrap();
        let s = status(dir.path());
        s.calls.insert(CallView {
            id: "call-1".into(),
            flow: "menu".into(),
            version: "0123456789ab".into(),
            node: "bye".into(),
            theme: String::new(),
            since: SystemTime::UNIX_EPOCH,
        });
        let (code, body) = get(&s, Method::GET, "/healthz");
        assert_eq!(code, StatusCode::OK);
        assert_eq!(
            (body["status"].as_str(), body["flows"].as_u64()),
            (Some("ok"), Some(1))
        );
        assert_eq!(body["calls"], 1);
        let (_, calls) = get(&s, Method::GET, "/api/calls");
        assert_eq!(calls["calls"][0]["id"], "call-1");
        assert_eq!(calls["calls"][0]["node"], "bye");
        assert_eq!(calls["calls"][0]["since_ms"], 0);
    }

    #[test]
    fn flows_show_their_short_version_and_routes() {
        let dir = tempfile::tempdir().unwrap();
        let s = status(dir.path());
        let (_, body) = get(&s, Method::GET, "/api/flows");
        let f = &body["flows"][0];
        assert_eq!(f["name"], "menu");
        assert_eq!(f["version"].as_str().map(str::len), Some(12));
        assert_eq!(f["routes"], json!(["5000"]));
        assert_eq!(f["default"], false);
    }

    #[test]
    fn registrations_show_a_label_and_a_detail() {
        let dir = tempfile::tempdir().unwrap();
        let s = status(dir.path());
        s.regs.placeholder("100@pbx");
        s.regs.started(RegId(1), "200@pbx".into());
        s.regs.set(
            RegId(1),
            RegState::Failed {
                reason: crate::sip::register::RegisterFailure::Rejected {
                    status: 403,
                    reason: "Forbidden".into(),
                },
                retry_at: Instant::now(),
            },
        );
        let (_, body) = get(&s, Method::GET, "/api/registrations");
        let regs = body["registrations"].as_array().unwrap();
        assert_eq!(regs[0]["state"], "failed");
        assert_eq!(regs[0]["detail"], "cannot resolve the registrar");
        assert_eq!(regs[1]["account"], "200@pbx");
        assert!(regs[1]["detail"]
            .as_str()
            .unwrap()
            .starts_with("403 Forbidden; retry in"));
    }

    #[test]
    fn unknown_paths_are_404_and_posts_are_405() {
        let dir = tempfile::tempdir().unwrap();
        let s = status(dir.path());
        assert_eq!(get(&s, Method::GET, "/nope").0, StatusCode::NOT_FOUND);
        assert_eq!(
            get(&s, Method::POST, "/healthz").0,
            StatusCode::METHOD_NOT_ALLOWED
        );
    }
}
