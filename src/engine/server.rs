//! Wiring of `phonetree run`: binds the sockets, loads and watches the flows, starts the
//! endpoint loop, the HTTP API and the registrations, spawns a call task per INVITE, and drains
//! on shutdown. [`Shared`] is what every call task can see.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket as StdUdpSocket};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{mpsc, watch};

use super::call::{self, CallView};
use super::endpoint_loop::{self, Cmd, Hooks};
use super::media::{MediaConfig, PromptCache, PromptCacheConfig, RtpPortAllocator};
use super::sip_transport::SipTransport;
use super::{http, shutdown};
use crate::config::{Account, Config};
use crate::db::DbSlot;
use crate::flow::load::LoadOptions;
use crate::register::Register;
use crate::registry::watch::{self as reg_watch, Watcher};
use crate::registry::Registry;
use crate::sip::event::RegId;
use crate::sip::register::{RegistrationConfig, RegistrationState};
use crate::sip::{Endpoint, EndpointConfig};

/// Why the server could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum StartError {
    Bind {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    Rtp(super::media::PortError),
    FlowsDir(PathBuf),
    /// The database cannot be used (bad URL, schema newer than this binary, unwritable folder).
    Database(crate::db::DbError),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Bind { what, addr, source } => {
                write!(f, "cannot listen for {what} on {addr}: {source}")
            }
            StartError::Rtp(e) => write!(f, "RTP ports: {e}"),
            StartError::FlowsDir(p) => write!(f, "flows folder {} does not exist", p.display()),
            StartError::Database(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// One account's registration as `/api/registrations` shows it (never the password).
#[derive(Debug, Clone)]
pub struct RegView {
    pub id: Option<RegId>,
    pub account: String,
    pub state: String,
    pub detail: Option<String>,
}

/// What call routing needs to know about an account.
#[derive(Debug, Clone)]
pub struct AccountRoute {
    pub username: String,
    pub flow: Option<String>,
    /// The address its REGISTERs go to (calls for it come from there).
    pub registrar_ip: Option<IpAddr>,
}

/// What every call task and the API can see.
pub struct Shared {
    pub cfg: Config,
    pub accounts: Vec<AccountRoute>,
    pub registry: Arc<Registry>,
    pub ports: RtpPortAllocator,
    pub prompts: Arc<PromptCache>,
    pub media: MediaConfig,
    pub http: reqwest::Client,
    pub endpoint: mpsc::UnboundedSender<Cmd>,
    /// The SIP address we advertise (Via, Contact).
    pub sip_addr: SocketAddr,
    /// Where `say` writes its WAV files.
    pub tts_dir: PathBuf,
    pub calls: Mutex<BTreeMap<u64, CallView>>,
    pub regs: Mutex<Vec<RegView>>,
    /// Set at the drain deadline: calls still up hang up.
    pub hangup_all: watch::Receiver<bool>,
    /// Who may call (`sip.allow`); calls from listed sources are trusted for media.
    pub inbound: crate::policy::inbound::SharedInbound,
    pub started: SystemTime,
    /// The database (empty while it is unreachable at start).
    pub db: DbSlot,
    /// Where calls write their register records.
    pub register: Register,
}

impl Shared {
    /// The IP written in SDP for a call from `peer`.
    pub fn media_ip(&self, peer: SocketAddr) -> IpAddr {
        if let Some(a) = self.cfg.advertise {
            return a.ip;
        }
        let listen = self.cfg.sip_listen.ip();
        if !listen.is_unspecified() {
            return listen;
        }
        route_to(peer).unwrap_or(self.sip_addr.ip())
    }

    /// Calls in progress.
    pub fn active_calls(&self) -> usize {
        lock(&self.calls).len()
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every critical section is a single insert/remove/update: a poisoned table is consistent.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The local address the OS would use to reach `peer` (a route lookup: no packet is sent).
fn route_to(peer: SocketAddr) -> Option<IpAddr> {
    let bind: SocketAddr = if peer.is_ipv6() {
        "[::]:0".parse().ok()?
    } else {
        "0.0.0.0:0".parse().ok()?
    };
    let s = StdUdpSocket::bind(bind).ok()?;
    s.connect(peer).ok()?;
    Some(s.local_addr().ok()?.ip()).filter(|ip| !ip.is_unspecified())
}

/// The first non-loopback IPv4 interface address, else 127.0.0.1.
fn primary_ip() -> IpAddr {
    if_addrs::get_if_addrs()
        .ok()
        .and_then(|ifs| {
            ifs.into_iter()
                .find(|i| !i.is_loopback() && i.ip().is_ipv4())
                .map(|i| i.ip())
        })
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// Runs until `stop` resolves, then drains (503 to new calls, running calls up to
/// `drain_timeout`, unregister) and returns.
pub async fn serve(cfg: Config, stop: impl Future<Output = ()>) -> Result<(), StartError> {
    if !cfg.flows.is_dir() {
        return Err(StartError::FlowsDir(cfg.flows.clone()));
    }
    // First, so the flows' first load is counted.
    let metrics = super::exporter::install();
    let (reg_tx, reg_rx) = mpsc::unbounded_channel::<Cmd>();
    let transport = SipTransport::bind(cfg.sip_listen, reg_tx.clone())
        .await
        .map_err(|source| StartError::Bind {
            what: "SIP",
            addr: cfg.sip_listen,
            source,
        })?;
    let bound = transport.local_addr().unwrap_or(cfg.sip_listen);
    let accounts = resolve_accounts(&cfg.accounts).await;
    let inbound = super::inbound::build(&cfg).await;
    let sip_ip = match (cfg.advertise, bound.ip()) {
        (Some(a), _) => a.ip,
        (None, ip) if !ip.is_unspecified() => ip,
        _ => accounts
            .iter()
            .find_map(|(_, dest)| dest.and_then(route_to))
            .unwrap_or_else(primary_ip),
    };
    let sip_port = cfg.advertise.and_then(|a| a.port).unwrap_or(bound.port());
    let sip_addr = SocketAddr::new(sip_ip, sip_port);
    let listener = tokio::net::TcpListener::bind(cfg.http_listen)
        .await
        .map_err(|source| StartError::Bind {
            what: "HTTP",
            addr: cfg.http_listen,
            source,
        })?;
    let http_addr = listener.local_addr().unwrap_or(cfg.http_listen);
    let db = crate::db::slot::connect(&cfg.database, &cfg.node_id)
        .await
        .map_err(StartError::Database)?;
    tracing::info!(db = %cfg.database.describe(), node = %cfg.node_id, "call register");
    let register = Register::start(db.clone(), &cfg.database, &cfg.node_id);
    // RTP binds where SIP listens (all interfaces for 0.0.0.0).
    let ports =
        RtpPortAllocator::new(bound.ip(), cfg.rtp_ports.clone()).map_err(StartError::Rtp)?;

    let opts = LoadOptions {
        sound_dir: cfg.sound.clone(),
    };
    let (registry, events) = Registry::open(&cfg.flows, opts);
    let registry = Arc::new(registry);
    reg_watch::log_events(&registry, &events);
    let sound_dir = cfg.sound.clone().unwrap_or_else(|| {
        registry
            .dir()
            .parent()
            .unwrap_or(registry.dir())
            .join("sound")
    });
    let _watcher: Option<Watcher> =
        match Watcher::start(registry.clone(), &[sound_dir], reg_watch::DEBOUNCE, None) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(error = %e, "live reload is off");
                None
            }
        };
    warn_unknown_themes(&cfg, &registry);

    let (hangup_tx, hangup_rx) = watch::channel(false);
    let tts_dir = std::env::temp_dir().join(format!("phonetree-tts-{}", std::process::id()));
    let routes = accounts
        .iter()
        .map(|(a, dest)| AccountRoute {
            username: a.username.clone(),
            flow: a.flow.clone(),
            registrar_ip: dest.map(|d| d.ip()),
        })
        .collect();
    if !super::media::configure_workers(cfg.rtp_workers, cfg.rtp_priority) {
        tracing::warn!("rtp.workers ignored: the media workers were already running");
    }
    let shared = Arc::new(Shared {
        accounts: routes,
        media: MediaConfig {
            rtp_timeout: cfg.rtp_timeout,
            latching: cfg.security.rtp_latching,
            ..MediaConfig::default()
        },
        cfg,
        registry,
        ports,
        prompts: Arc::new(PromptCache::new(PromptCacheConfig::default())),
        http: super::services::http_client(),
        endpoint: reg_tx.clone(),
        sip_addr,
        tts_dir,
        calls: Mutex::new(BTreeMap::new()),
        regs: Mutex::new(Vec::new()),
        hangup_all: hangup_rx,
        inbound: inbound.clone(),
        started: SystemTime::now(),
        db,
        register,
    });
    spawn_heartbeat(&shared);
    spawn_admin_bootstrap(&shared);

    let seed = seed();
    let mut ep = Endpoint::new(EndpointConfig::new(sip_addr, seed));
    ep.set_inbound_policy(inbound);
    let hooks = hooks(shared.clone());
    let ep_task = tokio::spawn(endpoint_loop::run(ep, reg_rx, transport, hooks));
    let http_state = http::HttpState::new(shared.clone(), metrics);
    tokio::spawn(http::serve(listener, http_state));
    tracing::info!(
        sip = %bound, advertised = %sip_addr, http = %http_addr,
        flows = %shared.registry.dir().display(),
        "phonetree run: listening (SIP over UDP and TCP)"
    );
    register_accounts(&shared, accounts);

    stop.await;
    shutdown::drain(&shared, hangup_tx).await;
    let closed = shared.register.close(REGISTER_CLOSE).await;
    if closed.spilled > 0 || closed.dropped > 0 {
        tracing::warn!(
            spilled = closed.spilled,
            dropped = closed.dropped,
            "call register closed"
        );
    }
    // Speech files are per process; a failure only leaves files in the temp folder.
    let _ = std::fs::remove_dir_all(&shared.tts_dir);
    drop(shared);
    drop(reg_tx);
    ep_task.abort();
    Ok(())
}

/// A seed for SIP tags, branches and Call-IDs: std's per-process random hash keys (taken from
/// the OS) mixed with the time.
fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let t = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    h.write_u64(t);
    h.write_u32(std::process::id());
    h.finish()
}

fn hooks(shared: Arc<Shared>) -> Hooks {
    let calls = shared.clone();
    let accounts = shared.clone();
    Hooks {
        on_call: Box::new(move |inc| {
            tokio::spawn(call::run(calls.clone(), inc));
        }),
        on_account: Box::new(move |id, account| {
            let mut regs = lock(&accounts.regs);
            // An account retried after a failed lookup replaces its placeholder.
            regs.retain(|v| !(v.id.is_none() && v.account == account));
            registration_metric(&account, &RegistrationState::Registering);
            regs.push(RegView {
                id: Some(id),
                account,
                state: "registering".into(),
                detail: None,
            });
        }),
        on_registration: Box::new(move |reg, state| {
            let (label, detail) = describe(state);
            let mut regs = lock(&shared.regs);
            if let Some(v) = regs.iter_mut().find(|v| v.id == Some(reg)) {
                match state {
                    RegistrationState::Failed { .. } => {
                        tracing::warn!(account = %v.account, state = label, detail = ?detail, "registration")
                    }
                    _ => tracing::info!(account = %v.account, state = label, "registration"),
                }
                v.state = label.to_string();
                v.detail = detail;
                registration_metric(&v.account, state);
            }
        }),
    }
}

/// `phonetree_registration_status{account}`: 0 not registered, 1 registered, 2 failed.
fn registration_metric(account: &str, state: &RegistrationState) {
    let v = match state {
        RegistrationState::Registered { .. } => 1.0,
        RegistrationState::Failed { .. } => 2.0,
        _ => 0.0,
    };
    metrics::gauge!("phonetree_registration_status", "account" => account.to_string()).set(v);
}

fn describe(state: &RegistrationState) -> (&'static str, Option<String>) {
    let now = Instant::now();
    match state {
        RegistrationState::Unregistered => ("unregistered", None),
        RegistrationState::Registering => ("registering", None),
        RegistrationState::Registered { until } => (
            "registered",
            Some(format!(
                "expires in {}s",
                until.saturating_duration_since(now).as_secs()
            )),
        ),
        RegistrationState::Failed { retry_at, reason } => (
            "failed",
            Some(format!(
                "{reason}; retry in {}s",
                retry_at.saturating_duration_since(now).as_secs()
            )),
        ),
        RegistrationState::Unregistering => ("unregistering", None),
    }
}

/// Each account with the address its REGISTERs go to (outbound proxy, else registrar).
async fn resolve_accounts(accounts: &[Account]) -> Vec<(Account, Option<SocketAddr>)> {
    let mut out = Vec::new();
    for a in accounts {
        let dest = match resolve(a).await {
            Ok(d) => Some(d),
            Err(e) => {
                tracing::error!(account = %label(a), error = %e, "cannot resolve the registrar; will retry");
                None
            }
        };
        out.push((a.clone(), dest));
    }
    out
}

/// Where an account's REGISTERs go: its outbound proxy, else its registrar (port 5060).
async fn resolve(a: &Account) -> Result<SocketAddr, String> {
    let target = a.outbound_proxy.as_ref().unwrap_or(&a.registrar);
    let hostport = format!(
        "{}:{}",
        target.host.trim_matches(['[', ']']),
        target.port.unwrap_or(5060)
    );
    let found = tokio::net::lookup_host(hostport.as_str()).await;
    match found {
        Ok(mut addrs) => addrs
            .next()
            .ok_or_else(|| format!("{target} has no address")),
        Err(e) => Err(format!("{target}: {e}")),
    }
}

fn label(a: &Account) -> String {
    format!("{}@{}", a.username, a.registrar)
}

/// Starts every account's registration; an account whose registrar did not resolve at start is
/// retried in the background with the registration backoff.
fn register_accounts(shared: &Arc<Shared>, accounts: Vec<(Account, Option<SocketAddr>)>) {
    for (a, dest) in accounts {
        match dest {
            Some(dest) => start_registration(shared, &a, dest),
            None => {
                metrics::gauge!("phonetree_registration_status", "account" => label(&a)).set(2.0);
                lock(&shared.regs).push(RegView {
                    id: None,
                    account: label(&a),
                    state: "failed".into(),
                    detail: Some("cannot resolve the registrar".into()),
                });
                let shared = shared.clone();
                tokio::spawn(async move {
                    let mut delay = shared.cfg.backoff_base;
                    loop {
                        tokio::time::sleep(delay).await;
                        match resolve(&a).await {
                            Ok(dest) => {
                                shared.inbound.add(dest.ip());
                                return start_registration(&shared, &a, dest);
                            }
                            Err(e) => tracing::warn!(account = %label(&a), error = %e,
                                "cannot resolve the registrar; will retry"),
                        }
                        delay = (delay * 2).min(shared.cfg.backoff_max);
                    }
                });
            }
        }
    }
}

fn start_registration(shared: &Shared, a: &Account, dest: SocketAddr) {
    let mut rc = RegistrationConfig::new(
        dest,
        a.registrar.to_string(),
        a.username.clone(),
        a.password.clone(),
    );
    rc.transport = a.transport;
    rc.auth_username = a.auth_username.clone();
    rc.expires = a.expires;
    rc.backoff_base = shared.cfg.backoff_base;
    rc.backoff_max = shared.cfg.backoff_max;
    let label = label(a);
    tracing::info!(account = %label, registrar = %dest, "registering");
    let cmd = Cmd::Register {
        cfg: Box::new(rc),
        label,
    };
    // Fails only when the endpoint loop is gone (shutting down).
    let _ = shared.endpoint.send(cmd);
}

fn warn_unknown_themes(cfg: &Config, registry: &Registry) {
    if cfg.themes.is_empty() {
        return;
    }
    let snap = registry.snapshot();
    for t in &cfg.themes {
        let known = snap
            .flows
            .iter()
            .filter_map(|e| e.program.as_ref())
            .any(|p| p.themes.names.iter().any(|n| n == t));
        if !known {
            tracing::warn!(theme = %t, "THEMES names a theme no flow has");
        }
    }
}

/// How long the register may take to write its last records on shutdown before saving them
/// to the spill file.
pub const REGISTER_CLOSE: Duration = Duration::from_secs(5);

/// Creates the first admin once the database is open (at once, unless it was unreachable at
/// start). A generated password is printed once, on standard error, never into the log.
fn spawn_admin_bootstrap(shared: &Arc<Shared>) {
    let slot = shared.db.clone();
    let configured = shared.cfg.api.admin_password.clone();
    tokio::spawn(async move {
        let db = loop {
            match slot.get() {
                Some(db) => break db,
                None => tokio::time::sleep(Duration::from_secs(1)).await,
            }
        };
        match crate::auth::ensure_admin(&db, configured.as_ref()).await {
            Ok(crate::auth::Bootstrap::Generated(pw)) => {
                eprintln!(
                    "\nphonetree: created the dashboard user `{}` with the password\n\n    {pw}\n\n\
                     It is shown only this once. Change it with `phonetree user passwd {}`, or set \
                     PHONETREE_ADMIN_PASSWORD before the first start.\n",
                    crate::auth::ADMIN,
                    crate::auth::ADMIN
                );
                tracing::info!(
                    user = crate::auth::ADMIN,
                    "first admin created (password printed once on stderr)"
                );
            }
            Ok(crate::auth::Bootstrap::FromEnv) => {
                tracing::info!(
                    user = crate::auth::ADMIN,
                    "first admin created with PHONETREE_ADMIN_PASSWORD"
                );
            }
            Ok(crate::auth::Bootstrap::Existing) => {}
            Err(e) => tracing::error!(error = %e, "cannot create the first admin"),
        }
    });
}

/// This node's heartbeat row: live calls and loaded flow versions.
fn spawn_heartbeat(shared: &Arc<Shared>) {
    let started_ms = shared
        .started
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let weak = Arc::downgrade(shared);
    let slot = shared.db.clone();
    tokio::spawn(crate::register::maintenance::heartbeat(
        slot,
        started_ms,
        move || {
            let Some(s) = weak.upgrade() else {
                return (0, serde_json::Value::Null);
            };
            let snap = s.registry.snapshot();
            let flows: serde_json::Map<String, serde_json::Value> = snap
                .flows
                .iter()
                .filter_map(|e| e.program.as_ref())
                .map(|p| (p.name.clone(), p.hash.get(..12).unwrap_or(&p.hash).into()))
                .collect();
            (
                s.active_calls() as u64,
                serde_json::json!({ "flows": flows }),
            )
        },
    ));
}

/// How long to wait for the registrar to confirm unregistration on shutdown.
pub const UNREGISTER_WAIT: Duration = Duration::from_secs(2);
