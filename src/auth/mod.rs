//! Credentials: passwords (argon2id), API tokens, the first admin, and the login rate limiter.
//! The HTTP side (extractors, login/logout handlers) is `engine::http::auth`; storage is
//! `db::auth`. Nothing here logs a password or a token.

pub mod password;
pub mod ratelimit;
pub mod token;

use crate::db::{Db, DbError};
use crate::sip::digest::Secret;

/// The first user's name.
pub const ADMIN: &str = "admin";

/// What [`ensure_admin`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Bootstrap {
    /// Users exist already.
    Existing,
    /// Created with the configured `PHONETREE_ADMIN_PASSWORD`.
    FromEnv,
    /// Created with this generated password (to be shown once).
    Generated(String),
}

/// Creates the `admin` user when the database has no user yet.
pub async fn ensure_admin(db: &Db, configured: Option<&Secret>) -> Result<Bootstrap, DbError> {
    if db.count_users().await? > 0 {
        return Ok(Bootstrap::Existing);
    }
    let (password, outcome) = match configured {
        Some(p) => (p.reveal().to_string(), Bootstrap::FromEnv),
        None => {
            let p = token::random_password();
            (p.clone(), Bootstrap::Generated(p))
        }
    };
    let hash = password::hash_blocking(password)
        .await
        .map_err(|e| DbError::Query(e.to_string()))?;
    match db
        .create_user(ADMIN, &hash, "admin", crate::db::now_ms())
        .await
    {
        Ok(_) => Ok(outcome),
        // Another node created it at the same moment.
        Err(DbError::Query(_)) if db.count_users().await? > 0 => Ok(Bootstrap::Existing),
        Err(e) => Err(e),
    }
}
