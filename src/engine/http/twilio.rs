//! Twilio's routes on the axum router: `POST /twilio/voice` and the websocket `/twilio/stream`
//! (alias `/convo`). The answers are [`crate::engine::twilio_http::TwilioHttp`]'s, which does
//! its own admission (`X-Twilio-Signature`, or loopback and `twilio.allow`), so these routes sit
//! outside the API's auth layer. Without Twilio configured in the state (router tests, tools)
//! they answer 404 like any unknown path.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::{json_error, HttpState};

/// Any method on a Twilio path: the handler answers 405 itself for the wrong one.
pub async fn handle(
    State(s): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    match &s.twilio {
        Some(t) => t.handle(req, peer).await.into_response(),
        None => json_error(StatusCode::NOT_FOUND, "not found"),
    }
}
