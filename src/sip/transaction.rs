//! RFC 3261 §17 transactions as sans-IO state machines: INVITE server, non-INVITE server,
//! non-INVITE client and INVITE client.
//!
//! Owns retransmission and absorption: resending the last response to a retransmitted request,
//! retransmitting final INVITE responses (2xx included, RFC 3261 §13.3.1.4 / RFC 6026) on Timer G
//! until the ACK, retransmitting requests on Timer E, and giving up on Timers H and F. Each
//! transaction has a closed timer enum in a [`TimerTable`]; over a reliable transport the
//! retransmission timers are never armed and the wait timers (I, J, K) are zero.
//!
//! Does not own: matching messages to transactions (the endpoint keys them by [`TxKey`](super::message::TxKey)) or the
//! meaning of responses (the call, dial and registration layers). The INVITE client
//! transaction (Timers A, B, D, M) carries outbound calls ([`super::dial`]); as in RFC 3261
//! Figure 5, Timer B runs only until the first provisional response: after a 1xx the ring
//! timeout belongs to the dialler, which ends the wait with CANCEL.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::timer::{TimerConfig, TimerTable};
use super::{Transmit, Transport};

/// Where a transaction's bytes go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub dest: SocketAddr,
    pub transport: Transport,
}

impl Peer {
    fn send(&self, out: &mut VecDeque<Transmit>, bytes: &[u8]) {
        out.push_back(Transmit {
            dest: self.dest,
            transport: self.transport,
            bytes: bytes.to_vec(),
        });
    }
}

/// INVITE server transaction states (RFC 3261 Figure 7, plus RFC 6026 "Accepted").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteServerState {
    Proceeding,
    /// A 2xx was sent; it is retransmitted until the ACK (which arrives as its own transaction).
    Accepted,
    /// A 3xx-6xx was sent; it is retransmitted until the ACK.
    Completed,
    /// The ACK arrived; Timer I absorbs ACK retransmissions.
    Confirmed,
    Terminated,
}

/// INVITE server transaction timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteServerTimer {
    /// Response retransmission (UDP only), T1 doubling to T2.
    G,
    /// Give up waiting for the ACK, 64·T1.
    H,
    /// Absorb ACK retransmissions, T4 (0 on TCP).
    I,
}

/// What an INVITE server transaction tells its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteServerEvent {
    /// Timer H fired: the final response was never acknowledged.
    AckTimeout,
}

/// The INVITE server transaction.
#[derive(Debug, Clone)]
pub struct InviteServerTx {
    peer: Peer,
    cfg: TimerConfig,
    state: InviteServerState,
    last: Option<Vec<u8>>,
    timers: TimerTable<InviteServerTimer>,
    g_interval: Duration,
}

impl InviteServerTx {
    /// Creates the transaction and sends `trying` (100 Trying) at once.
    pub fn new(
        peer: Peer,
        cfg: TimerConfig,
        trying: Vec<u8>,
        out: &mut VecDeque<Transmit>,
    ) -> InviteServerTx {
        peer.send(out, &trying);
        InviteServerTx {
            peer,
            cfg,
            state: InviteServerState::Proceeding,
            last: Some(trying),
            timers: TimerTable::default(),
            g_interval: cfg.t1,
        }
    }

    pub fn state(&self) -> InviteServerState {
        self.state
    }

    /// Whether a final response has been sent.
    pub fn is_final(&self) -> bool {
        self.state != InviteServerState::Proceeding
    }

    /// Sends a response from the TU. Ignored once a final response was sent.
    pub fn respond(
        &mut self,
        status: u16,
        bytes: Vec<u8>,
        now: Instant,
        out: &mut VecDeque<Transmit>,
    ) {
        if self.state != InviteServerState::Proceeding {
            return;
        }
        self.peer.send(out, &bytes);
        self.last = Some(bytes);
        if status < 200 {
            return;
        }
        self.state = if status < 300 {
            InviteServerState::Accepted
        } else {
            InviteServerState::Completed
        };
        if !self.peer.transport.is_reliable() {
            self.g_interval = self.cfg.t1;
            self.timers.set(InviteServerTimer::G, now + self.g_interval);
        }
        self.timers.set(InviteServerTimer::H, now + self.cfg.t64());
    }

    /// A retransmission of the INVITE arrived: resend the last response (RFC 3261 §17.2.1).
    pub fn on_retransmit(&mut self, out: &mut VecDeque<Transmit>) {
        if matches!(
            self.state,
            InviteServerState::Proceeding
                | InviteServerState::Accepted
                | InviteServerState::Completed
        ) {
            if let Some(last) = &self.last {
                self.peer.send(out, last);
            }
        }
    }

    /// The ACK arrived (for a 3xx-6xx through this transaction; for a 2xx through the dialog).
    pub fn on_ack(&mut self, now: Instant) {
        if matches!(
            self.state,
            InviteServerState::Accepted | InviteServerState::Completed
        ) {
            self.state = InviteServerState::Confirmed;
            self.timers.clear();
            let wait = if self.peer.transport.is_reliable() {
                Duration::ZERO
            } else {
                self.cfg.t4
            };
            self.timers.set(InviteServerTimer::I, now + wait);
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Fires due timers.
    pub fn handle_timeout(
        &mut self,
        now: Instant,
        out: &mut VecDeque<Transmit>,
    ) -> Option<InviteServerEvent> {
        while let Some(t) = self.timers.pop_expired(now) {
            match t {
                InviteServerTimer::G => {
                    if let Some(last) = &self.last {
                        self.peer.send(out, last);
                    }
                    self.g_interval = (self.g_interval * 2).min(self.cfg.t2);
                    self.timers.set(InviteServerTimer::G, now + self.g_interval);
                }
                InviteServerTimer::H => {
                    self.state = InviteServerState::Terminated;
                    self.timers.clear();
                    return Some(InviteServerEvent::AckTimeout);
                }
                InviteServerTimer::I => {
                    self.state = InviteServerState::Terminated;
                    self.timers.clear();
                }
            }
        }
        None
    }

    pub fn is_terminated(&self) -> bool {
        self.state == InviteServerState::Terminated
    }
}

/// Non-INVITE server transaction states (RFC 3261 Figure 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonInviteServerState {
    Trying,
    Proceeding,
    Completed,
    Terminated,
}

/// Non-INVITE server transaction timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonInviteServerTimer {
    /// Absorb request retransmissions, 64·T1 (0 on TCP).
    J,
}

/// The non-INVITE server transaction.
#[derive(Debug, Clone)]
pub struct NonInviteServerTx {
    peer: Peer,
    cfg: TimerConfig,
    state: NonInviteServerState,
    last: Option<Vec<u8>>,
    timers: TimerTable<NonInviteServerTimer>,
}

impl NonInviteServerTx {
    pub fn new(peer: Peer, cfg: TimerConfig) -> NonInviteServerTx {
        NonInviteServerTx {
            peer,
            cfg,
            state: NonInviteServerState::Trying,
            last: None,
            timers: TimerTable::default(),
        }
    }

    pub fn state(&self) -> NonInviteServerState {
        self.state
    }

    /// Sends a response from the TU; ignored once a final response was sent.
    pub fn respond(
        &mut self,
        status: u16,
        bytes: Vec<u8>,
        now: Instant,
        out: &mut VecDeque<Transmit>,
    ) {
        if matches!(
            self.state,
            NonInviteServerState::Completed | NonInviteServerState::Terminated
        ) {
            return;
        }
        self.peer.send(out, &bytes);
        self.last = Some(bytes);
        if status < 200 {
            self.state = NonInviteServerState::Proceeding;
            return;
        }
        self.state = NonInviteServerState::Completed;
        let wait = if self.peer.transport.is_reliable() {
            Duration::ZERO
        } else {
            self.cfg.t64()
        };
        self.timers.set(NonInviteServerTimer::J, now + wait);
    }

    /// A retransmitted request: resend the last response, if any.
    pub fn on_retransmit(&mut self, out: &mut VecDeque<Transmit>) {
        if self.state != NonInviteServerState::Terminated {
            if let Some(last) = &self.last {
                self.peer.send(out, last);
            }
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(NonInviteServerTimer::J) = self.timers.pop_expired(now) {
            self.state = NonInviteServerState::Terminated;
        }
    }

    pub fn is_terminated(&self) -> bool {
        self.state == NonInviteServerState::Terminated
    }
}

/// Non-INVITE client transaction states (RFC 3261 Figure 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientState {
    Trying,
    Proceeding,
    Completed,
    Terminated,
}

/// Non-INVITE client transaction timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientTimer {
    /// Request retransmission (UDP only): T1 doubling to T2; T2 once a provisional arrived.
    E,
    /// Transaction timeout, 64·T1.
    F,
    /// Absorb response retransmissions, T4 (0 on TCP).
    K,
}

/// What a client transaction tells its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientEvent {
    /// Timer F fired with no final response (treated as 408, RFC 3261 §8.1.3.1).
    Timeout,
}

/// The non-INVITE client transaction (BYE, REFER, REGISTER, OPTIONS, NOTIFY…).
#[derive(Debug, Clone)]
pub struct ClientTx {
    peer: Peer,
    cfg: TimerConfig,
    state: ClientState,
    request: Vec<u8>,
    timers: TimerTable<ClientTimer>,
    e_interval: Duration,
}

impl ClientTx {
    /// Creates the transaction and sends the request at once.
    pub fn new(
        peer: Peer,
        cfg: TimerConfig,
        request: Vec<u8>,
        now: Instant,
        out: &mut VecDeque<Transmit>,
    ) -> ClientTx {
        peer.send(out, &request);
        let mut timers = TimerTable::default();
        if !peer.transport.is_reliable() {
            timers.set(ClientTimer::E, now + cfg.t1);
        }
        timers.set(ClientTimer::F, now + cfg.t64());
        ClientTx {
            peer,
            cfg,
            state: ClientState::Trying,
            request,
            timers,
            e_interval: cfg.t1,
        }
    }

    pub fn state(&self) -> ClientState {
        self.state
    }

    /// A response with `status` arrived. Returns whether it is new and goes to the owner
    /// (retransmitted finals in Completed are absorbed).
    pub fn on_response(&mut self, status: u16, now: Instant) -> bool {
        match (self.state, status) {
            (ClientState::Trying | ClientState::Proceeding, 100..=199) => {
                if self.state == ClientState::Trying && self.timers.is_set(ClientTimer::E) {
                    self.e_interval = self.cfg.t2;
                }
                self.state = ClientState::Proceeding;
                true
            }
            (ClientState::Trying | ClientState::Proceeding, _) => {
                self.state = ClientState::Completed;
                self.timers.clear();
                let wait = if self.peer.transport.is_reliable() {
                    Duration::ZERO
                } else {
                    self.cfg.t4
                };
                self.timers.set(ClientTimer::K, now + wait);
                true
            }
            _ => false,
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    pub fn handle_timeout(
        &mut self,
        now: Instant,
        out: &mut VecDeque<Transmit>,
    ) -> Option<ClientEvent> {
        while let Some(t) = self.timers.pop_expired(now) {
            match t {
                ClientTimer::E => {
                    self.peer.send(out, &self.request);
                    if self.state == ClientState::Trying {
                        self.e_interval = (self.e_interval * 2).min(self.cfg.t2);
                    } else {
                        self.e_interval = self.cfg.t2;
                    }
                    self.timers.set(ClientTimer::E, now + self.e_interval);
                }
                ClientTimer::F => {
                    self.state = ClientState::Terminated;
                    self.timers.clear();
                    return Some(ClientEvent::Timeout);
                }
                ClientTimer::K => {
                    self.state = ClientState::Terminated;
                    self.timers.clear();
                }
            }
        }
        None
    }

    pub fn is_terminated(&self) -> bool {
        self.state == ClientState::Terminated
    }
}

/// INVITE client transaction states (RFC 3261 Figure 5, with RFC 6026 "Accepted").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteClientState {
    Calling,
    Proceeding,
    /// A 2xx arrived; further 2xx retransmissions still go to the TU (which ACKs each) until
    /// Timer M.
    Accepted,
    /// A 3xx-6xx arrived and was ACKed; retransmissions of it are ACKed again until Timer D.
    Completed,
    Terminated,
}

/// INVITE client transaction timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteClientTimer {
    /// INVITE retransmission (UDP only): T1, doubling without cap.
    A,
    /// Transaction timeout, 64·T1, while no provisional response arrived.
    B,
    /// Absorb final-response retransmissions after a 3xx-6xx: 32 s on UDP, 0 on TCP.
    D,
    /// Stay in Accepted for 2xx retransmissions, 64·T1.
    M,
}

/// What an INVITE client transaction does with a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteClientVerdict {
    /// Pass the response to the TU.
    ToTu,
    /// Absorbed (a retransmission the transaction handled itself).
    Absorbed,
}

/// The INVITE client transaction: for the INVITEs of outbound calls.
#[derive(Debug, Clone)]
pub struct InviteClientTx {
    peer: Peer,
    cfg: TimerConfig,
    state: InviteClientState,
    request: Vec<u8>,
    ack: Option<Vec<u8>>,
    timers: TimerTable<InviteClientTimer>,
    a_interval: Duration,
}

impl InviteClientTx {
    /// Creates the transaction and sends the INVITE at once.
    pub fn new(
        peer: Peer,
        cfg: TimerConfig,
        request: Vec<u8>,
        now: Instant,
        out: &mut VecDeque<Transmit>,
    ) -> InviteClientTx {
        peer.send(out, &request);
        let mut timers = TimerTable::default();
        if !peer.transport.is_reliable() {
            timers.set(InviteClientTimer::A, now + cfg.t1);
        }
        timers.set(InviteClientTimer::B, now + cfg.t64());
        InviteClientTx {
            peer,
            cfg,
            state: InviteClientState::Calling,
            request,
            ack: None,
            timers,
            a_interval: cfg.t1,
        }
    }

    pub fn state(&self) -> InviteClientState {
        self.state
    }

    /// A response with `status`. For a 3xx-6xx the transaction sends the ACK built by
    /// `make_ack` (RFC 3261 §17.1.1.3) and resends it for each retransmission.
    pub fn on_response(
        &mut self,
        status: u16,
        now: Instant,
        out: &mut VecDeque<Transmit>,
        make_ack: impl FnOnce() -> Vec<u8>,
    ) -> InviteClientVerdict {
        use InviteClientState as S;
        match (self.state, status) {
            (S::Calling | S::Proceeding, 100..=199) => {
                self.state = S::Proceeding;
                // Figure 5: Proceeding has no timers; the TU's ring timeout (CANCEL) ends it.
                self.timers.stop(InviteClientTimer::A);
                self.timers.stop(InviteClientTimer::B);
                InviteClientVerdict::ToTu
            }
            (S::Calling | S::Proceeding, 200..=299) => {
                self.state = S::Accepted;
                self.timers.clear();
                self.timers.set(InviteClientTimer::M, now + self.cfg.t64());
                InviteClientVerdict::ToTu
            }
            (S::Calling | S::Proceeding, _) => {
                self.state = S::Completed;
                let ack = make_ack();
                self.peer.send(out, &ack);
                self.ack = Some(ack);
                self.timers.clear();
                let wait = if self.peer.transport.is_reliable() {
                    Duration::ZERO
                } else {
                    Duration::from_secs(32)
                };
                self.timers.set(InviteClientTimer::D, now + wait);
                InviteClientVerdict::ToTu
            }
            (S::Accepted, 200..=299) => InviteClientVerdict::ToTu,
            (S::Completed, 300..) => {
                if let Some(ack) = &self.ack {
                    self.peer.send(out, ack);
                }
                InviteClientVerdict::Absorbed
            }
            _ => InviteClientVerdict::Absorbed,
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Fires due timers; `Some(ClientEvent::Timeout)` when Timer B expires.
    pub fn handle_timeout(
        &mut self,
        now: Instant,
        out: &mut VecDeque<Transmit>,
    ) -> Option<ClientEvent> {
        while let Some(t) = self.timers.pop_expired(now) {
            match t {
                InviteClientTimer::A => {
                    self.peer.send(out, &self.request);
                    self.a_interval *= 2;
                    self.timers.set(InviteClientTimer::A, now + self.a_interval);
                }
                InviteClientTimer::B => {
                    self.state = InviteClientState::Terminated;
                    self.timers.clear();
                    return Some(ClientEvent::Timeout);
                }
                InviteClientTimer::D | InviteClientTimer::M => {
                    self.state = InviteClientState::Terminated;
                    self.timers.clear();
                }
            }
        }
        None
    }

    pub fn is_terminated(&self) -> bool {
        self.state == InviteClientState::Terminated
    }
}

#[cfg(test)]
#[path = "transaction_tests.rs"]
mod tests;
