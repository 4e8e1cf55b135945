//! What the database subcommands (`calls`, `token`, `user`) share: finding the same database
//! `phonetree run` uses (same configuration sources: `--config`, `PHONETREE_*`, `.env`),
//! opening it on a small runtime, and printing times.

use std::path::PathBuf;

use anyhow::Context;

use crate::config::{self, Config, Flags};
use crate::db::{self, Db};

/// `--config` for the database subcommands.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ConfigArg {
    /// Configuration file (default: `phonetree.yaml` if present; env PHONETREE_CONFIG). The
    /// database is `database.url`, else `data_dir/phonetree.db` (PHONETREE_DATA_DIR, ./data).
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
}

/// The runtime and the open database.
pub struct Opened {
    pub rt: tokio::runtime::Runtime,
    pub db: Db,
    pub cfg: Config,
}

/// Loads the configuration and opens (creating and migrating if needed) its database.
pub fn open(arg: &ConfigArg) -> anyhow::Result<Opened> {
    let sources = super::run::sources(arg.config.clone(), Flags::default())?;
    let cfg = config::load(&sources).map_err(|e| anyhow::anyhow!("{e}"))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let db = rt
        .block_on(db::open(&cfg.database, &cfg.node_id))
        .with_context(|| format!("database {}", cfg.database.describe()))?;
    Ok(Opened { rt, db, cfg })
}

pub use crate::db::time::{parse_time, rfc3339};
