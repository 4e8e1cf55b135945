//! In-band DTMF under `rtp.inband_dtmf`: which packets are decoded (the cost issue 10 measured)
//! and which presses are still heard, on G.711 and Opus, with and without telephone-event.

use std::f32::consts::PI;
use std::time::{Duration, Instant};

use super::*;
use crate::media::g711::Law;
use crate::media::rtp;
use crate::sdp::{Direction, TelephoneEvent};

fn neg(codec: Codec, te: bool) -> Negotiated {
    Negotiated {
        codec,
        payload_type: if codec == Codec::Opus { 111 } else { 0 },
        telephone_event: te.then_some(TelephoneEvent {
            payload_type: 101,
            clock_rate: 8000,
        }),
        remote: None,
        direction: Direction::SendRecv,
        remote_ptime: None,
        remote_fmtp: None,
        media_index: 0,
        srtp: None,
    }
}

/// 8 kHz samples: `key`'s two tones (or speech-like noise for `None`), `ms` long.
fn samples(key: Option<char>, ms: usize) -> Vec<i16> {
    let n = ms * 8;
    let (lo, hi) = match key {
        Some('5') => (770.0, 1336.0),
        Some('9') => (852.0, 1477.0),
        Some(k) => panic!("no tones for {k}"),
        None => (0.0, 0.0),
    };
    let mut x = 0x1234_5678u32;
    (0..n)
        .map(|i| {
            let t = i as f32 / 8000.0;
            let v = if key.is_some() {
                ((2.0 * PI * lo * t).sin() + (2.0 * PI * hi * t).sin()) * 6000.0
            } else {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                ((x as f32 / u32::MAX as f32) - 0.5) * 8000.0
            };
            v as i16
        })
        .collect()
}

/// Feeds `pcm` as 20 ms PCMU packets from `seq`; the keys reported.
fn feed(r: &mut Receive, pcm: &[i16], seq: &mut u16, now: Instant) -> Vec<Digit> {
    let mut keys = Vec::new();
    for chunk in pcm.chunks(160) {
        let mut payload = Vec::new();
        Law::Mu.encode(chunk, &mut payload);
        let header = rtp::RtpHeader {
            marker: false,
            payload_type: rtp::PayloadType::new(0).unwrap(),
            sequence: *seq,
            timestamp: u32::from(*seq) * 160,
            ssrc: 7,
        };
        let bytes = header.to_packet(&payload);
        let p = rtp::parse(&bytes).unwrap();
        keys.extend(r.packet(&p, now).iter().map(|a| a.digit));
        *seq = seq.wrapping_add(1);
    }
    keys
}

fn d(c: char) -> Digit {
    Digit::from_char(c).unwrap()
}

#[test]
fn auto_without_telephone_event_decodes_every_packet_and_hears_keys() {
    let mut r = Receive::new(&neg(Codec::Pcmu, false), InbandDtmf::Auto, 16, 3);
    assert_eq!(r.detect_mode(), Detect::On);
    let mut seq = 1;
    let now = Instant::now();
    assert!(feed(&mut r, &samples(None, 1000), &mut seq, now).is_empty());
    assert_eq!(r.decoded_for_dtmf(), 50);
    assert_eq!(
        feed(&mut r, &samples(Some('5'), 80), &mut seq, now),
        vec![d('5')]
    );
}

#[test]
fn auto_with_telephone_event_decodes_one_packet_in_four() {
    let mut r = Receive::new(&neg(Codec::Pcmu, true), InbandDtmf::Auto, 16, 3);
    assert!(matches!(r.detect_mode(), Detect::Probe { .. }));
    let mut seq = 1;
    // 10 s of speech-like audio: the cost the benchmark measured, cut to a quarter.
    assert!(feed(&mut r, &samples(None, 10_000), &mut seq, Instant::now()).is_empty());
    assert_eq!(r.decoded_for_dtmf(), 500 / PROBE_EVERY as u64);
    assert!(
        matches!(r.detect_mode(), Detect::Probe { .. }),
        "noise is no key"
    );
}

#[test]
fn auto_with_telephone_event_still_hears_a_phone_that_plays_tones() {
    let now = Instant::now();
    // Whatever the probe's phase, a 120 ms press switches detection on and is reported.
    for phase in 0..PROBE_EVERY as usize {
        let mut r = Receive::new(&neg(Codec::Pcmu, true), InbandDtmf::Auto, 16, 3);
        let mut seq = 1;
        feed(&mut r, &samples(None, 20 * phase + 200), &mut seq, now);
        let first = feed(&mut r, &samples(Some('9'), 120), &mut seq, now);
        assert_eq!(first, vec![d('9')], "phase {phase}");
        assert_eq!(r.detect_mode(), Detect::On);
        // From now on every packet counts: a short 60 ms press is heard too.
        feed(
            &mut r,
            &samples(None, 200),
            &mut seq,
            now + Duration::from_secs(1),
        );
        let later = feed(
            &mut r,
            &samples(Some('5'), 60),
            &mut seq,
            now + Duration::from_secs(2),
        );
        assert_eq!(later, vec![d('5')], "phase {phase}");
    }
}

#[test]
fn always_decodes_every_packet_and_off_none() {
    let mut seq = 1;
    let now = Instant::now();
    let mut always = Receive::new(&neg(Codec::Pcmu, true), InbandDtmf::Always, 16, 3);
    feed(&mut always, &samples(None, 1000), &mut seq, now);
    assert_eq!(always.decoded_for_dtmf(), 50);
    let mut off = Receive::new(&neg(Codec::Pcmu, false), InbandDtmf::Off, 16, 3);
    assert_eq!(off.detect_mode(), Detect::Off);
    assert!(feed(&mut off, &samples(Some('5'), 200), &mut seq, now).is_empty());
    assert_eq!(off.decoded_for_dtmf(), 0);
}

#[test]
fn opus_with_telephone_event_is_not_decoded_and_without_it_is() {
    let with = Receive::new(&neg(Codec::Opus, true), InbandDtmf::Auto, 16, 3);
    assert_eq!(with.detect_mode(), Detect::Off);
    let without = Receive::new(&neg(Codec::Opus, false), InbandDtmf::Auto, 16, 3);
    assert_eq!(without.detect_mode(), Detect::On);
}

#[test]
fn a_reinvite_keeps_detection_on_once_tones_were_heard() {
    let now = Instant::now();
    let mut r = Receive::new(&neg(Codec::Pcmu, true), InbandDtmf::Auto, 16, 3);
    let mut seq = 1;
    feed(&mut r, &samples(Some('9'), 200), &mut seq, now);
    assert_eq!(r.detect_mode(), Detect::On);
    r.renegotiated(&neg(Codec::Pcmu, true));
    assert_eq!(r.detect_mode(), Detect::On);
}
