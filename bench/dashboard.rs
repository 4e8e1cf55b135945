//! Dashboard benchmark (`cargo bench --bench dashboard`, or `bench/run.sh` which also writes
//! BENCHMARKS.md). Not a test: nothing here asserts on time.
//!
//! The status page (`GET /`, the whole HTTP router: gate, template, security headers) with
//! 1,000 live calls in `engine::status`, requested one after another and timed until the last
//! byte of the body. Measured twice in the same run, in alternating rounds:
//! - *with the register*: a SQLite database is open and the call register's writer is busy
//!   with what 1,000 live calls send it (each call a timeline event per second and its record
//!   updated every ten seconds: ~1,100 items/s, batched into transactions);
//! - *baseline, without the register*: no database, no writer.
//!
//! The viewer is an API token (no session lookup), so the baseline needs no database at all.
//! Also the page's live half: the first `live` event of `GET /status/events` (the SSE stream
//! the page's script opens: the same 1,000 calls as JSON), timed to the event's bytes.
//! Reported: p50 and p99 of each, and their ratio.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use futures_util::StreamExt;
use tower::ServiceExt;

use phonetree::config::api::ApiConfig;
use phonetree::db::calls::{CallRecord, Direction, TimelineEvent};
use phonetree::db::DbSlot;
use phonetree::engine::http::{router, HttpState};
use phonetree::engine::status::{CallView, Status};
use phonetree::flow::load::LoadOptions;
use phonetree::register::{Item, Register};
use phonetree::registry::Registry;

const LIVE: usize = 1000;
const TOKEN: &str = "bench-token-0123456789abcdef";
const FLOW: &str = "name: menu\nroutes: [\"5000\"]\nstart: hello\nnodes:\n  hello: { say: \"Hello\", next: bye }\n  bye: { hangup: {} }\n";

fn main() {
    let requests: usize = arg("--requests").unwrap_or(2000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(requests));
}

fn arg(name: &str) -> Option<usize> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1)?.parse().ok()
}

async fn run(requests: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let flows = dir.path().join("flows");
    std::fs::create_dir(&flows).expect("flows dir");
    std::fs::write(flows.join("menu.yaml"), FLOW).expect("flow");
    let (registry, _) = Registry::open(&flows, LoadOptions::default());
    let status = Arc::new(Status::new(Arc::new(registry)));
    let since = SystemTime::now();
    for i in 0..LIVE {
        status.calls.insert(CallView {
            id: format!("call-{i}"),
            flow: "menu".into(),
            version: "0123456789ab".into(),
            node: if i % 2 == 0 { "hello" } else { "bye" }.into(),
            theme: String::new(),
            since,
        });
    }
    let api = ApiConfig {
        token_hashes: vec![phonetree::auth::token::hash(TOKEN)],
        ..ApiConfig::default()
    };
    let listen: SocketAddr = "127.0.0.1:8080".parse().expect("addr");

    // Without the register: no database.
    let bare = HttpState::new(status.clone(), DbSlot::default(), api.clone(), listen, None);
    // With it: SQLite open, the writer fed as 1,000 live calls would feed it.
    let cfg = phonetree::config::database::DatabaseConfig {
        data_dir: dir.path().join("data"),
        ..Default::default()
    };
    let db = phonetree::db::open(&cfg, "bench").await.expect("database");
    let slot = DbSlot::ready(db);
    let register = Register::writer_only(slot.clone(), 100_000, None, "bench");
    let busy = Arc::new(AtomicBool::new(false));
    tokio::spawn(feed(register, busy.clone()));
    let full = HttpState::new(status.clone(), slot, api, listen, None);

    let bare_router = router(bare);
    let full_router = router(full);
    // Warm up both (templates compiled, SQLite pages cached).
    for _ in 0..50 {
        get(&bare_router, "/").await;
        get(&full_router, "/").await;
        get(&bare_router, EVENTS).await;
        get(&full_router, EVENTS).await;
    }
    println!("| benchmark | measured | baseline | ratio | target |");
    println!("|---|---|---|---|---|");
    for (path, what) in [("/", "status page"), (EVENTS, "status live event (SSE)")] {
        let mut without = Vec::with_capacity(requests);
        let mut with = Vec::with_capacity(requests);
        let rounds = 5;
        for _ in 0..rounds {
            busy.store(false, Ordering::Relaxed);
            for _ in 0..requests / rounds {
                without.push(get(&bare_router, path).await);
            }
            busy.store(true, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(200)).await;
            for _ in 0..requests / rounds {
                with.push(get(&full_router, path).await);
            }
        }
        busy.store(false, Ordering::Relaxed);
        without.sort();
        with.sort();
        for (name, q) in [("p50", 0.50), ("p99", 0.99)] {
            let m = pick(&with, q);
            let b = pick(&without, q);
            println!(
                "| dashboard {what}, {LIVE} live calls, {name} (with the register busy; baseline: no database) | {} | {} | {:.2} | — |",
                ms(m),
                ms(b),
                m.as_secs_f64() / b.as_secs_f64()
            );
        }
    }
}

/// The status page's live stream.
const EVENTS: &str = "/status/events";

fn pick(sorted: &[Duration], q: f64) -> Duration {
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// One `GET path`, timed until the whole body is read (the stream: until its first event).
async fn get(r: &axum::Router, path: &str) -> Duration {
    let mut req = Request::builder()
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .expect("request");
    let peer: SocketAddr = "127.0.0.1:5555".parse().expect("peer");
    req.extensions_mut().insert(ConnectInfo(peer));
    let start = Instant::now();
    let resp = r.clone().oneshot(req).await.expect("infallible");
    assert_eq!(resp.status(), StatusCode::OK, "{path}");
    if path == EVENTS {
        // The first frame is the whole first event (one `live` event, written at once).
        let mut body = resp.into_body().into_data_stream();
        let first = body.next().await.expect("an event").expect("bytes");
        let took = start.elapsed();
        assert!(first.starts_with(b"event: live"), "{first:?}");
        return took;
    }
    let body = axum::body::to_bytes(resp.into_body(), 64 << 20)
        .await
        .expect("body");
    let took = start.elapsed();
    std::hint::black_box(body);
    took
}

/// What 1,000 live calls send the register: per 10 ms tick, 10 timeline events and one record
/// update (while `busy`).
async fn feed(register: Register, busy: Arc<AtomicBool>) {
    let now = phonetree::db::now_ms();
    for i in 0..LIVE {
        let rec = CallRecord::new(
            format!("bench-call-{i}"),
            "bench",
            Direction::Inbound,
            "+15550001",
            "5000",
            now,
        );
        register.send(Item::Call(Box::new(rec)));
    }
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let mut n: u64 = 0;
    loop {
        tick.tick().await;
        if !busy.load(Ordering::Relaxed) {
            continue;
        }
        let now = phonetree::db::now_ms();
        for _ in 0..10 {
            n += 1;
            let call = format!("bench-call-{}", n % LIVE as u64);
            register.send(Item::Event {
                call_id: call,
                event: TimelineEvent {
                    seq: (n / LIVE as u64) as u32,
                    at_ms: now,
                    kind: "node".into(),
                    data: serde_json::json!({ "node": "hello" }),
                },
            });
        }
        let id = format!("bench-call-{}", n % LIVE as u64);
        let mut rec = CallRecord::new(id, "bench", Direction::Inbound, "+15550001", "5000", now);
        rec.flow = Some("menu".into());
        register.send(Item::Call(Box::new(rec)));
    }
}
