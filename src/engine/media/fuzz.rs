//! The RTP fuzzing harness (`crate::fuzzing::rtp`): arbitrary datagrams into one call's
//! [`MediaCore`] (RTP with the negotiated and other payload types, RFC 4733 events, garbage)
//! from the caller, another port of its IP and a stranger, with a prompt playing, the dialog
//! confirmed half-way and time moving, the harness answering the core's tasks itself as the
//! media worker would. Lives here because the core's types are private to `engine::media`.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use super::codec::{Frame, FrameEncoder};
use super::core::{Command, CoreSetup, MediaCore, Task};
use super::latch::{Latching, MediaPeer};
use super::{InbandDtmf, MediaConfig};
use crate::machine::io::{Media, RequestId};
use crate::media::rtp;
use crate::sdp::{Codec, Direction, Negotiated, TelephoneEvent};

/// See the module doc. Input: chunks of `[len, ctl, bytes[len]...]`; `ctl` picks the source
/// (2 bits), the time step (4 bits) and a command (2 bits).
pub fn receive(data: &[u8]) {
    let caller: SocketAddr = "127.0.0.1:4000".parse().expect("literal");
    let sources: [SocketAddr; 4] = [
        caller,
        "127.0.0.1:4002".parse().expect("literal"),
        "192.0.2.66:4000".parse().expect("literal"),
        "[::1]:4000".parse().expect("literal"),
    ];
    let codec = if data.first().is_some_and(|b| b & 1 == 1) {
        Codec::Opus
    } else {
        Codec::Pcmu
    };
    let neg = Negotiated {
        codec,
        payload_type: if codec == Codec::Opus { 111 } else { 0 },
        telephone_event: Some(TelephoneEvent {
            payload_type: 101,
            clock_rate: 8000,
        }),
        remote: Some(caller),
        direction: Direction::SendRecv,
        remote_ptime: None,
        remote_fmtp: None,
        media_index: 0,
        srtp: None,
    };
    let cfg = MediaConfig {
        inband_dtmf: if data.get(1).is_some_and(|b| b & 1 == 1) {
            InbandDtmf::Always
        } else {
            InbandDtmf::Auto
        },
        latching: Latching::SignallingIp,
        ..MediaConfig::default()
    };
    let t0 = Instant::now();
    let mut now = t0;
    let peer = MediaPeer::unconfirmed(Some(caller), caller.ip(), false);
    let mut core = MediaCore::new(
        CoreSetup {
            cfg,
            peer,
            neg,
            seed: 7,
        },
        now,
    );
    core.handle_command(
        Command::Play(RequestId(1), Media::File("/fuzz/prompt.wav".into())),
        now,
    );
    let mut buf = Vec::new();
    let mut rest = data.get(2..).unwrap_or_default();
    let mut next_id = 2;
    while let Some((&len, tail)) = rest.split_first() {
        let Some((&ctl, tail)) = tail.split_first() else {
            break;
        };
        let n = usize::from(len).min(tail.len());
        let (packet, tail) = tail.split_at(n);
        rest = tail;
        now += Duration::from_millis(u64::from((ctl >> 2) & 15) * 7);
        core.handle_datagram(packet, sources[usize::from(ctl & 3)], now);
        match ctl >> 6 {
            1 => core.handle_command(Command::Confirm, now),
            2 => {
                core.handle_command(
                    Command::Play(RequestId(next_id), Media::File("/fuzz/p.wav".into())),
                    now,
                );
                next_id += 1;
            }
            3 => core.handle_command(Command::Stop(RequestId(next_id - 1)), now),
            _ => {}
        }
        pump(&mut core, now, &mut buf);
    }
    // Run on to the RTP timeout: the core must keep a deadline and end quietly.
    for _ in 0..4096 {
        let at = core.poll_timeout(now);
        assert!(at >= now || at + Duration::from_secs(1) >= now);
        now = at.max(now + Duration::from_micros(1));
        pump(&mut core, now, &mut buf);
        if now > t0 + Duration::from_secs(40) {
            break;
        }
    }
}

/// The prompt every `Load` gets, encoded once per codec and process: encoding it (Opus above
/// all) was four fifths of each execution, and the encoder is not what this target fuzzes.
fn prompt(codec: Codec) -> Arc<[Frame]> {
    static PCMU: OnceLock<Arc<[Frame]>> = OnceLock::new();
    static OPUS: OnceLock<Arc<[Frame]>> = OnceLock::new();
    let encode = || Arc::from(FrameEncoder::encode_all(codec, &[0.1; 1600]).unwrap_or_default());
    match codec {
        Codec::Opus => OPUS.get_or_init(encode).clone(),
        Codec::Pcmu => PCMU.get_or_init(encode).clone(),
        _ => encode(),
    }
}

/// What the media worker does after each input.
fn pump(core: &mut MediaCore, now: Instant, buf: &mut Vec<u8>) {
    while let Some(task) = core.poll_task() {
        if let Task::Load { id, codec, .. } = task {
            core.loaded(id, Ok(prompt(codec)));
        }
    }
    core.handle_timeout(now);
    while core.poll_transmit(now, buf).is_some() {
        assert!(
            rtp::parse(buf).is_ok(),
            "the core sent something that is not RTP"
        );
    }
    core.take_wake();
    while core.poll_event().is_some() {}
}
