//! Integrations' audio on a real SIP call: a flow hands the caller to the `echo` agent, which
//! reads the caller's frames from its `AudioPort` and sends them straight back. The caller sends
//! a known signal over RTP; what comes back must be the same signal (cross-correlation), paced
//! as RTP (20 ms packets, consecutive sequence numbers), and the call must show the node in
//! `/api/calls` while it runs.

mod run_support;

use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use phonetree::media::g711::Law;
use run_support::{Caller, Server};

const ECHO_FLOW: &str = r#"
name: echo
routes: ["5000"]
start: echo
nodes:
  echo:
    agent: { provider: echo }
    next: end
  end: { hangup: {} }
"#;

/// 1.6 s of a signal that correlates with itself only at lag 0: a chirp from 300 to 3000 Hz
/// under a slow amplitude wobble.
fn signal() -> Vec<i16> {
    let n = 12_800;
    (0..n)
        .map(|i| {
            let t = i as f64 / 8000.0;
            let f0 = 300.0;
            let k = (3000.0 - f0) / 1.6;
            let phase = std::f64::consts::TAU * (f0 * t + 0.5 * k * t * t);
            let amp = 6000.0 + 3000.0 * (std::f64::consts::TAU * 1.3 * t).sin();
            (amp * phase.sin()) as i16
        })
        .collect()
}

fn rtp(seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 0];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&0x0bad_cafe_u32.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// The best normalized correlation of `sent` inside `heard`, and its lag in samples.
fn best_match(sent: &[i16], heard: &[i16]) -> (f64, usize) {
    let energy = |x: &[i16]| x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>();
    let es = energy(sent);
    let mut best = (0.0, 0);
    for lag in 0..heard.len().saturating_sub(sent.len()) {
        let window = &heard[lag..lag + sent.len()];
        let dot: f64 = sent
            .iter()
            .zip(window)
            .map(|(&a, &b)| f64::from(a) * f64::from(b))
            .sum();
        let ew = energy(window);
        if ew > 0.0 {
            let c = dot / (es * ew).sqrt();
            if c > best.0 {
                best = (c, lag);
            }
        }
    }
    best
}

#[test]
fn the_echo_agent_sends_the_callers_audio_back_through_its_audio_port() {
    let srv = Server::start(&[("echo.yaml", ECHO_FLOW)], &[]);
    let mut c = Caller::new(srv.sip);
    let offer = c.pcmu_offer();
    c.invite("5000", Some(&offer));
    let ok = c.final_response();
    assert_eq!(ok.status(), Some(200), "{ok:?}");
    c.ack("5000", None);
    let dest: SocketAddr = ok.sdp_rtp_addr().expect("RTP address");

    // Receive everything that comes back for a while, in another thread.
    let rx_sock = c.rtp.try_clone().expect("clone RTP socket");
    rx_sock
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let (tx, got) = mpsc::channel();
    let receiver = std::thread::spawn(move || {
        let mut packets = Vec::new();
        let end = Instant::now() + Duration::from_millis(3500);
        let mut buf = [0u8; 2048];
        while Instant::now() < end {
            if let Ok((n, _)) = rx_sock.recv_from(&mut buf) {
                if n >= 12 && buf[1] & 0x7f == 0 {
                    let seq = u16::from_be_bytes([buf[2], buf[3]]);
                    packets.push((seq, buf[12..n].to_vec()));
                }
            }
        }
        let _ = tx.send(packets);
    });

    // Send the signal as 20 ms PCMU packets in real time.
    let sent = signal();
    let start = Instant::now();
    for (i, chunk) in sent.chunks(160).enumerate() {
        let mut payload = Vec::new();
        Law::Mu.encode(chunk, &mut payload);
        let i16_ = i as u16;
        c.rtp
            .send_to(&rtp(1000 + i16_, 160 * i as u32, &payload), dest)
            .unwrap();
        if i == 20 {
            let (_, calls) = srv.get("/api/calls");
            assert!(calls.contains("\"node\":\"echo\""), "{calls}");
        }
        let next = start + Duration::from_millis(20 * (i as u64 + 1));
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    let packets = got.recv_timeout(Duration::from_secs(10)).expect("receiver");
    receiver.join().unwrap();
    c.bye("5000");

    assert!(
        packets.len() >= 70,
        "{} packets came back for 80 sent",
        packets.len()
    );
    assert!(packets.iter().all(|(_, p)| p.len() == 160), "20 ms PCMU");
    let seqs: Vec<u16> = packets.iter().map(|(s, _)| *s).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)),
        "consecutive sequence numbers: {seqs:?}"
    );
    let mut heard = Vec::new();
    for (_, p) in &packets {
        Law::Mu.decode(p, &mut heard);
    }
    // Compare the middle second (the first and last frames may be cut by the talkspurt edges).
    let (corr, lag) = best_match(&sent[2400..10400], &heard);
    eprintln!(
        "echo: {} packets, correlation {corr:.3} at {} ms into what came back",
        packets.len(),
        lag / 8
    );
    assert!(corr > 0.95, "the echo is the caller's audio: {corr:.3}");
}
