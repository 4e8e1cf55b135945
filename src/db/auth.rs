//! Users, API tokens and login sessions. Only hashes are stored: argon2id PHC strings for
//! passwords (made by [`crate::auth::password`]), SHA-256 for API tokens and session ids (both
//! are 256-bit random values, so a fast hash is enough and lookups are by index).

use serde::Serialize;

use super::{Db, DbError, Row};
use crate::db_params;

/// A dashboard user. `Debug` and serialization leave the password hash out.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: String,
    pub name: String,
    /// `admin` or `viewer`.
    pub role: String,
    pub disabled: bool,
    pub created_ms: i64,
    pub last_login_ms: Option<i64>,
    #[serde(skip)]
    pub password_hash: String,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("role", &self.role)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

/// An API token's record (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    pub id: String,
    pub name: String,
    pub created_ms: i64,
    pub last_used_ms: Option<i64>,
}

/// A live login session and its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub user: User,
    /// The session's CSRF token (forms echo it back).
    pub csrf: String,
    pub created_ms: i64,
    pub expires_ms: i64,
}

const INSERT_USER: &str = "INSERT INTO users (id, name, password_hash, role, disabled, \
     created_ms) VALUES ($1, $2, $3, $4, 0, $5)";
const USER_BY_NAME: &str = "SELECT id, name, role, disabled, created_ms, last_login_ms, \
     password_hash FROM users WHERE name = $1";
const USERS: &str = "SELECT id, name, role, disabled, created_ms, last_login_ms, \
     password_hash FROM users ORDER BY name";
const COUNT_USERS: &str = "SELECT COUNT(*) FROM users";
const SET_PASSWORD: &str = "UPDATE users SET password_hash = $2 WHERE name = $1";
const SET_DISABLED: &str = "UPDATE users SET disabled = $2 WHERE name = $1";
const TOUCH_LOGIN: &str = "UPDATE users SET last_login_ms = $2 WHERE id = $1";
const DELETE_USER_SESSIONS: &str =
    "DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE name = $1)";

const INSERT_TOKEN: &str = "INSERT INTO api_tokens (id, name, token_hash, created_ms) \
     VALUES ($1, $2, $3, $4)";
const TOKEN_BY_HASH: &str = "SELECT id, name, created_ms, last_used_ms FROM api_tokens \
     WHERE token_hash = $1";
const TOKENS: &str = "SELECT id, name, created_ms, last_used_ms FROM api_tokens ORDER BY name";
const COUNT_TOKENS: &str = "SELECT COUNT(*) FROM api_tokens";
const DELETE_TOKEN: &str = "DELETE FROM api_tokens WHERE name = $1";
const TOUCH_TOKEN: &str = "UPDATE api_tokens SET last_used_ms = $2 WHERE id = $1";

const INSERT_SESSION: &str = "INSERT INTO sessions (id_hash, user_id, csrf, created_ms, \
     expires_ms) VALUES ($1, $2, $3, $4, $5)";
const SESSION: &str = "SELECT u.id, u.name, u.role, u.disabled, u.created_ms, \
     u.last_login_ms, u.password_hash, s.csrf, s.created_ms, s.expires_ms \
     FROM sessions s JOIN users u ON u.id = s.user_id \
     WHERE s.id_hash = $1 AND s.expires_ms > $2";
const DELETE_SESSION: &str = "DELETE FROM sessions WHERE id_hash = $1";
const PURGE_SESSIONS: &str = "DELETE FROM sessions WHERE expires_ms <= $1";

fn user(r: &Row) -> Result<User, DbError> {
    Ok(User {
        id: r.text(0)?,
        name: r.text(1)?,
        role: r.text(2)?,
        disabled: r.bool(3)?,
        created_ms: r.int(4)?,
        last_login_ms: r.opt_int(5)?,
        password_hash: r.text(6)?,
    })
}

fn token(r: &Row) -> Result<TokenInfo, DbError> {
    Ok(TokenInfo {
        id: r.text(0)?,
        name: r.text(1)?,
        created_ms: r.int(2)?,
        last_used_ms: r.opt_int(3)?,
    })
}

fn count(rows: &[Row]) -> Result<u64, DbError> {
    Ok(rows.first().map(|r| r.int(0)).transpose()?.unwrap_or(0) as u64)
}

impl Db {
    /// Adds a user; a duplicate name is a [`DbError::Query`].
    pub async fn create_user(
        &self,
        name: &str,
        password_hash: &str,
        role: &str,
        now_ms: i64,
    ) -> Result<User, DbError> {
        let id = super::new_id();
        self.backend
            .execute(
                INSERT_USER,
                db_params![&id, name, password_hash, role, now_ms],
            )
            .await?;
        self.user_by_name(name)
            .await?
            .ok_or_else(|| DbError::Query("the user vanished after insert".into()))
    }

    pub async fn user_by_name(&self, name: &str) -> Result<Option<User>, DbError> {
        let rows = self.backend.query(USER_BY_NAME, db_params![name]).await?;
        rows.first().map(user).transpose()
    }

    pub async fn list_users(&self) -> Result<Vec<User>, DbError> {
        let rows = self.backend.query(USERS, vec![]).await?;
        rows.iter().map(user).collect()
    }

    pub async fn count_users(&self) -> Result<u64, DbError> {
        count(&self.backend.query(COUNT_USERS, vec![]).await?)
    }

    /// Replaces a user's password hash and ends their sessions; `false` if no such user.
    pub async fn set_password(&self, name: &str, password_hash: &str) -> Result<bool, DbError> {
        let counts = self
            .backend
            .transaction(vec![
                super::Stmt::new(DELETE_USER_SESSIONS, db_params![name]),
                super::Stmt::new(SET_PASSWORD, db_params![name, password_hash]),
            ])
            .await?;
        Ok(counts.get(1) == Some(&1))
    }

    /// Disables (or enables) a user; disabling ends their sessions.
    pub async fn set_user_disabled(&self, name: &str, disabled: bool) -> Result<bool, DbError> {
        let counts = self
            .backend
            .transaction(vec![
                super::Stmt::new(SET_DISABLED, db_params![name, disabled]),
                super::Stmt::new(DELETE_USER_SESSIONS, db_params![name]),
            ])
            .await?;
        Ok(counts.first() == Some(&1))
    }

    pub async fn touch_login(&self, user_id: &str, now_ms: i64) -> Result<(), DbError> {
        self.backend
            .execute(TOUCH_LOGIN, db_params![user_id, now_ms])
            .await
            .map(|_| ())
    }

    /// Stores a token's hash under a unique name.
    pub async fn create_token(
        &self,
        name: &str,
        token_hash: &str,
        now_ms: i64,
    ) -> Result<TokenInfo, DbError> {
        let id = super::new_id();
        self.backend
            .execute(INSERT_TOKEN, db_params![&id, name, token_hash, now_ms])
            .await?;
        Ok(TokenInfo {
            id,
            name: name.to_string(),
            created_ms: now_ms,
            last_used_ms: None,
        })
    }

    pub async fn token_by_hash(&self, token_hash: &str) -> Result<Option<TokenInfo>, DbError> {
        let rows = self
            .backend
            .query(TOKEN_BY_HASH, db_params![token_hash])
            .await?;
        rows.first().map(token).transpose()
    }

    pub async fn list_tokens(&self) -> Result<Vec<TokenInfo>, DbError> {
        let rows = self.backend.query(TOKENS, vec![]).await?;
        rows.iter().map(token).collect()
    }

    pub async fn count_tokens(&self) -> Result<u64, DbError> {
        count(&self.backend.query(COUNT_TOKENS, vec![]).await?)
    }

    /// Revokes a token by name; `false` if there was none.
    pub async fn delete_token(&self, name: &str) -> Result<bool, DbError> {
        Ok(self.backend.execute(DELETE_TOKEN, db_params![name]).await? == 1)
    }

    pub async fn touch_token(&self, id: &str, now_ms: i64) -> Result<(), DbError> {
        self.backend
            .execute(TOUCH_TOKEN, db_params![id, now_ms])
            .await
            .map(|_| ())
    }

    /// Stores a new session (by the hash of its cookie value).
    pub async fn create_session(
        &self,
        id_hash: &str,
        user_id: &str,
        csrf: &str,
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<(), DbError> {
        self.backend
            .execute(
                INSERT_SESSION,
                db_params![id_hash, user_id, csrf, now_ms, expires_ms],
            )
            .await
            .map(|_| ())
    }

    /// The unexpired session with this id hash, with its (enabled) user.
    pub async fn session(
        &self,
        id_hash: &str,
        now_ms: i64,
    ) -> Result<Option<SessionInfo>, DbError> {
        let rows = self
            .backend
            .query(SESSION, db_params![id_hash, now_ms])
            .await?;
        let Some(r) = rows.first() else {
            return Ok(None);
        };
        let u = user(r)?;
        if u.disabled {
            return Ok(None);
        }
        Ok(Some(SessionInfo {
            user: u,
            csrf: r.text(7)?,
            created_ms: r.int(8)?,
            expires_ms: r.int(9)?,
        }))
    }

    pub async fn delete_session(&self, id_hash: &str) -> Result<(), DbError> {
        self.backend
            .execute(DELETE_SESSION, db_params![id_hash])
            .await
            .map(|_| ())
    }

    /// Deletes expired sessions; how many.
    pub async fn purge_sessions(&self, now_ms: i64) -> Result<u64, DbError> {
        self.backend
            .execute(PURGE_SESSIONS, db_params![now_ms])
            .await
    }
}
