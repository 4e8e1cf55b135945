//! `media::srtp` against the RFC 3711 appendix B vectors, round trips over a roll-over,
//! forged, replayed and malformed packets.

use super::*;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn master(hex_key_salt: &str) -> MasterKey {
    MasterKey::new(hex(hex_key_salt).try_into().unwrap())
}

fn key(n: u8) -> MasterKey {
    MasterKey::new(std::array::from_fn(|i| (i as u8).wrapping_mul(7) ^ n))
}

/// An RTP packet: PCMU, `seq`, SSRC `ssrc`, 160 bytes of 0xd5.
fn rtp(seq: u16, ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend(std::iter::repeat_n(0xd5, 160));
    p
}

fn pair(suite: Suite) -> (SrtpContext, SrtpContext) {
    (
        SrtpContext::new(suite, &key(1)).unwrap(),
        SrtpContext::new(suite, &key(1)).unwrap(),
    )
}

#[test]
fn key_derivation_matches_rfc_3711_b3() {
    let m = master("E1F97A0D3E018BE0D64FA32C06DE41390EC675AD498AFEEBB6960B3AABE6");
    assert_eq!(
        kdf::<16>(&m, 0).unwrap().to_vec(),
        hex("C61E7A93744F39EE10734AFE3FF7A087")
    );
    assert_eq!(
        kdf::<20>(&m, 1).unwrap().to_vec(),
        hex("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4")
    );
    assert_eq!(
        kdf::<14>(&m, 2).unwrap().to_vec(),
        hex("30CBBC08863D8C85D49DB34A9AE1")
    );
}

#[test]
fn keystream_matches_rfc_3711_b2() {
    let k = UnboundCipherKey::new(&AES_128, &hex("2B7E151628AED2A6ABF7158809CF4F3C")).unwrap();
    let keys = SessionKeys {
        cipher: EncryptingKey::ctr(k).unwrap(),
        auth: hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &[0; 20]),
        salt: hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD").try_into().unwrap(),
    };
    let mut zeros = vec![0u8; 48];
    keys.crypt(0, 0, &mut zeros).unwrap();
    assert_eq!(
        zeros,
        hex(concat!(
            "E03EAD0935C95E80E166B16DD92B4EB4",
            "D23513162B02D0F72A43A2FE4A5F97AB",
            "41E95B3BB0A2E8DD477901E4FCA894C0"
        ))
    );
}

#[test]
fn protect_unprotect_round_trip_both_suites() {
    for suite in Suite::ALL {
        let (mut tx, mut rx) = pair(suite);
        for seq in [65_530u16, 65_531, 65_535, 0, 1, 2] {
            let plain = rtp(seq, 0xdead_beef);
            let mut p = plain.clone();
            tx.protect(&mut p).unwrap();
            assert_eq!(p.len(), plain.len() + suite.tag_len());
            assert_eq!(p[..12], plain[..12], "the header stays in clear");
            assert_ne!(p[12..plain.len()], plain[12..], "the payload is encrypted");
            let n = rx.unprotect(&mut p).unwrap();
            assert_eq!(&p[..n], &plain[..], "{suite} seq {seq}");
        }
        // The receiver followed the roll-over: the index is past 2^16.
        assert_eq!(rx.recv.unwrap().max_index, (1 << 16) | 2);
    }
}

#[test]
fn a_forged_or_corrupted_packet_is_refused_and_changes_nothing() {
    let (mut tx, mut rx) = pair(Suite::AesCm128HmacSha1_80);
    let mut good = rtp(10, 7);
    tx.protect(&mut good).unwrap();
    let mut flipped = good.clone();
    flipped[20] ^= 1;
    assert_eq!(rx.unprotect(&mut flipped), Err(SrtpError::AuthFailed));
    assert!(rx.recv.is_none(), "nothing learned from a forged packet");
    // Another key: refused.
    let mut other = SrtpContext::new(Suite::AesCm128HmacSha1_80, &key(2)).unwrap();
    let mut p = good.clone();
    assert_eq!(other.unprotect(&mut p), Err(SrtpError::AuthFailed));
    // Plain RTP: refused.
    let mut plain = rtp(11, 7);
    assert_eq!(rx.unprotect(&mut plain), Err(SrtpError::AuthFailed));
    // The genuine packet still goes through.
    assert!(rx.unprotect(&mut good).is_ok());
}

#[test]
fn replays_and_packets_older_than_the_window_are_dropped() {
    let (mut tx, mut rx) = pair(Suite::AesCm128HmacSha1_32);
    let packets: Vec<Vec<u8>> = (100u16..200)
        .map(|s| {
            let mut p = rtp(s, 9);
            tx.protect(&mut p).unwrap();
            p
        })
        .collect();
    // In order, except 150 held back.
    for (i, p) in packets.iter().enumerate() {
        if i != 50 {
            rx.unprotect(&mut p.clone()).unwrap();
        }
    }
    assert_eq!(
        rx.unprotect(&mut packets[99].clone()),
        Err(SrtpError::Replayed)
    );
    // 150 arrives late but inside the window: taken once.
    assert!(rx.unprotect(&mut packets[50].clone()).is_ok());
    assert_eq!(
        rx.unprotect(&mut packets[50].clone()),
        Err(SrtpError::Replayed)
    );
    // Older than 64 packets: dropped even if never seen.
    let mut fresh = SrtpContext::new(Suite::AesCm128HmacSha1_32, &key(1)).unwrap();
    fresh.unprotect(&mut packets[99].clone()).unwrap();
    assert_eq!(
        fresh.unprotect(&mut packets[0].clone()),
        Err(SrtpError::Replayed)
    );
}

#[test]
fn hostile_lengths_never_panic() {
    let mut rx = SrtpContext::new(Suite::AesCm128HmacSha1_80, &key(1)).unwrap();
    let mut tx = SrtpContext::new(Suite::AesCm128HmacSha1_80, &key(1)).unwrap();
    for len in 0..40 {
        let mut p = vec![0x90u8; len];
        let _ = rx.unprotect(&mut p);
        let mut q = vec![0x9fu8; len];
        let _ = tx.protect(&mut q);
    }
    // A CSRC count or extension length that runs past the end.
    let mut p = rtp(1, 1);
    p[0] = 0x8f;
    p.truncate(30);
    assert_eq!(tx.protect(&mut p), Err(SrtpError::Malformed));
    let mut p = rtp(1, 1);
    p[0] = 0x90;
    p[14] = 0xff;
    p[15] = 0xff;
    assert_eq!(tx.protect(&mut p), Err(SrtpError::Malformed));
}

#[test]
fn a_new_ssrc_needs_a_valid_tag_to_take_over() {
    let (mut tx, mut rx) = pair(Suite::AesCm128HmacSha1_80);
    let mut a = rtp(5000, 1);
    tx.protect(&mut a).unwrap();
    rx.unprotect(&mut a).unwrap();
    let mut b = rtp(7, 2);
    tx.protect(&mut b).unwrap();
    rx.unprotect(&mut b).unwrap();
    assert_eq!(rx.recv.unwrap().ssrc, 2);
}

#[test]
fn keys_are_never_printed() {
    let k = key(3);
    assert_eq!(format!("{k:?}"), "MasterKey(***)");
    let ctx = SrtpContext::new(Suite::AesCm128HmacSha1_80, &k).unwrap();
    assert!(!format!("{ctx:?}").contains("0x"));
    assert_eq!(
        Suite::from_name("AES_CM_128_HMAC_SHA1_32"),
        Some(Suite::AesCm128HmacSha1_32)
    );
    assert_eq!(Suite::from_name("aes_cm_128_hmac_sha1_80"), None);
}
