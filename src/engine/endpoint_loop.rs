//! The one task that owns the sans-IO SIP [`Endpoint`]: datagrams and app commands in,
//! datagrams and events out, and a single timer armed at `poll_timeout()` (quinn's
//! `ConnectionDriver` shape).
//!
//! Per-call events are forwarded to that call's task on its own channel (created here when the
//! `IncomingCall` arrives, dropped after `Ended`); registration changes go to a hook. The task
//! never awaits anything but its inbox and its timer, so a slow call never delays signalling.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};
use tokio::time::sleep_until;

use super::sip_trace::Direction;
use super::sip_transport::SipTransport;
use crate::sip::event::{CallId, RegId, TransferProgress};
use crate::sip::register::{RegistrationConfig, RegistrationState};
use crate::sip::{Endpoint, Event, Transport};

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
    Call(CallId, CallCmd),
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

/// A new call for the application, with the channel its later events arrive on.
#[derive(Debug)]
pub struct Incoming {
    pub call: CallId,
    pub from: String,
    pub to: String,
    pub to_user: Option<String>,
    pub sdp_offer: Option<String>,
    pub source: SocketAddr,
    pub events: mpsc::UnboundedReceiver<Event>,
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
    /// Transfers the endpoint refused (reported as failed transfers).
    failed: Vec<(CallId, String)>,
    /// Accounts that started registering.
    accounts: Vec<(RegId, String)>,
}

/// Runs until every sender of `inbox` is gone.
pub async fn run(
    mut ep: Endpoint,
    mut inbox: mpsc::UnboundedReceiver<Cmd>,
    transport: SipTransport,
    mut hooks: Hooks,
) {
    let mut calls: HashMap<CallId, mpsc::UnboundedSender<Event>> = HashMap::new();
    loop {
        let deadline = ep.poll_timeout();
        let cmd = tokio::select! {
            cmd = inbox.recv() => match cmd {
                Some(c) => Some(c),
                None => return,
            },
            () = sleep_opt(deadline) => None,
        };
        let now = Instant::now();
        let mut applied = Applied::default();
        match cmd {
            None => ep.handle_timeout(now),
            Some(cmd) => apply(&mut ep, cmd, now, &mut applied),
        }
        for (id, label) in applied.accounts {
            (hooks.on_account)(id, label);
        }
        for (call, reason) in applied.failed {
            let progress = TransferProgress::Failed { status: 0, reason };
            dispatch(Event::Transfer { call, progress }, &mut calls, &mut hooks);
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
    }
}

async fn sleep_opt(deadline: Option<Instant>) {
    match deadline {
        Some(t) => sleep_until(tokio::time::Instant::from_std(t)).await,
        None => std::future::pending().await,
    }
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
                // Races are normal (the caller hung up while we answered): the call task
                // learns the outcome from the `Ended` event. A refused transfer is reported
                // as a failed one, so the flow takes its `on_fail`.
                tracing::debug!(%call, error = %e, "call command not applied");
                if matches!(c, CallCmd::Transfer(_)) {
                    applied.failed.push((call, e.to_string()));
                }
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
    }
}

fn dispatch(
    ev: Event,
    calls: &mut HashMap<CallId, mpsc::UnboundedSender<Event>>,
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
                let _ = tx.send(other);
            }
            if ended {
                calls.remove(&call);
            }
        }
    }
}

fn call_of(ev: &Event) -> Option<CallId> {
    match ev {
        Event::CallConfirmed { call }
        | Event::SdpAnswer { call, .. }
        | Event::Reoffer { call, .. }
        | Event::Dtmf { call, .. }
        | Event::Transfer { call, .. }
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

    fn incoming(call: CallId) -> Event {
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
        let (a, b) = (CallId(1), CallId(2));
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
        assert_eq!(rx.try_recv().ok(), Some(Event::CallConfirmed { call: a }));
        assert_eq!(rx.try_recv().ok(), Some(end));
        assert!(rx.try_recv().is_err(), "closed after Ended");
        assert!(
            seen[1].events.try_recv().is_err(),
            "nothing for the other call"
        );
        assert!(calls.contains_key(&b) && !calls.contains_key(&a));
    }
}
