//! Wiring of `phonetree run`: binds the sockets, loads and watches the flows, starts the
//! endpoint loop, the HTTP API and the registrations, spawns a call per INVITE, and drains on
//! shutdown.
//!
//! Nothing here is imported by a sibling: `server` builds the narrow pieces each consumer needs
//! ([`CallDeps`]/[`SipDeps`] for calls, [`Status`] for the API and the drain,
//! [`EndpointHandle`] for whoever commands the SIP endpoint) and hands them over.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::watch;

use super::call::deps::{CallDeps, ServiceDeps};
use super::call::route::{AccountRoute, Router};
use super::call::{self};
use super::endpoint_loop::{self, EndpointHandle, Hooks};
use super::leg::sip::{SipDeps, SipLeg};
use super::leg::twilio::core::CoreConfig;
use super::leg::twilio::rest::Rest;
use super::leg::twilio::TwilioDeps;
use super::leg::Leg;
use super::media::{MediaConfig, PromptCache, PromptCacheConfig, RtpPortAllocator};
use super::net::{primary_ip, route_to, MediaAddress};
use super::sip_transport::SipTransport;
use super::sip_transport_tls::{ServerNames, TlsSetup};
use super::status::{RegState, Status};
use super::twilio_http::TwilioHttp;
use super::{http, shutdown};
use crate::config::{Account, Config};
use crate::db::DbSlot;
use crate::flow::load::LoadOptions;
use crate::policy::inbound::SharedInbound;
use crate::register::Register;
use crate::registry::watch::{self as reg_watch, Watcher};
use crate::registry::Registry;
use crate::sip::register::RegistrationConfig;
use crate::sip::{Endpoint, EndpointConfig, Transport};

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
    /// `sip.tls.*`: the certificate or key cannot be used.
    Tls(String),
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
            StartError::Tls(e) => write!(f, "SIP over TLS: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// Runs until `stop` resolves, then drains (503 to new calls, running calls up to
/// `drain_timeout`, unregister) and returns.
pub async fn serve(cfg: Config, stop: impl Future<Output = ()>) -> Result<(), StartError> {
    if !cfg.flows.is_dir() {
        return Err(StartError::FlowsDir(cfg.flows.clone()));
    }
    // First, so the flows' first load is counted.
    let metrics = super::exporter::install();
    super::sip_trace::set_enabled(cfg.log.sip_trace);
    crate::sip::build::set_user_agent(cfg.limits.user_agent.clone());
    let (endpoint, inbox) = EndpointHandle::channel();
    let (datagram_tx, datagrams) = endpoint_loop::datagram_channel();
    let tls = TlsSetup::new(&cfg.tls, &certificate_names(&cfg)).map_err(StartError::Tls)?;
    let transport = SipTransport::bind_with_tls(
        cfg.sip_listen,
        datagram_tx,
        cfg.limits.tcp,
        Some((tls, cfg.tls.port)),
    )
    .await
    .map_err(|source| StartError::Bind {
        what: "SIP",
        addr: cfg.sip_listen,
        source,
    })?;
    let bound = transport.local_addr().unwrap_or(cfg.sip_listen);
    let tls_bound = transport.tls_local_addr();
    let server_names = transport.tls().map(|t| t.names.clone());
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
    tracing::info!(db = %cfg.database.describe(), node = %cfg.node_id,
        recording = cfg.database.register_enabled, "call register");
    let register = Register::start(db.clone(), &cfg.database, &cfg.node_id);
    // RTP binds where SIP listens (all interfaces for 0.0.0.0).
    let ports =
        RtpPortAllocator::new(bound.ip(), cfg.rtp_ports.clone()).map_err(StartError::Rtp)?;

    let site = Arc::new(crate::site::Site::of(&cfg));
    let opts = LoadOptions {
        sound_dir: cfg.sound.clone(),
        site: Some(site.clone()),
    };
    let (registry, events) = Registry::open(&cfg.flows, opts);
    let registry = Arc::new(registry);
    reg_watch::log_events(&registry, &events);
    if registry.snapshot().flows.is_empty() {
        tracing::warn!("{}", crate::site::empty_folder(registry.dir()));
    }
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
    let status = Arc::new(Status::new(registry.clone()));
    let deps = Arc::new(CallDeps {
        router: Router {
            accounts: routes,
            registry: registry.clone(),
        },
        transfer: Arc::new(cfg.security.transfer.clone()),
        calls: status.calls.clone(),
        register: register.clone(),
        services: services(&cfg, site.clone()),
        hangup_all: hangup_rx,
        site: site.clone(),
        redact_numbers: cfg.log.redact_numbers,
    });
    let prompts = Arc::new(PromptCache::new(PromptCacheConfig::default()));
    let twilio = Arc::new(TwilioHttp::new(
        deps.clone(),
        Arc::new(twilio_deps(&cfg, prompts.clone())),
        cfg.twilio.clone(),
    ));
    twilio.log_mode();
    let sip = Arc::new(SipDeps {
        endpoint: endpoint.clone(),
        ports,
        prompts,
        media: MediaConfig {
            rtp_timeout: cfg.rtp_timeout,
            latching: cfg.security.rtp_latching,
            inband_dtmf: cfg.limits.inband_dtmf,
            ..MediaConfig::default()
        },
        codecs: cfg.codecs.clone(),
        answer_delay: cfg.answer_delay,
        address: MediaAddress {
            advertise: cfg.advertise.map(|a| a.ip),
            listen: cfg.sip_listen.ip(),
            fallback: sip_addr.ip(),
        },
        sip_addr,
        inbound: inbound.clone(),
        srtp: cfg.srtp,
    });

    let (outbound_api, dialler_task) = start_outbound(&cfg, &db, &deps, &sip, &registry);

    let seed = seed();
    let mut ep_cfg = EndpointConfig::new(sip_addr, seed);
    ep_cfg.tls_port = tls_bound.map(|a| a.port());
    let mut ep = Endpoint::new(ep_cfg);
    ep.set_inbound_policy(inbound.clone());
    // NAT: follow the public address (STUN, the registrar's received/rport when
    // sip.learn_public_address is on) unless sip.advertise pins it.
    ep.set_follow_public_address(cfg.advertise.is_none());
    if let Some(server) = resolve_stun(&cfg.nat, bound).await {
        if cfg.advertise.is_some() {
            tracing::warn!("sip.stun_server is asked, but sip.advertise pins the address");
        }
        tracing::info!(%server, "STUN: asking for our public address");
        ep.stun_discover(server, std::time::Instant::now());
    }
    let limits = cfg.limits.policy(&cfg.rtp_ports);
    tracing::info!(
        max_calls = ?limits.max_calls,
        max_calls_per_source = ?limits.max_calls_per_source,
        rate_invite = limits.invite.per_second,
        rate_register = limits.register.per_second,
        rate_options = limits.options.per_second,
        "limits (per source: untrusted sources only; 0 = no limit)"
    );
    ep.set_limits(limits);
    let hooks = hooks(deps, sip, &status);
    let ep_task = tokio::spawn(endpoint_loop::run(ep, inbox, datagrams, transport, hooks));
    let mut http_state = http::HttpState::new(
        status.clone(),
        db.clone(),
        cfg.api.clone(),
        cfg.http_listen,
        metrics,
    )
    .with_twilio(twilio)
    .with_outbound(outbound_api);
    http_state.dash = Arc::new(dashboard(&cfg));
    tokio::spawn(http::serve(
        listener,
        http_state,
        cfg.limits.http_header_timeout,
    ));
    spawn_heartbeat(&status, &db);
    spawn_admin_bootstrap(&db, cfg.api.admin_password.clone());
    tracing::info!(
        sip = %bound, advertised = %sip_addr, http = %http_addr,
        flows = %registry.dir().display(),
        tls = %tls_bound.map_or("off".to_string(), |a| a.to_string()),
        "phonetree run: listening (SIP over UDP and TCP{})",
        if tls_bound.is_some() { ", TLS" } else { "" }
    );
    let reg = Registrar {
        endpoint: endpoint.clone(),
        status: status.clone(),
        inbound,
        backoff: (cfg.backoff_base, cfg.backoff_max),
        nat: cfg.nat.clone(),
        server_names,
    };
    reg.register_accounts(accounts);

    stop.await;
    // No new outbound attempts; those in flight end with the drain (an attempt cut off is
    // found `interrupted` by its expired lease and retried).
    dialler_task.abort();
    shutdown::drain(&endpoint, &status, cfg.drain_timeout, hangup_tx).await;
    let closed = register.close(REGISTER_CLOSE).await;
    if closed.spilled > 0 || closed.dropped > 0 {
        tracing::warn!(
            spilled = closed.spilled,
            dropped = closed.dropped,
            "call register closed"
        );
    }
    drop(reg);
    drop(endpoint);
    ep_task.abort();
    Ok(())
}

/// What Twilio legs share: the prompt cache, the REST client when there is a token.
fn twilio_deps(cfg: &Config, prompts: Arc<PromptCache>) -> TwilioDeps {
    let t = &cfg.twilio;
    TwilioDeps {
        prompts,
        stream: MediaConfig::default().stream,
        core: CoreConfig {
            idle_timeout: cfg.rtp_timeout,
            ..CoreConfig::default()
        },
        rest: t.auth_token.clone().map(|token| Rest {
            http: super::services::http_client(),
            base: t.api_base.clone(),
            account_sid: t.account_sid.clone(),
            token,
        }),
    }
}

/// What the dashboard shows of the configuration.
fn dashboard(cfg: &Config) -> http::dash::DashState {
    http::dash::DashState {
        settings: cfg.settings.clone(),
        accounts: cfg
            .accounts
            .iter()
            .map(|a| (label(a), a.flow.clone()))
            .collect(),
        // Recording files are served only from here (relative to the working folder, where
        // recordings are written; there is no `record.dir` setting yet).
        recordings: std::path::PathBuf::from("recordings"),
        logs: super::logtail::global(),
        node_id: cfg.node_id.clone(),
        ..http::dash::DashState::default()
    }
}

/// How long the register may take to write its last records on shutdown before saving them
/// to the spill file.
pub const REGISTER_CLOSE: std::time::Duration = std::time::Duration::from_secs(5);

/// This node's heartbeat row: live calls and loaded flow versions.
fn spawn_heartbeat(status: &Arc<Status>, db: &DbSlot) {
    let started_ms = status
        .started
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let status = Arc::downgrade(status);
    tokio::spawn(crate::register::maintenance::heartbeat(
        db.clone(),
        started_ms,
        move || {
            let Some(s) = status.upgrade() else {
                return (0, serde_json::Value::Null);
            };
            let snap = s.registry.snapshot();
            let flows = snap
                .flows
                .iter()
                .filter_map(|e| e.program.as_ref())
                .map(|p| (p.name.clone(), p.short_hash().to_string()))
                .collect();
            let calls = s.calls.snapshot();
            let info = super::cluster::heartbeat_info(flows, &calls);
            (calls.len() as u64, info)
        },
    ));
}

/// Creates the first admin once the database is open (at once, unless it was unreachable at
/// start). A generated password is printed once, on standard error, never into the log.
fn spawn_admin_bootstrap(slot: &DbSlot, configured: Option<crate::sip::digest::Secret>) {
    let slot = slot.clone();
    tokio::spawn(async move {
        let db = loop {
            match slot.get() {
                Some(db) => break db,
                None => tokio::time::sleep(std::time::Duration::from_secs(1)).await,
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

fn hooks(deps: Arc<CallDeps>, sip: Arc<SipDeps>, status: &Status) -> Hooks {
    let (started, changed) = (status.regs.clone(), status.regs.clone());
    Hooks {
        on_call: Box::new(move |inc| {
            let leg = Leg::Sip(SipLeg::new(inc, sip.clone()));
            tokio::spawn(call::run(deps.clone(), leg));
        }),
        on_account: Box::new(move |id, account| started.started(id, account)),
        on_registration: Box::new(move |reg, state| {
            let state = RegState::from(state);
            let Some(account) = changed.set(reg, state.clone()) else {
                return;
            };
            let detail = state.detail(std::time::Instant::now());
            match state {
                RegState::Failed { .. } => {
                    tracing::warn!(%account, state = state.label(), detail = ?detail, "registration")
                }
                _ => tracing::info!(%account, state = state.label(), "registration"),
            }
        }),
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

/// `sip.stun_server` resolved to an address of the SIP socket's family (`None`, logged, when
/// it does not resolve: phonetree runs without it).
async fn resolve_stun(
    nat: &crate::config::nat::NatConfig,
    bound: SocketAddr,
) -> Option<SocketAddr> {
    let (host, port) = nat.stun_server.as_ref()?;
    match tokio::net::lookup_host((host.as_str(), *port)).await {
        Ok(addrs) => {
            let addrs: Vec<SocketAddr> = addrs.collect();
            let found = addrs
                .iter()
                .find(|a| a.is_ipv4() == bound.is_ipv4())
                .or(addrs.first())
                .copied();
            if found.is_none() {
                tracing::warn!(server = %host, "STUN: the server has no address");
            }
            found
        }
        Err(e) => {
            tracing::warn!(server = %host, error = %e, "STUN: cannot resolve the server");
            None
        }
    }
}

/// Where an account's REGISTERs go: its outbound proxy, else its registrar (port 5060, 5061
/// over TLS).
async fn resolve(a: &Account) -> Result<SocketAddr, String> {
    let target = a.outbound_proxy.as_ref().unwrap_or(&a.registrar);
    let hostport = format!(
        "{}:{}",
        target.host.trim_matches(['[', ']']),
        target.port.unwrap_or(a.transport.default_port())
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

/// The names a self-signed TLS certificate is made for: the advertised or listening address,
/// else this host's primary address.
fn certificate_names(cfg: &Config) -> Vec<String> {
    let ip = match (cfg.advertise, cfg.sip_listen.ip()) {
        (Some(a), _) => a.ip,
        (None, ip) if !ip.is_unspecified() => ip,
        _ => primary_ip(),
    };
    vec![ip.to_string()]
}

/// Starts the accounts' registrations.
struct Registrar {
    endpoint: EndpointHandle,
    status: Arc<Status>,
    /// A registrar resolved late becomes a trusted source of calls.
    inbound: SharedInbound,
    /// Retry delays for a registrar that does not resolve (first, longest).
    backoff: (std::time::Duration, std::time::Duration),
    /// Public-address learning and keep-alives (`sip.learn_public_address`,
    /// `sip.keepalive_interval`).
    nat: crate::config::nat::NatConfig,
    /// Where TLS registrars' host names are remembered for their certificate check.
    server_names: Option<Arc<ServerNames>>,
}

impl Registrar {
    /// Starts every account's registration; an account whose registrar did not resolve at
    /// start is retried in the background with the registration backoff.
    fn register_accounts(&self, accounts: Vec<(Account, Option<SocketAddr>)>) {
        for (a, dest) in accounts {
            match dest {
                Some(dest) => self.start(&a, dest),
                None => {
                    self.status.regs.placeholder(&label(&a));
                    let me = Registrar {
                        endpoint: self.endpoint.clone(),
                        status: self.status.clone(),
                        inbound: self.inbound.clone(),
                        backoff: self.backoff,
                        nat: self.nat.clone(),
                        server_names: self.server_names.clone(),
                    };
                    tokio::spawn(async move {
                        let (mut delay, max) = me.backoff;
                        loop {
                            tokio::time::sleep(delay).await;
                            match resolve(&a).await {
                                Ok(dest) => {
                                    me.inbound.add(dest.ip());
                                    return me.start(&a, dest);
                                }
                                Err(e) => tracing::warn!(account = %label(&a), error = %e,
                                    "cannot resolve the registrar; will retry"),
                            }
                            delay = (delay * 2).min(max);
                        }
                    });
                }
            }
        }
    }

    fn start(&self, a: &Account, dest: SocketAddr) {
        let mut rc = RegistrationConfig::new(
            dest,
            a.registrar.to_string(),
            a.username.clone(),
            a.password.clone(),
        );
        rc.transport = a.transport;
        if let (Transport::Tls, Some(names)) = (a.transport, &self.server_names) {
            let hop = a.outbound_proxy.as_ref().unwrap_or(&a.registrar);
            names.remember(dest, &hop.host);
        }
        rc.auth_username = a.auth_username.clone();
        rc.expires = a.expires;
        (rc.backoff_base, rc.backoff_max) = self.backoff;
        rc.learn_public = self.nat.learn_public_address;
        rc.keepalive = self.nat.keepalive_interval;
        let label = label(a);
        tracing::info!(account = %label, registrar = %dest, "registering");
        self.endpoint.register(rc, label);
    }
}

/// The speech recognizers (PocketSphinx loads its model now), with the reason logged for the
/// default engine when it cannot run.
fn asr_engines(
    cfg: &Config,
    openai: Option<crate::asr::engines::OpenAiRecognizer>,
) -> crate::asr::engines::Engines {
    let mut engines = crate::asr::engines::Engines::start(&cfg.asr);
    if let Some(make) = openai {
        engines = engines.with_openai(make);
    }
    match engines.problem(cfg.asr.engine) {
        Some(why) => tracing::warn!(engine = cfg.asr.engine.as_str(), "listen: {why}"),
        None => tracing::info!(
            engine = cfg.asr.engine.as_str(),
            "listen: speech recognition ready"
        ),
    }
    engines
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

/// The side requests' clients: webhooks, TTS engines and their cache, voice agents.
fn services(cfg: &Config, site: Arc<crate::site::Site>) -> ServiceDeps {
    let http = super::services::http_client();
    let openai = Arc::new(cfg.openai.clone());
    if openai.temperature.is_some() {
        tracing::warn!(
            "openai.temperature (OPENAI_TEMPERATURE) is not sent: the GA Realtime API has no \
             temperature"
        );
    }
    if openai.api_key.is_none() {
        tracing::info!("no OPENAI_API_KEY: agent nodes will take their on_error branch");
    }
    // `listen` on the `openai` engine: the Realtime transcription session, plugged into the
    // one recognizer interface.
    let asr = asr_engines(
        cfg,
        super::agent::transcribe::engine(openai.clone(), http.clone()),
    );
    ServiceDeps {
        http: http.clone(),
        tts: super::tts::Tts::new(cfg.tts.clone(), cfg.openai.clone(), http.clone()),
        agent: super::integrations::agent::AgentDeps { openai, http },
        site,
        asr,
        record_dir: cfg.record.dir.clone(),
    }
}

/// Starts the outbound dialler (claiming jobs from the database) and returns what the HTTP
/// routes need, with the dialler's task.
fn start_outbound(
    cfg: &Config,
    db: &DbSlot,
    deps: &Arc<CallDeps>,
    sip: &Arc<SipDeps>,
    registry: &Arc<crate::registry::Registry>,
) -> (
    Arc<super::http::outbound::OutboundApi>,
    tokio::task::JoinHandle<()>,
) {
    use crate::outbound::dbstore::DbStore;
    use crate::outbound::dialler::{Dialler, DiallerConfig};
    let placer = Arc::new(super::outbound::EnginePlacer {
        sip: sip.clone(),
        calls: deps.clone(),
        registry: registry.clone(),
        accounts: cfg.accounts.clone(),
        sms: cfg.sms.clone(),
        http: super::services::http_client(),
    });
    let o = &cfg.outbound;
    let dialler = Dialler::new(
        Arc::new(DbStore(
            db.clone(),
            crate::db::limits::ClusterLimits {
                max_concurrent: cfg.outbound.max_concurrent,
                rate: cfg.outbound.rate,
            },
        )),
        placer,
        DiallerConfig {
            max_concurrent: o.max_concurrent,
            rate: o.rate,
            lease: o.lease,
            poll: std::time::Duration::from_millis(500),
            allow: o.allow.clone(),
        },
    );
    let wake = dialler.waker();
    let schedules_wake = Arc::new(tokio::sync::Notify::new());
    let schedules = tokio::spawn(crate::outbound::scheduler::run(
        db.clone(),
        o.defaults.clone(),
        o.schedule_catchup,
        schedules_wake.clone(),
        wake.clone(),
    ));
    let dialler_task = dialler.run();
    let task = tokio::spawn(async move {
        // Aborting the dialler stops the schedules too (no job created during the drain).
        let _stop = AbortOnDrop(schedules);
        dialler_task.await
    });
    tokio::spawn(queue_depth(db.clone()));
    let accounts = cfg
        .accounts
        .iter()
        .enumerate()
        .map(|(i, a)| {
            vec![
                i.to_string(),
                a.username.clone(),
                format!("{}@{}", a.username, a.registrar),
            ]
        })
        .collect();
    let api = Arc::new(super::http::outbound::OutboundApi {
        cfg: o.clone(),
        rules: cfg.alert_rules.clone(),
        registry: registry.clone(),
        accounts,
        wake,
        schedules_wake,
    });
    (api, task)
}

/// Aborts the task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// `phonetree_outbound_queue_depth`: jobs waiting, refreshed every few seconds.
async fn queue_depth(db: DbSlot) {
    loop {
        if let Some(db) = db.get() {
            if let Ok(n) = db.count_jobs(crate::db::jobs::JobState::Queued).await {
                metrics::gauge!("phonetree_outbound_queue_depth").set(n as f64);
            }
        }
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    }
}
