//! Twilio's way in on the HTTP listener: `POST /twilio/voice` (the voice webhook, answered with
//! TwiML that connects the call to our stream) and the websocket `/twilio/stream` (alias
//! `/convo`, the seed's path) where each call arrives as a Media Stream.
//!
//! Admission, before anything else is read or upgraded:
//! - with `twilio.auth_token` set, a request must carry a valid `X-Twilio-Signature`
//!   ([`signature`]: over the public URL, and the form parameters of the webhook); else 403;
//! - without a token, only loopback and the `twilio.allow` networks may connect; else 403
//!   (the server logs this mode at start);
//! - at most `twilio.max_calls` streams at once (503 beyond), a webhook body of at most
//!   [`MAX_BODY`] bytes, websocket messages of at most [`MAX_MESSAGE`] bytes.
//!
//! The handlers take any `http` request whose body is a `hyper::body::Body` and answer a
//! `Response<Full<Bytes>>`; [`crate::engine::http::twilio`] mounts them on the axum router. The
//! upgrade uses hyper's `upgrade::on` (axum's server keeps hyper's upgrade in the request). Each accepted stream becomes a
//! [`TwilioLeg`] run by [`crate::engine::call::run`], like a SIP call.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;

use super::call::{self, deps::CallDeps};
use super::leg::twilio::rest::{connect_twiml, MAX_PARAMS};
use super::leg::twilio::signature::{self, Kind};
use super::leg::twilio::{accept, ws_config, TwilioDeps, TwilioLeg};
use super::leg::Leg;
use crate::config::twilio::TwilioConfig;

pub use super::leg::twilio::MAX_MESSAGE;

/// Largest webhook body read.
pub const MAX_BODY: usize = 64 << 10;

/// The webhook's path.
pub const VOICE_PATH: &str = "/twilio/voice";
/// The stream's path (and the seed's alias).
pub const STREAM_PATHS: [&str; 2] = ["/twilio/stream", "/convo"];

/// The header Twilio signs with.
pub const SIGNATURE_HEADER: &str = "x-twilio-signature";

/// Whether `path` is one of Twilio's routes.
pub fn is_twilio_path(path: &str) -> bool {
    path == VOICE_PATH || STREAM_PATHS.contains(&path)
}

/// Twilio's routes and what they need.
pub struct TwilioHttp {
    pub calls: Arc<CallDeps>,
    pub legs: Arc<TwilioDeps>,
    pub cfg: TwilioConfig,
    active: Arc<AtomicUsize>,
}

/// Counts a stream as active until dropped.
struct Active(Arc<AtomicUsize>);

impl Drop for Active {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl TwilioHttp {
    pub fn new(calls: Arc<CallDeps>, legs: Arc<TwilioDeps>, cfg: TwilioConfig) -> TwilioHttp {
        TwilioHttp {
            calls,
            legs,
            cfg,
            active: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Streams running now.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }

    /// The start-up log line saying how requests are admitted.
    pub fn log_mode(&self) {
        if self.cfg.auth_token.is_some() {
            tracing::info!("twilio: webhook and stream need a valid X-Twilio-Signature");
        } else {
            let allow: Vec<String> = self.cfg.allow.iter().map(ToString::to_string).collect();
            tracing::warn!(
                allow = %allow.join(","),
                "twilio: no twilio.auth_token: signatures are not checked; only loopback and \
                 twilio.allow may reach /twilio/voice and /twilio/stream"
            );
        }
    }

    /// Answers one request on a Twilio route.
    pub async fn handle<B>(&self, req: Request<B>, peer: SocketAddr) -> Response<Full<Bytes>>
    where
        B: hyper::body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let path = req.uri().path().to_string();
        match (req.method().clone(), path.as_str()) {
            (Method::POST, VOICE_PATH) => self.voice(req, peer.ip()).await,
            (Method::GET, p) if STREAM_PATHS.contains(&p) => self.upgrade(req, peer.ip()),
            (_, p) if is_twilio_path(p) => {
                text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
            }
            _ => text(StatusCode::NOT_FOUND, "not found"),
        }
    }

    /// Whether this request may go on (a refusal is logged; the caller answers 403).
    fn admit(
        &self,
        peer: IpAddr,
        kind: Kind,
        headers: &HeaderMap,
        path_and_query: &str,
        params: &[(String, String)],
    ) -> bool {
        match admission(&self.cfg, peer, kind, headers, path_and_query, params) {
            Ok(()) => true,
            Err(why) => {
                let path = path_and_query.split('?').next().unwrap_or("");
                tracing::warn!(%peer, %path, reason = why, "twilio: request refused: 403");
                false
            }
        }
    }

    async fn voice<B>(&self, req: Request<B>, peer: IpAddr) -> Response<Full<Bytes>>
    where
        B: hyper::body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = req.into_parts();
        let path_and_query = parts
            .uri
            .path_and_query()
            .map_or(VOICE_PATH.to_string(), |p| p.as_str().to_string());
        let body = match Limited::new(body, MAX_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                return text(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body too large or unreadable",
                )
            }
        };
        let params: Vec<(String, String)> = form_urlencoded::parse(&body)
            .take(256)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if !self.admit(
            peer,
            Kind::Webhook,
            &parts.headers,
            &path_and_query,
            &params,
        ) {
            return text(StatusCode::FORBIDDEN, "forbidden");
        }
        let Some(host) = public_host(&self.cfg, &parts.headers) else {
            return text(StatusCode::BAD_REQUEST, "no Host and no twilio.public_host");
        };
        let field = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        // The numbers, then the webhook URL's own query (`?flow=sales` picks a flow).
        let mut stream_params = vec![
            ("from".to_string(), field("From")),
            ("to".to_string(), field("To")),
        ];
        let query = parts.uri.query().unwrap_or("");
        for (k, v) in form_urlencoded::parse(query.as_bytes()).take(MAX_PARAMS) {
            if k.len() <= 64 && v.len() <= 256 && !stream_params.iter().any(|(n, _)| *n == k) {
                stream_params.push((k.into_owned(), v.into_owned()));
            }
        }
        let url = format!("wss://{host}{}", STREAM_PATHS[0]);
        tracing::info!(call = %field("CallSid"), "twilio: voice webhook answered with <Connect><Stream>");
        let mut resp = Response::new(Full::new(Bytes::from(connect_twiml(&url, &stream_params))));
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
        resp
    }

    fn upgrade<B>(&self, mut req: Request<B>, peer: IpAddr) -> Response<Full<Bytes>>
    where
        B: hyper::body::Body + Send + 'static,
    {
        let path_and_query = req
            .uri()
            .path_and_query()
            .map_or(String::new(), |p| p.as_str().to_string());
        if !self.admit(peer, Kind::Websocket, req.headers(), &path_and_query, &[]) {
            return text(StatusCode::FORBIDDEN, "forbidden");
        }
        let h = req.headers();
        let has = |name: header::HeaderName, want: &str| {
            h.get_all(name).iter().any(|v| {
                v.to_str()
                    .is_ok_and(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(want)))
            })
        };
        if !has(header::UPGRADE, "websocket") || !has(header::CONNECTION, "upgrade") {
            return text(
                StatusCode::UPGRADE_REQUIRED,
                "a websocket upgrade is expected here",
            );
        }
        if h.get(header::SEC_WEBSOCKET_VERSION)
            .and_then(|v| v.to_str().ok())
            != Some("13")
        {
            return text(StatusCode::BAD_REQUEST, "Sec-WebSocket-Version must be 13");
        }
        let Some(key) = h
            .get(header::SEC_WEBSOCKET_KEY)
            .map(|k| derive_accept_key(k.as_bytes()))
        else {
            return text(StatusCode::BAD_REQUEST, "no Sec-WebSocket-Key");
        };
        let before = self.active.fetch_add(1, Ordering::AcqRel);
        let active = Active(self.active.clone());
        if before >= self.cfg.max_calls {
            tracing::warn!(max = self.cfg.max_calls, "twilio: too many streams: 503");
            return text(StatusCode::SERVICE_UNAVAILABLE, "too many calls");
        }
        let on_upgrade = hyper::upgrade::on(&mut req);
        let (calls, legs) = (self.calls.clone(), self.legs.clone());
        tokio::spawn(async move {
            let _active = active;
            let upgraded = match on_upgrade.await {
                Ok(u) => u,
                Err(e) => return tracing::debug!(error = %e, "twilio: upgrade failed"),
            };
            let mut ws = WebSocketStream::from_raw_socket(
                TokioIo::new(upgraded),
                Role::Server,
                Some(ws_config()),
            )
            .await;
            match accept(&mut ws).await {
                Ok(start) => {
                    let leg = TwilioLeg::new(start, ws, legs);
                    call::run(calls, Leg::Twilio(leg)).await;
                }
                Err(e) => {
                    tracing::warn!(%peer, error = %e, "twilio: stream refused");
                    let _ = ws.close(None).await;
                }
            }
        });
        let mut resp = Response::new(Full::new(Bytes::new()));
        *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let hs = resp.headers_mut();
        hs.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        hs.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        if let Ok(v) = HeaderValue::from_str(&key) {
            hs.insert(header::SEC_WEBSOCKET_ACCEPT, v);
        }
        resp
    }
}

/// The host Twilio reached us at: configured, else the request's `Host`.
fn public_host(cfg: &TwilioConfig, headers: &HeaderMap) -> Option<String> {
    cfg.public_host.clone().or_else(|| {
        headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
    })
}

/// The admission rule (see the module docs): `Err` says why a request is refused.
pub fn admission(
    cfg: &TwilioConfig,
    peer: IpAddr,
    kind: Kind,
    headers: &HeaderMap,
    path_and_query: &str,
    params: &[(String, String)],
) -> Result<(), &'static str> {
    match &cfg.auth_token {
        Some(token) => {
            let sig = headers
                .get(SIGNATURE_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if sig.is_empty() {
                return Err("no X-Twilio-Signature");
            }
            let host = public_host(cfg, headers).unwrap_or_default();
            if signature::verify(token.expose(), kind, &host, path_and_query, params, sig) {
                Ok(())
            } else {
                Err("bad X-Twilio-Signature")
            }
        }
        None => {
            let peer = canonical(peer);
            if peer.is_loopback() || cfg.allow.iter().any(|n| n.contains(&peer)) {
                Ok(())
            } else {
                Err("not loopback or twilio.allow (no auth token)")
            }
        }
    }
}

/// An IPv4-mapped IPv6 peer as IPv4 (a dual-stack listener reports `::ffff:127.0.0.1`).
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn text(status: StatusCode, msg: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(format!("{msg}\n"))));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::twilio::AuthToken;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn without_a_token_only_loopback_and_the_allowed_networks_get_in() {
        let cfg = TwilioConfig {
            allow: vec!["10.1.0.0/16".parse().unwrap()],
            ..TwilioConfig::default()
        };
        let h = headers(&[]);
        let ok = |peer: &str| admission(&cfg, ip(peer), Kind::Webhook, &h, "/twilio/voice", &[]);
        assert_eq!(ok("127.0.0.1"), Ok(()));
        assert_eq!(ok("::1"), Ok(()));
        assert_eq!(
            ok("::ffff:127.0.0.1"),
            Ok(()),
            "a dual-stack listener's v4 peer"
        );
        assert_eq!(ok("10.1.2.3"), Ok(()));
        assert!(ok("10.2.0.1").is_err());
        assert!(ok("203.0.113.9").is_err());
    }

    #[test]
    fn with_a_token_a_valid_signature_is_needed_even_from_loopback() {
        let cfg = TwilioConfig {
            auth_token: Some(AuthToken::new("tok")),
            public_host: Some("ivr.example.com".into()),
            ..TwilioConfig::default()
        };
        let params = vec![("From".to_string(), "+1555".to_string())];
        let sig = signature::sign(
            "tok",
            "https://ivr.example.com/twilio/voice?flow=a",
            &params,
        );
        let good = headers(&[(SIGNATURE_HEADER, &sig)]);
        let peer = ip("203.0.113.9");
        let path = "/twilio/voice?flow=a";
        assert_eq!(
            admission(&cfg, peer, Kind::Webhook, &good, path, &params),
            Ok(())
        );
        assert!(admission(
            &cfg,
            ip("127.0.0.1"),
            Kind::Webhook,
            &headers(&[]),
            path,
            &params
        )
        .is_err());
        assert!(admission(
            &cfg,
            peer,
            Kind::Webhook,
            &good,
            "/twilio/voice?flow=b",
            &params
        )
        .is_err());
        let ws_sig = signature::sign("tok", "wss://ivr.example.com/convo", &[]);
        let ws = headers(&[(SIGNATURE_HEADER, &ws_sig)]);
        assert_eq!(
            admission(&cfg, peer, Kind::Websocket, &ws, "/convo", &[]),
            Ok(())
        );
        assert!(admission(&cfg, peer, Kind::Websocket, &ws, "/twilio/stream", &[]).is_err());
    }

    #[test]
    fn the_request_host_stands_in_for_a_missing_public_host() {
        let cfg = TwilioConfig {
            auth_token: Some(AuthToken::new("tok")),
            ..TwilioConfig::default()
        };
        let sig = signature::sign("tok", "ws://127.0.0.1:8080/twilio/stream", &[]);
        let h = headers(&[(SIGNATURE_HEADER, &sig), ("host", "127.0.0.1:8080")]);
        assert_eq!(
            admission(
                &cfg,
                ip("127.0.0.1"),
                Kind::Websocket,
                &h,
                "/twilio/stream",
                &[]
            ),
            Ok(())
        );
        assert!(is_twilio_path("/convo") && is_twilio_path("/twilio/voice"));
        assert!(!is_twilio_path("/twilio/other"));
    }
}
