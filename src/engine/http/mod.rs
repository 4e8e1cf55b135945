//! The HTTP listener of `phonetree run`, on axum: one [`router`], one module per route group.
//!
//! | routes | module | auth |
//! |---|---|---|
//! | `/healthz`, `/readyz`, `/livez` | [`health`] | open |
//! | `/api/flows`, `/api/registrations`, `/api/calls` (live) | [`status`] | API |
//! | `/api/register`, `/api/register/{id}` | [`register`] | API |
//! | `/api/calls` (jobs), `/api/alertmanager` | [`outbound`] | API |
//! | `POST /api/calls/{id}/retry` | [`retry`] | API |
//! | `/api/schedules`, `/api/schedules/{name}` | [`schedules`] | API |
//! | `/api/session`, `POST /login`, `POST /logout` | [`auth`] | API / open |
//! | `/metrics` | [`prom`] | open, or API with `api.metrics_auth` |
//! | `POST /demo/crm/lookup` | [`demo`] | open (made-up data for the demo flow) |
//! | `/`, `/login` (page), `/calls`, `/outbound`, `/flows`, `/alerts`, `/logs`, `/settings`, `/static/*` | [`dash`] | login session (or token); `/login` and `/static` open |
//! | `POST /twilio/voice`, `/twilio/stream`, `/convo` (websocket) | [`twilio`] | Twilio's own: `X-Twilio-Signature`, or loopback and `twilio.allow` |
//!
//! "API" is [`auth::require`]: a Bearer token, a login session, or nothing while the API is
//! open (see `auth`). Later groups (outbound `/api/calls` POST/DELETE, `/api/alertmanager`)
//! add a module and a `.merge(...)` here. Unknown paths get
//! a JSON 404, wrong methods a JSON 405. Only these modules know the JSON wire shapes. Paths in
//! answers are relative to the flows folder. [`serve`] bounds how long a client may take to
//! send its request headers (`http.header_timeout`).

pub mod auth;
pub mod cluster;
pub mod dash;
pub mod demo;
pub mod health;
pub mod outbound;
pub mod prom;
pub mod register;
pub mod retry;
pub mod schedules;
pub mod status;
pub mod twilio;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tower_service::Service;

use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, delete, get, post};
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;

use super::status::Status;
use super::twilio_http::{TwilioHttp, STREAM_PATHS, VOICE_PATH};
use crate::config::api::ApiConfig;
use crate::db::{Db, DbError, DbSlot};

/// What every handler can reach (cheap to clone).
#[derive(Clone)]
pub struct HttpState {
    /// Live calls, registrations, flows.
    pub status: Arc<Status>,
    /// The database (empty while it is unreachable at start).
    pub db: DbSlot,
    pub auth: Arc<auth::AuthState>,
    pub metrics: Option<PrometheusHandle>,
    /// Twilio's way in ([`twilio`]); `None` answers 404 there.
    pub twilio: Option<Arc<TwilioHttp>>,
    /// What the dashboard pages read beyond the above (`dash::DashState`).
    pub dash: Arc<dash::DashState>,
    /// Outbound jobs and Alertmanager (`None` in tests that do not run the dialler).
    pub outbound: Option<Arc<outbound::OutboundApi>>,
}

impl HttpState {
    /// `listen` is the configured `http.listen` (a loopback one keeps the demo open).
    pub fn new(
        status: Arc<Status>,
        db: DbSlot,
        api: ApiConfig,
        listen: SocketAddr,
        metrics: Option<PrometheusHandle>,
    ) -> HttpState {
        HttpState {
            status,
            db,
            auth: Arc::new(auth::AuthState::new(api, listen)),
            metrics,
            twilio: None,
            dash: Arc::new(dash::DashState::default()),
            outbound: None,
        }
    }

    /// Mounts Twilio's routes ([`twilio`]).
    pub fn with_twilio(mut self, twilio: Arc<TwilioHttp>) -> HttpState {
        self.twilio = Some(twilio);
        self
    }

    /// With the outbound routes' state.
    pub fn with_outbound(mut self, api: Arc<outbound::OutboundApi>) -> HttpState {
        self.outbound = Some(api);
        self
    }

    /// The database, or the 503 to answer while it is unreachable.
    pub fn db(&self) -> Result<Db, ApiError> {
        self.db
            .get()
            .ok_or_else(|| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "database unavailable"))
    }
}

/// Every route.
pub fn router(state: HttpState) -> Router {
    let api = Router::new()
        .route("/api/flows", get(status::flows))
        .route("/api/registrations", get(status::registrations))
        .route("/api/cluster", get(cluster::show))
        .route(
            "/api/calls",
            get(outbound::list_or_live).post(outbound::create),
        )
        .route(
            "/api/calls/{id}",
            get(outbound::show).delete(outbound::cancel),
        )
        .route("/api/calls/{id}/retry", post(retry::retry))
        .route("/api/alertmanager", post(outbound::alertmanager))
        .route(
            "/api/schedules",
            get(schedules::list).post(schedules::create),
        )
        .route("/api/schedules/{name}", delete(schedules::delete))
        .route("/api/register", get(register::list))
        .route("/api/register/{id}", get(register::show))
        .route("/api/session", get(auth::session_info))
        .route_layer(from_fn_with_state(state.clone(), auth::require));
    let metrics = Router::new()
        .route("/metrics", get(prom::metrics))
        .route_layer(from_fn_with_state(state.clone(), auth::require_metrics));
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/livez", get(health::livez))
        .route(crate::engine::demo_crm::PATH, post(demo::lookup))
        .route("/logout", post(auth::logout))
        .route(VOICE_PATH, any(twilio::handle))
        .route(STREAM_PATHS[0], any(twilio::handle))
        .route(STREAM_PATHS[1], any(twilio::handle))
        .merge(api)
        .merge(metrics)
        .merge(dash::routes(&state))
        .fallback(|| async { json_error(StatusCode::NOT_FOUND, "not found") })
        .method_not_allowed_fallback(|| async {
            json_error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        })
        .with_state(state)
}

/// Serves until the task is dropped. A client that has not sent a request's headers within
/// `header_timeout` is disconnected (a slowloris cannot hold connections open); accept errors
/// (out of file descriptors) wait a little and are logged through `log_limit`.
///
/// hyper's connection builder rather than `axum::serve`, which has no header timeout.
pub async fn serve(listener: tokio::net::TcpListener, state: HttpState, header_timeout: Duration) {
    let app = router(state);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                if let Some(suppressed) = super::log_limit::global().allow("http accept") {
                    tracing::warn!(error = %e, suppressed, "HTTP accept failed");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Small writes go out at once: a Twilio Media Stream gets a 20 ms media frame at a
        // time, which Nagle's algorithm would hold until the previous one is acknowledged (on
        // loopback, until the peer's next frame: a whole frame of added latency).
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                // What `into_make_service_with_connect_info` would add (`auth` reads it).
                req.extensions_mut().insert(ConnectInfo(peer));
                // A `Router` is always ready: no `poll_ready` needed.
                Service::call(&mut app.clone(), req)
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(TokioIo::new(stream), svc)
                .with_upgrades();
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "HTTP connection error");
            }
        });
    }
}

/// `{"error": msg}` with `status`.
pub fn json_error(status: StatusCode, msg: &str) -> Response {
    (status, Json(json!({ "error": msg }))).into_response()
}

/// An error answer: `{"error": message}` with its status (401s carry the Bearer challenge).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// A database error: 503 while unreachable, else 500 (details in the log only).
    pub fn db(e: &DbError) -> ApiError {
        if e.is_transient() {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        } else {
            tracing::error!(error = %e, "database error");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "database error")
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = json_error(self.status, &self.message);
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"phonetree\""),
            );
        }
        r
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> ApiError {
        ApiError::db(&e)
    }
}

#[cfg(test)]
mod tests;
