//! The agents' own tokio runtime: every agent session's task ([`super::pump::run`]) runs here,
//! not on the runtime that serves SIP and the API.
//!
//! Why a runtime of its own: an agent call is a stream of small events both ways — a
//! websocket delta from the model and a caller frame from the media worker every 20 ms, per
//! call. On a shared runtime each of them woke a parked worker thread on its own (one context
//! switch per event per call: at 100 calls a quarter of the process's CPU went into switching).
//! Here a worker that runs out of work first sleeps [`COALESCE`] before it parks, so the events
//! of every call that arrived meanwhile are handled in one wake-up — the technique of a NIC's
//! interrupt coalescing. What it costs: an event arriving while the worker sleeps waits at
//! most [`COALESCE`] (the bench measures websocket delta → RTP out including it); an event
//! arriving at a parked worker is handled at once, so a lone call sees little delay. One
//! worker per two cores (the media workers have the others): an agent call takes ~0.1 % of a
//! core here, so one worker serves hundreds, and the fewer workers the more calls each wake-up
//! serves (bench/AGENT.md: two workers on two cores cost ~10 % more CPU per call than one).
//! SIP, the dashboard and the media workers are not on this runtime and never wait for it.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

/// How long an idle agent worker waits for more events before it parks: 3 ms of the 5 ms the
/// agent path may add to the agent's audio (bench/AGENT.md: delta → RTP p99 4.0 ms with 3 ms,
/// 2.4 ms with 2 ms; CPU per call ~8 % lower with 3 ms, which keeps it under 2× an IVR call).
pub const COALESCE: Duration = Duration::from_millis(3);

/// Spawns `fut` on the agents' runtime (started on first use; if the system refuses its
/// threads, on the caller's runtime, as before it existed).
pub fn spawn<F>(fut: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match runtime() {
        Some(rt) => rt.spawn(fut),
        None => tokio::spawn(fut),
    }
}

fn runtime() -> Option<&'static Runtime> {
    static RT: OnceLock<Option<Runtime>> = OnceLock::new();
    RT.get_or_init(|| {
        let workers = std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).clamp(1, 4));
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("agent")
            .on_thread_park(|| std::thread::sleep(COALESCE))
            .enable_all()
            .build()
            .inspect_err(|e| {
                tracing::error!(error = %e, "cannot start the agents' runtime: agents share the main one");
            })
            .ok()
    })
    .as_ref()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_run_on_the_agents_threads_with_timers_and_io() {
        let h = spawn(async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let on = std::thread::current().name().map(str::to_owned);
            (l.local_addr().unwrap().port(), on)
        });
        let (port, on) = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(h)
            .unwrap();
        assert_ne!(port, 0);
        assert_eq!(on.as_deref(), Some("agent"), "on the agents' runtime");
    }
}
