//! The SRTP layer of a call's media core: what comes off the socket is unprotected before the
//! core looks at it (so a packet that fails authentication never latches a source, never counts
//! as media and never carries a key press), and every packet the core writes is protected last.
//!
//! [`Secure::Off`] for plain RTP costs one `match` per packet. SRTCP is not decrypted: RTCP is
//! ignored by the core either way, and its header is in clear, so it is told apart from SRTP by
//! its packet type (RFC 5761 §4) before any authentication is tried. Keys come from
//! [`crate::sdp::SrtpKeys`] (SDES); the transform is [`crate::media::srtp`].

use crate::media::srtp::{SrtpContext, SrtpError};
use crate::sdp::SrtpKeys;

/// The per-call SRTP state.
#[derive(Debug)]
pub(super) enum Secure {
    /// Plain RTP.
    Off,
    On(Box<Contexts>),
    /// Keys were negotiated but no context could be built: nothing is sent or accepted (never
    /// plain RTP where SRTP was agreed).
    Broken,
}

#[derive(Debug)]
pub(super) struct Contexts {
    tx: SrtpContext,
    rx: SrtpContext,
    /// Receive scratch: the datagram is decrypted in a copy (the socket's buffer is shared).
    scratch: Vec<u8>,
}

/// What happened to a received datagram.
pub(super) enum Inbound<'a> {
    /// Hand these bytes to the RTP path.
    Rtp(&'a [u8]),
    /// RTCP/SRTCP: ignored.
    Rtcp,
    /// Dropped: failed authentication, replayed, or not SRTP.
    Dropped(SrtpError),
}

impl Secure {
    pub fn new(keys: Option<&SrtpKeys>) -> Secure {
        let Some(k) = keys else { return Secure::Off };
        let built = SrtpContext::new(k.suite, &k.local)
            .and_then(|tx| Ok((tx, SrtpContext::new(k.suite, &k.remote)?)));
        match built {
            Ok((tx, rx)) => Secure::On(Box::new(Contexts {
                tx,
                rx,
                scratch: Vec::with_capacity(1500),
            })),
            Err(e) => {
                tracing::error!(error = %e, "cannot set up SRTP: no media in this call");
                Secure::Broken
            }
        }
    }

    /// Unprotects `data` (plain RTP passes through when off).
    pub fn inbound<'a>(&'a mut self, data: &'a [u8]) -> Inbound<'a> {
        let c = match self {
            Secure::Off => return Inbound::Rtp(data),
            Secure::Broken => return Inbound::Dropped(SrtpError::Crypto),
            Secure::On(c) => c,
        };
        if is_rtcp(data) {
            return Inbound::Rtcp;
        }
        c.scratch.clear();
        c.scratch.extend_from_slice(data);
        match c.rx.unprotect(&mut c.scratch) {
            Ok(n) => Inbound::Rtp(&c.scratch[..n]),
            Err(e) => Inbound::Dropped(e),
        }
    }

    /// Protects the RTP packet in `buf`; `false`: it must not be sent.
    pub fn outbound(&mut self, buf: &mut Vec<u8>) -> bool {
        match self {
            Secure::Off => true,
            Secure::Broken => false,
            Secure::On(c) => c.tx.protect(buf).is_ok(),
        }
    }
}

/// RTCP packet types 192-223 in the second byte (RFC 5761 §4), version 2.
fn is_rtcp(data: &[u8]) -> bool {
    data.len() >= 2 && data[0] >> 6 == 2 && (192..=223).contains(&data[1])
}
