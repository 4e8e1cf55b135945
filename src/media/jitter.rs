//! Receive-side reorder buffer for one RTP stream: packets in, packets out in sequence order.
//!
//! Keyed by 16-bit sequence numbers extended to 64 bits across wraparound (RFC 3550 A.1 style).
//! It holds at most `capacity` packets; a packet older than the next one due out (already
//! played or given up on) is dropped as late, a repeat of a held one as a duplicate. When the
//! next packet is missing, [`JitterBuffer::pop`] waits until `depth` later packets are held and
//! then skips the gap (loss). A jump of more than [`MAX_DROPOUT`] ahead, or two consecutive
//! packets far behind (the sender restarted its sequence), resynchronises the buffer. Time-based
//! playout (how long to wait for a missing packet) is the caller's: it can call
//! [`JitterBuffer::pop_any`] when its playout clock needs a frame. Generic over the item so it
//! stores whatever the caller parsed (payload and timestamp). RFC 4733 events share the audio
//! stream's sequence numbers but need no reordering: hand them to the event receiver on arrival
//! and push a placeholder (`JitterBuffer<Option<Frame>>`, `None`) so the audio sees no gap.

use std::collections::BTreeMap;

/// Sequence jump ahead treated as a restart rather than loss.
pub const MAX_DROPOUT: u64 = 3000;
/// Sequence jump behind that can be a restart (needs a second packet to confirm).
pub const MAX_MISORDER: u64 = 100;

/// What happened to a pushed packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    Accepted,
    /// Same sequence number as a held packet.
    Duplicate,
    /// Older than the next packet due out.
    Late,
    /// The buffer was full; the oldest held packet was dropped to make room.
    Overflow,
    /// A sequence discontinuity: the buffer was cleared and restarted at this packet.
    Resync,
}

/// Counters for logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    pub accepted: u64,
    pub duplicates: u64,
    pub late: u64,
    pub lost: u64,
    pub overflows: u64,
    pub resyncs: u64,
}

#[derive(Debug, Clone)]
pub struct JitterBuffer<T> {
    capacity: usize,
    depth: usize,
    /// Extended sequence number of the next packet due out; `None` before the first packet.
    next: Option<u64>,
    held: BTreeMap<u64, (u16, T)>,
    /// Candidate restart point after a far-behind packet (RFC 3550 `bad_seq`).
    bad_seq: Option<u16>,
    stats: JitterStats,
}

impl<T> JitterBuffer<T> {
    /// `capacity` packets at most; gaps are skipped once `depth` later packets are held
    /// (`1 ≤ depth ≤ capacity`, clamped).
    pub fn new(capacity: usize, depth: usize) -> JitterBuffer<T> {
        let capacity = capacity.max(1);
        JitterBuffer {
            capacity,
            depth: depth.clamp(1, capacity),
            next: None,
            held: BTreeMap::new(),
            bad_seq: None,
            stats: JitterStats::default(),
        }
    }

    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    pub fn len(&self) -> usize {
        self.held.len()
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Forgets everything (new SSRC).
    pub fn reset(&mut self) {
        self.next = None;
        self.held.clear();
        self.bad_seq = None;
    }

    pub fn push(&mut self, seq: u16, item: T) -> Push {
        let Some(next) = self.next else {
            self.next = Some(u64::from(seq) + (1 << 16)); // room below for reordering
            self.held.insert(u64::from(seq) + (1 << 16), (seq, item));
            self.stats.accepted += 1;
            return Push::Accepted;
        };
        let ext = extend(next, seq);
        if ext < next {
            if next - ext > MAX_MISORDER {
                // Far behind: a restart if the next packet continues from here.
                if self.bad_seq == Some(seq) {
                    return self.resync(seq, item);
                }
                self.bad_seq = Some(seq.wrapping_add(1));
            }
            self.stats.late += 1;
            return Push::Late;
        }
        if ext - next > MAX_DROPOUT {
            return self.resync(seq, item);
        }
        self.bad_seq = None;
        if self.held.contains_key(&ext) {
            self.stats.duplicates += 1;
            return Push::Duplicate;
        }
        self.held.insert(ext, (seq, item));
        self.stats.accepted += 1;
        if self.held.len() > self.capacity {
            // Drop the oldest and move the play point past it.
            if let Some((&oldest, _)) = self.held.iter().next() {
                self.held.remove(&oldest);
                self.skip_to(oldest + 1);
            }
            self.stats.overflows += 1;
            return Push::Overflow;
        }
        Push::Accepted
    }

    /// The next packet in order, if it is here, or after a gap once `depth` packets wait
    /// behind it. Returns `(sequence number, item)`.
    pub fn pop(&mut self) -> Option<(u16, T)> {
        let next = self.next?;
        let (&first, _) = self.held.iter().next()?;
        if first != next && self.held.len() < self.depth {
            return None;
        }
        self.take_first()
    }

    /// The oldest held packet regardless of gaps (the playout clock cannot wait any longer).
    pub fn pop_any(&mut self) -> Option<(u16, T)> {
        self.take_first()
    }

    fn take_first(&mut self) -> Option<(u16, T)> {
        let (first, (seq, item)) = self.held.pop_first()?;
        self.skip_to(first);
        self.next = Some(first + 1);
        Some((seq, item))
    }

    fn skip_to(&mut self, ext: u64) {
        if let Some(next) = self.next {
            if ext > next {
                self.stats.lost += ext - next;
                self.next = Some(ext);
            }
        }
    }

    fn resync(&mut self, seq: u16, item: T) -> Push {
        self.reset();
        self.stats.resyncs += 1;
        self.push(seq, item);
        Push::Resync
    }
}

/// The extended sequence number for `seq` closest to `reference`.
fn extend(reference: u64, seq: u16) -> u64 {
    let cycle = reference & !0xFFFF;
    let candidates = [
        cycle.wrapping_sub(1 << 16) | u64::from(seq),
        cycle | u64::from(seq),
        (cycle + (1 << 16)) | u64::from(seq),
    ];
    candidates
        .into_iter()
        .filter(|&c| c < u64::MAX / 2)
        .min_by_key(|&c| c.abs_diff(reference))
        .unwrap_or(cycle | u64::from(seq))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn drain(jb: &mut JitterBuffer<u16>) -> Vec<u16> {
        std::iter::from_fn(|| jb.pop().map(|(_, v)| v)).collect()
    }

    #[test]
    fn in_order_packets_pass_straight_through() {
        let mut jb = JitterBuffer::new(16, 3);
        for s in [10u16, 11, 12] {
            assert_eq!(jb.push(s, s), Push::Accepted);
        }
        assert_eq!(drain(&mut jb), [10, 11, 12]);
    }

    #[test]
    fn reordered_packets_come_out_in_order() {
        let mut jb = JitterBuffer::new(16, 3);
        jb.push(1, 1);
        assert_eq!(drain(&mut jb), [1]);
        jb.push(3, 3);
        assert_eq!(drain(&mut jb), Vec::<u16>::new(), "waits for 2");
        jb.push(2, 2);
        assert_eq!(drain(&mut jb), [2, 3]);
    }

    #[test]
    fn order_is_kept_across_sequence_wraparound() {
        let mut jb = JitterBuffer::new(16, 4);
        for s in [65534u16, 0, 65535, 1] {
            jb.push(s, s);
        }
        assert_eq!(drain(&mut jb), [65534, 65535, 0, 1]);
        // Thousands of packets later, still in order.
        let mut out = Vec::new();
        let mut s = 2u16;
        for _ in 0..70_000 {
            jb.push(s, s);
            out.extend(drain(&mut jb));
            s = s.wrapping_add(1);
        }
        assert_eq!(out.len(), 70_000);
        assert!(out.windows(2).all(|w| w[1] == w[0].wrapping_add(1)));
    }

    #[test]
    fn duplicates_and_late_packets_are_dropped() {
        let mut jb = JitterBuffer::new(16, 3);
        jb.push(100, 100);
        assert_eq!(jb.push(102, 102), Push::Accepted);
        assert_eq!(jb.push(102, 102), Push::Duplicate);
        assert_eq!(drain(&mut jb), [100]);
        jb.push(101, 101);
        assert_eq!(drain(&mut jb), [101, 102]);
        assert_eq!(jb.push(101, 101), Push::Late);
        assert_eq!(jb.push(99, 99), Push::Late);
        let st = jb.stats();
        assert_eq!((st.duplicates, st.late, st.accepted), (1, 2, 3));
    }

    #[test]
    fn a_gap_is_skipped_once_depth_packets_wait() {
        let mut jb = JitterBuffer::new(16, 3);
        jb.push(1, 1);
        assert_eq!(drain(&mut jb), [1]);
        jb.push(3, 3);
        jb.push(4, 4);
        assert_eq!(drain(&mut jb), Vec::<u16>::new());
        jb.push(5, 5);
        assert_eq!(drain(&mut jb), [3, 4, 5]);
        assert_eq!(jb.stats().lost, 1);
        // 2 arriving now is late.
        assert_eq!(jb.push(2, 2), Push::Late);
    }

    #[test]
    fn pop_any_skips_a_gap_on_demand() {
        let mut jb = JitterBuffer::new(16, 8);
        jb.push(1, 1);
        jb.pop();
        jb.push(4, 4);
        assert!(jb.pop().is_none());
        assert_eq!(jb.pop_any(), Some((4, 4)));
        assert_eq!(jb.stats().lost, 2);
    }

    #[test]
    fn the_buffer_is_bounded() {
        let mut jb = JitterBuffer::new(4, 4);
        jb.push(0, 0);
        jb.pop();
        // 1 never arrives and nobody pops: the buffer keeps the newest 4.
        for s in 2..=6u16 {
            jb.push(s, s);
        }
        assert_eq!(jb.len(), 4);
        assert_eq!(jb.stats().overflows, 1);
        assert_eq!(drain(&mut jb), [3, 4, 5, 6]);
    }

    #[test]
    fn a_big_jump_ahead_resyncs() {
        let mut jb = JitterBuffer::new(16, 3);
        jb.push(10, 10);
        jb.pop();
        jb.push(12, 12);
        assert_eq!(jb.push(20_000, 20_000), Push::Resync);
        assert_eq!(drain(&mut jb), [20_000]);
        assert_eq!(jb.push(20_001, 20_001), Push::Accepted);
    }

    #[test]
    fn a_restart_far_behind_needs_two_consecutive_packets() {
        let mut jb = JitterBuffer::new(16, 3);
        jb.push(5000, 5000);
        jb.pop();
        assert_eq!(jb.push(10, 10), Push::Late);
        assert_eq!(jb.push(11, 11), Push::Resync);
        assert_eq!(drain(&mut jb), [11]);
        // A single stray old packet does not resync.
        assert_eq!(jb.push(60_000, 60_000), Push::Late);
        assert_eq!(jb.push(12, 12), Push::Accepted);
    }

    #[test]
    fn reordering_right_after_the_first_packet_is_kept() {
        let mut jb = JitterBuffer::new(16, 3);
        jb.push(0, 0);
        // The play point starts at the first packet received: 65535, sent before 0 but
        // arriving after it, is late.
        assert_eq!(jb.push(65535, 65535), Push::Late);
        assert_eq!(drain(&mut jb), [0]);
    }

    proptest! {
        #[test]
        fn output_is_strictly_increasing_and_bounded(
            start: u16,
            jitter in proptest::collection::vec(-5i32..5, 1..300),
        ) {
            let mut jb = JitterBuffer::new(8, 4);
            let mut out: Vec<u64> = Vec::new();
            for (i, j) in jitter.iter().enumerate() {
                let ext = (i as i64 + i64::from(*j)).max(0) as u64;
                let seq = start.wrapping_add(ext as u16);
                jb.push(seq, ext);
                prop_assert!(jb.len() <= 8);
                while let Some((_, v)) = jb.pop() { out.push(v); }
            }
            while let Some((_, v)) = jb.pop_any() { out.push(v); }
            prop_assert!(out.windows(2).all(|w| w[0] < w[1]), "{:?}", out);
        }
    }
}
