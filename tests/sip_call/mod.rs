//! A SIP call from the test's UDP client (`run_support::Caller`) with its RTP both ways: what
//! phonetree sends is recorded with arrival times, and the caller says a 300 Hz tone meanwhile.
//! Threads stop when the call is dropped.

#![allow(dead_code)]

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::run_support::{Caller, Server};
use crate::twilio_support::{frequency, rms, tone_mulaw};

/// An RTP packet as received: when, payload type, payload.
pub type Packet = (Instant, u8, Vec<u8>);

/// A SIP call with its RTP: what arrives is recorded; the caller sends a tone meanwhile.
pub struct SipCall {
    pub c: Caller,
    /// phonetree's RTP address (from the SDP answer).
    pub dest: SocketAddr,
    pub heard: Arc<Mutex<Vec<Packet>>>,
    stop: Arc<AtomicBool>,
}

impl SipCall {
    pub fn start(srv: &Server, number: &str) -> SipCall {
        let mut c = Caller::new(srv.sip);
        let offer = c.pcmu_offer();
        c.invite(number, Some(&offer));
        let ok = c.final_response();
        assert_eq!(ok.status(), Some(200), "{ok:?}");
        let dest = ok.sdp_rtp_addr().expect("RTP address");
        c.ack(number, None);
        let heard = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let rx = c.rtp.try_clone().unwrap();
        rx.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let (h, s) = (heard.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !s.load(Ordering::Relaxed) {
                if let Ok((n, _)) = rx.recv_from(&mut buf) {
                    if n >= 12 {
                        let pt = buf[1] & 0x7f;
                        h.lock()
                            .unwrap()
                            .push((Instant::now(), pt, buf[12..n].to_vec()));
                    }
                }
            }
        });
        let tx: UdpSocket = c.rtp.try_clone().unwrap();
        let s = stop.clone();
        std::thread::spawn(move || {
            let tone = tone_mulaw(300.0, 20);
            let (mut seq, mut ts) = (1u16, 0u32);
            let t0 = Instant::now();
            let mut k = 0u32;
            while !s.load(Ordering::Relaxed) {
                let mut p = vec![0x80, 0];
                p.extend_from_slice(&seq.to_be_bytes());
                p.extend_from_slice(&ts.to_be_bytes());
                p.extend_from_slice(&0x5151_5151u32.to_be_bytes());
                p.extend_from_slice(&tone);
                let _ = tx.send_to(&p, dest);
                seq = seq.wrapping_add(1);
                ts = ts.wrapping_add(160);
                k += 1;
                let due = t0 + Duration::from_millis(20) * k;
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
            }
        });
        SipCall {
            c,
            dest,
            heard,
            stop,
        }
    }

    /// Dominant frequency of each received audio frame (PCMU, not silence), in order.
    pub fn tones(&self) -> Vec<(Instant, f32)> {
        self.heard
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, pt, p)| *pt == 0 && rms(p) > 500.0)
            .map(|(t, _, p)| (*t, frequency(p)))
            .collect()
    }

    /// The RFC 4733 keys received (each event once).
    pub fn keys(&self) -> Vec<u8> {
        let mut keys = Vec::new();
        let mut last_ts = None;
        for (_, pt, p) in self.heard.lock().unwrap().iter() {
            if *pt == 101 && p.len() >= 4 && p[1] & 0x80 != 0 && last_ts != Some(p[0]) {
                keys.push(p[0]);
                last_ts = Some(p[0]);
            }
        }
        keys
    }
}

impl Drop for SipCall {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
