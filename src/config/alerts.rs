//! The `alerts` settings: Alertmanager rules (docs/operations.md, "Alerts").
//!
//! | key | environment | default |
//! |---|---|---|
//! | `alerts.rules` | `PHONETREE_ALERTS_RULES` (the same list as JSON) | none: alerts are received, stored and not routed |
//!
//! The YAML list is kept as JSON text by the layer and parsed here with
//! [`crate::alerts::rules::parse_rules`]; each problem names its rule and field.

use super::Builder;
use crate::alerts::rules::{parse_rules, AlertRule};

pub const KEYS: &[(&str, &str)] = &[("alerts.rules", "ALERTS_RULES")];

/// Whether `key` holds a structured YAML value kept as JSON text.
pub fn is_json(key: &str) -> bool {
    key == "alerts.rules"
}

pub(super) fn build(b: &mut Builder<'_>) -> Vec<AlertRule> {
    let Some(raw) = b.get("alerts.rules").cloned() else {
        return Vec::new();
    };
    let value: serde_json::Value = match serde_json::from_str(raw.text.trim()) {
        Ok(v) => v,
        Err(e) => {
            b.problem(
                &raw,
                "alerts.rules",
                &format!("`alerts.rules`: not a list of rules ({e})"),
            );
            return Vec::new();
        }
    };
    match parse_rules(&value) {
        Ok(rules) => rules,
        Err(errs) => {
            for (path, msg) in errs {
                b.problem(&raw, &path, &format!("`{path}`: {msg}"));
            }
            Vec::new()
        }
    }
}
