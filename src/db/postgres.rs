//! The server backend: PostgreSQL through tokio-postgres with a deadpool connection pool
//! (`database.url: postgres://…`). Statements are prepared once per connection
//! (`prepare_cached`); migrations take a transaction-scoped advisory lock, so several nodes
//! starting together migrate once.
//!
//! A connection that drops is replaced by the pool on the next use; while the server is down
//! every call fails fast with [`DbError::Unavailable`] (connect and pool-wait timeouts), which
//! the register's writer treats as "keep the records and retry".

use std::error::Error as StdError;
use std::str::FromStr;
use std::time::Duration;

use bytes::BytesMut;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::types::{IsNull, ToSql, Type};
use tokio_postgres::NoTls;

use super::migrate::{self, Migration};
use super::{Backend, BoxFut, DbError, Dialect, Row, Stmt, Val};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const POOL_WAIT: Duration = Duration::from_secs(5);
/// Any constant; every phonetree node takes the same lock while migrating.
const MIGRATION_LOCK: i64 = 0x7068_6f6e_6574; // "phonet"

/// PostgreSQL behind [`Backend`].
pub struct Postgres {
    pool: Pool,
}

impl Postgres {
    /// Creates the pool (no connection is made until the first statement).
    pub fn connect(url: &str, pool_size: usize) -> Result<Postgres, DbError> {
        let mut pg = tokio_postgres::Config::from_str(url)
            .map_err(|e| DbError::Open(format!("bad database.url: {e}")))?;
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(CONNECT_TIMEOUT);
        }
        if pg.get_application_name().is_none() {
            pg.application_name("phonetree");
        }
        let mgr = Manager::from_config(
            pg,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(mgr)
            .max_size(pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| DbError::Open(e.to_string()))?;
        Ok(Postgres { pool })
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, DbError> {
        self.pool
            .get()
            .await
            .map_err(|e| DbError::Unavailable(e.to_string()))
    }
}

fn err(e: tokio_postgres::Error) -> DbError {
    match e.as_db_error() {
        // Connection trouble, shutdown, out of resources, serialization: try again later.
        Some(db)
            if ["08", "53", "57", "40"]
                .iter()
                .any(|c| db.code().code().starts_with(c)) =>
        {
            DbError::Unavailable(db.to_string())
        }
        Some(db) => DbError::Query(db.to_string()),
        None => DbError::Unavailable(e.to_string()),
    }
}

type BoxError = Box<dyn StdError + Sync + Send>;

impl ToSql for Val {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match self {
            Val::Null => Ok(IsNull::Yes),
            Val::Int(v) => match *ty {
                Type::INT8 => v.to_sql(ty, out),
                Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*v)?.to_sql(ty, out),
                Type::BOOL => (*v != 0).to_sql(ty, out),
                Type::FLOAT8 => (*v as f64).to_sql(ty, out),
                _ => Err(format!("cannot bind an integer to a {ty} parameter").into()),
            },
            Val::Float(v) => match *ty {
                Type::FLOAT4 => (*v as f32).to_sql(ty, out),
                _ => v.to_sql(ty, out),
            },
            Val::Text(v) => v.as_str().to_sql(ty, out),
            Val::Blob(v) => v.as_slice().to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

fn row(r: &tokio_postgres::Row) -> Result<Row, DbError> {
    let mut out = Vec::with_capacity(r.len());
    for (i, c) in r.columns().iter().enumerate() {
        let dec = |e: tokio_postgres::Error| DbError::Decode(format!("column {i}: {e}"));
        let v = match *c.type_() {
            Type::INT8 => r.try_get::<_, Option<i64>>(i).map_err(dec)?.map(Val::Int),
            Type::INT4 => r
                .try_get::<_, Option<i32>>(i)
                .map_err(dec)?
                .map(|v| Val::Int(v.into())),
            Type::INT2 => r
                .try_get::<_, Option<i16>>(i)
                .map_err(dec)?
                .map(|v| Val::Int(v.into())),
            Type::BOOL => r
                .try_get::<_, Option<bool>>(i)
                .map_err(dec)?
                .map(|v| Val::Int(v.into())),
            Type::FLOAT8 => r.try_get::<_, Option<f64>>(i).map_err(dec)?.map(Val::Float),
            Type::FLOAT4 => r
                .try_get::<_, Option<f32>>(i)
                .map_err(dec)?
                .map(|v| Val::Float(v.into())),
            Type::BYTEA => r
                .try_get::<_, Option<Vec<u8>>>(i)
                .map_err(dec)?
                .map(Val::Blob),
            _ => r
                .try_get::<_, Option<String>>(i)
                .map_err(dec)?
                .map(Val::Text),
        };
        out.push(v.unwrap_or(Val::Null));
    }
    Ok(Row(out))
}

fn refs(params: &[Val]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

impl Backend for Postgres {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&self, sql: &'static str, params: Vec<Val>) -> BoxFut<'_, Result<u64, DbError>> {
        Box::pin(async move {
            let c = self.client().await?;
            let st = c.prepare_cached(sql).await.map_err(err)?;
            c.execute(&st, &refs(&params)).await.map_err(err)
        })
    }

    fn query(&self, sql: &'static str, params: Vec<Val>) -> BoxFut<'_, Result<Vec<Row>, DbError>> {
        Box::pin(async move {
            let c = self.client().await?;
            let st = c.prepare_cached(sql).await.map_err(err)?;
            let rows = c.query(&st, &refs(&params)).await.map_err(err)?;
            rows.iter().map(row).collect()
        })
    }

    fn transaction(&self, stmts: Vec<Stmt>) -> BoxFut<'_, Result<Vec<u64>, DbError>> {
        Box::pin(async move {
            let mut c = self.client().await?;
            let tx = c.transaction().await.map_err(err)?;
            let mut counts = Vec::with_capacity(stmts.len());
            for s in &stmts {
                let st = tx.prepare_cached(s.sql).await.map_err(err)?;
                counts.push(tx.execute(&st, &refs(&s.params)).await.map_err(err)?);
            }
            tx.commit().await.map_err(err)?;
            Ok(counts)
        })
    }

    fn guarded_query(
        &self,
        guards: Vec<Stmt>,
        query: Stmt,
    ) -> BoxFut<'_, Result<Option<Vec<Row>>, DbError>> {
        Box::pin(async move {
            let mut c = self.client().await?;
            let tx = c.transaction().await.map_err(err)?;
            for g in &guards {
                let st = tx.prepare_cached(g.sql).await.map_err(err)?;
                if tx.execute(&st, &refs(&g.params)).await.map_err(err)? == 0 {
                    tx.rollback().await.map_err(err)?;
                    return Ok(None);
                }
            }
            let st = tx.prepare_cached(query.sql).await.map_err(err)?;
            let rows = tx.query(&st, &refs(&query.params)).await.map_err(err)?;
            let rows: Vec<Row> = rows.iter().map(row).collect::<Result<_, _>>()?;
            if rows.is_empty() {
                tx.rollback().await.map_err(err)?;
            } else {
                tx.commit().await.map_err(err)?;
            }
            Ok(Some(rows))
        })
    }

    fn migrate(&self, migrations: &'static [Migration]) -> BoxFut<'_, Result<Vec<u32>, DbError>> {
        Box::pin(async move {
            let mut c = self.client().await?;
            let mut applied = Vec::new();
            for m in migrations {
                let tx = c.transaction().await.map_err(err)?;
                tx.query("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                    .await
                    .map_err(err)?;
                tx.batch_execute(migrate::CREATE_TABLE).await.map_err(err)?;
                let have = tx.query(migrate::VERSIONS, &[]).await.map_err(err)?;
                let have: Vec<Row> = have.iter().map(row).collect::<Result<_, _>>()?;
                let versions = migrate::versions(&have)?;
                migrate::check_not_newer(&versions, migrations)?;
                if versions.contains(&m.version) {
                    continue;
                }
                tx.batch_execute(m.sql).await.map_err(err)?;
                let version = i64::from(m.version);
                tx.execute(migrate::RECORD, &[&version, &super::now_ms()])
                    .await
                    .map_err(err)?;
                tx.commit().await.map_err(err)?;
                applied.push(m.version);
            }
            Ok(applied)
        })
    }
}
