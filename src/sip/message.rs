//! Parsing an incoming SIP datagram into a typed [`Inbound`] message.
//!
//! Owns: calling the parser crate (`rsipstack::sip`), then extracting the fields every layer above
//! needs ([`Core`]: the Via stack, Call-ID, From/To with tags, CSeq) with our own small, total
//! parsers, and salvaging enough of a broken *request* to answer it with 400/501
//! ([`Salvage`]). Never panics on input: every failure is a [`ParseError`].
//!
//! Does not own: deciding what to do with a message (see `endpoint`) or building messages
//! (see `build`).

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use rsipstack::sip::{HasHeaders, Method, Request, Response, SipMessage};

use super::Transport;

/// Why a datagram could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The parser crate rejected the framing, start line or a header.
    Syntax(String),
    /// A header RFC 3261 §8.1.1 requires is absent.
    MissingHeader(&'static str),
    /// A required header is present but unusable.
    BadHeader { name: &'static str, value: String },
    /// The request line names a method we do not know (answered 501).
    UnknownMethod(String),
    /// Longer than [`MAX_MESSAGE_BYTES`] (or a `Content-Length` that says so).
    TooLarge { size: usize },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Syntax(s) => write!(f, "syntax error: {s}"),
            ParseError::MissingHeader(h) => write!(f, "missing header {h}"),
            ParseError::BadHeader { name, value } => write!(f, "bad {name} header: {value:?}"),
            ParseError::UnknownMethod(m) => write!(f, "unknown method {m:?}"),
            ParseError::TooLarge { size } => write!(
                f,
                "message of {size} bytes is over the {MAX_MESSAGE_BYTES}-byte limit"
            ),
        }
    }
}

impl std::error::Error for ParseError {}

/// A parsed message plus the fields every layer needs.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub msg: SipMessage,
    pub core: Core,
}

impl Inbound {
    /// The request, if this is one.
    pub fn request(&self) -> Option<&Request> {
        match &self.msg {
            SipMessage::Request(r) => Some(r),
            SipMessage::Response(_) => None,
        }
    }

    /// The response, if this is one.
    pub fn response(&self) -> Option<&Response> {
        match &self.msg {
            SipMessage::Response(r) => Some(r),
            SipMessage::Request(_) => None,
        }
    }

    /// The body bytes.
    pub fn body(&self) -> &[u8] {
        match &self.msg {
            SipMessage::Request(r) => &r.body,
            SipMessage::Response(r) => &r.body,
        }
    }

    /// First value of a header by name (case-insensitive; compact forms are already expanded).
    pub fn header(&self, name: &str) -> Option<&str> {
        header_value(self.msg.headers(), name)
    }

    /// Every occurrence of a header, values unsplit (for headers whose values contain commas,
    /// like WWW-Authenticate).
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.msg
            .headers()
            .iter()
            .filter(|h| h.name().eq_ignore_ascii_case(name))
            .map(|h| h.value())
            .collect()
    }

    /// All values of a header, comma lists split (for Via, Route, Record-Route…).
    pub fn header_list(&self, name: &str) -> Vec<String> {
        header_list(self.msg.headers(), name)
    }

    /// Content-Type without parameters, lowercased.
    pub fn content_type(&self) -> Option<String> {
        self.header("Content-Type").map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
    }
}

/// The fields of RFC 3261 §8.1.1 that transactions and dialogs key on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Core {
    /// Via stack, topmost first (comma lists split). Never empty: only `parse` builds a
    /// `Core`, and it refuses a message without Via.
    vias: Vec<Via>,
    pub call_id: String,
    pub from: NameAddr,
    pub to: NameAddr,
    pub cseq: CSeq,
}

impl Core {
    /// The topmost Via.
    pub fn top_via(&self) -> &Via {
        // Invariant: `vias` is non-empty (see the field), so index 0 exists.
        &self.vias[0]
    }

    /// The whole Via stack, topmost first.
    pub fn vias(&self) -> &[Via] {
        &self.vias
    }

    /// Stamps `received`/`rport` on the top Via (see [`Via::stamp`]).
    pub fn stamp_top_via(&mut self, source: SocketAddr) {
        if let Some(top) = self.vias.first_mut() {
            top.stamp(source);
        }
    }

    /// The transaction key of RFC 3261 §17.2.3 for this message (`method` is the CSeq method,
    /// except that ACK and CANCEL are matched by the caller against INVITE).
    pub fn tx_key(&self, method: Method) -> TxKey {
        let via = self.top_via();
        let branch = match &via.branch {
            Some(b) if b.starts_with("z9hG4bK") => b.clone(),
            // RFC 2543 peer: no magic cookie; fall back to the dialog-ish identifiers.
            other => format!(
                "2543:{}:{}:{}:{}",
                other.as_deref().unwrap_or(""),
                self.call_id,
                self.cseq.seq,
                self.from.tag.as_deref().unwrap_or("")
            ),
        };
        TxKey {
            branch,
            sent_by: via.sent_by(),
            method,
        }
    }
}

/// Transaction identity: branch + sent-by + method (RFC 3261 §17.2.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TxKey {
    pub branch: String,
    pub sent_by: String,
    pub method: Method,
}

/// One Via value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    pub transport: Transport,
    pub host: String,
    pub port: Option<u16>,
    pub branch: Option<String>,
    pub received: Option<String>,
    /// `None`: no rport; `Some(None)`: bare `rport` (RFC 3581 request); `Some(Some(p))`: filled.
    pub rport: Option<Option<u16>>,
    /// The value as received, re-emitted verbatim in responses.
    pub raw: String,
}

impl Via {
    /// `host[:port]` as the key part of a transaction id.
    pub fn sent_by(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.clone(),
        }
    }

    /// Parses one Via value (`SIP/2.0/UDP host:port;params`).
    pub fn parse(raw: &str) -> Result<Via, ParseError> {
        let bad = || ParseError::BadHeader {
            name: "Via",
            value: raw.to_string(),
        };
        let raw = raw.trim();
        let (proto, rest) = raw.split_once(char::is_whitespace).ok_or_else(bad)?;
        let mut proto_parts = proto.split('/');
        let (name, version, transport) = (
            proto_parts.next().ok_or_else(bad)?,
            proto_parts.next().ok_or_else(bad)?,
            proto_parts.next().ok_or_else(bad)?,
        );
        if !name.trim().eq_ignore_ascii_case("SIP")
            || version.trim() != "2.0"
            || proto_parts.next().is_some()
        {
            return Err(bad());
        }
        let transport = Transport::from_token(transport.trim()).ok_or_else(bad)?;
        let mut parts = rest.split(';');
        let sent_by = parts.next().ok_or_else(bad)?.trim();
        let (host, port) = split_host_port(sent_by).ok_or_else(bad)?;
        // A host name or an IP literal (fuzzing: `SIP/2.0` was taken as a host, and the 400
        // echoing it did not parse).
        let host_char =
            |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '[' | ']');
        if host.is_empty() || !host.chars().all(host_char) {
            return Err(bad());
        }
        let mut via = Via {
            transport,
            host,
            port,
            branch: None,
            received: None,
            rport: None,
            raw: raw.to_string(),
        };
        // Parameters are tokens (`branch=z9hG4bK-1`, `rport`, `received=192.0.2.1`,
        // `maddr=[::1]`): a quoted string, a comma or a space inside one is refused, so a Via we
        // accept is one we can echo and read back (fuzzing: a Via with quotes and commas in its
        // parameters split differently when our 400 was read again).
        let param_char = |c: char| {
            c.is_ascii_alphanumeric()
                || matches!(
                    c,
                    '-' | '.'
                        | '!'
                        | '%'
                        | '*'
                        | '_'
                        | '+'
                        | '`'
                        | '\''
                        | '~'
                        | '='
                        | ':'
                        | '['
                        | ']'
                )
        };
        let parts: Vec<&str> = parts.map(str::trim).collect();
        if parts.iter().any(|p| !p.chars().all(param_char)) {
            return Err(bad());
        }
        for p in parts {
            let (k, v) = match p.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v.trim())),
                None => (p, None),
            };
            if k.eq_ignore_ascii_case("branch") {
                via.branch = v.map(str::to_string);
            } else if k.eq_ignore_ascii_case("received") {
                via.received = v.map(str::to_string);
            } else if k.eq_ignore_ascii_case("rport") {
                via.rport = Some(v.and_then(|v| v.parse().ok()));
            }
        }
        Ok(via)
    }

    /// RFC 3261 §18.2.1 and RFC 3581 §4 on receipt: add `received` when the sent-by host is not
    /// the packet's source address (always when `rport` was asked for) and fill `rport` with the
    /// source port. Updates `raw`, which responses echo. A `received` or `rport` value the
    /// sender wrote itself is removed first: it would redirect our responses to any address.
    pub fn stamp(&mut self, source: SocketAddr) {
        let ip = source.ip().to_string();
        let same_host = self.host.trim_matches(['[', ']']) == ip;
        let wants_rport = self.rport.is_some();
        if same_host && !wants_rport {
            if self.received.is_some() {
                self.raw = strip_params(&self.raw, &["received"]);
                self.received = None;
            }
            return;
        }
        let mut parts = self.raw.split(';');
        let mut raw = parts.next().unwrap_or_default().to_string();
        for p in parts {
            let k = p.split('=').next().unwrap_or_default().trim();
            if k.eq_ignore_ascii_case("received") || k.eq_ignore_ascii_case("rport") {
                continue;
            }
            raw.push(';');
            raw.push_str(p);
        }
        raw.push_str(&format!(";received={ip}"));
        self.received = Some(ip);
        if wants_rport {
            raw.push_str(&format!(";rport={}", source.port()));
            self.rport = Some(Some(source.port()));
        }
        self.raw = raw;
    }

    /// Where a response to a request carrying this Via goes (RFC 3261 §18.2.2, RFC 3581 §4):
    /// over UDP to the packet's source (`received` + `rport`) when rport was asked for, else to
    /// `received`/sent-by with the sent-by port; over TCP back on the connection (the source).
    pub fn response_dest(&self, source: SocketAddr, transport: Transport) -> SocketAddr {
        if transport.is_reliable() || self.rport.is_some() {
            return source;
        }
        let ip = self
            .received
            .as_deref()
            .and_then(|r| r.parse::<IpAddr>().ok())
            .or_else(|| self.host.trim_matches(['[', ']']).parse::<IpAddr>().ok())
            .unwrap_or(source.ip());
        SocketAddr::new(ip, self.port.unwrap_or(5060))
    }
}

/// `raw` without the `;name[=value]` parameters listed.
fn strip_params(raw: &str, names: &[&str]) -> String {
    let mut parts = raw.split(';');
    let mut out = parts.next().unwrap_or_default().to_string();
    for p in parts {
        let k = p.split('=').next().unwrap_or_default().trim();
        if names.iter().any(|n| k.eq_ignore_ascii_case(n)) {
            continue;
        }
        out.push(';');
        out.push_str(p);
    }
    out
}

/// `[display] <uri>;params` or `uri;params` (From, To, Contact, Refer-To…).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    pub display: Option<String>,
    pub uri: String,
    pub tag: Option<String>,
    /// The value as received, re-emitted verbatim in responses.
    pub raw: String,
}

impl NameAddr {
    /// Parses a name-addr or addr-spec; header parameters after `>` (or after the URI when there
    /// are no brackets) are scanned for `tag`.
    pub fn parse(raw: &str, name: &'static str) -> Result<NameAddr, ParseError> {
        let bad = || ParseError::BadHeader {
            name,
            value: raw.to_string(),
        };
        let t = raw.trim();
        let (display, uri, params) = if let Some(lt) = t.find('<') {
            let gt = t[lt..].find('>').ok_or_else(bad)? + lt;
            let display = t[..lt].trim().trim_matches('"').trim();
            (
                (!display.is_empty()).then(|| display.to_string()),
                t[lt + 1..gt].trim(),
                &t[gt + 1..],
            )
        } else {
            match t.find(';') {
                Some(i) => (None, t[..i].trim(), &t[i..]),
                None => (None, t, ""),
            }
        };
        // A URI has no spaces, quotes or angle brackets (RFC 3261 §25.1): such a value is
        // refused here rather than echoed into a request line later.
        let unusable =
            |c: char| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"');
        if uri.is_empty() || !uri.contains(':') || uri.contains(unusable) {
            return Err(bad());
        }
        let tag = params
            .split(';')
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("tag"))
            .map(|(_, v)| v.trim().to_string());
        Ok(NameAddr {
            display,
            uri: uri.to_string(),
            tag,
            raw: t.to_string(),
        })
    }

    /// The user part of the URI (`sip:1001@host` → `1001`), if any.
    pub fn user(&self) -> Option<&str> {
        uri_user(&self.uri)
    }
}

/// Whether `uri` is one our parser takes as a request URI (the test for a URI we will later
/// send requests to: a dialog's remote target, its From and To).
pub fn is_request_uri(uri: &str) -> bool {
    !uri.contains(|c: char| c.is_whitespace() || c.is_control())
        && rsipstack::sip::Uri::try_from(uri).is_ok()
}

/// The user part of a `sip:`/`sips:`/`tel:` URI.
pub fn uri_user(uri: &str) -> Option<&str> {
    let (_, rest) = uri.split_once(':')?;
    if uri.to_ascii_lowercase().starts_with("tel:") {
        return Some(rest.split(';').next().unwrap_or(rest));
    }
    let (user, _) = rest.split_once('@')?;
    Some(user.split(':').next().unwrap_or(user))
}

/// The host and port of a `sip:` URI as a socket address when the host is an IP literal (port
/// 5060 when none is given, 5061 for `sips:` and `;transport=tls`).
pub fn uri_socket_addr(uri: &str) -> Option<SocketAddr> {
    let default = Transport::of_uri(uri)
        .unwrap_or(Transport::Udp)
        .default_port();
    let (_, rest) = uri.split_once(':')?;
    let rest = rest.rsplit_once('@').map(|(_, h)| h).unwrap_or(rest);
    let hostport = rest.split([';', '?', '>']).next()?;
    let (host, port) = split_host_port(hostport)?;
    let ip: IpAddr = host.trim_matches(['[', ']']).parse().ok()?;
    Some(SocketAddr::new(ip, port.unwrap_or(default)))
}

/// The CSeq header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    pub seq: u32,
    pub method: Method,
}

impl CSeq {
    fn parse(raw: &str) -> Result<CSeq, ParseError> {
        let bad = || ParseError::BadHeader {
            name: "CSeq",
            value: raw.to_string(),
        };
        let mut it = raw.split_whitespace();
        let seq = it.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
        let method = it.next().and_then(|m| m.parse().ok()).ok_or_else(bad)?;
        Ok(CSeq { seq, method })
    }
}

/// Whether `s` is a SIP `token` (RFC 3261 §25.1): what a method name is made of.
pub fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
}

/// A request that failed to parse but whose Via, From, To, Call-ID and CSeq could be read raw,
/// so that it can be answered (400, or 501 for an unknown method).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Salvage {
    pub method: String,
    pub vias: Vec<Via>,
    /// Raw `(name, value)` of From, To, Call-ID, CSeq in that order when present.
    pub echo: Vec<(&'static str, String)>,
}

/// Parses a datagram. On failure returns the reason and, for a request whose routing headers are
/// readable, a [`Salvage`] to answer it with.
pub fn parse(bytes: &[u8]) -> Result<Inbound, (ParseError, Option<Salvage>)> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err((ParseError::TooLarge { size: bytes.len() }, None));
    }
    let msg = match rsipstack::sip::parser::parse_message(bytes) {
        Ok(m) => m,
        Err(e) => {
            let salvage = salvage(bytes);
            let err = match &salvage {
                Some(s) if s.method.parse::<Method>().is_err() => {
                    ParseError::UnknownMethod(s.method.clone())
                }
                _ => ParseError::Syntax(e.to_string()),
            };
            return Err((err, salvage));
        }
    };
    match parse_core(msg.headers()) {
        Ok(core) => Ok(Inbound { msg, core }),
        Err(e) => {
            let salvage = if msg.is_request() {
                salvage(bytes)
            } else {
                None
            };
            Err((e, salvage))
        }
    }
}

/// Largest SIP message taken, over UDP or TCP (headers and body). Real messages are a few
/// kilobytes (an INVITE with a rich SDP stays under 8 KB); larger ones are refused before any
/// parsing, so a flood of big datagrams or a huge `Content-Length` cannot make us hold
/// megabytes per message.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;

/// Largest header section accepted on a stream before giving up on framing.
pub const MAX_HEADER_BYTES: usize = MAX_MESSAGE_BYTES;

/// Stream framing (TCP, RFC 3261 §18.3): the length of the first complete message at the start
/// of `buf`, `Ok(None)` when more bytes are needed. Leading CRLFs (keep-alives, RFC 5626 §3.5.1)
/// form a frame of their own, which `Endpoint::handle_datagram` ignores. A missing
/// Content-Length counts as 0. A message longer than [`MAX_MESSAGE_BYTES`] (by its
/// `Content-Length`, however large, without overflow) is an error: the stream cannot be framed.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, ParseError> {
    let crlfs = buf
        .iter()
        .take_while(|b| **b == b'\r' || **b == b'\n')
        .count();
    if crlfs > 0 {
        return Ok(Some(crlfs));
    }
    let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if buf.len() > MAX_HEADER_BYTES {
            Err(ParseError::Syntax("header section too long".into()))
        } else {
            Ok(None)
        };
    };
    let head = String::from_utf8_lossy(&buf[..head_end]);
    let mut content_length = 0usize;
    for line in head.split("\r\n").skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.eq_ignore_ascii_case("Content-Length") || name.eq_ignore_ascii_case("l") {
            content_length = value.trim().parse().map_err(|_| ParseError::BadHeader {
                name: "Content-Length",
                value: value.trim().to_string(),
            })?;
        }
    }
    let total = content_length
        .checked_add(head_end + 4)
        .filter(|&t| t <= MAX_MESSAGE_BYTES)
        .ok_or(ParseError::TooLarge {
            size: content_length.saturating_add(head_end + 4),
        })?;
    Ok((buf.len() >= total).then_some(total))
}

fn parse_core(headers: &rsipstack::sip::Headers) -> Result<Core, ParseError> {
    let vias = header_list(headers, "Via")
        .iter()
        .map(|v| Via::parse(v))
        .collect::<Result<Vec<_>, _>>()?;
    if vias.is_empty() {
        return Err(ParseError::MissingHeader("Via"));
    }
    let get =
        |name: &'static str| header_value(headers, name).ok_or(ParseError::MissingHeader(name));
    let call_id = get("Call-ID")?.trim().to_string();
    if call_id.is_empty() {
        return Err(ParseError::MissingHeader("Call-ID"));
    }
    Ok(Core {
        vias,
        call_id,
        from: NameAddr::parse(get("From")?, "From")?,
        to: NameAddr::parse(get("To")?, "To")?,
        cseq: CSeq::parse(get("CSeq")?)?,
    })
}

/// First header value by name; compact forms are expanded by the parser crate.
pub(crate) fn header_value<'a>(
    headers: &'a rsipstack::sip::Headers,
    name: &str,
) -> Option<&'a str> {
    headers
        .iter()
        .find(|h| h.name().eq_ignore_ascii_case(name))
        .map(|h| h.value())
}

/// All values of a header by name with comma-separated lists split (commas inside `<>` or
/// quotes are kept).
pub(crate) fn header_list(headers: &rsipstack::sip::Headers, name: &str) -> Vec<String> {
    headers
        .iter()
        .filter(|h| h.name().eq_ignore_ascii_case(name))
        .flat_map(|h| split_list(h.value()))
        .collect()
}

/// Splits a header value on top-level commas.
pub fn split_list(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut depth, mut quoted, mut cur) = (0i32, false, String::new());
    for c in value.chars() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => depth += 1,
            '>' if !quoted => depth -= 1,
            ',' if !quoted && depth <= 0 => {
                if !cur.trim().is_empty() {
                    out.push(cur.trim().to_string());
                }
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

fn split_host_port(s: &str) -> Option<(String, Option<u16>)> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if after.is_empty() => None,
            None => return None,
        };
        return Some((format!("[{h}]"), port));
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => Some((h.to_string(), Some(p.parse().ok()?))),
        _ => Some((s.to_string(), None)),
    }
}

/// Reads the start line and routing headers of a broken request by hand.
fn salvage(bytes: &[u8]) -> Option<Salvage> {
    let text = String::from_utf8_lossy(bytes);
    let head = text.split("\r\n\r\n").next()?;
    let mut lines = head.split("\r\n");
    let start = lines.next()?;
    let method = start.split_whitespace().next()?;
    if method.starts_with("SIP/") || !method.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let (mut vias, mut echo) = (Vec::new(), Vec::new());
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        let value = value.trim().to_string();
        let is = |long: &str, short: &str| {
            name.eq_ignore_ascii_case(long) || name.eq_ignore_ascii_case(short)
        };
        // Lines were split on CRLF only: a bare CR or LF (or another control byte) left in a
        // value would start a new header in our answer (fuzzing found a From carrying a `To`).
        let clean = !value.chars().any(|c| c.is_control() && c != '\t');
        if is("Via", "v") {
            if !clean {
                return None;
            }
            for v in split_list(&value) {
                vias.push(Via::parse(&v).ok()?);
            }
        } else {
            // Echo the first of each routing header, and only in a form our own parser reads:
            // a 400 must never carry the sender's broken header back (found by fuzzing).
            let (key, ok) = if is("From", "f") {
                ("From", NameAddr::parse(&value, "From").is_ok())
            } else if is("To", "t") {
                ("To", NameAddr::parse(&value, "To").is_ok())
            } else if is("Call-ID", "i") {
                ("Call-ID", !value.is_empty())
            } else if is("CSeq", "CSeq") {
                // A number and a method that is a SIP token (non-token bytes were echoed once:
                // fuzzing). An unknown method stays: the 501 must name it.
                let mut it = value.split_whitespace();
                let num = it.next().is_some_and(|n| n.parse::<u32>().is_ok());
                let method = it.next().is_some_and(is_token);
                ("CSeq", num && method && it.next().is_none())
            } else {
                continue;
            };
            if ok && clean && !echo.iter().any(|(n, _)| *n == key) {
                echo.push((key, value));
            }
        }
    }
    if vias.is_empty() {
        return None;
    }
    echo.sort_by_key(|(n, _)| {
        ["From", "To", "Call-ID", "CSeq"]
            .iter()
            .position(|x| x == n)
    });
    Some(Salvage {
        method: method.to_string(),
        vias,
        echo,
    })
}

#[cfg(test)]
#[path = "message_tests.rs"]
mod tests;
