//! Webhooks for the `http` node (reqwest over rustls): a typed result the call turns into the
//! machine's `Input`; nothing here panics on what a server sends back. (Text to speech is
//! `engine::tts`, voice agents `engine::agent`.)
//!
//! Requests that have no provider on this server fail at once with [`NOT_CONFIGURED`] so the
//! flow takes its error branch.

use std::time::Duration;

use crate::machine::io::{HttpReply, HttpRequest};

/// The failure given to listen/agent/stream/record on this server.
pub const NOT_CONFIGURED: &str = "not configured on this server";

/// Largest webhook response body read.
const MAX_HTTP_BODY: usize = 1 << 20;

/// The shared webhook client (rustls, no redirects beyond reqwest's default of 10).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(concat!("phonetree/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// Executes one webhook. The error text never contains the URL (it may carry an API key).
pub async fn http(client: &reqwest::Client, req: &HttpRequest) -> Result<HttpReply, String> {
    let method =
        reqwest::Method::from_bytes(req.method.as_str().as_bytes()).map_err(|e| e.to_string())?;
    let mut rb = client
        .request(method, &req.url)
        .timeout(req.timeout.max(Duration::from_millis(1)));
    for (k, v) in &req.headers {
        rb = rb.header(k, v);
    }
    if let Some(body) = &req.body {
        let bytes = serde_json::to_vec(body).map_err(|e| e.to_string())?;
        rb = rb
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(bytes);
    }
    let mut resp = rb.send().await.map_err(describe)?;
    let status = resp.status().as_u16();
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(describe)? {
        if body.len() + chunk.len() > MAX_HTTP_BODY {
            return Err(format!("response larger than {MAX_HTTP_BODY} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    // Not JSON (or empty): `Null`, as the machine's contract says.
    let body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    Ok(HttpReply { status, body })
}

fn describe(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let e = e.without_url();
    format!("{kind}: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::program::HttpMethod;
    use crate::machine::io::RequestId;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn one_shot_server(reply: &'static str) -> std::net::SocketAddr {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(reply.as_bytes()).await;
        });
        addr
    }

    fn req(url: String) -> HttpRequest {
        HttpRequest {
            id: RequestId(1),
            method: HttpMethod::Post,
            url,
            headers: vec![("X-Test".into(), "1".into())],
            body: Some(serde_json::json!({"from": "+1555"})),
            timeout: Duration::from_secs(5),
        }
    }

    #[tokio::test]
    async fn json_replies_are_parsed_and_bad_json_is_null() {
        let c = http_client();
        let ok = "HTTP/1.1 200 OK\r\ncontent-length: 11\r\nconnection: close\r\n\r\n{\"temp\":35}";
        let addr = one_shot_server(ok).await;
        let r = http(&c, &req(format!("http://{addr}/w"))).await.unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, serde_json::json!({"temp": 35}));
        let bad = "HTTP/1.1 500 Oops\r\ncontent-length: 5\r\nconnection: close\r\n\r\n{nope";
        let addr = one_shot_server(bad).await;
        let r = http(&c, &req(format!("http://{addr}/w"))).await.unwrap();
        assert_eq!((r.status, r.body), (500, serde_json::Value::Null));
    }

    #[tokio::test]
    async fn errors_do_not_leak_the_url() {
        let c = http_client();
        // A port nothing listens on (bound then dropped).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = http(&c, &req(format!("http://127.0.0.1:{port}/x?key=SECRETKEY")))
            .await
            .unwrap_err();
        assert!(!e.contains("SECRETKEY"), "{e}");
        assert!(e.starts_with("connection failed"), "{e}");
    }
}
