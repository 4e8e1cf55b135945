//! The `srtp` setting: `off | optional | required` (docs/security.md, "Encryption").
//!
//! | key        | environment                                   | default |
//! |------------|-----------------------------------------------|---------|
//! | `srtp`     | `PHONETREE_SRTP`                               | `off`   |
//! | `rtp.srtp` | `PHONETREE_RTP_SRTP` (the same, under `rtp:`)  |         |
//!
//! The seed's variables are aliases: `SIP_ENABLE_SRTP=true` is `required`, or `optional` when
//! `SIP_SRTP_OPTIONAL=true` as well; `SIP_ENABLE_SRTP=false` is `off`. `PHONETREE_SRTP` wins over
//! them, `srtp` over `rtp.srtp`. What each policy accepts and offers: [`crate::sdp::crypto`].

use std::collections::BTreeMap;

use crate::sdp::SrtpPolicy;

use super::Builder;

/// Keys of this section: (dotted key, `PHONETREE_` suffix).
pub const KEYS: &[(&str, &str)] = &[("srtp", "SRTP"), ("rtp.srtp", "RTP_SRTP")];

/// `SIP_ENABLE_SRTP` / `SIP_SRTP_OPTIONAL` as a value of `srtp`: (variable, text). A value that
/// is not a boolean is passed on as it is, so the error names the variable.
pub(super) fn env_alias(env: &BTreeMap<String, String>) -> Option<(&'static str, String)> {
    let enable = env.get("SIP_ENABLE_SRTP").map(|v| v.trim())?;
    if enable.is_empty() {
        return None;
    }
    let optional = env
        .get("SIP_SRTP_OPTIONAL")
        .and_then(|v| truthy(v))
        .unwrap_or(false);
    let text = match truthy(enable) {
        Some(true) if optional => "optional",
        Some(true) => "required",
        Some(false) => "off",
        None => enable,
    };
    Some(("SIP_ENABLE_SRTP", text.to_string()))
}

fn truthy(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn parse(s: &str) -> Result<SrtpPolicy, String> {
    SrtpPolicy::parse(s)
        .ok_or_else(|| format!("expected `off`, `optional` or `required`, got `{s}`"))
}

/// The policy in force (`srtp`, else `rtp.srtp`, else off).
pub(super) fn build(b: &mut Builder<'_>) -> SrtpPolicy {
    let nested = b.parse_opt("rtp.srtp", parse);
    b.parse_opt("srtp", parse).or(nested).unwrap_or_default()
}

#[cfg(test)]
mod tests {

    use crate::config::{load, Sources};
    use crate::sdp::SrtpPolicy;

    use crate::config::test_sources::{env, yaml};

    #[test]
    fn default_yaml_env_and_seed_aliases() {
        assert_eq!(load(&Sources::default()).unwrap().srtp, SrtpPolicy::Off);
        assert_eq!(
            load(&yaml("srtp: required\n")).unwrap().srtp,
            SrtpPolicy::Required
        );
        assert_eq!(
            load(&yaml("rtp:\n  srtp: optional\n")).unwrap().srtp,
            SrtpPolicy::Optional
        );
        assert_eq!(
            load(&env(&[("PHONETREE_SRTP", "optional")])).unwrap().srtp,
            SrtpPolicy::Optional
        );
        assert_eq!(
            load(&env(&[("SIP_ENABLE_SRTP", "true")])).unwrap().srtp,
            SrtpPolicy::Required
        );
        assert_eq!(
            load(&env(&[
                ("SIP_ENABLE_SRTP", "true"),
                ("SIP_SRTP_OPTIONAL", "true")
            ]))
            .unwrap()
            .srtp,
            SrtpPolicy::Optional
        );
        assert_eq!(
            load(&env(&[
                ("SIP_ENABLE_SRTP", "false"),
                ("SIP_SRTP_OPTIONAL", "true")
            ]))
            .unwrap()
            .srtp,
            SrtpPolicy::Off
        );
        // PHONETREE_SRTP wins over the seed's names.
        assert_eq!(
            load(&env(&[
                ("SIP_ENABLE_SRTP", "true"),
                ("PHONETREE_SRTP", "off")
            ]))
            .unwrap()
            .srtp,
            SrtpPolicy::Off
        );
    }

    #[test]
    fn a_bad_value_names_where_it_came_from() {
        let e = load(&yaml("srtp: sometimes\n")).unwrap_err().to_string();
        assert!(
            e.contains("expected `off`, `optional` or `required`"),
            "{e}"
        );
        let e = load(&env(&[("SIP_ENABLE_SRTP", "maybe")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("SIP_ENABLE_SRTP"), "{e}");
    }
}
