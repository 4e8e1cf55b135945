//! The hardening settings (docs/security.md): who may call (`sip.allow`, `sip.reject`), where
//! media may come from (`rtp.latching`) and where calls may be transferred (`transfer.allow`).
//!
//! | key              | environment                  | default                                   |
//! |------------------|------------------------------|-------------------------------------------|
//! | `sip.allow`      | `PHONETREE_SIP_ALLOW`        | registrars/proxies with accounts, else all |
//! | `sip.reject`     | `PHONETREE_SIP_REJECT`       | `403` (`silent`: no answer)               |
//! | `rtp.latching`   | `PHONETREE_RTP_LATCHING`     | `signalling_ip` (`strict`, `any`)          |
//! | `transfer.allow` | `PHONETREE_TRANSFER_ALLOW`   | none: literal flow targets only           |
//!
//! Lists are YAML lists or comma-separated text (a `;` belongs to a SIP URI, so it does not
//! separate). Parsed once into the typed values the policies use; every bad entry is a
//! [`Problem`](super::Problem) at its origin, like every other setting.

use std::path::Path;

use crate::engine::media::Latching;
use crate::policy::inbound::{AllowEntry, Reject};
use crate::policy::transfer::TransferPolicy;

use super::Builder;

/// The hardening settings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Security {
    /// `sip.allow` as configured (`None`: the mode's default).
    pub sip_allow: Option<Vec<AllowEntry>>,
    pub sip_reject: Reject,
    pub rtp_latching: Latching,
    pub transfer: TransferPolicy,
}

/// Keys whose YAML value may be a list (joined with commas in the layer).
pub(super) fn is_list(key: &str) -> bool {
    key == "sip.allow" || key == "transfer.allow"
}

/// The settings, every bad value reported through `b`.
pub(super) fn build(b: &mut Builder<'_>) -> Security {
    let sip_allow = b.parse_opt("sip.allow", |s| {
        split(s)
            .map(AllowEntry::parse)
            .collect::<Result<Vec<_>, _>>()
    });
    let sip_reject = b.parse("sip.reject", parse_reject, Reject::Forbidden);
    let rtp_latching = b.parse("rtp.latching", parse_latching, Latching::default());
    let transfer = b
        .parse_opt("transfer.allow", |s| {
            let patterns: Vec<&str> = split(s).collect();
            TransferPolicy::new(&patterns).map_err(|e| e.to_string())
        })
        .unwrap_or_default();
    Security {
        sip_allow,
        sip_reject,
        rtp_latching,
        transfer,
    }
}

/// Whether `transfer.allow` is set in the environment or in one of these `phonetree.yaml`
/// files (for `validate`, which drops the `flow.transfer_template` warning then).
pub fn transfer_allow_configured(configs: &[impl AsRef<Path>]) -> bool {
    if std::env::var_os("PHONETREE_TRANSFER_ALLOW").is_some() {
        return true;
    }
    configs.iter().any(|p| {
        let path = p.as_ref();
        std::fs::read_to_string(path).is_ok_and(|text| {
            super::layer::yaml_layer(&text, path)
                .0
                .contains_key("transfer.allow")
        })
    })
}

fn split(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim).filter(|x| !x.is_empty())
}

fn parse_reject(s: &str) -> Result<Reject, String> {
    Reject::parse(s).ok_or_else(|| format!("expected `403` or `silent`, got `{s}`"))
}

fn parse_latching(s: &str) -> Result<Latching, String> {
    Latching::parse(s)
        .ok_or_else(|| format!("expected `strict`, `signalling_ip` or `any`, got `{s}`"))
}

#[cfg(test)]
mod tests {
    use super::super::{load, Sources};
    use super::*;
    use crate::policy::transfer::TargetOrigin;
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    fn yaml(text: &str) -> Sources {
        Sources {
            file: Some((text.to_string(), PathBuf::from("phonetree.yaml"))),
            ..Sources::default()
        }
    }

    #[test]
    fn defaults_are_the_safe_ones() {
        let c = load(&Sources::default()).unwrap();
        assert_eq!(c.security.sip_allow, None);
        assert_eq!(c.security.sip_reject, Reject::Forbidden);
        assert_eq!(c.security.rtp_latching, Latching::SignallingIp);
        assert!(!c.security.transfer.is_configured());
    }

    #[test]
    fn yaml_lists_and_env_text_set_the_same_values() {
        let c = load(&yaml(
            "sip: { allow: [10.0.0.0/8, pbx.example.com], reject: silent }\n\
             rtp: { latching: strict }\n\
             transfer: { allow: ['sip:1???@pbx.example.com;user=phone', 'tel:+1555*'] }\n",
        ))
        .unwrap();
        let s = &c.security;
        assert_eq!(
            s.sip_allow,
            Some(vec![
                AllowEntry::Net("10.0.0.0/8".parse().unwrap()),
                AllowEntry::Host("pbx.example.com".into())
            ])
        );
        assert_eq!(s.sip_reject, Reject::Silent);
        assert_eq!(s.rtp_latching, Latching::Strict);
        assert_eq!(
            s.transfer
                .check("sip:1234@pbx.example.com;user=phone", TargetOrigin::Dynamic),
            Ok(())
        );
        let env: BTreeMap<String, String> = [
            ("PHONETREE_SIP_ALLOW", "10.0.0.0/8, pbx.example.com"),
            ("PHONETREE_SIP_REJECT", "silent"),
            ("PHONETREE_RTP_LATCHING", "strict"),
            (
                "PHONETREE_TRANSFER_ALLOW",
                "sip:1???@pbx.example.com;user=phone,tel:+1555*",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let from_env = load(&Sources {
            env,
            ..Sources::default()
        })
        .unwrap();
        assert_eq!(from_env.security, c.security);
    }

    #[test]
    fn bad_values_are_reported_with_their_key() {
        let err = load(&yaml(
            "sip: { allow: [10.0.0.0/33], reject: maybe }\nrtp: { latching: first }\n\
             transfer: { allow: ['sip:*', ''] }\n",
        ))
        .unwrap_err();
        let text = err.to_string();
        for key in ["sip.allow", "sip.reject", "rtp.latching"] {
            assert!(text.contains(key), "{key} in {text}");
        }
    }
}
