//! STUN (RFC 5389) Binding: asks a STUN server which public address our SIP socket has.
//!
//! Owns the codec for the one exchange we need — a Binding request (20-byte header, no
//! attributes) and its success response, read for XOR-MAPPED-ADDRESS (IPv4 and IPv6) or the
//! older MAPPED-ADDRESS — and [`StunClient`], the sans-IO transaction: the request goes out
//! from the SIP socket (the endpoint multiplexes it: a STUN message starts with two zero bits
//! and carries the magic cookie, a SIP message starts with a letter), is sent at 0, 0.5 s and
//! 1.5 s and given up at 3.5 s (RFC 5389 §7.2.1's RTO of 500 ms doubling, but `Rc` = 3 instead of
//! 7, so that registering waits at most 3.5 s for an unreachable server), and is repeated every
//! [`REDISCOVER`] while running.
//!
//! Written by hand: the Binding request and the two address attributes are ~100 lines, while
//! the crates (`stun_codec` with `bytecodec`/`trackable`, `stun-rs` with its HMAC/CRC/MD5
//! stacks for the full attribute set) bring a dozen crates for features (TURN, long-term
//! credentials, ICE attributes) a SIP endpoint behind a NAT does not use. Everything read from
//! the network is bounds-checked: a short, truncated, foreign or hostile message is an
//! [`StunError`], never a panic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

/// The RFC 5389 magic cookie.
pub const MAGIC_COOKIE: u32 = 0x2112_A442;
const BINDING_REQUEST: u16 = 0x0001;
const BINDING_SUCCESS: u16 = 0x0101;
const BINDING_ERROR: u16 = 0x0111;
const ATTR_MAPPED_ADDRESS: u16 = 0x0001;
const ATTR_XOR_MAPPED_ADDRESS: u16 = 0x0020;
const ATTR_ERROR_CODE: u16 = 0x0009;
const HEADER: usize = 20;

/// The wait after each request (RFC 5389 §7.2.1: RTO 500 ms, doubling); after the last one
/// the attempt has failed.
const WAITS: [Duration; 3] = [
    Duration::from_millis(500),
    Duration::from_millis(1000),
    Duration::from_millis(2000),
];
/// How often the public address is asked again while running (a NAT may rebind).
pub const REDISCOVER: Duration = Duration::from_secs(300);

/// A 96-bit STUN transaction id.
pub type TransactionId = [u8; 12];

/// Why a datagram is not the answer we wait for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StunError {
    /// Shorter than a STUN header, or not a STUN message (first bits, magic cookie).
    NotStun,
    /// The header's length is not a multiple of 4 or runs past the datagram.
    Truncated,
    /// Another transaction's answer.
    WrongTransaction,
    /// A Binding error response (its status code, when readable).
    ErrorResponse(Option<u16>),
    /// Any other message type.
    UnexpectedType(u16),
    /// An attribute runs past the message end.
    BadAttribute,
    /// A success response without a (readable) mapped address.
    NoAddress,
}

impl std::fmt::Display for StunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StunError::NotStun => f.write_str("not a STUN message"),
            StunError::Truncated => f.write_str("truncated STUN message"),
            StunError::WrongTransaction => f.write_str("answer to another transaction"),
            StunError::ErrorResponse(Some(c)) => write!(f, "Binding error response {c}"),
            StunError::ErrorResponse(None) => f.write_str("Binding error response"),
            StunError::UnexpectedType(t) => write!(f, "unexpected STUN message type {t:#06x}"),
            StunError::BadAttribute => f.write_str("STUN attribute runs past the message"),
            StunError::NoAddress => f.write_str("Binding response without a mapped address"),
        }
    }
}

/// Whether `bytes` looks like a STUN message (RFC 5389 §6: the two top bits zero and the magic
/// cookie): how the endpoint tells STUN from SIP on the same socket.
pub fn is_stun(bytes: &[u8]) -> bool {
    bytes.len() >= HEADER
        && bytes[0] & 0xC0 == 0
        && u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) == MAGIC_COOKIE
}

/// A Binding request with no attributes.
pub fn binding_request(id: &TransactionId) -> Vec<u8> {
    let mut m = Vec::with_capacity(HEADER);
    m.extend_from_slice(&BINDING_REQUEST.to_be_bytes());
    m.extend_from_slice(&0u16.to_be_bytes());
    m.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
    m.extend_from_slice(id);
    m
}

/// Reads the answer to the Binding request `id`: our address as the server saw it.
pub fn parse_binding_response(bytes: &[u8], id: &TransactionId) -> Result<SocketAddr, StunError> {
    if !is_stun(bytes) {
        return Err(StunError::NotStun);
    }
    let kind = u16::from_be_bytes([bytes[0], bytes[1]]);
    let len = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
    if len % 4 != 0 || HEADER + len > bytes.len() {
        return Err(StunError::Truncated);
    }
    if &bytes[8..HEADER] != id {
        return Err(StunError::WrongTransaction);
    }
    let body = &bytes[HEADER..HEADER + len];
    match kind {
        BINDING_SUCCESS => {}
        BINDING_ERROR => {
            let code = attributes(body)?
                .into_iter()
                .find(|(t, v)| *t == ATTR_ERROR_CODE && v.len() >= 4)
                .map(|(_, v)| u16::from(v[2] & 0x07) * 100 + u16::from(v[3]));
            return Err(StunError::ErrorResponse(code));
        }
        other => return Err(StunError::UnexpectedType(other)),
    }
    let attrs = attributes(body)?;
    let xor = attrs
        .iter()
        .filter(|(t, _)| *t == ATTR_XOR_MAPPED_ADDRESS)
        .find_map(|(_, v)| address(v, Some(id)));
    let plain = || {
        attrs
            .iter()
            .filter(|(t, _)| *t == ATTR_MAPPED_ADDRESS)
            .find_map(|(_, v)| address(v, None))
    };
    xor.or_else(plain).ok_or(StunError::NoAddress)
}

/// The (type, value) attributes of a message body (values padded to 4 bytes).
fn attributes(mut body: &[u8]) -> Result<Vec<(u16, &[u8])>, StunError> {
    let mut out = Vec::new();
    while !body.is_empty() {
        if body.len() < 4 {
            return Err(StunError::BadAttribute);
        }
        let kind = u16::from_be_bytes([body[0], body[1]]);
        let len = usize::from(u16::from_be_bytes([body[2], body[3]]));
        let padded = (len + 3) & !3;
        if 4 + padded > body.len() {
            return Err(StunError::BadAttribute);
        }
        out.push((kind, &body[4..4 + len]));
        body = &body[4 + padded..];
    }
    Ok(out)
}

/// A (XOR-)MAPPED-ADDRESS value; `xor` holds the transaction id for the XOR form.
fn address(v: &[u8], xor: Option<&TransactionId>) -> Option<SocketAddr> {
    if v.len() < 4 {
        return None;
    }
    let cookie = MAGIC_COOKIE.to_be_bytes();
    let mut port = u16::from_be_bytes([v[2], v[3]]);
    if xor.is_some() {
        port ^= (MAGIC_COOKIE >> 16) as u16;
    }
    let ip = match (v[1], v.len()) {
        (0x01, 8) => {
            let mut a = [v[4], v[5], v[6], v[7]];
            if xor.is_some() {
                for (b, k) in a.iter_mut().zip(cookie) {
                    *b ^= k;
                }
            }
            IpAddr::V4(Ipv4Addr::from(a))
        }
        (0x02, 20) => {
            let mut a = [0u8; 16];
            a.copy_from_slice(&v[4..20]);
            if let Some(id) = xor {
                let key = cookie.iter().chain(id.iter());
                for (b, k) in a.iter_mut().zip(key) {
                    *b ^= k;
                }
            }
            IpAddr::V6(Ipv6Addr::from(a))
        }
        _ => return None,
    };
    (port != 0 && !ip.is_unspecified()).then(|| SocketAddr::new(ip, port))
}

/// Where a discovery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StunState {
    /// A request is out (or about to be sent).
    Asking,
    /// The last answer named this address; asked again at the next rediscovery.
    Known(SocketAddr),
    /// No usable answer; asked again at the next rediscovery.
    Failed,
}

/// What [`StunClient::handle_timeout`] asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StunOutput {
    /// Send these bytes to the server.
    Send(Vec<u8>),
    /// The attempt ended without an answer.
    GaveUp,
}

/// Discovers the public address of our SIP socket with a STUN server.
#[derive(Debug, Clone)]
pub struct StunClient {
    server: SocketAddr,
    id: TransactionId,
    state: StunState,
    /// Requests sent in this attempt.
    sent: usize,
    /// When the next send (or the give-up, or the rediscovery) is due.
    next: Instant,
}

impl StunClient {
    /// A client that asks `server` at once (`now`) with transaction id `id`.
    pub fn new(server: SocketAddr, id: TransactionId, now: Instant) -> StunClient {
        StunClient {
            server,
            id,
            state: StunState::Asking,
            sent: 0,
            next: now,
        }
    }

    pub fn server(&self) -> SocketAddr {
        self.server
    }

    pub fn state(&self) -> StunState {
        self.state
    }

    /// Whether no attempt has finished yet (registrations wait for the first one).
    pub fn first_pending(&self) -> bool {
        self.state == StunState::Asking
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        Some(self.next)
    }

    /// Sends, retransmits, gives up or starts a new attempt (with the new id `fresh`) when due.
    pub fn handle_timeout(&mut self, now: Instant, fresh: TransactionId) -> Option<StunOutput> {
        if now < self.next {
            return None;
        }
        if self.state != StunState::Asking {
            self.id = fresh;
            self.sent = 0;
            self.state = StunState::Asking;
        }
        let Some(wait) = WAITS.get(self.sent).copied() else {
            self.state = StunState::Failed;
            self.next = now + REDISCOVER;
            return Some(StunOutput::GaveUp);
        };
        self.sent += 1;
        self.next = now + wait;
        Some(StunOutput::Send(binding_request(&self.id)))
    }

    /// A STUN datagram from `source`: the mapped address when it answers our request.
    pub fn handle(
        &mut self,
        bytes: &[u8],
        source: SocketAddr,
        now: Instant,
    ) -> Result<SocketAddr, StunError> {
        if source != self.server || self.state != StunState::Asking {
            return Err(StunError::WrongTransaction);
        }
        match parse_binding_response(bytes, &self.id) {
            Ok(addr) => {
                self.state = StunState::Known(addr);
                self.next = now + REDISCOVER;
                Ok(addr)
            }
            Err(e @ StunError::ErrorResponse(_)) => {
                self.state = StunState::Failed;
                self.next = now + REDISCOVER;
                Err(e)
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
#[path = "stun_tests.rs"]
mod tests;
