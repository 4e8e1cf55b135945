//! Load limits and the small hardening options of issue 10's second part (docs/security.md,
//! "Limits"): how many calls, how fast one source may send, how long the HTTP API waits for a
//! request's headers, what we call ourselves in SIP, and when received audio is searched for
//! in-band DTMF.
//!
//! | key | environment | default |
//! |---|---|---|
//! | `max_calls` | `PHONETREE_MAX_CALLS` | as many as `rtp.ports` holds (one even port per call) |
//! | `sip.max_calls_per_source` | `PHONETREE_SIP_MAX_CALLS_PER_SOURCE` | `20` (`0`: no limit) |
//! | `sip.rate_invite` | `PHONETREE_SIP_RATE_INVITE` | `5` per second per source (`0`: no limit) |
//! | `sip.rate_register` | `PHONETREE_SIP_RATE_REGISTER` | `5` |
//! | `sip.rate_options` | `PHONETREE_SIP_RATE_OPTIONS` | `10` (and every other out-of-dialog method) |
//! | `sip.user_agent` | `PHONETREE_SIP_USER_AGENT` | `phonetree` (no version; empty: no header) |
//! | `http.header_timeout` | `PHONETREE_HTTP_HEADER_TIMEOUT` | `10s` |
//! | `rtp.inband_dtmf` | `PHONETREE_RTP_INBAND_DTMF` | `auto` (`always`, `off`) |
//! | `sip.tcp_max_connections` | `PHONETREE_SIP_TCP_MAX_CONNECTIONS` | `512` (connections others open to us) |
//! | `sip.tcp_max_per_source` | `PHONETREE_SIP_TCP_MAX_PER_SOURCE` | `16` per IP (`0`: no limit) |
//! | `sip.tcp_header_timeout` | `PHONETREE_SIP_TCP_HEADER_TIMEOUT` | `10s` (a message complete after its first byte) |
//! | `sip.tcp_idle_timeout` | `PHONETREE_SIP_TCP_IDLE_TIMEOUT` | `1h` |
//!
//! The per-source rules apply to sources that are not trusted (`sip.allow` entries,
//! registrars and outbound proxies are trusted; see `policy::limits`).

use std::ops::RangeInclusive;
use std::time::Duration;

use crate::engine::media::InbandDtmf;
use crate::policy::limits::{
    Limits, DEFAULT_CALLS_PER_SOURCE, DEFAULT_RATE_INVITE, DEFAULT_RATE_OPTIONS,
    DEFAULT_RATE_REGISTER,
};
use crate::policy::rate::Rate;
use crate::policy::tcp::TcpLimits;

use super::Builder;

/// The scalar keys of this section: (dotted key, env suffix after `PHONETREE_`).
pub const KEYS: &[(&str, &str)] = &[
    ("max_calls", "MAX_CALLS"),
    ("sip.max_calls_per_source", "SIP_MAX_CALLS_PER_SOURCE"),
    ("sip.rate_invite", "SIP_RATE_INVITE"),
    ("sip.rate_register", "SIP_RATE_REGISTER"),
    ("sip.rate_options", "SIP_RATE_OPTIONS"),
    ("sip.user_agent", "SIP_USER_AGENT"),
    ("http.header_timeout", "HTTP_HEADER_TIMEOUT"),
    ("rtp.inband_dtmf", "RTP_INBAND_DTMF"),
    ("sip.tcp_max_connections", "SIP_TCP_MAX_CONNECTIONS"),
    ("sip.tcp_max_per_source", "SIP_TCP_MAX_PER_SOURCE"),
    ("sip.tcp_header_timeout", "SIP_TCP_HEADER_TIMEOUT"),
    ("sip.tcp_idle_timeout", "SIP_TCP_IDLE_TIMEOUT"),
];

/// Default `http.header_timeout`.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// The settings.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitsConfig {
    /// `max_calls`; `None` = what the RTP port range holds ([`LimitsConfig::policy`]).
    pub max_calls: Option<usize>,
    /// `None` = no limit.
    pub max_calls_per_source: Option<u32>,
    /// Requests per second per untrusted source (0 = no limit).
    pub rate_invite: f64,
    pub rate_register: f64,
    pub rate_options: f64,
    /// The `Server`/`User-Agent` text; `None` = no such header.
    pub user_agent: Option<String>,
    pub http_header_timeout: Duration,
    pub inband_dtmf: InbandDtmf,
    /// `sip.tcp_*`: connection limits and read deadlines for SIP over TCP.
    pub tcp: TcpLimits,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_calls: None,
            max_calls_per_source: Some(DEFAULT_CALLS_PER_SOURCE),
            rate_invite: DEFAULT_RATE_INVITE,
            rate_register: DEFAULT_RATE_REGISTER,
            rate_options: DEFAULT_RATE_OPTIONS,
            user_agent: Some("phonetree".into()),
            http_header_timeout: DEFAULT_HEADER_TIMEOUT,
            inband_dtmf: InbandDtmf::Auto,
            tcp: TcpLimits::default(),
        }
    }
}

impl LimitsConfig {
    /// The endpoint's limits; without `max_calls`, one call per even port of `rtp_ports`
    /// (a call beyond that could not get a port anyway).
    pub fn policy(&self, rtp_ports: &RangeInclusive<u16>) -> Limits {
        let even_ports = (*rtp_ports.start()..=*rtp_ports.end())
            .filter(|p| p % 2 == 0)
            .count();
        Limits {
            max_calls: Some(self.max_calls.unwrap_or(even_ports.max(1))),
            max_calls_per_source: self.max_calls_per_source,
            invite: Rate::per_second(self.rate_invite),
            register: Rate::per_second(self.rate_register),
            options: Rate::per_second(self.rate_options),
        }
    }
}

/// The settings, every bad value reported through `b`.
pub(super) fn build(b: &mut Builder<'_>) -> LimitsConfig {
    let d = LimitsConfig::default();
    let max_calls = b.parse_opt("max_calls", |s| match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("expected a number of calls (1 or more), got `{s}`")),
    });
    let max_calls_per_source = b.parse(
        "sip.max_calls_per_source",
        |s| match s.parse::<u32>() {
            Ok(0) => Ok(None),
            Ok(n) => Ok(Some(n)),
            Err(_) => Err(format!(
                "expected a number of calls (0 for no limit), got `{s}`"
            )),
        },
        d.max_calls_per_source,
    );
    let rate = |s: &str| match s.parse::<f64>() {
        Ok(r) if r.is_finite() && r >= 0.0 => Ok(r),
        _ => Err(format!(
            "expected requests per second (0 for no limit), got `{s}`"
        )),
    };
    let rate_invite = b.parse("sip.rate_invite", rate, d.rate_invite);
    let rate_register = b.parse("sip.rate_register", rate, d.rate_register);
    let rate_options = b.parse("sip.rate_options", rate, d.rate_options);
    let user_agent = b.parse(
        "sip.user_agent",
        |s| {
            if s.chars().any(|c| c.is_control()) || s.len() > 128 {
                return Err("must be one line of at most 128 characters".to_string());
            }
            Ok((!s.is_empty()).then(|| s.to_string()))
        },
        d.user_agent,
    );
    let http_header_timeout = b.duration("http.header_timeout", super::dur, d.http_header_timeout);
    let inband_dtmf = b.parse(
        "rtp.inband_dtmf",
        |s| match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(InbandDtmf::Auto),
            "always" => Ok(InbandDtmf::Always),
            "off" | "never" => Ok(InbandDtmf::Off),
            _ => Err(format!("expected `auto`, `always` or `off`, got `{s}`")),
        },
        d.inband_dtmf,
    );
    let tcp = tcp(b, d.tcp);
    LimitsConfig {
        max_calls,
        max_calls_per_source,
        rate_invite,
        rate_register,
        rate_options,
        user_agent,
        http_header_timeout,
        inband_dtmf,
        tcp,
    }
}

/// `sip.tcp_*`.
fn tcp(b: &mut Builder<'_>, d: TcpLimits) -> TcpLimits {
    let max_connections = b.parse(
        "sip.tcp_max_connections",
        |s| match s.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!(
                "expected a number of connections (1 or more), got `{s}`"
            )),
        },
        d.max_connections,
    );
    let max_per_source = b.parse(
        "sip.tcp_max_per_source",
        |s| match s.parse::<usize>() {
            Ok(0) => Ok(None),
            Ok(n) => Ok(Some(n)),
            Err(_) => Err(format!(
                "expected a number of connections (0 for no limit), got `{s}`"
            )),
        },
        d.max_per_source,
    );
    let header_timeout = b.duration("sip.tcp_header_timeout", super::dur, d.header_timeout);
    let idle_timeout = b.duration("sip.tcp_idle_timeout", super::dur, d.idle_timeout);
    TcpLimits {
        max_connections,
        max_per_source,
        header_timeout,
        idle_timeout,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{load, Sources};
    use super::*;
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    fn yaml(text: &str) -> Sources {
        Sources {
            file: Some((text.to_string(), PathBuf::from("phonetree.yaml"))),
            ..Sources::default()
        }
    }

    #[test]
    fn defaults_bound_everything_and_hide_the_version() {
        let c = load(&Sources::default()).unwrap();
        assert_eq!(c.limits, LimitsConfig::default());
        let p = c.limits.policy(&c.rtp_ports);
        assert_eq!(
            p.max_calls,
            Some(5001),
            "one call per even port of 10000-20000"
        );
        assert_eq!(p.max_calls_per_source, Some(20));
        assert_eq!(p.invite, Rate::per_second(5.0));
        assert_eq!(c.limits.user_agent.as_deref(), Some("phonetree"));
    }

    #[test]
    fn yaml_and_env_set_the_same_values() {
        let c = load(&yaml(
            "max_calls: 300\n\
             sip: { max_calls_per_source: 0, rate_invite: 2.5, rate_register: 0, \
                    rate_options: 50, user_agent: 'Acme IVR', tcp_max_connections: 100, \
                    tcp_max_per_source: 0, tcp_header_timeout: 4s, tcp_idle_timeout: 10m }\n\
             http: { header_timeout: 3s }\nrtp: { inband_dtmf: always }\n",
        ))
        .unwrap();
        let l = &c.limits;
        assert_eq!(l.max_calls, Some(300));
        assert_eq!(l.max_calls_per_source, None);
        assert_eq!(
            (l.rate_invite, l.rate_register, l.rate_options),
            (2.5, 0.0, 50.0)
        );
        assert_eq!(l.user_agent.as_deref(), Some("Acme IVR"));
        assert_eq!(l.http_header_timeout, Duration::from_secs(3));
        assert_eq!(l.inband_dtmf, InbandDtmf::Always);
        assert_eq!(
            l.tcp,
            TcpLimits {
                max_connections: 100,
                max_per_source: None,
                header_timeout: Duration::from_secs(4),
                idle_timeout: Duration::from_secs(600),
            }
        );
        assert!(l.policy(&c.rtp_ports).register.is_unlimited());
        let env: BTreeMap<String, String> = [
            ("PHONETREE_MAX_CALLS", "300"),
            ("PHONETREE_SIP_MAX_CALLS_PER_SOURCE", "0"),
            ("PHONETREE_SIP_RATE_INVITE", "2.5"),
            ("PHONETREE_SIP_RATE_REGISTER", "0"),
            ("PHONETREE_SIP_RATE_OPTIONS", "50"),
            ("PHONETREE_SIP_USER_AGENT", "Acme IVR"),
            ("PHONETREE_HTTP_HEADER_TIMEOUT", "3s"),
            ("PHONETREE_RTP_INBAND_DTMF", "always"),
            ("PHONETREE_SIP_TCP_MAX_CONNECTIONS", "100"),
            ("PHONETREE_SIP_TCP_MAX_PER_SOURCE", "0"),
            ("PHONETREE_SIP_TCP_HEADER_TIMEOUT", "4s"),
            ("PHONETREE_SIP_TCP_IDLE_TIMEOUT", "10m"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let from_env = load(&Sources {
            env,
            ..Sources::default()
        })
        .unwrap();
        assert_eq!(from_env.limits, c.limits);
    }

    #[test]
    fn an_empty_user_agent_sends_no_header() {
        let c = load(&yaml("sip: { user_agent: '' }\n")).unwrap();
        assert_eq!(c.limits.user_agent, None);
    }

    #[test]
    fn bad_values_are_reported_with_their_key() {
        let err = load(&yaml(
            "max_calls: 0\nsip: { max_calls_per_source: -1, rate_invite: fast }\n\
             http: { header_timeout: 10 }\nrtp: { inband_dtmf: sometimes }\n",
        ))
        .unwrap_err();
        let text = err.to_string();
        for key in [
            "max_calls",
            "sip.max_calls_per_source",
            "sip.rate_invite",
            "http.header_timeout",
            "rtp.inband_dtmf",
        ] {
            assert!(text.contains(key), "{key} in {text}");
        }
    }
}
