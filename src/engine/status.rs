//! What `phonetree run` shows about itself: the live calls ([`LiveCalls`]), the accounts'
//! registrations ([`Registrations`]) and the flows ([`Status::registry`]).
//!
//! A leaf module: call drivers write their [`CallView`], the endpoint hooks write registration
//! states, `http` and `shutdown` read. Each table hides its lock (one short critical section
//! per call; nothing awaits while holding it). Registration states are a typed [`RegState`], so
//! no reader compares strings. Not owned here: JSON shapes (`http`), SIP (`endpoint_loop`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use super::rt::lock;
use crate::registry::Registry;
use crate::sip::event::RegId;
use crate::sip::register::{RegisterFailure, RegistrationState};

/// Everything the status API and the drain read.
pub struct Status {
    pub calls: LiveCalls,
    pub regs: Registrations,
    pub registry: Arc<Registry>,
    pub started: SystemTime,
    /// Set when the drain starts (SIGTERM): `/healthz` and `/readyz` answer 503.
    pub draining: std::sync::atomic::AtomicBool,
}

impl Status {
    pub fn new(registry: Arc<Registry>) -> Status {
        Status {
            calls: LiveCalls::default(),
            regs: Registrations::default(),
            registry,
            started: SystemTime::now(),
            draining: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

/// A live call as `/api/calls` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallView {
    /// The leg's id (`call-7` for SIP).
    pub id: String,
    pub flow: String,
    pub version: String,
    /// The node the call is in (empty before the flow starts).
    pub node: String,
    pub theme: String,
    pub since: SystemTime,
}

/// The calls in progress, by id. Cloning shares the table.
#[derive(Debug, Clone, Default)]
pub struct LiveCalls(Arc<Mutex<BTreeMap<String, CallView>>>);

impl LiveCalls {
    /// Adds (or replaces) a call.
    pub fn insert(&self, view: CallView) {
        lock(&self.0).insert(view.id.clone(), view);
    }

    /// The call moved to `node` in `theme`.
    pub fn update(&self, id: &str, node: &str, theme: &str) {
        if let Some(v) = lock(&self.0).get_mut(id) {
            node.clone_into(&mut v.node);
            theme.clone_into(&mut v.theme);
        }
    }

    pub fn remove(&self, id: &str) {
        lock(&self.0).remove(id);
    }

    pub fn len(&self) -> usize {
        lock(&self.0).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every live call, ordered by id.
    pub fn snapshot(&self) -> Vec<CallView> {
        lock(&self.0).values().cloned().collect()
    }
}

/// Where an account's registration is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegState {
    /// The registrar's address could not be resolved yet (retried in the background).
    Unresolved,
    Registering,
    Registered {
        until: Instant,
    },
    Failed {
        reason: RegisterFailure,
        retry_at: Instant,
    },
    Unregistering,
    Unregistered,
}

impl RegState {
    /// The name `/api/registrations` shows (`Unresolved` shows as `failed`).
    pub fn label(&self) -> &'static str {
        match self {
            RegState::Unresolved | RegState::Failed { .. } => "failed",
            RegState::Registering => "registering",
            RegState::Registered { .. } => "registered",
            RegState::Unregistering => "unregistering",
            RegState::Unregistered => "unregistered",
        }
    }

    /// A human detail at `now` (expiry, retry time, why it failed).
    pub fn detail(&self, now: Instant) -> Option<String> {
        match self {
            RegState::Unresolved => Some("cannot resolve the registrar".into()),
            RegState::Registered { until } => Some(format!(
                "expires in {}s",
                until.saturating_duration_since(now).as_secs()
            )),
            RegState::Failed { reason, retry_at } => Some(format!(
                "{reason}; retry in {}s",
                retry_at.saturating_duration_since(now).as_secs()
            )),
            _ => None,
        }
    }

    /// `phonetree_registration_status`: 0 not registered, 1 registered, 2 failed.
    pub fn metric(&self) -> f64 {
        match self {
            RegState::Registered { .. } => 1.0,
            RegState::Unresolved | RegState::Failed { .. } => 2.0,
            _ => 0.0,
        }
    }

    /// Nothing more will happen without a new request (what shutdown waits for).
    pub fn is_settled(&self) -> bool {
        matches!(
            self,
            RegState::Unresolved | RegState::Unregistered | RegState::Failed { .. }
        )
    }
}

impl From<&RegistrationState> for RegState {
    fn from(s: &RegistrationState) -> RegState {
        match s {
            RegistrationState::Unregistered => RegState::Unregistered,
            RegistrationState::Registering => RegState::Registering,
            RegistrationState::Registered { until } => RegState::Registered { until: *until },
            RegistrationState::Failed { retry_at, reason } => RegState::Failed {
                reason: reason.clone(),
                retry_at: *retry_at,
            },
            RegistrationState::Unregistering => RegState::Unregistering,
        }
    }
}

/// One account's registration (never the password).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegView {
    /// `None` while the registrar is unresolved (no registration exists yet).
    pub id: Option<RegId>,
    /// `user@registrar`.
    pub account: String,
    pub state: RegState,
    /// The last failure and when it happened (kept after a later success, for the dashboard).
    pub last_error: Option<(String, SystemTime)>,
}

/// Sets an account's `phonetree_registration_status` (`/metrics`).
fn gauge(account: &str, state: &RegState) {
    metrics::gauge!("phonetree_registration_status", "account" => account.to_string())
        .set(state.metric());
}

/// The accounts' registrations, in the order they started. Cloning shares the table.
#[derive(Debug, Clone, Default)]
pub struct Registrations(Arc<Mutex<Vec<RegView>>>);

impl Registrations {
    /// An account whose registrar did not resolve: shown as failed until it does.
    pub fn placeholder(&self, account: &str) {
        gauge(account, &RegState::Unresolved);
        lock(&self.0).push(RegView {
            id: None,
            account: account.to_string(),
            state: RegState::Unresolved,
            last_error: Some(("cannot resolve the registrar".into(), SystemTime::now())),
        });
    }

    /// Registration `id` of `account` started (replacing its placeholder, if any).
    pub fn started(&self, id: RegId, account: String) {
        let mut regs = lock(&self.0);
        let last_error = regs
            .iter()
            .find(|v| v.id.is_none() && v.account == account)
            .and_then(|v| v.last_error.clone());
        regs.retain(|v| !(v.id.is_none() && v.account == account));
        gauge(&account, &RegState::Registering);
        regs.push(RegView {
            id: Some(id),
            account,
            state: RegState::Registering,
            last_error,
        });
    }

    /// Registration `id` changed state; returns its account label (for the log), `None` for
    /// an unknown id.
    pub fn set(&self, id: RegId, state: RegState) -> Option<String> {
        let mut regs = lock(&self.0);
        let v = regs.iter_mut().find(|v| v.id == Some(id))?;
        gauge(&v.account, &state);
        if let RegState::Failed { reason, .. } = &state {
            v.last_error = Some((reason.to_string(), SystemTime::now()));
        }
        v.state = state;
        Some(v.account.clone())
    }

    /// Whether every registration that exists has settled (unregistered or failed).
    pub fn all_settled(&self) -> bool {
        lock(&self.0)
            .iter()
            .all(|r| r.id.is_none() || r.state.is_settled())
    }

    pub fn snapshot(&self) -> Vec<RegView> {
        lock(&self.0).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn view(id: &str) -> CallView {
        CallView {
            id: id.into(),
            flow: "menu".into(),
            version: "abc".into(),
            node: String::new(),
            theme: String::new(),
            since: SystemTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn live_calls_are_inserted_updated_and_removed_by_id() {
        let calls = LiveCalls::default();
        let shared = calls.clone();
        calls.insert(view("call-2"));
        calls.insert(view("call-1"));
        shared.update("call-2", "menu", "pirate");
        shared.update("call-9", "ignored", "");
        let snap = calls.snapshot();
        assert_eq!(snap.len(), 2);
        assert_eq!(snap[0].id, "call-1");
        assert_eq!(
            (snap[1].node.as_str(), snap[1].theme.as_str()),
            ("menu", "pirate")
        );
        calls.remove("call-1");
        assert_eq!(shared.len(), 1);
    }

    #[test]
    fn a_resolved_account_replaces_its_placeholder_and_states_are_typed() {
        let regs = Registrations::default();
        regs.placeholder("100@pbx");
        assert!(regs.all_settled(), "a placeholder has no registration");
        regs.started(RegId(1), "100@pbx".into());
        let snap = regs.snapshot();
        assert_eq!(snap.len(), 1);
        assert_eq!(snap[0].state, RegState::Registering);
        assert!(!regs.all_settled());
        let now = Instant::now();
        let until = now + Duration::from_secs(300);
        let label = regs.set(RegId(1), RegState::Registered { until });
        assert_eq!(label.as_deref(), Some("100@pbx"));
        assert_eq!(regs.set(RegId(7), RegState::Unregistered), None);
        let s = &regs.snapshot()[0].state;
        assert_eq!(s.label(), "registered");
        assert_eq!(s.detail(now).as_deref(), Some("expires in 300s"));
        regs.set(RegId(1), RegState::Unregistered);
        assert!(regs.all_settled());
        let kept = regs.snapshot()[0].last_error.clone().map(|(e, _)| e);
        assert_eq!(kept.as_deref(), Some("cannot resolve the registrar"));
        regs.set(
            RegId(1),
            RegState::Failed {
                reason: RegisterFailure::Rejected {
                    status: 403,
                    reason: "Forbidden".into(),
                },
                retry_at: now,
            },
        );
        regs.set(RegId(1), RegState::Registered { until });
        let kept = regs.snapshot()[0].last_error.clone().map(|(e, _)| e);
        assert_eq!(
            kept.as_deref(),
            Some("403 Forbidden"),
            "kept after a success"
        );
    }

    #[test]
    fn failed_and_unresolved_read_as_failed_with_a_reason() {
        let now = Instant::now();
        let failed = RegState::Failed {
            reason: RegisterFailure::Rejected {
                status: 403,
                reason: "Forbidden".into(),
            },
            retry_at: now + Duration::from_secs(30),
        };
        assert_eq!(failed.label(), "failed");
        assert_eq!(
            failed.detail(now).as_deref(),
            Some("403 Forbidden; retry in 30s")
        );
        assert_eq!(RegState::Unresolved.label(), "failed");
        assert!(RegState::Unresolved.is_settled() && failed.is_settled());
        assert!(!RegState::Unregistering.is_settled());
    }
}
