//! Schema migrations, embedded in the binary. Each is one portable SQL file
//! (`src/db/migrations/NNNN_name.sql`) run unchanged on SQLite and PostgreSQL, in its own
//! transaction, recorded in `schema_migrations`. A database whose schema is newer than this
//! binary is refused (an old node must not write to a schema it does not know).
//!
//! Hand-written (about 40 lines per backend) because the migration crates do not accept
//! rusqlite 0.43 (refinery: ≤ 0.40; rusqlite_migration pins 0.40), and a second SQLite
//! driver cannot be linked beside rusqlite.
//!
//! Adding a migration: append a file and an entry to [`MIGRATIONS`]; never edit a released one.

use super::{DbError, Row};

/// One schema step.
#[derive(Debug)]
pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration, in order.
pub static MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("migrations/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "cluster_limits",
        sql: include_str!("migrations/0002_cluster_limits.sql"),
    },
];

/// The bookkeeping table (same text on both engines).
pub const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (\
     version BIGINT PRIMARY KEY, applied_ms BIGINT NOT NULL)";
pub const VERSIONS: &str = "SELECT version FROM schema_migrations ORDER BY version";
pub const RECORD: &str = "INSERT INTO schema_migrations (version, applied_ms) VALUES ($1, $2)";

/// The versions in `rows` of [`VERSIONS`].
pub fn versions(rows: &[Row]) -> Result<Vec<u32>, DbError> {
    rows.iter().map(|r| r.int(0).map(|v| v as u32)).collect()
}

/// Refuses a database that has a version this binary does not know.
pub fn check_not_newer(have: &[u32], known: &[Migration]) -> Result<(), DbError> {
    let known_max = known.iter().map(|m| m.version).max().unwrap_or(0);
    match have.iter().copied().max() {
        Some(found) if found > known_max => Err(DbError::SchemaTooNew {
            found,
            known: known_max,
        }),
        _ => Ok(()),
    }
}

/// The latest version this binary knows.
pub fn latest() -> u32 {
    MIGRATIONS.iter().map(|m| m.version).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order_from_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1, "{}", m.name);
            assert!(
                !m.sql.contains('$'),
                "placeholders are not allowed in migrations"
            );
        }
    }

    #[test]
    fn a_newer_schema_is_refused() {
        assert!(check_not_newer(&[1], MIGRATIONS).is_ok());
        assert_eq!(
            check_not_newer(&[1, 99], MIGRATIONS),
            Err(DbError::SchemaTooNew {
                found: 99,
                known: latest()
            })
        );
    }
}
