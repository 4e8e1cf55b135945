//! RFC 4733 telephone-events (DTMF over RTP): the 4-byte event payload, a receiver that turns a
//! stream of event packets into key presses, and a sender that schedules the packets for one key.
//!
//! Receiver rules: a press is reported on the FIRST packet seen of an event, so the flow reacts
//! without waiting for the key to be released. An event is identified by its RTP timestamp
//! (RFC 4733 §2.5.1.1: every packet of one event carries the event's start timestamp), so
//! updates, the retransmitted end packets and reordered stragglers of a press are never
//! reported twice, and the same key pressed again (new timestamp) is a new press. Events 16+
//! (flash, tones) are ignored. Hand-written: the format is 4 bytes and the crates that exist are
//! whole RTP stacks.
//!
//! Sender: [`send_digit`] lists the packets of one key press (start packet with the marker bit,
//! an update every 50 ms, three end packets 20 ms apart), all stamped with the event's start
//! timestamp, durations in units of the negotiated telephone-event clock (8000 or 48000 Hz).
//! Sequence numbers are the stream's (see [`super::pacer::Pacer::take_sequence`]).

use std::fmt;
use std::time::{Duration, Instant};

use crate::flow::digit::Digit;

use super::pacer::duration_to_samples;

/// The payload of one telephone-event packet (RFC 4733 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPayload {
    /// Event code; 0-15 are the DTMF keys.
    pub event: u8,
    /// The E bit: this packet ends the event.
    pub end: bool,
    /// Power level in −dBm0 (0-63).
    pub volume: u8,
    /// Duration so far, in RTP clock units.
    pub duration: u16,
}

/// Why a telephone-event payload was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventError {
    /// Fewer than 4 bytes.
    TooShort { len: usize },
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventError::TooShort { len } => {
                write!(f, "telephone-event payload has {len} bytes, needs 4")
            }
        }
    }
}

impl std::error::Error for EventError {}

impl EventPayload {
    pub const LEN: usize = 4;

    /// Parses the first event block of a payload (redundant blocks after it, RFC 2198 style,
    /// are ignored).
    pub fn parse(payload: &[u8]) -> Result<EventPayload, EventError> {
        let [event, flags, d0, d1, ..] = *payload else {
            return Err(EventError::TooShort { len: payload.len() });
        };
        Ok(EventPayload {
            event,
            end: flags & 0x80 != 0,
            volume: flags & 0x3F,
            duration: u16::from_be_bytes([d0, d1]),
        })
    }

    pub fn to_bytes(self) -> [u8; 4] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            (u8::from(self.end) << 7) | (self.volume & 0x3F),
            d[0],
            d[1],
        ]
    }

    /// The key, when the event is a DTMF key (0-15).
    pub fn digit(self) -> Option<Digit> {
        Digit::from_event_code(self.event)
    }
}

/// A key press recognised from telephone-event packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfPress {
    pub digit: Digit,
    /// RTP timestamp of the event (its identity).
    pub timestamp: u32,
    /// −dBm0.
    pub volume: u8,
}

/// How many recent events are remembered to recognise stragglers.
const HISTORY: usize = 16;

/// Turns received telephone-event packets into presses. One per call (per SSRC is handled).
#[derive(Debug, Clone, Default)]
pub struct DtmfReceiver {
    /// Recent events, newest last.
    recent: Vec<SeenEvent>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SeenEvent {
    ssrc: u32,
    timestamp: u32,
    event: u8,
    /// Longest duration seen and whether an end packet arrived (to spot continuations).
    duration: u16,
    ended: bool,
}

impl DtmfReceiver {
    pub fn new() -> DtmfReceiver {
        DtmfReceiver::default()
    }

    /// Handles one telephone-event RTP packet (already matched on the negotiated payload type).
    /// Returns the press on the first packet of a new DTMF event; `None` for updates,
    /// retransmissions, continuation segments of a long event (RFC 4733 §2.5.1.3: a key held
    /// past the 16-bit duration, 1.36 s at 48 kHz, goes on under a new timestamp), non-DTMF
    /// events, and (as `Err`) payloads too short to read.
    pub fn receive(
        &mut self,
        ssrc: u32,
        timestamp: u32,
        payload: &[u8],
    ) -> Result<Option<DtmfPress>, EventError> {
        let ev = EventPayload::parse(payload)?;
        let Some(digit) = ev.digit() else {
            return Ok(None);
        };
        let same = |e: &SeenEvent| e.ssrc == ssrc && e.event == ev.event;
        if let Some(seen) = self
            .recent
            .iter_mut()
            .find(|e| same(e) && e.timestamp == timestamp)
        {
            seen.duration = seen.duration.max(ev.duration);
            seen.ended |= ev.end;
            return Ok(None);
        }
        let continuation = self.recent.last().is_some_and(|e| {
            same(e)
                && !e.ended
                && e.duration == u16::MAX
                && timestamp == e.timestamp.wrapping_add(u32::from(u16::MAX))
        });
        if self.recent.len() == HISTORY {
            self.recent.remove(0);
        }
        self.recent.push(SeenEvent {
            ssrc,
            timestamp,
            event: ev.event,
            duration: ev.duration,
            ended: ev.end,
        });
        Ok((!continuation).then_some(DtmfPress {
            digit,
            timestamp,
            volume: ev.volume,
        }))
    }
}

/// One packet of an outgoing event, due at `send_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPacket {
    pub send_at: Instant,
    /// Set on the first packet of the event only.
    pub marker: bool,
    /// The event's start timestamp (the same on every packet of the event).
    pub timestamp: u32,
    pub payload: EventPayload,
}

/// Interval between update packets.
pub const UPDATE_INTERVAL: Duration = Duration::from_millis(50);
/// Interval between the three end packets.
pub const END_INTERVAL: Duration = Duration::from_millis(20);
/// Default tone length and level for generated digits.
pub const DEFAULT_DURATION: Duration = Duration::from_millis(200);
pub const DEFAULT_VOLUME: u8 = 10;

/// The packets for one key press: start (marker) at `start`, updates every 50 ms while the key
/// is held for `duration`, then the end packet three times. The duration field counts from the
/// event start at each packet's send time (the start packet reports one 20 ms frame so no
/// receiver sees a zero-length tone). `duration` is capped to what the 16-bit field holds at
/// `clock_rate` (8.19 s at 8 kHz, 1.36 s at 48 kHz), far beyond any key press.
pub fn send_digit(
    digit: Digit,
    start: Instant,
    start_timestamp: u32,
    clock_rate: u32,
    duration: Duration,
    volume: u8,
) -> Vec<EventPacket> {
    let total = duration_to_samples(duration, clock_rate).min(u32::from(u16::MAX)) as u16;
    let first = (duration_to_samples(Duration::from_millis(20), clock_rate) as u16).min(total);
    let mut packets = Vec::new();
    let mut push = |at: Duration, marker: bool, end: bool, dur: u16| {
        packets.push(EventPacket {
            send_at: start + at,
            marker,
            timestamp: start_timestamp,
            payload: EventPayload {
                event: digit.event_code(),
                end,
                volume: volume & 0x3F,
                duration: dur,
            },
        });
    };
    push(Duration::ZERO, true, false, first);
    let mut at = UPDATE_INTERVAL;
    while at < duration {
        let d = duration_to_samples(at, clock_rate).min(u32::from(total)) as u16;
        push(at, false, false, d);
        at += UPDATE_INTERVAL;
    }
    for i in 0..3u32 {
        push(duration + END_INTERVAL * i, false, true, total);
    }
    packets
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(c: char) -> Digit {
        Digit::from_char(c).unwrap()
    }

    fn payload(event: u8, end: bool, duration: u16) -> [u8; 4] {
        EventPayload {
            event,
            end,
            volume: 10,
            duration,
        }
        .to_bytes()
    }

    #[test]
    fn payload_round_trips_and_matches_the_rfc_layout() {
        let p = EventPayload {
            event: 11,
            end: true,
            volume: 7,
            duration: 0x0320,
        };
        assert_eq!(p.to_bytes(), [11, 0x87, 0x03, 0x20]);
        assert_eq!(EventPayload::parse(&p.to_bytes()), Ok(p));
        assert_eq!(p.digit(), Some(d('#')));
        // The reserved R bit is ignored on parse.
        assert_eq!(EventPayload::parse(&[1, 0x40 | 5, 0, 0]).unwrap().volume, 5);
        assert_eq!(
            EventPayload::parse(&[1, 2, 3]),
            Err(EventError::TooShort { len: 3 })
        );
    }

    #[test]
    fn reports_on_the_first_packet_and_ignores_updates_and_end_retransmissions() {
        let mut rx = DtmfReceiver::new();
        let got = rx.receive(1, 8000, &payload(5, false, 160)).unwrap();
        assert_eq!(got.map(|p| p.digit), Some(d('5')));
        assert_eq!(got.map(|p| p.volume), Some(10));
        for dur in [400, 800, 1200] {
            assert_eq!(rx.receive(1, 8000, &payload(5, false, dur)), Ok(None));
        }
        for _ in 0..3 {
            assert_eq!(rx.receive(1, 8000, &payload(5, true, 1600)), Ok(None));
        }
    }

    #[test]
    fn the_same_key_again_with_a_new_timestamp_is_a_new_press() {
        let mut rx = DtmfReceiver::new();
        let first = rx.receive(1, 8000, &payload(1, false, 160)).unwrap();
        rx.receive(1, 8000, &payload(1, true, 800)).unwrap();
        let second = rx.receive(1, 9600, &payload(1, false, 160)).unwrap();
        assert!(first.is_some());
        assert_eq!(second.map(|p| (p.digit, p.timestamp)), Some((d('1'), 9600)));
    }

    #[test]
    fn a_press_whose_start_packets_were_lost_is_reported_on_its_end_packet() {
        let mut rx = DtmfReceiver::new();
        let got = rx.receive(1, 500, &payload(9, true, 1600)).unwrap();
        assert_eq!(got.map(|p| p.digit), Some(d('9')));
        assert_eq!(rx.receive(1, 500, &payload(9, true, 1600)), Ok(None));
    }

    #[test]
    fn late_end_packets_of_an_earlier_press_are_not_new_presses() {
        let mut rx = DtmfReceiver::new();
        assert!(rx
            .receive(1, 100, &payload(2, false, 160))
            .unwrap()
            .is_some());
        assert!(rx
            .receive(1, 2000, &payload(3, false, 160))
            .unwrap()
            .is_some());
        // Reordered: the end of "2" arrives after "3" began.
        assert_eq!(rx.receive(1, 100, &payload(2, true, 800)), Ok(None));
    }

    #[test]
    fn a_different_key_reusing_a_timestamp_is_a_new_press() {
        // Some gateways stamp every event with the same timestamp when no audio flows.
        let mut rx = DtmfReceiver::new();
        assert!(rx
            .receive(1, 100, &payload(2, true, 800))
            .unwrap()
            .is_some());
        let got = rx.receive(1, 100, &payload(4, false, 160)).unwrap();
        assert_eq!(got.map(|p| p.digit), Some(d('4')));
    }

    #[test]
    fn a_new_ssrc_starts_fresh_and_non_dtmf_events_are_ignored() {
        let mut rx = DtmfReceiver::new();
        assert!(rx
            .receive(1, 100, &payload(0, false, 160))
            .unwrap()
            .is_some());
        assert!(rx
            .receive(2, 100, &payload(0, false, 160))
            .unwrap()
            .is_some());
        assert_eq!(rx.receive(1, 5000, &payload(16, false, 160)), Ok(None)); // flash
        assert!(rx.receive(1, 100, &[0, 0]).is_err());
    }

    #[test]
    fn a_key_held_past_the_duration_field_is_one_press() {
        // 48 kHz: the first segment ends at 65535 units, the next starts 65535 later.
        let mut rx = DtmfReceiver::new();
        let t = u32::MAX - 1000; // and the timestamp wraps on the way
        assert!(rx.receive(1, t, &payload(3, false, 960)).unwrap().is_some());
        assert_eq!(rx.receive(1, t, &payload(3, false, u16::MAX)), Ok(None));
        let next = t.wrapping_add(65535);
        assert_eq!(rx.receive(1, next, &payload(3, false, 2400)), Ok(None));
        assert_eq!(rx.receive(1, next, &payload(3, true, 4800)), Ok(None));
        // After it ended, the same key at the next timestamp is a new press.
        let again = next.wrapping_add(4800 + 960);
        assert!(rx
            .receive(1, again, &payload(3, false, 960))
            .unwrap()
            .is_some());
    }

    #[test]
    fn history_is_bounded() {
        let mut rx = DtmfReceiver::new();
        for i in 0..100u32 {
            assert!(rx
                .receive(1, i * 1000, &payload(1, false, 160))
                .unwrap()
                .is_some());
        }
        assert!(rx.recent.len() <= HISTORY);
    }

    #[test]
    fn sender_produces_start_updates_and_three_end_packets_at_8khz() {
        let t0 = Instant::now();
        let pkts = send_digit(d('7'), t0, 1234, 8000, Duration::from_millis(200), 10);
        let offsets: Vec<u128> = pkts.iter().map(|p| (p.send_at - t0).as_millis()).collect();
        assert_eq!(offsets, [0, 50, 100, 150, 200, 220, 240]);
        let durs: Vec<u16> = pkts.iter().map(|p| p.payload.duration).collect();
        assert_eq!(durs, [160, 400, 800, 1200, 1600, 1600, 1600]);
        let ends: Vec<bool> = pkts.iter().map(|p| p.payload.end).collect();
        assert_eq!(ends, [false, false, false, false, true, true, true]);
        let markers: Vec<bool> = pkts.iter().map(|p| p.marker).collect();
        assert_eq!(markers, [true, false, false, false, false, false, false]);
        assert!(pkts
            .iter()
            .all(|p| p.timestamp == 1234 && p.payload.event == 7));
    }

    #[test]
    fn sender_uses_the_negotiated_clock_rate() {
        let t0 = Instant::now();
        let pkts = send_digit(d('#'), t0, 0, 48000, Duration::from_millis(100), 10);
        let durs: Vec<u16> = pkts.iter().map(|p| p.payload.duration).collect();
        assert_eq!(durs, [960, 2400, 4800, 4800, 4800]);
        // 2 s at 48 kHz overflows 16 bits: capped.
        let long = send_digit(d('1'), t0, 0, 48000, Duration::from_secs(2), 10);
        let durs: Vec<u16> = long.iter().map(|p| p.payload.duration).collect();
        assert!(
            durs.windows(2).all(|w| w[0] <= w[1]),
            "durations never wrap: {durs:?}"
        );
        assert_eq!(long.last().unwrap().payload.duration, u16::MAX);
    }

    #[test]
    fn what_the_sender_sends_the_receiver_reports_once() {
        let t0 = Instant::now();
        let mut rx = DtmfReceiver::new();
        let mut presses = Vec::new();
        for (i, c) in "12#".chars().enumerate() {
            let start = t0 + Duration::from_millis(400) * i as u32;
            for p in send_digit(d(c), start, 3200 * i as u32, 8000, DEFAULT_DURATION, 10) {
                let bytes = p.payload.to_bytes();
                presses.extend(rx.receive(7, p.timestamp, &bytes).unwrap().map(|p| p.digit));
            }
        }
        assert_eq!(presses, [d('1'), d('2'), d('#')]);
    }

    proptest! {
        #[test]
        fn receiver_never_panics_and_reports_each_timestamp_at_most_once(
            packets in proptest::collection::vec((0u32..4, proptest::collection::vec(any::<u8>(), 0..8)), 0..60)
        ) {
            let mut rx = DtmfReceiver::new();
            let mut reported = Vec::new();
            for (ts, bytes) in packets {
                if let Ok(Some(p)) = rx.receive(9, ts * 1000, &bytes) {
                    prop_assert!(!reported.contains(&(ts, p.digit)), "reported twice");
                    reported.push((ts, p.digit));
                }
            }
        }
    }
}
