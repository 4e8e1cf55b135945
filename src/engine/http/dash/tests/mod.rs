//! The dashboard at the HTTP level, without a socket: who gets in, the login form's CSRF,
//! every page drawn from real data, forms refused without their CSRF token or the admin role,
//! logout, and the status stream's first event.
//!
//! This module holds the fixture (a router on a real database, no socket) and the request
//! helpers; the tests are in its modules, one a concept: `access` (login, logout), `pages`
//! (what each page and the status stream show) and `outbound_forms` (the forms and their
//! CSRF/role checks).

mod access;
mod outbound_forms;
mod pages;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Method, Request, StatusCode};
use axum::response::Response;
use futures_util::StreamExt;
use serde_json::json;
use tower::ServiceExt;

use super::*;
use crate::config::api::ApiConfig;
use crate::db::calls::{CallRecord, Direction, TimelineEvent};
use crate::db::jobs::NewJob;
use crate::db::{Db, DbSlot};
use crate::engine::http::{router, HttpState};
use crate::engine::logtail::Severity;
use crate::engine::status::{CallView, Status};
use crate::flow::load::LoadOptions;
use crate::registry::Registry;

const GOOD: &str = "name: menu\nroutes: [\"5000\"]\nstart: hello\nnodes:\n  hello: { say: \"Hello\", next: bye }\n  bye: { hangup: {} }\n";
const BROKEN: &str =
    "name: broken\nstart: hello\nnodes:\n  hello: { say: \"Hi\", next: nowhere }\n";
const PASSWORD: &str = "correct horse battery";

struct Fx {
    state: HttpState,
    db: Db,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fx {
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("flows");
    std::fs::create_dir(&flows).unwrap();
    std::fs::write(flows.join("menu.yaml"), GOOD).unwrap();
    std::fs::write(flows.join("broken.yaml"), BROKEN).unwrap();
    let (registry, _) = Registry::open(&flows, LoadOptions::default());
    let status = Arc::new(Status::new(Arc::new(registry)));
    let cfg = crate::config::database::DatabaseConfig {
        data_dir: dir.path().join("data"),
        ..Default::default()
    };
    let db = crate::db::open(&cfg, "t").await.unwrap();
    let hash = crate::auth::password::hash(PASSWORD).unwrap();
    db.create_user("ada", &hash, "admin", 1).await.unwrap();
    db.create_user("val", &hash, "viewer", 1).await.unwrap();
    let mut state = HttpState::new(
        status,
        DbSlot::ready(db.clone()),
        ApiConfig::default(),
        "127.0.0.1:8080".parse().unwrap(),
        None,
    );
    let settings = crate::config::load(&crate::config::Sources::default())
        .unwrap()
        .settings;
    state.dash = Arc::new(DashState {
        settings,
        accounts: vec![("100@pbx.example.com".into(), Some("menu".into()))],
        recordings: dir.path().join("recordings"),
        node_id: "node-a".into(),
        ..DashState::default()
    });
    Fx {
        state,
        db,
        _dir: dir,
    }
}

struct Got {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

async fn send(f: &Fx, req: Request<Body>) -> Got {
    let r: Response = router(f.state.clone()).oneshot(req).await.unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    let bytes = axum::body::to_bytes(r.into_body(), 8 << 20).await.unwrap();
    Got {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

fn req(method: Method, path: &str, cookie: Option<&str>, body: &str) -> Request<Body> {
    let post = method == Method::POST;
    let mut b = Request::builder().method(method).uri(path);
    if let Some(c) = cookie {
        b = b.header(header::COOKIE, c);
    }
    if post {
        b = b.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    }
    let mut r = b.body(Body::from(body.to_string())).unwrap();
    let peer: SocketAddr = "127.0.0.1:5555".parse().unwrap();
    r.extensions_mut().insert(ConnectInfo(peer));
    r
}

async fn get(f: &Fx, path: &str, cookie: Option<&str>) -> Got {
    send(f, req(Method::GET, path, cookie, "")).await
}

/// Logs in with JSON; the session cookie (`name=value`) and the CSRF token.
async fn login(f: &Fx, user: &str) -> (String, String) {
    let body = json!({"username": user, "password": PASSWORD}).to_string();
    let mut r = Request::builder()
        .method(Method::POST)
        .uri("/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap();
    r.extensions_mut()
        .insert(ConnectInfo("127.0.0.1:5555".parse::<SocketAddr>().unwrap()));
    let got = send(f, r).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.body);
    let cookie = got.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let v: serde_json::Value = serde_json::from_str(&got.body).unwrap();
    (cookie, v["csrf"].as_str().unwrap().to_string())
}

fn location(g: &Got) -> &str {
    g.headers
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// A viewer (`val`), logged in, POSTs to `path` with their own valid CSRF token.
async fn post_as_viewer(f: &Fx, path: &str) -> Got {
    let (vcookie, vcsrf) = login(f, "val").await;
    send(
        f,
        req(Method::POST, path, Some(&vcookie), &format!("csrf={vcsrf}")),
    )
    .await
}

async fn seed(f: &Fx) -> (String, String) {
    let mut c = CallRecord::new(
        "01CALL".into(),
        "node-a",
        Direction::Inbound,
        "+15550001",
        "5000",
        1_700_000_000_000,
    );
    c.flow = Some("menu".into());
    c.answered_ms = Some(1_700_000_000_100);
    c.ended_ms = Some(1_700_000_004_300);
    c.duration_ms = Some(4_200);
    c.end_reason = Some("flow_hangup".into());
    c.dtmf = "1".into();
    c.vars.insert("answer".into(), json!("yes please"));
    let rec_dir = f.state.dash.recordings.clone();
    std::fs::create_dir_all(&rec_dir).unwrap();
    let wav = rec_dir.join("m.wav");
    std::fs::write(&wav, b"RIFF....WAVE").unwrap();
    c.vars.insert(
        "message".into(),
        json!({"path": wav.to_str().unwrap(), "duration_ms": 3000}),
    );
    let events = [
        (
            -3,
            json!({"event": "invite", "from": "+15550001", "to": "5000"}),
        ),
        (
            0,
            json!({"event": "say", "node": "hello", "text": "Hello <there>"}),
        ),
        (2_500, json!({"event": "speech", "text": "yes please"})),
    ];
    let mut stmts = vec![crate::db::calls::upsert_call(&c)];
    for (i, (at, data)) in events.into_iter().enumerate() {
        let e = TimelineEvent {
            seq: i as u32,
            at_ms: at,
            kind: data["event"].as_str().unwrap().into(),
            data,
        };
        stmts.push(crate::db::calls::insert_event("01CALL", &e));
    }
    f.db.backend().transaction(stmts).await.unwrap();
    let job = f
        .db
        .create_job(
            &NewJob {
                request: json!({"to": ["+4930111"], "content": {"kind": "message", "text": "Disk full"}}),
                run_at_ms: 1_700_000_000_000,
                max_attempts: 3,
                ..NewJob::default()
            },
            1_700_000_000_000,
        )
        .await
        .unwrap();
    let alert = f
        .db
        .insert_alert(
            "alertmanager",
            Some("{}:{alertname=\"DiskFull\"}"),
            "firing",
            Some("k1"),
            &json!({"alerts": [{"labels": {"alertname": "DiskFull"}, "annotations": {"summary": "db1 is full"}}]}),
            1_700_000_000_000,
        )
        .await
        .unwrap()
        .unwrap();
    f.db.set_alert_actions(&alert.id, &json!({"jobs": [job.id.clone()]}))
        .await
        .unwrap();
    (job.id, alert.id)
}
