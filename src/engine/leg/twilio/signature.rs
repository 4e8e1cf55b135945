//! `X-Twilio-Signature`: Twilio signs each webhook and each Media Streams websocket upgrade
//! with the account's auth token (twilio.com/docs/usage/security#validating-requests).
//!
//! The signed string is the full URL Twilio requested (scheme, host, path and query) followed,
//! for a form POST, by every parameter's name and value, sorted by name. The signature is the
//! base64 HMAC-SHA1 of that string keyed with the auth token. A reverse proxy may hide the
//! scheme and port Twilio used, so [`verify`] accepts the URL with `https`/`wss` or
//! `http`/`ws`, with and without the default port, as Twilio's own helper libraries do: all of
//! them need the token, so accepting the variants weakens nothing.
//!
//! HMAC from `ring` (already in the tree through rustls); the comparison is ring's
//! constant-time `verify`.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ring::hmac;

/// What was requested: the webhook (a form POST) or the websocket upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Webhook,
    Websocket,
}

/// The signature Twilio would send for `url` and `params`.
pub fn sign(token: &str, url: &str, params: &[(String, String)]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, token.as_bytes());
    B64.encode(hmac::sign(&key, signed_string(url, params).as_bytes()).as_ref())
}

/// Whether `header` is Twilio's signature of a request for `host` + `path_and_query` with
/// these form `params` (empty for the websocket upgrade).
pub fn verify(
    token: &str,
    kind: Kind,
    host: &str,
    path_and_query: &str,
    params: &[(String, String)],
    header: &str,
) -> bool {
    let Ok(tag) = B64.decode(header.trim()) else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, token.as_bytes());
    candidates(kind, host, path_and_query)
        .iter()
        .any(|url| hmac::verify(&key, signed_string(url, params).as_bytes(), &tag).is_ok())
}

fn signed_string(url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut s = url.to_string();
    for (k, v) in sorted {
        s.push_str(k);
        s.push_str(v);
    }
    s
}

/// The URLs Twilio may have signed for this request.
fn candidates(kind: Kind, host: &str, path_and_query: &str) -> Vec<String> {
    let schemes: [(&str, u16); 2] = match kind {
        Kind::Webhook => [("https", 443), ("http", 80)],
        Kind::Websocket => [("wss", 443), ("ws", 80)],
    };
    let bare = strip_port(host);
    let mut out = Vec::new();
    for (scheme, port) in schemes {
        out.push(format!("{scheme}://{host}{path_and_query}"));
        match bare {
            Some((h, p)) if p == port => out.push(format!("{scheme}://{h}{path_and_query}")),
            None => out.push(format!("{scheme}://{host}:{port}{path_and_query}")),
            _ => {}
        }
    }
    out
}

/// `host:443` → (`host`, 443); `None` without a port (IPv6 literals keep their brackets).
fn strip_port(host: &str) -> Option<(&str, u16)> {
    let (h, p) = host.rsplit_once(':')?;
    if h.is_empty() || (h.contains(':') && !h.ends_with(']')) {
        return None;
    }
    p.parse().ok().map(|p| (h, p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(k: &str, v: &str) -> (String, String) {
        (k.into(), v.into())
    }

    /// The worked example of Twilio's security page (token `12345`).
    #[test]
    fn matches_twilios_documented_example() {
        let params = [
            p("CallSid", "CA1234567890ABCDE"),
            p("Caller", "+14158675309"),
            p("Digits", "1234"),
            p("From", "+14158675309"),
            p("To", "+18005551212"),
        ];
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(sign("12345", url, &params), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
        assert!(verify(
            "12345",
            Kind::Webhook,
            "mycompany.com",
            "/myapp.php?foo=1&bar=2",
            &params,
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
    }

    #[test]
    fn order_of_params_does_not_matter_but_every_byte_does() {
        let a = [p("To", "1"), p("From", "2")];
        let b = [p("From", "2"), p("To", "1")];
        let sig = sign("tok", "https://h/twilio/voice", &a);
        assert!(verify("tok", Kind::Webhook, "h", "/twilio/voice", &b, &sig));
        assert!(!verify(
            "tok",
            Kind::Webhook,
            "h",
            "/twilio/voice",
            &[p("To", "1")],
            &sig
        ));
        assert!(!verify(
            "other",
            Kind::Webhook,
            "h",
            "/twilio/voice",
            &a,
            &sig
        ));
        assert!(!verify(
            "tok",
            Kind::Webhook,
            "h",
            "/twilio/voice",
            &a,
            "not base64!"
        ));
    }

    #[test]
    fn websocket_urls_with_and_without_the_default_port() {
        let sig = sign("tok", "wss://ivr.example.com/twilio/stream", &[]);
        for host in ["ivr.example.com", "ivr.example.com:443"] {
            assert!(
                verify("tok", Kind::Websocket, host, "/twilio/stream", &[], &sig),
                "{host}"
            );
        }
        let sig = sign("tok", "ws://127.0.0.1:8080/convo", &[]);
        assert!(verify(
            "tok",
            Kind::Websocket,
            "127.0.0.1:8080",
            "/convo",
            &[],
            &sig
        ));
        assert!(!verify(
            "tok",
            Kind::Websocket,
            "127.0.0.1:8081",
            "/convo",
            &[],
            &sig
        ));
        assert_eq!(strip_port("[::1]:80"), Some(("[::1]", 80)));
        assert_eq!(strip_port("::1"), None);
    }
}
