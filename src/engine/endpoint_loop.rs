//! The one task that owns the sans-IO SIP [`Endpoint`]: datagrams and app commands in,
//! datagrams and events out, and a single timer armed at `poll_timeout()` (quinn's
//! `ConnectionDriver` shape).
//!
//! Per-call events are forwarded to that call's task on its own channel (created here when the
//! `IncomingCall` arrives, dropped after `Ended`); registration changes go to a hook. The task
//! never awaits anything but its inbox and its timer, so a slow call never delays signalling.
//!
//! Two inboxes: commands from the application (unbounded: calls and the drain send a few per
//! call) are served first; datagrams from the network wait in a bounded queue
//! ([`INBOX_DATAGRAMS`]) that drops what does not fit (counted as `sip_inbox_dropped`; UDP
//! senders retransmit). When more than `OVERLOAD_BACKLOG` datagrams wait, the endpoint is told
//! it is overloaded and answers new calls 503 at once until the backlog is short again, so a
//! flood delays calls already up by at most one queue's worth of parsing.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use super::log_limit;
use super::rt::sleep_opt;
use super::sip_trace::Direction;
use super::sip_transport::SipTransport;
use crate::policy::counters::{self, Counters};
use crate::sip::call::CallError;
use crate::sip::dial::{DialError, DialRequest};
use crate::sip::endpoint::limits::{OVERLOAD_BACKLOG, OVERLOAD_CLEAR};
use crate::sip::event::{CallHandle, RegId};
use crate::sip::register::{RegistrationConfig, RegistrationState};
use crate::sip::{Endpoint, Event, Transport};

/// Datagrams (and framed TCP messages) waiting for the endpoint at most. At ~20 µs of parsing
/// each that is under 100 ms of backlog; with messages of at most 16 KiB, at most 64 MiB.
pub const INBOX_DATAGRAMS: usize = 4096;

/// What the endpoint loop is asked to do.
#[derive(Debug)]
pub enum Cmd {
    /// A datagram or framed TCP message.
    Datagram {
        bytes: Vec<u8>,
        source: SocketAddr,
        transport: Transport,
    },
    /// A command for one call.
    Call(CallHandle, CallCmd),
    /// Start registering an account shown as `label`; `Hooks::on_account` hears of it before
    /// any of its state changes.
    Register {
        cfg: Box<RegistrationConfig>,
        label: String,
    },
    /// `false`: answer new INVITEs with 503 (drain).
    SetAccepting(bool),
    /// Unregister every account; the number of REGISTERs sent comes back.
    UnregisterAll(oneshot::Sender<usize>),
    /// Place an outbound call; its handle and event channel (or why not) come back.
    Dial {
        req: Box<DialRequest>,
        reply: oneshot::Sender<Result<Dialled, DialError>>,
    },
}

/// An outbound call just sent: its handle and the channel its events arrive on (progress,
/// then `Answered` or `Ended`, then the usual in-dialog events).
#[derive(Debug)]
pub struct Dialled {
    pub call: CallHandle,
    pub events: mpsc::UnboundedReceiver<CallEvent>,
}

/// A command for one call (see the matching `Endpoint` methods).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallCmd {
    Ringing,
    Answer(String),
    Reject(u16),
    Hangup,
    AnswerReoffer(String),
    RejectReoffer(u16),
    Transfer(String),
}

/// What one call hears from the endpoint loop, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEvent {
    /// A SIP event for this call.
    Sip(Event),
    /// The endpoint refused a command of this call (the call's state did not allow it, or
    /// the call is gone). Every refused command is reported, so a leg never waits for an
    /// outcome that will not come.
    Refused { cmd: CallCmd, error: CallError },
}

/// A new call for the application, with the channel its later events arrive on.
#[derive(Debug)]
pub struct Incoming {
    pub call: CallHandle,
    pub from: String,
    pub to: String,
    pub to_user: Option<String>,
    pub sdp_offer: Option<String>,
    pub source: SocketAddr,
    pub events: mpsc::UnboundedReceiver<CallEvent>,
}

/// The application's side of the endpoint loop's inbox: what call legs, the registration
/// starter and the drain use. Cloning shares the inbox. Sends fail only when the loop is gone
/// (the process is shutting down), when there is nobody left to tell; they are ignored.
#[derive(Debug, Clone)]
pub struct EndpointHandle(mpsc::UnboundedSender<Cmd>);

impl EndpointHandle {
    /// A handle and the inbox [`run`] reads.
    pub fn channel() -> (EndpointHandle, mpsc::UnboundedReceiver<Cmd>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (EndpointHandle(tx), rx)
    }

    /// A command for one call; a refusal comes back on the call's channel
    /// ([`CallEvent::Refused`]).
    pub fn call(&self, call: CallHandle, cmd: CallCmd) {
        let _ = self.0.send(Cmd::Call(call, cmd));
    }

    /// `false`: answer new INVITEs with 503 (drain).
    pub fn set_accepting(&self, on: bool) {
        let _ = self.0.send(Cmd::SetAccepting(on));
    }

    /// Starts registering an account shown as `label`.
    pub fn register(&self, cfg: RegistrationConfig, label: String) {
        let _ = self.0.send(Cmd::Register {
            cfg: Box::new(cfg),
            label,
        });
    }

    /// Places an outbound call (`None` when the loop is gone).
    pub async fn dial(&self, req: DialRequest) -> Option<Result<Dialled, DialError>> {
        let (tx, rx) = oneshot::channel();
        self.0
            .send(Cmd::Dial {
                req: Box::new(req),
                reply: tx,
            })
            .ok()?;
        rx.await.ok()
    }

    /// Unregisters every account; how many REGISTERs went out (0 when the loop is gone).
    pub async fn unregister_all(&self) -> usize {
        let (tx, rx) = oneshot::channel();
        if self.0.send(Cmd::UnregisterAll(tx)).is_err() {
            return 0;
        }
        rx.await.unwrap_or(0)
    }
}

/// The network's side of the endpoint loop: where the transport puts what it receives.
#[derive(Debug, Clone)]
pub struct DatagramSender(mpsc::Sender<Cmd>);

/// The loop's side of the bounded datagram queue.
#[derive(Debug)]
pub struct DatagramInbox(mpsc::Receiver<Cmd>);

/// The bounded datagram queue ([`INBOX_DATAGRAMS`]).
pub fn datagram_channel() -> (DatagramSender, DatagramInbox) {
    datagram_channel_of(INBOX_DATAGRAMS)
}

fn datagram_channel_of(capacity: usize) -> (DatagramSender, DatagramInbox) {
    let (tx, rx) = mpsc::channel(capacity);
    (DatagramSender(tx), DatagramInbox(rx))
}

/// What became of an offered datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offered {
    Queued,
    /// The queue was full: dropped and counted.
    Dropped,
    /// The endpoint loop is gone (shutting down).
    Closed,
}

impl DatagramSender {
    /// Queues a datagram without waiting: a full queue drops it (UDP; the sender retransmits).
    pub fn offer(&self, bytes: Vec<u8>, source: SocketAddr, transport: Transport) -> Offered {
        let cmd = Cmd::Datagram {
            bytes,
            source,
            transport,
        };
        match self.0.try_send(cmd) {
            Ok(()) => Offered::Queued,
            Err(mpsc::error::TrySendError::Full(_)) => {
                Counters::bump(&counters::global().sip_inbox_dropped);
                if let Some(suppressed) = log_limit::global().allow("sip inbox full") {
                    tracing::warn!(
                        capacity = INBOX_DATAGRAMS,
                        suppressed,
                        "SIP inbox full: dropping datagrams (overload)"
                    );
                }
                Offered::Dropped
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Offered::Closed,
        }
    }

    /// Queues a framed TCP message, waiting for room (back-pressure on that stream only).
    /// `false` when the loop is gone.
    pub async fn send(&self, bytes: Vec<u8>, source: SocketAddr, transport: Transport) -> bool {
        let cmd = Cmd::Datagram {
            bytes,
            source,
            transport,
        };
        self.0.send(cmd).await.is_ok()
    }
}

/// Called with every new call.
pub type OnCall = Box<dyn FnMut(Incoming) + Send>;
/// Called when an account starts registering (with its label), before its first state change.
pub type OnAccount = Box<dyn FnMut(RegId, String) + Send>;
/// Called on every registration state change.
pub type OnRegistration = Box<dyn FnMut(RegId, &RegistrationState) + Send>;

/// What the loop tells the application.
pub struct Hooks {
    pub on_call: OnCall,
    pub on_account: OnAccount,
    pub on_registration: OnRegistration,
}

/// What applying a command produced besides datagrams and events.
#[derive(Default)]
struct Applied {
    /// Call commands the endpoint refused (reported to their calls).
    refused: Vec<(CallHandle, CallCmd, CallError)>,
    /// Accounts that started registering.
    accounts: Vec<(RegId, String)>,
}

/// Runs until every sender of `inbox` is gone.
pub async fn run(
    mut ep: Endpoint,
    mut inbox: mpsc::UnboundedReceiver<Cmd>,
    mut datagrams: DatagramInbox,
    transport: SipTransport,
    mut hooks: Hooks,
) {
    let mut calls: HashMap<CallHandle, mpsc::UnboundedSender<CallEvent>> = HashMap::new();
    let mut overloaded = false;
    let mut advertised = ep.advertised_addr();
    loop {
        let deadline = ep.poll_timeout();
        let cmd = tokio::select! {
            // The application's commands first: answering a call beats parsing a flood.
            biased;
            cmd = inbox.recv() => match cmd {
                Some(c) => Some(c),
                None => return,
            },
            Some(d) = datagrams.0.recv() => Some(d),
            () = sleep_opt(deadline) => None,
        };
        overloaded = overload(&mut ep, overloaded, datagrams.0.len());
        let now = Instant::now();
        let mut applied = Applied::default();
        match cmd {
            None => ep.handle_timeout(now),
            Some(Cmd::Dial { req, reply }) => {
                let placed = ep.dial(*req, now).map(|call| {
                    let (tx, rx) = mpsc::unbounded_channel();
                    calls.insert(call, tx);
                    Dialled { call, events: rx }
                });
                let _ = reply.send(placed);
            }
            Some(cmd) => apply(&mut ep, cmd, now, &mut applied),
        }
        for (id, label) in applied.accounts {
            (hooks.on_account)(id, label);
        }
        for (call, cmd, error) in applied.refused {
            if let Some(tx) = calls.get(&call) {
                let _ = tx.send(CallEvent::Refused { cmd, error });
            }
        }
        // Timers due by now too (a busy inbox must not starve retransmissions).
        if ep.poll_timeout().is_some_and(|t| t <= now) {
            ep.handle_timeout(now);
        }
        while let Some(t) = ep.poll_transmit() {
            super::sip_trace::log(Direction::Sent, t.dest, t.transport, &t.bytes);
            transport.send(t);
        }
        while let Some(ev) = ep.poll_event() {
            dispatch(ev, &mut calls, &mut hooks);
        }
        if ep.advertised_addr() != advertised {
            // NAT: the endpoint adopted a public address (STUN, received/rport): SDP follows.
            advertised = ep.advertised_addr();
            super::net::set_learned_ip(Some(advertised.ip()));
        }
    }
}

/// Tells the endpoint when the datagram backlog crosses the overload marks (with hysteresis);
/// the new state.
fn overload(ep: &mut Endpoint, overloaded: bool, backlog: usize) -> bool {
    let now_overloaded = if overloaded {
        backlog >= OVERLOAD_CLEAR
    } else {
        backlog > OVERLOAD_BACKLOG
    };
    if now_overloaded != overloaded {
        ep.set_overloaded(now_overloaded);
        if now_overloaded {
            if let Some(suppressed) = log_limit::global().allow("sip overload") {
                tracing::warn!(
                    backlog,
                    suppressed,
                    "SIP inbox behind: new calls get 503 until it catches up"
                );
            }
        }
    }
    now_overloaded
}

fn apply(ep: &mut Endpoint, cmd: Cmd, now: Instant, applied: &mut Applied) {
    match cmd {
        Cmd::Datagram {
            bytes,
            source,
            transport,
        } => {
            super::sip_trace::log(Direction::Received, source, transport, &bytes);
            ep.handle_datagram(&bytes, source, transport, now)
        }
        Cmd::Call(call, c) => {
            let r = match &c {
                CallCmd::Ringing => ep.ringing(call, now),
                CallCmd::Answer(sdp) => ep.answer(call, sdp, now),
                CallCmd::Reject(status) => ep.reject(call, *status, now),
                CallCmd::Hangup => ep.hangup(call, now),
                CallCmd::AnswerReoffer(sdp) => ep.answer_reoffer(call, sdp, now),
                CallCmd::RejectReoffer(status) => ep.reject_reoffer(call, *status, now),
                CallCmd::Transfer(target) => ep.transfer(call, target, now),
            };
            if let Err(e) = r {
                // Races are normal (the caller hung up while we answered); the call's leg
                // decides what a refusal means (a refused transfer takes the flow's `on_fail`).
                tracing::debug!(%call, error = %e, "call command not applied");
                applied.refused.push((call, c, e));
            }
        }
        Cmd::Register { cfg, label } => {
            let id = ep.register(*cfg, now);
            applied.accounts.push((id, label));
        }
        Cmd::SetAccepting(on) => ep.set_accepting(on),
        Cmd::UnregisterAll(reply) => {
            let n = ep.unregister_all(now);
            let _ = reply.send(n);
        }
        // Handled by the loop itself (it owns the call channels).
        Cmd::Dial { reply, .. } => drop(reply),
    }
}

fn dispatch(
    ev: Event,
    calls: &mut HashMap<CallHandle, mpsc::UnboundedSender<CallEvent>>,
    hooks: &mut Hooks,
) {
    match ev {
        Event::IncomingCall {
            call,
            from,
            from_display: _,
            to,
            to_user,
            sdp_offer,
            source,
        } => {
            let (tx, rx) = mpsc::unbounded_channel();
            calls.insert(call, tx);
            (hooks.on_call)(Incoming {
                call,
                from,
                to,
                to_user,
                sdp_offer,
                source,
                events: rx,
            });
        }
        Event::Registration { reg, state } => (hooks.on_registration)(reg, &state),
        Event::OptionsResult { .. } => {}
        other => {
            let Some(call) = call_of(&other) else { return };
            let ended = matches!(other, Event::Ended { .. });
            if let Some(tx) = calls.get(&call) {
                let _ = tx.send(CallEvent::Sip(other));
            }
            if ended {
                calls.remove(&call);
            }
        }
    }
}

fn call_of(ev: &Event) -> Option<CallHandle> {
    match ev {
        Event::CallConfirmed { call }
        | Event::SdpAnswer { call, .. }
        | Event::Reoffer { call, .. }
        | Event::Dtmf { call, .. }
        | Event::Transfer { call, .. }
        | Event::Progress { call, .. }
        | Event::Answered { call, .. }
        | Event::Ended { call, .. } => Some(*call),
        Event::IncomingCall { .. } | Event::OptionsResult { .. } | Event::Registration { .. } => {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn hooks(seen: Arc<Mutex<Vec<Incoming>>>) -> Hooks {
        Hooks {
            on_call: Box::new(move |inc| seen.lock().unwrap().push(inc)),
            on_account: Box::new(|_, _| {}),
            on_registration: Box::new(|_, _| {}),
        }
    }

    fn incoming(call: CallHandle) -> Event {
        Event::IncomingCall {
            call,
            from: "sip:a@b".into(),
            from_display: None,
            to: "sip:5000@b".into(),
            to_user: Some("5000".into()),
            sdp_offer: None,
            source: "127.0.0.1:5060".parse().unwrap(),
        }
    }

    #[test]
    fn a_calls_events_reach_its_channel_until_it_ends() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut h = hooks(seen.clone());
        let mut calls = HashMap::new();
        let (a, b) = (CallHandle(1), CallHandle(2));
        dispatch(incoming(a), &mut calls, &mut h);
        dispatch(incoming(b), &mut calls, &mut h);
        dispatch(Event::CallConfirmed { call: a }, &mut calls, &mut h);
        let end = Event::Ended {
            call: a,
            reason: crate::sip::event::EndReason::RemoteBye,
        };
        dispatch(end.clone(), &mut calls, &mut h);
        // Late events for an ended call go nowhere.
        dispatch(Event::CallConfirmed { call: a }, &mut calls, &mut h);
        let mut seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        let rx = &mut seen[0].events;
        let confirmed = CallEvent::Sip(Event::CallConfirmed { call: a });
        assert_eq!(rx.try_recv().ok(), Some(confirmed));
        assert_eq!(rx.try_recv().ok(), Some(CallEvent::Sip(end)));
        assert!(rx.try_recv().is_err(), "closed after Ended");
        assert!(
            seen[1].events.try_recv().is_err(),
            "nothing for the other call"
        );
        assert!(calls.contains_key(&b) && !calls.contains_key(&a));
    }
}
