//! The dashboard at the HTTP level, without a socket: who gets in, the login form's CSRF,
//! every page drawn from real data, forms refused without their CSRF token or the admin role,
//! logout, and the status stream's first event.

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

#[tokio::test]
async fn pages_send_strangers_to_the_login_page_even_while_the_api_is_open() {
    let f = fixture().await;
    // The loopback demo's API is open...
    assert_eq!(get(&f, "/api/calls", None).await.status, StatusCode::OK);
    // ...the dashboard is not.
    let g = get(&f, "/", None).await;
    assert_eq!(g.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&g), "/login");
    let g = get(&f, "/calls?number=555", None).await;
    assert_eq!(location(&g), "/login?next=%2Fcalls%3Fnumber%3D555");
    let g = get(&f, "/static/app.css", None).await;
    assert_eq!(g.status, StatusCode::OK);
    assert!(g.body.contains(".facts"));
}

#[tokio::test]
async fn a_form_login_needs_the_login_pages_token_and_then_goes_next() {
    let f = fixture().await;
    let page = get(&f, "/login?next=/flows", None).await;
    assert_eq!(page.status, StatusCode::OK);
    let set = page.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let token = set
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_string();
    assert!(page
        .body
        .contains(&format!("name=\"csrf\" value=\"{token}\"")));
    // (autoescape writes `/` as `&#x2f;`; the browser reads it back as `/`.)
    assert!(page.body.contains("name=\"next\" value=\"&#x2f;flows\""));
    assert!(page.body.contains("<label for=\"password\">"));
    let form = format!("username=ada&password=correct+horse+battery&next=%2Fflows&csrf={token}");
    // Without the cookie (another site's form): refused before the password is looked at.
    let g = send(&f, req(Method::POST, "/login", None, &form)).await;
    assert!(
        location(&g).starts_with("/login?expired=1"),
        "{}",
        location(&g)
    );
    assert!(g.headers.get(header::SET_COOKIE).is_none());
    // With it: logged in, on to `next`.
    let cookie = format!("phonetree_login={token}");
    let g = send(&f, req(Method::POST, "/login", Some(&cookie), &form)).await;
    assert_eq!(g.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&g), "/flows");
    let session = g.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(session.starts_with("phonetree_session=") && session.contains("HttpOnly"));
    let session = session.split(';').next().unwrap();
    assert_eq!(
        get(&f, "/flows", Some(session)).await.status,
        StatusCode::OK
    );
    // A logged-in visitor of the login page goes straight on.
    let g = get(&f, "/login?next=/logs", Some(session)).await;
    assert_eq!(location(&g), "/logs");
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

#[tokio::test]
async fn every_page_is_drawn_from_real_data_with_strict_headers() {
    let f = fixture().await;
    let (job, _) = seed(&f).await;
    f.state.status.calls.insert(CallView {
        id: "call-7".into(),
        flow: "menu".into(),
        version: "0123456789ab".into(),
        node: "hello".into(),
        theme: "pirate".into(),
        since: SystemTime::now(),
    });
    f.state.dash.logs.push(
        Severity::Warn,
        r#"{"timestamp":"2025-11-30T09:12:31.1Z","level":"WARN","message":"webhook failed","status":503}"#,
    );
    let (cookie, _) = login(&f, "ada").await;
    let c = Some(cookie.as_str());
    let pages: &[(&str, &[&str])] = &[
        (
            "/",
            &[
                "call-7",
                "hello",
                "pirate",
                "data-since=",
                "aria-current=\"page\"",
            ],
        ),
        ("/calls", &["+15550001", "flow_hangup", "/calls/01CALL"]),
        (
            "/calls/01CALL",
            &[
                "Hello &lt;there&gt;",
                "yes please",
                "/calls/01CALL/recording/message",
                "<audio controls",
                "-0.003",
            ],
        ),
        ("/outbound", &["+4930111", "message “Disk full”", "queued"]),
        (
            &format!("/outbound/{job}"),
            &["Not dialled yet", "Disk full"],
        ),
        (
            "/alerts",
            &["DiskFull", "db1 is full", &format!("/outbound/{job}")],
        ),
        (
            "/flows",
            &["menu", "broken", "calls to 100@pbx.example.com", "5000"],
        ),
        ("/flows/menu.yaml", &["<svg", "Mermaid source", "hello"]),
        (
            "/flows/broken.yaml",
            &["error[", "nowhere", "takes no calls"],
        ),
        (
            "/logs?level=warn",
            &["webhook failed", "{&quot;status&quot;:503}"],
        ),
        (
            "/settings",
            &["sip.listen", "default", "PHONETREE_SIP_LISTEN"],
        ),
    ];
    for (path, needles) in pages {
        let g = get(&f, path, c).await;
        assert_eq!(g.status, StatusCode::OK, "{path}: {}", g.body);
        for n in *needles {
            assert!(g.body.contains(n), "{path} lacks {n:?}:\n{}", g.body);
        }
        let csp = g.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
        assert!(
            g.body.contains("name=\"viewport\""),
            "{path}: usable on a phone"
        );
        // The footer's version is phonetree's, even on a page with a flow's `version`.
        let foot = format!(
            "<footer class=\"foot\">phonetree {}</footer>",
            crate::VERSION
        );
        assert!(g.body.contains(&foot), "{path}: footer");
    }
    let g = get(&f, "/calls/01CALL/recording/message", c).await;
    assert_eq!(g.status, StatusCode::OK);
    assert_eq!(g.headers[header::CONTENT_TYPE], "audio/wav");
    assert_eq!(
        get(&f, "/calls/01CALL/recording/answer", c).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&f, "/calls/nope", c).await.status,
        StatusCode::NOT_FOUND
    );
    let bad = get(&f, "/calls?since=soon", c).await;
    assert!(bad.body.contains("since:"), "{}", bad.body);
}

#[tokio::test]
async fn forms_need_their_csrf_token_and_the_admin_role() {
    let f = fixture().await;
    let (job, _) = seed(&f).await;
    let path = format!("/outbound/{job}/cancel");
    let (cookie, csrf) = login(&f, "ada").await;
    // No token, a wrong token: refused, the job stays queued.
    for body in ["", "csrf=0000"] {
        let g = send(&f, req(Method::POST, &path, Some(&cookie), body)).await;
        assert_eq!(g.status, StatusCode::FORBIDDEN, "{body}");
        assert!(g.body.contains("CSRF"));
    }
    assert_eq!(
        f.db.get_job(&job).await.unwrap().unwrap().state,
        crate::db::jobs::JobState::Queued
    );
    // A viewer with the right token: refused too.
    let (vcookie, vcsrf) = login(&f, "val").await;
    let g = send(
        &f,
        req(
            Method::POST,
            &path,
            Some(&vcookie),
            &format!("csrf={vcsrf}"),
        ),
    )
    .await;
    assert_eq!(g.status, StatusCode::FORBIDDEN);
    assert!(g.body.contains("role"));
    // The admin with the token: cancelled.
    let g = send(
        &f,
        req(Method::POST, &path, Some(&cookie), &format!("csrf={csrf}")),
    )
    .await;
    assert_eq!(g.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&g), format!("/outbound/{job}?notice=cancelled"));
    assert_eq!(
        f.db.get_job(&job).await.unwrap().unwrap().state,
        crate::db::jobs::JobState::Cancelled
    );
    let again = send(
        &f,
        req(Method::POST, &path, Some(&cookie), &format!("csrf={csrf}")),
    )
    .await;
    assert_eq!(
        location(&again),
        format!("/outbound/{job}?notice=not_cancelled")
    );
    // Without a session at all: 401, not a redirect a form would follow.
    let g = send(&f, req(Method::POST, &path, None, &format!("csrf={csrf}"))).await;
    assert_eq!(g.status, StatusCode::UNAUTHORIZED);
}

/// The outbound API as `run` wires it, admitting `+49…` numbers.
fn with_outbound(f: &mut Fx) {
    use crate::engine::http::outbound::OutboundApi;
    let cfg = crate::config::outbound::OutboundConfig {
        allow: crate::policy::outbound::OutboundPolicy::new(&["+49*"]).unwrap(),
        ..Default::default()
    };
    let api = OutboundApi {
        cfg,
        rules: Vec::new(),
        registry: f.state.status.registry.clone(),
        accounts: Vec::new(),
        wake: Arc::new(tokio::sync::Notify::new()),
        schedules_wake: Arc::new(tokio::sync::Notify::new()),
    };
    f.state = f.state.clone().with_outbound(Arc::new(api));
}

/// A stored message job to `to` (the request as `POST /api/calls` stores it).
async fn message_job(f: &Fx, to: &str) -> String {
    let defaults = crate::config::outbound::OutboundConfig::default().defaults;
    let req = crate::outbound::request::CallRequest::parse(
        &json!({"to": to, "message": "Disk full"}),
        &defaults,
        1_700_000_000_000,
    )
    .unwrap();
    let request = crate::outbound::job::JobRequest::Call(req);
    f.db.create_job(
        &NewJob {
            request: serde_json::to_value(&request).unwrap(),
            run_at_ms: 1_700_000_000_000,
            max_attempts: request.max_attempts(),
            ..NewJob::default()
        },
        1_700_000_000_000,
    )
    .await
    .unwrap()
    .id
}

#[tokio::test]
async fn a_cancelled_job_is_retried_from_its_page_as_a_new_job_once() {
    let mut f = fixture().await;
    with_outbound(&mut f);
    let job = message_job(&f, "+4930111").await;
    let (cookie, csrf) = login(&f, "ada").await;
    let path = format!("/outbound/{job}/retry");
    // Queued: no retry button, and a retry is refused.
    let page = get(&f, &format!("/outbound/{job}"), Some(&cookie)).await;
    assert!(!page.body.contains(&path), "{}", page.body);
    let g = send(
        &f,
        req(Method::POST, &path, Some(&cookie), &format!("csrf={csrf}")),
    )
    .await;
    assert_eq!(location(&g), format!("/outbound/{job}?notice=not_retried"));
    assert!(f.db.cancel_job(&job, 1_700_000_000_001).await.unwrap());
    // Cancelled: the button, with the session's CSRF token.
    let page = get(&f, &format!("/outbound/{job}"), Some(&cookie)).await;
    assert!(
        page.body
            .contains(&format!("action=\"{}\"", path.replace('/', "&#x2f;")))
            || page.body.contains(&format!("action=\"{path}\"")),
        "{}",
        page.body
    );
    assert!(page.body.contains(&format!("value=\"{csrf}\"")));
    let list = get(&f, "/outbound", Some(&cookie)).await;
    assert!(list.body.contains(">Retry</button>"), "{}", list.body);
    // Without the token, or as a viewer: refused, nothing created.
    let g = send(&f, req(Method::POST, &path, Some(&cookie), "csrf=0000")).await;
    assert_eq!(g.status, StatusCode::FORBIDDEN);
    let (vcookie, vcsrf) = login(&f, "val").await;
    let g = send(
        &f,
        req(
            Method::POST,
            &path,
            Some(&vcookie),
            &format!("csrf={vcsrf}"),
        ),
    )
    .await;
    assert_eq!(g.status, StatusCode::FORBIDDEN);
    assert_eq!(
        f.db.count_jobs(crate::db::jobs::JobState::Queued)
            .await
            .unwrap(),
        0
    );
    // The admin with the token: a new job, due now, naming the old one; the old one unchanged.
    let g = send(
        &f,
        req(Method::POST, &path, Some(&cookie), &format!("csrf={csrf}")),
    )
    .await;
    assert_eq!(g.status, StatusCode::SEE_OTHER);
    let to = location(&g).to_string();
    let new = to
        .strip_prefix("/outbound/")
        .and_then(|r| r.strip_suffix("?notice=retried"))
        .unwrap_or_else(|| panic!("{to}"))
        .to_string();
    assert_ne!(new, job);
    let n = f.db.get_job(&new).await.unwrap().unwrap();
    assert_eq!(n.state, crate::db::jobs::JobState::Queued);
    assert_eq!(n.request["retry_of"], job.as_str());
    assert_eq!(n.request["to"], json!(["+4930111"]));
    assert!(
        n.run_at_ms > 1_700_000_000_000,
        "due now, not at the old time"
    );
    assert_eq!(n.attempts, 0);
    assert_eq!(
        f.db.get_job(&job).await.unwrap().unwrap().state,
        crate::db::jobs::JobState::Cancelled
    );
    let page = get(&f, &to, Some(&cookie)).await;
    assert!(page.body.contains("Retry of"), "{}", page.body);
    // Again (a double click): the same retry, not a second one.
    let g = send(
        &f,
        req(Method::POST, &path, Some(&cookie), &format!("csrf={csrf}")),
    )
    .await;
    assert_eq!(location(&g), format!("/outbound/{new}?notice=retried"));
    assert_eq!(
        f.db.count_jobs(crate::db::jobs::JobState::Queued)
            .await
            .unwrap(),
        1
    );
    // A job whose target is no longer allowed is not retried.
    let other = message_job(&f, "+3312345").await;
    f.db.cancel_job(&other, 1_700_000_000_001).await.unwrap();
    let g = send(
        &f,
        req(
            Method::POST,
            &format!("/outbound/{other}/retry"),
            Some(&cookie),
            &format!("csrf={csrf}"),
        ),
    )
    .await;
    assert_eq!(
        location(&g),
        format!("/outbound/{other}?notice=retry_refused")
    );
    let g = send(
        &f,
        req(
            Method::POST,
            "/outbound/nope/retry",
            Some(&cookie),
            &format!("csrf={csrf}"),
        ),
    )
    .await;
    assert_eq!(g.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn logout_needs_the_token_and_ends_the_session() {
    let f = fixture().await;
    let (cookie, csrf) = login(&f, "ada").await;
    let g = send(
        &f,
        req(Method::POST, "/logout", Some(&cookie), "csrf=wrong"),
    )
    .await;
    assert_eq!(g.status, StatusCode::FORBIDDEN);
    assert_eq!(get(&f, "/", Some(&cookie)).await.status, StatusCode::OK);
    let g = send(
        &f,
        req(
            Method::POST,
            "/logout",
            Some(&cookie),
            &format!("csrf={csrf}"),
        ),
    )
    .await;
    assert_eq!(g.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&g), "/login");
    assert!(g.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let after = get(&f, "/", Some(&cookie)).await;
    assert_eq!(
        after.status,
        StatusCode::SEE_OTHER,
        "the old cookie is dead"
    );
}

#[tokio::test]
async fn the_status_stream_starts_with_the_live_calls_and_is_bounded() {
    let f = fixture().await;
    f.state.status.calls.insert(CallView {
        id: "call-9".into(),
        flow: "menu".into(),
        version: "0123456789ab".into(),
        node: "hello".into(),
        theme: String::new(),
        since: SystemTime::now(),
    });
    let (cookie, _) = login(&f, "ada").await;
    let r = router(f.state.clone())
        .oneshot(req(Method::GET, "/status/events", Some(&cookie), ""))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[header::CONTENT_TYPE], "text/event-stream");
    let mut body = r.into_body().into_data_stream();
    let first = body.next().await.unwrap().unwrap();
    let text = String::from_utf8_lossy(&first);
    assert!(text.starts_with("event: live\n"), "{text}");
    assert!(
        text.contains("\"id\":\"call-9\"") && text.contains("\"total\":1"),
        "{text}"
    );
    // Every stream holds a permit: the next ones beyond the bound get 503.
    let held: Vec<_> = (0..MAX_STREAMS - 1)
        .map(|_| f.state.dash.streams.clone().try_acquire_owned().unwrap())
        .collect();
    let g = get(&f, "/logs/events", Some(&cookie)).await;
    assert_eq!(g.status, StatusCode::SERVICE_UNAVAILABLE);
    drop(held);
    drop(body);
}

#[tokio::test]
async fn the_place_a_call_form_queues_a_job_through_the_api_checks() {
    let mut f = fixture().await;
    let (cookie, csrf) = login(&f, "ada").await;
    let form = |to: &str, token: &str| {
        format!(
            "csrf={token}&to={}&message=Disk+full&flow=&at=&tz=",
            urlencode(to)
        )
    };
    // No CSRF token: refused, nothing queued.
    let g = send(
        &f,
        req(
            Method::POST,
            "/outbound",
            Some(&cookie),
            &form("+4930111", "0000"),
        ),
    )
    .await;
    assert_eq!(g.status, StatusCode::FORBIDDEN);
    // Outbound calls not running: the page again, the form kept, the reason shown.
    let g = send(
        &f,
        req(
            Method::POST,
            "/outbound",
            Some(&cookie),
            &form("+4930111", &csrf),
        ),
    )
    .await;
    assert_eq!(g.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        g.body.contains("outbound calls are not running"),
        "{}",
        g.body
    );
    assert!(g.body.contains(">+4930111</textarea>"), "{}", g.body);

    let api = crate::engine::http::outbound::OutboundApi {
        cfg: crate::config::outbound::OutboundConfig {
            allow: crate::policy::outbound::OutboundPolicy::new(&["+4930*"]).unwrap(),
            ..Default::default()
        },
        rules: Vec::new(),
        registry: f.state.status.registry.clone(),
        accounts: Vec::new(),
        wake: Arc::new(tokio::sync::Notify::new()),
        schedules_wake: Arc::new(tokio::sync::Notify::new()),
    };
    f.state = f.state.clone().with_outbound(Arc::new(api));
    // A target the allow list refuses: 403, the API's reason on the page.
    let g = send(
        &f,
        req(
            Method::POST,
            "/outbound",
            Some(&cookie),
            &form("+1900555", &csrf),
        ),
    )
    .await;
    assert_eq!(g.status, StatusCode::FORBIDDEN);
    assert!(g.body.contains("outbound.allow"), "{}", g.body);
    // Two targets (an escalation chain): queued, on to the job's page.
    let g = send(
        &f,
        req(
            Method::POST,
            "/outbound",
            Some(&cookie),
            &form("+4930111\n+4930222", &csrf),
        ),
    )
    .await;
    assert_eq!(g.status, StatusCode::SEE_OTHER, "{}", g.body);
    let to = location(&g);
    let id = to
        .strip_prefix("/outbound/")
        .and_then(|r| r.strip_suffix("?notice=placed"))
        .expect("the job's page");
    let job = f.db.get_job(id).await.unwrap().expect("the job");
    assert_eq!(job.state, crate::db::jobs::JobState::Queued);
    assert_eq!(
        job.request["to"],
        json!(["+4930111", "+4930222"]),
        "{}",
        job.request
    );
    let g = get(&f, to, Some(&cookie)).await;
    assert!(g.body.contains("The call is queued"), "{}", g.body);
    assert!(g.body.contains("Disk full"));
}

fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("x", s)]).unwrap()[2..].to_string()
}

#[tokio::test]
async fn the_api_and_status_page_show_every_nodes_calls_and_warn_when_flows_differ() {
    let f = fixture().await;
    let now = crate::db::now_ms();
    // This node has one live call in memory; node-b has one in its heartbeat; node-c is down.
    f.state.status.calls.insert(CallView {
        id: "call-1".into(),
        flow: "menu".into(),
        version: "aaaaaaaaaaaa".into(),
        node: "hello".into(),
        theme: String::new(),
        since: SystemTime::now(),
    });
    let b_call = CallView {
        id: "call-77".into(),
        flow: "menu".into(),
        version: "bbbbbbbbbbbb".into(),
        node: "bye".into(),
        theme: String::new(),
        since: SystemTime::now(),
    };
    let flows = |v: &str| [("menu".to_string(), v.to_string())].into_iter().collect();
    let beats = [
        ("node-a", now, "aaaaaaaaaaaa", vec![]),
        ("node-b", now - 1_000, "bbbbbbbbbbbb", vec![b_call]),
        ("node-c", now - 600_000, "cccccccccccc", vec![]),
    ];
    for (node, seen, version, calls) in beats {
        let info = crate::engine::cluster::heartbeat_info(flows(version), &calls);
        f.db.with_node_id(node)
            .heartbeat(seen - 5_000, seen, calls.len() as u64, &info)
            .await
            .unwrap();
    }

    let g = get(&f, "/api/cluster", None).await;
    assert_eq!(g.status, StatusCode::OK, "{}", g.body);
    let v: serde_json::Value = serde_json::from_str(&g.body).unwrap();
    let nodes = v["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    assert_eq!(nodes[0]["me"], true);
    assert_eq!(nodes[2]["alive"], false);
    let calls: Vec<(&str, &str)> = v["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["node_id"].as_str().unwrap(), c["id"].as_str().unwrap()))
        .collect();
    assert_eq!(calls, [("node-a", "call-1"), ("node-b", "call-77")]);
    assert_eq!(v["calls"][1]["state"], "bye");
    assert_eq!(v["disagreements"][0]["flow"], "menu");
    assert_eq!(v["disagreements"][0]["versions"]["node-b"], "bbbbbbbbbbbb");
    assert!(v["disagreements"][0]["versions"].get("node-c").is_none());

    let (cookie, _) = login(&f, "val").await;
    let g = get(&f, "/", Some(&cookie)).await;
    assert_eq!(g.status, StatusCode::OK);
    assert!(
        g.body.contains("Nodes disagree on flow versions"),
        "{}",
        g.body
    );
    assert!(g.body.contains("node-b: bbbbbbbbbbbb"), "{}", g.body);
    assert!(g.body.contains("id=\"cluster-calls\"") && g.body.contains("call-77"));
    assert!(g.body.contains("<strong class=\"bad\">down</strong>"));

    // Every node on the same version: no warning, the cluster table stays.
    f.db.with_node_id("node-b")
        .heartbeat(
            now,
            now,
            0,
            &crate::engine::cluster::heartbeat_info(flows("aaaaaaaaaaaa"), &[]),
        )
        .await
        .unwrap();
    let g = get(&f, "/", Some(&cookie)).await;
    assert!(!g.body.contains("Nodes disagree"), "{}", g.body);
    assert!(g.body.contains("id=\"cluster-nodes\""));
    let v: serde_json::Value =
        serde_json::from_str(&get(&f, "/api/cluster", None).await.body).unwrap();
    assert_eq!(v["disagreements"], json!([]));
}
