//! The `database`, `register` and `data_dir` settings: where the call register, jobs, users
//! and tokens live, and how long call records are kept.
//!
//! | key | env | default |
//! |---|---|---|
//! | `data_dir` | `PHONETREE_DATA_DIR` | `./data` (the SQLite file `phonetree.db` goes there) |
//! | `database.url` | `PHONETREE_DATABASE_URL` | none: SQLite in `data_dir`; `postgres://…` for PostgreSQL, `sqlite:PATH` for another file |
//! | `database.pool_size` | `PHONETREE_DATABASE_POOL_SIZE` | 8 (PostgreSQL connections) |
//! | `register.retention` (alias `database.retention`) | `PHONETREE_REGISTER_RETENTION` (`PHONETREE_DATABASE_RETENTION`) | `90d`; `0` or `forever` keeps everything |
//! | `register.spill` | `PHONETREE_REGISTER_SPILL` | 100000 records held in memory while the database is unreachable |
//! | `register.enabled` | `PHONETREE_REGISTER_ENABLED` | `true`; `false` records no calls (jobs, users, tokens still use the database) |
//!
//! The URL is a secret (it may hold a password): `Debug` shows only its scheme and host.

use std::path::PathBuf;
use std::time::Duration;

use super::Builder;
use crate::flow::duration::parse_duration;

/// `(key, PHONETREE_ env suffix)` of every setting in this file.
pub const KEYS: &[(&str, &str)] = &[
    ("data_dir", "DATA_DIR"),
    ("database.url", "DATABASE_URL"),
    ("database.pool_size", "DATABASE_POOL_SIZE"),
    ("database.retention", "DATABASE_RETENTION"),
    ("register.retention", "REGISTER_RETENTION"),
    ("register.spill", "REGISTER_SPILL"),
    ("register.enabled", "REGISTER_ENABLED"),
];

/// The database settings.
#[derive(Debug, Clone, PartialEq)]
pub struct DatabaseConfig {
    pub data_dir: PathBuf,
    /// `None`: SQLite at `data_dir/phonetree.db`.
    pub url: Option<DatabaseUrl>,
    pub pool_size: usize,
    /// Call records older than this are deleted; `None` keeps them forever.
    pub retention: Option<Duration>,
    /// Register records kept in memory while the database is unreachable.
    pub spill: usize,
    /// Calls are recorded (`false`: the register discards everything it is handed).
    pub register_enabled: bool,
}

impl Default for DatabaseConfig {
    fn default() -> DatabaseConfig {
        DatabaseConfig {
            data_dir: PathBuf::from("data"),
            url: None,
            pool_size: 8,
            retention: Some(DEFAULT_RETENTION),
            spill: 100_000,
            register_enabled: true,
        }
    }
}

const DEFAULT_RETENTION: Duration = Duration::from_secs(90 * 24 * 3600);

/// Where the database is.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A `postgres://` / `postgresql://` URL (or a `key=value` connection string).
    Postgres(UrlSecret),
    /// An SQLite file other than the default.
    Sqlite(PathBuf),
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseUrl::Postgres(u) => write!(f, "Postgres({u:?})"),
            DatabaseUrl::Sqlite(p) => write!(f, "Sqlite({})", p.display()),
        }
    }
}

/// A PostgreSQL URL: `Debug` shows `postgres://host…` without user or password.
#[derive(Clone, PartialEq, Eq)]
pub struct UrlSecret(String);

impl UrlSecret {
    /// The URL itself, for connecting only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `postgres://host:port/db` without credentials, for logs.
    pub fn redacted(&self) -> String {
        let s = &self.0;
        match s.split_once("://") {
            Some((scheme, rest)) => {
                let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
                let host = host.split('?').next().unwrap_or(host);
                format!("{scheme}://{host}")
            }
            None => "postgres (connection string)".to_string(),
        }
    }
}

impl std::fmt::Debug for UrlSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl DatabaseConfig {
    /// Where the database is, for the start-up log line (no credentials).
    pub fn describe(&self) -> String {
        match &self.url {
            Some(DatabaseUrl::Postgres(u)) => u.redacted(),
            Some(DatabaseUrl::Sqlite(p)) => format!("sqlite:{}", p.display()),
            None => format!(
                "sqlite:{}",
                self.data_dir.join(crate::db::sqlite::FILE_NAME).display()
            ),
        }
    }
}

pub(super) fn build(b: &mut Builder<'_>) -> DatabaseConfig {
    let d = DatabaseConfig::default();
    let retention = b
        .parse_opt("register.retention", parse_retention)
        .or_else(|| b.parse_opt("database.retention", parse_retention))
        .unwrap_or(d.retention);
    DatabaseConfig {
        data_dir: b.parse("data_dir", parse_dir, d.data_dir),
        url: b.parse_opt("database.url", parse_url).flatten(),
        pool_size: b.parse("database.pool_size", parse_pool, d.pool_size),
        retention,
        spill: b.parse("register.spill", parse_spill, d.spill),
        register_enabled: b.parse(
            "register.enabled",
            super::api::parse_bool,
            d.register_enabled,
        ),
    }
}

fn parse_dir(s: &str) -> Result<PathBuf, String> {
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    Ok(PathBuf::from(s))
}

/// Never echoes the URL (it may contain a password): messages name the problem only.
fn parse_url(s: &str) -> Result<Option<DatabaseUrl>, String> {
    if s.is_empty() {
        return Ok(None);
    }
    if let Some(path) = s
        .strip_prefix("sqlite://")
        .or_else(|| s.strip_prefix("sqlite:"))
    {
        if path.is_empty() {
            return Err("an sqlite: URL needs a file path (sqlite:/var/lib/phonetree/db)".into());
        }
        return Ok(Some(DatabaseUrl::Sqlite(PathBuf::from(path))));
    }
    let pg = s.starts_with("postgres://") || s.starts_with("postgresql://");
    let conninfo = !s.contains("://") && s.contains('=');
    if !pg && !conninfo {
        return Err("expected postgres://user:password@host:port/db or sqlite:PATH".into());
    }
    // Checked now so a typo is reported at start with the other settings.
    s.parse::<tokio_postgres::Config>()
        .map_err(|_| "not a valid PostgreSQL URL".to_string())?;
    Ok(Some(DatabaseUrl::Postgres(UrlSecret(s.to_string()))))
}

fn parse_pool(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=256).contains(&n) => Ok(n),
        _ => Err(format!(
            "expected a number of connections from 1 to 256, got `{s}`"
        )),
    }
}

fn parse_spill(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 100 => Ok(n),
        _ => Err(format!(
            "expected a number of records, at least 100, got `{s}`"
        )),
    }
}

/// `90d`, `12h`, `2w`, `30m`, `0`/`forever`/`off` (keep forever).
pub fn parse_retention(s: &str) -> Result<Option<Duration>, String> {
    let lower = s.to_ascii_lowercase();
    if matches!(lower.as_str(), "0" | "forever" | "off" | "never") {
        return Ok(None);
    }
    let bad = || format!("`{s}`: expected a duration such as 90d, 12h or 2w (or `forever`)");
    let unit = |suffix: char, secs: u64| -> Option<Result<Duration, String>> {
        let n = lower.strip_suffix(suffix)?;
        Some(
            n.parse::<u64>()
                .ok()
                .and_then(|n| n.checked_mul(secs))
                .map(Duration::from_secs)
                .ok_or_else(bad),
        )
    };
    let d = unit('d', 86_400)
        .or_else(|| unit('w', 7 * 86_400))
        .or_else(|| unit('h', 3_600))
        .unwrap_or_else(|| parse_duration(&lower).map_err(|_| bad()))?;
    if d < Duration::from_secs(60) {
        return Err(format!(
            "`{s}`: keep records at least a minute (or `forever`)"
        ));
    }
    Ok(Some(d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load, Sources};

    fn env(pairs: &[(&str, &str)]) -> Sources {
        Sources {
            env: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Sources::default()
        }
    }

    #[test]
    fn the_default_is_sqlite_in_data_for_ninety_days() {
        let c = load(&Sources::default()).unwrap().database;
        assert_eq!(c, DatabaseConfig::default());
        assert_eq!(c.data_dir, PathBuf::from("data"));
        assert_eq!(c.describe(), "sqlite:data/phonetree.db");
    }

    #[test]
    fn env_selects_postgres_and_never_shows_the_password() {
        let c = load(&env(&[
            (
                "PHONETREE_DATABASE_URL",
                "postgres://pt:hunter2@db.example:5433/pt",
            ),
            ("PHONETREE_DATA_DIR", "/var/lib/phonetree"),
            ("PHONETREE_REGISTER_RETENTION", "30d"),
        ]))
        .unwrap()
        .database;
        assert!(matches!(c.url, Some(DatabaseUrl::Postgres(_))));
        let shown = format!("{c:?} {}", c.describe());
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("db.example:5433/pt"), "{shown}");
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/phonetree"));
        assert_eq!(c.retention, Some(Duration::from_secs(30 * 86_400)));
    }

    #[test]
    fn yaml_sections_and_the_retention_alias() {
        let s = Sources {
            file: Some((
                "data_dir: /srv/pt\ndatabase: { url: 'sqlite:/tmp/x.db', retention: 2w, pool_size: 4 }\n"
                    .into(),
                PathBuf::from("phonetree.yaml"),
            )),
            ..Sources::default()
        };
        let c = load(&s).unwrap().database;
        assert_eq!(c.url, Some(DatabaseUrl::Sqlite(PathBuf::from("/tmp/x.db"))));
        assert_eq!(c.retention, Some(Duration::from_secs(14 * 86_400)));
        assert_eq!(c.pool_size, 4);
        let s = Sources {
            file: Some((
                "register: { retention: forever, spill: 500 }\n".into(),
                PathBuf::from("phonetree.yaml"),
            )),
            ..Sources::default()
        };
        let c = load(&s).unwrap().database;
        assert_eq!(c.retention, None);
        assert_eq!(c.spill, 500);
        assert!(c.register_enabled);
        let c = load(&env(&[("PHONETREE_REGISTER_ENABLED", "false")]))
            .unwrap()
            .database;
        assert!(!c.register_enabled);
    }

    #[test]
    fn bad_values_are_reported_without_echoing_the_url() {
        let e = load(&env(&[
            ("PHONETREE_DATABASE_URL", "mysql://root:hunter2@x/db"),
            ("PHONETREE_REGISTER_RETENTION", "soon"),
            ("PHONETREE_DATABASE_POOL_SIZE", "0"),
        ]))
        .unwrap_err();
        let text = e.to_string();
        assert_eq!(e.problems.len(), 3, "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("PHONETREE_DATABASE_URL"), "{text}");
    }

    #[test]
    fn retention_units() {
        assert_eq!(
            parse_retention("12h").unwrap(),
            Some(Duration::from_secs(43_200))
        );
        assert_eq!(
            parse_retention("5m").unwrap(),
            Some(Duration::from_secs(300))
        );
        assert_eq!(parse_retention("off").unwrap(), None);
        assert!(parse_retention("10s").is_err());
        assert!(parse_retention("99999999999999999999d").is_err());
    }
}
