//! Builds the `sip.allow` admission policy at start (see [`crate::policy::inbound`]): resolves
//! the host names it needs (entries of `sip.allow`, every account's registrar and outbound
//! proxy) and says in the log who may call.
//!
//! The I/O edge of the policy: DNS here, decisions there. A registrar that does not resolve at
//! start is added later, when the registration retry resolves it (`SharedInbound::add`).

use std::net::IpAddr;

use ipnet::IpNet;

use crate::config::{Config, HostPort};
use crate::policy::inbound::{AllowEntry, InboundPolicy, Reject, SharedInbound};

/// The policy for `cfg`, with every name resolved that resolves now.
pub async fn build(cfg: &Config) -> SharedInbound {
    let registration = !cfg.accounts.is_empty();
    let mut nets: Vec<IpNet> = Vec::new();
    let mut open = !registration && cfg.security.sip_allow.is_none();
    for e in cfg.security.sip_allow.iter().flatten() {
        match e {
            AllowEntry::Net(n) => nets.push(*n),
            AllowEntry::Any => open = true,
            AllowEntry::Host(h) => {
                let found = resolve(h, 5060).await;
                if found.is_empty() {
                    tracing::warn!(host = %h, "sip.allow: host name does not resolve; ignored");
                }
                nets.extend(found.into_iter().map(IpNet::from));
            }
        }
    }
    for a in &cfg.accounts {
        for hp in std::iter::once(&a.registrar).chain(a.outbound_proxy.as_ref()) {
            nets.extend(resolve_hostport(hp).await.into_iter().map(IpNet::from));
        }
    }
    let policy = InboundPolicy::new(open, nets, cfg.security.sip_reject);
    log(&policy, registration, cfg.security.sip_allow.is_some());
    SharedInbound::new(policy)
}

fn log(p: &InboundPolicy, registration: bool, configured: bool) {
    let reject = match p.reject() {
        Reject::Forbidden => "403",
        Reject::Silent => "silent",
    };
    let allowed: Vec<String> = p.nets().iter().map(ToString::to_string).collect();
    if p.is_open() && !registration && !configured {
        tracing::warn!(
            "direct mode: every source address may place calls (set sip.allow to restrict; \
             registering an account restricts calls to its registrar by default)"
        );
    } else if p.is_open() {
        tracing::warn!(trusted = ?allowed, "sip.allow: any: every source address may place calls");
    } else {
        tracing::info!(allowed = ?allowed, reject, "calls are accepted only from these addresses");
    }
}

async fn resolve_hostport(hp: &HostPort) -> Vec<IpAddr> {
    resolve(hp.host.trim_matches(['[', ']']), hp.port.unwrap_or(5060)).await
}

async fn resolve(host: &str, port: u16) -> Vec<IpAddr> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return vec![ip];
    }
    match tokio::net::lookup_host((host, port)).await {
        Ok(addrs) => addrs.map(|a| a.ip()).collect(),
        Err(e) => {
            tracing::warn!(%host, error = %e, "cannot resolve a host name for sip.allow");
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load, Sources};
    use crate::policy::inbound::Admission;

    fn config(yaml: &str) -> Config {
        load(&Sources {
            file: Some((yaml.to_string(), "phonetree.yaml".into())),
            ..Sources::default()
        })
        .unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[tokio::test]
    async fn direct_mode_admits_everyone_but_trusts_no_one() {
        let p = build(&config("flows: flows\n")).await;
        assert_eq!(
            p.admit(ip("198.51.100.1")),
            Admission::Allowed { trusted: false }
        );
    }

    #[tokio::test]
    async fn registration_mode_admits_only_the_registrar_and_proxy() {
        let p = build(&config(
            "accounts:\n  - { registrar: 192.0.2.10, username: '1001', password: x,\n      \
             outbound_proxy: '192.0.2.20:5070' }\nsip: { reject: silent }\n",
        ))
        .await;
        assert!(p.trusts(ip("192.0.2.10")));
        assert!(p.trusts(ip("192.0.2.20")));
        assert_eq!(
            p.admit(ip("198.51.100.1")),
            Admission::Refused(Reject::Silent)
        );
    }

    #[tokio::test]
    async fn sip_allow_adds_to_the_registrar_and_closes_direct_mode() {
        let p = build(&config(
            "accounts:\n  - { registrar: 192.0.2.10, username: '1001', password: x }\n\
             sip: { allow: [10.0.0.0/8, localhost] }\n",
        ))
        .await;
        assert!(p.trusts(ip("192.0.2.10")));
        assert!(p.trusts(ip("10.1.2.3")));
        assert!(p.trusts(ip("127.0.0.1")), "localhost resolves");
        let direct = build(&config("sip: { allow: [10.0.0.0/8] }\n")).await;
        assert_eq!(
            direct.admit(ip("198.51.100.1")),
            Admission::Refused(Reject::Forbidden)
        );
        let any = build(&config(
            "accounts:\n  - { registrar: 192.0.2.10, username: '1001', password: x }\n\
             sip: { allow: any }\n",
        ))
        .await;
        assert_eq!(
            any.admit(ip("198.51.100.1")),
            Admission::Allowed { trusted: false }
        );
    }
}
