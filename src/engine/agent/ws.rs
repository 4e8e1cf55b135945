//! Opening a Realtime websocket: `Authorization: Bearer <key>` and nothing of the retired beta
//! (no `OpenAI-Beta` header), TLS by rustls with the platform verifier (as reqwest), bounded
//! message sizes, one timeout over TCP + TLS + the HTTP upgrade.
//!
//! A refused upgrade is reported with its status and, when the body is the API's JSON error,
//! its `code` (`invalid_api_key`, `beta_api_shape_disabled`, ...). Errors never contain the
//! key, and the URL they name is the configured one (which holds no secret).

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use crate::config::openai::ApiKey;

/// The socket to a Realtime server.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Largest message accepted from the server (audio deltas are far smaller).
const MAX_MESSAGE: usize = 16 << 20;

/// Why the socket could not be opened.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnectError {
    Timeout(Duration),
    /// The server answered the upgrade with an HTTP error.
    Refused {
        status: u16,
        code: Option<String>,
        message: Option<String>,
    },
    /// DNS, TCP, TLS or protocol failure (the text names it).
    Failed(String),
    /// The configured URL is not usable.
    BadUrl(String),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Timeout(d) => write!(f, "no connection within {}s", d.as_secs_f32()),
            ConnectError::Refused {
                status,
                code,
                message,
            } => {
                write!(f, "the server refused the connection: HTTP {status}")?;
                if let Some(c) = code {
                    write!(f, " ({c})")?;
                }
                if let Some(m) = message {
                    write!(f, ": {}", m.chars().take(200).collect::<String>())?;
                }
                Ok(())
            }
            ConnectError::Failed(e) => write!(f, "connection failed: {e}"),
            ConnectError::BadUrl(e) => write!(f, "bad Realtime URL: {e}"),
        }
    }
}

impl std::error::Error for ConnectError {}

/// Opens `url` with the key, within `timeout`.
pub async fn connect(url: &str, key: &ApiKey, timeout: Duration) -> Result<Ws, ConnectError> {
    let mut request = url
        .into_client_request()
        .map_err(|e| ConnectError::BadUrl(e.to_string()))?;
    let auth = HeaderValue::from_str(&key.bearer())
        .map_err(|_| ConnectError::BadUrl("the API key is not a valid header value".into()))?;
    let headers = request.headers_mut();
    headers.insert("authorization", auth);
    headers.insert(
        "user-agent",
        HeaderValue::from_static(concat!("phonetree/", env!("CARGO_PKG_VERSION"))),
    );
    let config = crate::engine::ws_config::ws_config(MAX_MESSAGE);
    let connector = if url.starts_with("wss://") {
        Some(Connector::Rustls(
            tls_config().map_err(ConnectError::Failed)?,
        ))
    } else {
        Some(Connector::Plain)
    };
    let fut =
        tokio_tungstenite::connect_async_tls_with_config(request, Some(config), true, connector);
    match tokio::time::timeout(timeout, fut).await {
        Err(_) => Err(ConnectError::Timeout(timeout)),
        Ok(Ok((ws, _))) => Ok(ws),
        Ok(Err(e)) => Err(describe(e)),
    }
}

fn describe(e: tokio_tungstenite::tungstenite::Error) -> ConnectError {
    use tokio_tungstenite::tungstenite::Error;
    match e {
        Error::Http(resp) => {
            let status = resp.status().as_u16();
            let body: Option<serde_json::Value> = resp
                .body()
                .as_deref()
                .and_then(|b| serde_json::from_slice(b).ok());
            let field = |k: &str| {
                body.as_ref()
                    .and_then(|v| v.pointer(&format!("/error/{k}")).or_else(|| v.get(k)))
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
            };
            ConnectError::Refused {
                status,
                code: field("code"),
                message: field("message"),
            }
        }
        Error::Url(e) => ConnectError::BadUrl(e.to_string()),
        other => ConnectError::Failed(other.to_string()),
    }
}

/// rustls with the platform's roots, built once.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            use rustls_platform_verifier::BuilderVerifierExt;
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_platform_verifier()
                .map(|b| Arc::new(b.with_no_client_auth()))
                .map_err(|e| format!("TLS setup: {e}"))
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server that answers the upgrade with `reply` and records the request.
    async fn http_server(reply: &'static str) -> (String, tokio::task::JoinHandle<String>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let h = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = vec![0u8; 8192];
            let n = s.read(&mut buf).await.unwrap();
            let _ = s.write_all(reply.as_bytes()).await;
            String::from_utf8_lossy(&buf[..n]).into_owned()
        });
        (format!("ws://{addr}/v1/realtime?model=gpt-realtime"), h)
    }

    #[tokio::test]
    async fn a_refused_key_names_the_status_and_code_but_not_the_key() {
        let body = r#"{"error":{"type":"invalid_request_error","code":"invalid_api_key","message":"Incorrect API key provided"}}"#;
        let reply: &'static str = Box::leak(
            format!(
                "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
            .into_boxed_str(),
        );
        let (url, server) = http_server(reply).await;
        let key = ApiKey::new("sk-very-secret");
        let e = connect(&url, &key, Duration::from_secs(5))
            .await
            .err()
            .unwrap();
        let text = e.to_string();
        assert_eq!(
            e,
            ConnectError::Refused {
                status: 401,
                code: Some("invalid_api_key".into()),
                message: Some("Incorrect API key provided".into())
            }
        );
        assert!(!text.contains("sk-very-secret"), "{text}");
        let request = server.await.unwrap().to_ascii_lowercase();
        assert!(
            request.starts_with("get /v1/realtime?model=gpt-realtime "),
            "{request}"
        );
        assert!(request.contains("authorization: bearer sk-very-secret"));
        assert!(!request.contains("openai-beta"), "GA only");
    }

    #[tokio::test]
    async fn nothing_listening_and_silence_fail_in_time() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let key = ApiKey::new("k");
        let e = connect(
            &format!("ws://127.0.0.1:{port}/v1/realtime"),
            &key,
            Duration::from_secs(5),
        )
        .await
        .err()
        .unwrap();
        assert!(matches!(e, ConnectError::Failed(_)), "{e}");
        // Accepts TCP, never answers.
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let _keep = tokio::spawn(async move {
            let (s, _) = l.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(30)).await;
            drop(s);
        });
        let e = connect(
            &format!("ws://{addr}/v1/realtime"),
            &key,
            Duration::from_millis(300),
        )
        .await
        .err()
        .unwrap();
        assert_eq!(e, ConnectError::Timeout(Duration::from_millis(300)));
        assert!(matches!(
            connect("http://x", &key, Duration::from_secs(1))
                .await
                .err()
                .unwrap(),
            ConnectError::BadUrl(_)
        ));
    }

    #[test]
    fn tls_config_builds() {
        assert!(tls_config().is_ok());
    }
}
