//! [`DbSlot`]: the database as the running server sees it, which may not be there yet.
//!
//! `phonetree run` answers calls even when PostgreSQL is down at start: [`connect`] tries once,
//! and on a transient failure keeps retrying in the background while the slot is empty. Users
//! of the slot (the register writer, the API) treat an empty slot like an unreachable
//! database. A permanent failure (bad URL, schema too new, unwritable folder) is returned at
//! once so the server refuses to start with the reason.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;

use super::{open, Db, DbError};
use crate::config::database::DatabaseConfig;

/// The database once it is open (cheap to clone).
#[derive(Clone, Default)]
pub struct DbSlot(Arc<ArcSwapOption<Db>>);

impl std::fmt::Debug for DbSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("DbSlot").field(&self.get()).finish()
    }
}

impl DbSlot {
    /// A slot holding `db`.
    pub fn ready(db: Db) -> DbSlot {
        let s = DbSlot::default();
        s.set(db);
        s
    }

    /// The database, if it is open.
    pub fn get(&self) -> Option<Db> {
        self.0.load_full().map(|d| (*d).clone())
    }

    pub fn set(&self, db: Db) {
        self.0.store(Some(Arc::new(db)));
    }
}

const RETRY_MAX: Duration = Duration::from_secs(30);

/// Opens the database: at once if it answers; on a transient failure, an empty slot that a
/// background task fills when the database comes up. Must be called inside a tokio runtime.
pub async fn connect(cfg: &DatabaseConfig, node_id: &str) -> Result<DbSlot, DbError> {
    let slot = DbSlot::default();
    match open(cfg, node_id).await {
        Ok(db) => {
            slot.set(db);
            Ok(slot)
        }
        Err(e) if e.is_transient() => {
            tracing::error!(error = %e, db = %cfg.describe(),
                "database unavailable at start: answering calls anyway, keeping call records \
                 in memory, retrying");
            let (cfg, node, bg) = (cfg.clone(), node_id.to_string(), slot.clone());
            tokio::spawn(async move {
                let mut delay = Duration::from_secs(1);
                loop {
                    tokio::time::sleep(delay).await;
                    match open(&cfg, &node).await {
                        Ok(db) => {
                            tracing::info!(db = %cfg.describe(), "database connected");
                            bg.set(db);
                            return;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "database still unavailable");
                            delay = (delay * 2).min(RETRY_MAX);
                        }
                    }
                }
            });
            Ok(slot)
        }
        Err(e) => Err(e),
    }
}
