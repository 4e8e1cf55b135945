//! What the caller has heard of the agent's audio.
//!
//! Audio from the server arrives faster than real time and is queued in the call's playout; a
//! websocket client must itself know how much of an item was actually played, to cut the
//! model's memory of it (`conversation.item.truncate` with `audio_end_ms`) when the caller
//! interrupts. The session puts numbered marks into the playout — one before an item's first
//! audio (offset 0) and one after every chunk (its end offset) — and the leg reports each mark
//! when the audio queued before it has been sent to the caller. Between two reports the caller
//! hears in real time, so at a moment `now`:
//!
//! `heard = min(last_mark.offset + (now − last_mark.played_at), next_mark.offset)`
//!
//! for the item of the last mark played, and 0 for an item none of whose marks has played.
//! After a clear (barge-in), marks issued before it are ignored whether or not the leg reports
//! them (playouts differ on whether a clear resolves pending marks).

use std::collections::VecDeque;
use std::time::Instant;

use super::format::AudioFormat;

/// Marks outstanding at most; beyond it the oldest are forgotten (a stalled playout).
const MAX_PENDING: usize = 16_384;

#[derive(Debug)]
pub(crate) struct Playback {
    format: AudioFormat,
    next_mark: u64,
    /// Marks issued and not yet reported, oldest first: (mark, item, byte offset in item).
    pending: VecDeque<(u64, u32, usize)>,
    /// The last mark reported: (item, byte offset, when).
    last: Option<(u32, usize, Instant)>,
    /// Marks below this were issued before the last clear.
    stale_below: u64,
    /// Item ids by local number (the latest is the current one).
    items: Vec<String>,
    /// Bytes received for the current item.
    received: usize,
    /// When the queued audio will have played, estimated from durations.
    queued_until: Option<Instant>,
}

/// A mark to put into the playout (after [`Chunk::audio`] when `after` is set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Chunk {
    /// A mark to place before the audio (the item's start), if this chunk starts an item.
    pub(crate) start: Option<u64>,
    /// The mark to place after the audio.
    pub(crate) end: u64,
}

impl Playback {
    pub(crate) fn new(format: AudioFormat) -> Playback {
        Playback {
            format,
            next_mark: 1,
            pending: VecDeque::new(),
            last: None,
            stale_below: 0,
            items: Vec::new(),
            received: 0,
            queued_until: None,
        }
    }

    /// `bytes` of audio of `item_id` are queued now; returns the marks to put around them.
    pub(crate) fn push(&mut self, item_id: &str, bytes: usize, now: Instant) -> Chunk {
        let start = if self.items.last().map(String::as_str) != Some(item_id) {
            self.items.push(item_id.to_owned());
            self.received = 0;
            Some(self.mark(0))
        } else {
            None
        };
        self.received += bytes;
        let end = self.mark(self.received);
        let from = self.queued_until.map_or(now, |t| t.max(now));
        self.queued_until = Some(from + self.format.duration_of(bytes));
        Chunk { start, end }
    }

    fn mark(&mut self, offset: usize) -> u64 {
        let m = self.next_mark;
        self.next_mark += 1;
        if self.pending.len() == MAX_PENDING {
            self.pending.pop_front();
        }
        let item = self.items.len().saturating_sub(1) as u32;
        self.pending.push_back((m, item, offset));
        m
    }

    /// The leg reports that audio up to `mark` has been played.
    pub(crate) fn played(&mut self, mark: u64, now: Instant) {
        if mark < self.stale_below {
            return;
        }
        while let Some(&(m, item, offset)) = self.pending.front() {
            if m > mark {
                break;
            }
            self.pending.pop_front();
            self.last = Some((item, offset, now));
        }
    }

    /// The current item and the milliseconds of it the caller has heard by `now`, unless all of
    /// it has played.
    pub(crate) fn unheard(&self, now: Instant) -> Option<(&str, u64)> {
        let current = self.items.len().checked_sub(1)? as u32;
        let id = self.items.last()?;
        let heard = match self.last {
            Some((item, offset, at)) if item == current => {
                let next = self
                    .pending
                    .iter()
                    .find(|p| p.1 == current)
                    .map_or(self.received, |p| p.2);
                let elapsed = now.saturating_duration_since(at);
                let bytes = (elapsed.as_micros() as usize)
                    .saturating_mul(self.format.bytes_per_ms())
                    / 1000;
                offset.saturating_add(bytes).min(next)
            }
            _ => 0,
        };
        let all_played = !self.pending.iter().any(|p| p.1 == current) && heard >= self.received;
        (!all_played).then(|| (id.as_str(), self.format.ms_of(heard)))
    }

    /// Barge-in: everything queued is dropped by the playout.
    pub(crate) fn clear(&mut self, now: Instant) {
        self.stale_below = self.next_mark;
        self.pending.clear();
        self.last = None;
        self.queued_until = Some(now);
    }

    /// Nothing queued is waiting for its mark.
    pub(crate) fn is_idle(&self) -> bool {
        self.pending.is_empty()
    }

    /// When the queued audio is expected to have played (never before `now`).
    pub(crate) fn drained_at(&self, now: Instant) -> Instant {
        self.queued_until.map_or(now, |t| t.max(now))
    }

    /// Audio queued and not yet played (an estimate).
    #[cfg(test)]
    pub(crate) fn backlog(&self, now: Instant) -> std::time::Duration {
        self.drained_at(now) - now
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ms(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn heard_counts_from_the_last_mark_in_real_time() {
        let t0 = Instant::now();
        let mut p = Playback::new(AudioFormat::Pcmu);
        // Two 500 ms chunks arrive at once (faster than real time).
        let a = p.push("item_a", 4000, t0);
        let b = p.push("item_a", 4000, t0);
        assert_eq!((a.start, a.end, b.start, b.end), (Some(1), 2, None, 3));
        assert_eq!(p.backlog(t0), Duration::from_millis(1000));
        p.played(1, ms(t0, 40)); // the item starts playing at 40 ms
        assert_eq!(p.unheard(ms(t0, 340)), Some(("item_a", 300)));
        p.played(2, ms(t0, 540));
        assert_eq!(p.unheard(ms(t0, 740)), Some(("item_a", 700)));
        // Never past the next mark, even if the report is late.
        assert_eq!(p.unheard(ms(t0, 5000)), Some(("item_a", 1000)));
        p.played(3, ms(t0, 1040));
        assert_eq!(p.unheard(ms(t0, 1100)), None, "all heard");
        assert!(p.is_idle());
    }

    #[test]
    fn an_item_not_started_is_unheard_from_zero_and_a_clear_drops_old_marks() {
        let t0 = Instant::now();
        let mut p = Playback::new(AudioFormat::Pcm24k);
        p.push("a", 4800, t0);
        p.played(2, ms(t0, 100));
        let c = p.push("b", 4800, ms(t0, 150));
        assert_eq!(c.start, Some(3));
        assert_eq!(p.unheard(ms(t0, 160)), Some(("b", 0)));
        p.clear(ms(t0, 160));
        assert!(p.is_idle());
        p.played(4, ms(t0, 200)); // a late report of a cleared mark
        assert_eq!(p.unheard(ms(t0, 210)), Some(("b", 0)));
        let c = p.push("c", 480, ms(t0, 300));
        p.played(c.end, ms(t0, 320));
        assert_eq!(p.unheard(ms(t0, 330)), None);
    }
}
