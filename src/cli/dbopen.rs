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

/// `2025-01-02T03:04:05.678Z`.
pub fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|_| ms.to_string())
}

/// A time filter: RFC 3339 (`2025-01-02T03:04:05Z`), a date (`2025-01-02`, midnight UTC) or
/// an age (`2h`, `7d`: that long ago). Unix milliseconds.
pub fn parse_time(s: &str, now_ms: i64) -> Result<i64, String> {
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Ok(t.as_millisecond());
    }
    if let Ok(d) = s.parse::<jiff::civil::Date>() {
        return d
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .map(|z| z.timestamp().as_millisecond())
            .map_err(|e| e.to_string());
    }
    match config::database::parse_retention(s) {
        Ok(Some(age)) => Ok(now_ms - age.as_millis() as i64),
        _ => Err(format!(
            "`{s}`: expected 2025-01-02T03:04:05Z, 2025-01-02, or an age such as 2h or 7d"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_and_print() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(
            parse_time("2023-11-14T22:13:20.123Z", 0),
            Ok(1_700_000_000_123)
        );
        assert_eq!(parse_time("1970-01-02", 0), Ok(86_400_000));
        assert_eq!(parse_time("2h", 10_000_000), Ok(10_000_000 - 7_200_000));
        assert!(parse_time("yesterday", 0).is_err());
    }
}
