//! sipp for the interop tests: scenario commands and the `dumpcap` capture that records what
//! sipp hears (sipp plays RTP from a pcap but cannot record).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{free_port, python, run_peer, script, Proc, Work};

/// Records the UDP packets sent to one loopback port (dumpcap), e.g. the RTP sipp receives.
pub struct Capture {
    proc: Proc,
    file: PathBuf,
    port: u16,
}

impl Capture {
    pub fn start(work: &Work, name: &str, port: u16) -> Capture {
        let file = work.path(&format!("{name}.pcap"));
        let mut cmd = Command::new("dumpcap");
        cmd.args([
            "-i",
            "lo",
            "-f",
            &format!("udp dst port {port}"),
            "-P",
            "-a",
            "duration:120",
            "-w",
        ])
        .arg(&file);
        let proc = Proc::spawn(work, name, &mut cmd);
        let end = Instant::now() + Duration::from_secs(10);
        while !proc.stderr_text().contains("Capturing on") {
            if Instant::now() >= end {
                work.fail("dumpcap did not start capturing within 10 s");
            }
            thread::sleep(Duration::from_millis(20));
        }
        Capture { proc, file, port }
    }

    /// Stops the capture and turns the G.711 RTP it holds into `out` (8 kHz wav); returns the
    /// recorder's summary (`dtmf_received`, `packets`, ...).
    pub fn finish(mut self, work: &Work, out: &Path) -> Value {
        thread::sleep(Duration::from_millis(300)); // the last packets in flight
        self.proc.kill_group("INT");
        if let Err(e) = self.proc.wait(Duration::from_secs(5)) {
            work.fail(&e);
        }
        let mut cmd = Command::new(python());
        cmd.arg(script("rtp_pcap.py"))
            .arg("record")
            .arg(&self.file)
            .args(["--dst-port", &self.port.to_string(), "-o"])
            .arg(out);
        let (status, json) = run_peer(work, "rtp_record", &mut cmd, Duration::from_secs(60));
        if !status.success() {
            work.fail("rtp_pcap.py record failed");
        }
        json
    }
}

/// A sipp run against `target` with a scenario of `tests/interop/sipp/`.
pub fn sipp(work: &Work, scenario: &str, target: &str, user: &str, media_port: u16) -> Command {
    let mut cmd = Command::new("sipp");
    cmd.arg(target)
        .arg("-sf")
        .arg(script(&format!("sipp/{scenario}")))
        .args([
            "-s",
            user,
            "-i",
            "127.0.0.1",
            "-p",
            &free_port().to_string(),
        ])
        .args(["-mi", "127.0.0.1", "-mp", &media_port.to_string()])
        .args([
            "-m",
            "1",
            "-l",
            "1",
            "-timeout",
            "40s",
            "-nostdin",
            "-trace_err",
            "-trace_msg",
        ])
        .arg("-error_file")
        .arg(work.path(&format!("sipp-{scenario}.errors.log")))
        .arg("-message_file")
        .arg(work.path(&format!("sipp-{scenario}.messages.log")));
    cmd
}

/// The SIP messages sipp saw and sent (its -trace_msg file), for failure reports.
pub fn sipp_messages(work: &Work, scenario: &str) -> String {
    fs::read_to_string(work.path(&format!("sipp-{scenario}.messages.log"))).unwrap_or_default()
}
