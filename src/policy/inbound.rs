//! Who may call in: `sip.allow` and `sip.reject`.
//!
//! A SIP port on the internet is scanned within minutes, and every INVITE that gets a call
//! costs an RTP port, a flow run and maybe a transfer. So out-of-dialog INVITEs are admitted by
//! source address:
//! - **registration mode** (accounts configured): only the registrars' and outbound proxies'
//!   resolved addresses, plus whatever `sip.allow` lists;
//! - **direct mode** (no accounts): everyone, unless `sip.allow` is set (the demo works with
//!   nothing configured; the log says so at start);
//! - `sip.allow: any` (or `*`) admits everyone in both modes.
//!
//! Others get 403 Forbidden, or no answer at all with `sip.reject: silent` (a scanner learns
//! nothing). Both are counted. A source admitted because it is listed (or is a registrar) is
//! *trusted*: its SDP address may receive RTP before the caller's first packet (see
//! `engine::media::latch`). In-dialog requests are not filtered here: they must match a dialog's
//! Call-ID and tags.
//!
//! The policy is pure and cheap to ask (a short list of networks). Host names in `sip.allow`
//! and registrars are resolved by the engine (`engine::inbound`), which swaps a new policy in
//! when a late DNS answer arrives ([`SharedInbound`]).

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use ipnet::IpNet;

/// What a refused source gets (`sip.reject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reject {
    /// 403 Forbidden.
    #[default]
    Forbidden,
    /// No answer.
    Silent,
}

impl Reject {
    /// `403` / `forbidden`, `silent` / `drop`.
    pub fn parse(s: &str) -> Option<Reject> {
        match s.trim().to_ascii_lowercase().as_str() {
            "403" | "forbidden" => Some(Reject::Forbidden),
            "silent" | "drop" => Some(Reject::Silent),
            _ => None,
        }
    }
}

/// One `sip.allow` entry as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowEntry {
    /// An IP or a CIDR block.
    Net(IpNet),
    /// A host name, resolved at start.
    Host(String),
    /// `any` / `*`: everyone.
    Any,
}

impl AllowEntry {
    /// `10.0.0.0/8`, `192.0.2.7`, `[2001:db8::1]`, `pbx.example.com`, `any`, `*`.
    pub fn parse(s: &str) -> Result<AllowEntry, String> {
        let s = s.trim();
        if s == "*" || s.eq_ignore_ascii_case("any") {
            return Ok(AllowEntry::Any);
        }
        if let Ok(net) = s.parse::<IpNet>() {
            return Ok(AllowEntry::Net(net.trunc()));
        }
        if let Ok(ip) = s.trim_matches(['[', ']']).parse::<IpAddr>() {
            return Ok(AllowEntry::Net(IpNet::from(ip)));
        }
        let host_ok = !s.is_empty()
            && s.len() <= 253
            && s.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if host_ok && !s.contains('/') {
            Ok(AllowEntry::Host(s.to_ascii_lowercase()))
        } else {
            Err(format!(
                "`{s}` is not an IP, a CIDR block (10.0.0.0/8), a host name or `any`"
            ))
        }
    }
}

impl fmt::Display for AllowEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllowEntry::Net(n) => n.fmt(f),
            AllowEntry::Host(h) => f.write_str(h),
            AllowEntry::Any => f.write_str("any"),
        }
    }
}

/// The answer for one source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// May call; `trusted` when it is listed (or a registrar), not merely let in by an open
    /// policy.
    Allowed {
        trusted: bool,
    },
    Refused(Reject),
}

/// The admission policy for out-of-dialog INVITEs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundPolicy {
    /// Everyone may call.
    open: bool,
    /// Listed (trusted) networks: `sip.allow` (resolved) and the registrars.
    nets: Vec<IpNet>,
    reject: Reject,
}

impl Default for InboundPolicy {
    fn default() -> Self {
        InboundPolicy::open()
    }
}

impl InboundPolicy {
    /// Everyone may call; nobody is trusted.
    pub fn open() -> InboundPolicy {
        InboundPolicy {
            open: true,
            nets: Vec::new(),
            reject: Reject::Forbidden,
        }
    }

    /// Only `nets` may call (and `open` lets everyone else in too, untrusted).
    pub fn new(open: bool, nets: Vec<IpNet>, reject: Reject) -> InboundPolicy {
        let mut nets: Vec<IpNet> = nets.into_iter().map(|n| n.trunc()).collect();
        nets.sort();
        nets.dedup();
        InboundPolicy { open, nets, reject }
    }

    pub fn is_open(&self) -> bool {
        self.open
    }

    /// The listed networks.
    pub fn nets(&self) -> &[IpNet] {
        &self.nets
    }

    pub fn reject(&self) -> Reject {
        self.reject
    }

    /// The same policy with `ip` listed too (a registrar resolved late).
    pub fn with(&self, ip: IpAddr) -> InboundPolicy {
        let mut nets = self.nets.clone();
        nets.push(IpNet::from(ip));
        InboundPolicy::new(self.open, nets, self.reject)
    }

    /// May an INVITE from `ip` start a call?
    pub fn admit(&self, ip: IpAddr) -> Admission {
        let ip = canonical(ip);
        if self.nets.iter().any(|n| n.contains(&ip)) {
            Admission::Allowed { trusted: true }
        } else if self.open {
            Admission::Allowed { trusted: false }
        } else {
            Admission::Refused(self.reject)
        }
    }

    /// Whether `ip` is listed (a registrar or a `sip.allow` entry).
    pub fn trusts(&self, ip: IpAddr) -> bool {
        matches!(self.admit(ip), Admission::Allowed { trusted: true })
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, from a dual-stack socket) as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The policy shared by the SIP endpoint and the call tasks, replaced when a late DNS answer
/// lists a new registrar. Cheap to clone and to read (no lock).
#[derive(Debug, Clone, Default)]
pub struct SharedInbound(Arc<ArcSwap<InboundPolicy>>);

impl SharedInbound {
    pub fn new(p: InboundPolicy) -> SharedInbound {
        SharedInbound(Arc::new(ArcSwap::from_pointee(p)))
    }

    pub fn admit(&self, ip: IpAddr) -> Admission {
        self.0.load().admit(ip)
    }

    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.0.load().trusts(ip)
    }

    pub fn get(&self) -> Arc<InboundPolicy> {
        self.0.load_full()
    }

    /// Lists `ip` too (a registrar or proxy whose name resolved after start).
    pub fn add(&self, ip: IpAddr) {
        self.0.rcu(|p| p.with(ip));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn entries_parse() {
        assert_eq!(
            AllowEntry::parse("10.1.2.3/8").unwrap(),
            AllowEntry::Net("10.0.0.0/8".parse().unwrap())
        );
        assert_eq!(
            AllowEntry::parse("192.0.2.7").unwrap(),
            AllowEntry::Net("192.0.2.7/32".parse().unwrap())
        );
        assert_eq!(
            AllowEntry::parse("[2001:db8::1]").unwrap(),
            AllowEntry::Net("2001:db8::1/128".parse().unwrap())
        );
        assert_eq!(
            AllowEntry::parse("PBX.example.com").unwrap(),
            AllowEntry::Host("pbx.example.com".into())
        );
        assert_eq!(AllowEntry::parse("any").unwrap(), AllowEntry::Any);
        assert_eq!(AllowEntry::parse("*").unwrap(), AllowEntry::Any);
        for bad in ["", "10.0.0.0/33", "pbx example", "a..b", "http://x"] {
            assert!(AllowEntry::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Reject::parse("silent"), Some(Reject::Silent));
        assert_eq!(Reject::parse("403"), Some(Reject::Forbidden));
        assert_eq!(Reject::parse("maybe"), None);
    }

    #[test]
    fn listed_sources_are_trusted_others_refused_or_let_in_when_open() {
        let nets = vec![
            "10.0.0.0/8".parse().unwrap(),
            "192.0.2.7/32".parse().unwrap(),
        ];
        let closed = InboundPolicy::new(false, nets.clone(), Reject::Silent);
        assert_eq!(
            closed.admit(ip("10.20.30.40")),
            Admission::Allowed { trusted: true }
        );
        assert_eq!(
            closed.admit(ip("::ffff:192.0.2.7")),
            Admission::Allowed { trusted: true }
        );
        assert_eq!(
            closed.admit(ip("198.51.100.1")),
            Admission::Refused(Reject::Silent)
        );
        let open = InboundPolicy::new(true, nets, Reject::Forbidden);
        assert_eq!(
            open.admit(ip("198.51.100.1")),
            Admission::Allowed { trusted: false }
        );
        assert!(open.trusts(ip("192.0.2.7")));
        assert!(!InboundPolicy::open().trusts(ip("127.0.0.1")));
    }

    #[test]
    fn a_late_registrar_is_added_without_a_lock() {
        let shared = SharedInbound::new(InboundPolicy::new(false, Vec::new(), Reject::Forbidden));
        assert_eq!(
            shared.admit(ip("203.0.113.5")),
            Admission::Refused(Reject::Forbidden)
        );
        shared.add(ip("203.0.113.5"));
        assert!(shared.trusts(ip("203.0.113.5")));
        assert_eq!(shared.get().nets().len(), 1);
    }
}
