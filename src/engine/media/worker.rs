//! Media workers: a few OS threads (one per core by default), each owning the media
//! [`Session`]s of many calls, with one timer queue and one batched receive loop for all of them.
//!
//! Why not a tokio task per call: at thousands of calls, per-call timers and wake-ups cost more
//! than the media itself (every 20 ms each call woke its task, polled its channels and went
//! back to sleep). A worker instead sleeps until the earliest packet any of its calls owes
//! (waking at most once per [`TIMER_COALESCE`], so packets leave up to that late, never early),
//! and reads its sockets in batches: they sit in one level-triggered epoll set, nested one-shot
//! in the worker's control set; after a receive pass the set is not re-armed until
//! [`RX_BATCH`] later, so a worker reads its sockets at most once per window instead of once
//! per packet, while a key press arriving on an idle worker is still seen at once. Commands from
//! the call tasks (play, barge-in, re-INVITE...) and prompts the cache finished loading come
//! through an inbox and an eventfd wake-up, and are acted on immediately: a response prompt
//! starts as soon as the call asks for it.
//!
//! The worker itself never blocks on anything but its epoll wait. A panic inside one session
//! (a bug) drops that session with an error log; the worker and its other calls go on.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;

use super::core::Command;
use super::poller::{Epoll, RecvBatch, Waker};
use super::prompts::{Prompt, PromptError};
use super::state::Session;
use super::MediaPriority;
use crate::machine::io::RequestId;

/// Shortest interval between two receive passes of a worker.
pub const RX_BATCH: Duration = Duration::from_millis(1);
/// Shortest interval between two timer passes (packets due meanwhile go out together).
pub const TIMER_COALESCE: Duration = Duration::from_millis(1);

/// Control-set tokens (session tokens in the receive set are session ids).
const WAKER: u64 = 0;
const RX_SET: u64 = 1;

/// What a worker is told.
pub(super) enum Msg {
    Open(Box<Session>),
    Command(u64, Command),
    Loaded(u64, RequestId, Result<Prompt, Arc<PromptError>>),
    Close(u64),
}

/// A session's way to its worker (held by the handle and by the session's own load tasks).
#[derive(Clone)]
pub(super) struct Link {
    id: u64,
    inbox: mpsc::Sender<Msg>,
    waker: Arc<Waker>,
}

impl Link {
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Delivers `msg` and wakes the worker. A worker never exits, so delivery cannot fail
    /// while the process runs.
    pub fn post(&self, msg: Msg) {
        if self.inbox.send(msg).is_ok() {
            self.waker.wake();
        }
    }
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link").field("id", &self.id).finish()
    }
}

struct WorkerRef {
    inbox: mpsc::Sender<Msg>,
    waker: Arc<Waker>,
    sessions: Arc<AtomicUsize>,
}

static POOL: OnceLock<Result<Vec<WorkerRef>, String>> = OnceLock::new();
/// Session ids; 0 and 1 are the control tokens.
static NEXT_ID: AtomicU64 = AtomicU64::new(2);

/// Workers wanted (0: one per core) and their priority; read when the first session starts.
static WANTED: AtomicUsize = AtomicUsize::new(0);
static PRIORITY: std::sync::Mutex<MediaPriority> = std::sync::Mutex::new(MediaPriority::Realtime);

/// Sets the number of media workers (`None`: one per core, at most 16) and their priority.
/// Takes effect only before the first media session starts; returns whether it did.
pub fn configure_workers(n: Option<usize>, priority: MediaPriority) -> bool {
    WANTED.store(n.unwrap_or(0).min(64), Ordering::Relaxed);
    *PRIORITY.lock().unwrap_or_else(|p| p.into_inner()) = priority;
    POOL.get().is_none()
}

fn priority() -> MediaPriority {
    *PRIORITY.lock().unwrap_or_else(|p| p.into_inner())
}

fn worker_count() -> usize {
    match WANTED.load(Ordering::Relaxed) {
        0 => std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(16),
        n => n,
    }
}

fn start_pool() -> Result<Vec<WorkerRef>, String> {
    let (n, prio) = (worker_count(), priority());
    let pool: Result<Vec<_>, String> = (0..n)
        .map(|i| Worker::spawn(i, prio).map_err(|e| format!("cannot start media worker {i}: {e}")))
        .collect();
    if pool.is_ok() {
        tracing::info!(threads = n, "media workers started");
    }
    pool
}

/// A link to the least busy worker, for a new session (starting the workers on first use).
pub(super) fn assign() -> io::Result<Link> {
    let pool = POOL
        .get_or_init(start_pool)
        .as_ref()
        .map_err(|e| io::Error::other(e.clone()))?;
    let w = pool
        .iter()
        .min_by_key(|w| w.sessions.load(Ordering::Relaxed))
        .ok_or_else(|| io::Error::other("no media worker"))?;
    w.sessions.fetch_add(1, Ordering::Relaxed);
    Ok(Link {
        id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        inbox: w.inbox.clone(),
        waker: w.waker.clone(),
    })
}

/// Whether the worker reads its sockets when they become readable, or waits for the end of a
/// batch window first.
#[derive(Debug, Clone, Copy)]
enum Rx {
    Armed,
    Cooling { until: Instant },
}

struct Worker {
    inbox: mpsc::Receiver<Msg>,
    waker: Arc<Waker>,
    count: Arc<AtomicUsize>,
    ctl: Epoll,
    rx_set: Epoll,
    rx: Rx,
    /// Keyed by session id, Fx-hashed: ids are ours (a counter), not an outsider's.
    sessions: FxHashMap<u64, Slot>,
    timers: BinaryHeap<Reverse<(Instant, u64)>>,
    batch: RecvBatch,
    ready: Vec<u64>,
    /// Sessions of the current timer pass (kept to reuse its allocation).
    due: Vec<u64>,
    last_timer_pass: Instant,
    /// Packet counts of this worker's sessions (`/metrics`).
    counters: Arc<super::counters::RtpCounters>,
    /// The packet being sent (one buffer for all sessions: warm in the cache).
    out: Vec<u8>,
}

/// A session and the instant the timer queue holds for it. The instant lives here, in the
/// map's own table, so telling a live timer from a stale one does not touch the session
/// (`perf` at 2,000 calls: that load was the worker's most expensive cache miss).
struct Slot {
    scheduled: Option<Instant>,
    session: Box<Session>,
}

impl Worker {
    fn spawn(index: usize, prio: MediaPriority) -> io::Result<WorkerRef> {
        let (tx, inbox) = mpsc::channel();
        let waker = Arc::new(Waker::new()?);
        let count = Arc::new(AtomicUsize::new(0));
        let (w, c) = (waker.clone(), count.clone());
        // The epoll sets are made on the worker's own thread (their event buffers hold raw
        // pointers, so they are not `Send`); setup errors come back over `started`.
        let (started_tx, started) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name(format!("media-{index}"))
            .spawn(move || match Worker::new(inbox, w, c) {
                Ok(worker) => {
                    let got = crate::engine::priority::raise_media_thread(prio);
                    if index == 0 {
                        tracing::info!(priority = got, "media thread priority");
                    }
                    let _ = started_tx.send(Ok(()));
                    worker.run();
                }
                Err(e) => {
                    let _ = started_tx.send(Err(e));
                }
            })?;
        started
            .recv()
            .map_err(|_| io::Error::other("media worker ended at start"))??;
        Ok(WorkerRef {
            inbox: tx,
            waker,
            sessions: count,
        })
    }

    fn new(
        inbox: mpsc::Receiver<Msg>,
        waker: Arc<Waker>,
        count: Arc<AtomicUsize>,
    ) -> io::Result<Worker> {
        let ctl = Epoll::new()?;
        let rx_set = Epoll::new()?;
        ctl.add(&*waker, WAKER)?;
        ctl.add_oneshot(&rx_set, RX_SET)?;
        Ok(Worker {
            inbox,
            waker,
            count,
            ctl,
            rx_set,
            rx: Rx::Armed,
            sessions: FxHashMap::default(),
            timers: BinaryHeap::new(),
            batch: RecvBatch::default(),
            ready: Vec::with_capacity(512),
            due: Vec::with_capacity(512),
            last_timer_pass: Instant::now(),
            counters: super::counters::register(),
            out: Vec::with_capacity(1500),
        })
    }

    fn run(mut self) {
        loop {
            let timeout = self
                .wake_at()
                .map(|at| at.saturating_duration_since(Instant::now()));
            self.ready.clear();
            if let Err(e) = self.ctl.wait(timeout, &mut self.ready) {
                tracing::error!(error = %e, "media worker wait failed");
                std::thread::sleep(RX_BATCH);
            }
            let mut rx_ready = false;
            for token in self.ready.drain(..) {
                match token {
                    WAKER => self.waker.reset(),
                    _ => rx_ready = true,
                }
            }
            let now = Instant::now();
            self.inbox(now);
            self.receive(rx_ready, now);
            self.timer_pass(now);
        }
    }

    /// When the wait must end: the earliest due session (not sooner than the coalescing
    /// interval after the last timer pass) or the end of a receive batch window.
    fn wake_at(&mut self) -> Option<Instant> {
        let due = self
            .next_due()
            .map(|t| t.max(self.last_timer_pass + TIMER_COALESCE));
        match self.rx {
            Rx::Cooling { until } => Some(due.map_or(until, |d| d.min(until))),
            Rx::Armed => due,
        }
    }

    /// The earliest live timer (stale entries, left when a session's deadline moved, are
    /// dropped here).
    fn next_due(&mut self) -> Option<Instant> {
        while let Some(Reverse((at, id))) = self.timers.peek().copied() {
            if self
                .sessions
                .get(&id)
                .is_some_and(|s| s.scheduled == Some(at))
            {
                return Some(at);
            }
            self.timers.pop();
        }
        None
    }

    fn inbox(&mut self, now: Instant) {
        while let Ok(msg) = self.inbox.try_recv() {
            match msg {
                Msg::Open(session) => self.open(session, now),
                Msg::Command(id, c) => self.with(id, now, |s| s.command(c, now)),
                Msg::Loaded(id, req, r) => self.with(id, now, |s| s.loaded(req, r)),
                Msg::Close(id) => self.close(id),
            }
        }
    }

    fn open(&mut self, mut session: Box<Session>, now: Instant) {
        session.set_counters(self.counters.clone());
        let id = session.id();
        if let Err(e) = self.rx_set.add(session.socket(), id) {
            // The call still sends; with nothing received, its RTP timeout ends it.
            tracing::error!(error = %e, "cannot watch an RTP socket");
        }
        self.sessions.insert(
            id,
            Slot {
                scheduled: None,
                session,
            },
        );
        self.with(id, now, |_| {});
    }

    fn close(&mut self, id: u64) {
        if let Some(Slot { session: s, .. }) = self.sessions.remove(&id) {
            let _ = self.rx_set.delete(s.socket());
            s.close();
            self.count.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Runs `f` on session `id`, then lets it send what is due and reschedules it. A panic
    /// in there ends that session only.
    fn with(&mut self, id: u64, now: Instant, f: impl FnOnce(&mut Session)) {
        let Some(slot) = self.sessions.get_mut(&id) else {
            return;
        };
        let (s, out) = (&mut slot.session, &mut self.out);
        if !guarded(id, || {
            f(s);
            s.pump(now, out);
        }) {
            self.close(id);
            return;
        }
        let d = s.deadline(now);
        if slot.scheduled.is_none_or(|at| d < at) {
            slot.scheduled = Some(d);
            self.timers.push(Reverse((d, id)));
        }
    }

    /// Reads the sockets that have data, when the batch window allows.
    fn receive(&mut self, rx_ready: bool, now: Instant) {
        let pass = match self.rx {
            Rx::Armed => rx_ready,
            // Up to half a window early, so a timer pass that wakes first reads the sockets
            // too instead of the worker waking again just after.
            Rx::Cooling { until } => now + RX_BATCH / 2 >= until,
        };
        if !pass {
            return;
        }
        self.ready.clear();
        if let Err(e) = self.rx_set.wait(Some(Duration::ZERO), &mut self.ready) {
            tracing::error!(error = %e, "media worker receive poll failed");
        }
        let found = !self.ready.is_empty();
        let ready = std::mem::take(&mut self.ready);
        for &id in &ready {
            let Some(Slot { session: s, .. }) = self.sessions.get_mut(&id) else {
                continue;
            };
            let batch = &mut self.batch;
            let mut woke = false;
            if !guarded(id, || {
                woke = s.readable(batch, now);
                s.flush_events();
            }) {
                self.close(id);
                continue;
            }
            if woke {
                // A source latched: sending may start now rather than at the old deadline.
                self.with(id, now, |_| {});
            }
        }
        self.ready = ready;
        self.ready.clear();
        if found || matches!(self.rx, Rx::Armed) {
            self.rx = Rx::Cooling {
                until: now + RX_BATCH,
            };
        } else {
            // A whole window without data: sleep until the next datagram wakes us.
            match self.ctl.rearm(&self.rx_set, RX_SET) {
                Ok(()) => self.rx = Rx::Armed,
                Err(e) => {
                    tracing::error!(error = %e, "media worker cannot re-arm its receive set");
                    self.rx = Rx::Cooling {
                        until: now + RX_BATCH,
                    };
                }
            }
        }
    }

    /// Sends what every due session owes.
    fn timer_pass(&mut self, now: Instant) {
        if self.next_due().is_none_or(|t| t > now) {
            return;
        }
        self.last_timer_pass = now;
        // Take every due session first, then run each once: a session that asks to run again
        // at once waits for the next pass instead of looping here.
        let mut due = std::mem::take(&mut self.due);
        while let Some(Reverse((at, id))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            match self.sessions.get_mut(&id) {
                Some(s) if s.scheduled == Some(at) => {
                    s.scheduled = None;
                    due.push(id);
                }
                _ => {} // stale
            }
        }
        for (i, &id) in due.iter().enumerate() {
            // While this one sends, the next one's state comes in from memory.
            if let Some(next) = due.get(i + 1).and_then(|n| self.sessions.get(n)) {
                prefetch(&*next.session);
            }
            self.with(id, now, |_| {});
        }
        due.clear();
        self.due = due;
    }
}

/// Asks the CPU to start loading `v`'s cache lines. A worker's sessions are spread over the
/// heap and each packet touched a cold one: its first load was a fifth of a 2,000-call worker's
/// time (`perf`), almost all of it waiting for memory; fetched while the previous session
/// sends, it is there when its turn comes.
fn prefetch<T>(v: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let p = (v as *const T).cast::<i8>();
        for offset in (0..std::mem::size_of::<T>()).step_by(64) {
            // SAFETY: a prefetch is only a hint: it never faults, reads nothing into the
            // program and writes nothing; the addresses lie inside `v` anyway.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(offset)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = v;
}

/// Runs `f` for session `id`; `false` (and an error log) if it panicked: a bug in one session
/// must not take the worker and its other calls down.
fn guarded(id: u64, f: impl FnOnce()) -> bool {
    let ok = catch_unwind(AssertUnwindSafe(f)).is_ok();
    if !ok {
        tracing::error!(
            session = id,
            "media session failed (bug); its call loses media"
        );
    }
    ok
}
