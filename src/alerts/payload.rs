//! Prometheus Alertmanager's webhook body (payload version 4) and the keys that make receiving
//! it idempotent.
//!
//! Alertmanager delivers at least once: it retries on 5xx and timeouts, resends still-firing
//! groups every `repeat_interval`, and an HA pair may both send. So:
//! - a **notification key** (SHA-256 of `groupKey`, `status` and every alert's fingerprint and
//!   `startsAt`, sorted) recognises an exact resend, which is acknowledged and ignored;
//! - an **episode key** (`fingerprint` + `startsAt`: a new firing of the same label set has a
//!   new `startsAt`) is what calls and messages are keyed on, so a group whose membership
//!   changed still creates each alert's jobs once.
//!
//! Unknown fields are accepted (Alertmanager adds some in new versions); bodies are bounded by
//! the HTTP layer and the alert count here.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Most alerts taken from one notification (Alertmanager's `max_alerts` is usually far less).
pub const MAX_ALERTS: usize = 1000;

/// `firing` or `resolved`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Firing,
    Resolved,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Firing => "firing",
            Status::Resolved => "resolved",
        }
    }
}

/// One webhook notification.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub version: String,
    pub group_key: String,
    #[serde(default)]
    pub truncated_alerts: u64,
    pub status: Status,
    #[serde(default)]
    pub receiver: String,
    #[serde(default)]
    pub group_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub common_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub common_annotations: BTreeMap<String, String>,
    #[serde(default, rename = "externalURL")]
    pub external_url: String,
    pub alerts: Vec<Alert>,
}

/// One alert of a notification.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    pub status: Status,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub starts_at: String,
    #[serde(default)]
    pub ends_at: String,
    #[serde(default, rename = "generatorURL")]
    pub generator_url: String,
    pub fingerprint: String,
}

/// Why a body is not a usable notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadError {
    Json(String),
    Version(String),
    TooManyAlerts(usize),
}

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PayloadError::Json(e) => write!(f, "not an Alertmanager webhook body: {e}"),
            PayloadError::Version(v) => {
                write!(
                    f,
                    "webhook payload version {v:?} is not supported (expected \"4\")"
                )
            }
            PayloadError::TooManyAlerts(n) => {
                write!(f, "{n} alerts in one notification (at most {MAX_ALERTS})")
            }
        }
    }
}

impl std::error::Error for PayloadError {}

impl Notification {
    /// Parses a webhook body.
    pub fn parse(body: &[u8]) -> Result<Notification, PayloadError> {
        let n: Notification =
            serde_json::from_slice(body).map_err(|e| PayloadError::Json(e.to_string()))?;
        if n.version != "4" {
            return Err(PayloadError::Version(n.version.chars().take(16).collect()));
        }
        if n.alerts.len() > MAX_ALERTS {
            return Err(PayloadError::TooManyAlerts(n.alerts.len()));
        }
        Ok(n)
    }

    /// The key of this exact notification: a resend has the same one.
    pub fn dedupe_key(&self) -> String {
        let mut alerts: Vec<String> = self
            .alerts
            .iter()
            .map(|a| format!("{}|{}|{}", a.fingerprint, a.starts_at, a.status.as_str()))
            .collect();
        alerts.sort();
        let mut h = Sha256::new();
        h.update(self.group_key.as_bytes());
        h.update([0]);
        h.update(self.status.as_str().as_bytes());
        for a in alerts {
            h.update([0]);
            h.update(a.as_bytes());
        }
        hex(&h.finalize())
    }
}

impl Alert {
    /// The alert episode: the same label set firing again later is a new episode.
    pub fn episode_key(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.fingerprint.as_bytes());
        h.update([0]);
        h.update(self.starts_at.as_bytes());
        format!("am-{}", &hex(&h.finalize())[..32])
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real v4 body as Alertmanager 0.27 sends it (captured shape; one firing alert).
    pub(crate) const FIRING: &str = include_str!("testdata/alertmanager_firing.json");

    #[test]
    fn parses_a_real_body_and_ignores_unknown_fields() {
        let n = Notification::parse(FIRING.as_bytes()).expect("parses");
        assert_eq!(n.status, Status::Firing);
        assert_eq!(n.alerts.len(), 2);
        assert_eq!(n.alerts[0].labels["severity"], "critical");
        assert_eq!(n.alerts[0].fingerprint, "c2a7f3b1d4e5f601");
        assert!(n.alerts[0].annotations["summary"].contains("db1"));
        assert_eq!(n.external_url, "http://alertmanager:9093");
    }

    #[test]
    fn resend_has_the_same_key_membership_change_a_new_one() {
        let a = Notification::parse(FIRING.as_bytes()).expect("parses");
        let mut b = a.clone();
        b.alerts.reverse();
        b.receiver = "other".into();
        assert_eq!(
            a.dedupe_key(),
            b.dedupe_key(),
            "order and receiver do not matter"
        );
        b.alerts.pop();
        assert_ne!(a.dedupe_key(), b.dedupe_key());
        let mut c = a.clone();
        c.status = Status::Resolved;
        c.alerts[0].status = Status::Resolved;
        assert_ne!(a.dedupe_key(), c.dedupe_key());
    }

    #[test]
    fn episodes_differ_by_starts_at() {
        let n = Notification::parse(FIRING.as_bytes()).expect("parses");
        let mut again = n.alerts[0].clone();
        assert_eq!(again.episode_key(), n.alerts[0].episode_key());
        again.starts_at = "2026-11-30T09:00:00Z".into();
        assert_ne!(again.episode_key(), n.alerts[0].episode_key());
        assert!(again.episode_key().starts_with("am-"));
    }

    #[test]
    fn wrong_version_garbage_and_floods_are_refused() {
        let v3 = FIRING.replace("\"version\": \"4\"", "\"version\": \"3\"");
        assert!(matches!(
            Notification::parse(v3.as_bytes()),
            Err(PayloadError::Version(_))
        ));
        assert!(matches!(
            Notification::parse(b"{"),
            Err(PayloadError::Json(_))
        ));
        assert!(matches!(
            Notification::parse(b"[]"),
            Err(PayloadError::Json(_))
        ));
        let one = serde_json::json!({"status": "firing", "startsAt": "x", "fingerprint": "f"});
        let flood = serde_json::json!({
            "version": "4", "groupKey": "g", "status": "firing",
            "alerts": vec![one; MAX_ALERTS + 1]
        });
        let body = serde_json::to_vec(&flood).expect("json");
        assert!(matches!(
            Notification::parse(&body),
            Err(PayloadError::TooManyAlerts(_))
        ));
    }
}
