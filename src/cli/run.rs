//! `phonetree run`: answers real calls. Reads the configuration (`phonetree.yaml`, `PHONETREE_*`
//! and the seed aliases, `.env`, flags: see docs/config.md), sets up logging and runs the
//! engine until SIGTERM/SIGINT, then drains and exits 0.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

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
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    init_logging();
    let flags = Flags {
        sip: args.sip,
        http: args.http,
        flows: args.flows,
        sound: args.sound,
        rtp_ports: args.rtp_ports,
    };
    let sources = sources(args.config, flags)?;
    let cfg = match config::load(&sources) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(2));
        }
    };
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

/// The configuration sources `run` reads (and the database subcommands, which must find the
/// same database): the file (`--config`, `PHONETREE_CONFIG` or `./phonetree.yaml`), the
/// environment plus `.env`, and `flags`.
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

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PHONETREE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
