//! The dashboard: server-rendered HTML pages on the HTTP listener, readable with JavaScript off,
//! with a small script (`assets/app.js`) that makes the status and logs pages live over SSE.
//!
//! | page | route | module |
//! |---|---|---|
//! | login | `GET /login` (the form posts to `POST /login`, `http::auth`) | [`login`] |
//! | status | `GET /`, `GET /status/events` (SSE) | [`status_page`] |
//! | calls | `GET /calls`, `GET /calls/{id}`, `GET /calls/{id}/recording/{var}` | [`calls_page`] |
//! | outbound | `GET /outbound`, `GET /outbound/{id}`, `POST /outbound/{id}/cancel`, `POST /outbound/{id}/retry` | [`outbound_page`] |
//! | place a call | `POST /outbound` (the form on the outbound page) | [`place`] |
//! | flows | `GET /flows`, `GET /flows/{file}` | [`flows_page`] |
//! | alerts | `GET /alerts` | [`outbound_page`] |
//! | logs | `GET /logs`, `GET /logs/events` (SSE) | [`logs_page`] |
//! | settings | `GET /settings` | [`settings_page`] |
//! | assets | `GET /static/app.css`, `GET /static/app.js` | here |
//!
//! Who sees a page: [`gate`] admits a login session (or an API token, for scripts and the
//! benchmark) and sends anyone else to the login page. The open API of the loopback demo does
//! not open the dashboard: it can place calls. Every form that changes something carries the
//! session's CSRF token in a hidden `csrf` field, checked by [`check_form`]; changing things
//! needs the `admin` role (a `viewer` reads). Pages are answered with a strict
//! Content-Security-Policy (scripts and styles from this server only, no framing).
//!
//! Templates are minijinja (already the flows' template engine), embedded in the binary, with
//! HTML autoescaping ([`view`]). Nothing here writes to the database except the outbound
//! page's cancel and retry, through `Db`'s job methods.

/// `minijinja::context!` over serde values: every value goes through `Serialize` (minijinja 3
/// converts only its own value types with `From`). `ctx! { a => x, b }` like `context!`.
macro_rules! ctx {
    (@v $key:ident) => { $key };
    (@v $key:ident => $value:expr) => { $value };
    ($($key:ident $(=> $value:expr)?),* $(,)?) => {
        minijinja::context! {
            $($key => minijinja::value::Serde(ctx!(@v $key $(=> $value)?))),*
        }
    };
}

pub mod calls_page;
pub mod flows_page;
pub mod login;
pub mod logs_page;
pub mod outbound_page;
pub mod place;
pub mod settings_page;
pub mod status_page;
pub mod view;

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{from_fn, from_fn_with_state, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Serialize;
use tokio::sync::Semaphore;

use super::auth::{principal, Principal};
use super::HttpState;
use crate::auth::token::same_digest;
use crate::config::effective::Setting;
use crate::engine::logtail::LogTail;

/// Live SSE streams at once (status and logs together); more get 503.
pub const MAX_STREAMS: usize = 64;

/// What the dashboard needs beyond the API's state. Built by `engine::server`.
pub struct DashState {
    /// The effective settings, secrets masked (`config::effective`).
    pub settings: Vec<Setting>,
    /// Each account (`user@registrar`) and the flow it sends calls to, if it names one.
    pub accounts: Vec<(String, Option<String>)>,
    /// Recordings are played only from under this folder (`record.dir`).
    pub recordings: PathBuf,
    /// The live log tail.
    pub logs: Arc<LogTail>,
    /// `node.id`.
    pub node_id: String,
    /// Open SSE streams.
    pub streams: Arc<Semaphore>,
}

impl Default for DashState {
    fn default() -> Self {
        DashState {
            settings: Vec::new(),
            accounts: Vec::new(),
            recordings: PathBuf::from("recordings"),
            logs: Arc::new(LogTail::default()),
            node_id: String::new(),
            streams: Arc::new(Semaphore::new(MAX_STREAMS)),
        }
    }
}

/// The pages' routes (merged into `http::router`).
pub fn routes(state: &HttpState) -> Router<HttpState> {
    let pages = Router::new()
        .route("/", get(status_page::page))
        .route("/status/events", get(status_page::events))
        .route("/calls", get(calls_page::list))
        .route("/calls/{id}", get(calls_page::show))
        .route("/calls/{id}/recording/{var}", get(calls_page::recording))
        .route("/outbound", get(outbound_page::list).post(place::place))
        .route("/outbound/{id}", get(outbound_page::show))
        .route("/outbound/{id}/cancel", post(outbound_page::cancel))
        .route("/outbound/{id}/retry", post(outbound_page::retry))
        .route("/alerts", get(outbound_page::alerts))
        .route("/flows", get(flows_page::list))
        .route("/flows/{file}", get(flows_page::show))
        .route("/logs", get(logs_page::page))
        .route("/logs/events", get(logs_page::events))
        .route("/settings", get(settings_page::show))
        .route_layer(from_fn_with_state(state.clone(), gate));
    Router::new()
        .route("/login", get(login::show).post(super::auth::login))
        .route("/static/app.css", get(css))
        .route("/static/app.js", get(js))
        .merge(pages)
        .layer(from_fn(security_headers))
}

/// Who is looking at a page: the name shown, the role, the CSRF token for forms.
#[derive(Debug, Clone, Serialize)]
pub struct Viewer {
    pub name: String,
    pub role: String,
    /// Empty for a token (its requests need no CSRF token).
    pub csrf: String,
    /// Whether this viewer may change things (place, cancel, retry).
    pub admin: bool,
    /// A login session (shows the logout button).
    pub session: bool,
}

impl Viewer {
    fn of(p: &Principal) -> Option<Viewer> {
        match p {
            Principal::User { user, csrf } => Some(Viewer {
                name: user.name.clone(),
                role: user.role.clone(),
                csrf: csrf.clone(),
                admin: user.role == "admin",
                session: true,
            }),
            Principal::Token { name } => Some(Viewer {
                name: format!("token {name}"),
                role: "admin".into(),
                csrf: String::new(),
                admin: true,
                session: false,
            }),
            Principal::Open => None,
        }
    }
}

/// The route layer on the pages: a session or a token gets in (as a [`Viewer`] extension);
/// anyone else is sent to `/login?next=<this page>`.
pub async fn gate(State(s): State<HttpState>, mut req: Request, next: Next) -> Response {
    // Forms carry their CSRF token in the body, checked by the handler (`check_form`); here the
    // request is only identified.
    match principal(&s, req.headers(), &Method::GET).await {
        Ok(p) => match Viewer::of(&p) {
            Some(v) => {
                req.extensions_mut().insert(v);
                next.run(req).await
            }
            None => to_login(&req),
        },
        Err(e) if e.status == StatusCode::UNAUTHORIZED => to_login(&req),
        Err(e) => PageError::new(e.status, &e.message).into_response(),
    }
}

fn to_login(req: &Request) -> Response {
    if req.method() != Method::GET {
        return PageError::new(StatusCode::UNAUTHORIZED, "log in first").into_response();
    }
    let here = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let target = if here == "/" {
        "/login".to_string()
    } else {
        format!(
            "/login?{}",
            serde_urlencoded::to_string([("next", here)]).unwrap_or_default()
        )
    };
    Redirect::to(&target).into_response()
}

/// Checks a form's `csrf` field against the session, and that the viewer may change things.
pub fn check_form(v: &Viewer, csrf: Option<&str>) -> Result<(), PageError> {
    if v.session && !csrf.is_some_and(|t| same_digest(t, &v.csrf)) {
        return Err(PageError::new(
            StatusCode::FORBIDDEN,
            "This form has expired or did not come from this dashboard (missing or wrong CSRF \
             token). Reload the page and try again.",
        ));
    }
    if !v.admin {
        return Err(PageError::new(
            StatusCode::FORBIDDEN,
            "Your role can read the dashboard but not change anything (ask an admin).",
        ));
    }
    Ok(())
}

/// A page that could not be shown, as an HTML page with its status.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub message: String,
}

impl PageError {
    pub fn new(status: StatusCode, message: &str) -> PageError {
        PageError {
            status,
            message: message.to_string(),
        }
    }
}

impl From<super::ApiError> for PageError {
    fn from(e: super::ApiError) -> PageError {
        PageError::new(e.status, &e.message)
    }
}

impl From<crate::db::DbError> for PageError {
    fn from(e: crate::db::DbError) -> PageError {
        super::ApiError::db(&e).into()
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let html = view::render(
            "error.html",
            ctx! { title => "Error", status => self.status.as_u16(),
            message => self.message },
        )
        .unwrap_or_else(|e| e.message);
        (self.status, Html(html)).into_response()
    }
}

/// A page's HTML, or the error page.
pub type PageResult = Result<Response, PageError>;

/// Renders a page (`Html`, 200).
pub fn render(name: &str, ctx: minijinja::Value) -> PageResult {
    view::render(name, ctx).map(|h| Html(h).into_response())
}

async fn security_headers(req: Request, next: Next) -> Response {
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; media-src 'self'; object-src 'none'; \
             base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", include_str!("assets/app.css"))
}

async fn js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("assets/app.js"),
    )
}

fn asset(ctype: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, ctype),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

/// Milliseconds since the Unix epoch of a `SystemTime` (0 before it).
pub fn unix_ms(t: std::time::SystemTime) -> i64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests;
