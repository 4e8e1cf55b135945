//! NAT interop: `phonetree run` in a private "lan" network namespace reaches Kamailio (the
//! registrar, in a "wan" namespace) only through a "router" namespace that masquerades with
//! nftables, as a home or office NAT does:
//!
//! ```text
//!   lan  10.77.1.2 ── 10.77.1.1  router (nft masquerade)  10.77.2.1 ── 10.77.2.2  wan
//!   phonetree                                                          kamailio, sipp
//! ```
//!
//! The wan side has no route to 10.77.1.0/24: only the masqueraded address 10.77.2.1 is
//! reachable, through the NAT's connection tracking. The test checks that phonetree learns
//! its public address from the `received`/`rport` Kamailio writes on its answers, registers
//! again with it (Kamailio's location table then holds the public contact and not the private
//! one), keeps the binding alive with OPTIONS that arrive from the public address, and that a
//! call placed by sipp on the wan side through Kamailio reaches phonetree, is answered and
//! hung up cleanly (ACK and BYE routed to the public Contact of our 200), and that media
//! crosses the NAT both ways: our SDP names the public address, the greeting is recorded on the
//! wan side and matched against the prompt, and the caller's RFC 4733 digit reaches the flow,
//! which answers it.
//!
//! Needs root (`ip netns`), `nft` (Debian `nftables`, in `.ci/install-deps.sh`), kamailio and
//! sipp, dumpcap. Namespaces are named per process id and removed on drop, even when the test fails.
//! Same gate as `tests/interop.rs`: ignored unless `PHONETREE_INTEROP=1`.

#[allow(dead_code)]
#[path = "interop/audio.rs"]
mod audio;
#[allow(dead_code)]
#[path = "interop/harness.rs"]
mod harness;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use audio::assert_heard;
use harness::*;

const LAN_IP: &str = "10.77.1.2";
const PUBLIC_IP: &str = "10.77.2.1";
const WAN_IP: &str = "10.77.2.2";
/// Ports inside the private namespaces: nothing else lives there, so fixed ports cannot
/// collide with other tests.
const SIP_PORT: u16 = 5060;
const HTTP_PORT: u16 = 8080;
/// sipp's RTP port in the wan namespace.
const MEDIA_PORT: u16 = 6000;

/// Runs `ip`/`nft`-style setup commands; the first failure fails the test.
fn run(work: &Work, program: &str, args: &[&str], stdin: Option<&str>) {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| work.fail(&format!("{program}: {e}")));
    if let Some(text) = stdin {
        use std::io::Write;
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(text.as_bytes()).expect("write stdin");
    }
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| work.fail(&format!("{program}: {e}")));
    if !out.status.success() {
        work.fail(&format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
}

/// Three namespaces (lan, router, wan) wired with veth pairs, the router masquerading towards
/// the wan. Deleted on drop (the processes in them are killed by their `Proc`s first: declare
/// the `Topology` before them).
struct Topology {
    lan: String,
    router: String,
    wan: String,
}

impl Topology {
    fn new(work: &Work) -> Topology {
        let id = std::process::id();
        let t = Topology {
            lan: format!("ptnat-lan-{id}"),
            router: format!("ptnat-rtr-{id}"),
            wan: format!("ptnat-wan-{id}"),
        };
        for ns in [&t.lan, &t.router, &t.wan] {
            run(work, "ip", &["netns", "add", ns], None);
            run(work, "ip", &["-n", ns, "link", "set", "lo", "up"], None);
        }
        // Interface names live inside the namespaces only: no clash with other runs.
        let veth = |a: &str, ns_a: &str, b: &str, ns_b: &str| {
            run(
                work,
                "ip",
                &[
                    "link", "add", a, "netns", ns_a, "type", "veth", "peer", "name", b, "netns",
                    ns_b,
                ],
                None,
            );
        };
        veth("lan0", &t.lan, "rlan", &t.router);
        veth("rwan", &t.router, "wan0", &t.wan);
        for (ns, dev, addr) in [
            (&t.lan, "lan0", "10.77.1.2/24"),
            (&t.router, "rlan", "10.77.1.1/24"),
            (&t.router, "rwan", "10.77.2.1/24"),
            (&t.wan, "wan0", "10.77.2.2/24"),
        ] {
            run(
                work,
                "ip",
                &["-n", ns, "addr", "add", addr, "dev", dev],
                None,
            );
            run(work, "ip", &["-n", ns, "link", "set", dev, "up"], None);
        }
        run(
            work,
            "ip",
            &["-n", &t.lan, "route", "add", "default", "via", "10.77.1.1"],
            None,
        );
        run(
            work,
            "ip",
            &[
                "netns",
                "exec",
                &t.router,
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
            ],
            None,
        );
        let ruleset = "table ip nat {\n  chain postrouting {\n    type nat hook postrouting priority 100;\n    oifname \"rwan\" masquerade\n  }\n}\n";
        run(
            work,
            "ip",
            &["netns", "exec", &t.router, "nft", "-f", "-"],
            Some(ruleset),
        );
        t
    }

    /// `ip netns exec NS program args…`.
    fn exec(ns: &str, program: impl Into<PathBuf>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns]).arg(program.into());
        cmd
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for ns in [&self.lan, &self.router, &self.wan] {
            let _ = Command::new("ip")
                .args(["netns", "delete", ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Kamailio (`tests/interop/kamailio.cfg`, moved to the wan address) in the wan namespace.
fn kamailio(work: &Work, topo: &Topology) -> (Proc, PathBuf) {
    let ctl = work.path("kamailio_ctl");
    let cfg = std::fs::read_to_string(script("kamailio.cfg"))
        .unwrap_or_else(|e| work.fail(&format!("kamailio.cfg: {e}")))
        .replace("@PORT@", &SIP_PORT.to_string())
        .replace("@CTL@", &ctl.to_string_lossy())
        .replace("127.0.0.1", WAN_IP);
    let cfg_path = work.path("kamailio.cfg");
    std::fs::write(&cfg_path, cfg).unwrap_or_else(|e| work.fail(&e.to_string()));
    let run_dir = work.path("kamailio-run");
    std::fs::create_dir_all(&run_dir).unwrap_or_else(|e| work.fail(&e.to_string()));
    let mut cmd = Topology::exec(&topo.wan, "kamailio");
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
    (proc, ctl)
}

/// `kamcmd ul.dump` (the unix control socket works across namespaces).
fn location_table(work: &Work, ctl: &std::path::Path) -> String {
    let out = Command::new("kamcmd")
        .arg("-s")
        .arg(format!("unix:{}", ctl.display()))
        .arg("ul.dump")
        .output()
        .unwrap_or_else(|e| work.fail(&format!("kamcmd: {e}")));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `phonetree run` in the lan namespace, registering 1001 at Kamailio across the NAT, with
/// `env` added.
fn phonetree(work: &Work, topo: &Topology, env: &[(&str, &str)]) -> Proc {
    let program = PathBuf::from(env!("CARGO_BIN_EXE_phonetree"));
    let mut cmd = Topology::exec(&topo.lan, program);
    cmd.arg("run")
        .args(["--sip", &format!("{LAN_IP}:{SIP_PORT}")])
        .args(["--http", &format!("{LAN_IP}:{HTTP_PORT}")])
        .arg("--flows")
        .arg(&work.flows)
        .arg("--sound")
        .arg(&work.sound)
        .args(["--rtp-ports", "20000-20099"])
        .current_dir(work.path(""))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env(
            "PHONETREE_LOG",
            "phonetree=debug,phonetree::registry::watch=warn",
        )
        .env("SIP_DOMAIN", format!("{WAN_IP}:{SIP_PORT}"))
        .env("SIP_USERNAME", "1001")
        .env("SIP_PASSWORD", "secret")
        .envs(env.iter().copied());
    Proc::spawn(work, "phonetree", &mut cmd)
}

fn netns_tools_usable() -> bool {
    let ok = |p: &str, a: &[&str]| {
        Command::new(p)
            .args(a)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    ok("ip", &["netns", "list"]) && ok("nft", &["--version"])
}

/// Whether the namespace tools are there; with `PHONETREE_INTEROP=1` their absence fails the
/// test (as a missing peer does in `require`), else it is skipped with a line on stderr.
fn usable(ok: bool, what: &str) -> bool {
    let strict = cfg!(interop) || std::env::var("PHONETREE_INTEROP").is_ok_and(|v| v == "1");
    assert!(
        ok || !strict,
        "{what} needed (root; run .ci/install-deps.sh for nftables and coturn)"
    );
    if !ok {
        use std::io::Write;
        let line = format!("skipped: {what} not usable\n");
        let _ = std::io::stderr().write_all(line.as_bytes());
    }
    ok
}

#[test]
#[cfg_attr(
    not(interop),
    ignore = "real SIP peers: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn behind_a_masquerading_nat_phonetree_registers_its_public_address_and_takes_a_call() {
    let _serial = serial();
    if !require(&[Peer::Kamailio, Peer::Sipp, Peer::Dumpcap]) {
        return;
    }
    if !usable(netns_tools_usable(), "`ip netns` (root) and `nft`") {
        return;
    }
    let work = Work::new();
    let topo = Topology::new(&work);
    let (_kamailio, ctl) = kamailio(&work, &topo);
    let engine = phonetree(&work, &topo, &[("PHONETREE_SIP_KEEPALIVE_INTERVAL", "1s")]);
    let public_contact = format!("sip:1001@{PUBLIC_IP}:");
    let private_contact = format!("sip:1001@{LAN_IP}:");
    // Registered first with the private contact, then again with the public one, which
    // removes the private binding in the same REGISTER.
    let mut table = String::new();
    wait_until(
        &work,
        "kamailio to hold the public contact of 1001 only",
        Duration::from_secs(20),
        || {
            table = location_table(&work, &ctl);
            table.contains(&public_contact) && !table.contains(&private_contact)
        },
    );
    eprintln!("ul.dump:\n{table}");
    let log = || engine.stderr_text() + &engine.stdout_text();
    wait_until(
        &work,
        "phonetree to log the learned public address",
        Duration::from_secs(5),
        || log().contains("NAT: the registrar sees us at another address"),
    );
    // Keep-alive OPTIONS reach kamailio from the public (masqueraded) address.
    let kam_log = || std::fs::read_to_string(work.path("kamailio.err")).unwrap_or_default();
    wait_until(
        &work,
        "a keep-alive OPTIONS from the public address",
        Duration::from_secs(10),
        || {
            kam_log()
                .lines()
                .any(|l| l.contains("OPTIONS") && l.contains(&format!("from {PUBLIC_IP}:")))
        },
    );
    // A call from the wan side through kamailio: INVITE to the public contact (through the
    // NAT's mapping), 200 with our public Contact and SDP address, ACK and BYE sent to that
    // Contact along the Record-Route set. Media both ways through the NAT: the greeting is
    // recorded on the wan side, and the caller's RFC 4733 "1" (sent to the public address of
    // our SDP) makes the flow play its answer.
    let pcap = build_pcap(&work, 10, "1@3");
    let capture = wan_capture(&work, &topo);
    let mut sipp = Topology::exec(&topo.wan, "sipp");
    sipp.arg(format!("{WAN_IP}:{SIP_PORT}"))
        .arg("-sf")
        .arg(script("sipp/uac_pcap_routes.xml"))
        .arg("-key")
        .arg("pcap")
        .arg(&pcap)
        .args(["-s", "1001", "-i", WAN_IP, "-p", "5070"])
        .args(["-mi", WAN_IP, "-mp", &MEDIA_PORT.to_string()])
        .args(["-m", "1", "-l", "1", "-d", "10000", "-timeout", "40s"])
        .args(["-nostdin", "-trace_err", "-trace_msg"])
        .arg("-error_file")
        .arg(work.path("sipp.errors.log"))
        .arg("-message_file")
        .arg(work.path("sipp.messages.log"));
    let mut caller = Proc::spawn(&work, "sipp", &mut sipp);
    let messages = || std::fs::read_to_string(work.path("sipp.messages.log")).unwrap_or_default();
    match caller.wait(Duration::from_secs(45)) {
        Ok(s) if s.success() => {}
        other => work.fail(&format!(
            "the call through kamailio and the NAT failed ({other:?}):\n{}",
            messages()
        )),
    }
    let text = messages();
    let ok = text
        .split("\n\n")
        .find(|m| m.contains("SIP/2.0 200") && m.contains("CSeq: 1 INVITE"))
        .unwrap_or_else(|| work.fail(&format!("no 200 to the INVITE:\n{text}")));
    let contact = ok
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("contact:"))
        .unwrap_or_else(|| work.fail(&format!("a 200 without Contact:\n{ok}")));
    if !contact.contains(&format!("@{PUBLIC_IP}:")) {
        work.fail(&format!(
            "the 200's Contact is not the public address: {contact}"
        ));
    }
    if !ok.contains(&format!("c=IN IP4 {PUBLIC_IP}")) {
        work.fail(&format!(
            "the 200's SDP does not carry the public address:\n{ok}"
        ));
    }
    let bye_ok = text
        .split("\n\n")
        .any(|m| m.contains("SIP/2.0 200") && m.contains("BYE"));
    if !bye_ok {
        work.fail(&format!("our BYE was not answered 200:\n{text}"));
    }
    let rec = work.path("heard.wav");
    let summary = capture.finish(&work, &rec);
    eprintln!("RTP heard on the wan side: {summary}");
    assert_heard(&work, &rec, "bunny/greeting.wav", 0.0, 1.5, 2.5);
    // The digit is 3 s into sipp's audio, which starts 0.5 s after the ACK.
    assert_heard(&work, &rec, "bunny/response_1.wav", 3.0, 5.0, 5.0);
    drop(caller);
    drop(engine);
}

/// `seconds` of silence with RFC 4733 `dtmf` (`"1@3"`: digit@second) as a PCMU RTP pcap for
/// sipp (as in `tests/interop.rs`).
fn build_pcap(work: &Work, seconds: u32, dtmf: &str) -> PathBuf {
    let wav = work.path("silence.wav");
    let ok = Command::new("sox")
        .args(["-n", "-r", "8000", "-c", "1", "-b", "16"])
        .arg(&wav)
        .args(["trim", "0", &(seconds + 2).to_string()])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        work.fail("sox could not write silence.wav");
    }
    let pcap = work.path("tx.pcap");
    let mut build = Command::new(python());
    build
        .arg(script("rtp_pcap.py"))
        .arg("build")
        .arg(&wav)
        .arg(&pcap)
        .args(["--codec", "PCMU", "--dtmf", dtmf])
        .args(["--seconds", &seconds.to_string()]);
    if !run_peer(work, "rtp_build", &mut build, Duration::from_secs(60))
        .0
        .success()
    {
        work.fail("rtp_pcap.py build failed");
    }
    pcap
}

/// The RTP sipp receives in the wan namespace (dumpcap on `wan0`), turned into a wav by
/// `rtp_pcap.py` as `tests/interop/sipp.rs`'s loopback capture does.
struct WanCapture {
    proc: Proc,
    file: PathBuf,
}

fn wan_capture(work: &Work, topo: &Topology) -> WanCapture {
    let file = work.path("wan.pcap");
    let mut cmd = Topology::exec(&topo.wan, "dumpcap");
    cmd.args(["-i", "wan0", "-f", &format!("udp dst port {MEDIA_PORT}")])
        .args(["-P", "-a", "duration:120", "-w"])
        .arg(&file);
    let proc = Proc::spawn(work, "dumpcap", &mut cmd);
    wait_until(work, "dumpcap to capture", Duration::from_secs(10), || {
        proc.stderr_text().contains("Capturing on")
    });
    WanCapture { proc, file }
}

impl WanCapture {
    fn finish(mut self, work: &Work, out: &std::path::Path) -> serde_json::Value {
        std::thread::sleep(Duration::from_millis(300));
        self.proc.kill_group("INT");
        if let Err(e) = self.proc.wait(Duration::from_secs(5)) {
            work.fail(&e);
        }
        let mut cmd = Command::new(python());
        cmd.arg(script("rtp_pcap.py"))
            .arg("record")
            .arg(&self.file)
            .args(["--dst-port", &MEDIA_PORT.to_string(), "-o"])
            .arg(out);
        let (status, json) = run_peer(work, "rtp_record", &mut cmd, Duration::from_secs(60));
        if !status.success() {
            work.fail("rtp_pcap.py record failed");
        }
        json
    }
}

/// coturn's `turnserver` answering STUN Binding only, in the wan namespace on `WAN_IP:3478`.
fn coturn(work: &Work, topo: &Topology) -> Proc {
    let mut cmd = Topology::exec(&topo.wan, "turnserver");
    cmd.args(["-n", "--stun-only", "--no-cli", "--no-tls", "--no-dtls"])
        .args(["-L", WAN_IP, "-p", "3478", "--log-file", "stdout"])
        .arg("--db")
        .arg(work.path("turndb"))
        .arg("--pidfile")
        .arg(work.path("turnserver.pid"));
    let proc = Proc::spawn(work, "turnserver", &mut cmd);
    // Its log is block-buffered: ask it a Binding from the wan namespace until it answers.
    let probe = format!(
        "import os, socket\n\
         s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         s.settimeout(0.3)\n\
         s.sendto(bytes.fromhex('000100002112a442') + os.urandom(12), ('{WAN_IP}', 3478))\n\
         s.recvfrom(2048)\n"
    );
    wait_until(
        work,
        "turnserver to answer",
        Duration::from_secs(10),
        || {
            Topology::exec(&topo.wan, "python3")
                .args(["-c", &probe])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        },
    );
    proc
}

#[test]
#[cfg_attr(
    not(interop),
    ignore = "real SIP peers: run with PHONETREE_INTEROP=1 (install them: bash .ci/install-deps.sh)"
)]
fn behind_the_nat_a_stun_server_alone_gives_the_first_register_the_public_contact() {
    let _serial = serial();
    if !require(&[Peer::Kamailio]) {
        return;
    }
    let turnserver = Command::new("turnserver").arg("-h").output().is_ok();
    if !usable(
        netns_tools_usable() && turnserver,
        "`ip netns`, `nft` and `turnserver`",
    ) {
        return;
    }
    let work = Work::new();
    let topo = Topology::new(&work);
    let _stun = coturn(&work, &topo);
    let (_kamailio, ctl) = kamailio(&work, &topo);
    // received/rport learning off: only STUN can tell phonetree its public address.
    let stun = format!("{WAN_IP}:3478");
    let engine = phonetree(
        &work,
        &topo,
        &[
            ("SIP_STUN_SERVER", stun.as_str()),
            ("PHONETREE_SIP_LEARN_PUBLIC_ADDRESS", "false"),
            ("PHONETREE_SIP_KEEPALIVE_INTERVAL", "0"),
        ],
    );
    let public_contact = format!("sip:1001@{PUBLIC_IP}:{SIP_PORT}");
    let mut table = String::new();
    wait_until(
        &work,
        "kamailio to hold the public contact of 1001",
        Duration::from_secs(20),
        || {
            table = location_table(&work, &ctl);
            table.contains(&public_contact)
        },
    );
    if table.contains(&format!("sip:1001@{LAN_IP}")) {
        work.fail(&format!("the private contact was registered too:\n{table}"));
    }
    let log = engine.stderr_text() + &engine.stdout_text();
    if !log.contains("STUN: our public address") || !log.contains(&public_contact[9..]) {
        work.fail("phonetree did not log the STUN answer with the public address");
    }
    // The first REGISTER already carried it: the binding's CSeq is that of the
    // authenticated first REGISTER (2), no second registration was needed.
    if !table.contains("CSeq: 2") {
        work.fail(&format!(
            "expected the binding from the first authenticated REGISTER:\n{table}"
        ));
    }
}
