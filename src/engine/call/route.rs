//! Which flow answers a call: a pure decision over the accounts and the registry's snapshot.
//!
//! First match wins:
//! 1. the flow of the account whose username is the dialled user;
//! 2. the flow whose `routes` list the dialled user;
//! 3. the flow of the only account registered at the address the call came from (a PBX puts
//!    the dialled DID, not the extension, in To);
//! 4. the default flow.
//!
//! Knows nothing about SIP beyond "a dialled user and a source address"; any leg can be routed.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use crate::flow::program::Program;
use crate::registry::{Registry, Snapshot};

/// What call routing needs to know about an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRoute {
    pub username: String,
    pub flow: Option<String>,
    /// The address its REGISTERs go to (calls for it come from there).
    pub registrar_ip: Option<IpAddr>,
}

/// The routing table: accounts plus the live flows.
pub struct Router {
    pub accounts: Vec<AccountRoute>,
    pub registry: Arc<Registry>,
}

impl Router {
    /// The loaded flow called `name` (a leg that names its flow, like Twilio's `flow`
    /// parameter); `None` (logged) when no such flow is loaded: the call is then routed as usual.
    pub fn named(&self, name: &str) -> Option<Arc<Program>> {
        let snap = self.registry.snapshot();
        let found = snap
            .flows
            .iter()
            .filter_map(|e| e.program.as_ref())
            .find(|p| p.name == name)
            .cloned();
        if found.is_none() {
            tracing::warn!(flow = %name, "the call asks for a flow that is not loaded");
        }
        found
    }

    /// The flow for a call to `dialled` (empty when the leg has no number) from `source`.
    pub fn route(&self, dialled: &str, source: Option<SocketAddr>) -> Option<Arc<Program>> {
        route(
            &self.accounts,
            &self.registry.snapshot(),
            dialled,
            source.map(|s| s.ip()),
        )
    }
}

/// The decision itself (see the module docs).
pub fn route(
    accounts: &[AccountRoute],
    snap: &Snapshot,
    dialled: &str,
    source: Option<IpAddr>,
) -> Option<Arc<Program>> {
    let programs = || snap.flows.iter().filter_map(|e| e.program.as_ref());
    let by_name = |name: &str| {
        let p = programs().find(|p| p.name == name).cloned();
        if p.is_none() {
            tracing::warn!(flow = %name, "the account's flow is not loaded");
        }
        p
    };
    if let Some(name) = accounts
        .iter()
        .find(|a| a.username == dialled)
        .and_then(|a| a.flow.as_deref())
    {
        if let Some(p) = by_name(name) {
            return Some(p);
        }
    }
    if let Some(p) = programs().find(|p| p.routes.iter().any(|r| r == dialled)) {
        return Some(p.clone());
    }
    if let Some(ip) = source {
        let mut from_pbx = accounts.iter().filter(|a| a.registrar_ip == Some(ip));
        if let (Some(a), None) = (from_pbx.next(), from_pbx.next()) {
            if let Some(p) = a.flow.as_deref().and_then(by_name) {
                return Some(p);
            }
        }
    }
    snap.route(dialled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::load::FlowSet;
    use crate::machine::testkit::Builder;
    use crate::registry::plan_reload;
    use std::path::PathBuf;
    use std::time::SystemTime;

    fn program(name: &str, routes: &[&str], default: bool) -> Program {
        let mut b = Builder::new(&[]);
        b.def(
            "bye",
            crate::flow::program::NodeKind::Hangup(crate::flow::program::Hangup { reason: None }),
        );
        let mut p = Arc::try_unwrap(b.build("bye")).expect("fresh program");
        p.name = name.into();
        p.routes = routes.iter().map(|r| r.to_string()).collect();
        p.default = default;
        p
    }

    fn snapshot() -> Snapshot {
        let flows = vec![
            (
                PathBuf::from("a.yaml"),
                Some(program("sales", &["5000"], false)),
            ),
            (
                PathBuf::from("b.yaml"),
                Some(program("support", &[], false)),
            ),
            (PathBuf::from("c.yaml"), Some(program("main", &[], true))),
        ];
        let set = FlowSet {
            flows,
            diagnostics: vec![],
        };
        plan_reload(&Snapshot::default(), set, &[], SystemTime::now()).0
    }

    fn account(user: &str, flow: &str, ip: &str) -> AccountRoute {
        AccountRoute {
            username: user.into(),
            flow: Some(flow.into()),
            registrar_ip: ip.parse().ok(),
        }
    }

    fn name(p: Option<Arc<Program>>) -> String {
        p.map(|p| p.name.clone()).unwrap_or_default()
    }

    #[test]
    fn an_accounts_flow_beats_a_route_and_a_route_beats_the_default() {
        let snap = snapshot();
        let accounts = [account("5000", "support", "192.0.2.1")];
        assert_eq!(name(route(&accounts, &snap, "5000", None)), "support");
        assert_eq!(name(route(&[], &snap, "5000", None)), "sales");
        assert_eq!(name(route(&[], &snap, "9999", None)), "main");
        assert_eq!(name(route(&[], &snap, "", None)), "main");
    }

    #[test]
    fn a_call_from_the_only_registrar_at_that_address_takes_its_accounts_flow() {
        let snap = snapshot();
        let pbx: IpAddr = "192.0.2.1".parse().unwrap();
        let one = [account("100", "support", "192.0.2.1")];
        assert_eq!(
            name(route(&one, &snap, "+3545551234", Some(pbx))),
            "support"
        );
        // Two accounts at one registrar: ambiguous, so the default flow.
        let two = [
            account("100", "support", "192.0.2.1"),
            account("101", "sales", "192.0.2.1"),
        ];
        assert_eq!(name(route(&two, &snap, "+3545551234", Some(pbx))), "main");
    }

    #[test]
    fn an_account_naming_a_flow_that_is_not_loaded_falls_through() {
        let snap = snapshot();
        let accounts = [account("5000", "gone", "192.0.2.1")];
        assert_eq!(name(route(&accounts, &snap, "5000", None)), "sales");
    }
}
