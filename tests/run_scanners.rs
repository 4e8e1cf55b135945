//! The scanners of issue 10 against a `phonetree run` carrying live calls: SIPVicious
//! (`svmap`, `svwar`, `svcrack`, PyPI `sipvicious`) and a sipp INVITE flood, bounded in time,
//! while live calls from a trusted PBX (127.0.0.2) play audio. The live calls must keep their
//! audio (packets counted, gaps measured), the flood is rate-limited, memory stays bounded and
//! the scanners learn nothing. Needs sipp and sipvicious (`.ci/install-deps.sh`): runs with
//! `PHONETREE_INTEROP=1` like the interop tests. Sized by `PHONETREE_ATTACK_CALLS` (live calls,
//! default 20) and `PHONETREE_ATTACK_SECS` (default 10); `bench/attack.sh` runs 200 calls for
//! 60 s. Prints a `figures:` line for docs/security.md.

mod run_support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use run_support::{Caller, Server};

/// Plays its prompt over and over: a call that always has audio to receive.
const LOOP_FLOW: &str = r#"
name: loop
default: true
start: hold
nodes:
  hold: { play: tone.wav, next: hold }
"#;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn venv_bin(name: &str) -> PathBuf {
    std::env::var_os("PHONETREE_INTEROP_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/phonetree-interop/venv"))
        .join("bin")
        .join(name)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// What one live call received while the attacks ran.
#[derive(Debug, Default, Clone, Copy)]
struct Heard {
    packets: u64,
    /// Largest gap between two packets (20 ms when nothing is late).
    max_gap: Duration,
    /// Gaps over 40 ms (a packet more than 20 ms late).
    late: u64,
}

/// Receives the call's RTP until `stop`, sending the caller's own 20 ms of silence back.
fn listen(c: &Caller, dest: SocketAddr, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Heard> {
    let rtp = c.rtp.try_clone().expect("rtp socket");
    std::thread::spawn(move || {
        rtp.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let mut h = Heard::default();
        let mut last: Option<Instant> = None;
        let mut buf = [0u8; 2048];
        let mut seq = 0u16;
        let mut next_send = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            if Instant::now() >= next_send {
                let mut p = vec![0x80, 0];
                p.extend_from_slice(&seq.to_be_bytes());
                p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
                p.extend_from_slice(&[0, 0, 0, 9]);
                p.extend_from_slice(&[0xff; 160]);
                let _ = rtp.send_to(&p, dest);
                seq = seq.wrapping_add(1);
                next_send += Duration::from_millis(20);
            }
            if let Ok((n, _)) = rtp.recv_from(&mut buf) {
                if n >= 12 {
                    let now = Instant::now();
                    if let Some(prev) = last {
                        let gap = now - prev;
                        h.max_gap = h.max_gap.max(gap);
                        if gap > Duration::from_millis(40) {
                            h.late += 1;
                        }
                    }
                    last = Some(now);
                    h.packets += 1;
                }
            }
        }
        h
    })
}

/// Runs a bounded command, output to `log`; its stdout.
fn run(cmd: &mut Command, secs: u64) -> String {
    let out = Command::new("timeout")
        .arg(secs.to_string())
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::null())
        .output()
        .expect("spawn");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
#[cfg_attr(
    not(interop),
    ignore = "needs sipp and sipvicious: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn scanners_and_an_invite_flood_do_not_disturb_live_calls() {
    let calls = env_or("PHONETREE_ATTACK_CALLS", 20);
    let secs = env_or("PHONETREE_ATTACK_SECS", 10);
    assert!(
        venv_bin("sipvicious_svmap").exists(),
        "sipvicious is not installed (bash .ci/install-deps.sh)"
    );
    let srv = Server::start(
        &[("loop.yaml", LOOP_FLOW)],
        &[
            // The PBX is trusted; everyone else may call, within the per-source limits.
            ("PHONETREE_SIP_ALLOW", "127.0.0.2,any"),
            ("PHONETREE_RTP_TIMEOUT", "10m"),
            ("PHONETREE_LOG", "info"),
        ],
    );
    let pid = srv.child.id();
    let mut live = Vec::new();
    for _ in 0..calls {
        let mut c = Caller::new_at(srv.sip, "127.0.0.2");
        let offer = c.pcmu_offer();
        c.invite("5000", Some(&offer));
        let ok = c.final_response();
        assert_eq!(ok.status(), Some(200));
        let dest = ok.sdp_rtp_addr().expect("RTP address");
        c.ack("5000", None);
        live.push((c, dest));
    }
    std::thread::sleep(Duration::from_millis(500));
    let rss_before = rss_kib(pid);
    let stop = Arc::new(AtomicBool::new(false));
    let listeners: Vec<_> = live
        .iter()
        .map(|(c, dest)| listen(c, *dest, stop.clone()))
        .collect();
    let target = srv.sip;
    let port = target.port().to_string();
    let start = Instant::now();
    let scanners = std::thread::scope(|s| {
        let svmap = s.spawn(|| {
            run(
                Command::new(venv_bin("sipvicious_svmap")).args(["-p", &port, "127.0.0.1"]),
                secs,
            )
        });
        let svwar = s.spawn(|| {
            run(
                Command::new(venv_bin("sipvicious_svwar")).args([
                    "-e100-400",
                    "-m",
                    "INVITE",
                    "-p",
                    &port,
                    "127.0.0.1",
                ]),
                secs,
            )
        });
        let svcrack = s.spawn(|| {
            run(
                Command::new(venv_bin("sipvicious_svcrack")).args([
                    "-u",
                    "100",
                    "-r1-2000",
                    "-p",
                    &port,
                    "127.0.0.1",
                ]),
                secs,
            )
        });
        // A sipp INVITE flood from 127.0.0.1: its built-in UAC at 300 calls/s, never more
        // than `secs` seconds.
        let flood = s.spawn(|| {
            run(
                Command::new("sipp").args([
                    &target.to_string(),
                    "-sn",
                    "uac",
                    "-i",
                    "127.0.0.1",
                    "-p",
                    "0",
                    "-r",
                    "300",
                    "-m",
                    &(300 * secs).to_string(),
                    "-d",
                    "60000",
                    "-recv_timeout",
                    "3000",
                    "-nostdin",
                    "-trace_stat",
                    "-fd",
                    "1",
                ]),
                secs,
            )
        });
        [svmap, svwar, svcrack, flood].map(|h| h.join().unwrap_or_default())
    });
    let attacked_for = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    let heard: Vec<Heard> = listeners.into_iter().map(|h| h.join().unwrap()).collect();
    let rss_after = rss_kib(pid);
    let expected = attacked_for.as_millis() as u64 / 20;
    let min_packets = heard.iter().map(|h| h.packets).min().unwrap_or(0);
    let worst_gap = heard.iter().map(|h| h.max_gap).max().unwrap_or_default();
    let late: u64 = heard.iter().map(|h| h.late).sum();
    let total: u64 = heard.iter().map(|h| h.packets).sum();
    let [svmap, svwar, svcrack, _flood] = &scanners;
    // svwar lists the extensions it believes exist in a table of `| 123 | reqauth |` rows.
    let found = svwar
        .lines()
        .filter(|l| {
            l.trim_start().starts_with('|') && l.contains("reqauth") || l.contains("noauth")
        })
        .count();
    let cracked = svcrack.contains("password") && svcrack.contains("| 100");
    let answered_flood = srv
        .log_text()
        .lines()
        .filter(|l| l.contains("answer flow=loop") || l.contains("event=answer"))
        .count()
        .saturating_sub(calls as usize);
    // The server still answers.
    let mut after = Caller::new_at(srv.sip, "127.0.0.2");
    after.options();
    let still = after.final_response().status();
    eprintln!(
        "figures: {calls} live calls during {} ms of svmap + svwar + svcrack + a sipp INVITE \
         flood (300/s): each live call got ≥ {min_packets} of ~{expected} packets ({total} in \
         all), {late} gaps over 40 ms, worst gap {} ms; flood calls answered {answered_flood}; \
         svwar extensions found {found}, svcrack cracked {cracked}; RSS {rss_before} → \
         {rss_after} KiB; svmap said: {}",
        attacked_for.as_millis(),
        worst_gap.as_millis(),
        svmap
            .lines()
            .find(|l| l.contains("127.0.0.1"))
            .unwrap_or("-")
            .trim()
    );
    assert_eq!(still, Some(200));
    assert!(
        min_packets * 10 >= expected * 8,
        "a live call lost its audio: {min_packets} of {expected}"
    );
    assert!(
        answered_flood <= 20,
        "flood calls answered: {answered_flood}"
    );
    assert!(!cracked, "{svcrack}");
    assert!(
        rss_after < rss_before + 128 * 1024,
        "memory: {rss_before} → {rss_after} KiB"
    );
}
