//! The runtime half of one call's media: a [`Session`] owns the RTP socket and wraps the sans-IO
//! [`MediaCore`], for the media worker ([`super::worker`]) that runs it.
//!
//! It reads datagrams off the socket into the core, sends what the core says is due, forwards
//! the core's events to the call's channel, and does the core's [`Task`]s: prompts from the
//! cache (served at once when the cache checked the file recently, else loaded on tokio and
//! posted back to the worker) and remote streams (downloads spawned on tokio). It makes no
//! decision of its own: timing, latching and playout are the core's.

use std::net::UdpSocket;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;

use super::core::{Command, CoreSetup, MediaCore, MediaStats, Task};
use super::counters::RtpCounters;
use super::latch::MediaPeer;
use super::poller::RecvBatch;
use super::ports::PortLease;
use super::prompts::{Prompt, PromptCache, PromptError};
use super::stream::{self, AbortOnDrop};
use super::worker::{Link, Msg};
use super::{MediaConfig, MediaEvent, StreamConfig};
use crate::machine::io::RequestId;
use crate::sdp::{Codec, Negotiated};

/// Batches read from one socket per worker pass (fairness between calls).
const MAX_BATCHES: usize = 4;

/// Everything [`Session::new`] needs.
pub(super) struct Setup {
    pub cfg: MediaConfig,
    pub socket: UdpSocket,
    pub lease: Option<PortLease>,
    pub peer: MediaPeer,
    pub neg: Negotiated,
    pub prompts: Arc<PromptCache>,
    pub events: mpsc::UnboundedSender<MediaEvent>,
    /// Where prompt loads and stream downloads run.
    pub runtime: tokio::runtime::Handle,
}

pub(super) struct Session {
    core: MediaCore,
    stream: StreamConfig,
    socket: UdpSocket,
    _lease: Option<PortLease>,
    link: Link,
    runtime: tokio::runtime::Handle,
    prompts: Arc<PromptCache>,
    events: mpsc::UnboundedSender<MediaEvent>,
    /// The owning worker's packet counters (`/metrics`), and what was added to them so far.
    counters: Arc<RtpCounters>,
    published: MediaStats,
}

/// 64 bits from the OS (std's random hash keys if that fails).
fn random_seed() -> u64 {
    getrandom::u64().unwrap_or_else(|_| {
        use std::hash::{BuildHasher, Hasher};
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
    })
}

/// Fetches `path` from the cache on `runtime` and posts the result to the session's worker.
fn load(
    runtime: &tokio::runtime::Handle,
    prompts: &Arc<PromptCache>,
    link: &Link,
    codec: Codec,
    id: RequestId,
    path: &Path,
) -> AbortOnDrop {
    let (prompts, link, path) = (prompts.clone(), link.clone(), path.to_owned());
    AbortOnDrop(runtime.spawn(async move {
        let r = prompts.get(&path, codec).await;
        link.post(Msg::Loaded(link.id(), id, r));
    }))
}

impl Session {
    pub fn new(s: Setup, link: Link, now: Instant) -> Session {
        let stream = s.cfg.stream.clone();
        let core = MediaCore::new(
            CoreSetup {
                cfg: s.cfg,
                peer: s.peer,
                neg: s.neg,
                seed: random_seed(),
            },
            now,
        );
        Session {
            core,
            stream,
            socket: s.socket,
            _lease: s.lease,
            link,
            runtime: s.runtime,
            prompts: s.prompts,
            events: s.events,
            counters: Arc::default(),
            published: MediaStats::default(),
        }
    }

    /// Counts this session's packets in its worker's counters.
    pub fn set_counters(&mut self, c: Arc<RtpCounters>) {
        self.counters = c;
    }

    /// Adds what the core counted since the last call to the worker's counters (once per
    /// pass, not per packet).
    fn publish(&mut self) {
        let now = self.core.stats();
        let p = &self.published;
        for (c, new, old) in [
            (&self.counters.sent, now.rtp_sent, p.rtp_sent),
            (&self.counters.received, now.rtp_received, p.rtp_received),
            (&self.counters.late, now.rtp_late, p.rtp_late),
            (&self.counters.lost, now.rtp_lost, p.rtp_lost),
        ] {
            if new > old {
                RtpCounters::add(c, new - old);
            }
        }
        self.published = now;
    }

    pub fn id(&self) -> u64 {
        self.link.id()
    }

    pub fn socket(&self) -> &UdpSocket {
        &self.socket
    }

    /// The call is over: the end-of-call log line and the counters.
    pub fn close(&self) {
        let methods = self.core.dtmf_methods();
        if !methods.is_empty() {
            tracing::info!(?methods, "DTMF methods used in this call");
        }
        let stats = self.core.stats();
        if stats.foreign_dropped + stats.competing_dropped > 0 {
            tracing::info!(
                foreign = stats.foreign_dropped,
                competing = stats.competing_dropped,
                "RTP packets dropped by the latching rule in this call"
            );
        }
        if stats.srtp_auth_failed + stats.srtp_replayed > 0 {
            tracing::info!(
                auth_failed = stats.srtp_auth_failed,
                replayed = stats.srtp_replayed,
                "SRTP packets dropped in this call"
            );
        }
        crate::policy::counters::global().add_media(&stats);
    }

    /// The next instant [`Session::pump`] has something to do.
    pub fn deadline(&self, now: Instant) -> Instant {
        self.core.poll_timeout(now)
    }

    /// Reads what the socket has queued (level-triggered: what is left is read next pass).
    /// `true` when the session must run before its deadline (a source latched).
    pub fn readable(&mut self, batch: &mut RecvBatch, now: Instant) -> bool {
        for _ in 0..MAX_BATCHES {
            let n = match batch.recv(&self.socket) {
                Ok(n) => n,
                Err(e) => {
                    // ICMP port unreachable from a previous send shows up here on Linux.
                    tracing::debug!(error = %e, "RTP receive error");
                    break;
                }
            };
            for i in 0..n {
                if let Some((data, src)) = batch.get(i) {
                    self.core.handle_datagram(data, src, now);
                }
            }
            if n < super::poller::BATCH {
                break;
            }
        }
        self.publish();
        self.core.take_wake()
    }

    /// Does the core's tasks, lets it start a talkspurt, sends what is due, reports events.
    pub fn pump(&mut self, now: Instant, out: &mut Vec<u8>) {
        self.run_tasks(now);
        self.core.handle_timeout(now);
        while let Some(dest) = self.core.poll_transmit(now, out) {
            if let Err(e) = self.socket.send_to(out, dest) {
                tracing::debug!(error = %e, %dest, "RTP send failed");
            }
        }
        self.core.take_wake();
        self.publish();
        self.flush_events();
    }

    /// Reports queued events to the call.
    pub fn flush_events(&mut self) {
        while let Some(e) = self.core.poll_event() {
            // The receiver is gone only when the call is being torn down.
            let _ = self.events.send(e);
        }
    }

    /// The cache answered for prompt `id`.
    pub fn loaded(&mut self, id: RequestId, r: Result<Prompt, Arc<PromptError>>) {
        self.core.loaded(id, r);
    }

    pub fn command(&mut self, c: Command, now: Instant) {
        if let Command::Attach(_, tap) = &c {
            // Live audio arriving while the pacer sleeps wakes this session's worker.
            let link = self.link.clone();
            tap.live.set_waker(Box::new(move || {
                link.post(Msg::Command(link.id(), Command::Wake));
            }));
        }
        self.core.handle_command(c, now);
    }

    fn run_tasks(&mut self, now: Instant) {
        while let Some(task) = self.core.poll_task() {
            match task {
                Task::Load { id, path, codec } => {
                    // A prompt whose file was checked moments ago is served from the worker,
                    // so a response prompt starts in the barge-in pass.
                    if let Some(frames) = self.prompts.get_recent(&path, codec, now) {
                        self.core.loaded(id, Ok(frames));
                    } else {
                        let guard =
                            load(&self.runtime, &self.prompts, &self.link, codec, id, &path);
                        self.core.set_guard(id, guard);
                    }
                }
                Task::Stream { id, url, codec } => {
                    let _in_runtime = self.runtime.enter();
                    let (rx, task) = stream::spawn(url, codec, &self.stream);
                    self.core.attach_stream(id, rx, Some(task));
                }
            }
        }
    }
}
