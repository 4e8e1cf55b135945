//! The router without a socket (`tower::ServiceExt::oneshot`): the status routes' JSON, 404/405,
//! and who gets in under each `api.auth` mode.

use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode};
use serde_json::{json, Value};
use tower::ServiceExt;

use super::*;
use crate::config::api::AuthMode;
use crate::engine::status::{CallView, RegState};
use crate::flow::load::LoadOptions;
use crate::registry::Registry;
use crate::sip::event::RegId;

const FLOW: &str = "name: menu\nroutes: [\"5000\"]\nstart: bye\nnodes:\n  bye: { hangup: {} }\n";
const TOKEN: &str = "a-configured-token-0123";

struct Fixture {
    state: HttpState,
    _dir: tempfile::TempDir,
}

async fn fixture(listen: &str, api: ApiConfig) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("flows");
    std::fs::create_dir(&flows).unwrap();
    std::fs::write(flows.join("menu.yaml"), FLOW).unwrap();
    let (registry, _) = Registry::open(&flows, LoadOptions::default());
    let status = Arc::new(Status::new(Arc::new(registry)));
    let cfg = crate::config::database::DatabaseConfig {
        data_dir: dir.path().join("data"),
        ..Default::default()
    };
    let db = crate::db::open(&cfg, "t").await.unwrap();
    let state = HttpState::new(
        status,
        DbSlot::ready(db),
        api,
        listen.parse().unwrap(),
        None,
    );
    Fixture { state, _dir: dir }
}

async fn call(f: &Fixture, method: Method, path: &str, auth: Option<&str>) -> (StatusCode, Value) {
    send(f, method, path, auth, Body::empty()).await
}

async fn send(
    f: &Fixture,
    method: Method,
    path: &str,
    auth: Option<&str>,
    body: Body,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(t) = auth {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let mut req = req.body(body).unwrap();
    let peer: SocketAddr = "127.0.0.1:5555".parse().unwrap();
    req.extensions_mut().insert(ConnectInfo(peer));
    let resp = router(f.state.clone()).oneshot(req).await.unwrap();
    let code = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn open_api() -> ApiConfig {
    ApiConfig::default()
}

#[tokio::test]
async fn healthz_counts_flows_and_calls_and_api_calls_lists_them() {
    let f = fixture("127.0.0.1:8080", open_api()).await;
    f.state.status.calls.insert(CallView {
        id: "call-1".into(),
        flow: "menu".into(),
        version: "0123456789ab".into(),
        node: "bye".into(),
        theme: String::new(),
        since: SystemTime::UNIX_EPOCH,
    });
    let (code, body) = call(&f, Method::GET, "/healthz", None).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(
        (body["status"].as_str(), body["flows"].as_u64()),
        (Some("ok"), Some(1))
    );
    assert_eq!(body["calls"], 1);
    let (_, calls) = call(&f, Method::GET, "/api/calls", None).await;
    assert_eq!(calls["calls"][0]["id"], "call-1");
    assert_eq!(calls["calls"][0]["node"], "bye");
    assert_eq!(calls["calls"][0]["since_ms"], 0);
    let (_, flows) = call(&f, Method::GET, "/api/flows", None).await;
    let fl = &flows["flows"][0];
    assert_eq!(fl["name"], "menu");
    assert_eq!(fl["version"].as_str().map(str::len), Some(12));
    assert_eq!(fl["routes"], json!(["5000"]));
    assert_eq!(fl["default"], false);
}

#[tokio::test]
async fn registrations_show_a_label_and_a_detail() {
    let f = fixture("127.0.0.1:8080", open_api()).await;
    let regs = &f.state.status.regs;
    regs.placeholder("100@pbx");
    regs.started(RegId(1), "200@pbx".into());
    regs.set(
        RegId(1),
        RegState::Failed {
            reason: crate::sip::register::RegisterFailure::Rejected {
                status: 403,
                reason: "Forbidden".into(),
            },
            retry_at: Instant::now(),
        },
    );
    let (_, body) = call(&f, Method::GET, "/api/registrations", None).await;
    let regs = body["registrations"].as_array().unwrap();
    assert_eq!(regs[0]["state"], "failed");
    assert_eq!(regs[0]["detail"], "cannot resolve the registrar");
    assert_eq!(regs[1]["account"], "200@pbx");
    assert!(regs[1]["detail"]
        .as_str()
        .unwrap()
        .starts_with("403 Forbidden; retry in"));
}

#[tokio::test]
async fn unknown_paths_are_404_and_wrong_methods_405() {
    let f = fixture("127.0.0.1:8080", open_api()).await;
    let (code, body) = call(&f, Method::GET, "/nope", None).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "not found");
    assert_eq!(
        call(&f, Method::POST, "/healthz", None).await.0,
        StatusCode::METHOD_NOT_ALLOWED
    );
    // (`GET /login` is the dashboard's login page.)
    assert_eq!(
        call(&f, Method::PUT, "/login", None).await.0,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[tokio::test]
async fn auto_is_open_only_on_loopback_without_tokens() {
    let on_loopback = fixture("127.0.0.1:8080", open_api()).await;
    assert_eq!(
        call(&on_loopback, Method::GET, "/api/flows", None).await.0,
        StatusCode::OK
    );
    let public = fixture("0.0.0.0:8080", open_api()).await;
    assert_eq!(
        call(&public, Method::GET, "/api/flows", None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&public, Method::GET, "/healthz", None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        call(&public, Method::GET, "/metrics", None).await.0,
        StatusCode::SERVICE_UNAVAILABLE,
        "open, but this test installs no recorder"
    );
}

#[tokio::test]
async fn configured_tokens_required_and_off() {
    let api = ApiConfig {
        token_hashes: vec![crate::db::sha256_hex(TOKEN.as_bytes())],
        metrics_auth: true,
        ..ApiConfig::default()
    };
    let f = fixture("127.0.0.1:8080", api).await;
    assert_eq!(
        call(&f, Method::GET, "/api/register", None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&f, Method::GET, "/api/register", Some("wrong"))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let (code, body) = call(&f, Method::GET, "/api/register", Some(TOKEN)).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(body, json!({"calls": [], "next": null}));
    assert_eq!(
        call(&f, Method::GET, "/metrics", None).await.0,
        StatusCode::UNAUTHORIZED
    );

    let required = ApiConfig {
        auth: AuthMode::Required,
        ..ApiConfig::default()
    };
    let f = fixture("127.0.0.1:8080", required).await;
    assert_eq!(
        call(&f, Method::GET, "/api/flows", None).await.0,
        StatusCode::UNAUTHORIZED
    );
    let off = ApiConfig {
        auth: AuthMode::Off,
        ..ApiConfig::default()
    };
    let f = fixture("0.0.0.0:8080", off).await;
    let (code, body) = call(&f, Method::GET, "/api/session", None).await;
    assert_eq!(
        (code, body["kind"].as_str()),
        (StatusCode::OK, Some("open"))
    );
}

#[tokio::test]
async fn a_database_token_closes_the_demo_and_the_database_being_away_is_503() {
    let f = fixture("127.0.0.1:8080", open_api()).await;
    let db = f.state.db().unwrap();
    let token = crate::auth::token::generate();
    db.create_token("ci", &crate::auth::token::hash(&token), 1)
        .await
        .unwrap();
    assert_eq!(
        call(&f, Method::GET, "/api/flows", None).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (code, body) = call(&f, Method::GET, "/api/session", Some(&token)).await;
    assert_eq!((code, body["name"].as_str()), (StatusCode::OK, Some("ci")));

    let mut away = fixture("127.0.0.1:8080", open_api()).await;
    away.state.db = DbSlot::default();
    assert_eq!(
        call(&away, Method::GET, "/api/flows", None).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

/// Every token check on: a public listener, `api.auth: required`, a configured token.
fn locked() -> ApiConfig {
    ApiConfig {
        auth: AuthMode::Required,
        token_hashes: vec![crate::db::sha256_hex(TOKEN.as_bytes())],
        metrics_auth: true,
        ..ApiConfig::default()
    }
}

#[tokio::test]
async fn health_probes_need_no_token_and_answer_503_while_draining_except_livez() {
    let f = fixture("0.0.0.0:8080", locked()).await;
    assert_eq!(
        call(&f, Method::GET, "/api/flows", None).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (code, body) = call(&f, Method::GET, "/healthz", None).await;
    assert_eq!(
        (code, body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    assert_eq!(body["version"], crate::VERSION);
    assert_eq!(
        call(&f, Method::GET, "/readyz", None).await,
        (StatusCode::OK, json!({"ready": true, "calls": 0}))
    );
    assert_eq!(
        call(&f, Method::GET, "/livez", None).await,
        (StatusCode::OK, json!({"alive": true}))
    );
    f.state
        .status
        .draining
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let (code, body) = call(&f, Method::GET, "/healthz", None).await;
    assert_eq!(
        (code, body["status"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("draining"))
    );
    let (code, body) = call(&f, Method::GET, "/readyz", None).await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["ready"], false);
    assert_eq!(
        call(&f, Method::GET, "/livez", None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        call(&f, Method::POST, "/readyz", None).await.0,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[tokio::test]
async fn a_broken_flow_file_makes_healthz_degraded_but_still_ready() {
    let f = fixture("127.0.0.1:8080", open_api()).await;
    let dir = f.state.status.registry.dir().to_path_buf();
    std::fs::write(dir.join("broken.yaml"), "name: [").unwrap();
    f.state.status.registry.reload(&[dir.join("broken.yaml")]);
    let (code, body) = call(&f, Method::GET, "/healthz", None).await;
    assert_eq!(
        (code, body["status"].as_str()),
        (StatusCode::OK, Some("degraded")),
        "{body}"
    );
    assert!(body["broken_flows"][0]["path"]
        .as_str()
        .unwrap()
        .ends_with("broken.yaml"));
    assert_eq!(
        call(&f, Method::GET, "/readyz", None).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_demo_crm_answers_without_a_token_and_refuses_what_it_cannot_read() {
    let f = fixture("0.0.0.0:8080", locked()).await;
    let path = crate::engine::demo_crm::PATH;
    let lookup = |body: &str| Body::from(body.to_string());
    let (code, body) = send(
        &f,
        Method::POST,
        path,
        None,
        lookup(r#"{"caller":"+15550002"}"#),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["balance"], 42);
    let (code, body) = send(&f, Method::POST, path, None, lookup("not json")).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("caller"));
    let big = format!(
        r#"{{"caller":"1","pad":"{}"}}"#,
        "x".repeat(crate::engine::demo_crm::MAX_BODY)
    );
    let (code, body) = send(&f, Method::POST, path, None, lookup(&big)).await;
    assert_eq!(
        (code, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("body too large"))
    );
    assert_eq!(
        call(&f, Method::GET, path, None).await.0,
        StatusCode::METHOD_NOT_ALLOWED
    );
}
