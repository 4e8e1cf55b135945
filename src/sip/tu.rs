//! The contract between the transaction users (`call`, `register`) and the endpoint.
//!
//! Owns [`TuOutput`] (respond on a server transaction, send a request on a new client
//! transaction or an INVITE on an INVITE client transaction, send an ACK for a 2xx, signal an
//! ACK, emit an app event) and the [`Ctx`] a TU receives with every
//! input. Keeps the TUs free of transaction tables: they only name transactions by key/branch.

use std::net::SocketAddr;
use std::time::Instant;

use super::build::OutMessage;
use super::event::Event;
use super::ids::IdGen;
use super::message::TxKey;
use super::transaction::Peer;

/// Why a client transaction was started, so its response finds its way back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Bye,
    Refer,
    /// An UPDATE refreshing the session (RFC 4028).
    Refresh,
    Register,
    /// A REGISTER with `Expires: 0`.
    Unregister,
    /// An out-of-dialog OPTIONS (keep-alive / health check).
    Options,
    /// A registration's NAT keep-alive OPTIONS to its registrar (`sip::nat`).
    KeepAlive,
    /// CANCEL of an outbound INVITE (its answer is ignored: the INVITE's 487 is the outcome).
    Cancel,
    /// A BYE for a dialog nobody keeps (a second fork's 2xx); its answer is ignored.
    Orphan,
}

/// What a TU asks the endpoint to do.
#[derive(Debug, Clone)]
pub enum TuOutput {
    /// Send `msg` (a response with `status`) on the server transaction `key`.
    Respond {
        key: TxKey,
        status: u16,
        msg: OutMessage,
    },
    /// Start a client transaction for `msg` (whose top Via carries `branch`).
    Request {
        msg: OutMessage,
        branch: String,
        peer: Peer,
        purpose: Purpose,
    },
    /// Start an INVITE client transaction for `msg` (an outbound call's INVITE).
    Invite {
        msg: OutMessage,
        branch: String,
        peer: Peer,
    },
    /// Send `msg` outside any transaction (the ACK for a 2xx).
    Transmit { msg: OutMessage, peer: Peer },
    /// Send raw bytes that are no SIP message (the CRLF keep-alive of RFC 5626 §4.4.1).
    Raw { bytes: Vec<u8>, peer: Peer },
    /// The ACK for the 2xx sent on INVITE transaction `key` arrived.
    Acked { key: TxKey },
    /// An application event.
    Event(Event),
}

/// What a TU gets with each input.
pub struct Ctx<'a> {
    pub now: Instant,
    pub ids: &'a mut IdGen,
    pub out: &'a mut Vec<TuOutput>,
    /// Our advertised address (Via sent-by, Contact).
    pub local: SocketAddr,
    /// Our advertised TLS port, when we listen for TLS (`EndpointConfig::tls_port`).
    pub tls_port: Option<u16>,
}

impl Ctx<'_> {
    pub fn emit(&mut self, e: Event) {
        self.out.push(TuOutput::Event(e));
    }

    /// `ip:port` for Via and Contact (IPv6 in brackets).
    pub fn sent_by(&self) -> String {
        self.local.to_string()
    }

    /// `ip:port` for Via and Contact of a message on `transport`: TLS has its own port (the UDP
    /// and TCP one when no TLS port is known).
    pub fn sent_by_on(&self, transport: super::Transport) -> String {
        match (transport, self.tls_port) {
            (super::Transport::Tls, Some(port)) => {
                SocketAddr::new(self.local.ip(), port).to_string()
            }
            _ => self.sent_by(),
        }
    }
}
