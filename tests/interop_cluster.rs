//! Scale-out interop (issue 12): three `phonetree run` nodes behind Kamailio's dispatcher, run
//! from the shipped `deploy/kamailio/kamailio.cfg` with `-A` defines (loopback ports, the node
//! list, a 1 s OPTIONS probe), sipp placing the calls through Kamailio.
//!
//! One test, in phases: the PBX registers at Kamailio (digest); the nodes take calls from the dispatcher only (`sip.allow`: a direct
//! INVITE from another loopback address gets 403); 300 calls spread over the three nodes (each
//! gets a fair share, all succeed); then a second load during which one node is killed (`kill
//! -9`: Kamailio's probe takes it out, later calls succeed on the others, the survivors' calls
//! end normally) and another gets SIGTERM (it refuses new calls with 503, Kamailio moves them on,
//! its own calls finish, it exits 0 and has no call created after the signal); finally the
//! drained node is started again and the probe brings it back. Each node has its own SQLite
//! call register (`data_dir`), read with `phonetree calls list --json`: that is where the
//! per-node counts and end reasons come from.
//!
//! Same gate and harness as `tests/interop.rs`: ignored unless `PHONETREE_INTEROP=1` at build
//! time, then a missing peer is a failure; every child is killed by its PID (process group) when
//! its handle drops. Figures (failover time, spread) are printed with `figures:`, never asserted.

#[allow(dead_code)]
#[path = "interop/harness.rs"]
mod harness;

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use harness::*;
use serde_json::Value;

/// Kamailio and the callers live here; the nodes allow it only.
const PROXY_IP: &str = "127.0.0.1";
/// A loopback address that is not the dispatcher (Linux routes all of 127/8 to `lo`).
const STRANGER_IP: &str = "127.0.0.9";
/// The account the PBX registers with at Kamailio (`REG_USER`, `REG_PASS`).
const PBX_USER: &str = "pbx";
const PBX_PASSWORD: &str = "pbx-secret";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// One phonetree node: its engine (None once it has exited), ports and data dir.
struct Node {
    name: String,
    sip: SocketAddr,
    http: SocketAddr,
    data: PathBuf,
    engine: Option<Engine>,
}

impl Node {
    fn start(work: &Work, name: &str) -> Node {
        let sip: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let http: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let data = work.path(&format!("{name}-data"));
        let mut node = Node {
            name: name.to_string(),
            sip,
            http,
            data,
            engine: None,
        };
        node.run(work, name);
        node
    }

    /// Starts (or starts again) `phonetree run` on the node's ports, logs in `<work>/<log>.*`.
    fn run(&mut self, work: &Work, log: &str) {
        let data = self.data.to_string_lossy().to_string();
        let env = [
            ("PHONETREE_NODE_ID", self.name.as_str()),
            ("PHONETREE_DATA_DIR", data.as_str()),
            ("PHONETREE_SIP_ALLOW", PROXY_IP),
            ("PHONETREE_DRAIN_TIMEOUT", "30s"),
            ("PHONETREE_LOG", "phonetree=info"),
        ];
        self.engine = Some(Engine::start_named(work, log, self.sip, self.http, &env));
    }

    fn engine(&self) -> &Engine {
        self.engine.as_ref().expect("node running")
    }

    /// Calls in progress on the node.
    fn live_calls(&self, work: &Work) -> usize {
        self.engine().calls(work).len()
    }

    /// Sends `signal` to the node's process group.
    fn signal(&self, signal: &str) {
        let proc = self.engine().proc.lock().unwrap_or_else(|p| p.into_inner());
        proc.kill_group(signal);
    }

    /// Waits for the node's process to exit; its status (None: still running after `limit`).
    fn wait_exit(&self, limit: Duration) -> Option<std::process::ExitStatus> {
        let end = Instant::now() + limit;
        loop {
            let status = {
                let mut proc = self.engine().proc.lock().unwrap_or_else(|p| p.into_inner());
                proc.exit_status()
            };
            if status.is_some() || Instant::now() >= end {
                return status;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The node's inbound call records (its own SQLite register, read by the CLI).
    fn register(&self, work: &Work) -> Vec<Value> {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_phonetree"));
        cmd.args(["calls", "list", "--json", "--limit", "1000"])
            .args(["--direction", "inbound"])
            .current_dir(work.path(""));
        for (key, _) in std::env::vars() {
            if key.starts_with("PHONETREE_") {
                cmd.env_remove(&key);
            }
        }
        cmd.env("PHONETREE_DATA_DIR", &self.data);
        let out = cmd
            .output()
            .unwrap_or_else(|e| work.fail(&format!("phonetree calls list: {e}")));
        if !out.status.success() {
            work.fail(&format!(
                "phonetree calls list ({}) for {}: {}",
                out.status,
                self.name,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

/// Records that ended with the caller's BYE after a 200 (a call that went as planned).
fn completed(records: &[Value]) -> usize {
    records
        .iter()
        .filter(|r| r["sip_status"] == 200 && r["end_reason"] == "caller_hangup")
        .count()
}

/// Kamailio from `deploy/kamailio/kamailio.cfg`, its dispatcher set = the nodes.
struct Proxy {
    port: u16,
    ctl: PathBuf,
    _proc: Proc,
}

impl Proxy {
    fn start(work: &Work, nodes: &[&Node]) -> Proxy {
        let port = free_port();
        let list = work.path("dispatcher.list");
        let mut text = String::from("# set destination flags priority attributes\n");
        for n in nodes {
            text.push_str(&format!("1 sip:{} 0 0 name={}\n", n.sip, n.name));
        }
        std::fs::write(&list, text).unwrap_or_else(|e| work.fail(&format!("{e}")));
        let ctl = work.path("kamailio_ctl");
        let run_dir = work.path("kamailio-run");
        std::fs::create_dir_all(&run_dir).unwrap_or_else(|e| work.fail(&format!("{e}")));
        let cfg = root().join("deploy/kamailio/kamailio.cfg");
        let defines = [
            format!("LISTEN=udp:{PROXY_IP}:{port}"),
            format!("DS_LIST=\"{}\"", list.display()),
            format!("CTL_SOCK=\"unix:{}\"", ctl.display()),
            "DS_PING_INTERVAL=1".to_string(),
            "FR_TIMER=1500".to_string(),
            "FR_INV_TIMER=5000".to_string(),
            "WORKERS=4".to_string(),
            format!("REG_USER=\"{PBX_USER}\""),
            format!("REG_PASS=\"{PBX_PASSWORD}\""),
        ];
        let mut check = Command::new("kamailio");
        check.arg("-c").arg("-f").arg(&cfg);
        for d in &defines {
            check.args(["-A", d]);
        }
        let out = check
            .output()
            .unwrap_or_else(|e| work.fail(&format!("kamailio -c: {e}")));
        if !out.status.success() {
            work.fail(&format!(
                "kamailio refuses deploy/kamailio/kamailio.cfg:\n{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let mut cmd = Command::new("kamailio");
        cmd.arg("-f")
            .arg(&cfg)
            .args(["-DD", "-E", "-m", "256", "-Y"])
            .arg(&run_dir);
        cmd.arg("-P").arg(run_dir.join("kamailio.pid"));
        for d in &defines {
            cmd.args(["-A", d]);
        }
        let proc = Proc::spawn(work, "kamailio", &mut cmd);
        let proxy = Proxy {
            port,
            ctl,
            _proc: proc,
        };
        wait_until(
            work,
            "kamailio to answer OPTIONS",
            Duration::from_secs(10),
            || sip_probe(PROXY_IP, ([127, 0, 0, 1], port).into(), "OPTIONS") == Some(200),
        );
        proxy
    }

    fn target(&self) -> String {
        format!("{PROXY_IP}:{}", self.port)
    }

    /// `kamcmd dispatcher.list`: destination URI → flags (`AP` active + probed, `IP`
    /// inactive + probed, ...).
    fn states(&self, work: &Work) -> BTreeMap<String, String> {
        let out = Command::new("kamcmd")
            .arg("-s")
            .arg(format!("unix:{}", self.ctl.display()))
            .arg("dispatcher.list")
            .output()
            .unwrap_or_else(|e| work.fail(&format!("kamcmd: {e}")));
        let text = String::from_utf8_lossy(&out.stdout);
        let mut states = BTreeMap::new();
        let mut uri = None;
        for line in text.lines().map(str::trim) {
            if let Some(u) = line.strip_prefix("URI:") {
                uri = Some(u.trim().to_string());
            } else if let (Some(f), Some(u)) = (line.strip_prefix("FLAGS:"), uri.take()) {
                states.insert(u, f.trim().to_string());
            }
        }
        states
    }

    /// Whether `user` has a registered contact (`kamcmd ul.lookup`; kamcmd exits 0 even on
    /// RPC errors, so its output is read).
    fn has_binding(&self, work: &Work, user: &str) -> bool {
        let out = Command::new("kamcmd")
            .arg("-s")
            .arg(format!("unix:{}", self.ctl.display()))
            .args(["ul.lookup", "location", &format!("s:{user}")])
            .output()
            .unwrap_or_else(|e| work.fail(&format!("kamcmd: {e}")));
        String::from_utf8_lossy(&out.stdout).contains("Address")
    }

    /// Whether the dispatcher sends new calls to `node` (its flags start with `A`).
    fn active(&self, work: &Work, node: &Node) -> bool {
        self.states(work)
            .get(&format!("sip:{}", node.sip))
            .is_some_and(|f| f.starts_with('A'))
    }
}

/// Sends one out-of-dialog request (`OPTIONS` or `INVITE`) from `from_ip` to `to`; the final
/// status (None: none within 3 s).
fn sip_probe(from_ip: &str, to: SocketAddr, method: &str) -> Option<u16> {
    let sock = UdpSocket::bind((from_ip, 0)).ok()?;
    let local = sock.local_addr().ok()?;
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .ok()?;
    let tag = local.port();
    let (ctype, body) = if method == "INVITE" {
        let sdp = format!(
            "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
             m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
            ip = local.ip()
        );
        ("Content-Type: application/sdp\r\n", sdp)
    } else {
        ("", String::new())
    };
    // OPTIONS asks the server itself (no user part), an INVITE calls 5000.
    let user = if method == "INVITE" { "5000@" } else { "" };
    let msg = format!(
        "{method} sip:{user}{to} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-probe-{tag}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:probe@{local}>;tag=p{tag}\r\nTo: <sip:5000@{to}>\r\n\
         Call-ID: probe-{tag}@{ip}\r\nCSeq: 1 {method}\r\nContact: <sip:probe@{local}>\r\n\
         {ctype}Content-Length: {len}\r\n\r\n{body}",
        ip = local.ip(),
        len = body.len()
    );
    sock.send_to(msg.as_bytes(), to).ok()?;
    let end = Instant::now() + Duration::from_secs(3);
    let mut buf = [0u8; 4096];
    while Instant::now() < end {
        let Ok((n, _)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let text = String::from_utf8_lossy(&buf[..n]);
        let code = text
            .strip_prefix("SIP/2.0 ")
            .and_then(|t| t.get(..3))
            .and_then(|c| c.parse::<u16>().ok());
        if let Some(code) = code.filter(|c| *c >= 200) {
            return Some(code);
        }
    }
    None
}

/// A sipp load through the proxy: `calls` calls at `rate`/s, each held `hold_ms`.
fn sipp_load(work: &Work, name: &str, target: &str, calls: u32, rate: u32, hold_ms: u32) -> Proc {
    let mut cmd = Command::new("sipp");
    cmd.arg(target)
        .arg("-sf")
        .arg(script("sipp/uac_cluster.xml"))
        .args(["-s", "5000", "-i", PROXY_IP])
        .args(["-p", &free_port().to_string()])
        .args(["-mi", PROXY_IP, "-mp", &free_port().to_string()])
        .args(["-m", &calls.to_string(), "-r", &rate.to_string()])
        .args(["-l", "200", "-d", &hold_ms.to_string()])
        .args(["-timeout", "90s", "-nostdin", "-trace_err", "-trace_stat"])
        .args(["-fd", "1", "-stf"])
        .arg(work.path(&format!("{name}.csv")))
        .arg("-error_file")
        .arg(work.path(&format!("{name}.errors.log")));
    Proc::spawn(work, name, &mut cmd)
}

/// Successful and failed calls from sipp's statistics file (its last line).
fn sipp_counts(work: &Work, name: &str) -> (u64, u64) {
    let text = std::fs::read_to_string(work.path(&format!("{name}.csv"))).unwrap_or_default();
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next().unwrap_or_default().split(';').collect();
    let last: Vec<&str> = lines.next_back().unwrap_or_default().split(';').collect();
    let field = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .and_then(|i| last.get(i))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or_else(|| work.fail(&format!("sipp statistics: no {name} in\n{text}")))
    };
    (field("SuccessfulCall(C)"), field("FailedCall(C)"))
}

/// Waits for sipp to end (bounded); its (successful, failed) calls.
fn sipp_finish(work: &Work, mut sipp: Proc, name: &str, limit: Duration) -> (u64, u64) {
    if let Err(e) = sipp.wait(limit) {
        work.fail(&format!("{name}: {e}"));
    }
    sipp_counts(work, name)
}

fn errors_log(work: &Work, name: &str) -> String {
    let text =
        std::fs::read_to_string(work.path(&format!("{name}.errors.log"))).unwrap_or_default();
    text.lines().take(40).collect::<Vec<_>>().join("\n")
}

/// Polls every node's register until they hold `total` completed calls together (the register
/// is written behind the call); the per-node counts.
fn completed_per_node(work: &Work, nodes: &[&Node], total: usize) -> Vec<usize> {
    let end = Instant::now() + Duration::from_secs(15);
    loop {
        let counts: Vec<usize> = nodes.iter().map(|n| completed(&n.register(work))).collect();
        if counts.iter().sum::<usize>() >= total || Instant::now() >= end {
            return counts;
        }
        thread::sleep(Duration::from_millis(250));
    }
}

#[test]
#[cfg_attr(
    not(interop),
    ignore = "needs sipp and kamailio: build with PHONETREE_INTEROP=1 (.ci/install-deps.sh)"
)]
fn three_nodes_behind_kamailio_share_calls_survive_a_kill_and_drain_on_sigterm() {
    let _serial = serial();
    if !require(&[Peer::Sipp, Peer::Kamailio]) {
        return;
    }
    let work = Work::new();
    let mut nodes = [
        Node::start(&work, "node1"),
        Node::start(&work, "node2"),
        Node::start(&work, "node3"),
    ];
    let proxy = Proxy::start(&work, &nodes.iter().collect::<Vec<_>>());
    wait_until(
        &work,
        "the dispatcher to see all three nodes answer its OPTIONS",
        Duration::from_secs(10),
        || nodes.iter().all(|n| proxy.active(&work, n)),
    );

    // sip.allow: only the dispatcher may start calls; the nodes still answer OPTIONS to anyone.
    assert_eq!(sip_probe(STRANGER_IP, nodes[2].sip, "INVITE"), Some(403));
    assert_eq!(sip_probe(STRANGER_IP, nodes[2].sip, "OPTIONS"), Some(200));

    // Kamailio is also the registrar the PBX talks to: a wrong password is refused, the right
    // one registers (digest).
    for (password, registers) in [("wrong", false), (PBX_PASSWORD, true)] {
        let mut cmd = Command::new("sipp");
        cmd.arg(proxy.target())
            .arg("-sf")
            .arg(script("sipp/register_auth.xml"))
            .args(["-s", PBX_USER, "-au", PBX_USER, "-ap", password])
            .args(["-i", PROXY_IP, "-p", &free_port().to_string()])
            .args(["-m", "1", "-timeout", "10s", "-nostdin"]);
        let mut reg = Proc::spawn(&work, "sipp-register", &mut cmd);
        let status = reg
            .wait(Duration::from_secs(15))
            .unwrap_or_else(|e| work.fail(&e));
        assert_eq!(
            status.success(),
            registers,
            "REGISTER with password {password:?}"
        );
        assert_eq!(proxy.has_binding(&work, PBX_USER), registers);
    }

    // 1. 300 calls through Kamailio: all succeed, each node gets a fair share.
    let started = Instant::now();
    let load = sipp_load(&work, "sipp-spread", &proxy.target(), 300, 30, 1000);
    let (ok, failed) = sipp_finish(&work, load, "sipp-spread", Duration::from_secs(90));
    let spread_s = started.elapsed().as_secs_f64();
    if ok != 300 || failed != 0 {
        work.fail(&format!(
            "300 calls through kamailio: {ok} succeeded, {failed} failed\n{}",
            errors_log(&work, "sipp-spread")
        ));
    }
    let all: Vec<&Node> = nodes.iter().collect();
    let shares = completed_per_node(&work, &all, 300);
    assert_eq!(shares.iter().sum::<usize>(), 300, "per node: {shares:?}");
    for (n, share) in nodes.iter().zip(&shares) {
        assert!(
            (80..=120).contains(share),
            "{}: {share} of 300 calls (fair share 100): {shares:?}",
            n.name
        );
    }
    eprintln!(
        "figures: 300 calls at 30/s through kamailio in {spread_s:.1} s, per node {shares:?}"
    );

    // 2. A second load; node1 is killed (-9), node2 gets SIGTERM while both carry calls.
    let before: Vec<usize> = shares.clone();
    let load = sipp_load(&work, "sipp-failover", &proxy.target(), 240, 15, 2000);
    thread::sleep(Duration::from_secs(4));
    let cut = nodes[0].live_calls(&work);
    nodes[0].signal("KILL");
    let killed = Instant::now();
    let kill_ms = now_ms();
    wait_until(
        &work,
        "the dispatcher's probe to take the killed node out",
        Duration::from_secs(10),
        || !proxy.active(&work, &nodes[0]),
    );
    let probe_out = killed.elapsed();
    thread::sleep(Duration::from_secs(3));
    let draining = nodes[1].live_calls(&work);
    let term_ms = now_ms();
    nodes[1].signal("TERM");
    let termed = Instant::now();
    wait_until(
        &work,
        "the dispatcher's probe to take the draining node out (OPTIONS 503)",
        Duration::from_secs(10),
        || !proxy.active(&work, &nodes[1]),
    );
    let drain_out = termed.elapsed();
    let status = nodes[1].wait_exit(Duration::from_secs(20));
    assert!(
        status.is_some_and(|s| s.success()),
        "the drained node exits 0 once its calls end: {status:?}"
    );
    let drained_in = termed.elapsed();

    let (ok, failed) = sipp_finish(&work, load, "sipp-failover", Duration::from_secs(90));
    // Only the calls that were up on the killed node may fail (their BYE finds no one); every
    // INVITE is retried on another node, so no new call fails.
    assert_eq!(ok + failed, 240);
    if failed as usize > cut + 1 {
        work.fail(&format!(
            "{failed} calls failed; {cut} were up on the killed node\n{}",
            errors_log(&work, "sipp-failover")
        ));
    }
    // The survivor's calls all ended normally; the drained node's too, and it took none after
    // the signal (the 500 ms allow for the signal's delivery).
    // The register writes a call's last row shortly after it ends (batched): wait for them.
    let mut survivor = nodes[2].register(&work);
    let until = Instant::now() + Duration::from_secs(15);
    while survivor.iter().any(|r| r["ended_ms"].is_null()) && Instant::now() < until {
        thread::sleep(Duration::from_millis(200));
        survivor = nodes[2].register(&work);
    }
    let odd: Vec<&Value> = survivor
        .iter()
        .filter(|r| r["end_reason"] != "caller_hangup")
        .collect();
    assert!(odd.is_empty(), "calls on the survivor: {odd:?}");
    let drained = nodes[1].register(&work);
    let odd: Vec<&Value> = drained
        .iter()
        .filter(|r| r["end_reason"] != "caller_hangup")
        .collect();
    assert!(odd.is_empty(), "calls on the drained node: {odd:?}");
    let late: Vec<&Value> = drained
        .iter()
        .filter(|r| r["created_ms"].as_i64().unwrap_or(0) > term_ms + 500)
        .collect();
    assert!(late.is_empty(), "calls taken after SIGTERM: {late:?}");
    let took = |i: usize, records: &[Value]| completed(records) - before[i];
    let survivor_took = took(2, &survivor);
    // Kill → the first new call that went through (created after the kill, completed).
    let first_ok = survivor
        .iter()
        .chain(&drained)
        .filter(|r| r["end_reason"] == "caller_hangup")
        .filter_map(|r| r["created_ms"].as_i64())
        .filter(|t| *t >= kill_ms)
        .min()
        .map(|t| t - kill_ms);
    let kam_log = std::fs::read_to_string(work.path("kamailio.err")).unwrap_or_default();
    let retried = kam_log.matches("retried on node").count();
    assert!(
        survivor_took > 240 / 3,
        "the survivor took over: {survivor_took} calls"
    );
    eprintln!(
        "figures: failover: kill -9 with {cut} calls up → {failed} calls lost; probe marked it \
         out after {:.1} s; first new call set up {first_ok:?} ms after the kill; {retried} \
         INVITEs retried on another node; {ok} of 240 succeeded",
        probe_out.as_secs_f64(),
    );
    eprintln!(
        "figures: SIGTERM with {draining} calls up: probe marked it out after {:.1} s, exited 0 \
         after {:.1} s; calls: node2 {}, node3 {} (run 2)",
        drain_out.as_secs_f64(),
        drained_in.as_secs_f64(),
        took(1, &drained),
        survivor_took
    );

    // 3. The drained node comes back (an upgrade's restart): the probe takes it in again.
    nodes[1].engine = None;
    nodes[1].run(&work, "node2-restarted");
    let back = Instant::now();
    wait_until(
        &work,
        "the restarted node to be taken back in",
        Duration::from_secs(10),
        || proxy.active(&work, &nodes[1]),
    );
    eprintln!(
        "figures: restarted node back in the set after {:.1} s",
        back.elapsed().as_secs_f64()
    );
}
