//! The `sms` settings: where text messages go (docs/operations.md, "SMS").
//!
//! | key | environment | default |
//! |---|---|---|
//! | `sms.provider` | `PHONETREE_SMS_PROVIDER` | none (SMS jobs fail `refused`); `twilio` or `webhook` |
//! | `sms.from` | `PHONETREE_SMS_FROM`, `TWILIO_FROM_NUMBER` | the sender (E.164 or an alphanumeric id) |
//! | `sms.account_sid` | `PHONETREE_SMS_ACCOUNT_SID`, `TWILIO_ACCOUNT_SID` | Twilio |
//! | `sms.auth_token` | `PHONETREE_SMS_AUTH_TOKEN`, `TWILIO_AUTH_TOKEN` | Twilio (a secret) |
//! | `sms.base_url` | `PHONETREE_SMS_BASE_URL` | `https://api.twilio.com` |
//! | `sms.webhook_url` | `PHONETREE_SMS_WEBHOOK_URL` | webhook: `POST {to, from, text}` as JSON |
//! | `sms.webhook_token` | `PHONETREE_SMS_WEBHOOK_TOKEN` | webhook: sent as `Authorization: Bearer` (a secret) |
//! | `sms.timeout` | `PHONETREE_SMS_TIMEOUT` | `10s` |

use std::time::Duration;

use super::Builder;
use crate::sip::digest::Secret;
use crate::sms::{SmsConfig, SmsProvider};

pub const KEYS: &[(&str, &str)] = &[
    ("sms.provider", "SMS_PROVIDER"),
    ("sms.from", "SMS_FROM"),
    ("sms.account_sid", "SMS_ACCOUNT_SID"),
    ("sms.auth_token", "SMS_AUTH_TOKEN"),
    ("sms.base_url", "SMS_BASE_URL"),
    ("sms.webhook_url", "SMS_WEBHOOK_URL"),
    ("sms.webhook_token", "SMS_WEBHOOK_TOKEN"),
    ("sms.timeout", "SMS_TIMEOUT"),
];

/// Twilio's own variable names, accepted as aliases.
pub const ALIASES: &[(&str, &str)] = &[
    ("TWILIO_ACCOUNT_SID", "sms.account_sid"),
    ("TWILIO_AUTH_TOKEN", "sms.auth_token"),
    ("TWILIO_FROM_NUMBER", "sms.from"),
];

/// Keys whose values are secrets.
pub fn is_secret(key: &str) -> bool {
    key == "sms.auth_token" || key == "sms.webhook_token"
}

/// The SMS settings (`None`: no provider configured).
pub(super) fn build(b: &mut Builder<'_>) -> Option<SmsConfig> {
    let raw = b.get("sms.provider")?.clone();
    let provider = b.parse_opt("sms.provider", |s| match s {
        "twilio" | "webhook" => Ok(s.to_string()),
        _ => Err(format!("expected `twilio` or `webhook`, got `{s}`")),
    })?;
    let text = |b: &mut Builder<'_>, k: &str| b.parse_opt(k, |s| Ok::<_, String>(s.to_string()));
    let secret = |b: &mut Builder<'_>, k: &str| b.get(k).map(|r| Secret::new(r.text.trim()));
    let from = text(b, "sms.from").unwrap_or_default();
    let timeout = b.parse(
        "sms.timeout",
        super::outbound::secs_or_dur,
        Duration::from_secs(10),
    );
    let provider = if provider == "twilio" {
        let sid = text(b, "sms.account_sid");
        let token = secret(b, "sms.auth_token");
        let base_url = text(b, "sms.base_url").unwrap_or_else(|| "https://api.twilio.com".into());
        match (sid, token) {
            (Some(account_sid), Some(auth_token)) if !from.is_empty() => SmsProvider::Twilio {
                account_sid,
                auth_token,
                base_url,
            },
            _ => {
                b.problem(
                    &raw,
                    "sms.provider",
                    "`sms.provider: twilio` needs sms.account_sid, sms.auth_token and sms.from",
                );
                return None;
            }
        }
    } else {
        match text(b, "sms.webhook_url") {
            Some(url) => SmsProvider::Webhook {
                url,
                token: secret(b, "sms.webhook_token"),
            },
            None => {
                b.problem(
                    &raw,
                    "sms.provider",
                    "`sms.provider: webhook` needs sms.webhook_url",
                );
                return None;
            }
        }
    };
    Some(SmsConfig {
        provider,
        from,
        timeout,
    })
}
