//! The media primitives wired together the way the runtime will: an SDP offer from a phone is
//! answered, the "phone" sends G.711 audio and keys (RFC 4733 and in-band tones at once) through
//! a network that reorders and duplicates packets, and our receive path reports each press once,
//! with the method that delivered it: RTP parse → telephone-event packets straight to the RFC 4733
//! receiver (first packet counts, whatever the order), audio through the reorder buffer → G.711
//! decode → Goertzel; both into the DTMF merger. No sockets, no clocks: virtual time throughout.

use std::f32::consts::PI;
use std::time::{Duration, Instant};

use phonetree::flow::digit::Digit;
use phonetree::media::dtmf_dedupe::{DtmfMerger, DtmfMethod};
use phonetree::media::g711::Law;
use phonetree::media::goertzel::DtmfDetector;
use phonetree::media::jitter::JitterBuffer;
use phonetree::media::pacer::{Pacer, PacerConfig};
use phonetree::media::rfc4733::{send_digit, DtmfReceiver};
use phonetree::media::rtp::{self, PayloadType, RtpHeader};
use phonetree::sdp::{self, Codec, LocalMedia};

const OFFER: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\n\
c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n";

/// A datagram on the wire with the time it arrives.
struct Datagram {
    at: Instant,
    bytes: Vec<u8>,
}

/// One 20 ms frame of the phone's microphone: the key's tones when `key` is held, else silence.
fn frame(key: Option<char>, n: usize) -> Vec<i16> {
    let (f1, f2) = match key {
        Some('5') => (770.0, 1336.0),
        Some('#') => (941.0, 1477.0),
        Some(k) => panic!("test key {k}"),
        None => return vec![0; 160],
    };
    (0..160)
        .map(|i| {
            let t = (n * 160 + i) as f32 / 8000.0;
            (3000.0 * ((2.0 * PI * f1 * t).sin() + (2.0 * PI * f2 * t).sin())) as i16
        })
        .collect()
}

/// The phone: 1.2 s of PCMA; '5' held 120-240 ms sent both in-band and as RFC 4733;
/// '#' held 600-720 ms in-band only (a phone that leaves tones in the audio).
fn phone_sends(t0: Instant, pt: PayloadType, te_pt: PayloadType) -> Vec<Datagram> {
    let mut pacer = Pacer::new(PacerConfig::new(0xABCD, pt, 8000, 65500, 77));
    pacer.start(t0);
    let mut out = Vec::new();
    let mut pending = Vec::new();
    for n in 0..60 {
        let now = t0 + Duration::from_millis(20 * n as u64);
        let key = match n {
            6..=11 => Some('5'),
            30..=35 => Some('#'),
            _ => None,
        };
        if n == 6 {
            let ts = pacer.timestamp_at(now);
            let five = Digit::from_char('5').unwrap();
            pending = send_digit(five, now, ts, 8000, Duration::from_millis(120), 10);
        }
        // Event packets share the stream's sequence numbers, taken when each is sent.
        while pending.first().is_some_and(|ev| ev.send_at <= now) {
            let ev = pending.remove(0);
            let header = RtpHeader {
                payload_type: te_pt,
                marker: ev.marker,
                sequence: pacer.take_sequence(),
                timestamp: ev.timestamp,
                ssrc: 0xABCD,
            };
            let bytes = header.to_packet(&ev.payload.to_bytes());
            out.push(Datagram { at: now, bytes });
        }
        while let Some(slot) = pacer.poll_slot(now) {
            let mut payload = Vec::new();
            Law::A.encode(&frame(key, n), &mut payload);
            let bytes = slot.header.to_packet(&payload);
            out.push(Datagram {
                at: slot.due,
                bytes,
            });
        }
    }
    out
}

/// The network: swaps every 5th packet with the next, duplicates every 7th.
fn network(mut packets: Vec<Datagram>) -> Vec<Datagram> {
    for i in (0..packets.len().saturating_sub(1)).step_by(5) {
        packets.swap(i, i + 1);
    }
    let mut out = Vec::new();
    for (i, p) in packets.into_iter().enumerate() {
        if i % 7 == 0 {
            out.push(Datagram {
                at: p.at,
                bytes: p.bytes.clone(),
            });
        }
        out.push(p);
    }
    out
}

#[test]
fn a_call_receives_each_press_once_with_its_method() {
    let t0 = Instant::now();
    let local = LocalMedia {
        codecs: vec![Codec::Pcmu, Codec::Pcma],
        ..LocalMedia::new("127.0.0.1".parse().unwrap(), 30000, 1)
    };
    let answer = sdp::negotiate(&sdp::parse(OFFER).unwrap(), &local).unwrap();
    let n = answer.negotiated;
    assert_eq!(n.codec, Codec::Pcma);
    let te = n.telephone_event.expect("offer has telephone-event");
    let pt = PayloadType::new(n.payload_type).unwrap();
    let te_pt = PayloadType::new(te.payload_type).unwrap();

    let mut jitter = JitterBuffer::new(16, 3);
    let mut events = DtmfReceiver::new();
    let mut detector = DtmfDetector::new();
    let mut merger = DtmfMerger::default();
    let mut accepted = Vec::new();
    let mut pcm = Vec::new();
    for d in network(phone_sends(t0, pt, te_pt)) {
        let packet = rtp::parse(&d.bytes).expect("well-formed RTP");
        let h = packet.header;
        if h.payload_type == te_pt {
            // Events are order-independent: react on arrival, and leave a placeholder so the
            // audio reorder buffer sees no gap in the shared sequence numbers.
            if let Some(press) = events.receive(h.ssrc, h.timestamp, packet.payload).unwrap() {
                accepted.extend(merger.report(press.digit, DtmfMethod::Rfc4733, d.at));
            }
            jitter.push(h.sequence, None);
        } else if h.payload_type == pt {
            jitter.push(h.sequence, Some(packet.payload.to_vec()));
        }
        while let Some((_, frame)) = jitter.pop() {
            let Some(payload) = frame else { continue };
            pcm.clear();
            Law::A.decode(&payload, &mut pcm);
            for digit in detector.push(&pcm) {
                accepted.extend(merger.report(digit, DtmfMethod::InBand, d.at));
            }
        }
    }
    let got: Vec<(char, DtmfMethod)> = accepted
        .iter()
        .map(|a| (a.digit.as_char(), a.method))
        .collect();
    assert_eq!(got, [('5', DtmfMethod::Rfc4733), ('#', DtmfMethod::InBand)]);
    assert_eq!(
        merger.methods_seen(),
        [DtmfMethod::Rfc4733, DtmfMethod::InBand]
    );
    let st = jitter.stats();
    assert!(st.duplicates > 0, "the network duplicated packets: {st:?}");
    assert_eq!(
        st.lost, 0,
        "reordering within the buffer depth loses nothing: {st:?}"
    );
}
