//! The SRTP layer inside [`MediaCore`]: only authenticated packets count (no latching, no key
//! press, no media from a forged or replayed packet), what we send is SRTP, re-keying works.

use super::*;
use crate::media::srtp::{MasterKey, SrtpContext, Suite};
use crate::sdp::SrtpKeys;

fn keys(suite: Suite) -> SrtpKeys {
    SrtpKeys {
        suite,
        local: MasterKey::new([1; 30]),
        remote: MasterKey::new([2; 30]),
    }
}

/// A harness whose core speaks SRTP, and the caller's two contexts (send, receive).
fn srtp_harness(suite: Suite) -> (Harness, SrtpContext, SrtpContext) {
    let mut h = Harness::new(local_caller(), MediaConfig::default());
    let k = keys(suite);
    h.core = MediaCore::new(
        CoreSetup {
            cfg: MediaConfig::default(),
            peer: local_caller(),
            neg: Negotiated {
                srtp: Some(k.clone()),
                ..neg(Some(a(SDP)))
            },
            seed: 7,
        },
        h.now,
    );
    let caller_tx = SrtpContext::new(suite, &k.remote).unwrap();
    let caller_rx = SrtpContext::new(suite, &k.local).unwrap();
    (h, caller_tx, caller_rx)
}

fn protect(ctx: &mut SrtpContext, mut p: Vec<u8>) -> Vec<u8> {
    ctx.protect(&mut p).unwrap();
    p
}

#[test]
fn only_authenticated_srtp_counts_and_replays_are_dropped() {
    let (mut h, mut tx, _) = srtp_harness(Suite::AesCm128HmacSha1_80);
    // Plain RTP and a forged packet from the SDP address: dropped, counted, nothing latched.
    h.receive(a(SDP), &audio(1, 5));
    let mut forged = protect(
        &mut SrtpContext::new(Suite::AesCm128HmacSha1_80, &MasterKey::new([9; 30])).unwrap(),
        audio(2, 5),
    );
    h.receive(a(SDP), &forged);
    forged[15] ^= 0xff;
    h.receive(a(SDP), &forged);
    let s = h.core.stats();
    assert_eq!((s.rtp_received, s.srtp_auth_failed), (0, 3));
    assert!(
        !h.events
            .iter()
            .any(|e| matches!(e, MediaEvent::RemoteAddr(_))),
        "a forged packet latches nothing"
    );
    // The genuine packet counts; its replay does not.
    let good = protect(&mut tx, audio(3, 5));
    h.receive(a(SDP), &good);
    h.receive(a(SDP), &good);
    let s = h.core.stats();
    assert_eq!((s.rtp_received, s.srtp_replayed), (1, 1));
    // A key press over SRTP is a digit; the same press replayed is not a second one.
    let press: Vec<Vec<u8>> = key_press('7', 10, 5)
        .into_iter()
        .map(|p| protect(&mut tx, p))
        .collect();
    for p in press.iter().chain(press.iter()) {
        h.receive(a(SDP), p);
    }
    assert_eq!(h.digits().len(), 1);
    assert_eq!(h.core.stats().srtp_replayed, 1 + 5);
    // SRTCP (clear RTCP header) is ignored, not counted as a failure.
    let mut rtcp = vec![0x80, 200, 0, 6];
    rtcp.extend_from_slice(&[0; 24]);
    h.receive(a(SDP), &rtcp);
    assert_eq!(h.core.stats().srtp_auth_failed, 3);
}

#[test]
fn what_we_send_is_srtp_the_caller_can_decrypt() {
    for suite in Suite::ALL {
        let (mut h, _, mut rx) = srtp_harness(suite);
        h.command(Command::Confirm);
        h.play(1);
        h.advance(Duration::from_millis(400));
        let sent = h.sent_to(a(SDP));
        assert_eq!(sent.len(), 10, "{suite}");
        for s in sent {
            assert_eq!(s.bytes.len(), 12 + 160 + suite.tag_len());
            let mut p = s.bytes.clone();
            let n = rx
                .unprotect(&mut p)
                .expect("the caller authenticates our packets");
            let plain = rtp::parse(&p[..n]).unwrap();
            assert_eq!(plain.payload.len(), 160);
        }
        assert!(h.finished(1));
    }
}

#[test]
fn a_reinvite_with_new_keys_rekeys_both_ways() {
    let (mut h, mut tx, _) = srtp_harness(Suite::AesCm128HmacSha1_80);
    h.receive(a(SDP), &protect(&mut tx, audio(1, 5)));
    assert_eq!(h.core.stats().rtp_received, 1);
    let new = SrtpKeys {
        suite: Suite::AesCm128HmacSha1_32,
        local: MasterKey::new([3; 30]),
        remote: MasterKey::new([4; 30]),
    };
    h.core.update_remote(
        a(SDP),
        Negotiated {
            srtp: Some(new.clone()),
            ..neg(Some(a(SDP)))
        },
    );
    // The old key no longer works; the new one does.
    h.receive(a(SDP), &protect(&mut tx, audio(2, 5)));
    assert_eq!(h.core.stats().srtp_auth_failed, 1);
    let mut tx2 = SrtpContext::new(new.suite, &new.remote).unwrap();
    h.receive(a(SDP), &protect(&mut tx2, audio(3, 5)));
    assert_eq!(h.core.stats().rtp_received, 2);
}
