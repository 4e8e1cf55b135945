//! SIP over UDP, TCP and TLS: the listeners, stream framing and the send side.
//!
//! Every datagram (or framed TCP message) goes to the endpoint loop's bounded datagram queue
//! ([`DatagramSender`]: UDP drops when it is full, a TCP stream waits); [`SipTransport::send`]
//! puts a [`Transmit`] on the wire: UDP from the listening socket, TCP on the connection to
//! `dest` (accepted, or opened on demand, e.g. a registrar over TCP, or a client whose
//! connection closed before our response). Framing uses [`message::frame_len`]; a stream that
//! cannot be framed is closed. Owns no SIP logic: parsing and answering are the endpoint's.
//!
//! Outbound connections: one attempt at a time per destination (messages wait for it); never
//! to our own listening address, and a connection that turns out to be to itself (TCP
//! simultaneous open on a closed local port) is dropped; a destination that refused is not
//! tried again for [`RETRY_AFTER_FAILURE`] (its messages are dropped meanwhile: SIP over TCP
//! has no retransmissions to lose, and the transaction times out as it would). Failures are
//! logged through [`log_limit`] per destination, not once per message.
//!
//! Connections others open to us are admitted by [`TcpAdmission`] (`sip.tcp_max_connections`,
//! `sip.tcp_max_per_source`: refused ones are closed at once) and read under a [`ReadClock`]
//! (`sip.tcp_header_timeout`, `sip.tcp_idle_timeout`); each refusal and timeout is counted in
//! `policy::counters` and logged per source through [`log_limit`].
//!
//! TLS ([`super::sip_transport_tls`]) is TCP with a rustls stream around it: the connection code
//! here is generic over the stream, and connections are keyed by (address, transport), so a
//! peer's TCP and TLS connections never mix.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;

use super::endpoint_loop::{DatagramSender, Offered};
use super::log_limit;
use super::rt::lock;
use super::sip_transport_tls::{self as tls, TlsSetup};
use crate::policy::counters::{self, Counters};
use crate::policy::tcp::{Expired, Permit, ReadClock, Refused, TcpAdmission, TcpLimits};
use crate::sip::{message, Transmit, Transport};

/// Largest UDP datagram read (a larger one is truncated by the kernel, which would hide it).
const MAX_DATAGRAM: usize = 65_535;
/// Largest message accepted on a TCP stream (and over UDP: a larger datagram is dropped here,
/// before it is copied, and counted).
const MAX_STREAM_MESSAGE: usize = message::MAX_MESSAGE_BYTES;
/// A destination whose connect failed is not tried again for this long.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);
/// Destinations remembered as failed at most (the oldest are forgotten first).
const MAX_FAILED: usize = 1024;
/// Wait after a failed accept (out of file descriptors): the listener sleeps rather than spins.
pub(super) const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// A stream connection: its peer and whether it is TCP or TLS.
type ConnKey = (SocketAddr, Transport);
type Conns = Arc<Mutex<HashMap<ConnKey, mpsc::UnboundedSender<Vec<u8>>>>>;

/// The bound SIP sockets. Cheap to clone.
#[derive(Clone, Debug)]
pub struct SipTransport {
    udp: Arc<UdpSocket>,
    local: SocketAddr,
    conns: Conns,
    /// Destinations whose last connect failed, and when.
    failed: Arc<Mutex<HashMap<ConnKey, Instant>>>,
    inbound: DatagramSender,
    admission: Arc<TcpAdmission>,
    /// TLS: listener and client sides (`None`: no TLS at all).
    tls: Option<Arc<TlsSetup>>,
    /// The TLS listener's address, when it listens.
    tls_local: Option<SocketAddr>,
}

/// UDP and TCP on the same address. With port 0 the port UDP got may be taken for TCP (another
/// program's listener or an outgoing connection's local port): then another port is tried, up to
/// [`PAIR_ATTEMPTS`] times, instead of failing the start.
async fn bind_pair(listen: SocketAddr) -> io::Result<(UdpSocket, SocketAddr, TcpListener)> {
    let attempts = if listen.port() == 0 { PAIR_ATTEMPTS } else { 1 };
    let mut attempt = 1;
    loop {
        let udp = UdpSocket::bind(listen).await?;
        let bound = udp.local_addr()?;
        match TcpListener::bind(bound).await {
            Ok(tcp) => return Ok((udp, bound, tcp)),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && attempt < attempts => {
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// How many ports `bind_pair` tries when any port will do.
const PAIR_ATTEMPTS: u32 = 16;

impl SipTransport {
    /// Binds UDP and TCP on `listen` (TCP on the port UDP got, when `listen` has port 0) and
    /// starts the receive tasks; accepted TCP connections are held to `tcp_limits`. Must be
    /// called inside a tokio runtime.
    pub async fn bind(
        listen: SocketAddr,
        inbound: DatagramSender,
        tcp_limits: TcpLimits,
    ) -> io::Result<SipTransport> {
        Self::bind_with_tls(listen, inbound, tcp_limits, None).await
    }

    /// [`SipTransport::bind`], plus TLS: a listener on `tls_port` of the same IP when `tls` has
    /// an acceptor (port 0: any free port), and TLS connections we open with its connector.
    pub async fn bind_with_tls(
        listen: SocketAddr,
        inbound: DatagramSender,
        tcp_limits: TcpLimits,
        tls: Option<(TlsSetup, u16)>,
    ) -> io::Result<SipTransport> {
        let (udp, bound, tcp) = bind_pair(listen).await?;
        let udp = Arc::new(udp);
        let mut tls_listener = None;
        if let Some((setup, port)) = &tls {
            if let Some(acceptor) = &setup.acceptor {
                let at = SocketAddr::new(bound.ip(), *port);
                let l = TcpListener::bind(at).await.map_err(|e| {
                    io::Error::new(e.kind(), format!("TLS listener (sip.tls.port) {at}: {e}"))
                })?;
                tls_listener = Some((l, acceptor.clone()));
            }
        }
        let tls_local = match &tls_listener {
            Some((l, _)) => Some(l.local_addr()?),
            None => None,
        };
        let t = SipTransport {
            udp,
            local: bound,
            conns: Arc::new(Mutex::new(HashMap::new())),
            failed: Arc::new(Mutex::new(HashMap::new())),
            inbound,
            admission: TcpAdmission::new(tcp_limits),
            tls: tls.map(|(setup, _)| Arc::new(setup)),
            tls_local,
        };
        tokio::spawn(udp_loop(t.udp.clone(), t.inbound.clone()));
        tokio::spawn(accept_loop(tcp, t.clone()));
        if let Some((l, acceptor)) = tls_listener {
            tokio::spawn(tls::accept_loop(l, acceptor, t.clone()));
        }
        Ok(t)
    }

    /// The TLS listener's address, when TLS listens.
    pub fn tls_local_addr(&self) -> Option<SocketAddr> {
        self.tls_local
    }

    pub(super) fn tls(&self) -> Option<&TlsSetup> {
        self.tls.as_deref()
    }

    pub(super) fn admission(&self) -> &TcpAdmission {
        &self.admission
    }

    /// The bound address (UDP and TCP share it).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.udp.local_addr()
    }

    /// Sends one message; failures are logged (SIP retransmits over UDP, and a TCP peer that
    /// went away will be noticed by the transaction timers).
    pub fn send(&self, t: Transmit) {
        match t.transport {
            Transport::Udp => match self.udp.try_send_to(&t.bytes, t.dest) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let udp = self.udp.clone();
                    tokio::spawn(async move {
                        if let Err(e) = udp.send_to(&t.bytes, t.dest).await {
                            udp_send_failed(t.dest, &e);
                        }
                    });
                }
                Err(e) => udp_send_failed(t.dest, &e),
            },
            Transport::Tcp | Transport::Tls => {
                let existing = lock(&self.conns).get(&(t.dest, t.transport)).cloned();
                match existing {
                    Some(tx) if tx.send(t.bytes.clone()).is_ok() => {}
                    _ => self.connect(t),
                }
            }
        }
    }

    /// Opens a connection to `t.dest` for `t` (and whatever is sent there meanwhile).
    fn connect(&self, t: Transmit) {
        let dest = t.dest;
        let transport = t.transport;
        let key = (dest, transport);
        if self.is_self(dest) {
            if let Some(suppressed) = log_limit::global().allow("sip tcp to self") {
                tracing::warn!(%dest, suppressed, "not opening a SIP TCP connection to ourselves");
            }
            return;
        }
        if self.recently_failed(key, Instant::now()) {
            tracing::debug!(%dest, "SIP TCP destination failed lately: message dropped");
            return;
        }
        // Queue now: messages sent while connecting wait in this channel.
        let (tx, rx) = mpsc::unbounded_channel::<Vec<u8>>();
        let _ = tx.send(t.bytes);
        lock(&self.conns).insert(key, tx);
        let this = self.clone();
        tokio::spawn(async move {
            let connected = TcpStream::connect(dest).await;
            match connected {
                Ok(stream) if is_self_connected(&stream) => {
                    // A closed local port: the kernel's simultaneous open joined us to ourselves.
                    drop(stream);
                    this.connect_failed(key, &io::Error::other("connected to itself"));
                }
                Ok(stream) if transport == Transport::Tls => {
                    let _ = stream.set_nodelay(true);
                    match tls::connect(&this, stream, dest).await {
                        Ok(session) => this.adopt_with(session, key, rx, None),
                        Err(e) => this.connect_failed(key, &e),
                    }
                }
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    this.adopt_with(stream, key, rx, None)
                }
                Err(e) => this.connect_failed(key, &e),
            }
        });
    }

    fn connect_failed(&self, key: ConnKey, e: &io::Error) {
        let dest = key.0;
        lock(&self.conns).remove(&key);
        {
            let mut failed = lock(&self.failed);
            if failed.len() >= MAX_FAILED {
                let cutoff = Instant::now()
                    .checked_sub(RETRY_AFTER_FAILURE)
                    .unwrap_or_else(Instant::now);
                failed.retain(|_, at| *at > cutoff);
                if failed.len() >= MAX_FAILED {
                    failed.clear();
                }
            }
            failed.insert(key, Instant::now());
        }
        if let Some(suppressed) = log_limit::global().allow_from("sip tcp connect", dest.ip()) {
            tracing::warn!(%dest, transport = %key.1, error = %e, suppressed, "SIP connect failed");
        }
    }

    fn recently_failed(&self, key: ConnKey, now: Instant) -> bool {
        let mut failed = lock(&self.failed);
        match failed.get(&key) {
            Some(at) if now.saturating_duration_since(*at) < RETRY_AFTER_FAILURE => true,
            Some(_) => {
                failed.remove(&key);
                false
            }
            None => false,
        }
    }

    /// Whether `dest` is one of our own listening sockets (SIP or TLS).
    fn is_self(&self, dest: SocketAddr) -> bool {
        let is = |local: SocketAddr| {
            dest.port() == local.port()
                && (dest.ip() == local.ip()
                    || (local.ip().is_unspecified()
                        && (dest.ip().is_loopback()
                            || super::net::local_ips().contains(&dest.ip()))))
        };
        is(self.local) || self.tls_local.is_some_and(is)
    }

    /// An admission slot for a connection from `peer`, or `None` (counted and logged: the
    /// caller drops the stream, which closes it).
    pub(super) fn admit(&self, peer: SocketAddr) -> Option<Permit> {
        match self.admission.admit(peer.ip()) {
            Ok(permit) => Some(permit),
            Err(why) => {
                let (counter, what) = match why {
                    Refused::Full => (&counters::global().sip_tcp_full, "sip.tcp_max_connections"),
                    Refused::SourceFull => (
                        &counters::global().sip_tcp_source_full,
                        "sip.tcp_max_per_source",
                    ),
                };
                Counters::bump(counter);
                if let Some(suppressed) =
                    log_limit::global().allow_from("sip tcp refused", peer.ip())
                {
                    tracing::warn!(%peer, limit = what, suppressed, "SIP TCP connection refused");
                }
                None
            }
        }
    }

    /// Admits an accepted TCP connection (or closes it at once) and starts its reader and writer.
    fn adopt(&self, stream: TcpStream, peer: SocketAddr) {
        let Some(permit) = self.admit(peer) else {
            return; // dropping the stream closes it
        };
        let _ = stream.set_nodelay(true);
        self.adopt_accepted(stream, peer, Transport::Tcp, permit);
    }

    /// Starts an admitted connection others opened (a TCP stream, or a TLS session whose
    /// handshake is done).
    pub(super) fn adopt_accepted<S>(
        &self,
        stream: S,
        peer: SocketAddr,
        transport: Transport,
        permit: Permit,
    ) where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (tx, rx) = mpsc::unbounded_channel::<Vec<u8>>();
        lock(&self.conns).insert((peer, transport), tx);
        self.adopt_with(stream, (peer, transport), rx, Some(permit));
    }

    /// Starts the reader and writer of a connection whose sender is in `conns`. An accepted
    /// connection carries its admission `permit` (given back when the reader ends) and is read
    /// under the TCP deadlines; one we opened has neither. Generic over the stream: TCP, or
    /// TLS around TCP.
    fn adopt_with<S>(
        &self,
        stream: S,
        key: ConnKey,
        mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
        permit: Option<Permit>,
    ) where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (peer, transport) = key;
        let (mut rd, mut wr) = tokio::io::split(stream);
        tokio::spawn(async move {
            while let Some(bytes) = rx.recv().await {
                // Flush: a TLS stream may hold the record until asked.
                let written = match wr.write_all(&bytes).await {
                    Ok(()) => wr.flush().await,
                    Err(e) => Err(e),
                };
                if let Err(e) = written {
                    tracing::debug!(%peer, %transport, error = %e, "SIP stream write failed");
                    break;
                }
            }
            let _ = wr.shutdown().await;
        });
        let inbound = self.inbound.clone();
        let conns = self.conns.clone();
        let limits = self.admission.limits();
        tokio::spawn(async move {
            let mut clock = ReadClock::new(limits, Instant::now());
            let mut buf: Vec<u8> = Vec::with_capacity(4096);
            let mut chunk = vec![0u8; 16 * 1024];
            loop {
                let read = rd.read(&mut chunk);
                // `permit` lives as long as this reader: its slot is given back when it ends.
                let n = if permit.is_some() {
                    let (deadline, why) = clock.deadline();
                    match tokio::time::timeout_at(deadline.into(), read).await {
                        Ok(Ok(n)) if n > 0 => n,
                        Ok(_) => break,
                        Err(_) => {
                            expired(peer, why);
                            break;
                        }
                    }
                } else {
                    match read.await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    }
                };
                buf.extend_from_slice(&chunk[..n]);
                let mut complete = 0;
                loop {
                    match message::frame_len(&buf) {
                        Ok(Some(len)) => {
                            let msg: Vec<u8> = buf.drain(..len).collect();
                            // Keep-alive CRLFs (RFC 5626) are a frame but not a message: a
                            // connection that only pings them never counts as having spoken.
                            if !msg.iter().all(|b| matches!(b, b'\r' | b'\n')) {
                                complete += 1;
                            }
                            if !inbound.send(msg, peer, transport).await {
                                return; // shutting down
                            }
                        }
                        Ok(None) if buf.len() <= MAX_STREAM_MESSAGE => break,
                        Ok(None) | Err(_) => {
                            tracing::info!(%peer, %transport, "closing SIP stream that cannot be framed");
                            lock(&conns).remove(&key);
                            return;
                        }
                    }
                }
                // Framing drained any CRLFs: what is left is the start of a message.
                clock.on_read(Instant::now(), complete, buf.len());
            }
            lock(&conns).remove(&key);
        });
    }
}

/// Counts and logs (per source, rate-limited) a connection the read deadlines closed.
fn expired(peer: SocketAddr, why: Expired) {
    let (counter, what) = match why {
        Expired::Slow => (&counters::global().sip_tcp_slow, "sip.tcp_header_timeout"),
        Expired::Idle => (&counters::global().sip_tcp_idle, "sip.tcp_idle_timeout"),
    };
    Counters::bump(counter);
    if let Some(suppressed) = log_limit::global().allow_from("sip tcp timeout", peer.ip()) {
        tracing::info!(%peer, limit = what, suppressed, "closing SIP TCP connection");
    }
}

/// Whether a connected stream's two ends are the same socket.
fn is_self_connected(stream: &TcpStream) -> bool {
    matches!((stream.local_addr(), stream.peer_addr()), (Ok(l), Ok(p)) if l == p)
}

fn udp_send_failed(dest: SocketAddr, e: &io::Error) {
    if let Some(suppressed) = log_limit::global().allow_from("sip udp send", dest.ip()) {
        tracing::warn!(%dest, error = %e, suppressed, "SIP UDP send failed");
    }
}

async fn udp_loop(udp: Arc<UdpSocket>, inbound: DatagramSender) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        match udp.recv_from(&mut buf).await {
            Ok((n, source)) => {
                if n > MAX_STREAM_MESSAGE {
                    let c = crate::policy::counters::global();
                    crate::policy::counters::Counters::bump(&c.sip_oversize);
                    tracing::debug!(%source, bytes = n, "SIP datagram over the size limit: dropped");
                    continue;
                }
                if inbound.offer(buf[..n].to_vec(), source, Transport::Udp) == Offered::Closed {
                    return; // the endpoint loop is gone: shutting down
                }
            }
            // ICMP port unreachable surfaces as an error on some systems: keep listening.
            Err(e) => tracing::debug!(error = %e, "SIP UDP receive error"),
        }
    }
}

async fn accept_loop(listener: TcpListener, t: SipTransport) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => t.adopt(stream, peer),
            Err(e) => {
                // Out of file descriptors, typically: wait, and say so now and then.
                if let Some(suppressed) = log_limit::global().allow("sip tcp accept") {
                    tracing::warn!(error = %e, suppressed, "SIP TCP accept failed");
                }
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}
