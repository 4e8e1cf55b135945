//! The registration client: keeps one account registered with a registrar (RFC 3261 §10).
//!
//! Owns: REGISTER with digest auth (401/407 → one authenticated retry per nonce; `stale=true`
//! retries with the new nonce), refresh at a fraction (default 85 %) of the granted expiry,
//! exponential backoff on failure (base 2 s doubling to a max of 60 s by default), recovery
//! after a registrar restart (a refresh that fails or is re-challenged is handled like any
//! other attempt), 423 Interval Too Brief (retry with Min-Expires), and unregistering
//! (`Expires: 0`) on shutdown. The state ([`RegistrationState`]) is surfaced as an event on
//! every change. The password lives in a [`Secret`] and never reaches Debug output or errors.
//!
//! NAT (RFC 3581, RFC 5626 §4.4.1; [`super::nat`]): the `received`/`rport` the registrar
//! writes on the top Via of its answers is our public address; when it differs from the one we
//! advertised, the Contact (and Via) use it from then on and a 2xx is followed at once by a
//! re-registration that also removes the old contact (`;expires=0`). With `keepalive` set, a
//! `KeepAlive` timer sends a double CRLF over TCP or an OPTIONS over UDP to the registrar while
//! registered; an OPTIONS answer is read for a changed address too, and one that never comes
//! triggers a re-registration.
//!
//! Does not own DNS (the runtime resolves the registrar to a `SocketAddr`) or transactions.

use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rsipstack::sip::Method;

use super::build;
use super::digest::{Challenge, Credentials, DigestError, DigestSession, Secret};
use super::event::{Event, RegId};
use super::message::{Inbound, NameAddr};
use super::nat::{Learned, PublicAddress, KEEPALIVE_CRLF};
use super::timer::TimerTable;
use super::transaction::Peer;
use super::tu::{Ctx, Purpose, TuOutput};
use super::Transport;

/// One account to register.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistrationConfig {
    /// The registrar (or outbound proxy) address, resolved by the runtime.
    pub registrar: SocketAddr,
    pub transport: Transport,
    /// The SIP domain, optionally with a port (`pbx.example.com:5070`): Request-URI
    /// `sip:<domain>` (port kept), address of record `sip:<username>@<host>` (port dropped).
    pub domain: String,
    pub username: String,
    /// The digest user name when it differs from `username`.
    pub auth_username: Option<String>,
    pub password: Secret,
    /// Requested binding lifetime.
    pub expires: Duration,
    /// Refresh at this fraction of the granted expiry (0.5-0.95).
    pub refresh_ratio: f64,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Learn our public address from the registrar's `received`/`rport` and re-register with it.
    pub learn_public: bool,
    /// Keep-alive interval while registered (CRLF over TCP, OPTIONS over UDP); zero = off.
    pub keepalive: Duration,
}

impl RegistrationConfig {
    /// Defaults: 3600 s, refresh at 85 %, backoff 2 s → 60 s, UDP, public address learned, no
    /// keep-alives.
    pub fn new(
        registrar: SocketAddr,
        domain: impl Into<String>,
        username: impl Into<String>,
        password: Secret,
    ) -> RegistrationConfig {
        RegistrationConfig {
            registrar,
            transport: Transport::Udp,
            domain: domain.into(),
            username: username.into(),
            auth_username: None,
            password,
            expires: Duration::from_secs(3600),
            refresh_ratio: 0.85,
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(60),
            learn_public: true,
            keepalive: Duration::ZERO,
        }
    }
}

/// The registration state the app (logs, `/api/registrations`) sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationState {
    Unregistered,
    Registering,
    Registered {
        until: Instant,
    },
    Failed {
        retry_at: Instant,
        reason: RegisterFailure,
    },
    Unregistering,
}

/// Why an attempt failed. Never holds credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterFailure {
    /// No final response (Timer F).
    Timeout,
    /// Our credentials were refused (a second challenge for the same nonce, or 403).
    AuthRejected { status: u16 },
    /// The challenge could not be answered.
    BadChallenge(DigestError),
    /// Any other final status.
    Rejected { status: u16, reason: String },
}

impl fmt::Display for RegisterFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegisterFailure::Timeout => f.write_str("no response from registrar"),
            RegisterFailure::AuthRejected { status } => {
                write!(f, "credentials rejected ({status})")
            }
            RegisterFailure::BadChallenge(e) => write!(f, "cannot answer challenge: {e}"),
            RegisterFailure::Rejected { status, reason } => write!(f, "{status} {reason}"),
        }
    }
}

/// The largest expiry we believe (RFC 3261 §20.19: 2³²−1 s), so that no registrar can make
/// `now + expiry` overflow.
const MAX_EXPIRES: u64 = u32::MAX as u64;

/// Registration timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RegTimer {
    Refresh,
    Retry,
    /// Send a keep-alive to the registrar (CRLF or OPTIONS) and re-arm.
    KeepAlive,
}

/// The registration machine for one account.
#[derive(Debug, Clone)]
pub struct Registration {
    id: RegId,
    cfg: RegistrationConfig,
    state: RegistrationState,
    call_id: Option<String>,
    from_tag: String,
    cseq: u32,
    digest: Option<(DigestSession, bool)>,
    /// The nonce our last authenticated attempt used.
    sent_nonce: Option<String>,
    failures: u32,
    requested: Duration,
    timers: TimerTable<RegTimer>,
    /// Set once unregistering began: no more refreshes or retries.
    stopping: bool,
    /// Our public address as the registrar sees it (RFC 3581).
    public: PublicAddress,
    /// The Contact URI of the last REGISTER sent.
    sent_contact: Option<String>,
    /// The Contact URI the registrar last accepted (removed when the address changes).
    registered_contact: Option<String>,
}

impl Registration {
    pub fn new(id: RegId, cfg: RegistrationConfig) -> Registration {
        let requested = cfg.expires;
        Registration {
            id,
            cfg,
            state: RegistrationState::Unregistered,
            call_id: None,
            from_tag: String::new(),
            cseq: 0,
            digest: None,
            sent_nonce: None,
            failures: 0,
            requested,
            timers: TimerTable::default(),
            stopping: false,
            public: PublicAddress::default(),
            sent_contact: None,
            registered_contact: None,
        }
    }

    pub fn id(&self) -> RegId {
        self.id
    }

    pub fn state(&self) -> &RegistrationState {
        &self.state
    }

    pub fn config(&self) -> &RegistrationConfig {
        &self.cfg
    }

    /// Our public address learned from the registrar's answers (`received`/`rport`), if it
    /// differs from the address we advertised.
    pub fn public_addr(&self) -> Option<SocketAddr> {
        self.public.get()
    }

    /// Sends the first REGISTER.
    pub fn start(&mut self, ctx: &mut Ctx<'_>) {
        self.stopping = false;
        self.set_state(RegistrationState::Registering, ctx);
        self.send(self.requested, ctx);
    }

    /// Unregisters (`Expires: 0`); returns false when nothing was registered.
    pub fn unregister(&mut self, ctx: &mut Ctx<'_>) -> bool {
        self.stopping = true;
        self.timers.clear();
        match self.state {
            RegistrationState::Registered { .. } | RegistrationState::Registering => {
                self.set_state(RegistrationState::Unregistering, ctx);
                self.send(Duration::ZERO, ctx);
                true
            }
            _ => {
                self.set_state(RegistrationState::Unregistered, ctx);
                false
            }
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Refreshes or retries when due.
    pub fn handle_timeout(&mut self, ctx: &mut Ctx<'_>) {
        while let Some(t) = self.timers.pop_expired(ctx.now) {
            match t {
                RegTimer::Refresh => self.send(self.requested, ctx),
                RegTimer::Retry => {
                    self.set_state(RegistrationState::Registering, ctx);
                    self.send(self.requested, ctx);
                }
                RegTimer::KeepAlive => self.keepalive(ctx),
            }
        }
    }

    /// A final (or provisional) response to our REGISTER, from the registrar.
    pub fn on_response(&mut self, purpose: Purpose, resp: &Inbound, ctx: &mut Ctx<'_>) {
        self.answer(purpose, resp, true, ctx);
    }

    /// A response that came from `source`: its Via teaches us our public address only when
    /// `source` is the registrar we sent to.
    pub fn on_response_from(
        &mut self,
        source: SocketAddr,
        purpose: Purpose,
        resp: &Inbound,
        ctx: &mut Ctx<'_>,
    ) {
        let trusted = source.ip() == self.cfg.registrar.ip();
        self.answer(purpose, resp, trusted, ctx);
    }

    fn answer(&mut self, purpose: Purpose, resp: &Inbound, trusted: bool, ctx: &mut Ctx<'_>) {
        let Some(r) = resp.response() else { return };
        let status = r.status_code.code();
        if purpose == Purpose::KeepAlive {
            // Any final answer proves the path; its Via may show a new public address.
            if status >= 200 && !self.stopping && trusted && self.learn(resp, ctx) == Some(true) {
                self.send(self.requested, ctx);
            }
            return;
        }
        if status < 200 || (self.stopping && purpose == Purpose::Register) {
            // A late answer to a REGISTER sent before `unregister` must not re-arm refreshes.
            return;
        }
        if purpose == Purpose::Unregister {
            if matches!(status, 401 | 407) && self.answer_challenge(resp, status, ctx).is_ok() {
                return;
            }
            self.set_state(RegistrationState::Unregistered, ctx);
            return;
        }
        let rebind = if trusted { self.learn(resp, ctx) } else { None };
        match status {
            200..=299 => {
                let granted = self.granted(resp);
                self.failures = 0;
                if granted.is_zero() {
                    return self.fail(
                        RegisterFailure::Rejected {
                            status,
                            reason: "registrar granted no binding".into(),
                        },
                        ctx,
                    );
                }
                let until = ctx.now + granted;
                let refresh = granted.mul_f64(self.cfg.refresh_ratio.clamp(0.5, 0.95));
                self.timers.set(RegTimer::Refresh, ctx.now + refresh);
                self.registered_contact = self.sent_contact.clone();
                if !self.cfg.keepalive.is_zero() && !self.timers.is_set(RegTimer::KeepAlive) {
                    self.timers
                        .set(RegTimer::KeepAlive, ctx.now + self.cfg.keepalive);
                }
                self.set_state(RegistrationState::Registered { until }, ctx);
                if rebind == Some(true) {
                    // Registered under the private address: register the public one now (the
                    // old contact is removed in the same request).
                    self.send(self.requested, ctx);
                }
            }
            401 | 407 => {
                if let Err(f) = self.answer_challenge(resp, status, ctx) {
                    self.fail(f, ctx);
                }
            }
            423 => {
                let min = resp
                    .header("Min-Expires")
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(|s| Duration::from_secs(s.min(MAX_EXPIRES)));
                match min {
                    Some(m) if m > self.requested => {
                        self.requested = m;
                        self.send(self.requested, ctx);
                    }
                    _ => self.fail(rejected(resp, status), ctx),
                }
            }
            403 => self.fail(RegisterFailure::AuthRejected { status }, ctx),
            _ => self.fail(rejected(resp, status), ctx),
        }
    }

    /// No response at all (Timer F).
    pub fn on_timeout(&mut self, purpose: Purpose, ctx: &mut Ctx<'_>) {
        if purpose == Purpose::KeepAlive {
            // The registrar stopped answering on this path (binding lost?): refresh now; if
            // that times out too, the usual backoff follows.
            if !self.stopping && matches!(self.state, RegistrationState::Registered { .. }) {
                self.send(self.requested, ctx);
            }
            return;
        }
        if purpose == Purpose::Unregister {
            self.set_state(RegistrationState::Unregistered, ctx);
        } else if !self.stopping {
            self.fail(RegisterFailure::Timeout, ctx);
        }
    }

    /// Backoff before retry number `failures` (1-based): base·2^(n-1), capped.
    pub fn backoff(&self, failures: u32) -> Duration {
        let exp = failures.saturating_sub(1).min(16);
        self.cfg
            .backoff_base
            .checked_mul(1u32 << exp)
            .unwrap_or(self.cfg.backoff_max)
            .min(self.cfg.backoff_max)
    }

    fn answer_challenge(
        &mut self,
        resp: &Inbound,
        status: u16,
        ctx: &mut Ctx<'_>,
    ) -> Result<(), RegisterFailure> {
        let header = if status == 407 {
            "Proxy-Authenticate"
        } else {
            "WWW-Authenticate"
        };
        let challenge = resp
            .header_all(header)
            .into_iter()
            .find_map(|v| Challenge::parse(v).ok())
            .ok_or_else(|| match resp.header(header).map(Challenge::parse) {
                Some(Err(e)) => RegisterFailure::BadChallenge(e),
                _ => RegisterFailure::BadChallenge(DigestError::NotDigest),
            })?;
        if self.sent_nonce.as_deref() == Some(challenge.nonce.as_str()) && !challenge.stale {
            return Err(RegisterFailure::AuthRejected { status });
        }
        self.digest = Some((DigestSession::new(challenge), status == 407));
        let expires = if self.stopping {
            Duration::ZERO
        } else {
            self.requested
        };
        self.send(expires, ctx);
        Ok(())
    }

    fn fail(&mut self, reason: RegisterFailure, ctx: &mut Ctx<'_>) {
        self.failures += 1;
        self.sent_nonce = None;
        let retry_at = ctx.now + self.backoff(self.failures);
        self.timers.stop(RegTimer::Refresh);
        self.timers.stop(RegTimer::KeepAlive);
        self.timers.set(RegTimer::Retry, retry_at);
        self.set_state(RegistrationState::Failed { retry_at, reason }, ctx);
    }

    /// Granted expiry: our Contact's `expires` param, else the Expires header, else requested.
    fn granted(&self, resp: &Inbound) -> Duration {
        let ours = self.sent_contact.clone().unwrap_or_default();
        let from_contact = resp.header_list("Contact").iter().find_map(|c| {
            let na = NameAddr::parse(c, "Contact").ok()?;
            if !na.uri.eq_ignore_ascii_case(&ours) {
                return None;
            }
            na.raw
                .split(';')
                .filter_map(|p| p.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("expires"))
                .and_then(|(_, v)| v.trim().parse::<u64>().ok())
        });
        let header = resp.header("Expires").and_then(|v| v.trim().parse().ok());
        let secs = from_contact.or(header).unwrap_or(self.requested.as_secs());
        Duration::from_secs(secs.min(MAX_EXPIRES))
    }

    fn contact_uri(&self, sent_by: &str) -> String {
        let param = self.cfg.transport.uri_param();
        format!("sip:{}@{sent_by}{param}", self.cfg.username)
    }

    /// The sent-by we advertise: the learned public address, else the endpoint's (its TLS
    /// port for a registration over TLS).
    fn advertised(&self, ctx: &Ctx<'_>) -> String {
        match self.public.get() {
            Some(public) => public.to_string(),
            None => ctx.sent_by_on(self.cfg.transport),
        }
    }

    /// Reads a response's top Via for our public address. `Some(true)`: it changed and a
    /// re-registration should follow; `Some(false)`: changed, but too often in a row.
    fn learn(&mut self, resp: &Inbound, ctx: &Ctx<'_>) -> Option<bool> {
        // Over TCP and TLS the `rport` a registrar stamps is our connection's ephemeral port,
        // no listener: the connection itself is the way back (RFC 5626), so only UDP learns.
        if !self.cfg.learn_public || self.cfg.transport != Transport::Udp {
            return None;
        }
        let advertised = self.public.get().unwrap_or(ctx.local);
        match self.public.observe(resp.core.top_via(), advertised) {
            Learned::Changed(_) => Some(true),
            Learned::ChangedTooOften(_) => Some(false),
            Learned::Same | Learned::Nothing => None,
        }
    }

    /// The keep-alive timer: CRLF over TCP, OPTIONS over UDP, while registered; re-armed.
    fn keepalive(&mut self, ctx: &mut Ctx<'_>) {
        if self.stopping || self.cfg.keepalive.is_zero() {
            return;
        }
        if !matches!(self.state, RegistrationState::Registered { .. }) {
            return; // re-armed by the next 2xx
        }
        self.timers
            .set(RegTimer::KeepAlive, ctx.now + self.cfg.keepalive);
        let peer = Peer {
            dest: self.cfg.registrar,
            transport: self.cfg.transport,
        };
        if self.cfg.transport.is_reliable() {
            ctx.out.push(TuOutput::Raw {
                bytes: KEEPALIVE_CRLF.to_vec(),
                peer,
            });
            return;
        }
        let sent_by = self.advertised(ctx);
        let branch = ctx.ids.branch();
        let call_id = ctx.ids.call_id(&ctx.local.ip().to_string());
        let from = format!(
            "<sip:{}@{}>;tag={}",
            self.cfg.username,
            aor_host(&self.cfg.domain),
            ctx.ids.tag()
        );
        let uri = format!("sip:{}", self.cfg.domain);
        let msg = build::request(
            Method::Options,
            &uri,
            &sent_by,
            self.cfg.transport,
            &branch,
            &from,
            &format!("<{uri}>"),
            &call_id,
            1,
        )
        .header("Accept", build::ACCEPT);
        ctx.out.push(TuOutput::Request {
            msg,
            branch,
            peer,
            purpose: Purpose::KeepAlive,
        });
    }

    fn send(&mut self, expires: Duration, ctx: &mut Ctx<'_>) {
        if self.call_id.is_none() {
            self.call_id = Some(ctx.ids.call_id(&ctx.local.ip().to_string()));
            self.from_tag = ctx.ids.tag();
        }
        self.cseq += 1;
        let branch = ctx.ids.branch();
        let aor = format!("<sip:{}@{}>", self.cfg.username, aor_host(&self.cfg.domain));
        let request_uri = format!("sip:{}", self.cfg.domain);
        let sent_by = self.advertised(ctx);
        let current = self.contact_uri(&sent_by);
        let stale = self
            .registered_contact
            .clone()
            .filter(|old| !old.eq_ignore_ascii_case(&current));
        // Unregistering removes what the registrar holds; a refresh after an address change
        // registers the new contact and removes the old one in the same request.
        let (contact, contact_header) = match stale {
            Some(old) if expires.is_zero() => (old.clone(), format!("<{old}>")),
            Some(old) => (current.clone(), format!("<{current}>, <{old}>;expires=0")),
            None => (current.clone(), format!("<{current}>")),
        };
        self.sent_contact = Some(contact);
        let mut msg = build::request(
            Method::Register,
            &request_uri,
            &sent_by,
            self.cfg.transport,
            &branch,
            &format!("{aor};tag={}", self.from_tag),
            &aor,
            self.call_id.as_deref().unwrap_or_default(),
            self.cseq,
        )
        .header("Contact", contact_header)
        .header("Expires", expires.as_secs().to_string())
        .header("Allow", build::ALLOW);
        if let Some((session, proxy)) = &mut self.digest {
            let creds = Credentials {
                username: self
                    .cfg
                    .auth_username
                    .clone()
                    .unwrap_or_else(|| self.cfg.username.clone()),
                password: self.cfg.password.clone(),
            };
            let value = session.authorize(&creds, "REGISTER", &request_uri, &ctx.ids.cnonce());
            self.sent_nonce = Some(session.challenge.nonce.clone());
            let name = if *proxy {
                "Proxy-Authorization"
            } else {
                "Authorization"
            };
            msg = msg.header(name, value);
        }
        ctx.out.push(TuOutput::Request {
            msg,
            branch,
            peer: Peer {
                dest: self.cfg.registrar,
                transport: self.cfg.transport,
            },
            purpose: if expires.is_zero() {
                Purpose::Unregister
            } else {
                Purpose::Register
            },
        });
    }

    fn set_state(&mut self, state: RegistrationState, ctx: &mut Ctx<'_>) {
        if self.state != state {
            self.state = state.clone();
            ctx.emit(Event::Registration {
                reg: self.id,
                state,
            });
        }
    }
}

/// The address-of-record host: the domain without a port (`pbx.example.com:5070` →
/// `pbx.example.com`, `[2001:db8::1]:5070` → `[2001:db8::1]`); the port stays in the
/// Request-URI only.
fn aor_host(domain: &str) -> &str {
    if let Some(end) = domain.find(']') {
        return &domain[..=end];
    }
    match domain.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => domain,
    }
}

fn rejected(resp: &Inbound, status: u16) -> RegisterFailure {
    RegisterFailure::Rejected {
        status,
        reason: resp
            .response()
            .and_then(|r| r.reason_phrase().map(str::to_string))
            .unwrap_or_else(|| build::reason_phrase(status).to_string()),
    }
}

#[cfg(test)]
#[path = "register_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "register_nat_tests.rs"]
mod nat_tests;
