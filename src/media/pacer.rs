//! Outbound RTP stream clock: which packet is due when, with which sequence number, timestamp
//! and marker bit.
//!
//! Owns the stream identity (SSRC, payload type) and its counters: sequence numbers and RTP
//! timestamps run on continuously across prompts from the caller's random start values, and the
//! first packet of each talkspurt carries the marker bit. Packets follow an absolute schedule:
//! packet `n` of a talkspurt is due at `start + n × ptime`, computed from the start each time, so
//! rounding never accumulates into drift. A caller that wakes up late gets the overdue packets at
//! once (a bounded burst of [`PacerConfig::max_burst`]); slots further behind than that are
//! skipped: the schedule and the RTP timestamps stay on wall-clock time and the receiver sees a
//! short gap rather than a stream that lags forever.
//!
//! Does not own audio: the caller supplies each frame's payload for the [`Slot`] it is given.

use std::time::{Duration, Instant};

use super::rtp::{PayloadType, RtpHeader};

/// Fixed parameters of one outbound stream.
#[derive(Debug, Clone, Copy)]
pub struct PacerConfig {
    pub ssrc: u32,
    pub payload_type: PayloadType,
    /// RTP clock rate: 8000 for G.711, 48000 for Opus.
    pub clock_rate: u32,
    /// Packet interval; 20 ms.
    pub ptime: Duration,
    /// Random first sequence number (RFC 3550 §5.1).
    pub initial_sequence: u16,
    /// Random first timestamp (RFC 3550 §5.1).
    pub initial_timestamp: u32,
    /// Most overdue packets released at once after a late wake-up; older slots are skipped.
    pub max_burst: u32,
}

impl PacerConfig {
    /// 20 ms packets, bursts of at most 3 packets.
    pub fn new(ssrc: u32, payload_type: PayloadType, clock_rate: u32, seq: u16, ts: u32) -> Self {
        PacerConfig {
            ssrc,
            payload_type,
            clock_rate,
            ptime: Duration::from_millis(20),
            initial_sequence: seq,
            initial_timestamp: ts,
            max_burst: 3,
        }
    }

    /// RTP timestamp units per packet (160 at 8 kHz / 20 ms, 960 at 48 kHz).
    pub fn samples_per_packet(&self) -> u32 {
        duration_to_samples(self.ptime, self.clock_rate)
    }
}

/// The header for one due packet; send it with the next frame of audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub header: RtpHeader,
    /// When this packet was scheduled (≤ the `now` that released it).
    pub due: Instant,
}

/// Counters for logs and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PacerStats {
    pub packets: u64,
    /// Slots dropped because the caller was more than `max_burst` packets late.
    pub skipped_slots: u64,
    /// Packets released after their due time (late but within the burst).
    pub late_packets: u64,
}

/// The state of one outbound stream. See the module docs.
#[derive(Debug, Clone)]
pub struct Pacer {
    cfg: PacerConfig,
    next_sequence: u16,
    /// The talkspurt in progress, if any.
    spurt: Option<Talkspurt>,
    /// Timestamp and schedule time of the last packet sent (to continue after a pause).
    last: Option<(u32, Instant)>,
    stats: PacerStats,
}

#[derive(Debug, Clone, Copy)]
struct Talkspurt {
    start: Instant,
    base_timestamp: u32,
    /// Index of the next packet in this talkspurt.
    n: u64,
}

impl Pacer {
    /// A `ptime` under 1 ms is raised to 1 ms (a zero interval would make every packet due).
    pub fn new(mut cfg: PacerConfig) -> Pacer {
        cfg.ptime = cfg.ptime.max(Duration::from_millis(1));
        Pacer {
            cfg,
            next_sequence: cfg.initial_sequence,
            spurt: None,
            last: None,
            stats: PacerStats::default(),
        }
    }

    pub fn config(&self) -> &PacerConfig {
        &self.cfg
    }

    pub fn stats(&self) -> PacerStats {
        self.stats
    }

    /// Whether a talkspurt is running.
    pub fn is_active(&self) -> bool {
        self.spurt.is_some()
    }

    /// Starts sending (a prompt begins after silence). The first packet is due at `now` and
    /// carries the marker bit. Its timestamp continues from the previous packet, advanced by the
    /// wall-clock time since that packet was due (at least one packet's worth). Calling this
    /// while a talkspurt runs does nothing: back-to-back prompts are one talkspurt.
    pub fn start(&mut self, now: Instant) {
        if self.spurt.is_some() {
            return;
        }
        let base_timestamp = match self.last {
            None => self.cfg.initial_timestamp,
            Some((ts, at)) => {
                let gap =
                    duration_to_samples(now.saturating_duration_since(at), self.cfg.clock_rate);
                ts.wrapping_add(gap.max(self.cfg.samples_per_packet()))
            }
        };
        self.spurt = Some(Talkspurt {
            start: now,
            base_timestamp,
            n: 0,
        });
    }

    /// Stops sending (prompt ended with nothing after it, or barge-in). The next [`start`]
    /// opens a new talkspurt.
    ///
    /// [`start`]: Pacer::start
    pub fn stop(&mut self) {
        self.spurt = None;
    }

    /// When the next packet is due; `None` while stopped.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.spurt.map(|s| self.slot_time(&s, s.n))
    }

    /// The next due packet, or `None` if nothing is due at `now`. Call in a loop: after a late
    /// wake-up several packets are due (at most `max_burst`).
    pub fn poll_slot(&mut self, now: Instant) -> Option<Slot> {
        let mut spurt = self.spurt?;
        let due = self.slot_time(&spurt, spurt.n);
        if now < due {
            return None;
        }
        // Index of the newest slot due at `now`; keep at most `max_burst` slots up to it.
        let newest = self.slots_elapsed(&spurt, now);
        let burst = u64::from(self.cfg.max_burst.max(1));
        if newest + 1 > spurt.n + burst {
            let first_kept = newest + 1 - burst;
            self.stats.skipped_slots += first_kept - spurt.n;
            spurt.n = first_kept;
        }
        let due = self.slot_time(&spurt, spurt.n);
        if now >= due + self.cfg.ptime {
            self.stats.late_packets += 1;
        }
        let samples = u64::from(self.cfg.samples_per_packet());
        // RTP timestamps are modulo 2^32 (RFC 3550 §5.1): truncation is the intent.
        let timestamp = spurt
            .base_timestamp
            .wrapping_add((spurt.n.wrapping_mul(samples)) as u32);
        let header = RtpHeader {
            payload_type: self.cfg.payload_type,
            marker: spurt.n == 0,
            sequence: self.next_sequence,
            timestamp,
            ssrc: self.cfg.ssrc,
        };
        self.next_sequence = self.next_sequence.wrapping_add(1);
        self.last = Some((timestamp, due));
        spurt.n += 1;
        self.spurt = Some(spurt);
        self.stats.packets += 1;
        Some(Slot { header, due })
    }

    /// Takes a sequence number for a packet sent outside the audio schedule on this SSRC
    /// (RFC 4733 events share the stream's sequence space).
    pub fn take_sequence(&mut self) -> u16 {
        let s = self.next_sequence;
        self.next_sequence = s.wrapping_add(1);
        s
    }

    /// The RTP timestamp that corresponds to `at` on this stream's clock (for an RFC 4733 event
    /// starting now).
    pub fn timestamp_at(&self, at: Instant) -> u32 {
        match (self.spurt, self.last) {
            (Some(s), _) => s.base_timestamp.wrapping_add(duration_to_samples(
                at.saturating_duration_since(s.start),
                self.cfg.clock_rate,
            )),
            (None, Some((ts, t))) => ts.wrapping_add(duration_to_samples(
                at.saturating_duration_since(t),
                self.cfg.clock_rate,
            )),
            (None, None) => self.cfg.initial_timestamp,
        }
    }

    fn slot_time(&self, s: &Talkspurt, n: u64) -> Instant {
        // `n` counts 20 ms packets: even u32 of them is 2.7 years, far past any call.
        s.start + self.cfg.ptime * u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// Index of the last slot whose due time is ≤ `now`.
    fn slots_elapsed(&self, s: &Talkspurt, now: Instant) -> u64 {
        let since = now.saturating_duration_since(s.start).as_nanos();
        let step = self.cfg.ptime.as_nanos().max(1);
        u64::try_from(since / step).unwrap_or(u64::MAX)
    }
}

/// Whole RTP clock ticks in `d` (truncated; modulo 2^32 like all RTP timestamps).
pub fn duration_to_samples(d: Duration, clock_rate: u32) -> u32 {
    (d.as_nanos() * u128::from(clock_rate) / 1_000_000_000) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn pacer(rate: u32) -> Pacer {
        Pacer::new(PacerConfig::new(
            0xCAFE,
            PayloadType::PCMU,
            rate,
            65534,
            u32::MAX - 200,
        ))
    }

    /// Drives the pacer like the runtime does: sleep until `poll_timeout`, drain due slots.
    fn drain(p: &mut Pacer, now: Instant) -> Vec<Slot> {
        std::iter::from_fn(|| p.poll_slot(now)).collect()
    }

    #[test]
    fn packets_follow_an_absolute_20ms_schedule_with_continuous_counters() {
        let t0 = Instant::now();
        let mut p = pacer(8000);
        assert_eq!(p.poll_timeout(), None);
        p.start(t0);
        let mut sent = Vec::new();
        for _ in 0..5 {
            let at = p.poll_timeout().unwrap();
            sent.extend(drain(&mut p, at));
        }
        let seqs: Vec<u16> = sent.iter().map(|s| s.header.sequence).collect();
        assert_eq!(seqs, [65534, 65535, 0, 1, 2]);
        let ts: Vec<u32> = sent.iter().map(|s| s.header.timestamp).collect();
        let base = u32::MAX - 200;
        let expected: Vec<u32> = (0..5).map(|i| base.wrapping_add(160 * i)).collect();
        assert_eq!(ts, expected);
        let due: Vec<Duration> = sent.iter().map(|s| s.due - t0).collect();
        assert_eq!(due, [0, 20, 40, 60, 80].map(|m| m * MS));
        let markers: Vec<bool> = sent.iter().map(|s| s.header.marker).collect();
        assert_eq!(markers, [true, false, false, false, false]);
        assert!(sent.iter().all(|s| s.header.ssrc == 0xCAFE));
    }

    #[test]
    fn jittery_wakeups_do_not_accumulate_drift() {
        let t0 = Instant::now();
        let mut p = pacer(8000);
        p.start(t0);
        // The runtime always wakes 3 ms late; after 1000 packets the schedule is still exact.
        for _ in 0..1000 {
            let at = p.poll_timeout().unwrap() + 3 * MS;
            assert_eq!(drain(&mut p, at).len(), 1);
        }
        assert_eq!(p.poll_timeout().unwrap() - t0, Duration::from_secs(20));
        assert_eq!(p.stats().late_packets, 0);
    }

    #[test]
    fn a_late_caller_gets_a_bounded_burst_and_the_schedule_is_kept() {
        let t0 = Instant::now();
        let mut p = pacer(8000);
        p.start(t0);
        assert_eq!(drain(&mut p, t0).len(), 1);
        // Stalled for 50 ms: slots 1 and 2 are overdue, both go out now.
        let burst = drain(&mut p, t0 + 50 * MS);
        assert_eq!(burst.len(), 2);
        assert_eq!(p.poll_timeout(), Some(t0 + 60 * MS));
        // Stalled for a whole second: only max_burst (3) go, the rest of the slots are skipped
        // and timestamps jump to wall-clock time.
        let burst = drain(&mut p, t0 + 1000 * MS);
        assert_eq!(burst.len(), 3);
        assert_eq!(burst[0].due - t0, 960 * MS);
        assert_eq!(burst[2].due - t0, 1000 * MS);
        let base = u32::MAX - 200;
        assert_eq!(burst[2].header.timestamp, base.wrapping_add(50 * 160));
        // Sequence numbers never skip.
        assert_eq!(burst[0].header.sequence, 65534u16.wrapping_add(3));
        assert_eq!(p.stats().skipped_slots, 45);
        assert_eq!(p.poll_timeout(), Some(t0 + 1020 * MS));
        assert_eq!(p.stats().packets, 6);
    }

    #[test]
    fn nothing_is_sent_before_it_is_due() {
        let t0 = Instant::now();
        let mut p = pacer(8000);
        p.start(t0 + 5 * MS);
        assert!(p.poll_slot(t0).is_none());
        assert!(p.poll_slot(t0 + 5 * MS).is_some());
        assert!(p.poll_slot(t0 + 24 * MS).is_none());
    }

    #[test]
    fn a_new_talkspurt_sets_the_marker_and_advances_the_timestamp_by_the_pause() {
        let t0 = Instant::now();
        let mut p = pacer(48000);
        p.start(t0);
        let a = drain(&mut p, t0 + 40 * MS);
        assert_eq!(a.len(), 3);
        let last_ts = a[2].header.timestamp;
        p.stop();
        assert_eq!(p.poll_timeout(), None);
        assert!(p.poll_slot(t0 + 100 * MS).is_none());
        // Second prompt 500 ms after the last packet was due.
        p.start(t0 + 540 * MS);
        p.start(t0 + 560 * MS); // already running: ignored
        let b = drain(&mut p, t0 + 540 * MS);
        assert_eq!(b.len(), 1);
        assert!(b[0].header.marker);
        assert_eq!(b[0].header.sequence, a[2].header.sequence.wrapping_add(1));
        assert_eq!(b[0].header.timestamp, last_ts.wrapping_add(48 * 500));
        let c = drain(&mut p, t0 + 560 * MS);
        assert!(!c[0].header.marker);
        assert_eq!(
            c[0].header.timestamp,
            b[0].header.timestamp.wrapping_add(960)
        );
    }

    #[test]
    fn an_immediate_restart_still_advances_by_one_packet() {
        let t0 = Instant::now();
        let mut p = pacer(8000);
        p.start(t0);
        let a = drain(&mut p, t0);
        p.stop();
        p.start(t0); // barge-in and a new prompt in the same instant
        let b = drain(&mut p, t0);
        assert_eq!(
            b[0].header.timestamp,
            a[0].header.timestamp.wrapping_add(160)
        );
        assert!(b[0].header.marker);
    }

    #[test]
    fn sequence_and_timestamp_are_shared_with_out_of_band_packets() {
        let t0 = Instant::now();
        let mut p = pacer(8000);
        assert_eq!(p.timestamp_at(t0), u32::MAX - 200);
        p.start(t0);
        let a = drain(&mut p, t0);
        let s = p.take_sequence();
        assert_eq!(s, a[0].header.sequence.wrapping_add(1));
        assert_eq!(
            p.timestamp_at(t0 + 10 * MS),
            a[0].header.timestamp.wrapping_add(80)
        );
        let b = drain(&mut p, t0 + 20 * MS);
        assert_eq!(b[0].header.sequence, s.wrapping_add(1));
        p.stop();
        assert_eq!(
            p.timestamp_at(t0 + 30 * MS),
            b[0].header.timestamp.wrapping_add(80)
        );
    }

    #[test]
    fn samples_per_packet_per_clock_rate() {
        let c = PacerConfig::new(1, PayloadType::PCMU, 8000, 0, 0);
        assert_eq!(c.samples_per_packet(), 160);
        let c = PacerConfig::new(1, PayloadType::PCMU, 48000, 0, 0);
        assert_eq!(c.samples_per_packet(), 960);
    }
}
