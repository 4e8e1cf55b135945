//! SRTP (SDES) against the real `phonetree run` on loopback, with our own SIP caller: an
//! `RTP/SAVP` offer is answered with our key, every packet phonetree sends authenticates and
//! decrypts with it, a forged packet is counted on `/metrics`, neither key appears in the log
//! (SIP trace on), and a plain offer to `srtp: required` gets 488.

mod run_support;

use std::time::{Duration, Instant};

use base64::Engine as _;
use phonetree::media::srtp::{MasterKey, SrtpContext, Suite, MASTER_LEN};
use run_support::{Caller, Server, MENU_FLOW};

/// The caller's key: 30 bytes 0..29.
const CALLER_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd";

fn srtp_offer(c: &Caller) -> String {
    c.pcmu_offer().replace("RTP/AVP", "RTP/SAVP").replace(
        "a=ptime:20",
        &format!("a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:{CALLER_KEY}|2^31\r\na=ptime:20"),
    )
}

/// The `inline:` key of the answer's `a=crypto:3` line.
fn answer_key(body: &str) -> (String, MasterKey) {
    let line = body
        .lines()
        .find(|l| l.starts_with("a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:"))
        .unwrap_or_else(|| panic!("no a=crypto:3 in the answer:\n{body}"));
    let b64 = line
        .rsplit("inline:")
        .next()
        .unwrap()
        .split('|')
        .next()
        .unwrap()
        .trim();
    let bytes: [u8; MASTER_LEN] = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap()
        .try_into()
        .unwrap();
    (b64.to_string(), MasterKey::new(bytes))
}

fn rtp(seq: u16, ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 0];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[0xff; 160]);
    p
}

#[test]
fn an_srtp_call_is_encrypted_both_ways_and_no_key_is_logged() {
    let srv = Server::start(
        &[("menu.yaml", MENU_FLOW)],
        &[
            ("PHONETREE_SRTP", "required"),
            ("PHONETREE_LOG_SIP_TRACE", "true"),
        ],
    );
    let mut c = Caller::new(srv.sip);
    let offer = srtp_offer(&c);
    c.invite("5000", Some(&offer));
    let ok = c.final_response();
    assert_eq!(ok.status(), Some(200), "{ok:?}");
    assert!(ok.body.contains(" RTP/SAVP "), "{}", ok.body);
    let (server_b64, server_key) = answer_key(&ok.body);
    let dest = ok.sdp_rtp_addr().expect("RTP address in the answer");
    c.ack("5000", None);

    // Our audio, protected with our key (it latches us and counts as media).
    let caller_key = MasterKey::new(
        base64::engine::general_purpose::STANDARD
            .decode(CALLER_KEY)
            .unwrap()
            .try_into()
            .unwrap(),
    );
    let mut tx = SrtpContext::new(Suite::AesCm128HmacSha1_80, &caller_key).unwrap();
    for seq in 0..5u16 {
        let mut p = rtp(seq, 0x5eed);
        tx.protect(&mut p).unwrap();
        c.rtp.send_to(&p, dest).unwrap();
    }
    // A forged packet: refused and counted.
    let mut forged = rtp(6, 0x5eed);
    forged.extend_from_slice(&[0; 10]);
    c.rtp.send_to(&forged, dest).unwrap();

    // What phonetree sends: SRTP under its key, every packet.
    let mut rx = SrtpContext::new(Suite::AesCm128HmacSha1_80, &server_key).unwrap();
    c.rtp
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let (mut good, mut bad) = (0, 0);
    let mut buf = [0u8; 2048];
    let end = Instant::now() + Duration::from_secs(5);
    while good < 25 && Instant::now() < end {
        if let Ok((n, _)) = c.rtp.recv_from(&mut buf) {
            let mut p = buf[..n].to_vec();
            match rx.unprotect(&mut p) {
                Ok(len) => {
                    assert_eq!(len, 12 + 160, "PCMU 20 ms");
                    good += 1;
                }
                Err(_) => bad += 1,
            }
        }
    }
    eprintln!("figures: srtp: {good} packets from phonetree authenticated, {bad} refused");
    assert!(
        good >= 25,
        "only {good} SRTP packets authenticated ({bad} refused)"
    );
    assert_eq!(bad, 0);
    c.bye("5000");

    // The forged packet is on /metrics once the call's counters are in.
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, text) = srv.get("/metrics");
        assert_eq!(status, 200);
        if text.contains("phonetree_refused_total{what=\"srtp_auth\"} 1") {
            break;
        }
        assert!(Instant::now() < end, "srtp_auth not counted:\n{text}");
        std::thread::sleep(Duration::from_millis(100));
    }

    // The SIP trace logged both SDPs, without either key.
    let log = srv.log_text();
    assert!(
        log.contains("a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:***"),
        "{log}"
    );
    assert!(!log.contains(CALLER_KEY), "the caller's key is in the log");
    assert!(!log.contains(&server_b64), "our key is in the log");
}

#[test]
fn required_srtp_refuses_a_plain_offer_with_488_and_optional_takes_it() {
    let srv = Server::start(&[("menu.yaml", MENU_FLOW)], &[("SIP_ENABLE_SRTP", "true")]);
    let mut c = Caller::new(srv.sip);
    let offer = c.pcmu_offer();
    c.invite("5000", Some(&offer));
    assert_eq!(c.final_response().status(), Some(488));
    assert!(srv.logged("SRTP is required"), "{}", srv.log_text());

    let srv = Server::start(
        &[("menu.yaml", MENU_FLOW)],
        &[("SIP_ENABLE_SRTP", "true"), ("SIP_SRTP_OPTIONAL", "true")],
    );
    let mut c = Caller::new(srv.sip);
    let offer = c.pcmu_offer();
    c.invite("5000", Some(&offer));
    let ok = c.final_response();
    assert_eq!(ok.status(), Some(200));
    assert!(!ok.body.contains("a=crypto"), "{}", ok.body);
    c.ack("5000", None);
    c.bye("5000");
}
