//! Outbound jobs across a cluster (issue 12): three `phonetree run` nodes share one temporary
//! PostgreSQL (`tests/pg_support`) and dial a sipp UAS. 200 jobs are created through the three
//! nodes' APIs (round robin); each job calls its own user part (`sip:job-N@…`), so the UAS's
//! message log tells which job every INVITE belongs to and which node sent it (its Via port).
//!
//! Checked from the UAS's log, not from phonetree's word: every job dialled, and exactly once
//! except the calls cut by the node killed (`kill -9`) mid-queue, whose jobs are dialled again
//! by another node only after the first call is gone (never two live calls of one job); at no
//! moment more than `outbound.max_concurrent` calls up over the whole cluster; never more INVITEs
//! in any 5 s window than `outbound.rate` allows the cluster (generous bound: burst + slack).
//! Every job ends `done` (`until: answered`). No wall-clock assertion beyond those bounds.
//!
//! Same gate as the other interop suites: ignored unless `PHONETREE_INTEROP=1` at build time;
//! every child (nodes, sipp) is killed by PID on drop; PostgreSQL by its watcher.

#[allow(dead_code)]
#[path = "interop/harness.rs"]
mod harness;
mod pg_support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, SystemTime};

use harness::*;
use serde_json::{json, Value};

const JOBS: usize = 200;
const MAX_CONCURRENT: usize = 6;
const RATE: f64 = 5.0;
/// The flow holds each call this long, then hangs up (phonetree sends the BYE).
const FLOW: &str = "name: blip\nstart: hold\nnodes:\n  hold: { pause: 1500ms, next: bye }\n  bye: { hangup: {} }\n";

/// `POST /api/calls`: the job id.
fn create(work: &Work, addr: SocketAddr, body: &Value) -> String {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let body = body.to_string();
    write!(
        s,
        "POST /api/calls HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read");
    let answer = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    let v: Value = serde_json::from_str(answer).unwrap_or(Value::Null);
    match v["id"].as_str() {
        Some(id) if text.starts_with("HTTP/1.1 201") => id.to_string(),
        _ => work.fail(&format!("POST /api/calls to {addr}: {text}")),
    }
}

/// One call as the UAS saw it.
#[derive(Debug, Clone)]
struct UasCall {
    job: String,
    /// The sending node's SIP port (the INVITE's top Via).
    via_port: u16,
    invite_ms: i64,
    bye_ms: Option<i64>,
}

/// `2026-11-30 19:10:52.173869` (sipp runs with TZ=UTC) → Unix ms.
fn sipp_ms(stamp: &str) -> Option<i64> {
    let (date, time) = stamp.trim().split_once(' ')?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
    let micros: i64 = format!("{frac:0<6}").get(..6)?.parse().ok()?;
    // Days from 1970-01-01 (H. Hinnant's days_from_civil).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + hh * 3_600 + mm * 60 + ss) * 1_000_000 + micros) / 1_000)
}

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The calls in sipp's `-trace_msg` log, by Call-ID.
fn uas_calls(log: &str) -> BTreeMap<String, UasCall> {
    let mut calls: BTreeMap<String, UasCall> = BTreeMap::new();
    for block in log
        .split("----------------------------------------------- ")
        .skip(1)
    {
        let (stamp, rest) = block.split_once('\n').unwrap_or((block, ""));
        let Some(at) = sipp_ms(stamp) else { continue };
        if !rest.starts_with("UDP message received") {
            continue;
        }
        let msg = rest.split_once("\n\n").map(|(_, m)| m).unwrap_or("");
        let first = msg.lines().next().unwrap_or("");
        let Some(call_id) = header(msg, "Call-ID").map(str::to_string) else {
            continue;
        };
        if first.starts_with("INVITE ") {
            let job = first
                .split_whitespace()
                .nth(1)
                .and_then(|u| u.strip_prefix("sip:"))
                .and_then(|u| u.split('@').next())
                .unwrap_or("")
                .to_string();
            let via_port = header(msg, "Via")
                .and_then(|v| v.split_whitespace().nth(1))
                .and_then(|h| h.split(';').next())
                .and_then(|h| h.rsplit(':').next())
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            calls.entry(call_id).or_insert(UasCall {
                job,
                via_port,
                invite_ms: at,
                bye_ms: None,
            });
        } else if first.starts_with("BYE ") {
            if let Some(c) = calls.get_mut(&call_id) {
                c.bye_ms.get_or_insert(at);
            }
        }
    }
    calls
}

/// The most intervals open at one instant (an end at the same ms as a start is closed first).
fn max_overlap(intervals: &[(i64, i64)]) -> usize {
    let mut edges: Vec<(i64, i32)> = intervals
        .iter()
        .flat_map(|&(a, b)| [(a, 1), (b, -1)])
        .collect();
    edges.sort();
    let (mut open, mut most) = (0i32, 0i32);
    for (_, d) in edges {
        open += d;
        most = most.max(open);
    }
    most as usize
}

/// The most INVITEs in any window of `ms`.
fn max_in_window(mut starts: Vec<i64>, ms: i64) -> usize {
    starts.sort_unstable();
    let mut most = 0;
    let mut lo = 0;
    for hi in 0..starts.len() {
        while starts[hi] - starts[lo] >= ms {
            lo += 1;
        }
        most = most.max(hi - lo + 1);
    }
    most
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[test]
#[cfg_attr(
    not(interop),
    ignore = "real SIP peers: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn three_nodes_share_the_queue_dial_each_job_once_within_cluster_limits_and_survive_a_kill() {
    let _serial = serial();
    if !require(&[Peer::Sipp]) {
        return;
    }
    let pg = pg_support::Pg::shared().expect("PostgreSQL (bash .ci/install-deps.sh)");
    let url = pg.new_db();
    let uas_work = Work::new();
    let port = free_port();
    let log = uas_work.path("sipp-uas.messages.log");
    let mut uas = Command::new("sipp");
    uas.arg("-sf")
        .arg(script("sipp/uas_answer.xml"))
        .args(["-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-timeout", "150s", "-nostdin", "-trace_msg"])
        .arg("-message_file")
        .arg(&log)
        .env("TZ", "UTC");
    let _sipp = Proc::spawn(&uas_work, "sipp_uas", &mut uas);

    // Three nodes, each with its own folder (flows, data), one database.
    let works: Vec<Work> = (0..3).map(|_| Work::new()).collect();
    let max = MAX_CONCURRENT.to_string();
    let rate = RATE.to_string();
    let nodes: Vec<Engine> = works
        .iter()
        .enumerate()
        .map(|(i, w)| {
            w.write_flow("blip.yaml", FLOW);
            let id = format!("node-{i}");
            Engine::start(
                w,
                &[
                    ("PHONETREE_NODE_ID", id.as_str()),
                    ("PHONETREE_DATABASE_URL", url.as_str()),
                    ("PHONETREE_OUTBOUND_ALLOW", "sip:*@127.0.0.1:*"),
                    ("PHONETREE_OUTBOUND_MAX_CONCURRENT", max.as_str()),
                    ("PHONETREE_OUTBOUND_RATE", rate.as_str()),
                    ("PHONETREE_OUTBOUND_LEASE", "3s"),
                    ("PHONETREE_LOG", "phonetree=info"),
                ],
            )
        })
        .collect();
    let work = &works[0];

    let mut ids = Vec::new();
    for n in 0..JOBS {
        let node = &nodes[n % 3];
        let body = json!({
            "to": format!("sip:job-{n}@127.0.0.1:{port}"),
            "flow": "blip",
            "retry": {"max_attempts": 3, "backoff_base": "200ms"},
        });
        ids.push(create(work, node.http, &body));
    }

    // Kill node-1 mid-queue, while it has calls up.
    let invites = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .matches("\n\nINVITE sip:job-")
            .count()
    };
    wait_until(work, "60 calls at the UAS", Duration::from_secs(60), || {
        invites() >= 60
    });
    let victim = &nodes[1];
    wait_until(
        work,
        "node-1 to have a live call",
        Duration::from_secs(20),
        || matches!(harness::http_get(victim.http, "/api/calls"), Ok((200, b)) if b.contains("\"id\"")),
    );
    victim
        .proc
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .kill_group("KILL");
    let killed_ms = unix_ms();

    // The survivors finish the queue, the dead node's jobs included (after its lease).
    let done_count = |e: &Engine| -> usize {
        let q = e.json(work, "/api/calls?status=queued&limit=1");
        let r = e.json(work, "/api/calls?status=running&limit=1");
        q["calls"].as_array().map_or(1, Vec::len) + r["calls"].as_array().map_or(1, Vec::len)
    };
    wait_until(
        work,
        "every job to finish",
        Duration::from_secs(150),
        || done_count(&nodes[0]) == 0,
    );
    for (n, id) in ids.iter().enumerate() {
        let job = nodes[2 * (n % 2)].json(work, &format!("/api/calls/{id}"));
        if job["job"]["state"] != "done" || job["job"]["outcome"] != "answered" {
            work.fail(&format!("job {n} did not end done/answered: {job:#}"));
        }
    }
    // The last BYEs reach the UAS's log.
    std::thread::sleep(Duration::from_millis(500));

    let calls = uas_calls(&std::fs::read_to_string(&log).unwrap_or_default());
    let victim_port = victim.sip.port();
    let mut by_job: BTreeMap<&str, Vec<&UasCall>> = BTreeMap::new();
    for c in calls.values() {
        by_job.entry(c.job.as_str()).or_default().push(c);
    }
    if by_job.len() != JOBS {
        work.fail(&format!(
            "{} jobs reached the UAS, not {JOBS}",
            by_job.len()
        ));
    }
    let mut redialled = 0;
    for (job, list) in &mut by_job {
        list.sort_by_key(|c| c.invite_ms);
        // A job is dialled again only when its call died with node-1, after that call.
        for pair in list.windows(2) {
            let (first, next) = (pair[0], pair[1]);
            let first_end = first.bye_ms.unwrap_or(killed_ms);
            if first.via_port != victim_port || first.bye_ms.is_some() {
                work.fail(&format!(
                    "{job} dialled twice without a dead node: {list:?}"
                ));
            }
            if next.invite_ms <= first_end {
                work.fail(&format!("{job} had two live calls at once: {list:?}"));
            }
            redialled += 1;
        }
    }
    if redialled > MAX_CONCURRENT {
        work.fail(&format!(
            "{redialled} jobs redialled: more than node-1 could hold"
        ));
    }
    // Concurrency over the whole cluster, as the UAS saw it (a call cut by the kill ends then).
    let intervals: Vec<(i64, i64)> = calls
        .values()
        .map(|c| (c.invite_ms, c.bye_ms.unwrap_or(killed_ms.max(c.invite_ms))))
        .collect();
    let overlap = max_overlap(&intervals);
    let per_node: BTreeMap<u16, usize> = calls.values().fold(BTreeMap::new(), |mut m, c| {
        *m.entry(c.via_port).or_default() += 1;
        m
    });
    let starts: Vec<i64> = calls.values().map(|c| c.invite_ms).collect();
    let in_5s = max_in_window(starts, 5_000);
    let rate_bound = (RATE * 5.0) as usize + RATE as usize + 3;
    eprintln!(
        "cluster_outbound: {} calls, {redialled} redialled after the kill, most at once {overlap} \
         (limit {MAX_CONCURRENT}), most INVITEs in 5 s {in_5s} (bound {rate_bound}), per node {per_node:?}",
        calls.len()
    );
    if overlap > MAX_CONCURRENT {
        work.fail(&format!(
            "{overlap} calls up at once, limit {MAX_CONCURRENT}"
        ));
    }
    if overlap < 2 {
        work.fail("the calls never overlapped: the test proves nothing about concurrency");
    }
    if in_5s > rate_bound {
        work.fail(&format!(
            "{in_5s} INVITEs in 5 s, the cluster allows {rate_bound}"
        ));
    }
    if per_node.len() != 3 || per_node.values().any(|&n| n < 10) {
        work.fail(&format!("the nodes did not share the queue: {per_node:?}"));
    }
    let _ = &works;
}

#[test]
fn the_log_parser_pairs_invites_and_byes_and_counts_overlaps() {
    let log = "----------------------------------------------- 2026-11-30 19:10:52.100000\n\
UDP message received [514] bytes :\n\nINVITE sip:job-1@127.0.0.1:5 SIP/2.0\n\
Via: SIP/2.0/UDP 127.0.0.1:7001;branch=z9hG4bK-1\nCall-ID: a\n\n\
----------------------------------------------- 2026-11-30 19:10:52.200000\n\
UDP message sent (267 bytes):\n\nSIP/2.0 200 OK\nCall-ID: a\n\n\
----------------------------------------------- 2026-11-30 19:10:53.100000\n\
UDP message received [100] bytes :\n\nBYE sip:target@127.0.0.1:5 SIP/2.0\nCall-ID: a\n\n";
    let calls = uas_calls(log);
    let a = &calls["a"];
    assert_eq!((a.job.as_str(), a.via_port), ("job-1", 7001));
    assert_eq!(a.bye_ms.unwrap() - a.invite_ms, 1_000);
    assert_eq!(max_overlap(&[(0, 10), (5, 15), (10, 20)]), 2);
    assert_eq!(max_in_window(vec![0, 100, 4_999, 5_000, 5_001], 5_000), 4);
    assert_eq!(sipp_ms("1970-01-02 00:00:01.5"), Some(86_401_500));
    assert_eq!(
        sipp_ms("2026-11-30 19:10:52.100000"),
        Some(1_796_065_852_100)
    );
}
