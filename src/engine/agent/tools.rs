//! A webhook tool's call: the model's arguments as the JSON body, the url and headers the
//! machine rendered, the `http` node's timeout and retries; the response body (text, at most
//! [`MAX_ANSWER`] bytes) is what the model hears back. A non-2xx status, a timeout or a
//! network failure after the retries is an `Err` whose text the model is given instead (so it
//! can tell the caller), without the URL.

use std::time::Duration;

use crate::machine::io::WebhookRequest;

/// Largest answer passed to the model.
pub const MAX_ANSWER: usize = 64 << 10;

pub async fn call(
    client: &reqwest::Client,
    hook: &WebhookRequest,
    arguments: &serde_json::Value,
) -> Result<String, String> {
    let mut last = String::new();
    for attempt in 0..=hook.retries {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
        }
        match once(client, hook, arguments).await {
            Ok(body) => return Ok(body),
            Err((e, retry)) => {
                last = e;
                if !retry {
                    break;
                }
            }
        }
    }
    Err(last)
}

/// One attempt; the flag says whether another may help (5xx, timeout, network).
async fn once(
    client: &reqwest::Client,
    hook: &WebhookRequest,
    arguments: &serde_json::Value,
) -> Result<String, (String, bool)> {
    let method = reqwest::Method::from_bytes(hook.method.as_str().as_bytes())
        .map_err(|e| (e.to_string(), false))?;
    let mut rb = client
        .request(method, &hook.url)
        .timeout(hook.timeout.max(Duration::from_millis(1)))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(arguments.to_string());
    for (k, v) in &hook.headers {
        rb = rb.header(k, v);
    }
    let mut resp = rb.send().await.map_err(|e| (describe(e), true))?;
    let status = resp.status();
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| (describe(e), true))? {
        let room = MAX_ANSWER.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if room <= chunk.len() {
            break;
        }
    }
    let text = String::from_utf8_lossy(&body).into_owned();
    if status.is_success() {
        Ok(text)
    } else {
        let short: String = text.chars().take(300).collect();
        Err((
            format!("HTTP {}: {short}", status.as_u16()),
            status.is_server_error(),
        ))
    }
}

fn describe(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    format!("{kind}: {}", e.without_url())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::program::HttpMethod;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Answers each connection with the next reply; returns the requests it read.
    async fn server(replies: Vec<&'static str>) -> (String, tokio::task::JoinHandle<Vec<String>>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let h = tokio::spawn(async move {
            let mut seen = Vec::new();
            for reply in replies {
                let (mut s, _) = l.accept().await.unwrap();
                let mut buf = vec![0u8; 8192];
                let n = s.read(&mut buf).await.unwrap();
                seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
                let _ = s.write_all(reply.as_bytes()).await;
            }
            seen
        });
        (format!("http://{addr}/orders?key=SECRET"), h)
    }

    fn hook(url: String, retries: u8) -> WebhookRequest {
        WebhookRequest {
            method: HttpMethod::Post,
            url,
            headers: vec![("X-Call".into(), "c1".into())],
            timeout: Duration::from_secs(5),
            retries,
        }
    }

    #[tokio::test]
    async fn arguments_are_the_body_and_the_body_is_the_answer_after_a_retried_503() {
        let (url, srv) = server(vec![
            "HTTP/1.1 503 Busy\r\ncontent-length: 4\r\nconnection: close\r\n\r\nbusy",
            "HTTP/1.1 200 OK\r\ncontent-length: 20\r\nconnection: close\r\n\r\n{\"status\":\"shipped\"}",
        ])
        .await;
        let client = reqwest::Client::new();
        let args = serde_json::json!({"order": "A-17"});
        let answer = call(&client, &hook(url, 1), &args).await.unwrap();
        assert_eq!(answer, "{\"status\":\"shipped\"}");
        let seen = srv.await.unwrap();
        assert!(seen[1].starts_with("POST /orders?key=SECRET "));
        assert!(seen[1].to_ascii_lowercase().contains("x-call: c1"));
        assert!(seen[1].ends_with("{\"order\":\"A-17\"}"));
    }

    #[tokio::test]
    async fn a_client_error_is_not_retried_and_errors_hide_the_url() {
        let (url, srv) = server(vec![
            "HTTP/1.1 404 Not Found\r\ncontent-length: 7\r\nconnection: close\r\n\r\nno such",
        ])
        .await;
        let client = reqwest::Client::new();
        let e = call(&client, &hook(url, 3), &serde_json::json!({}))
            .await
            .unwrap_err();
        assert_eq!(e, "HTTP 404: no such");
        assert_eq!(srv.await.unwrap().len(), 1);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = call(
            &client,
            &hook(format!("http://127.0.0.1:{port}/x?key=SECRET"), 0),
            &serde_json::json!({}),
        )
        .await
        .unwrap_err();
        assert!(e.starts_with("connection failed"), "{e}");
        assert!(!e.contains("SECRET"), "{e}");
    }
}
