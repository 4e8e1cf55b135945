//! The embedded backend: SQLite through rusqlite (bundled, so no system library), one file in
//! WAL mode. Two connections: a writer (every statement that is not a plain `SELECT`, and
//! transactions) and a reader, so the dashboard reads while the register writes. Both run on
//! tokio's blocking pool behind a mutex each; SQLite has one writer at a time anyway.
//!
//! Statements are written with PostgreSQL's `$1` placeholders; SQLite reads `?1` the same way
//! (explicit index), so they are rewritten on the way in.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode};

use super::migrate::Migration;
use super::{Backend, BoxFut, DbError, Dialect, Row, Stmt, Val};

/// The database file's name under `data_dir`.
pub const FILE_NAME: &str = "phonetree.db";

/// How long a statement waits for the other connection's lock before failing as busy.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// SQLite behind [`Backend`].
pub struct Sqlite {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
}

impl Sqlite {
    /// Opens (creating if needed) the file at `path`, in WAL mode.
    pub async fn open(path: &Path) -> Result<Sqlite, DbError> {
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || Sqlite::open_blocking(&path))
            .await
            .map_err(|e| DbError::Open(e.to_string()))?
    }

    fn open_blocking(path: &Path) -> Result<Sqlite, DbError> {
        let open = |p: &Path| -> Result<Connection, DbError> {
            let c =
                Connection::open(p).map_err(|e| DbError::Open(format!("{}: {e}", p.display())))?;
            c.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
            c.pragma_update(None, "foreign_keys", true)
                .map_err(open_err)?;
            Ok(c)
        };
        let writer = open(path)?;
        let mode: String = writer
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(open_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(DbError::Open(format!(
                "WAL mode refused (journal_mode={mode})"
            )));
        }
        writer
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        let reader = open(path)?;
        Ok(Sqlite {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                writer: Mutex::new(writer),
                reader: Mutex::new(reader),
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` with the writer (or, for a `SELECT`, the reader) on the blocking pool.
    fn with<T: Send + 'static>(
        &self,
        read_only: bool,
        f: impl FnOnce(&mut Connection) -> Result<T, DbError> + Send + 'static,
    ) -> BoxFut<'_, Result<T, DbError>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let m = if read_only {
                    &inner.reader
                } else {
                    &inner.writer
                };
                // A panic inside rusqlite while holding the lock leaves the connection usable.
                let mut conn = m.lock().unwrap_or_else(|p| p.into_inner());
                f(&mut conn)
            })
            .await
            .map_err(|e| DbError::Unavailable(format!("blocking task failed: {e}")))?
        })
    }
}

fn is_select(sql: &str) -> bool {
    let s = sql.trim_start();
    s.get(..6).is_some_and(|w| w.eq_ignore_ascii_case("select"))
}

/// `$1` → `?1` (same meaning: an explicit parameter index). No statement has a `$` elsewhere.
fn rewrite(sql: &str) -> Cow<'_, str> {
    if sql.contains('$') {
        Cow::Owned(sql.replace('$', "?"))
    } else {
        Cow::Borrowed(sql)
    }
}

fn open_err(e: rusqlite::Error) -> DbError {
    DbError::Open(e.to_string())
}

fn err(e: rusqlite::Error) -> DbError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _) => match f.code {
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::DiskFull
            | ErrorCode::SystemIoFailure
            | ErrorCode::CannotOpen
            | ErrorCode::OutOfMemory
            | ErrorCode::ReadOnly => DbError::Unavailable(e.to_string()),
            _ => DbError::Query(e.to_string()),
        },
        _ => DbError::Query(e.to_string()),
    }
}

impl rusqlite::ToSql for Val {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Val::Null => ValueRef::Null,
            Val::Int(v) => ValueRef::Integer(*v),
            Val::Float(v) => ValueRef::Real(*v),
            Val::Text(v) => ValueRef::Text(v.as_bytes()),
            Val::Blob(v) => ValueRef::Blob(v),
        }))
    }
}

fn val(v: ValueRef<'_>) -> Val {
    match v {
        ValueRef::Null => Val::Null,
        ValueRef::Integer(i) => Val::Int(i),
        ValueRef::Real(f) => Val::Float(f),
        ValueRef::Text(t) => Val::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Val::Blob(b.to_vec()),
    }
}

fn execute(conn: &Connection, sql: &str, params: &[Val]) -> Result<u64, DbError> {
    let mut stmt = conn.prepare_cached(&rewrite(sql)).map_err(err)?;
    let n = stmt
        .execute(rusqlite::params_from_iter(params.iter()))
        .map_err(err)?;
    Ok(n as u64)
}

fn query(conn: &Connection, sql: &str, params: &[Val]) -> Result<Vec<Row>, DbError> {
    let mut stmt = conn.prepare_cached(&rewrite(sql)).map_err(err)?;
    let cols = stmt.column_count();
    let mut rows = stmt
        .query(rusqlite::params_from_iter(params.iter()))
        .map_err(err)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(err)? {
        let mut row = Vec::with_capacity(cols);
        for i in 0..cols {
            row.push(val(r.get_ref(i).map_err(err)?));
        }
        out.push(Row(row));
    }
    Ok(out)
}

impl Backend for Sqlite {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&self, sql: &'static str, params: Vec<Val>) -> BoxFut<'_, Result<u64, DbError>> {
        self.with(false, move |c| execute(c, sql, &params))
    }

    fn query(&self, sql: &'static str, params: Vec<Val>) -> BoxFut<'_, Result<Vec<Row>, DbError>> {
        self.with(is_select(sql), move |c| query(c, sql, &params))
    }

    fn transaction(&self, stmts: Vec<Stmt>) -> BoxFut<'_, Result<Vec<u64>, DbError>> {
        self.with(false, move |c| {
            let tx = c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(err)?;
            let mut counts = Vec::with_capacity(stmts.len());
            for s in &stmts {
                counts.push(execute(&tx, s.sql, &s.params)?);
            }
            tx.commit().map_err(err)?;
            Ok(counts)
        })
    }

    fn guarded_query(
        &self,
        guards: Vec<Stmt>,
        q: Stmt,
    ) -> BoxFut<'_, Result<Option<Vec<Row>>, DbError>> {
        self.with(false, move |c| {
            // IMMEDIATE: the write lock is taken at BEGIN, so guards and query see one state.
            let tx = c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(err)?;
            for g in &guards {
                if execute(&tx, g.sql, &g.params)? == 0 {
                    return Ok(None); // dropping `tx` rolls back
                }
            }
            let rows = query(&tx, q.sql, &q.params)?;
            if !rows.is_empty() {
                tx.commit().map_err(err)?;
            }
            Ok(Some(rows))
        })
    }

    fn migrate(&self, migrations: &'static [Migration]) -> BoxFut<'_, Result<Vec<u32>, DbError>> {
        self.with(false, move |c| {
            c.execute_batch(super::migrate::CREATE_TABLE).map_err(err)?;
            let mut applied = Vec::new();
            for m in migrations {
                let tx = c
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                    .map_err(err)?;
                let have = query(&tx, super::migrate::VERSIONS, &[])?;
                let versions = super::migrate::versions(&have)?;
                super::migrate::check_not_newer(&versions, migrations)?;
                if versions.contains(&m.version) {
                    continue;
                }
                tx.execute_batch(m.sql).map_err(err)?;
                execute(
                    &tx,
                    super::migrate::RECORD,
                    &[Val::Int(i64::from(m.version)), Val::Int(super::now_ms())],
                )?;
                tx.commit().map_err(err)?;
                applied.push(m.version);
            }
            Ok(applied)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_indexed_question_marks() {
        assert_eq!(
            rewrite("SELECT a FROM t WHERE b = $2 AND c = $1 OR $2 IS NULL"),
            "SELECT a FROM t WHERE b = ?2 AND c = ?1 OR ?2 IS NULL"
        );
        assert!(matches!(rewrite("SELECT 1"), Cow::Borrowed(_)));
        assert!(is_select("  select 1"));
        assert!(!is_select("UPDATE t SET a = 1 RETURNING a"));
    }

    #[tokio::test]
    async fn opens_in_wal_mode_and_reads_what_it_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let db = Sqlite::open(&dir.path().join("x.db")).await.unwrap();
        db.execute("CREATE TABLE t (a BIGINT, b TEXT)", vec![])
            .await
            .unwrap();
        let n = db
            .transaction(vec![
                Stmt::new(
                    "INSERT INTO t (a, b) VALUES ($1, $2)",
                    crate::db_params![1i64, "x"],
                ),
                Stmt::new(
                    "INSERT INTO t (a, b) VALUES ($1, $2)",
                    crate::db_params![2i64, None::<String>],
                ),
            ])
            .await
            .unwrap();
        assert_eq!(n, vec![1, 1]);
        let rows = db
            .query(
                "SELECT a, b FROM t WHERE a >= $1 ORDER BY a",
                crate::db_params![1i64],
            )
            .await
            .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].opt_text(1).unwrap(), None);
        // A failing statement rolls the whole transaction back.
        let r = db
            .transaction(vec![
                Stmt::new(
                    "INSERT INTO t (a, b) VALUES ($1, $2)",
                    crate::db_params![3i64, "y"],
                ),
                Stmt::new("INSERT INTO nope VALUES (1)", vec![]),
            ])
            .await;
        assert!(matches!(r, Err(DbError::Query(_))), "{r:?}");
        let rows = db.query("SELECT COUNT(*) FROM t", vec![]).await.unwrap();
        assert_eq!(rows[0].int(0).unwrap(), 2);
    }
}
