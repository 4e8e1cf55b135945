//! SDES lines (valid, hostile, unsupported), the `srtp` policy table, our offers and answers,
//! and redaction.

use super::*;
use crate::sdp::{create_offer, negotiate, parse, process_answer, LocalMedia, NegotiationError};

/// 30 bytes 0..29 in base64.
const KEY_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd";

fn offer(proto: &str, crypto: &[&str]) -> String {
    let mut s = format!(
        "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
         m=audio 10764 {proto} 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n"
    );
    for c in crypto {
        s.push_str(&format!("a=crypto:{c}\r\n"));
    }
    s.push_str("a=sendrecv\r\n");
    s
}

fn local(policy: SrtpPolicy) -> LocalMedia {
    LocalMedia {
        srtp: Sdes {
            policy,
            key: MasterKey::new([0x42; MASTER_LEN]),
        },
        ..LocalMedia::new("127.0.0.1".parse().unwrap(), 30000, 42)
    }
}

fn media(sdp: &str) -> MediaDescription {
    parse(sdp).unwrap().media.remove(0)
}

#[test]
fn a_crypto_line_parses_with_lifetime_and_both_suites() {
    let c80 = format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_B64}|2^31");
    let m = media(&offer("RTP/SAVP", &[&c80]));
    let c = first_usable(&m).unwrap();
    assert_eq!((c.tag, c.suite), (1, Suite::AesCm128HmacSha1_80));
    assert_eq!(c.key.as_bytes()[29], 29);
    let c32 = format!("7 AES_CM_128_HMAC_SHA1_32 inline:{KEY_B64}");
    let c = first_usable(&media(&offer("RTP/SAVP", &[&c32]))).unwrap();
    assert_eq!((c.tag, c.suite), (7, Suite::AesCm128HmacSha1_32));
}

#[test]
fn hostile_or_unsupported_crypto_lines_are_skipped_not_errors() {
    let bad = [
        "".to_string(),
        "x AES_CM_128_HMAC_SHA1_80 inline:AAAA".to_string(),
        "1 AES_256_CM_HMAC_SHA1_80 inline:AAAA".to_string(),
        "1 AES_CM_128_HMAC_SHA1_80".to_string(),
        "1 AES_CM_128_HMAC_SHA1_80 inline:".to_string(),
        "1 AES_CM_128_HMAC_SHA1_80 inline:AAAA".to_string(), // 3 bytes
        "1 AES_CM_128_HMAC_SHA1_80 inline:%%%%".to_string(),
        format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_B64}|2^20|1:4"), // MKI
        format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_B64};inline:{KEY_B64}"),
        format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_B64} UNENCRYPTED_SRTP"),
        format!("1 AES_CM_128_HMAC_SHA1_80 key:{KEY_B64}"),
        format!("99999999999 AES_CM_128_HMAC_SHA1_80 inline:{KEY_B64}"),
        format!("1 AES_CM_128_HMAC_SHA1_80 inline:{}", "A".repeat(10_000)),
        "1 AES_CM_128_HMAC_SHA1_80 inline:é€".to_string(),
    ];
    for b in &bad {
        let m = media(&offer("RTP/SAVP", &[b.as_str()]));
        assert!(first_usable(&m).is_none(), "{b}");
        // Required: a SAVP line with no usable crypto is declined (488), never a panic.
        assert!(negotiate(
            &parse(&offer("RTP/SAVP", &[b])).unwrap(),
            &local(SrtpPolicy::Required)
        )
        .is_err());
    }
    // A good line after bad ones is found.
    let good = format!("2 AES_CM_128_HMAC_SHA1_32 inline:{KEY_B64}");
    let m = media(&offer("RTP/SAVP", &[bad[7].as_str(), &good]));
    assert_eq!(first_usable(&m).unwrap().tag, 2);
}

#[test]
fn the_policy_table() {
    let c = format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_B64}");
    let plain = offer("RTP/AVP", &[]);
    let best_effort = offer("RTP/AVP", &[&c]);
    let savp = offer("RTP/SAVP", &[&c]);
    let savp_nokey = offer("RTP/SAVP", &[]);
    let srtp = |sdp: &str, p: SrtpPolicy| {
        negotiate(&parse(sdp).unwrap(), &local(p)).map(|a| a.negotiated.srtp.is_some())
    };
    use SrtpPolicy::*;
    assert_eq!(srtp(&plain, Off), Ok(false));
    assert_eq!(srtp(&best_effort, Off), Ok(false));
    assert!(srtp(&savp, Off).is_err());
    assert_eq!(srtp(&plain, Optional), Ok(false));
    assert_eq!(srtp(&best_effort, Optional), Ok(true));
    assert_eq!(srtp(&savp, Optional), Ok(true));
    assert!(srtp(&savp_nokey, Optional).is_err());
    assert_eq!(srtp(&plain, Required), Err(NegotiationError::SrtpRequired));
    assert_eq!(srtp(&best_effort, Required), Ok(true));
    assert_eq!(srtp(&savp, Required), Ok(true));
    assert!(srtp(&savp_nokey, Required).is_err());
}

#[test]
fn the_answer_repeats_tag_and_suite_with_our_key() {
    let c = format!("5 AES_CM_128_HMAC_SHA1_32 inline:{KEY_B64}|2^31");
    let a = negotiate(
        &parse(&offer("RTP/SAVP", &[&c])).unwrap(),
        &local(SrtpPolicy::Optional),
    )
    .unwrap();
    let text = a.sdp.to_string();
    assert!(text.contains("m=audio 30000 RTP/SAVP 0 101\r\n"), "{text}");
    let ours = base64::engine::general_purpose::STANDARD.encode([0x42u8; MASTER_LEN]);
    assert!(
        text.contains(&format!(
            "a=crypto:5 AES_CM_128_HMAC_SHA1_32 inline:{ours}\r\n"
        )),
        "{text}"
    );
    let keys = a.negotiated.srtp.clone().unwrap();
    assert_eq!(keys.suite, Suite::AesCm128HmacSha1_32);
    assert_eq!(keys.remote.as_bytes()[1], 1);
    assert_eq!(keys.local.as_bytes(), &[0x42; MASTER_LEN]);
    // Our answer parses again and reads back as SRTP with the roles swapped.
    let m = media(&text);
    assert_eq!(
        first_usable(&m).unwrap().key.as_bytes(),
        &[0x42; MASTER_LEN]
    );
    assert!(!format!("{:?}", a.negotiated).contains(KEY_B64));
}

#[test]
fn our_offers_follow_the_policy_and_read_the_answer() {
    let off = create_offer(&local(SrtpPolicy::Off)).unwrap().to_string();
    assert!(off.contains("RTP/AVP") && !off.contains("crypto"), "{off}");
    let opt = create_offer(&local(SrtpPolicy::Optional))
        .unwrap()
        .to_string();
    assert!(
        opt.contains(" RTP/AVP ") && opt.contains("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"),
        "{opt}"
    );
    assert!(
        opt.contains("a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:"),
        "{opt}"
    );
    let req_local = local(SrtpPolicy::Required);
    let req = create_offer(&req_local).unwrap();
    assert!(req.to_string().contains(" RTP/SAVP "), "{req}");

    // A peer that answers with our own rules (its own key) picks tag 1.
    let peer = LocalMedia {
        srtp: Sdes {
            policy: SrtpPolicy::Required,
            key: MasterKey::new([7; MASTER_LEN]),
        },
        port: 5000,
        ..LocalMedia::new("127.0.0.1".parse().unwrap(), 5000, 1)
    };
    let answer = negotiate(&req, &peer).unwrap();
    let n = process_answer(&answer.sdp, &req_local).unwrap();
    let keys = n.srtp.unwrap();
    assert_eq!(keys.suite, Suite::AesCm128HmacSha1_80);
    assert_eq!(keys.remote.as_bytes(), &[7; MASTER_LEN]);
    assert_eq!(answer.negotiated.srtp.unwrap().remote, keys.local);

    // A plain answer: refused when required, plain when optional.
    let plain_peer = LocalMedia::new("127.0.0.1".parse().unwrap(), 5000, 1);
    let opt_local = local(SrtpPolicy::Optional);
    let plain_answer = negotiate(&create_offer(&opt_local).unwrap(), &plain_peer).unwrap();
    assert!(!plain_answer.sdp.to_string().contains("crypto"));
    assert_eq!(
        process_answer(&plain_answer.sdp, &opt_local).unwrap().srtp,
        None
    );
    assert_eq!(
        process_answer(&plain_answer.sdp, &req_local),
        Err(NegotiationError::SrtpRequired)
    );
    // An answer with a tag we never offered is not taken.
    let mut odd = answer.sdp.clone();
    for (_, v) in odd.media[0].extra.iter_mut() {
        if v.starts_with("crypto:1 ") {
            *v = v.replacen("crypto:1 ", "crypto:9 ", 1);
        }
    }
    assert_eq!(
        process_answer(&odd, &req_local),
        Err(NegotiationError::SrtpRequired)
    );
}

#[test]
fn keys_are_redacted_from_sdp_lines() {
    let line = format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_B64}|2^31");
    assert_eq!(
        redact_line(&line),
        "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:***"
    );
    assert_eq!(redact_line("a=CRYPTO:x"), "a=crypto:x  inline:***");
    assert_eq!(redact_line("a=rtpmap:0 PCMU/8000"), "a=rtpmap:0 PCMU/8000");
    assert_eq!(SrtpPolicy::parse("Mandatory"), Some(SrtpPolicy::Required));
    assert_eq!(SrtpPolicy::parse("maybe"), None);
}
