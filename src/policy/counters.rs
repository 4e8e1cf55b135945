//! Process-wide counters of what the hardening rules refused, for logs now and the metrics
//! endpoint later (one `snapshot()` to export).
//!
//! Plain relaxed atomics in one static: every counter is bumped from a hot path (the SIP
//! endpoint task, the media workers) that must not take a lock, and the metrics exporter only
//! needs eventually consistent totals. Unit tests count on their own objects (the endpoint's
//! and the media core's stats) rather than on these shared totals.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::engine::media::MediaStats;

/// The counters. Read with [`Counters::snapshot`].
#[derive(Debug, Default)]
pub struct Counters {
    /// Out-of-dialog INVITEs from sources `sip.allow` refuses (answered 403).
    pub sip_refused_403: AtomicU64,
    /// The same, dropped without an answer (`sip.reject: silent`).
    pub sip_refused_silent: AtomicU64,
    /// SIP messages over the size limit (UDP datagrams and TCP messages).
    pub sip_oversize: AtomicU64,
    /// Offers refused for their media address (broadcast, multicast, our own SIP port…): 488.
    pub sdp_refused: AtomicU64,
    /// Transfers refused by `transfer.allow`.
    pub transfer_refused: AtomicU64,
    /// RTP packets from sources the latching rule refuses.
    pub rtp_foreign_dropped: AtomicU64,
    /// RTP packets from an allowed source while the latched one was still sending.
    pub rtp_competing_dropped: AtomicU64,
    /// Latched sources replaced after silence (NAT rebinding).
    pub rtp_rebinds: AtomicU64,
    /// Out-of-dialog SIP requests over their source's rate (`sip.rate_*`), dropped.
    pub sip_rate_limited: AtomicU64,
    /// New calls answered 503 at `max_calls`.
    pub sip_max_calls_503: AtomicU64,
    /// New calls answered 503 at `sip.max_calls_per_source`.
    pub sip_source_calls_503: AtomicU64,
    /// New calls answered 503 while the SIP inbox was behind.
    pub sip_overload_503: AtomicU64,
    /// SIP requests answered 503 because the transaction table was full.
    pub sip_table_full: AtomicU64,
    /// SIP datagrams dropped because the endpoint's inbox was full.
    pub sip_inbox_dropped: AtomicU64,
    /// TCP connections closed at accept: `sip.tcp_max_connections` reached.
    pub sip_tcp_full: AtomicU64,
    /// TCP connections closed at accept: `sip.tcp_max_per_source` reached.
    pub sip_tcp_source_full: AtomicU64,
    /// TCP connections closed for a message not complete within `sip.tcp_header_timeout`.
    pub sip_tcp_slow: AtomicU64,
    /// TCP connections closed after `sip.tcp_idle_timeout` of silence.
    pub sip_tcp_idle: AtomicU64,
    /// SRTP packets dropped for a wrong authentication tag.
    pub srtp_auth_failed: AtomicU64,
    /// SRTP packets dropped as replayed (or older than the replay window).
    pub srtp_replayed: AtomicU64,
    /// TLS connections closed for a failed handshake (garbage instead of a ClientHello, no
    /// common cipher, a certificate we refuse).
    pub sip_tls_handshake_failed: AtomicU64,
    /// TLS connections closed for a handshake not done within `sip.tcp_header_timeout`.
    pub sip_tls_handshake_slow: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    pub sip_refused_403: u64,
    pub sip_refused_silent: u64,
    pub sip_oversize: u64,
    pub sdp_refused: u64,
    pub transfer_refused: u64,
    pub rtp_foreign_dropped: u64,
    pub rtp_competing_dropped: u64,
    pub rtp_rebinds: u64,
    pub sip_rate_limited: u64,
    pub sip_max_calls_503: u64,
    pub sip_source_calls_503: u64,
    pub sip_overload_503: u64,
    pub sip_table_full: u64,
    pub sip_inbox_dropped: u64,
    pub sip_tcp_full: u64,
    pub sip_tcp_source_full: u64,
    pub sip_tcp_slow: u64,
    pub sip_tcp_idle: u64,
    pub srtp_auth_failed: u64,
    pub srtp_replayed: u64,
    pub sip_tls_handshake_failed: u64,
    pub sip_tls_handshake_slow: u64,
}

static GLOBAL: Counters = Counters {
    sip_refused_403: AtomicU64::new(0),
    sip_refused_silent: AtomicU64::new(0),
    sip_oversize: AtomicU64::new(0),
    sdp_refused: AtomicU64::new(0),
    transfer_refused: AtomicU64::new(0),
    rtp_foreign_dropped: AtomicU64::new(0),
    rtp_competing_dropped: AtomicU64::new(0),
    rtp_rebinds: AtomicU64::new(0),
    sip_rate_limited: AtomicU64::new(0),
    sip_max_calls_503: AtomicU64::new(0),
    sip_source_calls_503: AtomicU64::new(0),
    sip_overload_503: AtomicU64::new(0),
    sip_table_full: AtomicU64::new(0),
    sip_inbox_dropped: AtomicU64::new(0),
    sip_tcp_full: AtomicU64::new(0),
    sip_tcp_source_full: AtomicU64::new(0),
    sip_tcp_slow: AtomicU64::new(0),
    sip_tcp_idle: AtomicU64::new(0),
    srtp_auth_failed: AtomicU64::new(0),
    srtp_replayed: AtomicU64::new(0),
    sip_tls_handshake_failed: AtomicU64::new(0),
    sip_tls_handshake_slow: AtomicU64::new(0),
};

/// The process's counters.
pub fn global() -> &'static Counters {
    &GLOBAL
}

impl Counters {
    /// Adds one.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds a finished call's media counters.
    pub fn add_media(&self, s: &MediaStats) {
        self.rtp_foreign_dropped
            .fetch_add(s.foreign_dropped, Ordering::Relaxed);
        self.rtp_competing_dropped
            .fetch_add(s.competing_dropped, Ordering::Relaxed);
        self.rtp_rebinds.fetch_add(s.rebinds, Ordering::Relaxed);
        self.srtp_auth_failed
            .fetch_add(s.srtp_auth_failed, Ordering::Relaxed);
        self.srtp_replayed
            .fetch_add(s.srtp_replayed, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Snapshot {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Snapshot {
            sip_refused_403: r(&self.sip_refused_403),
            sip_refused_silent: r(&self.sip_refused_silent),
            sip_oversize: r(&self.sip_oversize),
            sdp_refused: r(&self.sdp_refused),
            transfer_refused: r(&self.transfer_refused),
            rtp_foreign_dropped: r(&self.rtp_foreign_dropped),
            rtp_competing_dropped: r(&self.rtp_competing_dropped),
            rtp_rebinds: r(&self.rtp_rebinds),
            sip_rate_limited: r(&self.sip_rate_limited),
            sip_max_calls_503: r(&self.sip_max_calls_503),
            sip_source_calls_503: r(&self.sip_source_calls_503),
            sip_overload_503: r(&self.sip_overload_503),
            sip_table_full: r(&self.sip_table_full),
            sip_inbox_dropped: r(&self.sip_inbox_dropped),
            sip_tcp_full: r(&self.sip_tcp_full),
            sip_tcp_source_full: r(&self.sip_tcp_source_full),
            sip_tcp_slow: r(&self.sip_tcp_slow),
            sip_tcp_idle: r(&self.sip_tcp_idle),
            srtp_auth_failed: r(&self.srtp_auth_failed),
            srtp_replayed: r(&self.srtp_replayed),
            sip_tls_handshake_failed: r(&self.sip_tls_handshake_failed),
            sip_tls_handshake_slow: r(&self.sip_tls_handshake_slow),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_stats_add_up() {
        let c = Counters::default();
        c.add_media(&MediaStats {
            foreign_dropped: 3,
            competing_dropped: 2,
            rebinds: 1,
            srtp_auth_failed: 4,
            srtp_replayed: 5,
            ..MediaStats::default()
        });
        Counters::bump(&c.sip_refused_403);
        let s = c.snapshot();
        assert_eq!(
            (
                s.rtp_foreign_dropped,
                s.rtp_competing_dropped,
                s.rtp_rebinds
            ),
            (3, 2, 1)
        );
        assert_eq!(s.sip_refused_403, 1);
        assert_eq!((s.srtp_auth_failed, s.srtp_replayed), (4, 5));
    }
}
