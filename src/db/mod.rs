//! The database: the call register, outbound jobs, schedules, users, API tokens, sessions, alert
//! notifications and node heartbeats, on embedded SQLite (default: a file under `data_dir`) or
//! PostgreSQL (`database.url: postgres://…`).
//!
//! Two layers:
//! - [`Backend`] is the one trait both engines implement ([`sqlite::Sqlite`],
//!   [`postgres::Postgres`]): run a fixed SQL statement with bound [`Val`]s, return [`Row`]s,
//!   run several statements in one transaction, apply the embedded migrations. SQL is
//!   `&'static str` by type, so no statement is ever built from input; parameters are `$1…$n`
//!   (rewritten to `?1…?n` for SQLite).
//! - [`Db`] is the data-access API the rest of phonetree uses (`db.insert_call`,
//!   `db.claim_due_job`, …), written once over `Backend`. The few statements that differ
//!   between the engines (`FOR UPDATE SKIP LOCKED`) are chosen by [`Dialect`].
//!
//! The schema is portable SQL (`migrations/*.sql`, embedded): BIGINT, TEXT, Unix-ms times,
//! application-made ids, so the same files migrate both engines. Not owned here: when records
//! are written (the [`crate::register`] writer task batches them off the call path).

pub mod auth;
pub mod calls;
pub mod jobs;
pub mod limits;
pub mod migrate;
pub mod ops;
pub mod outbound;
pub mod postgres;
pub mod slot;
pub mod sqlite;
pub mod time;
mod value;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

pub use slot::DbSlot;
pub use value::{Row, Val};

use crate::config::database::{DatabaseConfig, DatabaseUrl};

/// A boxed future (the trait is used as `Arc<dyn Backend>`).
pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Which SQL engine a backend speaks, for the few statements that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// One statement of a transaction.
#[derive(Debug, Clone)]
pub struct Stmt {
    pub sql: &'static str,
    pub params: Vec<Val>,
}

impl Stmt {
    pub fn new(sql: &'static str, params: Vec<Val>) -> Stmt {
        Stmt { sql, params }
    }
}

/// The engine behind [`Db`]. Implemented by [`sqlite::Sqlite`] and [`postgres::Postgres`]
/// (and by test doubles that fail on purpose).
pub trait Backend: Send + Sync + 'static {
    fn dialect(&self) -> Dialect;
    /// Runs one statement; the number of rows it changed.
    fn execute(&self, sql: &'static str, params: Vec<Val>) -> BoxFut<'_, Result<u64, DbError>>;
    /// Runs one statement that returns rows (`SELECT`, or a write with `RETURNING`).
    fn query(&self, sql: &'static str, params: Vec<Val>) -> BoxFut<'_, Result<Vec<Row>, DbError>>;
    /// Runs the statements in one transaction: all or nothing. Rows changed per statement.
    fn transaction(&self, stmts: Vec<Stmt>) -> BoxFut<'_, Result<Vec<u64>, DbError>>;
    /// Runs `guards`, then `query`, in one transaction, and commits only when every guard
    /// changed (or, for a `SELECT`, returned) at least one row and `query` returned rows:
    /// `Ok(None)` when a guard stopped it, `Ok(Some(rows))` otherwise (`rows` empty: rolled
    /// back). The cluster-wide outbound limits ([`limits`]) are built on it. Backends that
    /// cannot (test doubles) refuse it.
    fn guarded_query(
        &self,
        guards: Vec<Stmt>,
        query: Stmt,
    ) -> BoxFut<'_, Result<Option<Vec<Row>>, DbError>> {
        let _ = (guards, query);
        Box::pin(async { Err(DbError::Query("guarded_query is not supported".into())) })
    }
    /// Applies the migrations the database lacks, in order, each in its own transaction,
    /// serialised against other nodes migrating at the same time. The versions applied.
    fn migrate(
        &self,
        migrations: &'static [migrate::Migration],
    ) -> BoxFut<'_, Result<Vec<u32>, DbError>>;
}

/// Why a database operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DbError {
    /// The database cannot be reached or is not answering (connection refused, closed, pool
    /// timeout, SQLite busy or disk full): worth retrying later.
    Unavailable(String),
    /// The statement was refused (constraint, syntax): retrying will not help.
    Query(String),
    /// A row did not have the expected shape.
    Decode(String),
    /// The database's schema is newer than this binary.
    SchemaTooNew { found: u32, known: u32 },
    /// Opening the database failed (bad URL, unwritable folder).
    Open(String),
}

impl DbError {
    /// Whether the operation may succeed if retried later.
    pub fn is_transient(&self) -> bool {
        matches!(self, DbError::Unavailable(_))
    }
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbError::Unavailable(m) => write!(f, "database unavailable: {m}"),
            DbError::Query(m) => write!(f, "database refused the statement: {m}"),
            DbError::Decode(m) => write!(f, "unexpected database row: {m}"),
            DbError::SchemaTooNew { found, known } => write!(
                f,
                "the database schema is version {found}, newer than this phonetree knows \
                 ({known}): upgrade phonetree"
            ),
            DbError::Open(m) => write!(f, "cannot open the database: {m}"),
        }
    }
}

impl std::error::Error for DbError {}

/// The data-access API (cheap to clone). Methods are grouped by table in [`calls`], [`jobs`],
/// [`auth`] and [`ops`].
#[derive(Clone)]
pub struct Db {
    backend: Arc<dyn Backend>,
    node_id: Arc<str>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("dialect", &self.backend.dialect())
            .field("node_id", &self.node_id)
            .finish()
    }
}

impl Db {
    /// Wraps a backend whose schema is already migrated (see [`open`]).
    pub fn new(backend: Arc<dyn Backend>, node_id: &str) -> Db {
        Db {
            backend,
            node_id: node_id.into(),
        }
    }

    /// The same database, writing as another node (tests, and tools acting for a node).
    pub fn with_node_id(&self, node_id: &str) -> Db {
        Db::new(self.backend.clone(), node_id)
    }

    pub fn dialect(&self) -> Dialect {
        self.backend.dialect()
    }

    /// The node this process writes as (`node.id`).
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    pub fn backend(&self) -> &dyn Backend {
        &*self.backend
    }

    /// Applies the embedded migrations; the versions applied now.
    pub async fn migrate(&self) -> Result<Vec<u32>, DbError> {
        self.backend.migrate(migrate::MIGRATIONS).await
    }

    /// The schema version the database is at.
    pub async fn schema_version(&self) -> Result<u32, DbError> {
        let rows = self
            .backend
            .query("SELECT MAX(version) FROM schema_migrations", vec![])
            .await?;
        Ok(rows
            .first()
            .map(|r| r.opt_int(0))
            .transpose()?
            .flatten()
            .unwrap_or(0) as u32)
    }
}

/// Opens the configured database (SQLite file under `data_dir` unless `url` is set), creating
/// and migrating it.
pub async fn open(cfg: &DatabaseConfig, node_id: &str) -> Result<Db, DbError> {
    let backend: Arc<dyn Backend> = match &cfg.url {
        Some(DatabaseUrl::Postgres(url)) => {
            Arc::new(postgres::Postgres::connect(url.expose(), cfg.pool_size)?)
        }
        Some(DatabaseUrl::Sqlite(path)) => Arc::new(sqlite::Sqlite::open(path).await?),
        None => {
            std::fs::create_dir_all(&cfg.data_dir).map_err(|e| {
                DbError::Open(format!("cannot create {}: {e}", cfg.data_dir.display()))
            })?;
            Arc::new(sqlite::Sqlite::open(&cfg.data_dir.join(sqlite::FILE_NAME)).await?)
        }
    };
    let db = Db::new(backend, node_id);
    let applied = db.migrate().await?;
    if !applied.is_empty() {
        tracing::info!(versions = ?applied, "database migrated");
    }
    Ok(db)
}

/// Now as Unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `n` random bytes from the OS.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    if getrandom::fill(&mut b).is_err() {
        // The OS generator failing is not something a server recovers from; fall back to
        // std's per-process random hash keys mixed with the time rather than panicking.
        use std::hash::{BuildHasher, Hasher};
        for (i, chunk) in b.chunks_mut(8).enumerate() {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_usize(i);
            h.write_i64(now_ms());
            let v = h.finish().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
    b
}

/// A new id: 26 characters of Crockford base32, time-ordered (48 bits of milliseconds, then
/// 80 random bits; the ULID layout), so ids sort by creation time across nodes. Within one
/// process ids are strictly increasing (ULID's monotonic rule: in the same millisecond, the
/// random part of the previous id plus one).
pub fn new_id() -> String {
    static LAST: std::sync::Mutex<(i64, u128)> = std::sync::Mutex::new((0, 0));
    let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
    let now = now_ms();
    let (ms, rand) = if now <= last.0 {
        (last.0, (last.1 + 1) & ((1u128 << 80) - 1))
    } else {
        let r = random_bytes::<10>()
            .iter()
            .fold(0u128, |acc, b| (acc << 8) | u128::from(*b));
        (now, r)
    };
    *last = (ms, rand);
    let mut bytes = [0u8; 10];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = (rand >> (72 - 8 * i)) as u8;
    }
    new_id_at(ms, bytes)
}

fn new_id_at(ms: i64, rand: [u8; 10]) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut v: u128 = (ms.max(0) as u128 & 0xFFFF_FFFF_FFFF) << 80;
    for (i, b) in rand.iter().enumerate() {
        v |= u128::from(*b) << (72 - 8 * i);
    }
    (0..26)
        .map(|i| ALPHABET[((v >> (125 - 5 * i)) & 31) as usize] as char)
        .collect()
}

/// Hex of SHA-256 (tokens and session ids are stored only as this).
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(data);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time_and_differ() {
        let a = new_id_at(1_000, [0xff; 10]);
        let b = new_id_at(1_001, [0; 10]);
        assert_eq!(a.len(), 26);
        assert!(a < b, "{a} {b}");
        let ids: Vec<String> = (0..1000).map(|_| new_id()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "strictly increasing");
        assert_eq!(new_id_at(0, [0; 10]), "00000000000000000000000000");
    }

    #[test]
    fn sha256_is_lower_hex() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
