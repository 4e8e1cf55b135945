//! Thread scheduling priorities for `phonetree run` (`rtp.priority`).
//!
//! Media threads sleep most of the time and must run the moment a packet is due; on a busy
//! machine an ordinary thread can wait several milliseconds for a core, and the SIP and flow
//! tasks must not wait behind whatever else the machine runs either. So, before the runtime
//! starts, the process's first thread takes nice -10 (threads inherit it: tokio's workers, the
//! blocking pool, the media workers), and with `realtime` each media worker then asks for
//! `SCHED_RR` at a low real-time priority, as Asterisk `-p` and FreeSWITCH `-rp` do. Raising
//! priorities needs `CAP_SYS_NICE` (root, or `AmbientCapabilities=CAP_SYS_NICE` under systemd);
//! without it everything keeps the normal priority and the log says so. Written with libc
//! (`setpriority`, `pthread_setschedparam`): no maintained crate covers both.

use super::media::MediaPriority;

/// Nice value of every phonetree thread when the priority is raised.
const NICE: libc::c_int = -10;
/// `SCHED_RR` priority of media threads with [`MediaPriority::Realtime`] (1-99; low, so the
/// kernel's own real-time threads still come first).
const RT_PRIORITY: libc::c_int = 10;

/// Raises the calling thread (call it before starting other threads: they inherit it).
/// Returns what took effect, for the log.
pub fn raise_process(p: MediaPriority) -> &'static str {
    match p {
        MediaPriority::Normal => "normal",
        _ if nice_self() => "nice -10",
        _ => "normal (raising it needs CAP_SYS_NICE)",
    }
}

/// Raises the calling media thread; returns what took effect, for the log.
pub fn raise_media_thread(p: MediaPriority) -> &'static str {
    match p {
        MediaPriority::Normal => "normal",
        MediaPriority::Realtime if realtime_self() => "realtime (SCHED_RR 10)",
        _ if nice_self() => "nice -10",
        _ => "normal (raising it needs CAP_SYS_NICE)",
    }
}

fn nice_self() -> bool {
    // SAFETY: `gettid` has no preconditions; `setpriority` on our own thread id with a valid
    // nice value only changes our scheduling.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, NICE) == 0
    }
}

fn realtime_self() -> bool {
    let param = libc::sched_param {
        sched_priority: RT_PRIORITY,
    };
    // SAFETY: a valid parameter block for the calling thread.
    unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_RR, &param) == 0 }
}
