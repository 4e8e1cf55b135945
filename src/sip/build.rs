//! Building outgoing SIP messages: responses from requests (RFC 3261 §8.2.6) and requests.
//!
//! Owns the wire text we emit: header order, `Server`/`User-Agent: phonetree`, `Allow`, `Accept`,
//! `Contact`, `Content-Type`/`Content-Length`. Serialization is ours (a start line and
//! `Name: value` lines); the parser crate is only used to *read*. Does not own identifiers
//! (`ids`) or when to send (transactions, `call`, `register`).

use std::fmt::Write as _;

use rsipstack::sip::Method;

use super::message::{Inbound, Salvage};

/// Our name and version (for `--version` and logs; not sent: see [`user_agent`]).
pub const PRODUCT: &str = concat!("phonetree/", env!("CARGO_PKG_VERSION"));
/// What we put in Server / User-Agent unless `sip.user_agent` says otherwise: no version, so a
/// scanner cannot pick exploits by release.
pub const DEFAULT_USER_AGENT: &str = "phonetree";

static USER_AGENT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

/// Sets the `Server`/`User-Agent` text for this process (`sip.user_agent`; `None`: no such
/// header). Once per process, at start; `false` if it was already set.
pub fn set_user_agent(agent: Option<String>) -> bool {
    USER_AGENT.set(agent).is_ok()
}

/// The `Server`/`User-Agent` text, if any.
pub fn user_agent() -> Option<&'static str> {
    match USER_AGENT.get() {
        Some(configured) => configured.as_deref(),
        None => Some(DEFAULT_USER_AGENT),
    }
}
/// Methods we accept (Allow, RFC 3261 §20.5). We send REFER but do not accept one, so it is
/// not listed (RFC 3515 §2.4.1).
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, NOTIFY, UPDATE";
/// Bodies we accept (OPTIONS answers, 415).
pub const ACCEPT: &str =
    "application/sdp, application/dtmf-relay, application/dtmf, message/sipfrag";
/// The one optional extension we implement: session timers (RFC 4028). No 100rel, no Replaces:
/// a request that *requires* one of those is answered 420 with `Unsupported` (RFC 3261 §8.2.2.3).
pub const SUPPORTED_OPTION_TAGS: &[&str] = &["timer"];
/// The `Supported` header value we send.
pub const SUPPORTED: &str = "timer";

/// An outgoing message being assembled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutMessage {
    pub start_line: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl OutMessage {
    /// Appends a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> OutMessage {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// Appends a header when there is a value.
    pub fn header_opt(self, name: &str, value: Option<&str>) -> OutMessage {
        match value {
            Some(v) => self.header(name, v),
            None => self,
        }
    }

    /// Sets the body and its Content-Type.
    pub fn body(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> OutMessage {
        self.headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case("Content-Type"));
        self.headers
            .push(("Content-Type".into(), content_type.to_string()));
        self.body = body.into();
        self
    }

    /// First value of a header we set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The status code when this is a response.
    pub fn status(&self) -> Option<u16> {
        let rest = self.start_line.strip_prefix("SIP/2.0 ")?;
        rest.get(..3)?.parse().ok()
    }

    /// Wire bytes, with Content-Length computed.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = String::with_capacity(256 + self.body.len());
        let _ = write!(s, "{}\r\n", self.start_line);
        for (n, v) in &self.headers {
            if n.eq_ignore_ascii_case("Content-Length") {
                continue;
            }
            let _ = write!(s, "{n}: {v}\r\n");
        }
        let _ = write!(s, "Content-Length: {}\r\n\r\n", self.body.len());
        let mut out = s.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

/// Standard reason phrases for the codes we send.
pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        415 => "Unsupported Media Type",
        420 => "Bad Extension",
        422 => "Session Interval Too Small",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        489 => "Bad Event",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        603 => "Decline",
        _ => "Unknown",
    }
}

/// A response to `req` per RFC 3261 §8.2.6: Via (all, in order, as received — the endpoint has
/// already stamped `received`/`rport`), From, Call-ID, CSeq copied; To copied with `to_tag`
/// added when the request's To had none (never on 100 Trying).
pub fn response(req: &Inbound, code: u16, to_tag: Option<&str>) -> OutMessage {
    let core = &req.core;
    let mut to = core.to.raw.clone();
    if core.to.tag.is_none() && code > 100 {
        if let Some(tag) = to_tag {
            let _ = write!(to, ";tag={tag}");
        }
    }
    let mut m = OutMessage {
        start_line: format!("SIP/2.0 {code} {}", reason_phrase(code)),
        headers: Vec::with_capacity(10),
        body: Vec::new(),
    };
    for via in core.vias() {
        m.headers.push(("Via".into(), via.raw.clone()));
    }
    m.header("From", core.from.raw.clone())
        .header("To", to)
        .header("Call-ID", core.call_id.clone())
        .header("CSeq", format!("{} {}", core.cseq.seq, core.cseq.method))
        .header_opt("Server", user_agent())
}

/// A 400/501 answer to a request that did not parse (RFC 3261 §8.2.1, §21.5.2).
pub fn salvage_response(s: &Salvage, code: u16, reason: &str) -> OutMessage {
    let mut m = OutMessage {
        start_line: format!("SIP/2.0 {code} {}", reason_phrase(code)),
        headers: Vec::new(),
        body: Vec::new(),
    };
    for via in &s.vias {
        m.headers.push(("Via".into(), via.raw.clone()));
    }
    for (n, v) in &s.echo {
        m.headers.push((n.to_string(), v.clone()));
    }
    let m = m.header_opt("Server", user_agent());
    if code == 501 || code == 405 {
        m.header("Allow", ALLOW)
    } else {
        // The Warning header (RFC 3261 §20.43) tells the sender what was wrong.
        let text: String = reason
            .chars()
            .filter(|c| !c.is_control() && *c != '"')
            .take(120)
            .collect();
        m.header("Warning", format!("399 phonetree \"{text}\""))
    }
}

/// The fixed parts of an outgoing request: request line, Via (with `rport`), Max-Forwards,
/// From, To, Call-ID, CSeq, User-Agent. The caller adds Contact, Route, bodies.
#[allow(clippy::too_many_arguments)]
pub fn request(
    method: Method,
    request_uri: &str,
    via_sent_by: &str,
    transport: super::Transport,
    branch: &str,
    from: &str,
    to: &str,
    call_id: &str,
    cseq: u32,
) -> OutMessage {
    OutMessage {
        start_line: format!("{method} {request_uri} SIP/2.0"),
        headers: Vec::with_capacity(10),
        body: Vec::new(),
    }
    .header(
        "Via",
        format!(
            "SIP/2.0/{} {via_sent_by};branch={branch};rport",
            transport.as_str()
        ),
    )
    .header("Max-Forwards", "70")
    .header("From", from)
    .header("To", to)
    .header("Call-ID", call_id)
    .header("CSeq", format!("{cseq} {method}"))
    .header_opt("User-Agent", user_agent())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::parse;

    const INVITE: &[u8] = include_bytes!("testdata/pjsua_invite.sip");

    #[test]
    fn response_copies_request_headers_and_adds_to_tag() {
        let req = parse(INVITE).expect("fixture parses");
        let r = response(&req, 200, Some("abc"));
        assert_eq!(r.start_line, "SIP/2.0 200 OK");
        assert_eq!(r.get("Via"), Some(req.core.vias()[0].raw.as_str()));
        assert_eq!(r.get("To"), Some("<sip:ivr@127.0.0.1>;tag=abc"));
        assert_eq!(r.get("From"), Some(req.core.from.raw.as_str()));
        assert_eq!(
            r.get("Call-ID"),
            Some("4a5b6c7d-8e9f-4a0b-b1c2-d3e4f5a6b7c8")
        );
        assert_eq!(r.get("CSeq"), Some("18830 INVITE"));
        assert_eq!(r.get("Server"), Some("phonetree"), "no version by default");
        // 100 Trying never carries a To tag.
        let t = response(&req, 100, Some("abc"));
        assert_eq!(t.get("To"), Some("<sip:ivr@127.0.0.1>"));
        // The serialized response parses back with the same core fields.
        let back = parse(&r.body("application/sdp", "v=0\r\n").to_bytes()).expect("reparses");
        assert_eq!(back.core.to.tag.as_deref(), Some("abc"));
        assert_eq!(back.body(), b"v=0\r\n");
        assert_eq!(back.core.cseq, req.core.cseq);
    }

    #[test]
    fn request_has_rfc3261_mandatory_headers_and_reparses() {
        let m = request(
            Method::Bye,
            "sip:a@10.0.0.1:5062",
            "10.0.0.2:5060",
            crate::sip::Transport::Udp,
            "z9hG4bKx1",
            "<sip:ivr@10.0.0.2>;tag=l",
            "<sip:a@10.0.0.1>;tag=r",
            "cid",
            7,
        );
        let p = parse(&m.to_bytes()).expect("our request parses");
        assert_eq!(p.core.cseq.seq, 7);
        assert_eq!(p.core.top_via().branch.as_deref(), Some("z9hG4bKx1"));
        assert_eq!(p.core.top_via().rport, Some(None));
        assert_eq!(p.header("Max-Forwards"), Some("70"));
        assert_eq!(p.header("Content-Length"), Some("0"));
    }
}
