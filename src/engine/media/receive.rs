//! The receive half of a session: RTP from the caller to key presses.
//!
//! Telephone-events go straight to the RFC 4733 receiver (a press is reported on its first
//! packet) and leave a placeholder in the reorder buffer so the audio sees no gap; audio goes
//! through the reorder buffer, is decoded to 8 kHz (G.711 tables, or libopus decoding Opus at
//! 8 kHz) and fed to the Goertzel detector as [`InbandDtmf`] says ([`Detect`]: every packet,
//! a probe of one packet in [`PROBE_EVERY`], or none), and for the integrations' ports
//! attached to the call ([`super::live::TapsIn`]). Every report, with SIP INFO digits the SIP layer
//! passes in, goes through one [`DtmfMerger`], so a press sent two ways counts once. Payload
//! buffers are recycled through a small pool: in steady state nothing here allocates.

use std::time::Instant;

use super::codec::RxDecoder;
use super::live::TapsIn;
use super::InbandDtmf;
use crate::engine::audio_port::{AudioFormat, CallerSink};
use crate::flow::digit::Digit;
use crate::machine::io::RequestId;
use crate::media::dtmf_dedupe::{AcceptedDigit, DtmfMerger, DtmfMethod};
use crate::media::goertzel::DtmfDetector;
use crate::media::jitter::JitterBuffer;
use crate::media::rfc4733::DtmfReceiver;
use crate::media::rtp::RtpPacket;
use crate::sdp::{Codec, Negotiated};

/// Largest audio payload kept (120 ms of G.711 is 960 bytes; Opus packets are smaller).
const MAX_PAYLOAD: usize = 1500;
const POOL: usize = 32;
/// In probe mode, one audio packet in this many is decoded and checked for a key's tones.
/// A probed 20 ms packet holds one whole 105-sample block; the press is then confirmed by the
/// next block, which starts in the same packet and ends in the next one. So a tone of
/// (PROBE_EVERY + 1) × 20 ms + ~7 ms (107 ms) always starts full detection *and* is reported;
/// a human key press lasts longer, phones' fixed tones are 70-100 ms and are caught when the
/// probe falls early enough in them; every later key is caught as with `always`.
pub const PROBE_EVERY: u32 = 4;

/// How received audio is searched for in-band keys (from [`InbandDtmf`] and the SDP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Detect {
    /// Not at all.
    Off,
    /// One packet in [`PROBE_EVERY`]: this many packets until the next probe.
    Probe { countdown: u32 },
    /// Every packet.
    On,
}

pub(super) struct Receive {
    codec_pt: u8,
    te_pt: Option<u8>,
    events: DtmfReceiver,
    jitter: JitterBuffer<Option<Vec<u8>>>,
    pool: Vec<Vec<u8>>,
    decoder: Option<RxDecoder>,
    inband: InbandDtmf,
    detect: Detect,
    /// Present while in-band detection runs (or probes) for the negotiated codec.
    detector: Option<DtmfDetector>,
    /// Packets decoded for the detector (for tests and the end-of-call figures).
    decoded: u64,
    pcm: Vec<i16>,
    merger: DtmfMerger,
    accepted: Vec<AcceptedDigit>,
    /// Audio packets that failed to decode (logged once per call at debug level).
    decode_errors: u64,
    codec: Codec,
    /// Integrations listening to the caller.
    taps: TapsIn,
}

impl Receive {
    pub fn new(neg: &Negotiated, inband: InbandDtmf, capacity: usize, depth: usize) -> Receive {
        let mut r = Receive {
            codec_pt: neg.payload_type,
            te_pt: None,
            events: DtmfReceiver::new(),
            jitter: JitterBuffer::new(capacity, depth),
            pool: Vec::new(),
            decoder: None,
            inband,
            detect: Detect::Off,
            detector: None,
            decoded: 0,
            pcm: Vec::with_capacity(super::codec::RX_MAX_SAMPLES),
            merger: DtmfMerger::default(),
            accepted: Vec::new(),
            decode_errors: 0,
            codec: neg.codec,
            taps: TapsIn::default(),
        };
        r.renegotiated(neg);
        r
    }

    /// New payload types or codec after a re-INVITE.
    pub fn renegotiated(&mut self, neg: &Negotiated) {
        self.codec = neg.codec;
        self.codec_pt = neg.payload_type;
        self.te_pt = neg.telephone_event.map(|t| t.payload_type);
        let heard_tones = self.detect == Detect::On && self.inband == InbandDtmf::Auto;
        self.detect = match self.inband {
            InbandDtmf::Off => Detect::Off,
            InbandDtmf::Always => Detect::On,
            InbandDtmf::Auto if neg.telephone_event.is_none() || heard_tones => Detect::On,
            InbandDtmf::Auto if neg.codec == Codec::Opus => Detect::Off,
            InbandDtmf::Auto => Detect::Probe {
                countdown: PROBE_EVERY,
            },
        };
        self.decoder = None;
        self.detector = None;
        if self.detect != Detect::Off {
            match RxDecoder::new(neg.codec) {
                Ok(d) => {
                    self.decoder = Some(d);
                    self.detector = Some(DtmfDetector::new());
                }
                Err(e) => {
                    self.detect = Detect::Off;
                    tracing::warn!(error = %e, "no decoder for in-band DTMF");
                }
            }
        }
        self.jitter.reset();
    }

    /// How in-band keys are searched for now.
    #[cfg(test)]
    pub(super) fn detect_mode(&self) -> Detect {
        self.detect
    }

    /// Audio packets decoded for the in-band detector so far.
    #[cfg(test)]
    pub(super) fn decoded_for_dtmf(&self) -> u64 {
        self.decoded
    }

    /// Whether `pt` is one we negotiated (audio or telephone-event).
    pub fn expects(&self, pt: u8) -> bool {
        pt == self.codec_pt || Some(pt) == self.te_pt
    }

    /// Handles one RTP packet of a negotiated payload type; accepted presses are returned
    /// (the slice is reused by the next call).
    pub fn packet(&mut self, p: &RtpPacket<'_>, now: Instant) -> &[AcceptedDigit] {
        self.accepted.clear();
        let h = &p.header;
        if Some(h.payload_type.get()) == self.te_pt {
            match self.events.receive(h.ssrc, h.timestamp, p.payload) {
                Ok(Some(press)) => self.report(press.digit, DtmfMethod::Rfc4733, now),
                Ok(None) => {}
                Err(e) => tracing::debug!(error = %e, "bad telephone-event payload"),
            }
            self.jitter.push(h.sequence, None);
        } else if self.taps.is_empty() && matches!(self.detect, Detect::Probe { .. }) {
            // Probing needs no reordering: one packet is checked on its own.
            self.detect(p.payload, now);
        } else if (self.detector.is_some() || !self.taps.is_empty())
            && p.payload.len() <= MAX_PAYLOAD
        {
            let mut buf = self.pool.pop().unwrap_or_default();
            buf.clear();
            buf.extend_from_slice(p.payload);
            self.jitter.push(h.sequence, Some(buf));
        }
        while let Some((_, item)) = self.jitter.pop() {
            let Some(payload) = item else { continue };
            self.detect(&payload, now);
            if !self.taps.is_empty() {
                if let Err(e) = self.taps.payload(self.codec, &payload) {
                    tracing::debug!(error = %e, "caller audio for an integration not decoded");
                }
            }
            if self.pool.len() < POOL {
                self.pool.push(payload);
            }
        }
        &self.accepted
    }

    /// An integration starts listening to the caller.
    pub fn attach(&mut self, id: RequestId, sink: CallerSink, format: AudioFormat) {
        self.taps.attach(id, sink, format);
    }

    pub fn detach(&mut self, id: RequestId) {
        self.taps.detach(id);
    }

    /// After a codec change: the ports the new codec cannot carry (detached).
    pub fn taps_renegotiated(&mut self) -> Vec<RequestId> {
        self.taps.renegotiated(self.codec)
    }

    /// A digit from SIP INFO.
    pub fn info_digit(&mut self, digit: Digit, now: Instant) -> Option<AcceptedDigit> {
        self.merger.report(digit, DtmfMethod::SipInfo, now)
    }

    /// Transports seen in this call (for the end-of-call log line).
    pub fn methods_seen(&self) -> Vec<DtmfMethod> {
        self.merger.methods_seen()
    }

    fn detect(&mut self, payload: &[u8], now: Instant) {
        let (Some(dec), Some(det)) = (self.decoder.as_mut(), self.detector.as_mut()) else {
            return;
        };
        let probing = match &mut self.detect {
            Detect::Off => return,
            Detect::On => false,
            Detect::Probe { countdown } => {
                *countdown -= 1;
                if *countdown > 0 {
                    return;
                }
                *countdown = PROBE_EVERY;
                // This packet does not follow the last one probed.
                det.reset();
                true
            }
        };
        self.decoded += 1;
        if let Err(e) = dec.decode(payload, &mut self.pcm) {
            self.decode_errors += 1;
            if self.decode_errors == 1 {
                tracing::debug!(error = %e, "undecodable audio packet");
            }
            return;
        }
        let digits = det.push(&self.pcm);
        if probing && det.tone_seen() {
            // A key's tones in the audio although RFC 4733 was negotiated: listen to every
            // packet from now on (the detector keeps its state, so this press is reported
            // by the next block).
            self.detect = Detect::On;
            tracing::debug!("in-band DTMF heard on a call with telephone-event: detector on");
        }
        for digit in digits {
            self.report(digit, DtmfMethod::InBand, now);
        }
    }

    fn report(&mut self, digit: Digit, method: DtmfMethod, now: Instant) {
        if let Some(a) = self.merger.report(digit, method, now) {
            self.accepted.push(a);
        }
    }
}

#[cfg(test)]
#[path = "receive_tests.rs"]
mod tests;
