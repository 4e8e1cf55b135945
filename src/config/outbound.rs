//! The `outbound` settings: limits, defaults and the allow-list of outbound calls
//! (docs/operations.md, "Outbound calls").
//!
//! | key | environment | default |
//! |---|---|---|
//! | `outbound.allow` | `PHONETREE_OUTBOUND_ALLOW` (comma-separated) | none: every target is refused |
//! | `outbound.max_concurrent` | `PHONETREE_OUTBOUND_MAX_CONCURRENT` | `10` calls at once (whole cluster) |
//! | `outbound.rate` | `PHONETREE_OUTBOUND_RATE` | `5` calls started per second (whole cluster) |
//! | `outbound.max_attempts` | `PHONETREE_OUTBOUND_MAX_ATTEMPTS`, `SIP_INVITE_MAX_ATTEMPTS` | `5` per contact |
//! | `outbound.backoff_base` | `PHONETREE_OUTBOUND_BACKOFF_BASE`, `SIP_INVITE_RETRY_BASE` | `1s` |
//! | `outbound.backoff_max` | `PHONETREE_OUTBOUND_BACKOFF_MAX`, `SIP_INVITE_RETRY_MAX` | `30s` |
//! | `outbound.ring_timeout` | `PHONETREE_OUTBOUND_RING_TIMEOUT` | `30s` |
//! | `outbound.tz` | `PHONETREE_OUTBOUND_TZ` | the system's zone (for a local `at` without `tz`) |
//! | `outbound.lease` | `PHONETREE_OUTBOUND_LEASE` | `30s`: a job claimed by a node that died is retried after this |
//! | `outbound.schedule_catchup` | `PHONETREE_OUTBOUND_SCHEDULE_CATCHUP` | `1h`: a schedule's run missed while down fires if no older than this |
//!
//! Durations are `30s`/`500ms`/`2m` or a number of seconds (the seed wrote `1`). The per-job
//! `retry` and `ring_timeout` of `POST /api/calls` override the defaults.

use std::time::Duration;

use jiff::tz::TimeZone;

use super::Builder;
use crate::outbound::request::{Defaults, RetryPolicy, MAX_ATTEMPTS};
use crate::policy::outbound::OutboundPolicy;

/// `(key, PHONETREE_ env suffix)` of every setting in this file.
pub const KEYS: &[(&str, &str)] = &[
    ("outbound.allow", "OUTBOUND_ALLOW"),
    ("outbound.max_concurrent", "OUTBOUND_MAX_CONCURRENT"),
    ("outbound.rate", "OUTBOUND_RATE"),
    ("outbound.max_attempts", "OUTBOUND_MAX_ATTEMPTS"),
    ("outbound.backoff_base", "OUTBOUND_BACKOFF_BASE"),
    ("outbound.backoff_max", "OUTBOUND_BACKOFF_MAX"),
    ("outbound.ring_timeout", "OUTBOUND_RING_TIMEOUT"),
    ("outbound.tz", "OUTBOUND_TZ"),
    ("outbound.lease", "OUTBOUND_LEASE"),
    ("outbound.schedule_catchup", "OUTBOUND_SCHEDULE_CATCHUP"),
];

/// The seed's names, accepted as aliases (the `PHONETREE_` names win).
pub const ALIASES: &[(&str, &str)] = &[
    ("SIP_INVITE_MAX_ATTEMPTS", "outbound.max_attempts"),
    ("SIP_INVITE_RETRY_BASE", "outbound.backoff_base"),
    ("SIP_INVITE_RETRY_MAX", "outbound.backoff_max"),
];

/// `30s`, `500ms`, `2m`, or a number of seconds (as the seed's variables were written).
pub(super) fn secs_or_dur(s: &str) -> Result<Duration, String> {
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    crate::flow::duration::parse_duration(s)
        .map_err(|e| format!("`{s}` is not a duration ({e}; write 30s, 500ms or 2m)"))
}

/// Whether `key` takes a YAML list.
pub fn is_list(key: &str) -> bool {
    key == "outbound.allow"
}

/// The outbound settings.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboundConfig {
    pub allow: OutboundPolicy,
    pub max_concurrent: usize,
    pub rate: f64,
    pub lease: Duration,
    /// How old a schedule's missed run may be and still fire (`outbound::schedule`).
    pub schedule_catchup: Duration,
    /// Defaults of `POST /api/calls`.
    pub defaults: Defaults,
}

impl Default for OutboundConfig {
    fn default() -> OutboundConfig {
        OutboundConfig {
            allow: OutboundPolicy::default(),
            max_concurrent: 10,
            rate: 5.0,
            lease: Duration::from_secs(30),
            schedule_catchup: Duration::from_secs(3600),
            defaults: Defaults::default(),
        }
    }
}

/// The settings, every bad value reported through `b`.
pub(super) fn build(b: &mut Builder<'_>) -> OutboundConfig {
    let d = OutboundConfig::default();
    let allow = b
        .parse_opt("outbound.allow", |s| {
            let patterns: Vec<&str> = s
                .split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .collect();
            OutboundPolicy::new(&patterns).map_err(|e| e.to_string())
        })
        .unwrap_or_default();
    let max_concurrent = b.parse(
        "outbound.max_concurrent",
        |s| match s.parse::<usize>() {
            Ok(n @ 1..=10_000) => Ok(n),
            _ => Err(format!("expected 1 to 10000 calls, got `{s}`")),
        },
        d.max_concurrent,
    );
    let rate = b.parse(
        "outbound.rate",
        |s| match s.parse::<f64>() {
            Ok(r) if r > 0.0 && r <= 10_000.0 => Ok(r),
            _ => Err(format!(
                "expected calls per second (0.01 to 10000), got `{s}`"
            )),
        },
        d.rate,
    );
    let max_attempts = b.parse(
        "outbound.max_attempts",
        |s| match s.parse::<u32>() {
            Ok(n) if (1..=MAX_ATTEMPTS).contains(&n) => Ok(n),
            _ => Err(format!("expected 1 to {MAX_ATTEMPTS}, got `{s}`")),
        },
        d.defaults.retry.max_attempts,
    );
    let base = b.parse(
        "outbound.backoff_base",
        secs_or_dur,
        Duration::from_millis(d.defaults.retry.backoff_base_ms),
    );
    let max = b.parse(
        "outbound.backoff_max",
        secs_or_dur,
        Duration::from_millis(d.defaults.retry.backoff_max_ms),
    );
    let ring_timeout = b.parse(
        "outbound.ring_timeout",
        |s| {
            let t = secs_or_dur(s)?;
            if (Duration::from_secs(5)..=Duration::from_secs(600)).contains(&t) {
                Ok(t)
            } else {
                Err(format!("`{s}`: between 5s and 10m"))
            }
        },
        d.defaults.ring_timeout,
    );
    let tz = b.parse(
        "outbound.tz",
        |s| {
            TimeZone::get(s).map_err(|_| {
                format!("unknown time zone `{s}` (an IANA name such as Europe/Berlin)")
            })
        },
        TimeZone::system(),
    );
    let lease = b.parse(
        "outbound.lease",
        |s| {
            let t = secs_or_dur(s)?;
            if t >= Duration::from_secs(1) {
                Ok(t)
            } else {
                Err(format!("`{s}`: at least 1s"))
            }
        },
        d.lease,
    );
    let schedule_catchup = b.parse(
        "outbound.schedule_catchup",
        |s| {
            let t = secs_or_dur(s)?;
            if t <= Duration::from_secs(7 * 24 * 3600) {
                Ok(t)
            } else {
                Err(format!("`{s}`: at most 7 days"))
            }
        },
        d.schedule_catchup,
    );
    OutboundConfig {
        allow,
        max_concurrent,
        rate,
        lease,
        schedule_catchup,
        defaults: Defaults {
            retry: RetryPolicy {
                max_attempts,
                backoff_base_ms: base.as_millis() as u64,
                backoff_max_ms: max.max(base).as_millis() as u64,
            },
            ring_timeout,
            tz,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::super::{load, Sources};
    use std::collections::BTreeMap;
    use std::path::PathBuf;
    use std::time::Duration;

    fn yaml(text: &str) -> Sources {
        Sources {
            file: Some((text.to_string(), PathBuf::from("phonetree.yaml"))),
            ..Sources::default()
        }
    }

    fn env(pairs: &[(&str, &str)]) -> Sources {
        Sources {
            env: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            ..Sources::default()
        }
    }

    #[test]
    fn defaults_refuse_every_target_and_take_the_seed_retry_policy() {
        let c = load(&Sources::default()).expect("config");
        assert!(c.outbound.allow.check("+4930123").is_err());
        assert_eq!(c.outbound.defaults.retry.max_attempts, 5);
        assert_eq!(c.outbound.defaults.retry.backoff_base_ms, 1000);
        assert_eq!(c.outbound.defaults.retry.backoff_max_ms, 30_000);
        assert_eq!(c.outbound.max_concurrent, 10);
        assert!(c.sms.is_none());
        assert!(c.alert_rules.is_empty());
    }

    #[test]
    fn yaml_sections_for_outbound_sms_and_alerts() {
        let c = load(&yaml(
            "outbound: { allow: ['+49*', 'sip:*@pbx.example.com'], max_concurrent: 3, rate: 2.5,\n\
             \x20 max_attempts: 2, backoff_base: 5s, backoff_max: 1m, ring_timeout: 45s, tz: Europe/Berlin,\n\
             \x20 schedule_catchup: 10m }\n\
             sms: { provider: twilio, account_sid: AC1, auth_token: tok, from: '+15005550006' }\n\
             alerts:\n  rules:\n    - { match: { severity: critical }, to: ['+4930111'], strategy: sms_then_call }\n",
        ))
        .expect("config");
        let o = &c.outbound;
        assert_eq!(o.allow.patterns(), ["+49*", "sip:*@pbx.example.com"]);
        assert_eq!((o.max_concurrent, o.rate), (3, 2.5));
        assert_eq!(o.defaults.retry.max_attempts, 2);
        assert_eq!(o.defaults.retry.backoff_base_ms, 5000);
        assert_eq!(o.defaults.retry.backoff_max_ms, 60_000);
        assert_eq!(o.defaults.ring_timeout, Duration::from_secs(45));
        assert_eq!(o.schedule_catchup, Duration::from_secs(600));
        assert!(c.sms.is_some());
        assert_eq!(c.alert_rules.len(), 1);
        assert_eq!(c.alert_rules[0].to, ["+4930111"]);
    }

    #[test]
    fn seed_and_twilio_names_are_aliases() {
        let c = load(&env(&[
            ("SIP_INVITE_MAX_ATTEMPTS", "3"),
            ("SIP_INVITE_RETRY_BASE", "2"),
            ("SIP_INVITE_RETRY_MAX", "20s"),
            ("PHONETREE_OUTBOUND_ALLOW", "+49*, 1???"),
            ("PHONETREE_SMS_PROVIDER", "twilio"),
            ("TWILIO_ACCOUNT_SID", "AC1"),
            ("TWILIO_AUTH_TOKEN", "tok"),
            ("TWILIO_FROM_NUMBER", "+15005550006"),
            (
                "PHONETREE_ALERTS_RULES",
                r#"[{"to": ["1001"], "strategy": "call"}]"#,
            ),
        ]))
        .expect("config");
        let r = c.outbound.defaults.retry;
        assert_eq!(
            (r.max_attempts, r.backoff_base_ms, r.backoff_max_ms),
            (3, 2000, 20_000)
        );
        assert!(c.outbound.allow.check("1001").is_ok());
        assert!(c.sms.is_some());
        assert_eq!(c.alert_rules.len(), 1);
    }

    #[test]
    fn bad_values_name_their_key_and_never_a_secret() {
        let err = load(&yaml(
            "outbound: { max_concurrent: 0, rate: fast, tz: Mars/Base, ring_timeout: 1s }\n\
             sms: { provider: twilio, auth_token: very-secret-token }\n\
             alerts: { rules: [ { to: [], strategy: pager } ] }\n",
        ))
        .expect_err("invalid");
        let text = err.to_string();
        for key in [
            "outbound.max_concurrent",
            "outbound.rate",
            "outbound.tz",
            "outbound.ring_timeout",
            "sms.provider",
            "alerts.rules.0.to",
            "alerts.rules.0.strategy",
        ] {
            assert!(text.contains(key), "{key} in {text}");
        }
        assert!(!text.contains("very-secret-token"));
        let err = load(&yaml("outbound: { retries: 3 }\n")).expect_err("unknown");
        assert!(err.to_string().contains("outbound.retries"), "{err}");
    }
}
