//! RTP packets (RFC 3550): parse a datagram into a borrowed [`RtpPacket`], build one from an
//! [`RtpHeader`] and a payload.
//!
//! The byte-level work is done by the `rtp-rs` crate; this module wraps it so the rest of the
//! engine sees plain fields and a typed [`RtpError`], and adds what the crate leaves out:
//! telling RTCP apart on a muxed port (RFC 5761) and a validated [`PayloadType`]. It owns no
//! session state (sequence numbers and timing live in [`super::pacer`] and [`super::jitter`]).

use std::fmt;

use rtp_rs::{RtpPacketBuilder, RtpReader, RtpReaderError, Seq};

/// An RTP payload type: 7 bits, so 0-127.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PayloadType(u8);

impl PayloadType {
    pub const PCMU: PayloadType = PayloadType(0);
    pub const PCMA: PayloadType = PayloadType(8);

    /// `None` unless `pt` < 128.
    pub fn new(pt: u8) -> Option<PayloadType> {
        (pt < 128).then_some(PayloadType(pt))
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

impl fmt::Display for PayloadType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The header fields a sender chooses (no CSRCs, extensions or padding: phonetree sends none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    pub payload_type: PayloadType,
    pub marker: bool,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
}

/// A parsed packet borrowing the datagram. `payload` excludes CSRCs, the extension and padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    pub header: RtpHeader,
    pub csrc_count: u8,
    /// Header extension `(profile id, data)` if present.
    pub extension: Option<(u16, &'a [u8])>,
    /// Number of padding bytes that were stripped (0 if none).
    pub padding: u8,
    pub payload: &'a [u8],
}

/// Why a datagram is not an RTP packet we can use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtpError {
    /// Shorter than the 12-byte fixed header.
    TooShort { len: usize },
    /// Version field is not 2 (e.g. STUN, ZRTP or garbage).
    UnsupportedVersion(u8),
    /// CSRC list or header extension runs past the end of the datagram.
    Truncated { header_len: usize, len: usize },
    /// The padding count is 0 or larger than the payload.
    BadPadding(u8),
    /// An RTCP packet (packet type 200-204) on a muxed port (RFC 5761); not an error for the
    /// caller, just not RTP.
    Rtcp { packet_type: u8 },
}

impl fmt::Display for RtpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RtpError::TooShort { len } => write!(f, "RTP packet too short ({len} bytes)"),
            RtpError::UnsupportedVersion(v) => write!(f, "RTP version {v} is not 2"),
            RtpError::Truncated { header_len, len } => {
                write!(f, "RTP header needs {header_len} bytes, packet has {len}")
            }
            RtpError::BadPadding(n) => write!(f, "invalid RTP padding length {n}"),
            RtpError::Rtcp { packet_type } => write!(f, "RTCP packet type {packet_type}"),
        }
    }
}

impl std::error::Error for RtpError {}

/// Parses one datagram. Never panics, whatever the bytes.
pub fn parse(buf: &[u8]) -> Result<RtpPacket<'_>, RtpError> {
    // RFC 5761 §4: with rtcp-mux, the second byte of RTCP SR/RR/SDES/BYE/APP is 200-204
    // (192-223 is reserved so RTP payload types 64-95 never collide).
    if buf.len() >= 2 && buf[0] >> 6 == 2 && (192..=223).contains(&buf[1]) {
        return Err(RtpError::Rtcp {
            packet_type: buf[1],
        });
    }
    let reader = RtpReader::new(buf).map_err(|e| match e {
        RtpReaderError::BufferTooShort(len) => RtpError::TooShort { len },
        RtpReaderError::UnsupportedVersion(v) => RtpError::UnsupportedVersion(v),
        RtpReaderError::HeadersTruncated {
            header_len,
            buffer_len,
        } => RtpError::Truncated {
            header_len,
            len: buffer_len,
        },
        RtpReaderError::PaddingLengthInvalid(n) => RtpError::BadPadding(n),
    })?;
    // `RtpReader::new` validated the padding, so `padding()` is the stripped byte count.
    let padding = reader.padding().unwrap_or(0);
    let payload_type = PayloadType(reader.payload_type()); // already masked to 7 bits
    Ok(RtpPacket {
        header: RtpHeader {
            payload_type,
            marker: reader.mark(),
            sequence: reader.sequence_number().into(),
            timestamp: reader.timestamp(),
            ssrc: reader.ssrc(),
        },
        csrc_count: reader.csrc_count(),
        extension: reader.extension(),
        padding,
        payload: reader.payload(),
    })
}

impl RtpHeader {
    /// Size of the header this module writes.
    pub const LEN: usize = 12;

    /// Appends the packet (header then payload) to `out`; returns the number of bytes written.
    pub fn write(&self, payload: &[u8], out: &mut Vec<u8>) -> usize {
        let builder = RtpPacketBuilder::new()
            .payload_type(self.payload_type.get())
            .marked(self.marker)
            .sequence(Seq::from(self.sequence))
            .timestamp(self.timestamp)
            .ssrc(self.ssrc)
            .payload(payload);
        let start = out.len();
        let len = builder.target_length();
        out.resize(start + len, 0);
        // With a payload type < 128 (guaranteed by `PayloadType`), no extension and a buffer of
        // exactly `target_length` bytes, the builder has nothing left to reject.
        builder
            .build_into(&mut out[start..])
            .expect("PayloadType < 128, no extension, buffer sized by target_length")
    }

    /// The fixed header (RFC 3550 §5.1: version 2, no padding, extension or CSRC) into `out`.
    /// Written by hand rather than through the builder [`RtpHeader::write`] uses: the send path
    /// has the payload in place behind these 12 bytes already, and the builder wants a zeroed
    /// buffer and copies the payload again. The tests check both write the same bytes.
    pub fn write_fixed(&self, out: &mut [u8; Self::LEN]) {
        out[0] = 0x80;
        out[1] = (u8::from(self.marker) << 7) | self.payload_type.get();
        out[2..4].copy_from_slice(&self.sequence.to_be_bytes());
        out[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
    }

    /// The packet as a new buffer.
    pub fn to_packet(&self, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::LEN + payload.len());
        self.write(payload, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn header() -> RtpHeader {
        RtpHeader {
            payload_type: PayloadType::PCMA,
            marker: true,
            sequence: 0xFFFE,
            timestamp: 0xDEAD_BEEF,
            ssrc: 0x1234_5678,
        }
    }

    #[test]
    fn build_then_parse_round_trips() {
        let bytes = header().to_packet(&[1, 2, 3, 4]);
        assert_eq!(
            &bytes[..12],
            &[0x80, 0x88, 0xFF, 0xFE, 0xDE, 0xAD, 0xBE, 0xEF, 0x12, 0x34, 0x56, 0x78]
        );
        let p = parse(&bytes).unwrap();
        assert_eq!(p.header, header());
        assert_eq!(p.payload, &[1, 2, 3, 4]);
        assert_eq!((p.csrc_count, p.padding, p.extension), (0, 0, None));
    }

    #[test]
    fn write_appends_to_existing_buffer() {
        let mut out = vec![9, 9];
        let n = header().write(&[7], &mut out);
        assert_eq!(n, 13);
        assert_eq!(out.len(), 15);
        assert_eq!(parse(&out[2..]).unwrap().payload, &[7]);
    }

    #[test]
    fn parses_csrcs_extension_and_padding() {
        let mut b = vec![0xB2, 0x60, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3]; // V=2 P=1 X=1 CC=2, PT 96
        b.extend_from_slice(&[0, 0, 0, 0xA, 0, 0, 0, 0xB]); // two CSRCs
        b.extend_from_slice(&[0xBE, 0xDE, 0, 1, 0x10, 0xAA, 0, 0]); // one-byte-header extension
        b.extend_from_slice(&[5, 6, 7]); // payload
        b.extend_from_slice(&[0, 0, 3]); // 3 bytes of padding
        let p = parse(&b).unwrap();
        assert_eq!(p.header.payload_type.get(), 96);
        assert!(!p.header.marker);
        assert_eq!(p.csrc_count, 2);
        assert_eq!(p.extension, Some((0xBEDE, &[0x10, 0xAA, 0, 0][..])));
        assert_eq!(p.padding, 3);
        assert_eq!(p.payload, &[5, 6, 7]);
    }

    #[test]
    fn rejects_malformed_packets_with_typed_errors() {
        assert_eq!(parse(&[0x80; 5]), Err(RtpError::TooShort { len: 5 }));
        let mut v1 = header().to_packet(&[]);
        v1[0] = 0x40;
        assert_eq!(parse(&v1), Err(RtpError::UnsupportedVersion(1)));
        let mut cc = header().to_packet(&[]);
        cc[0] |= 0x03; // three CSRCs that are not there
        assert!(matches!(
            parse(&cc),
            Err(RtpError::Truncated { header_len: 24, .. })
        ));
        let mut ext = header().to_packet(&[0, 0]);
        ext[0] |= 0x10; // extension header that does not fit
        assert!(matches!(parse(&ext), Err(RtpError::Truncated { .. })));
        let mut pad = header().to_packet(&[1, 2, 9]);
        pad[0] |= 0x20; // padding count 9 > 3 bytes available
        assert_eq!(parse(&pad), Err(RtpError::BadPadding(9)));
        let mut pad0 = header().to_packet(&[1, 0]);
        pad0[0] |= 0x20;
        assert_eq!(parse(&pad0), Err(RtpError::BadPadding(0)));
    }

    #[test]
    fn recognises_muxed_rtcp() {
        // An RTCP receiver report: V=2, RC=0, PT=201, length 1.
        let rr = [0x80, 201, 0, 1, 0, 0, 0, 1];
        assert_eq!(parse(&rr), Err(RtpError::Rtcp { packet_type: 201 }));
        // PT 96 with the marker set is byte 0xE0 = 224: still RTP.
        let mut p = header().to_packet(&[]);
        p[1] = 0xE0;
        assert_eq!(parse(&p).unwrap().header.payload_type.get(), 96);
    }

    #[test]
    fn payload_type_is_seven_bits() {
        assert!(PayloadType::new(127).is_some());
        assert!(PayloadType::new(128).is_none());
        assert_eq!(PayloadType::PCMU.to_string(), "0");
    }

    proptest! {
        #[test]
        fn write_fixed_writes_what_the_builder_writes(
            pt in 0u8..128, marker: bool, sequence: u16, timestamp: u32, ssrc: u32,
            payload in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let h = RtpHeader {
                payload_type: PayloadType::new(pt).expect("< 128"),
                marker, sequence, timestamp, ssrc,
            };
            let mut by_hand = [0; RtpHeader::LEN].to_vec();
            by_hand.extend_from_slice(&payload);
            h.write_fixed(by_hand.first_chunk_mut().expect("12 bytes"));
            prop_assert_eq!(by_hand, h.to_packet(&payload));
        }

        #[test]
        fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(p) = parse(&bytes) {
                prop_assert!(p.payload.len() + RtpHeader::LEN <= bytes.len());
            }
        }

        #[test]
        fn never_panics_on_version_2_garbage(
            first in 0u8..64,
            rest in proptest::collection::vec(any::<u8>(), 0..80),
        ) {
            // Version 2 with random P/X/CC bits: exercises the CSRC, extension and padding paths.
            let mut bytes = vec![0x80 | first];
            bytes.extend(rest);
            if let Ok(p) = parse(&bytes) {
                let used = RtpHeader::LEN + 4 * usize::from(p.csrc_count)
                    + p.extension.map_or(0, |(_, e)| 4 + e.len())
                    + p.payload.len() + usize::from(p.padding);
                prop_assert_eq!(used, bytes.len());
            }
        }

        #[test]
        fn header_fields_round_trip(pt in 0u8..128, m: bool, seq: u16, ts: u32, ssrc: u32,
                                    payload in proptest::collection::vec(any::<u8>(), 0..200)) {
            let h = RtpHeader { payload_type: PayloadType::new(pt).unwrap(), marker: m, sequence: seq, timestamp: ts, ssrc };
            let bytes = h.to_packet(&payload);
            match parse(&bytes) {
                Ok(p) => { prop_assert_eq!(p.header, h); prop_assert_eq!(p.payload, &payload[..]); }
                // PT 64-95 with the marker set is indistinguishable from RTCP (RFC 5761 §4).
                Err(RtpError::Rtcp { .. }) => prop_assert!((192..=223).contains(&bytes[1])),
                Err(e) => prop_assert!(false, "{e}"),
            }
        }
    }
}
