//! Graceful shutdown: on SIGTERM or SIGINT stop taking calls (new INVITEs get 503), let running
//! calls finish up to the drain timeout, hang up the rest, unregister every account (waiting
//! briefly for the registrar's answer) and return so the process exits 0.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{sleep, Instant};

use super::endpoint_loop::EndpointHandle;
use super::status::Status;

const POLL: Duration = Duration::from_millis(20);
/// How long to wait for the registrar to confirm unregistration.
pub const UNREGISTER_WAIT: Duration = Duration::from_secs(2);
/// How long calls get to end after the drain deadline told them to hang up.
const HANGUP_WAIT: Duration = Duration::from_secs(1);

/// SIGTERM and SIGINT handlers, installed before the server says it is listening (a signal
/// that arrives earlier would otherwise kill the process with the default action).
pub struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers. Must be called inside a tokio runtime.
    pub fn install() -> std::io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Signals {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Signals {})
        }
    }

    /// Resolves on the first SIGTERM or SIGINT.
    pub async fn wait(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => tracing::info!("SIGTERM: draining"),
            _ = self.int.recv() => tracing::info!("SIGINT: draining"),
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Drains the server (see the module docs): `hangup_all` tells the calls still up at the
/// `drain_timeout` to hang up.
pub async fn drain(
    endpoint: &EndpointHandle,
    status: &Status,
    drain_timeout: Duration,
    hangup_all: watch::Sender<bool>,
) {
    status
        .draining
        .store(true, std::sync::atomic::Ordering::Relaxed);
    endpoint.set_accepting(false);
    let calls = &status.calls;
    tracing::info!(calls = calls.len(), timeout = ?drain_timeout, "not taking new calls; draining");
    let deadline = Instant::now() + drain_timeout;
    while !calls.is_empty() && Instant::now() < deadline {
        sleep(POLL).await;
    }
    if !calls.is_empty() {
        tracing::warn!(
            calls = calls.len(),
            "drain timeout: hanging up the calls left"
        );
        let _ = hangup_all.send(true);
        let deadline = Instant::now() + HANGUP_WAIT;
        while !calls.is_empty() && Instant::now() < deadline {
            sleep(POLL).await;
        }
        // Let the BYEs leave the endpoint loop.
        sleep(Duration::from_millis(100)).await;
    }
    let sent = endpoint.unregister_all().await;
    if sent > 0 {
        tracing::info!(accounts = sent, "unregistering");
        let deadline = Instant::now() + UNREGISTER_WAIT;
        while Instant::now() < deadline && !status.regs.all_settled() {
            sleep(POLL).await;
        }
    }
    tracing::info!("stopped");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::endpoint_loop::Cmd;
    use crate::engine::status::{CallView, RegState};
    use crate::flow::load::LoadOptions;
    use crate::registry::Registry;
    use crate::sip::event::RegId;
    use std::sync::Arc;
    use std::time::SystemTime;

    fn status() -> (Status, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let (registry, _) = Registry::open(dir.path(), LoadOptions::default());
        (Status::new(Arc::new(registry)), dir)
    }

    fn call(id: &str) -> CallView {
        CallView {
            id: id.into(),
            flow: "menu".into(),
            version: String::new(),
            node: String::new(),
            theme: String::new(),
            since: SystemTime::UNIX_EPOCH,
        }
    }

    /// Plays the endpoint loop: records commands, answers `UnregisterAll` with `sent`.
    fn endpoint(sent: usize) -> (EndpointHandle, tokio::task::JoinHandle<Vec<String>>) {
        let (handle, mut rx) = EndpointHandle::channel();
        let task = tokio::spawn(async move {
            let mut seen = Vec::new();
            while let Some(cmd) = rx.recv().await {
                match cmd {
                    Cmd::SetAccepting(on) => seen.push(format!("accepting {on}")),
                    Cmd::UnregisterAll(reply) => {
                        seen.push("unregister all".into());
                        let _ = reply.send(sent);
                    }
                    other => seen.push(format!("{other:?}")),
                }
            }
            seen
        });
        (handle, task)
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_that_ends_in_time_is_not_hung_up() {
        let (s, _dir) = status();
        s.calls.insert(call("call-1"));
        let (ep, seen) = endpoint(0);
        let (tx, mut rx) = watch::channel(false);
        let calls = s.calls.clone();
        tokio::spawn(async move {
            sleep(Duration::from_secs(3)).await;
            calls.remove("call-1");
        });
        let started = Instant::now();
        drain(&ep, &s, Duration::from_secs(10), tx).await;
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "returned once the call ended"
        );
        assert!(!*rx.borrow_and_update(), "no hangup_all");
        drop(ep);
        assert_eq!(seen.await.unwrap(), ["accepting false", "unregister all"]);
    }

    #[tokio::test(start_paused = true)]
    async fn calls_left_at_the_deadline_are_told_to_hang_up() {
        let (s, _dir) = status();
        s.calls.insert(call("call-1"));
        let (ep, _seen) = endpoint(0);
        let (tx, mut rx) = watch::channel(false);
        let calls = s.calls.clone();
        // The call hangs up when told to.
        tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                if *rx.borrow() {
                    calls.remove("call-1");
                }
            }
        });
        let started = Instant::now();
        drain(&ep, &s, Duration::from_secs(5), tx).await;
        let took = started.elapsed();
        assert!(
            took >= Duration::from_secs(5) && took < Duration::from_secs(6),
            "{took:?}"
        );
        assert!(s.calls.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn unregistering_waits_until_every_registration_settles() {
        let (s, _dir) = status();
        s.regs.started(RegId(1), "100@pbx".into());
        s.regs.set(RegId(1), RegState::Unregistering);
        let (ep, _seen) = endpoint(1);
        let regs = s.regs.clone();
        tokio::spawn(async move {
            sleep(Duration::from_millis(500)).await;
            regs.set(RegId(1), RegState::Unregistered);
        });
        let started = Instant::now();
        drain(&ep, &s, Duration::from_secs(5), watch::channel(false).0).await;
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(500) && took < UNREGISTER_WAIT,
            "{took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_registrar_that_never_answers_delays_the_exit_by_at_most_the_unregister_wait() {
        let (s, _dir) = status();
        s.regs.started(RegId(1), "100@pbx".into());
        let (ep, _seen) = endpoint(1);
        let started = Instant::now();
        drain(&ep, &s, Duration::from_secs(5), watch::channel(false).0).await;
        let took = started.elapsed();
        assert!(
            took >= UNREGISTER_WAIT && took < UNREGISTER_WAIT + POLL * 2,
            "{took:?}"
        );
    }
}
