//! Identifier generation: tags, Via branches, Call-IDs and digest cnonces.
//!
//! Owns a small deterministic generator seeded by the caller (the runtime seeds it from the OS;
//! tests use a constant), so every identifier in a test run is reproducible. It is not a
//! cryptographic RNG: identifiers need uniqueness, not secrecy (digest cnonces only need to be
//! unpredictable to a passive observer, which a per-process random seed provides).

/// SplitMix64-based identifier generator.
#[derive(Debug, Clone)]
pub struct IdGen {
    state: u64,
}

impl IdGen {
    /// A generator from a caller-supplied seed.
    pub fn new(seed: u64) -> IdGen {
        IdGen { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
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
}
