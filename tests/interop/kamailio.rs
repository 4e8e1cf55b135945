//! Kamailio for the interop tests: a registrar with digest auth and a proxy to registered users,
//! from `tests/interop/kamailio.cfg`, on a loopback port, with its RPC socket for `kamcmd`.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::harness::{script, wait_until, Proc, Work};

/// A running kamailio (killed with its children when dropped).
pub struct Kamailio {
    pub port: u16,
    ctl: PathBuf,
    _proc: Proc,
}

impl Kamailio {
    /// Starts kamailio on `127.0.0.1:port` and waits for its control socket. Can be called
    /// again on the same port once the previous one is dropped (a registrar restart).
    pub fn start(work: &Work, port: u16) -> Kamailio {
        let ctl = work.path("kamailio_ctl");
        let _ = std::fs::remove_file(&ctl);
        let cfg = std::fs::read_to_string(script("kamailio.cfg"))
            .unwrap_or_else(|e| work.fail(&format!("kamailio.cfg: {e}")))
            .replace("@PORT@", &port.to_string())
            .replace("@CTL@", &ctl.to_string_lossy());
        let cfg_path = work.path("kamailio.cfg");
        std::fs::write(&cfg_path, cfg).unwrap_or_else(|e| work.fail(&format!("{e}")));
        let run_dir = work.path("kamailio-run");
        std::fs::create_dir_all(&run_dir).unwrap_or_else(|e| work.fail(&format!("{e}")));
        let mut cmd = Command::new("kamailio");
        cmd.arg("-f")
            .arg(&cfg_path)
            .args(["-DD", "-E", "-Y"])
            .arg(&run_dir)
            .arg("-P")
            .arg(run_dir.join("kamailio.pid"));
        let proc = Proc::spawn(work, "kamailio", &mut cmd);
        wait_until(
            work,
            "kamailio's control socket",
            Duration::from_secs(10),
            || ctl.exists(),
        );
        Kamailio {
            port,
            ctl,
            _proc: proc,
        }
    }

    /// Starts kamailio with a configuration given as text (already pointing at `127.0.0.1:port`)
    /// and waits until it answers an OPTIONS on that port. No control socket: `has_binding` is
    /// not available on it.
    pub fn start_with(work: &Work, port: u16, cfg: &str) -> Kamailio {
        let cfg_path = work.path("kamailio-docs.cfg");
        std::fs::write(&cfg_path, cfg).unwrap_or_else(|e| work.fail(&format!("{e}")));
        let check = Command::new("kamailio")
            .arg("-c")
            .arg("-f")
            .arg(&cfg_path)
            .output()
            .unwrap_or_else(|e| work.fail(&format!("kamailio -c: {e}")));
        if !check.status.success() {
            work.fail(&format!(
                "kamailio refuses the configuration ({}):\n{}",
                check.status,
                String::from_utf8_lossy(&check.stderr)
            ));
        }
        let run_dir = work.path("kamailio-docs-run");
        std::fs::create_dir_all(&run_dir).unwrap_or_else(|e| work.fail(&format!("{e}")));
        let mut cmd = Command::new("kamailio");
        cmd.arg("-f")
            .arg(&cfg_path)
            .args(["-DD", "-E", "-Y"])
            .arg(&run_dir)
            .arg("-P")
            .arg(run_dir.join("kamailio.pid"));
        let proc = Proc::spawn(work, "kamailio", &mut cmd);
        wait_until(
            work,
            "kamailio to answer OPTIONS",
            Duration::from_secs(10),
            || options_ok(port),
        );
        Kamailio {
            port,
            ctl: PathBuf::new(),
            _proc: proc,
        }
    }

    /// `127.0.0.1:PORT`, the SIP domain of its users.
    pub fn domain(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Whether `user` has a registered contact (`kamcmd ul.lookup`; kamcmd exits 0 even on RPC
    /// errors, so its output is read; `s:` passes the user as a string, not a number).
    pub fn has_binding(&self, work: &Work, user: &str) -> bool {
        let out = Command::new("kamcmd")
            .arg("-s")
            .arg(format!("unix:{}", self.ctl.display()))
            .args(["ul.lookup", "location", &format!("s:{user}")])
            .output()
            .unwrap_or_else(|e| work.fail(&format!("kamcmd: {e}")));
        String::from_utf8_lossy(&out.stdout).contains("Address")
    }
}

/// Whether `127.0.0.1:port` answers an OPTIONS with 200 within half a second.
fn options_ok(port: u16) -> bool {
    let Ok(sock) = std::net::UdpSocket::bind("127.0.0.1:0") else {
        return false;
    };
    let Ok(local) = sock.local_addr() else {
        return false;
    };
    let _ = sock.set_read_timeout(Some(Duration::from_millis(500)));
    let msg = format!(
        "OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-probe-{}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:probe@{local}>;tag=p\r\nTo: <sip:127.0.0.1:{port}>\r\n\
         Call-ID: probe-{}@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        local.port(),
        local.port()
    );
    if sock.send_to(msg.as_bytes(), ("127.0.0.1", port)).is_err() {
        return false;
    }
    let mut buf = [0u8; 2048];
    match sock.recv_from(&mut buf) {
        Ok((n, _)) => buf[..n].starts_with(b"SIP/2.0 200"),
        Err(_) => false,
    }
}
