//! SRTP (RFC 3711) for the two SDES suites of RFC 4568: `AES_CM_128_HMAC_SHA1_80` and
//! `AES_CM_128_HMAC_SHA1_32`. A sans-IO layer on packets: [`SrtpContext::protect`] turns an RTP
//! packet we built into SRTP in place (payload encrypted, tag appended), and
//! [`SrtpContext::unprotect`] checks the tag and the replay window of a received packet and
//! decrypts it in place, or says why it must be dropped ([`SrtpError`], counted by the caller).
//!
//! What it does: the AES-CM key derivation (key derivation rate 0, the SDES default), the
//! 48-bit packet index (roll-over counter estimated as in RFC 3711 §3.3.1 and appendix A), a
//! 64-packet replay window, per-SSRC state that only an authenticated packet can replace.
//! Not owned here: SRTCP (phonetree sends no RTCP and ignores what it receives: the RTCP header
//! stays in clear, so the media core still recognises it), MKIs, key lifetimes and re-keying
//! (SDES negotiates a new key with a re-INVITE, which builds a new context), `a=crypto` parsing
//! (`crate::sdp::crypto`).
//!
//! Hand-written over aws-lc-rs (AES-128-CTR, HMAC-SHA1, constant-time compare), which rustls
//! already links: the maintained pure-Rust SRTP crate, `webrtc-srtp`, brings webrtc-util, its own
//! rtp/rtcp crates, tokio features, aes-gcm and a second copy of hmac/sha1 (about twenty crates
//! more to build in CI) for the ~250 lines below, and libsrtp2 would add a C library to every
//! build. Checked against the RFC 3711 appendix B test vectors and against baresip.
//!
//! Secrets: [`MasterKey`]'s `Debug` prints nothing of the key, and no error carries key bytes.

use std::fmt;

use aws_lc_rs::cipher::{EncryptingKey, EncryptionContext, UnboundCipherKey, AES_128};
use aws_lc_rs::hmac;
use aws_lc_rs::iv::FixedLength;

/// Master key length of both suites (AES-128).
pub const KEY_LEN: usize = 16;
/// Master salt length of both suites.
pub const SALT_LEN: usize = 14;
/// Length of the base64 `inline:` value's bytes: key then salt.
pub const MASTER_LEN: usize = KEY_LEN + SALT_LEN;
/// Replay window (RFC 3711 §3.3.2 asks for at least 64).
const WINDOW: u64 = 64;

/// A negotiated crypto suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Suite {
    /// AES-128 counter mode, HMAC-SHA1 with an 80-bit tag.
    AesCm128HmacSha1_80,
    /// The same with a 32-bit RTP tag.
    AesCm128HmacSha1_32,
}

impl Suite {
    pub const ALL: [Suite; 2] = [Suite::AesCm128HmacSha1_80, Suite::AesCm128HmacSha1_32];

    /// The RFC 4568 name.
    pub fn name(self) -> &'static str {
        match self {
            Suite::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            Suite::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
        }
    }

    /// From the RFC 4568 name (case-sensitive, as the grammar says).
    pub fn from_name(name: &str) -> Option<Suite> {
        Suite::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Bytes of authentication tag on each SRTP packet.
    pub fn tag_len(self) -> usize {
        match self {
            Suite::AesCm128HmacSha1_80 => 10,
            Suite::AesCm128HmacSha1_32 => 4,
        }
    }
}

impl fmt::Display for Suite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A master key and salt (the 30 bytes of an `inline:` key). `Debug` hides them.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey([u8; MASTER_LEN]);

impl MasterKey {
    pub fn new(bytes: [u8; MASTER_LEN]) -> MasterKey {
        MasterKey(bytes)
    }

    /// A fresh key from the operating system's CSPRNG.
    pub fn random() -> Result<MasterKey, getrandom::Error> {
        let mut b = [0u8; MASTER_LEN];
        getrandom::fill(&mut b)?;
        Ok(MasterKey(b))
    }

    /// Key then salt, as SDES writes them (base64 of these is the `inline:` value).
    pub fn as_bytes(&self) -> &[u8; MASTER_LEN] {
        &self.0
    }

    fn key(&self) -> &[u8] {
        &self.0[..KEY_LEN]
    }

    fn salt(&self) -> &[u8] {
        &self.0[KEY_LEN..]
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

/// Why a packet could not be protected or was dropped on receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SrtpError {
    /// Shorter than its RTP header (with CSRCs and extension) plus the tag.
    Malformed,
    /// The authentication tag is wrong (forged, corrupted, or another key).
    AuthFailed,
    /// Seen before, or older than the replay window.
    Replayed,
    /// The crypto library refused (does not happen with valid keys).
    Crypto,
}

impl fmt::Display for SrtpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SrtpError::Malformed => "not an SRTP packet",
            SrtpError::AuthFailed => "SRTP authentication failed",
            SrtpError::Replayed => "SRTP packet replayed or too old",
            SrtpError::Crypto => "SRTP cipher error",
        })
    }
}

impl std::error::Error for SrtpError {}

/// The session keys of one direction, derived from a master key (RFC 3711 §4.3, KDR 0).
struct SessionKeys {
    cipher: EncryptingKey,
    auth: hmac::Key,
    salt: [u8; SALT_LEN],
}

impl SessionKeys {
    fn derive(master: &MasterKey) -> Result<SessionKeys, SrtpError> {
        let enc: [u8; KEY_LEN] = kdf(master, 0x00)?;
        let auth: [u8; 20] = kdf(master, 0x01)?;
        let salt: [u8; SALT_LEN] = kdf(master, 0x02)?;
        let key = UnboundCipherKey::new(&AES_128, &enc).map_err(|_| SrtpError::Crypto)?;
        Ok(SessionKeys {
            cipher: EncryptingKey::ctr(key).map_err(|_| SrtpError::Crypto)?,
            auth: hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &auth),
            salt,
        })
    }

    /// AES-CM over `data` for the packet `(ssrc, index)`: IV = salt·2^16 ⊕ SSRC·2^64 ⊕ i·2^16.
    fn crypt(&self, ssrc: u32, index: u64, data: &mut [u8]) -> Result<(), SrtpError> {
        let mut iv = [0u8; 16];
        iv[..SALT_LEN].copy_from_slice(&self.salt);
        for (b, s) in iv[4..8].iter_mut().zip(ssrc.to_be_bytes()) {
            *b ^= s;
        }
        for (b, s) in iv[8..14].iter_mut().zip(&index.to_be_bytes()[2..]) {
            *b ^= s;
        }
        self.cipher
            .less_safe_encrypt(data, EncryptionContext::Iv128(FixedLength::from(iv)))
            .map(|_| ())
            .map_err(|_| SrtpError::Crypto)
    }

    /// The full HMAC-SHA1 of `packet || ROC`.
    fn tag(&self, packet: &[u8], roc: u32) -> hmac::Tag {
        let mut ctx = hmac::Context::with_key(&self.auth);
        ctx.update(packet);
        ctx.update(&roc.to_be_bytes());
        ctx.sign()
    }
}

/// The AES-CM PRF: `n` bytes of keystream for `label` (key derivation rate 0).
fn kdf<const N: usize>(master: &MasterKey, label: u8) -> Result<[u8; N], SrtpError> {
    let mut iv = [0u8; 16];
    iv[..SALT_LEN].copy_from_slice(master.salt());
    // key_id = label || 48 zero bits, right-aligned in the 112-bit salt.
    iv[7] ^= label;
    let key = UnboundCipherKey::new(&AES_128, master.key()).map_err(|_| SrtpError::Crypto)?;
    let cipher = EncryptingKey::ctr(key).map_err(|_| SrtpError::Crypto)?;
    let mut out = [0u8; N];
    cipher
        .less_safe_encrypt(&mut out, EncryptionContext::Iv128(FixedLength::from(iv)))
        .map_err(|_| SrtpError::Crypto)?;
    Ok(out)
}

/// Where an RTP packet's payload starts, if it is long enough to have one.
fn payload_offset(packet: &[u8]) -> Option<usize> {
    if packet.len() < 12 || packet[0] >> 6 != 2 {
        return None;
    }
    let cc = usize::from(packet[0] & 0x0f);
    let mut at = 12 + 4 * cc;
    if packet[0] & 0x10 != 0 {
        let ext = packet.get(at + 2..at + 4)?;
        at += 4 + 4 * usize::from(u16::from_be_bytes([ext[0], ext[1]]));
    }
    (at <= packet.len()).then_some(at)
}

fn ssrc_seq(packet: &[u8]) -> (u32, u16) {
    (
        u32::from_be_bytes([packet[8], packet[9], packet[10], packet[11]]),
        u16::from_be_bytes([packet[2], packet[3]]),
    )
}

/// What the sender knows about its stream: SSRC, roll-over counter, last sequence number.
#[derive(Debug, Clone, Copy)]
struct SendState {
    ssrc: u32,
    roc: u32,
    last_seq: u16,
}

/// What the receiver knows about the stream it accepts.
#[derive(Debug, Clone, Copy)]
struct RecvState {
    ssrc: u32,
    /// Highest authenticated index (ROC·2^16 + SEQ).
    max_index: u64,
    /// Bit `k` set: index `max_index - k` was received.
    window: u64,
}

/// One direction of one call: protects what we send or unprotects what we receive.
pub struct SrtpContext {
    suite: Suite,
    keys: SessionKeys,
    send: Option<SendState>,
    recv: Option<RecvState>,
}

impl fmt::Debug for SrtpContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SrtpContext")
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

impl SrtpContext {
    pub fn new(suite: Suite, master: &MasterKey) -> Result<SrtpContext, SrtpError> {
        Ok(SrtpContext {
            suite,
            keys: SessionKeys::derive(master)?,
            send: None,
            recv: None,
        })
    }

    pub fn suite(&self) -> Suite {
        self.suite
    }

    /// Turns the RTP packet in `packet` into SRTP: payload encrypted, tag appended.
    pub fn protect(&mut self, packet: &mut Vec<u8>) -> Result<(), SrtpError> {
        let at = payload_offset(packet).ok_or(SrtpError::Malformed)?;
        let (ssrc, seq) = ssrc_seq(packet);
        let roc = match self.send {
            Some(s) if s.ssrc == ssrc => {
                // The sequence number wrapped since the last packet: a new roll-over.
                if seq < s.last_seq && s.last_seq.wrapping_sub(seq) > 0x8000 {
                    s.roc.wrapping_add(1)
                } else {
                    s.roc
                }
            }
            _ => 0,
        };
        self.send = Some(SendState {
            ssrc,
            roc,
            last_seq: seq,
        });
        let index = (u64::from(roc) << 16) | u64::from(seq);
        self.keys.crypt(ssrc, index, &mut packet[at..])?;
        let tag = self.keys.tag(packet, roc);
        packet.extend_from_slice(&tag.as_ref()[..self.suite.tag_len()]);
        Ok(())
    }

    /// Checks and decrypts the SRTP packet in `packet` in place; returns the RTP packet's
    /// length (the tag is cut off). On `Err` the packet must be dropped; the state is unchanged.
    pub fn unprotect(&mut self, packet: &mut [u8]) -> Result<usize, SrtpError> {
        let tag_len = self.suite.tag_len();
        let len = packet
            .len()
            .checked_sub(tag_len)
            .ok_or(SrtpError::Malformed)?;
        let at = payload_offset(&packet[..len]).ok_or(SrtpError::Malformed)?;
        let (ssrc, seq) = ssrc_seq(packet);
        let state = self.recv.filter(|r| r.ssrc == ssrc);
        let index = match state {
            Some(r) => estimate_index(r.max_index, seq).ok_or(SrtpError::Replayed)?,
            // A new stream (or another SSRC): its first packet sets the roll-over counter to 0;
            // it replaces the current stream only once authenticated.
            None => u64::from(seq),
        };
        if let Some(r) = state {
            if index <= r.max_index {
                let age = r.max_index - index;
                if age >= WINDOW || r.window & (1 << age) != 0 {
                    return Err(SrtpError::Replayed);
                }
            }
        }
        let roc = (index >> 16) as u32;
        let tag = self.keys.tag(&packet[..len], roc);
        aws_lc_rs::constant_time::verify_slices_are_equal(&tag.as_ref()[..tag_len], &packet[len..])
            .map_err(|_| SrtpError::AuthFailed)?;
        self.keys.crypt(ssrc, index, &mut packet[at..len])?;
        self.recv = Some(match state {
            Some(r) if index > r.max_index => {
                let shift = index - r.max_index;
                RecvState {
                    ssrc,
                    max_index: index,
                    window: if shift >= WINDOW {
                        1
                    } else {
                        (r.window << shift) | 1
                    },
                }
            }
            Some(r) => RecvState {
                window: r.window | (1 << (r.max_index - index)),
                ..r
            },
            None => RecvState {
                ssrc,
                max_index: index,
                window: 1,
            },
        });
        Ok(len)
    }
}

/// RFC 3711 §3.3.1: the index of `seq` given the highest index seen (`None`: it would fall
/// before the stream's first roll-over, so it cannot be a packet of this stream).
fn estimate_index(max_index: u64, seq: u16) -> Option<u64> {
    let roc = max_index >> 16;
    let s_l = (max_index & 0xffff) as u16;
    let v = if s_l < 0x8000 {
        if seq > s_l && seq - s_l > 0x8000 {
            roc.checked_sub(1)?
        } else {
            roc
        }
    } else if s_l - 0x8000 > seq {
        roc + 1
    } else {
        roc
    };
    // The roll-over counter is 32 bits.
    (v <= u64::from(u32::MAX)).then_some((v << 16) | u64::from(seq))
}

#[cfg(test)]
#[path = "srtp_tests.rs"]
mod tests;
