//! `phonetree run` configuration: `phonetree.yaml`, `PHONETREE_*` environment variables (plus the
//! seed projects' `SIP_*`/`CODEC`/`THEMES` aliases, and a `.env` file) and command-line flags,
//! merged in that order (later wins) into one typed [`Config`].
//!
//! Two stages, like the flow pipeline: [`layer`] flattens each source to `key → text` with its
//! origin; `build` parses the merged text into typed values and collects every problem (no
//! early return). YAML problems are [`Diagnostic`]s at their line and column, so `phonetree
//! validate` reports them like flow problems ([`check_file`]).
//!
//! Secrets: passwords are [`Secret`]s from the moment they are parsed; no message, `Debug`
//! output or API response contains one. Not owned here: resolving host names (the engine does
//! it when it registers) and choosing the advertised address when none is configured.

pub mod alerts;
pub mod api;
pub mod asr;
pub mod capabilities;
pub mod database;
pub mod effective;
pub mod environment;
pub mod layer;
pub mod limits;
pub mod log;
pub mod nat;
pub mod node;
pub mod openai;
pub mod outbound;
pub mod record;
pub mod security;
pub mod sms;
pub mod srtp;
pub mod tls;
pub mod tts;
pub mod twilio;

/// Sources for the section tests: only environment variables, or only a `phonetree.yaml` text.
#[cfg(test)]
pub(crate) mod test_sources {
    use std::path::PathBuf;

    use super::Sources;

    pub fn env(vars: &[(&str, &str)]) -> Sources {
        Sources {
            env: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Sources::default()
        }
    }

    pub fn yaml(text: &str) -> Sources {
        Sources {
            file: Some((text.into(), PathBuf::from("p.yaml"))),
            ..Sources::default()
        }
    }
}

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use crate::engine::media::MediaPriority;
use crate::flow::diag::{Diagnostic, Pos};
use crate::flow::duration::parse_duration;
use crate::sdp::Codec;
use crate::sip::digest::Secret;
use crate::sip::Transport;

pub use layer::{Layer, Origin, Raw};

/// The configuration `phonetree run` works from.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// UDP and TCP SIP listener.
    pub sip_listen: SocketAddr,
    /// Address written in Via/Contact/SDP; `None` = worked out at start.
    pub advertise: Option<Advertise>,
    /// Ring (180) this long before answering; 0 answers at once.
    pub answer_delay: Duration,
    pub http_listen: SocketAddr,
    pub flows: PathBuf,
    /// `None` = `sound/` beside the flows folder (the flow loader's rule).
    pub sound: Option<PathBuf>,
    pub rtp_ports: RangeInclusive<u16>,
    pub rtp_timeout: Duration,
    /// Media worker threads; `None` = one per core.
    pub rtp_workers: Option<usize>,
    /// Scheduling priority asked for the media threads.
    pub rtp_priority: MediaPriority,
    /// Codec preference order for SDP answers and offers.
    pub codecs: Vec<Codec>,
    /// Preferred starting theme order: a call starts in the first of these its flow has.
    pub themes: Vec<String>,
    pub drain_timeout: Duration,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub accounts: Vec<Account>,
    /// `sip.allow`, `sip.reject`, `rtp.latching`, `transfer.allow` (docs/security.md).
    pub security: security::Security,
    /// `srtp: off | optional | required` (SDES-SRTP; docs/security.md).
    pub srtp: crate::sdp::SrtpPolicy,
    /// The `openai:` section (agents, the `openai` recognizer and TTS engine).
    pub openai: openai::OpenAiConfig,
    /// The `tts:` section (`say` engines and their cache).
    pub tts: tts::TtsConfig,
    /// The call register's database (`database.*`, `register.*`, `data_dir`).
    pub database: database::DatabaseConfig,
    /// API tokens, auth mode, sessions (`api.*`).
    pub api: api::ApiConfig,
    /// `node.id`: the name stamped on this process's records.
    pub node_id: String,
    /// `log:` (config/log.rs).
    pub log: log::LogConfig,
    /// `max_calls`, per-source limits and rates, `sip.user_agent`, `http.header_timeout`,
    /// `rtp.inband_dtmf` (config/limits.rs).
    pub limits: limits::LimitsConfig,
    /// The process environment plus `.env`: what flows' `env:` names read.
    pub env: environment::Environment,
    /// The `twilio:` section (calls arriving as Twilio Media Streams).
    pub twilio: twilio::TwilioConfig,
    /// Every setting with its origin, secrets masked (the dashboard's settings page).
    pub settings: Vec<effective::Setting>,
    /// `outbound.*`: limits, defaults and allow-list of outbound calls.
    pub outbound: outbound::OutboundConfig,
    /// `alerts.rules`: Alertmanager routing.
    pub alert_rules: Vec<crate::alerts::rules::AlertRule>,
    /// `sms.*` (`None`: no provider).
    pub sms: Option<crate::sms::SmsConfig>,
    /// The `asr:` section (`listen` recognizers).
    pub asr: asr::AsrConfig,
    /// The `record:` section (`record` nodes).
    pub record: record::RecordConfig,
    /// NAT: `sip.learn_public_address`, `sip.keepalive_interval`, `sip.stun_server`.
    pub nat: nat::NatConfig,
    /// `sip.tls.*`: SIP over TLS (config/tls.rs).
    pub tls: tls::TlsConfig,
}

/// The public address to advertise (an IP; the SIP port defaults to the listen port).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Advertise {
    pub ip: IpAddr,
    pub port: Option<u16>,
}

/// `host[:port]` as configured (resolved when used).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub host: String,
    pub port: Option<u16>,
}

/// One account to register with a PBX or registrar.
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    /// The registrar / SIP domain (`pbx.example.com:5070`).
    pub registrar: HostPort,
    pub username: String,
    pub auth_username: Option<String>,
    pub password: Secret,
    /// Where REGISTERs are sent instead of the registrar, if set.
    pub outbound_proxy: Option<HostPort>,
    pub expires: Duration,
    pub transport: Transport,
    /// The flow (by `name`) this account's calls go to; `None` = routes, then the default flow.
    pub flow: Option<String>,
}

/// Command-line overrides (the `run` flags).
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub sip: Option<String>,
    pub http: Option<String>,
    pub flows: Option<PathBuf>,
    pub sound: Option<PathBuf>,
    pub rtp_ports: Option<String>,
    pub advertise: Option<String>,
    pub log_level: Option<String>,
    pub log_format: Option<log::LogFormat>,
}

/// The diagnostic code of a bad setting, in `run`'s messages and `validate`'s diagnostics alike.
pub const CODE_BAD_VALUE: &str = "config.bad_value";

/// Every problem found, each at its origin. Never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub problems: Vec<Problem>,
}

/// One bad value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub origin: Option<Origin>,
    pub key: String,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The same code as `phonetree validate` gives the problem (`config.bad_value`).
        let code = CODE_BAD_VALUE;
        match &self.origin {
            Some(Origin::Yaml { .. }) => write!(f, "{}", self.to_diagnostic())?,
            Some(Origin::Env(name)) => write!(
                f,
                "environment variable {name}: error[{code}]: {}",
                self.message
            )?,
            Some(Origin::Flag(flag)) => write!(f, "{flag}: error[{code}]: {}", self.message)?,
            None => write!(f, "configuration: error[{code}]: {}", self.message)?,
        }
        if !matches!(self.origin, Some(Origin::Yaml { .. })) {
            if let Some(h) = &self.hint {
                write!(f, "\n  = hint: {h}")?;
            }
        }
        Ok(())
    }
}

impl Problem {
    /// As a diagnostic (`phonetree validate`); non-file origins point at the start of the file.
    pub fn to_diagnostic(&self) -> Diagnostic {
        let (path, pos) = match &self.origin {
            Some(Origin::Yaml { path, pos }) => (path.clone(), *pos),
            _ => (PathBuf::from("phonetree.yaml"), Pos::START),
        };
        Diagnostic::error(path, pos, CODE_BAD_VALUE, self.message.clone())
            .with_hint_opt(self.hint.clone())
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(p) if self.host.contains(':') => write!(f, "[{}]:{p}", self.host),
            Some(p) => write!(f, "{}:{p}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

/// Where the configuration comes from. `Debug` lists variable names only (values may be
/// secrets).
#[derive(Clone, Default)]
pub struct Sources {
    /// `phonetree.yaml` text and its path, if there is one.
    pub file: Option<(String, PathBuf)>,
    /// Environment variables (the process's plus `.env`).
    pub env: std::collections::BTreeMap<String, String>,
    pub flags: Flags,
}

impl fmt::Debug for Sources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sources")
            .field("file", &self.file.as_ref().map(|(_, p)| p))
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .field("flags", &self.flags)
            .finish()
    }
}

/// Merges the sources and builds the configuration, or returns every problem.
pub fn load(sources: &Sources) -> Result<Config, ConfigError> {
    let mut merged = Layer::new();
    let mut problems = Vec::new();
    if let Some((text, path)) = &sources.file {
        let (layer, diags) = layer::yaml_layer(text, path);
        problems.extend(
            diags
                .into_iter()
                .filter(Diagnostic::is_error)
                .map(|d| Problem {
                    origin: Some(Origin::Yaml {
                        path: d.path.clone(),
                        pos: d.pos(),
                    }),
                    key: String::new(),
                    message: d.message,
                    hint: d.hint,
                }),
        );
        merged.extend(layer);
    }
    merged.extend(layer::env_layer(&sources.env));
    merged.extend(flag_layer(&sources.flags));
    let mut cfg = build(&merged, problems)?;
    cfg.env = environment::Environment::new(sources.env.clone());
    cfg.settings = effective::settings(&merged, &cfg);
    Ok(cfg)
}

/// Checks a `phonetree.yaml` on its own (for `phonetree validate`): every problem as a
/// diagnostic, environment ignored.
pub fn check_file(path: &Path) -> Vec<Diagnostic> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            return vec![Diagnostic::error(
                path,
                Pos::START,
                "config.unreadable",
                format!("cannot read {}: {e}", path.display()),
            )]
        }
    };
    let (layer, mut diags) = layer::yaml_layer(&text, path);
    if let Err(e) = build(&layer, Vec::new()) {
        diags.extend(e.problems.iter().map(Problem::to_diagnostic));
    }
    diags
}

fn flag_layer(flags: &Flags) -> Layer {
    let mut l = Layer::new();
    let mut set = |key: &str, flag: &'static str, text: Option<String>| {
        if let Some(text) = text {
            l.insert(
                key.to_string(),
                Raw {
                    text,
                    origin: Origin::Flag(flag),
                },
            );
        }
    };
    set("sip.listen", "--sip", flags.sip.clone());
    set("http.listen", "--http", flags.http.clone());
    let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.to_string_lossy().into_owned());
    set("flows", "--flows", path(&flags.flows));
    set("sound", "--sound", path(&flags.sound));
    set("rtp.ports", "--rtp-ports", flags.rtp_ports.clone());
    set("sip.advertise", "--advertise", flags.advertise.clone());
    set("log.level", "--log-level", flags.log_level.clone());
    let format = flags.log_format.map(|f| match f {
        log::LogFormat::Text => "text".to_string(),
        log::LogFormat::Json => "json".to_string(),
    });
    set("log.format", "--log-format", format);
    l
}

/// The typed configuration from a merged layer.
fn build(l: &Layer, mut problems: Vec<Problem>) -> Result<Config, ConfigError> {
    let mut b = Builder {
        l,
        problems: &mut problems,
    };
    let mut sip_listen = b.parse("sip.listen", parse_listen(5060), default_sip());
    if let Some(port) = b.get("sip.listen_port") {
        match port.text.parse::<u16>() {
            Ok(p) if p != 0 => sip_listen.set_port(p),
            _ => b.problem(
                port,
                "sip.listen",
                "SIP_TRANSPORT_PORT must be a port number",
            ),
        }
    }
    let advertise = b.parse_opt("sip.advertise", parse_advertise);
    let answer_delay = b.duration("sip.answer_delay", dur, Duration::ZERO);
    let http_listen = b.parse(
        "http.listen",
        parse_listen(8080),
        SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)),
    );
    let flows = b.parse("flows", |s| Ok(PathBuf::from(s)), PathBuf::from("flows"));
    let sound = b.parse_opt("sound", |s| Ok(PathBuf::from(s)));
    let rtp_ports = b.parse("rtp.ports", parse_ports, 10000..=20000);
    let rtp_timeout = b.duration("rtp.timeout", dur, Duration::from_secs(30));
    let rtp_workers = b.parse_opt("rtp.workers", parse_workers).flatten();
    let rtp_priority = b.parse("rtp.priority", parse_priority, MediaPriority::Realtime);
    let mut codecs = b.parse("codecs", parse_codecs, Codec::ALL.to_vec());
    if let Some(first) = b.get("codecs.first") {
        match Codec::from_name(codec_token(&first.text)) {
            Some(c) => {
                codecs.retain(|&x| x != c);
                codecs.insert(0, c);
            }
            None => b.problem(first, "codecs", &unknown_codec(&first.text)),
        }
    }
    let themes = b.parse("themes", |s| Ok(list(s)), Vec::new());
    let drain_timeout = b.duration("drain_timeout", dur, Duration::from_secs(30));
    let backoff_base = b.duration("registration.backoff_base", dur, Duration::from_secs(2));
    let backoff_max = b.duration("registration.backoff_max", dur, Duration::from_secs(60));
    let accounts = b.accounts();
    let tls = tls::build(
        &mut b,
        accounts.iter().any(|a| a.transport == Transport::Tls),
    );
    let security = security::build(&mut b);
    let srtp = srtp::build(&mut b);
    let twilio = twilio::build(&mut b);
    let openai = openai::build(&mut b);
    let tts = tts::build(&mut b);
    let asr = asr::build(&mut b);
    let record = record::build(&mut b);
    let nat = nat::build(&mut b);
    let limits = limits::build(&mut b);
    let database = database::build(&mut b);
    let api = api::build(&mut b);
    let node_id = node::build(&mut b);
    let outbound = outbound::build(&mut b);
    let alert_rules = alerts::build(&mut b);
    let sms = sms::build(&mut b);
    let log = log::build(l, &mut problems);
    if problems.is_empty() {
        Ok(Config {
            sip_listen,
            advertise,
            answer_delay,
            http_listen,
            flows,
            sound,
            rtp_ports,
            rtp_timeout,
            rtp_workers,
            rtp_priority,
            codecs,
            themes,
            drain_timeout,
            backoff_base,
            backoff_max,
            accounts,
            security,
            srtp,
            twilio,
            openai,
            tts,
            database,
            api,
            node_id,
            log,
            limits,
            env: environment::Environment::default(),
            settings: Vec::new(),
            outbound,
            alert_rules,
            sms,
            asr,
            record,
            nat,
            tls,
        })
    } else {
        Err(ConfigError { problems })
    }
}

fn parse_priority(s: &str) -> Result<MediaPriority, String> {
    match s.to_ascii_lowercase().as_str() {
        "realtime" => Ok(MediaPriority::Realtime),
        "high" => Ok(MediaPriority::High),
        "normal" => Ok(MediaPriority::Normal),
        _ => Err(format!(
            "expected `realtime`, `high` or `normal`, got `{s}`"
        )),
    }
}

/// `auto` or `0` = one per core, else 1..=64.
fn parse_workers(s: &str) -> Result<Option<usize>, String> {
    if s.eq_ignore_ascii_case("auto") {
        return Ok(None);
    }
    match s.parse::<usize>() {
        Ok(0) => Ok(None),
        Ok(n) if n <= 64 => Ok(Some(n)),
        _ => Err(format!(
            "expected `auto` or a number of threads from 1 to 64, got `{s}`"
        )),
    }
}

struct Builder<'a> {
    l: &'a Layer,
    problems: &'a mut Vec<Problem>,
}

impl<'a> Builder<'a> {
    fn get(&self, key: &str) -> Option<&'a Raw> {
        self.l.get(key)
    }

    fn problem(&mut self, raw: &Raw, key: &str, message: &str) {
        self.problems.push(Problem {
            origin: Some(raw.origin.clone()),
            key: key.to_string(),
            message: message.to_string(),
            hint: None,
        });
    }

    fn parse<T>(&mut self, key: &str, f: impl Fn(&str) -> Result<T, String>, default: T) -> T {
        self.parse_opt(key, f).unwrap_or(default)
    }

    fn parse_opt<T>(&mut self, key: &str, f: impl Fn(&str) -> Result<T, String>) -> Option<T> {
        self.parse_hinted(key, |s| f(s).map_err(Bad::from))
    }

    /// A duration setting (`dur`), or `default`.
    fn duration(
        &mut self,
        key: &str,
        f: fn(&str) -> Result<Duration, Bad>,
        default: Duration,
    ) -> Duration {
        self.parse_hinted(key, f).unwrap_or(default)
    }

    fn parse_hinted<T>(&mut self, key: &str, f: impl Fn(&str) -> Result<T, Bad>) -> Option<T> {
        let raw = self.l.get(key)?;
        match f(raw.text.trim()) {
            Ok(v) => Some(v),
            Err(bad) => {
                // Secrets are never echoed: the message names the key, not the value.
                let (message, hint) = if layer::is_secret(key) {
                    (format!("`{key}` is invalid"), None)
                } else {
                    (format!("`{key}`: {}", bad.message), bad.hint)
                };
                self.problems.push(Problem {
                    origin: Some(raw.origin.clone()),
                    key: key.to_string(),
                    message,
                    hint,
                });
                None
            }
        }
    }

    fn accounts(&mut self) -> Vec<Account> {
        let mut indices: Vec<usize> = self
            .l
            .keys()
            .filter_map(|k| k.strip_prefix("accounts.")?.split('.').next()?.parse().ok())
            .collect();
        indices.dedup();
        indices.sort_unstable();
        indices.dedup();
        let mut out = Vec::new();
        for i in indices {
            let k = |f: &str| format!("accounts.{i}.{f}");
            // `sips:host` / `host;transport=tls` (config::tls) ask for a transport.
            let registrar =
                self.parse_opt(&k("registrar"), |s| parse_hostport(tls::registrar_uri(s).0));
            let asked = |key: &str| {
                self.get(&k(key))
                    .and_then(|r| tls::registrar_uri(&r.text).1)
            };
            let uri_transport = asked("outbound_proxy").or_else(|| asked("registrar"));
            let username = self.parse_opt(&k("username"), nonempty);
            let password = self
                .l
                .get(&k("password"))
                .map(|r| Secret::new(r.text.clone()));
            let auth_username = self.parse_opt(&k("auth_username"), nonempty);
            let outbound_proxy = self.parse_opt(&k("outbound_proxy"), |s| {
                parse_hostport(tls::registrar_uri(s).0)
            });
            let expires = self.duration(&k("expires"), parse_expires, Duration::from_secs(3600));
            let transport = self
                .parse_opt(&k("transport"), parse_transport)
                .or(uri_transport)
                .unwrap_or(Transport::Udp);
            let flow = self.parse_opt(&k("flow"), nonempty);
            let any = self
                .l
                .iter()
                .find(|(key, _)| key.starts_with(&format!("accounts.{i}.")))
                .map(|(_, r)| r.clone());
            let missing: Vec<&str> = [
                ("registrar (SIP_DOMAIN)", registrar.is_none()),
                ("username (SIP_USERNAME)", username.is_none()),
                ("password (SIP_PASSWORD)", password.is_none()),
            ]
            .into_iter()
            .filter_map(|(name, miss)| miss.then_some(name))
            .collect();
            if !missing.is_empty() {
                if let Some(raw) = any {
                    self.problem(
                        &raw,
                        &format!("accounts.{i}"),
                        &format!("account {} is missing {}", i + 1, missing.join(", ")),
                    );
                }
                continue;
            }
            if let (Some(registrar), Some(username), Some(password)) =
                (registrar, username, password)
            {
                out.push(Account {
                    registrar,
                    username,
                    auth_username,
                    password,
                    outbound_proxy,
                    expires,
                    transport,
                    flow,
                });
            }
        }
        out
    }
}

fn default_sip() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::UNSPECIFIED, 5060))
}

/// `IP:PORT`, a bare IP (default port) or a bare port (all interfaces).
fn parse_listen(default_port: u16) -> impl Fn(&str) -> Result<SocketAddr, String> {
    move |s| {
        if let Ok(a) = s.parse::<SocketAddr>() {
            return Ok(a);
        }
        if let Ok(ip) = s.trim_matches(['[', ']']).parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, default_port));
        }
        if let Ok(port) = s.parse::<u16>() {
            return Ok(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)));
        }
        Err(format!(
            "`{s}` is not an address (write IP:PORT, e.g. 0.0.0.0:{default_port})"
        ))
    }
}

fn parse_advertise(s: &str) -> Result<Advertise, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(Advertise {
            ip: a.ip(),
            port: Some(a.port()),
        });
    }
    s.trim_matches(['[', ']'])
        .parse::<IpAddr>()
        .map(|ip| Advertise { ip, port: None })
        .map_err(|_| format!("`{s}` is not an IP address (optionally with :PORT)"))
}

/// `host`, `host:port`, `[v6]:port`; a `sip:` prefix is tolerated.
pub fn parse_hostport(s: &str) -> Result<HostPort, String> {
    let s = s.trim();
    let s = s.strip_prefix("sip:").unwrap_or(s);
    if s.is_empty() || s.contains(['/', '@', ' ']) {
        return Err(format!("`{s}` is not a host or host:port"));
    }
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(HostPort {
            host: a.ip().to_string(),
            port: Some(a.port()),
        });
    }
    if s.parse::<IpAddr>().is_ok() {
        return Ok(HostPort {
            host: s.to_string(),
            port: None,
        });
    }
    match s.rsplit_once(':') {
        Some((host, port)) => match port.parse::<u16>() {
            Ok(p) if p != 0 && !host.is_empty() => Ok(HostPort {
                host: host.to_string(),
                port: Some(p),
            }),
            _ => Err(format!("`{s}`: bad port")),
        },
        None => Ok(HostPort {
            host: s.to_string(),
            port: None,
        }),
    }
}

fn parse_ports(s: &str) -> Result<RangeInclusive<u16>, String> {
    let (lo, hi) = s
        .split_once('-')
        .ok_or_else(|| format!("`{s}` is not a range (write 10000-20000)"))?;
    let lo: u16 = lo.trim().parse().map_err(|_| format!("`{s}`: bad port"))?;
    let hi: u16 = hi.trim().parse().map_err(|_| format!("`{s}`: bad port"))?;
    if lo == 0 || lo >= hi {
        return Err(format!(
            "`{s}`: the range must be two ports, low-high, with room for one even port pair"
        ));
    }
    Ok(lo..=hi)
}

/// A value that could not be parsed: what is wrong, and how to fix it if we know.
struct Bad {
    message: String,
    hint: Option<String>,
}

impl From<String> for Bad {
    fn from(message: String) -> Bad {
        Bad {
            message,
            hint: None,
        }
    }
}

/// A duration, in exactly the forms flows accept (`crate::flow::duration`): a bare number is
/// refused with the same hint (`30` → write `30s`).
fn dur(s: &str) -> Result<Duration, Bad> {
    parse_duration(s).map_err(|e| Bad {
        message: format!("`{s}` is not a duration ({e})"),
        hint: Some(crate::flow::duration::hint(s)),
    })
}

fn parse_expires(s: &str) -> Result<Duration, Bad> {
    let d = dur(s)?;
    if d < Duration::from_secs(30) {
        return Err(format!("`{s}`: registrations need at least 30s").into());
    }
    Ok(d)
}

fn parse_transport(s: &str) -> Result<Transport, String> {
    Transport::from_token(s).ok_or_else(|| format!("`{s}`: transport must be udp, tcp or tls"))
}

/// `PCMU/8000` → `PCMU`, `opus/48000/2` → `opus`.
fn codec_token(s: &str) -> &str {
    s.trim().split('/').next().unwrap_or_default()
}

fn unknown_codec(s: &str) -> String {
    format!("unknown codec `{}` (known: pcmu, pcma, opus)", s.trim())
}

fn parse_codecs(s: &str) -> Result<Vec<Codec>, String> {
    let mut out = Vec::new();
    for name in list(s) {
        let c = Codec::from_name(codec_token(&name)).ok_or_else(|| unknown_codec(&name))?;
        if !out.contains(&c) {
            out.push(c);
        }
    }
    if out.is_empty() {
        return Err("at least one codec is needed".into());
    }
    Ok(out)
}

/// Comma- or space-separated names.
fn list(s: &str) -> Vec<String> {
    s.split([',', ' ', ';'])
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

fn nonempty(s: &str) -> Result<String, String> {
    if s.is_empty() {
        Err("must not be empty".into())
    } else {
        Ok(s.to_string())
    }
}

#[cfg(test)]
mod tests;
