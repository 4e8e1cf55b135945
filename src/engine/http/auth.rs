//! Who may use the API and the dashboard, over HTTP.
//!
//! - [`require`] (a route layer on `/api/*`, and on `/metrics` when `api.metrics_auth`) admits a
//!   request with `Authorization: Bearer <token>` (a configured `api.tokens` entry or a
//!   database token), or a login session cookie (`phonetree_session`; unsafe methods must
//!   also send the session's CSRF token in `X-CSRF-Token`), or none at all while the API is
//!   open ([`AuthState::is_open`]: `api.auth: off`, or `auto` on a loopback listener while no
//!   token exists). Anything else gets 401. The [`Principal`] goes into the request's
//!   extensions for the handlers.
//! - `POST /login` (form or JSON `{username, password}`) checks the password (argon2id, on the
//!   blocking pool), rate-limited per address and per name ([`LoginLimiter`]), and starts a
//!   session stored in the database (only the SHA-256 of the cookie value is stored). The
//!   cookie is `HttpOnly; SameSite=Strict`, and `Secure` under TLS (`X-Forwarded-Proto: https`)
//!   or with `api.secure_cookies`. `POST /logout` ends it (CSRF-checked). A form login must
//!   carry the login page's CSRF token (`dash::login`); a JSON login needs none (a cross-site
//!   form cannot send JSON without a CORS preflight, which this server never grants).
//!
//! The dashboard builds its pages on [`principal`] and the session's CSRF token.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::json;

use super::{json_error, ApiError, HttpState};
use crate::auth::password;
use crate::auth::ratelimit::LoginLimiter;
use crate::auth::token::{self, same_digest};
use crate::config::api::{ApiConfig, AuthMode};
use crate::db::auth::User;
use crate::db::{random_bytes, sha256_hex};

/// The session cookie's name.
pub const COOKIE: &str = "phonetree_session";
/// The header carrying the CSRF token on unsafe requests made with a session.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How long "no token exists" is believed before the database is asked again.
const NO_TOKEN_RECHECK: Duration = Duration::from_secs(2);
/// A token's `last_used` is written at most this often.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// Who is making a request.
#[derive(Debug, Clone)]
pub enum Principal {
    /// An API token (`config` for one from `api.tokens`).
    Token { name: String },
    /// A logged-in user and the session's CSRF token.
    User { user: User, csrf: String },
    /// Nobody: the API is open (loopback demo or `api.auth: off`).
    Open,
}

/// The HTTP side's auth state.
pub struct AuthState {
    cfg: ApiConfig,
    loopback: bool,
    limiter: Mutex<LoginLimiter>,
    tokens_exist: AtomicBool,
    no_tokens_at: Mutex<Option<Instant>>,
    touched: Mutex<HashMap<String, Instant>>,
}

impl AuthState {
    pub fn new(cfg: ApiConfig, listen: SocketAddr) -> AuthState {
        AuthState {
            tokens_exist: AtomicBool::new(!cfg.token_hashes.is_empty()),
            cfg,
            loopback: listen.ip().is_loopback(),
            limiter: Mutex::new(LoginLimiter::new()),
            no_tokens_at: Mutex::new(None),
            touched: Mutex::new(HashMap::new()),
        }
    }

    pub fn config(&self) -> &ApiConfig {
        &self.cfg
    }

    /// Whether a request without credentials is let in. `auto`: only on a loopback listener
    /// while no token exists (once one does, it stays required until restart).
    pub async fn is_open(&self, s: &HttpState) -> Result<bool, ApiError> {
        match self.cfg.auth {
            AuthMode::Off => Ok(true),
            AuthMode::Required => Ok(false),
            AuthMode::Auto if !self.loopback => Ok(false),
            AuthMode::Auto => {
                if self.tokens_exist.load(Ordering::Relaxed) {
                    return Ok(false);
                }
                let fresh =
                    lock(&self.no_tokens_at).is_some_and(|t| t.elapsed() < NO_TOKEN_RECHECK);
                if fresh {
                    return Ok(true);
                }
                let db = s.db()?;
                let n = db.count_tokens().await?;
                if n > 0 {
                    self.tokens_exist.store(true, Ordering::Relaxed);
                    tracing::info!("an API token exists: the API now requires a token");
                    return Ok(false);
                }
                *lock(&self.no_tokens_at) = Some(Instant::now());
                Ok(true)
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The route layer on the API: admits or answers 401/403/503.
pub async fn require(State(s): State<HttpState>, mut req: Request, next: Next) -> Response {
    match principal(&s, req.headers(), req.method()).await {
        Ok(p) => {
            req.extensions_mut().insert(p);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

/// The route layer on `/metrics`: like [`require`] when `api.metrics_auth` is set.
pub async fn require_metrics(State(s): State<HttpState>, req: Request, next: Next) -> Response {
    if !s.auth.cfg.metrics_auth {
        return next.run(req).await;
    }
    require(State(s), req, next).await
}

/// Who sent a request with these headers, or the error response to send instead.
pub async fn principal(
    s: &HttpState,
    headers: &HeaderMap,
    method: &Method,
) -> Result<Principal, ApiError> {
    if let Some(v) = headers.get(header::AUTHORIZATION) {
        let Some(t) = bearer(v) else {
            return Err(unauthorized("expected `Authorization: Bearer <token>`"));
        };
        return by_token(s, t).await;
    }
    if let Some(id) = cookie(headers, COOKIE) {
        if let Some(p) = by_session(s, id).await? {
            if !is_safe(method) {
                let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
                let Principal::User { csrf, .. } = &p else {
                    return Err(unauthorized("no session"));
                };
                if !sent.is_some_and(|t| same_digest(t, csrf)) {
                    return Err(ApiError::new(
                        StatusCode::FORBIDDEN,
                        "missing or wrong CSRF token",
                    ));
                }
            }
            return Ok(p);
        }
    }
    if s.auth.is_open(s).await? {
        return Ok(Principal::Open);
    }
    Err(unauthorized("a token or a login is required"))
}

fn is_safe(m: &Method) -> bool {
    matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn unauthorized(msg: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, msg)
}

fn bearer(v: &HeaderValue) -> Option<&str> {
    let v = v.to_str().ok()?.trim();
    let (scheme, t) = v.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !t.trim().is_empty()).then(|| t.trim())
}

/// The value of cookie `name`.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

async fn by_token(s: &HttpState, t: &str) -> Result<Principal, ApiError> {
    let hash = token::hash(t);
    if s.auth
        .cfg
        .token_hashes
        .iter()
        .any(|h| same_digest(h, &hash))
    {
        return Ok(Principal::Token {
            name: "config".into(),
        });
    }
    let db = s.db()?;
    match db.token_by_hash(&hash).await {
        Ok(Some(info)) => {
            s.auth.tokens_exist.store(true, Ordering::Relaxed);
            let due = {
                let mut touched = lock(&s.auth.touched);
                let due = touched
                    .get(&info.id)
                    .is_none_or(|t| t.elapsed() >= TOUCH_EVERY);
                if due {
                    if touched.len() > 10_000 {
                        touched.clear();
                    }
                    touched.insert(info.id.clone(), Instant::now());
                }
                due
            };
            if due {
                let (db, id) = (db.clone(), info.id.clone());
                tokio::spawn(async move {
                    let _ = db.touch_token(&id, crate::db::now_ms()).await;
                });
            }
            Ok(Principal::Token { name: info.name })
        }
        Ok(None) => Err(unauthorized("invalid token")),
        Err(e) => Err(ApiError::db(&e)),
    }
}

async fn by_session(s: &HttpState, id: &str) -> Result<Option<Principal>, ApiError> {
    let db = s.db()?;
    let info = db
        .session(&sha256_hex(id.as_bytes()), crate::db::now_ms())
        .await?;
    Ok(info.map(|info| Principal::User {
        user: info.user,
        csrf: info.csrf,
    }))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// What `POST /login` reads (form fields or JSON).
#[derive(Debug, Deserialize)]
pub struct LoginRequest {
    #[serde(alias = "name", alias = "user")]
    pub username: String,
    pub password: String,
    /// Where a form login goes next (a path on this server).
    pub next: Option<String>,
    /// A form login's CSRF token: must equal the `phonetree_login` cookie the login page set.
    pub csrf: Option<String>,
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// A local path to go to after login (never another site).
pub fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n,
        _ => "/",
    }
}

/// `POST /login`.
pub async fn login(
    State(s): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json = is_json(&headers);
    let parsed: Result<LoginRequest, String> = if json {
        serde_json::from_slice(&body).map_err(|e| e.to_string())
    } else {
        serde_urlencoded::from_bytes(&body).map_err(|e| e.to_string())
    };
    let req = match parsed {
        Ok(r) => r,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &format!("bad login request: {e}")),
    };
    if !json {
        // Login CSRF: a form must come from our login page (its cookie and field agree).
        let cookie = cookie(&headers, super::dash::login::LOGIN_COOKIE);
        let ok = match (cookie, req.csrf.as_deref()) {
            (Some(c), Some(f)) => same_digest(c, f),
            _ => false,
        };
        if !ok {
            let next = serde_urlencoded::to_string([("next", safe_next(req.next.as_deref()))])
                .unwrap_or_default();
            return Redirect::to(&format!("/login?expired=1&{next}")).into_response();
        }
    }
    let addr = peer.ip().to_string();
    let wait = lock(&s.auth.limiter).check(&addr, &req.username, Instant::now());
    if let Err(wait) = wait {
        metrics::counter!("phonetree_logins_total", "result" => "limited").increment(1);
        let secs = wait.as_secs().max(1);
        if !json {
            return Redirect::to(&format!("/login?wait={secs}")).into_response();
        }
        let mut r = json_error(
            StatusCode::TOO_MANY_REQUESTS,
            "too many failed logins; wait",
        );
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    let db = match s.db() {
        Ok(db) => db,
        Err(e) => return e.into_response(),
    };
    let user = match db.user_by_name(&req.username).await {
        Ok(u) => u.filter(|u| !u.disabled),
        Err(e) => return ApiError::db(&e).into_response(),
    };
    // An unknown name costs the same as a wrong password.
    let phc = user.as_ref().map_or_else(
        || password::decoy().to_string(),
        |u| u.password_hash.clone(),
    );
    let ok = password::verify_blocking(req.password.clone(), phc).await && user.is_some();
    let Some(user) = user.filter(|_| ok) else {
        lock(&s.auth.limiter).failed(&addr, &req.username, Instant::now());
        metrics::counter!("phonetree_logins_total", "result" => "failed").increment(1);
        tracing::warn!(client = %addr, "failed login");
        if !json {
            return Redirect::to("/login?failed=1").into_response();
        }
        return json_error(StatusCode::UNAUTHORIZED, "wrong user name or password");
    };
    lock(&s.auth.limiter).succeeded(&req.username);
    let id = hex(&random_bytes::<32>());
    let csrf = hex(&random_bytes::<16>());
    let now = crate::db::now_ms();
    let ttl = s.auth.cfg.session_ttl;
    let expires = now + ttl.as_millis() as i64;
    if let Err(e) = db
        .create_session(&sha256_hex(id.as_bytes()), &user.id, &csrf, now, expires)
        .await
    {
        return ApiError::db(&e).into_response();
    }
    let _ = db.touch_login(&user.id, now).await;
    metrics::counter!("phonetree_logins_total", "result" => "ok").increment(1);
    tracing::info!(user = %user.name, client = %addr, "login");
    let secure = s.auth.cfg.secure_cookies || behind_tls(&headers);
    let cookie = session_cookie(&id, ttl.as_secs(), secure);
    let mut r = if json {
        Json(json!({"user": {"name": user.name, "role": user.role}, "csrf": csrf})).into_response()
    } else {
        Redirect::to(safe_next(req.next.as_deref())).into_response()
    };
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// Whether the request came through a TLS-terminating proxy (`X-Forwarded-Proto: https`).
pub fn behind_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// The `Set-Cookie` value for a session (`max_age` 0 deletes it).
pub fn session_cookie(id: &str, max_age: u64, secure: bool) -> String {
    format!(
        "{COOKIE}={id}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

#[derive(Debug, Default, Deserialize)]
struct LogoutForm {
    csrf: Option<String>,
}

/// `POST /logout`: ends the session (CSRF token in the form field `csrf` or the header).
pub async fn logout(State(s): State<HttpState>, headers: HeaderMap, body: Bytes) -> Response {
    let json = is_json(&headers) || headers.contains_key(CSRF_HEADER);
    if let Some(id) = cookie(&headers, COOKIE) {
        let p = match by_session(&s, id).await {
            Ok(p) => p,
            Err(e) => return e.into_response(),
        };
        if let Some(Principal::User { csrf, .. }) = p {
            let form: LogoutForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
            let sent = headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
                .or(form.csrf);
            if !sent.is_some_and(|t| same_digest(&t, &csrf)) {
                return json_error(StatusCode::FORBIDDEN, "missing or wrong CSRF token");
            }
            if let Ok(db) = s.db() {
                if let Err(e) = db.delete_session(&sha256_hex(id.as_bytes())).await {
                    return ApiError::db(&e).into_response();
                }
            }
        }
    }
    let mut r = if json {
        StatusCode::NO_CONTENT.into_response()
    } else {
        Redirect::to("/login").into_response()
    };
    if let Ok(v) = HeaderValue::from_str(&session_cookie("", 0, behind_tls(&headers))) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// `GET /api/session`: who the caller is (and, for a login, the CSRF token for its forms).
pub async fn session_info(Extension(p): Extension<Principal>) -> Json<serde_json::Value> {
    Json(match p {
        Principal::Token { name } => json!({"kind": "token", "name": name}),
        Principal::User { user, csrf } => json!({"kind": "user", "user": user, "csrf": csrf}),
        Principal::Open => json!({"kind": "open"}),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_bearers_and_next_paths() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; phonetree_session=abc; b=2"),
        );
        assert_eq!(cookie(&h, COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "zz"), None);
        assert_eq!(
            bearer(&HeaderValue::from_static("Bearer  pt_x ")),
            Some("pt_x")
        );
        assert_eq!(bearer(&HeaderValue::from_static("Basic abc")), None);
        assert_eq!(bearer(&HeaderValue::from_static("Bearer")), None);
        assert_eq!(safe_next(Some("/calls?x=1")), "/calls?x=1");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil")), "/");
        let c = session_cookie("id", 60, true);
        assert_eq!(
            c,
            "phonetree_session=id; Path=/; Max-Age=60; HttpOnly; SameSite=Strict; Secure"
        );
    }
}
