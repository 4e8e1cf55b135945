//! Identifier generation: tags, Via branches, Call-IDs and digest cnonces.
//!
//! Owns a small deterministic generator seeded by the caller (the runtime seeds it from the OS;
//! tests use a constant), so every identifier in a test run is reproducible. Identifiers must
//! also be unpredictable: our To tag is what proves that an ACK comes from whoever received our
//! 200 (RTP is sent only after that, see `engine::media::latch`), and a generator whose state
//! can be read back from one tag (SplitMix64, used before) would let an attacker who placed one
//! call forge the ACK of a call with a spoofed source. So each 64-bit value is SHA-256 of a key
//! derived from the seed and a counter (a keyed PRF, with the `sha2` crate already used for
//! digest auth): one tag reveals nothing about the next.

use sha2::{Digest, Sha256};

/// Keyed identifier generator.
#[derive(Debug, Clone)]
pub struct IdGen {
    key: [u8; 32],
    counter: u64,
}

impl IdGen {
    /// A generator from a caller-supplied seed.
    pub fn new(seed: u64) -> IdGen {
        let mut h = Sha256::new();
        h.update(b"phonetree sip ids");
        h.update(seed.to_le_bytes());
        IdGen {
            key: h.finalize().into(),
            counter: 0,
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut h = Sha256::new();
        h.update(self.key);
        h.update(self.counter.to_le_bytes());
        self.counter = self.counter.wrapping_add(1);
        let out = h.finalize();
        let mut b = [0u8; 8];
        b.copy_from_slice(&out[..8]);
        u64::from_le_bytes(b)
    }

    /// `n` hex characters.
    pub fn hex(&mut self, n: usize) -> String {
        let mut s = String::with_capacity(n + 16);
        while s.len() < n {
            s.push_str(&format!("{:016x}", self.next_u64()));
        }
        s.truncate(n);
        s
    }

    /// A From/To tag.
    pub fn tag(&mut self) -> String {
        self.hex(16)
    }

    /// A Via branch with the RFC 3261 magic cookie.
    pub fn branch(&mut self) -> String {
        format!("z9hG4bK{}", self.hex(20))
    }

    /// A Call-ID, `random@host`.
    pub fn call_id(&mut self, host: &str) -> String {
        format!("{}@{host}", self.hex(24))
    }

    /// A digest client nonce.
    pub fn cnonce(&mut self) -> String {
        self.hex(16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_ids_different_seed_different_ids() {
        let (mut a, mut b, mut c) = (IdGen::new(7), IdGen::new(7), IdGen::new(8));
        let (ba, bb, bc) = (a.branch(), b.branch(), c.branch());
        assert_eq!(ba, bb);
        assert_ne!(ba, bc);
        assert!(ba.starts_with("z9hG4bK") && ba.len() == 27);
        assert_ne!(a.tag(), a.tag());
        assert!(a.call_id("10.0.0.1").ends_with("@10.0.0.1"));
        assert_eq!(a.hex(40).len(), 40);
    }

    #[test]
    fn consecutive_values_do_not_follow_from_each_other() {
        // SplitMix64's output is invertible: from one value, the next was computable. Here
        // the next value is not the SplitMix64 successor of the previous one.
        let mut g = IdGen::new(1);
        let first = g.next_u64();
        let second = g.next_u64();
        let mut state = first; // the best an attacker could do with the old generator
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        assert_ne!(second, state);
        assert_ne!(first, second);
    }
}
