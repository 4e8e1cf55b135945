//! SIP over TCP: which connections are admitted and how long a connection may keep us waiting
//! (issue 10, finding 3: 500 slowloris connections all alive at 60 s, 20k idle connections
//! using every file descriptor until new calls got 503 and the HTTP API stopped answering).
//!
//! - [`TcpAdmission`]: at most `sip.tcp_max_connections` accepted connections in all and
//!   `sip.tcp_max_per_source` from one IP; a [`Permit`] holds a slot until it is dropped (when the
//!   connection's reader ends), so the table never holds more entries than connections.
//! - [`ReadClock`]: when a connection's reader gives up, as a pure function of what arrived and
//!   when (the runtime in `engine::sip_transport` passes `now`): a message must be complete
//!   `sip.tcp_header_timeout` after its first byte, a new connection must send its first message
//!   within that time too, and a connection that sent nothing for `sip.tcp_idle_timeout` is
//!   closed. The idle default is long (1 h) on purpose: a call can go an hour without a SIP
//!   message, and a peer behind NAT cannot be reached for its BYE once its connection is gone.
//!
//! Only connections others open to us are limited; connections we open (to a registrar, or back
//! to a client) are bounded by the destinations we send to.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Default `sip.tcp_max_connections`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// Default `sip.tcp_max_per_source`.
pub const DEFAULT_MAX_PER_SOURCE: usize = 16;
/// Default `sip.tcp_header_timeout`.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default `sip.tcp_idle_timeout`.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(3600);

/// The TCP limits (config: `sip.tcp_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpLimits {
    /// Accepted connections at once, from everyone.
    pub max_connections: usize,
    /// Accepted connections at once from one IP address (`None`: no per-source limit).
    pub max_per_source: Option<usize>,
    /// A message must be complete this long after its first byte.
    pub header_timeout: Duration,
    /// A connection silent this long is closed.
    pub idle_timeout: Duration,
}

impl Default for TcpLimits {
    fn default() -> Self {
        TcpLimits {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_per_source: Some(DEFAULT_MAX_PER_SOURCE),
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// `sip.tcp_max_connections` reached.
    Full,
    /// `sip.tcp_max_per_source` reached for this address.
    SourceFull,
}

/// The accepted-connection table. Shared (`Arc`) between the accept loop and the readers.
#[derive(Debug)]
pub struct TcpAdmission {
    limits: TcpLimits,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    /// Only sources with at least one connection: never more entries than connections.
    per_source: HashMap<IpAddr, usize>,
}

/// One admitted connection's slot, given back when dropped.
#[derive(Debug)]
pub struct Permit {
    table: Arc<TcpAdmission>,
    ip: IpAddr,
}

impl TcpAdmission {
    pub fn new(limits: TcpLimits) -> Arc<TcpAdmission> {
        Arc::new(TcpAdmission {
            limits,
            open: Mutex::new(Open::default()),
        })
    }

    pub fn limits(&self) -> TcpLimits {
        self.limits
    }

    /// A slot for a connection from `ip`, or why not.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Permit, Refused> {
        let mut open = self.lock();
        if open.total >= self.limits.max_connections {
            return Err(Refused::Full);
        }
        let from_ip = open.per_source.get(&ip).copied().unwrap_or(0);
        if self.limits.max_per_source.is_some_and(|max| from_ip >= max) {
            return Err(Refused::SourceFull);
        }
        open.total += 1;
        open.per_source.insert(ip, from_ip + 1);
        Ok(Permit {
            table: self.clone(),
            ip,
        })
    }

    /// Connections admitted now: (in all, from `ip`).
    pub fn open(&self, ip: IpAddr) -> (usize, usize) {
        let open = self.lock();
        (open.total, open.per_source.get(&ip).copied().unwrap_or(0))
    }

    fn release(&self, ip: IpAddr) {
        let mut open = self.lock();
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.per_source.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                open.per_source.remove(&ip);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.table.release(self.ip);
    }
}

/// Why a reader gave up on its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expired {
    /// A message was not complete `header_timeout` after its first byte (or a new connection sent
    /// no message within it): slowloris.
    Slow,
    /// Nothing arrived for `idle_timeout`.
    Idle,
}

/// A connection's read timing: feed it what arrived, ask it for the next deadline.
#[derive(Debug, Clone, Copy)]
pub struct ReadClock {
    limits: TcpLimits,
    opened: Instant,
    last_bytes: Instant,
    /// When the first byte of the message not yet complete arrived.
    partial_since: Option<Instant>,
    got_message: bool,
}

impl ReadClock {
    pub fn new(limits: TcpLimits, now: Instant) -> ReadClock {
        ReadClock {
            limits,
            opened: now,
            last_bytes: now,
            partial_since: None,
            got_message: false,
        }
    }

    /// Bytes arrived at `now`; after framing, `complete` messages were taken out and `pending`
    /// bytes of an unfinished one are left in the buffer.
    pub fn on_read(&mut self, now: Instant, complete: usize, pending: usize) {
        self.last_bytes = now;
        if complete > 0 {
            self.got_message = true;
            // What is left started arriving with this read at the earliest.
            self.partial_since = (pending > 0).then_some(now);
        } else if pending > 0 && self.partial_since.is_none() {
            self.partial_since = Some(now);
        } else if pending == 0 {
            // Only keep-alive CRLFs: nothing outstanding.
            self.partial_since = None;
        }
    }

    /// When to give up if nothing more arrives, and why.
    pub fn deadline(&self) -> (Instant, Expired) {
        if let Some(since) = self.partial_since {
            return (since + self.limits.header_timeout, Expired::Slow);
        }
        if !self.got_message {
            return (self.opened + self.limits.header_timeout, Expired::Slow);
        }
        (self.last_bytes + self.limits.idle_timeout, Expired::Idle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    fn limits(total: usize, per_source: Option<usize>) -> TcpLimits {
        TcpLimits {
            max_connections: total,
            max_per_source: per_source,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        }
    }

    #[test]
    fn one_source_cannot_take_every_slot_and_slots_come_back_when_dropped() {
        let t = TcpAdmission::new(limits(3, Some(2)));
        let a1 = t.admit(A).unwrap();
        let _a2 = t.admit(A).unwrap();
        assert_eq!(t.admit(A).unwrap_err(), Refused::SourceFull);
        let _b1 = t.admit(B).unwrap();
        assert_eq!(t.admit(B).unwrap_err(), Refused::Full);
        assert_eq!(t.open(A), (3, 2));
        drop(a1);
        assert_eq!(t.open(A), (2, 1));
        let _b2 = t.admit(B).unwrap();
        assert_eq!(t.open(B), (3, 2));
    }

    #[test]
    fn a_source_with_no_connection_leaves_no_entry() {
        let t = TcpAdmission::new(limits(10, None));
        let permits: Vec<_> = (0..5).map(|_| t.admit(A).unwrap()).collect();
        assert_eq!(t.open(A), (5, 5), "no per-source limit");
        drop(permits);
        assert_eq!(t.open(A), (0, 0));
        assert!(t.lock().per_source.is_empty());
    }

    #[test]
    fn a_new_connection_must_send_a_message_within_the_header_timeout() {
        let t0 = Instant::now();
        let c = ReadClock::new(limits(1, None), t0);
        assert_eq!(c.deadline(), (t0 + Duration::from_secs(10), Expired::Slow));
    }

    #[test]
    fn a_message_dribbled_byte_by_byte_is_cut_at_its_first_bytes_deadline() {
        let t0 = Instant::now();
        let mut c = ReadClock::new(limits(1, None), t0);
        c.on_read(t0 + Duration::from_secs(1), 0, 10);
        for s in 2..9 {
            c.on_read(t0 + Duration::from_secs(s), 0, 10 + s as usize);
        }
        assert_eq!(c.deadline(), (t0 + Duration::from_secs(11), Expired::Slow));
    }

    #[test]
    fn after_complete_messages_silence_is_idle_and_a_new_partial_restarts_the_header_clock() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut c = ReadClock::new(limits(1, None), t0);
        c.on_read(t0 + s(2), 1, 0);
        assert_eq!(c.deadline(), (t0 + s(62), Expired::Idle));
        // A keep-alive CRLF (nothing pending) moves the idle clock.
        c.on_read(t0 + s(30), 0, 0);
        assert_eq!(c.deadline(), (t0 + s(90), Expired::Idle));
        // Half a message: the header clock.
        c.on_read(t0 + s(40), 0, 100);
        assert_eq!(c.deadline(), (t0 + s(50), Expired::Slow));
        // Its end plus the start of the next one: the clock restarts for the next.
        c.on_read(t0 + s(45), 1, 20);
        assert_eq!(c.deadline(), (t0 + s(55), Expired::Slow));
        c.on_read(t0 + s(46), 1, 0);
        assert_eq!(c.deadline(), (t0 + s(106), Expired::Idle));
    }
}
