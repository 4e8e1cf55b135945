//! SIP over UDP and TCP: the listeners, TCP stream framing and the send side.
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

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;

use super::endpoint_loop::{DatagramSender, Offered};
use super::log_limit;
use super::rt::lock;
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
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

type Conns = Arc<Mutex<HashMap<SocketAddr, mpsc::UnboundedSender<Vec<u8>>>>>;

/// The bound SIP sockets. Cheap to clone.
#[derive(Clone, Debug)]
pub struct SipTransport {
    udp: Arc<UdpSocket>,
    local: SocketAddr,
    conns: Conns,
    /// Destinations whose last connect failed, and when.
    failed: Arc<Mutex<HashMap<SocketAddr, Instant>>>,
    inbound: DatagramSender,
    admission: Arc<TcpAdmission>,
}

impl SipTransport {
    /// Binds UDP and TCP on `listen` (TCP on the port UDP got, when `listen` has port 0) and
    /// starts the receive tasks; accepted TCP connections are held to `tcp_limits`. Must be
    /// called inside a tokio runtime.
    pub async fn bind(
        listen: SocketAddr,
        inbound: DatagramSender,
        tcp_limits: TcpLimits,
    ) -> io::Result<SipTransport> {
        let udp = Arc::new(UdpSocket::bind(listen).await?);
        let bound = udp.local_addr()?;
        let tcp = TcpListener::bind(bound).await?;
        let t = SipTransport {
            udp,
            local: bound,
            conns: Arc::new(Mutex::new(HashMap::new())),
            failed: Arc::new(Mutex::new(HashMap::new())),
            inbound,
            admission: TcpAdmission::new(tcp_limits),
        };
        tokio::spawn(udp_loop(t.udp.clone(), t.inbound.clone()));
        tokio::spawn(accept_loop(tcp, t.clone()));
        Ok(t)
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
            Transport::Tcp => {
                let existing = lock(&self.conns).get(&t.dest).cloned();
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
        if self.is_self(dest) {
            if let Some(suppressed) = log_limit::global().allow("sip tcp to self") {
                tracing::warn!(%dest, suppressed, "not opening a SIP TCP connection to ourselves");
            }
            return;
        }
        if self.recently_failed(dest, Instant::now()) {
            tracing::debug!(%dest, "SIP TCP destination failed lately: message dropped");
            return;
        }
        // Queue now: messages sent while connecting wait in this channel.
        let (tx, rx) = mpsc::unbounded_channel::<Vec<u8>>();
        let _ = tx.send(t.bytes);
        lock(&self.conns).insert(dest, tx);
        let this = self.clone();
        tokio::spawn(async move {
            let connected = TcpStream::connect(dest).await;
            match connected {
                Ok(stream) if is_self_connected(&stream) => {
                    // A closed local port: the kernel's simultaneous open joined us to ourselves.
                    drop(stream);
                    this.connect_failed(dest, &io::Error::other("connected to itself"));
                }
                Ok(stream) => this.adopt_with(stream, dest, rx, None),
                Err(e) => this.connect_failed(dest, &e),
            }
        });
    }

    fn connect_failed(&self, dest: SocketAddr, e: &io::Error) {
        lock(&self.conns).remove(&dest);
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
            failed.insert(dest, Instant::now());
        }
        if let Some(suppressed) = log_limit::global().allow_from("sip tcp connect", dest.ip()) {
            tracing::warn!(%dest, error = %e, suppressed, "SIP TCP connect failed");
        }
    }

    fn recently_failed(&self, dest: SocketAddr, now: Instant) -> bool {
        let mut failed = lock(&self.failed);
        match failed.get(&dest) {
            Some(at) if now.saturating_duration_since(*at) < RETRY_AFTER_FAILURE => true,
            Some(_) => {
                failed.remove(&dest);
                false
            }
            None => false,
        }
    }

    /// Whether `dest` is our own listening socket.
    fn is_self(&self, dest: SocketAddr) -> bool {
        dest.port() == self.local.port()
            && (dest.ip() == self.local.ip()
                || (self.local.ip().is_unspecified()
                    && (dest.ip().is_loopback() || super::net::local_ips().contains(&dest.ip()))))
    }

    /// Admits an accepted connection (or closes it at once) and starts its reader and writer.
    fn adopt(&self, stream: TcpStream, peer: SocketAddr) {
        let permit = match self.admission.admit(peer.ip()) {
            Ok(permit) => permit,
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
                return; // dropping the stream closes it
            }
        };
        let (tx, rx) = mpsc::unbounded_channel::<Vec<u8>>();
        lock(&self.conns).insert(peer, tx);
        self.adopt_with(stream, peer, rx, Some(permit));
    }

    /// Starts the reader and writer of a connection whose sender is in `conns`. An accepted
    /// connection carries its admission `permit` (given back when the reader ends) and is read
    /// under the TCP deadlines; one we opened has neither.
    fn adopt_with(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
        permit: Option<Permit>,
    ) {
        let _ = stream.set_nodelay(true);
        let (mut rd, mut wr) = stream.into_split();
        tokio::spawn(async move {
            while let Some(bytes) = rx.recv().await {
                if let Err(e) = wr.write_all(&bytes).await {
                    tracing::debug!(%peer, error = %e, "SIP TCP write failed");
                    break;
                }
            }
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
                            if !inbound.send(msg, peer, Transport::Tcp).await {
                                return; // shutting down
                            }
                        }
                        Ok(None) if buf.len() <= MAX_STREAM_MESSAGE => break,
                        Ok(None) | Err(_) => {
                            tracing::info!(%peer, "closing SIP TCP stream that cannot be framed");
                            lock(&conns).remove(&peer);
                            return;
                        }
                    }
                }
                // Framing drained any CRLFs: what is left is the start of a message.
                clock.on_read(Instant::now(), complete, buf.len());
            }
            lock(&conns).remove(&peer);
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
