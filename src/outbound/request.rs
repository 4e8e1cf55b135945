//! `POST /api/calls` bodies: the JSON an operator (or an alert rule) sends, parsed once into a
//! [`CallRequest`] with the defaults applied, so a stored job never depends on a later
//! configuration change.
//!
//! Accepted fields: `to` (a number, `sip:` URI or `tel:` URI, or a list of them: an escalation
//! chain tried in order), `flow` **or** `message` (text spoken by the built-in message flow,
//! `repeat` times, then "press `ack_key` to acknowledge"), `from`, `account`, `vars`, `at`
//! (RFC 3339, or a local date and time with `tz`), `retry` (`max_attempts`, `backoff_base`,
//! `backoff_max`), `until` (`acknowledged`, `answered`, `heard`), `ring_timeout`. Durations
//! are `"30s"`-style strings or numbers of seconds. Every problem is collected (one 400 lists
//! them all); unknown fields are problems too, so a typo never silently drops a setting.
//!
//! Owns the shape and the bounds (a request from the network cannot grow a job without limit).
//! Does not own the allow-list (`policy::outbound`), accounts or flows (the API checks them
//! against the running configuration).

use std::fmt;
use std::time::Duration;

use jiff::{civil, tz::TimeZone, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::flow::digit::Digit;
use crate::flow::duration::parse_duration;

/// Most contacts in one escalation chain.
pub const MAX_CONTACTS: usize = 10;
/// Longest `message` text (characters).
pub const MAX_MESSAGE: usize = 2000;
/// Largest `vars` object, serialized.
pub const MAX_VARS_BYTES: usize = 16 * 1024;
/// Most attempts per contact.
pub const MAX_ATTEMPTS: u32 = 20;
/// How far ahead `at` may be.
pub const MAX_AHEAD: Duration = Duration::from_secs(366 * 24 * 3600);

/// What a call does once answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Content {
    /// A flow by name, run as for an inbound call.
    Flow { flow: String },
    /// The built-in message flow.
    Message {
        text: String,
        ack_key: char,
        repeat: u8,
    },
}

/// When a job counts as done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Until {
    /// An `ack` node ran (the callee pressed the key).
    Acknowledged,
    /// The call was answered.
    Answered,
    /// The message played to its end (`ack: { as: heard }`).
    Heard,
}

impl Until {
    pub fn as_str(self) -> &'static str {
        match self {
            Until::Acknowledged => "acknowledged",
            Until::Answered => "answered",
            Until::Heard => "heard",
        }
    }
}

/// Retries per contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Attempts per contact (1 = no retry).
    pub max_attempts: u32,
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
}

impl RetryPolicy {
    /// The wait after the `n`-th failed attempt on a contact (1-based): base·2^(n-1), capped.
    pub fn backoff(&self, n: u32) -> Duration {
        let base = Duration::from_millis(self.backoff_base_ms);
        let max = Duration::from_millis(self.backoff_max_ms);
        base.checked_mul(1u32 << n.saturating_sub(1).min(20))
            .unwrap_or(max)
            .min(max)
    }
}

/// The defaults a request leaves out (`outbound.*` settings).
#[derive(Debug, Clone, PartialEq)]
pub struct Defaults {
    pub retry: RetryPolicy,
    pub ring_timeout: Duration,
    /// The zone of a local `at` without `tz`.
    pub tz: TimeZone,
}

impl Default for Defaults {
    /// The seed's `SIP_INVITE_MAX_ATTEMPTS=5`, `SIP_INVITE_RETRY_BASE=1s`,
    /// `SIP_INVITE_RETRY_MAX=30s`; 30 s of ringing; the system's zone.
    fn default() -> Defaults {
        Defaults {
            retry: RetryPolicy {
                max_attempts: 5,
                backoff_base_ms: 1000,
                backoff_max_ms: 30_000,
            },
            ring_timeout: Duration::from_secs(30),
            tz: TimeZone::system(),
        }
    }
}

/// A call job as accepted: the contacts, what to do, and the policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRequest {
    /// Contacts in escalation order, as given (trimmed).
    pub to: Vec<String>,
    pub content: Content,
    pub from: Option<String>,
    pub account: Option<String>,
    pub vars: Map<String, Value>,
    /// When the first attempt may start (Unix ms).
    pub run_at_ms: i64,
    pub retry: RetryPolicy,
    pub until: Until,
    pub ring_timeout_ms: u64,
}

/// One problem with a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

const FIELDS: [&str; 14] = [
    "to",
    "flow",
    "message",
    "ack_key",
    "repeat",
    "from",
    "account",
    "vars",
    "at",
    "tz",
    "retry",
    "until",
    "ring_timeout",
    "idempotency_key",
];

impl CallRequest {
    /// Parses an API body at `now_ms`; every problem is returned.
    pub fn parse(
        body: &Value,
        defaults: &Defaults,
        now_ms: i64,
    ) -> Result<CallRequest, Vec<FieldError>> {
        let mut errs = Errors::default();
        let Some(obj) = body.as_object() else {
            errs.add("", "the body must be a JSON object");
            return Err(errs.0);
        };
        for k in obj.keys() {
            if !FIELDS.contains(&k.as_str()) {
                errs.add(k, "unknown field");
            }
        }
        let to = parse_to(obj.get("to"), &mut errs);
        let content = parse_content(obj, &mut errs);
        let from = opt_string(obj, "from", &mut errs).filter(|f| {
            let ok = is_contact(f);
            if !ok {
                errs.add("from", "expected a number or a sip: URI");
            }
            ok
        });
        let account = opt_string(obj, "account", &mut errs);
        let vars = match obj.get("vars") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => {
                if serde_json::to_string(m).map_or(usize::MAX, |s| s.len()) > MAX_VARS_BYTES {
                    errs.add("vars", &format!("larger than {MAX_VARS_BYTES} bytes"));
                }
                m.clone()
            }
            Some(_) => {
                errs.add("vars", "expected an object");
                Map::new()
            }
        };
        let run_at_ms = parse_at(obj, defaults, now_ms, &mut errs);
        let retry = parse_retry(obj.get("retry"), defaults.retry, &mut errs);
        let until = match obj.get("until") {
            None | Some(Value::Null) => match content {
                Some(Content::Flow { .. }) => Until::Answered,
                _ => Until::Acknowledged,
            },
            Some(v) => serde_json::from_value(v.clone()).unwrap_or_else(|_| {
                errs.add("until", "expected `acknowledged`, `answered` or `heard`");
                Until::Acknowledged
            }),
        };
        let ring = duration(
            obj.get("ring_timeout"),
            "ring_timeout",
            defaults.ring_timeout,
            &mut errs,
        );
        if !(Duration::from_secs(5)..=Duration::from_secs(600)).contains(&ring) {
            errs.add("ring_timeout", "must be between 5s and 10m");
        }
        match (content, errs.0.is_empty()) {
            (Some(content), true) => Ok(CallRequest {
                to,
                content,
                from,
                account,
                vars,
                run_at_ms,
                retry,
                until,
                ring_timeout_ms: ring.as_millis() as u64,
            }),
            _ => Err(errs.0),
        }
    }
}

#[derive(Default)]
struct Errors(Vec<FieldError>);

impl Errors {
    fn add(&mut self, field: &str, message: &str) {
        self.0.push(FieldError {
            field: field.to_string(),
            message: message.to_string(),
        });
    }
}

/// A number (`+4930123`, `1001`, `*21#`) or a `sip:`/`sips:` URI without headers, spaces,
/// quotes or brackets: what may be dialled and shown.
pub fn is_contact(s: &str) -> bool {
    let lower = s.get(..5).map(str::to_ascii_lowercase).unwrap_or_default();
    if lower.starts_with("sip:") || lower == "sips:" {
        return s.len() <= 256
            && s.contains('@')
            && !s.chars().any(|c| {
                c.is_control() || c.is_whitespace() || matches!(c, '<' | '>' | '"' | '?' | ',')
            });
    }
    let digits = s.strip_prefix('+').unwrap_or(s);
    !digits.is_empty()
        && digits.len() <= 32
        && digits
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '*' | '#' | '.' | '-' | '_'))
}

fn parse_to(v: Option<&Value>, errs: &mut Errors) -> Vec<String> {
    let items: Vec<&Value> = match v {
        None | Some(Value::Null) => {
            errs.add("to", "required: a number, a SIP URI, or a list of them");
            return Vec::new();
        }
        Some(Value::Array(a)) => a.iter().collect(),
        Some(one) => vec![one],
    };
    if items.is_empty() {
        errs.add("to", "the list is empty");
    }
    if items.len() > MAX_CONTACTS {
        errs.add("to", &format!("at most {MAX_CONTACTS} contacts"));
        return Vec::new();
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let field = if matches!(v, Some(Value::Array(_))) {
            format!("to[{i}]")
        } else {
            "to".to_string()
        };
        let Some(s) = item.as_str().map(str::trim) else {
            errs.add(&field, "expected a string");
            continue;
        };
        let s = match s.get(..4) {
            Some(p) if p.eq_ignore_ascii_case("tel:") => s[4..].split(';').next().unwrap_or(""),
            _ => s,
        };
        if is_contact(s) {
            out.push(s.to_string());
        } else {
            errs.add(&field, "expected a number (+4930123, 1001) or a sip: URI");
        }
    }
    out
}

fn parse_content(obj: &Map<String, Value>, errs: &mut Errors) -> Option<Content> {
    let flow = opt_string(obj, "flow", errs);
    let message = opt_string(obj, "message", errs);
    match (flow, message) {
        (Some(_), Some(_)) => {
            errs.add("flow", "give `flow` or `message`, not both");
            None
        }
        (None, None) => {
            errs.add(
                "message",
                "required: `message` (text to speak) or `flow` (a flow name)",
            );
            None
        }
        (Some(flow), None) => {
            for f in ["ack_key", "repeat"] {
                if obj.contains_key(f) {
                    errs.add(f, "only used with `message`");
                }
            }
            Some(Content::Flow { flow })
        }
        (None, Some(text)) => {
            if text.trim().is_empty() {
                errs.add("message", "is empty");
            }
            if text.chars().count() > MAX_MESSAGE {
                errs.add("message", &format!("longer than {MAX_MESSAGE} characters"));
            }
            let ack_key = match obj.get("ack_key") {
                None | Some(Value::Null) => '1',
                Some(v) => {
                    let s = v
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string());
                    let mut chars = s.chars();
                    match (chars.next().and_then(Digit::from_char), chars.next()) {
                        (Some(d), None) => d.as_char(),
                        _ => {
                            errs.add("ack_key", "expected one DTMF key (0-9, *, #, A-D)");
                            '1'
                        }
                    }
                }
            };
            let repeat = match obj.get("repeat") {
                None | Some(Value::Null) => 2,
                Some(v) => match v.as_u64() {
                    Some(n @ 1..=5) => n as u8,
                    _ => {
                        errs.add("repeat", "expected 1 to 5");
                        2
                    }
                },
            };
            Some(Content::Message {
                text,
                ack_key,
                repeat,
            })
        }
    }
}

fn opt_string(obj: &Map<String, Value>, key: &str, errs: &mut Errors) -> Option<String> {
    match obj.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.len() <= 4096 => Some(s.trim().to_string()),
        Some(_) => {
            errs.add(key, "expected a string");
            None
        }
    }
}

/// `"30s"`, `"2m"`, `"500ms"` or a number of seconds.
fn duration(v: Option<&Value>, field: &str, default: Duration, errs: &mut Errors) -> Duration {
    match v {
        None | Some(Value::Null) => default,
        Some(Value::Number(n)) => match n.as_f64() {
            Some(s) if (0.0..=86_400.0 * 7.0).contains(&s) => Duration::from_secs_f64(s),
            _ => {
                errs.add(field, "expected a duration such as \"30s\"");
                default
            }
        },
        Some(Value::String(s)) => parse_duration(s.trim()).unwrap_or_else(|_| {
            errs.add(
                field,
                "expected a duration such as \"30s\", \"2m\", \"500ms\"",
            );
            default
        }),
        Some(_) => {
            errs.add(field, "expected a duration such as \"30s\"");
            default
        }
    }
}

fn parse_retry(v: Option<&Value>, default: RetryPolicy, errs: &mut Errors) -> RetryPolicy {
    let obj = match v {
        None | Some(Value::Null) => return default,
        Some(Value::Object(o)) => o,
        Some(_) => {
            errs.add("retry", "expected an object");
            return default;
        }
    };
    for k in obj.keys() {
        if !["max_attempts", "backoff_base", "backoff_max"].contains(&k.as_str()) {
            errs.add(&format!("retry.{k}"), "unknown field");
        }
    }
    let max_attempts = match obj.get("max_attempts") {
        None | Some(Value::Null) => default.max_attempts,
        Some(v) => match v.as_u64() {
            Some(n) if (1..=u64::from(MAX_ATTEMPTS)).contains(&n) => n as u32,
            _ => {
                errs.add(
                    "retry.max_attempts",
                    &format!("expected 1 to {MAX_ATTEMPTS}"),
                );
                default.max_attempts
            }
        },
    };
    let base = duration(
        obj.get("backoff_base"),
        "retry.backoff_base",
        Duration::from_millis(default.backoff_base_ms),
        errs,
    );
    let max = duration(
        obj.get("backoff_max"),
        "retry.backoff_max",
        Duration::from_millis(default.backoff_max_ms).max(base),
        errs,
    );
    if max < base {
        errs.add("retry.backoff_max", "is shorter than backoff_base");
    }
    if max > Duration::from_secs(24 * 3600) {
        errs.add("retry.backoff_max", "at most 24h");
    }
    RetryPolicy {
        max_attempts,
        backoff_base_ms: base.as_millis() as u64,
        backoff_max_ms: max.as_millis() as u64,
    }
}

/// `at`: RFC 3339 with an offset, or `2026-12-01 08:00[:00]` in `tz` (default: the configured
/// zone); a local time that a DST change skips or repeats is refused (say which with an
/// offset). A time in the past means now.
fn parse_at(obj: &Map<String, Value>, defaults: &Defaults, now_ms: i64, errs: &mut Errors) -> i64 {
    let tz = match obj.get("tz") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => match TimeZone::get(name.trim()) {
            Ok(tz) => Some(tz),
            Err(_) => {
                errs.add(
                    "tz",
                    "unknown time zone (expected an IANA name such as Europe/Berlin)",
                );
                None
            }
        },
        Some(_) => {
            errs.add("tz", "expected a string");
            None
        }
    };
    let at = match obj.get("at") {
        None | Some(Value::Null) => return now_ms,
        Some(Value::String(s)) => s.trim(),
        Some(_) => {
            errs.add("at", "expected a date and time string");
            return now_ms;
        }
    };
    let ms = if let Ok(ts) = at.parse::<Timestamp>() {
        ts.as_millisecond()
    } else {
        let text = at.replacen(' ', "T", 1);
        let Ok(dt) = text.parse::<civil::DateTime>() else {
            errs.add(
                "at",
                "expected RFC 3339 (2026-12-01T08:00:00+01:00) or a local time (2026-12-01 08:00) with tz",
            );
            return now_ms;
        };
        let zone = tz.unwrap_or_else(|| defaults.tz.clone());
        match zone.to_ambiguous_zoned_datetime(dt).unambiguous() {
            Ok(z) => z.timestamp().as_millisecond(),
            Err(_) => {
                errs.add("at", "this local time is skipped or repeated by a DST change in that zone; give an offset");
                return now_ms;
            }
        }
    };
    if ms > now_ms.saturating_add(MAX_AHEAD.as_millis() as i64) {
        errs.add("at", "more than a year ahead");
    }
    ms.max(now_ms)
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
