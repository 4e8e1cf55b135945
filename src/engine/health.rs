//! What `/healthz`, `/readyz` and `/livez` answer, decided from plain facts ([`Facts`]) so the
//! rules are tested without a server; `engine::http::health` gathers the facts and replies.
//!
//! - `/readyz` — *send me calls?* 200 `{"ready":true}` while the server takes calls and has at
//!   least one flow loaded; 503 with the reason while it drains (SIGTERM) or has no flow. This
//!   is what a load balancer or a Kubernetes readiness probe checks.
//! - `/healthz` — *how is it doing?* 200 `{"status":"ok"}`, or 200 `{"status":"degraded"}` with
//!   the flows whose file is broken (the previous version may still be serving) and the
//!   registrations that failed; 503 `{"status":"draining"}` while draining. For monitoring.
//! - `/livez` — 200 whenever the process answers HTTP (a liveness probe that must not fail
//!   during a drain, or the drain would be killed).

use serde_json::{json, Value};

/// What the health answers are made of.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    /// SIGTERM received: new calls get 503.
    pub draining: bool,
    pub calls: usize,
    /// Flows with a version in effect.
    pub flows_loaded: usize,
    pub broken_flows: Vec<BrokenFlow>,
    pub failed_registrations: Vec<FailedRegistration>,
    pub uptime_s: u64,
    pub version: &'static str,
}

/// A flow file whose latest compile has errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenFlow {
    pub path: String,
    pub errors: usize,
    /// An earlier version of the file is still answering its calls.
    pub serving_previous: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedRegistration {
    pub account: String,
    pub detail: Option<String>,
}

/// `/healthz`: status code and body.
pub fn healthz(f: &Facts) -> (u16, Value) {
    let status = if f.draining {
        "draining"
    } else if f.broken_flows.is_empty() && f.failed_registrations.is_empty() {
        "ok"
    } else {
        "degraded"
    };
    let body = json!({
        "status": status,
        "flows": f.flows_loaded,
        "calls": f.calls,
        "uptime_s": f.uptime_s,
        "version": f.version,
        "broken_flows": f.broken_flows.iter().map(|b| json!({
            "path": b.path, "errors": b.errors, "serving_previous_version": b.serving_previous,
        })).collect::<Vec<_>>(),
        "failed_registrations": f.failed_registrations.iter().map(|r| json!({
            "account": r.account, "detail": r.detail,
        })).collect::<Vec<_>>(),
    });
    (if f.draining { 503 } else { 200 }, body)
}

/// `/readyz`: status code and body.
pub fn readyz(f: &Facts) -> (u16, Value) {
    let reason = if f.draining {
        Some("draining: not taking new calls")
    } else if f.flows_loaded == 0 {
        Some("no flow is loaded: every call would be refused")
    } else {
        None
    };
    match reason {
        Some(r) => (
            503,
            json!({ "ready": false, "reason": r, "calls": f.calls }),
        ),
        None => (200, json!({ "ready": true, "calls": f.calls })),
    }
}

/// `/livez`.
pub fn livez() -> (u16, Value) {
    (200, json!({ "alive": true }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up() -> Facts {
        Facts {
            flows_loaded: 2,
            calls: 1,
            version: "v",
            ..Facts::default()
        }
    }

    #[test]
    fn a_healthy_server_is_ok_and_ready() {
        let (code, body) = healthz(&up());
        assert_eq!((code, body["status"].as_str()), (200, Some("ok")));
        assert_eq!(readyz(&up()), (200, json!({"ready": true, "calls": 1})));
        assert_eq!(livez().0, 200);
    }

    #[test]
    fn draining_is_503_on_healthz_and_readyz_with_a_json_body_but_livez_stays_200() {
        let f = Facts {
            draining: true,
            ..up()
        };
        let (code, body) = healthz(&f);
        assert_eq!((code, body["status"].as_str()), (503, Some("draining")));
        assert_eq!(body["calls"], 1);
        let (code, body) = readyz(&f);
        assert_eq!(code, 503);
        assert_eq!(body["ready"], false);
        assert!(body["reason"].as_str().unwrap().starts_with("draining"));
        assert_eq!(livez().0, 200);
    }

    #[test]
    fn broken_flows_and_failed_registrations_are_degraded_but_still_take_calls() {
        let f = Facts {
            broken_flows: vec![BrokenFlow {
                path: "flows/menu.yaml".into(),
                errors: 2,
                serving_previous: true,
            }],
            failed_registrations: vec![FailedRegistration {
                account: "1001@pbx".into(),
                detail: Some("credentials rejected (401)".into()),
            }],
            ..up()
        };
        let (code, body) = healthz(&f);
        assert_eq!((code, body["status"].as_str()), (200, Some("degraded")));
        assert_eq!(body["broken_flows"][0]["path"], "flows/menu.yaml");
        assert_eq!(body["broken_flows"][0]["serving_previous_version"], true);
        assert_eq!(body["failed_registrations"][0]["account"], "1001@pbx");
        assert_eq!(readyz(&f).0, 200);
    }

    #[test]
    fn no_flow_loaded_is_not_ready() {
        let f = Facts {
            flows_loaded: 0,
            ..up()
        };
        let (code, body) = readyz(&f);
        assert_eq!(code, 503);
        assert!(body["reason"].as_str().unwrap().contains("no flow"));
    }
}
