//! The per-packet path of a media session does not allocate: with a prompt playing and the
//! phone sending G.711 audio, allocations per packet stay near zero once warmed up.
//!
//! A separate test binary because it installs a counting global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use phonetree::engine::media::{MediaConfig, MediaSession, PromptCache, PromptCacheConfig};
use phonetree::machine::io::{Media, RequestId};
use phonetree::media::rtp::{PayloadType, RtpHeader};
use phonetree::sdp::{Codec, Direction, Negotiated, TelephoneEvent};
use tokio::net::UdpSocket;

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwards the caller's layout unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as for `alloc` and `dealloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn wav(samples: usize) -> Vec<u8> {
    let data_len = (samples * 2) as u32;
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data_len).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&8000u32.to_le_bytes());
    b.extend_from_slice(&16000u32.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data_len.to_le_bytes());
    for i in 0..samples {
        b.extend_from_slice(&((((i as f32) * 0.2).sin() * 6000.0) as i16).to_le_bytes());
    }
    b
}

#[tokio::test(flavor = "current_thread")]
async fn steady_state_packets_do_not_allocate() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.wav");
    std::fs::write(&path, wav(8000 * 5)).unwrap();
    let phone = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let remote = phone.local_addr().unwrap();
    let neg = Negotiated {
        codec: Codec::Pcmu,
        payload_type: 0,
        telephone_event: Some(TelephoneEvent {
            payload_type: 101,
            clock_rate: 8000,
        }),
        remote: Some(remote),
        direction: Direction::SendRecv,
        remote_ptime: None,
        remote_fmtp: None,
        media_index: 0,
        srtp: None,
    };
    let cache = Arc::new(PromptCache::new(PromptCacheConfig::default()));
    let (session, _events) =
        MediaSession::start(MediaConfig::default(), socket, remote, neg, cache)
            .await
            .expect("media session starts");
    session.play(RequestId(1), Media::File(path));
    let local = session.local_addr();
    let mut buf = [0u8; 2048];
    let mut out = Vec::with_capacity(200);
    let mut seq = 0u16;
    let mut counted = 0u64;
    // Each round: one packet from the session (the prompt) and one to it (caller audio, which
    // goes through the reorder buffer, G.711 decoding and the DTMF detector). The first 50
    // rounds warm up (pools, buffers, the socket registration).
    for round in 0..150 {
        let before = ALLOCS.load(Ordering::Relaxed);
        tokio::time::timeout(Duration::from_secs(5), phone.recv_from(&mut buf))
            .await
            .expect("prompt packets keep coming")
            .unwrap();
        out.clear();
        RtpHeader {
            payload_type: PayloadType::PCMU,
            marker: false,
            sequence: seq,
            timestamp: u32::from(seq) * 160,
            ssrc: 42,
        }
        .write(&[0x55; 160], &mut out);
        seq = seq.wrapping_add(1);
        phone.send_to(&out, local).await.unwrap();
        if round >= 50 {
            counted += ALLOCS.load(Ordering::Relaxed) - before;
        }
    }
    eprintln!(
        "allocations per round (one packet each way): {:.2}",
        counted as f64 / 100.0
    );
    // Measured: 0. A few are tolerated for runtime housekeeping (tokio's channel blocks).
    assert!(counted <= 10, "{counted} allocations in 100 rounds");
}
