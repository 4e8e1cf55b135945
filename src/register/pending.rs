//! The writer's buffer: records waiting for the database, bounded (`register.spill`).
//!
//! Sans-IO: the writer takes a batch out, and either confirms it (`done`) or puts it back in
//! front (`put_back`) when the database was unreachable, so order is kept and nothing is
//! lost while there is room. When full, timeline events give way first: a new call record
//! evicts the oldest queued event; a new event is dropped. Every loss is counted.

use std::collections::VecDeque;
use std::time::Instant;

use super::Item;

/// One record and when it was handed to the register (for the write-lag metric).
#[derive(Debug, Clone)]
pub struct Envelope {
    pub item: Item,
    pub enqueued: Instant,
}

#[derive(Debug)]
pub struct Pending {
    items: VecDeque<Envelope>,
    inflight: usize,
    cap: usize,
    dropped: u64,
}

impl Pending {
    pub fn new(cap: usize) -> Pending {
        Pending {
            items: VecDeque::new(),
            inflight: 0,
            cap: cap.max(1),
            dropped: 0,
        }
    }

    /// Queues a record; `false` if it (or an older event, for room) was dropped.
    pub fn push(&mut self, e: Envelope) -> bool {
        if self.items.len() + self.inflight < self.cap {
            self.items.push_back(e);
            return true;
        }
        self.dropped += 1;
        if matches!(e.item, Item::Call(_)) {
            if let Some(i) = self
                .items
                .iter()
                .position(|x| matches!(x.item, Item::Event { .. }))
            {
                self.items.remove(i);
                self.items.push_back(e);
            }
        }
        false
    }

    /// Up to `max` records from the front, now in flight.
    pub fn take_batch(&mut self, max: usize) -> Vec<Envelope> {
        let n = max.min(self.items.len());
        self.inflight += n;
        self.items.drain(..n).collect()
    }

    /// The batch was written.
    pub fn done(&mut self, n: usize) {
        self.inflight = self.inflight.saturating_sub(n);
    }

    /// The batch could not be written: back in front, in order.
    pub fn put_back(&mut self, batch: Vec<Envelope>) {
        self.inflight = self.inflight.saturating_sub(batch.len());
        for e in batch.into_iter().rev() {
            self.items.push_front(e);
        }
    }

    /// When the oldest waiting record was queued.
    pub fn oldest(&self) -> Option<Instant> {
        self.items.front().map(|e| e.enqueued)
    }

    /// Records waiting (not counting a batch in flight).
    pub fn queued(&self) -> usize {
        self.items.len()
    }

    /// Nothing waiting and nothing in flight.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty() && self.inflight == 0
    }

    /// Records lost to the bound since start.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Everything waiting, for the spill file at shutdown.
    pub fn drain_all(&mut self) -> Vec<Envelope> {
        self.items.drain(..).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::calls::{CallRecord, Direction, TimelineEvent};

    fn call(id: &str) -> Envelope {
        Envelope {
            item: Item::Call(Box::new(CallRecord::new(
                id.into(),
                "n",
                Direction::Inbound,
                "a",
                "b",
                0,
            ))),
            enqueued: Instant::now(),
        }
    }

    fn event(seq: u32) -> Envelope {
        Envelope {
            item: Item::Event {
                call_id: "c".into(),
                event: TimelineEvent {
                    seq,
                    at_ms: 0,
                    kind: "dtmf".into(),
                    data: serde_json::Value::Null,
                },
            },
            enqueued: Instant::now(),
        }
    }

    fn ids(p: &mut Pending) -> Vec<String> {
        p.take_batch(100)
            .into_iter()
            .map(|e| match e.item {
                Item::Call(r) => r.id,
                Item::Event { event, .. } => format!("e{}", event.seq),
            })
            .collect()
    }

    #[test]
    fn a_failed_batch_goes_back_in_front_in_order() {
        let mut p = Pending::new(10);
        for i in 0..4 {
            p.push(call(&format!("c{i}")));
        }
        let b = p.take_batch(2);
        assert_eq!(p.queued(), 2);
        assert!(!p.is_empty());
        p.push(call("c4"));
        p.put_back(b);
        assert_eq!(ids(&mut p), ["c0", "c1", "c2", "c3", "c4"]);
        p.done(5);
        assert!(p.is_empty());
    }

    #[test]
    fn when_full_events_give_way_to_call_records_and_losses_are_counted() {
        let mut p = Pending::new(3);
        assert!(p.push(call("c0")));
        assert!(p.push(event(1)));
        assert!(p.push(event(2)));
        assert!(!p.push(event(3)), "no room for another event");
        assert!(!p.push(call("c1")), "the oldest event made room");
        assert_eq!(p.dropped(), 2);
        assert_eq!(ids(&mut p), ["c0", "e2", "c1"]);
    }

    #[test]
    fn the_batch_in_flight_counts_against_the_bound() {
        let mut p = Pending::new(2);
        p.push(call("a"));
        p.push(call("b"));
        let _b = p.take_batch(2);
        assert!(!p.push(call("c")));
        p.done(2);
        assert!(p.push(call("c")));
    }
}
