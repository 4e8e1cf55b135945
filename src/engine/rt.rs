//! Small helpers the tokio pumps share: a poison-tolerant [`lock`] and the optional-deadline /
//! optional-channel futures a `select!` arm needs ([`sleep_opt`], [`recv_opt`]).
//!
//! Owns nothing else; no decisions live here.

use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::mpsc;

/// Locks `m`, taking the data even if a holder panicked. Every critical section in the engine
/// is a single insert, remove, lookup or field update, so a poisoned table is still consistent.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Sleeps until `deadline`; never resolves for `None`.
pub(crate) async fn sleep_opt(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(tokio::time::Instant::from_std(t)).await,
        None => std::future::pending().await,
    }
}

/// Receives from `rx`; never resolves for `None` (a channel not opened yet, or closed and
/// taken away). Cancel-safe like `recv`.
pub(crate) async fn recv_opt<T>(rx: &mut Option<mpsc::UnboundedReceiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// A spawned task that is aborted when this handle is dropped (a side request the call no
/// longer wants, or a call that ended).
#[derive(Debug)]
pub(crate) struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
