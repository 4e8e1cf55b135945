//! Sending SMS: the Twilio Messages REST API, or a generic HTTP webhook.
//!
//! - **Twilio**: `POST {base_url}/2010-04-01/Accounts/{AccountSid}/Messages.json`, form fields
//!   `To`, `From`, `Body`, HTTP Basic `AccountSid:AuthToken`; `201` with the Message resource
//!   (its `sid` and `status` are kept), `4xx` with `{code, message}` (a permanent refusal: the
//!   job is not retried), `5xx` or no answer (retried by the job's policy). `base_url` is
//!   configurable so tests talk to a local stand-in of the documented API.
//! - **Webhook**: `POST {url}` with JSON `{"to", "from", "text"}` and an optional bearer token;
//!   any 2xx is sent, 4xx refused, the rest retried.
//!
//! The auth token is a [`Secret`]; no result text contains it, the URL, or the message body.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::sip::digest::Secret;

/// Where SMS go.
#[derive(Debug, Clone, PartialEq)]
pub enum SmsProvider {
    Twilio {
        account_sid: String,
        auth_token: Secret,
        base_url: String,
    },
    Webhook {
        url: String,
        token: Option<Secret>,
    },
}

/// The SMS settings (`sms.*`).
#[derive(Debug, Clone, PartialEq)]
pub struct SmsConfig {
    pub provider: SmsProvider,
    /// The sender (E.164 number or alphanumeric id).
    pub from: String,
    pub timeout: Duration,
}

/// How one send ended (stored as the attempt's outcome and detail).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SmsResult {
    /// `sent`, `rejected` (a permanent refusal) or `failed` (worth retrying).
    pub outcome: &'static str,
    /// The provider's id and status (`SM… queued`), or what went wrong.
    pub detail: String,
    /// The HTTP status, when there was one.
    pub status: Option<u16>,
}

impl SmsResult {
    fn sent(detail: String, status: u16) -> SmsResult {
        SmsResult {
            outcome: "sent",
            detail,
            status: Some(status),
        }
    }

    fn failed(detail: String, status: Option<u16>) -> SmsResult {
        let outcome = match status {
            Some(s) if (400..500).contains(&s) && s != 408 && s != 429 => "rejected",
            _ => "failed",
        };
        SmsResult {
            outcome,
            detail,
            status,
        }
    }
}

impl fmt::Display for SmsResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.outcome, self.detail)
    }
}

/// Longest body sent (Twilio's limit).
pub const MAX_BODY: usize = 1600;

/// Sends one SMS.
pub async fn send(client: &reqwest::Client, cfg: &SmsConfig, to: &str, text: &str) -> SmsResult {
    let text: String = text.chars().take(MAX_BODY).collect();
    let req = match &cfg.provider {
        SmsProvider::Twilio {
            account_sid,
            auth_token,
            base_url,
        } => {
            let url = format!(
                "{}/2010-04-01/Accounts/{}/Messages.json",
                base_url.trim_end_matches('/'),
                form_escape(account_sid)
            );
            let body = format!(
                "To={}&From={}&Body={}",
                form_escape(to),
                form_escape(&cfg.from),
                form_escape(&text)
            );
            client
                .post(url)
                .basic_auth(account_sid, Some(auth_token.reveal()))
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(body)
        }
        SmsProvider::Webhook { url, token } => {
            let body = serde_json::json!({"to": to, "from": cfg.from, "text": text});
            let mut rb = client
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string());
            if let Some(t) = token {
                rb = rb.bearer_auth(t.reveal());
            }
            rb
        }
    };
    let resp = match req.timeout(cfg.timeout).send().await {
        Ok(r) => r,
        Err(e) => {
            let why = if e.is_timeout() {
                "timeout"
            } else if e.is_connect() {
                "connection failed"
            } else {
                "request failed"
            };
            return SmsResult::failed(why.to_string(), None);
        }
    };
    let status = resp.status().as_u16();
    let body: serde_json::Value = match resp.bytes().await {
        Ok(b) if b.len() <= 64 * 1024 => serde_json::from_slice(&b).unwrap_or_default(),
        _ => serde_json::Value::Null,
    };
    let field = |k: &str| {
        body.get(k)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string()
    };
    match (&cfg.provider, status) {
        (SmsProvider::Twilio { .. }, 200..=299) => {
            SmsResult::sent(format!("{} {}", field("sid"), field("status")), status)
        }
        (SmsProvider::Webhook { .. }, 200..=299) => {
            SmsResult::sent(format!("HTTP {status}"), status)
        }
        (SmsProvider::Twilio { .. }, _) => {
            let code = body.get("code").map(|c| c.to_string()).unwrap_or_default();
            let msg: String = field("message").chars().take(200).collect();
            SmsResult::failed(
                format!("HTTP {status} {code} {msg}").trim().to_string(),
                Some(status),
            )
        }
        (SmsProvider::Webhook { .. }, _) => {
            SmsResult::failed(format!("HTTP {status}"), Some(status))
        }
    }
}

/// `application/x-www-form-urlencoded` for one value: everything but unreserved characters
/// percent-encoded (so `+4930…` keeps its plus).
pub fn form_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_values_keep_plus_and_unicode() {
        assert_eq!(form_escape("+4930 1&x=é"), "%2B4930%201%26x%3D%C3%A9");
    }

    #[test]
    fn permanent_and_retryable_failures() {
        assert_eq!(SmsResult::failed("x".into(), Some(400)).outcome, "rejected");
        assert_eq!(SmsResult::failed("x".into(), Some(401)).outcome, "rejected");
        assert_eq!(SmsResult::failed("x".into(), Some(429)).outcome, "failed");
        assert_eq!(SmsResult::failed("x".into(), Some(503)).outcome, "failed");
        assert_eq!(SmsResult::failed("x".into(), None).outcome, "failed");
    }

    #[test]
    fn the_token_never_shows() {
        let cfg = SmsConfig {
            provider: SmsProvider::Twilio {
                account_sid: "AC1".into(),
                auth_token: Secret::new("tok-secret"),
                base_url: "http://127.0.0.1:1".into(),
            },
            from: "+1555".into(),
            timeout: Duration::from_secs(1),
        };
        assert!(!format!("{cfg:?}").contains("tok-secret"));
    }
}
