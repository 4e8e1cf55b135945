//! `phonetree run`: answers real calls. Reads the configuration (`phonetree.yaml`, `PHONETREE_*`
//! and the seed aliases, `.env`, flags: see docs/config.md), sets up logging (`log:` level,
//! text or JSON) and runs the engine until SIGTERM/SIGINT, then drains and exits 0.
//!
//! [`sources`] is shared with `validate`, so both read the same file, `.env` and environment.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::config::log::{LogConfig, LogFormat};
use crate::config::{self, layer, Flags, Sources};
use crate::engine::{server, shutdown};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Configuration file (default: `phonetree.yaml` if present; env PHONETREE_CONFIG).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// SIP listen address for UDP and TCP (default 0.0.0.0:5060).
    #[arg(long, value_name = "ADDR")]
    pub sip: Option<String>,
    /// The public address written in SIP and SDP, IP[:PORT] (behind NAT; default: worked out).
    #[arg(long, value_name = "IP[:PORT]")]
    pub advertise: Option<String>,
    /// HTTP status API address (default 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    pub http: Option<String>,
    /// Flows folder (default flows/).
    #[arg(long, value_name = "DIR")]
    pub flows: Option<PathBuf>,
    /// Sound folder (default: sound/ beside the flows folder).
    #[arg(long, value_name = "DIR")]
    pub sound: Option<PathBuf>,
    /// RTP port range (default 10000-20000).
    #[arg(long, value_name = "LOW-HIGH")]
    pub rtp_ports: Option<String>,
    /// Log level or filter: error, warn, info (default), debug, trace, or `phonetree=debug,warn`.
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Log format: one text line per event (default) or one JSON object per line.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let flags = Flags {
        sip: args.sip,
        http: args.http,
        flows: args.flows,
        sound: args.sound,
        rtp_ports: args.rtp_ports,
        advertise: args.advertise,
        log_level: args.log_level,
        log_format: args.log_format,
    };
    let sources = sources(args.config, flags)?;
    let cfg = match config::load(&sources) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(2));
        }
    };
    init_logging(&cfg.log);
    tracing::info!(version = crate::VERSION, "phonetree");
    let prio = crate::engine::priority::raise_process(cfg.rtp_priority);
    tracing::info!(priority = prio, "process priority");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async {
        let signals = shutdown::Signals::install().context("cannot install signal handlers")?;
        server::serve(cfg, signals.wait()).await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The configuration sources of the current folder, shared by `run`, `validate` and the
/// database subcommands (which must find the same database): the file (`config`, else
/// `PHONETREE_CONFIG`, else `./phonetree.yaml` if present), the environment plus `./.env`, and
/// `flags`.
pub fn sources(config: Option<PathBuf>, flags: Flags) -> anyhow::Result<Sources> {
    let dotenv = PathBuf::from(".env");
    let env = layer::process_env(dotenv.is_file().then_some(dotenv.as_path()));
    let file_path = config
        .or_else(|| env.get("PHONETREE_CONFIG").map(PathBuf::from))
        .or_else(|| {
            let p = PathBuf::from("phonetree.yaml");
            p.is_file().then_some(p)
        });
    let file = match &file_path {
        Some(p) => Some((
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?,
            p.clone(),
        )),
        None => None,
    };
    Ok(Sources { file, env, flags })
}

/// Logs to stderr at `log.level` (`PHONETREE_LOG`, a full filter, wins when set), as text or
/// JSON lines; the same events, as JSON lines, feed the dashboard's live tail
/// (`engine::logtail`).
fn init_logging(log: &LogConfig) {
    use tracing_subscriber::prelude::*;
    let from_env = std::env::var("PHONETREE_LOG").ok().and_then(|text| {
        let f = crate::config::log::parse_filter(&text);
        if f.is_none() {
            eprintln!("PHONETREE_LOG is not a log filter; using log.level");
        }
        f
    });
    let filter = from_env
        .or_else(|| crate::config::log::parse_filter(&log.level))
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new("info"));
    let tail = crate::engine::logtail::layer(&crate::engine::logtail::global());
    let registry = tracing_subscriber::registry().with(filter).with(tail);
    let _ = match log.format {
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
}
