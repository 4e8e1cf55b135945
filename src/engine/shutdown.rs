//! Graceful shutdown: on SIGTERM or SIGINT stop taking calls (new INVITEs get 503), let running
//! calls finish up to the drain timeout, hang up the rest, unregister every account (waiting
//! briefly for the registrar's answer) and return so the process exits 0.

use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::time::{sleep, Instant};

use super::endpoint_loop::Cmd;
use super::server::{lock, Shared, UNREGISTER_WAIT};

const POLL: Duration = Duration::from_millis(20);

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

/// Drains the server (see the module docs).
pub async fn drain(shared: &Shared, hangup_all: watch::Sender<bool>) {
    shared
        .draining
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = shared.endpoint.send(Cmd::SetAccepting(false));
    let calls = shared.active_calls();
    tracing::info!(calls, timeout = ?shared.cfg.drain_timeout, "not taking new calls; draining");
    let deadline = Instant::now() + shared.cfg.drain_timeout;
    while shared.active_calls() > 0 && Instant::now() < deadline {
        sleep(POLL).await;
    }
    if shared.active_calls() > 0 {
        tracing::warn!(
            calls = shared.active_calls(),
            "drain timeout: hanging up the calls left"
        );
        let _ = hangup_all.send(true);
        let deadline = Instant::now() + Duration::from_secs(1);
        while shared.active_calls() > 0 && Instant::now() < deadline {
            sleep(POLL).await;
        }
        // Let the BYEs leave the endpoint loop.
        sleep(Duration::from_millis(100)).await;
    }
    let (tx, rx) = oneshot::channel();
    if shared.endpoint.send(Cmd::UnregisterAll(tx)).is_ok() {
        if let Ok(sent) = rx.await {
            if sent > 0 {
                tracing::info!(accounts = sent, "unregistering");
                let deadline = Instant::now() + UNREGISTER_WAIT;
                while Instant::now() < deadline && !all_unregistered(shared) {
                    sleep(POLL).await;
                }
            }
        }
    }
    tracing::info!("stopped");
}

fn all_unregistered(shared: &Shared) -> bool {
    lock(&shared.regs)
        .iter()
        .all(|r| r.id.is_none() || r.state == "unregistered" || r.state == "failed")
}
