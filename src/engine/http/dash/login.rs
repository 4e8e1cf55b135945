//! The login page (`GET /login`). Its form posts to `POST /login` (`http::auth::login`) with the
//! user name, the password, where to go next, and a login CSRF token: the page sets it in a
//! short-lived `phonetree_login` cookie (`HttpOnly; SameSite=Strict`, path `/login`) and in a
//! hidden field, and `POST /login` accepts a form only when both match, so another site cannot
//! log a browser in to an account of its choosing. A visitor with a session goes straight on.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{render, PageError};
use crate::engine::http::auth::{principal, safe_next, Principal};
use crate::engine::http::HttpState;

/// The login form's CSRF cookie.
pub const LOGIN_COOKIE: &str = "phonetree_login";

#[derive(Debug, Default, Deserialize)]
pub struct LoginQuery {
    pub next: Option<String>,
    pub failed: Option<String>,
    pub wait: Option<u64>,
    pub expired: Option<String>,
}

/// The `Set-Cookie` value of the login CSRF cookie.
pub fn login_cookie(value: &str, secure: bool) -> String {
    format!(
        "{LOGIN_COOKIE}={value}; Path=/login; Max-Age=3600; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

pub async fn show(
    State(s): State<HttpState>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Result<Response, PageError> {
    let next = safe_next(q.next.as_deref()).to_string();
    if let Ok(Principal::User { .. }) = principal(&s, &headers, &Method::GET).await {
        return Ok(Redirect::to(&next).into_response());
    }
    let csrf: String = crate::db::random_bytes::<16>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut r = render(
        "login.html",
        ctx! {
            title => "Log in", csrf => csrf.clone(), next,
            failed => q.failed.is_some(), wait => q.wait, expired => q.expired.is_some(),
        },
    )?;
    let secure = s.auth.config().secure_cookies || crate::engine::http::auth::behind_tls(&headers);
    if let Ok(v) = HeaderValue::from_str(&login_cookie(&csrf, secure)) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(r)
}
