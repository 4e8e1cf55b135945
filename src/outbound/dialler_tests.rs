//! The dialler against an in-memory store with the database's lease semantics and a scripted
//! placer: retries with backoff, escalation, the allow-list, the concurrency limit, and the
//! durability outcomes of a node killed mid-dial (another node, or the same one restarted,
//! records the attempt `interrupted` and retries; an acknowledged job is never dialled again;
//! no job is ever in two attempts at once).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::AtomicBool;

use serde_json::json;

use super::*;
use crate::outbound::request::Defaults;

/// The shared "database".
#[derive(Default)]
struct Db {
    jobs: Vec<Row>,
    /// `requeue` calls: (job, run_at - now).
    requeues: Vec<(String, i64)>,
}

struct Row {
    id: String,
    request: JobRequest,
    state: &'static str,
    run_at: i64,
    owner: Option<String>,
    lease_until: i64,
    attempts: Vec<AttemptRow>,
    marks: Marks,
    outcome: Option<String>,
}

/// One node's view of the store.
#[derive(Clone)]
struct Mem {
    db: Arc<Mutex<Db>>,
    node: String,
}

impl Mem {
    fn node(&self, name: &str) -> Mem {
        Mem {
            db: self.db.clone(),
            node: name.into(),
        }
    }

    fn add(&self, id: &str, request: JobRequest) {
        let run_at = request.run_at_ms();
        self.db.lock().unwrap().jobs.push(Row {
            id: id.into(),
            request,
            state: "queued",
            run_at,
            owner: None,
            lease_until: 0,
            attempts: Vec::new(),
            marks: Marks::default(),
            outcome: None,
        });
    }

    fn job(&self, id: &str) -> (String, Option<String>, Vec<String>) {
        let db = self.db.lock().unwrap();
        let r = db.jobs.iter().find(|r| r.id == id).expect("job");
        let attempts = r
            .attempts
            .iter()
            .map(|a| {
                format!(
                    "{}:{}",
                    a.contact,
                    a.outcome.clone().unwrap_or("open".into())
                )
            })
            .collect();
        (r.state.to_string(), r.outcome.clone(), attempts)
    }

    fn with<T>(&self, job: &str, f: impl FnOnce(&mut Row, &str) -> T) -> Option<T> {
        let mut db = self.db.lock().unwrap();
        let node = self.node.clone();
        db.jobs
            .iter_mut()
            .find(|r| r.id == job)
            .map(|r| f(r, &node))
    }
}

fn ours(r: &Row, node: &str) -> bool {
    r.state == "running" && r.owner.as_deref() == Some(node)
}

fn interrupt(r: &mut Row) {
    for a in &mut r.attempts {
        if a.outcome.is_none() {
            a.outcome = Some("interrupted".into());
            a.ended_ms = Some(now_ms());
        }
    }
    r.state = "queued";
    r.owner = None;
}

impl JobStore for Mem {
    fn claim(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
    ) -> BoxFut<'_, Result<ClaimResult, StoreError>> {
        let mut db = self.db.lock().unwrap();
        let node = self.node.clone();
        let got = db
            .jobs
            .iter_mut()
            .filter(|r| r.state == "queued" && r.run_at <= now_ms)
            .min_by_key(|r| r.run_at)
            .map(|r| {
                r.state = "running";
                r.owner = Some(node);
                r.lease_until = lease_until_ms;
                ClaimedJob {
                    id: r.id.clone(),
                    request: r.request.clone(),
                    marks: r.marks,
                }
            });
        Box::pin(
            async move { Ok(got.map_or(ClaimResult::Idle, |j| ClaimResult::Job(Box::new(j)))) },
        )
    }

    fn renew(
        &self,
        job: &str,
        lease_until_ms: i64,
        _now: i64,
    ) -> BoxFut<'_, Result<bool, StoreError>> {
        let ok = self
            .with(job, |r, node| {
                let mine = ours(r, node);
                if mine {
                    r.lease_until = lease_until_ms;
                }
                mine
            })
            .unwrap_or(false);
        Box::pin(async move { Ok(ok) })
    }

    fn start_attempt(
        &self,
        job: &str,
        contact: &str,
        _now: i64,
    ) -> BoxFut<'_, Result<Option<u32>, StoreError>> {
        let n = self
            .with(job, |r, node| {
                if !ours(r, node) {
                    return None;
                }
                assert!(
                    r.attempts.iter().all(|a| a.outcome.is_some()),
                    "a job dialled twice at once: {:?}",
                    r.attempts
                );
                let n = r.attempts.len() as u32 + 1;
                r.attempts.push(AttemptRow {
                    attempt: n,
                    contact: contact.into(),
                    outcome: None,
                    ended_ms: None,
                });
                Some(n)
            })
            .flatten();
        Box::pin(async move { Ok(n) })
    }

    fn finish_attempt(
        &self,
        job: &str,
        attempt: u32,
        report: &AttemptReport,
        now: i64,
    ) -> BoxFut<'_, Result<(), StoreError>> {
        self.with(job, |r, _| {
            if let Some(a) = r.attempts.iter_mut().find(|a| a.attempt == attempt) {
                // A late finish after the attempt was declared interrupted keeps `interrupted`.
                if a.outcome.is_none() {
                    a.outcome = Some(report.outcome.clone());
                    a.ended_ms = Some(now);
                }
            }
        });
        Box::pin(async { Ok(()) })
    }

    fn attempts(&self, job: &str) -> BoxFut<'_, Result<Vec<AttemptRow>, StoreError>> {
        let rows = self
            .with(job, |r, _| r.attempts.clone())
            .unwrap_or_default();
        Box::pin(async move { Ok(rows) })
    }

    fn mark(&self, job: &str, mark: Mark, _now: i64) -> BoxFut<'_, Result<(), StoreError>> {
        self.with(job, |r, _| match mark {
            Mark::Acknowledged => r.marks.acknowledged = true,
            Mark::Heard => r.marks.heard = true,
        });
        Box::pin(async { Ok(()) })
    }

    fn requeue(
        &self,
        job: &str,
        run_at_ms: i64,
        outcome: &str,
        now_ms: i64,
    ) -> BoxFut<'_, Result<bool, StoreError>> {
        let ok = self
            .with(job, |r, node| {
                let mine = ours(r, node);
                if mine {
                    r.state = "queued";
                    r.owner = None;
                    r.run_at = run_at_ms;
                    r.outcome = Some(outcome.into());
                }
                mine
            })
            .unwrap_or(false);
        if ok {
            self.db
                .lock()
                .unwrap()
                .requeues
                .push((job.to_string(), run_at_ms - now_ms));
        }
        Box::pin(async move { Ok(ok) })
    }

    fn finish(
        &self,
        job: &str,
        done: bool,
        outcome: &str,
        _now: i64,
    ) -> BoxFut<'_, Result<bool, StoreError>> {
        let ok = self
            .with(job, |r, node| {
                let mine = ours(r, node);
                if mine {
                    r.state = if done { "done" } else { "failed" };
                    r.owner = None;
                    r.outcome = Some(outcome.into());
                }
                mine
            })
            .unwrap_or(false);
        Box::pin(async move { Ok(ok) })
    }

    fn expire_leases(&self, now_ms: i64) -> BoxFut<'_, Result<u64, StoreError>> {
        let mut db = self.db.lock().unwrap();
        let mut n = 0;
        for r in db.jobs.iter_mut() {
            if r.state == "running" && r.lease_until < now_ms {
                interrupt(r);
                n += 1;
            }
        }
        Box::pin(async move { Ok(n) })
    }

    fn release_own(&self, _now: i64) -> BoxFut<'_, Result<u64, StoreError>> {
        let mut db = self.db.lock().unwrap();
        let mut n = 0;
        for r in db.jobs.iter_mut() {
            if r.state == "running" && r.owner.as_deref() == Some(self.node.as_str()) {
                interrupt(r);
                n += 1;
            }
        }
        Box::pin(async move { Ok(n) })
    }
}

/// What a scripted callee does.
#[derive(Debug, Clone)]
enum Answer {
    /// The call ends like this (`busy`, `no_answer`, …).
    Outcome(&'static str),
    /// Answered; the flow marks acknowledged.
    Ack,
    /// Never returns (the process dies mid-call).
    Hang,
    /// Returns once `gate` opens.
    Gated,
}

#[derive(Default)]
struct Script {
    /// Per contact, what happens on each call in turn (the last one repeats).
    plans: HashMap<String, VecDeque<Answer>>,
    calls: Vec<String>,
    concurrent: usize,
    max_concurrent: usize,
}

struct Fake {
    script: Arc<Mutex<Script>>,
    gate: Arc<Notify>,
    open: Arc<AtomicBool>,
}

impl Placer for Fake {
    fn call(
        &self,
        _job: &str,
        _attempt: u32,
        req: &CallRequest,
        contact: usize,
        on_mark: MarkSink,
    ) -> BoxFut<'static, AttemptReport> {
        let to = req.to[contact].clone();
        let answer = {
            let mut s = self.script.lock().unwrap();
            s.calls.push(to.clone());
            s.concurrent += 1;
            s.max_concurrent = s.max_concurrent.max(s.concurrent);
            let plan = s.plans.entry(to).or_default();
            if plan.len() > 1 {
                plan.pop_front()
            } else {
                plan.front().cloned()
            }
            .unwrap_or(Answer::Outcome("failed"))
        };
        let (script, gate, open) = (self.script.clone(), self.gate.clone(), self.open.clone());
        Box::pin(async move {
            let report = |o: &str| AttemptReport {
                outcome: o.into(),
                ..AttemptReport::default()
            };
            let r = match answer {
                Answer::Outcome(o) => report(o),
                Answer::Ack => {
                    on_mark(Mark::Heard);
                    on_mark(Mark::Acknowledged);
                    report("acknowledged")
                }
                Answer::Hang => std::future::pending().await,
                Answer::Gated => {
                    while !open.load(Ordering::SeqCst) {
                        gate.notified().await;
                    }
                    report("answered")
                }
            };
            script.lock().unwrap().concurrent -= 1;
            r
        })
    }

    fn sms(&self, _job: &str, to: &str, _text: &str) -> BoxFut<'static, AttemptReport> {
        self.script.lock().unwrap().calls.push(format!("sms {to}"));
        Box::pin(async {
            AttemptReport {
                outcome: "sent".into(),
                detail: Some("SM1 queued".into()),
                ..AttemptReport::default()
            }
        })
    }
}

fn fake(plans: &[(&str, Vec<Answer>)]) -> (Arc<Fake>, Arc<Mutex<Script>>) {
    let script = Arc::new(Mutex::new(Script {
        plans: plans
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().cloned().collect()))
            .collect(),
        ..Script::default()
    }));
    let f = Arc::new(Fake {
        script: script.clone(),
        gate: Arc::new(Notify::new()),
        open: Arc::new(AtomicBool::new(false)),
    });
    (f, script)
}

fn cfg(allow: &[&str], max_concurrent: usize, lease_ms: u64) -> DiallerConfig {
    DiallerConfig {
        max_concurrent,
        rate: 1000.0,
        lease: Duration::from_millis(lease_ms),
        poll: Duration::from_millis(5),
        allow: OutboundPolicy::new(allow).expect("patterns"),
    }
}

fn call(to: &[&str], max_attempts: u32) -> JobRequest {
    let mut r = CallRequest::parse(
        &json!({"to": to, "message": "Disk full", "retry": {"max_attempts": max_attempts, "backoff_base": "10ms", "backoff_max": "40ms"}}),
        &Defaults::default(),
        now_ms(),
    )
    .expect("request");
    r.run_at_ms = 0;
    JobRequest::Call(r)
}

/// Runs the dialler until `done` holds for the store (bounded).
async fn until(store: &Mem, done: impl Fn(&Mem) -> bool) {
    for _ in 0..2000 {
        if done(store) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let db = store.db.lock().unwrap();
    let rows: Vec<String> = db
        .jobs
        .iter()
        .map(|r| {
            format!(
                "{} {} run_at={} {:?} {:?}",
                r.id, r.state, r.run_at, r.attempts, r.outcome
            )
        })
        .collect();
    panic!("the dialler did not get there in time: {rows:#?}");
}

fn finished(id: &str) -> impl Fn(&Mem) -> bool + '_ {
    move |s: &Mem| matches!(s.job(id).0.as_str(), "done" | "failed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_then_acknowledged_is_done_and_never_dialled_again() {
    let store = Mem {
        db: Arc::default(),
        node: "a".into(),
    };
    store.add("j1", call(&["+4930111"], 5));
    let (placer, script) = fake(&[(
        "+4930111",
        vec![
            Answer::Outcome("busy"),
            Answer::Outcome("no_answer"),
            Answer::Ack,
        ],
    )]);
    let d = Dialler::new(Arc::new(store.clone()), placer, cfg(&["+49*"], 4, 2000));
    let task = tokio::spawn(d.run());
    until(&store, finished("j1")).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    task.abort();
    let (state, outcome, attempts) = store.job("j1");
    assert_eq!(
        (state.as_str(), outcome.as_deref()),
        ("done", Some("acknowledged"))
    );
    assert_eq!(
        attempts,
        [
            "+4930111:busy",
            "+4930111:no_answer",
            "+4930111:acknowledged"
        ]
    );
    assert_eq!(
        script.lock().unwrap().calls.len(),
        3,
        "not dialled after the acknowledgement"
    );
    let requeues = store.db.lock().unwrap().requeues.clone();
    let waits: Vec<i64> = requeues.iter().map(|(_, w)| *w).collect();
    assert_eq!(waits.len(), 2);
    assert!(
        waits[0] <= 10 && waits[0] > 0 && waits[1] <= 20 && waits[1] > 10,
        "backoff 10 ms, then 20 ms: {waits:?}"
    );
    assert!(
        store.db.lock().unwrap().jobs[0].marks.acknowledged,
        "the mark is stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_busy_fails_after_max_attempts_then_the_chain_moves_on() {
    let store = Mem {
        db: Arc::default(),
        node: "a".into(),
    };
    store.add("j1", call(&["+4930111"], 3));
    store.add("j2", call(&["+4930111", "sip:ops@pbx.example.com"], 2));
    let (placer, _) = fake(&[
        ("+4930111", vec![Answer::Outcome("busy")]),
        ("sip:ops@pbx.example.com", vec![Answer::Ack]),
    ]);
    let d = Dialler::new(
        Arc::new(store.clone()),
        placer,
        cfg(&["+49*", "sip:*@pbx.example.com"], 4, 2000),
    );
    let task = tokio::spawn(d.run());
    until(&store, |s| finished("j1")(s) && finished("j2")(s)).await;
    task.abort();
    let (state, outcome, attempts) = store.job("j1");
    assert_eq!(
        (state.as_str(), outcome.as_deref()),
        ("failed", Some("busy"))
    );
    assert_eq!(attempts.len(), 3);
    let (state, _, attempts) = store.job("j2");
    assert_eq!(state, "done");
    assert_eq!(
        attempts,
        [
            "+4930111:busy",
            "+4930111:busy",
            "sip:ops@pbx.example.com:acknowledged"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_outside_the_allow_list_are_never_dialled() {
    let store = Mem {
        db: Arc::default(),
        node: "a".into(),
    };
    store.add("j1", call(&["+1900555", "+4930111"], 2));
    store.add("j2", call(&["+1900555"], 2));
    let (placer, script) = fake(&[("+4930111", vec![Answer::Ack])]);
    let d = Dialler::new(Arc::new(store.clone()), placer, cfg(&["+49*"], 4, 2000));
    let task = tokio::spawn(d.run());
    until(&store, |s| finished("j1")(s) && finished("j2")(s)).await;
    task.abort();
    assert_eq!(
        store.job("j1").2,
        ["+1900555:refused", "+4930111:acknowledged"]
    );
    assert_eq!(store.job("j2").1.as_deref(), Some("refused"));
    assert_eq!(
        script.lock().unwrap().calls,
        ["+4930111"],
        "the refused number was never called"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_max_concurrent_calls_at_once() {
    let store = Mem {
        db: Arc::default(),
        node: "a".into(),
    };
    for i in 0..6 {
        store.add(&format!("j{i}"), call(&[&format!("+49301{i}")], 1));
    }
    let plans: Vec<(String, Vec<Answer>)> = (0..6)
        .map(|i| (format!("+49301{i}"), vec![Answer::Gated]))
        .collect();
    let plans: Vec<(&str, Vec<Answer>)> =
        plans.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let (placer, script) = fake(&plans);
    let (gate, open) = (placer.gate.clone(), placer.open.clone());
    let d = Dialler::new(Arc::new(store.clone()), placer, cfg(&["+49*"], 2, 2000));
    let task = tokio::spawn(d.run());
    until(&store, |_| script.lock().unwrap().calls.len() == 2).await;
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(
        script.lock().unwrap().calls.len(),
        2,
        "the third waits for a free slot"
    );
    open.store(true, Ordering::SeqCst);
    gate.notify_waiters();
    let ids = ["j0", "j1", "j2", "j3", "j4", "j5"];
    until(&store, |s| ids.iter().all(|id| finished(id)(s))).await;
    task.abort();
    assert_eq!(script.lock().unwrap().calls.len(), 6);
    assert_eq!(script.lock().unwrap().max_concurrent, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_dial_leaves_an_interrupted_attempt_that_another_node_retries() {
    let store = Mem {
        db: Arc::default(),
        node: "a".into(),
    };
    store.add("j1", call(&["+4930111"], 3));
    store.add("acked", call(&["+4930222"], 3));
    store.db.lock().unwrap().jobs[1].marks.acknowledged = true;
    // Node A: its own runtime, dropped while the call hangs (kill -9: no task survives).
    let rt_a = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("rt");
    let (placer_a, script_a) = fake(&[("+4930111", vec![Answer::Hang])]);
    rt_a.spawn(Dialler::new(Arc::new(store.node("a")), placer_a, cfg(&["+49*"], 4, 300)).run());
    until(&store, |_| !script_a.lock().unwrap().calls.is_empty()).await;
    rt_a.shutdown_background();
    assert_eq!(store.job("j1").2, ["+4930111:open"]);
    // Node B takes over once A's lease has run out.
    let (placer_b, script_b) = fake(&[("+4930111", vec![Answer::Ack])]);
    let task = tokio::spawn(
        Dialler::new(Arc::new(store.node("b")), placer_b, cfg(&["+49*"], 4, 300)).run(),
    );
    until(&store, |s| finished("j1")(s) && finished("acked")(s)).await;
    task.abort();
    let (state, _, attempts) = store.job("j1");
    assert_eq!(state, "done");
    assert_eq!(attempts, ["+4930111:interrupted", "+4930111:acknowledged"]);
    assert_eq!(store.job("acked").0, "done");
    assert!(
        store.job("acked").2.is_empty(),
        "an acknowledged job is never dialled again"
    );
    assert_eq!(script_b.lock().unwrap().calls, ["+4930111"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_node_restarted_releases_its_old_leases_at_once() {
    let store = Mem {
        db: Arc::default(),
        node: "a".into(),
    };
    store.add("j1", call(&["+4930111"], 3));
    let rt_a = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("rt");
    let (placer_a, script_a) = fake(&[("+4930111", vec![Answer::Hang])]);
    // A long lease: without release_own the restarted node would wait for it.
    rt_a.spawn(
        Dialler::new(
            Arc::new(store.node("a")),
            placer_a,
            cfg(&["+49*"], 4, 600_000),
        )
        .run(),
    );
    until(&store, |_| !script_a.lock().unwrap().calls.is_empty()).await;
    rt_a.shutdown_background();
    let (placer, _) = fake(&[("+4930111", vec![Answer::Outcome("busy"), Answer::Ack])]);
    let task = tokio::spawn(
        Dialler::new(
            Arc::new(store.node("a")),
            placer,
            cfg(&["+49*"], 4, 600_000),
        )
        .run(),
    );
    until(&store, finished("j1")).await;
    task.abort();
    assert_eq!(
        store.job("j1").2,
        [
            "+4930111:interrupted",
            "+4930111:busy",
            "+4930111:acknowledged"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_jobs_are_sent_once() {
    let store = Mem {
        db: Arc::default(),
        node: "a".into(),
    };
    store.add(
        "s1",
        JobRequest::Sms(crate::outbound::job::SmsRequest {
            to: "+4930111".into(),
            text: "Disk full".into(),
            run_at_ms: 0,
            retry: Defaults::default().retry,
        }),
    );
    let (placer, script) = fake(&[]);
    let task =
        tokio::spawn(Dialler::new(Arc::new(store.clone()), placer, cfg(&["+49*"], 4, 2000)).run());
    until(&store, finished("s1")).await;
    task.abort();
    assert_eq!(store.job("s1").1.as_deref(), Some("sent"));
    assert_eq!(script.lock().unwrap().calls, ["sms +4930111"]);
}
