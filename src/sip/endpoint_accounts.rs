//! Registrations and out-of-dialog OPTIONS in the endpoint: an `impl Endpoint` block beside
//! the router (starting and stopping [`Registration`]s, reading their state, pinging a peer).
//! Their responses and timers are routed by the endpoint like any transaction user's.

use std::net::SocketAddr;
use std::time::Instant;

use rsipstack::sip::Method;

use super::{Endpoint, Owner};
use crate::sip::build;
use crate::sip::event::RegId;
use crate::sip::register::{Registration, RegistrationConfig, RegistrationState};
use crate::sip::transaction::Peer;
use crate::sip::tu::{Purpose, TuOutput};
use crate::sip::Transport;

impl Endpoint {
    /// Starts registering an account.
    pub fn register(&mut self, cfg: RegistrationConfig, now: Instant) -> RegId {
        let id = RegId(self.next_reg);
        self.next_reg += 1;
        self.regs.insert(id, Registration::new(id, cfg));
        if !self.hold_registration(id) {
            self.with_reg(id, now, |r, ctx| r.start(ctx));
        }
        id
    }

    /// Unregisters every account (shutdown). Returns how many REGISTERs with `Expires: 0` went out.
    pub fn unregister_all(&mut self, now: Instant) -> usize {
        let ids: Vec<RegId> = self.regs.keys().copied().collect();
        self.nat.waiting.clear(); // never started: nothing to unregister
        let mut sent = 0;
        for id in ids {
            let mut did = false;
            self.with_reg(id, now, |r, ctx| did = r.unregister(ctx));
            sent += usize::from(did);
        }
        sent
    }

    /// Sends an out-of-dialog OPTIONS to `dest` (trunk health check, NAT keep-alive); the answer
    /// comes as [`Event::OptionsResult`] with the returned id.
    pub fn send_options(
        &mut self,
        dest: SocketAddr,
        transport: Transport,
        request_uri: &str,
        now: Instant,
    ) -> u64 {
        let ping = self.next_ping;
        self.next_ping += 1;
        let branch = self.ids.branch();
        let local = self.cfg.local_addr.to_string();
        let call_id = self.ids.call_id(&self.cfg.local_addr.ip().to_string());
        let from = format!("<sip:phonetree@{local}>;tag={}", self.ids.tag());
        let msg = build::request(
            Method::Options,
            request_uri,
            &local,
            transport,
            &branch,
            &from,
            &format!("<{request_uri}>"),
            &call_id,
            1,
        )
        .header("Accept", build::ACCEPT);
        let out = vec![TuOutput::Request {
            msg,
            branch,
            peer: Peer { dest, transport },
            purpose: Purpose::Options,
        }];
        self.apply(Owner::Ping(ping), out, now);
        ping
    }

    /// A registration's current state.
    pub fn registration_state(&self, reg: RegId) -> Option<&RegistrationState> {
        self.regs.get(&reg).map(Registration::state)
    }
}
