//! SIP over UDP and TCP: the listeners, TCP stream framing and the send side.
//!
//! Every datagram (or framed TCP message) becomes a [`Cmd::Datagram`] for the endpoint loop;
//! [`SipTransport::send`] puts a [`Transmit`] on the wire: UDP from the listening socket, TCP
//! on the connection to `dest` (accepted, or opened on demand, e.g. a registrar over TCP).
//! Framing uses [`message::frame_len`]; a stream that cannot be framed is closed. Owns no SIP
//! logic: parsing and answering are the endpoint's.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;

use super::endpoint_loop::Cmd;
use super::rt::lock;
use crate::sip::{message, Transmit, Transport};

/// Largest UDP datagram read (a larger one is truncated by the kernel, which would hide it).
const MAX_DATAGRAM: usize = 65_535;
/// Largest message accepted on a TCP stream (and over UDP: a larger datagram is dropped here,
/// before it is copied, and counted).
const MAX_STREAM_MESSAGE: usize = message::MAX_MESSAGE_BYTES;

type Conns = Arc<Mutex<HashMap<SocketAddr, mpsc::UnboundedSender<Vec<u8>>>>>;

/// The bound SIP sockets. Cheap to clone.
#[derive(Clone, Debug)]
pub struct SipTransport {
    udp: Arc<UdpSocket>,
    conns: Conns,
    inbound: mpsc::UnboundedSender<Cmd>,
}

impl SipTransport {
    /// Binds UDP and TCP on `listen` (TCP on the port UDP got, when `listen` has port 0) and
    /// starts the receive tasks. Must be called inside a tokio runtime.
    pub async fn bind(
        listen: SocketAddr,
        inbound: mpsc::UnboundedSender<Cmd>,
    ) -> io::Result<SipTransport> {
        let udp = Arc::new(UdpSocket::bind(listen).await?);
        let bound = udp.local_addr()?;
        let tcp = TcpListener::bind(bound).await?;
        let t = SipTransport {
            udp,
            conns: Arc::new(Mutex::new(HashMap::new())),
            inbound,
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
                            tracing::warn!(dest = %t.dest, error = %e, "SIP UDP send failed");
                        }
                    });
                }
                Err(e) => tracing::warn!(dest = %t.dest, error = %e, "SIP UDP send failed"),
            },
            Transport::Tcp => {
                let existing = lock(&self.conns).get(&t.dest).cloned();
                match existing {
                    Some(tx) if tx.send(t.bytes.clone()).is_ok() => {}
                    _ => {
                        let this = self.clone();
                        tokio::spawn(async move { this.connect_and_send(t).await });
                    }
                }
            }
        }
    }

    async fn connect_and_send(self, t: Transmit) {
        match TcpStream::connect(t.dest).await {
            Ok(stream) => {
                let tx = self.adopt(stream, t.dest);
                let _ = tx.send(t.bytes);
            }
            Err(e) => tracing::warn!(dest = %t.dest, error = %e, "SIP TCP connect failed"),
        }
    }

    /// Registers a connection and starts its reader and writer.
    fn adopt(&self, stream: TcpStream, peer: SocketAddr) -> mpsc::UnboundedSender<Vec<u8>> {
        let _ = stream.set_nodelay(true);
        let (mut rd, mut wr) = stream.into_split();
        let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
        lock(&self.conns).insert(peer, tx.clone());
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
        tokio::spawn(async move {
            let mut buf: Vec<u8> = Vec::with_capacity(4096);
            let mut chunk = vec![0u8; 16 * 1024];
            loop {
                let n = match rd.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
                loop {
                    match message::frame_len(&buf) {
                        Ok(Some(len)) => {
                            let msg: Vec<u8> = buf.drain(..len).collect();
                            let _ = inbound.send(Cmd::Datagram {
                                bytes: msg,
                                source: peer,
                                transport: Transport::Tcp,
                            });
                        }
                        Ok(None) if buf.len() <= MAX_STREAM_MESSAGE => break,
                        Ok(None) | Err(_) => {
                            tracing::info!(%peer, "closing SIP TCP stream that cannot be framed");
                            lock(&conns).remove(&peer);
                            return;
                        }
                    }
                }
            }
            lock(&conns).remove(&peer);
        });
        tx
    }
}

async fn udp_loop(udp: Arc<UdpSocket>, inbound: mpsc::UnboundedSender<Cmd>) {
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
                let cmd = Cmd::Datagram {
                    bytes: buf[..n].to_vec(),
                    source,
                    transport: Transport::Udp,
                };
                if inbound.send(cmd).is_err() {
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
            Ok((stream, peer)) => {
                t.adopt(stream, peer);
            }
            Err(e) => {
                tracing::warn!(error = %e, "SIP TCP accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}
