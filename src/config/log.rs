//! The `log:` section: how much `phonetree run` logs, in which format, and what it hides.
//!
//! | key | env | flag | default |
//! |---|---|---|---|
//! | `log.level` | `PHONETREE_LOG_LEVEL` | `--log-level` | `info` |
//! | `log.format` | `PHONETREE_LOG_FORMAT` | `--log-format` | `text` |
//! | `log.redact_numbers` | `PHONETREE_LOG_REDACT_NUMBERS` | | `false` |
//! | `log.sip_trace` | `PHONETREE_LOG_SIP_TRACE` | | `false` |
//!
//! `PHONETREE_LOG` (a full tracing filter such as `phonetree=debug,hyper=warn`) still wins over
//! `log.level` when set. Caller numbers are logged in clear unless `redact_numbers` is on;
//! dialled numbers (the route a call took) always are, since they are the operator's own.

use super::layer::{Layer, Raw};
use super::Problem;

/// The scalar keys of this section: (dotted key, env suffix after `PHONETREE_`).
pub const KEYS: &[(&str, &str)] = &[
    ("log.level", "LOG_LEVEL"),
    ("log.format", "LOG_FORMAT"),
    ("log.redact_numbers", "LOG_REDACT_NUMBERS"),
    ("log.sip_trace", "LOG_SIP_TRACE"),
];

/// How logs are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// A tracing filter: `info`, `debug`, `phonetree=debug,warn`.
    pub level: String,
    pub format: LogFormat,
    /// Mask callers' numbers (all but the last three digits) in every log line.
    pub redact_numbers: bool,
    /// Log every SIP message sent and received, whole, with credentials masked.
    pub sip_trace: bool,
}

/// One line per event: human text, or one JSON object per line (for log shippers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            format: LogFormat::Text,
            redact_numbers: false,
            sip_trace: false,
        }
    }
}

/// A `log.level` / `PHONETREE_LOG` filter, or `None` when it is not one. Only ASCII is
/// handed to tracing-subscriber: its directive parser slices at byte offsets and panicked on a
/// multi-byte character (found by the `config` fuzz target: `log.level: "2,k\u{96}…"`).
/// Levels, targets (module paths) and span names are ASCII anyway.
pub fn parse_filter(text: &str) -> Option<tracing_subscriber::EnvFilter> {
    if !text.is_ascii() {
        return None;
    }
    tracing_subscriber::EnvFilter::builder().parse(text).ok()
}

/// The section from the merged layer; bad values are added to `problems`.
pub fn build(l: &Layer, problems: &mut Vec<Problem>) -> LogConfig {
    let mut c = LogConfig::default();
    let mut bad = |raw: &Raw, key: &str, message: String, hint: Option<String>| {
        problems.push(Problem {
            origin: Some(raw.origin.clone()),
            key: key.into(),
            message,
            hint,
        });
    };
    if let Some(raw) = l.get("log.level") {
        let text = raw.text.trim();
        match parse_filter(text) {
            Some(_) if !text.is_empty() => c.level = text.to_string(),
            _ => bad(
                raw,
                "log.level",
                format!("`log.level`: `{text}` is not a log level or filter"),
                Some("write `error`, `warn`, `info`, `debug` or `trace` (or a filter such as `phonetree=debug,warn`)".into()),
            ),
        }
    }
    if let Some(raw) = l.get("log.format") {
        match raw.text.trim().to_ascii_lowercase().as_str() {
            "text" => c.format = LogFormat::Text,
            "json" => c.format = LogFormat::Json,
            other => bad(
                raw,
                "log.format",
                format!("`log.format`: expected `text` or `json`, got `{other}`"),
                None,
            ),
        }
    }
    for (key, slot) in [
        ("log.redact_numbers", &mut c.redact_numbers),
        ("log.sip_trace", &mut c.sip_trace),
    ] {
        if let Some(raw) = l.get(key) {
            match parse_bool(&raw.text) {
                Some(v) => *slot = v,
                None => bad(
                    raw,
                    key,
                    format!("`{key}`: expected true or false, got `{}`", raw.text.trim()),
                    None,
                ),
            }
        }
    }
    c
}

/// `true/false`, `yes/no`, `on/off`, `1/0`.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{load, Flags, Sources};
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn defaults_log_info_as_text_with_numbers_in_clear() {
        let c = load(&Sources::default()).unwrap();
        assert_eq!(c.log, LogConfig::default());
        assert!(!c.log.redact_numbers && !c.log.sip_trace);
    }

    #[test]
    fn yaml_env_and_flags_set_the_log_section() {
        let s = Sources {
            file: Some((
                "log: { level: debug, format: json, redact_numbers: true }\n".into(),
                PathBuf::from("phonetree.yaml"),
            )),
            env: [("PHONETREE_LOG_SIP_TRACE".to_string(), "on".to_string())].into(),
            flags: Flags {
                log_level: Some("phonetree=trace,warn".into()),
                ..Flags::default()
            },
        };
        let c = load(&s).unwrap();
        assert_eq!(c.log.level, "phonetree=trace,warn", "the flag wins");
        assert_eq!(c.log.format, LogFormat::Json);
        assert!(c.log.redact_numbers);
        assert!(c.log.sip_trace);
    }

    #[test]
    fn bad_log_values_are_reported_with_their_origin() {
        let s = Sources {
            env: [
                ("PHONETREE_LOG_FORMAT".to_string(), "xml".to_string()),
                (
                    "PHONETREE_LOG_REDACT_NUMBERS".to_string(),
                    "maybe".to_string(),
                ),
                ("PHONETREE_LOG_LEVEL".to_string(), "[[".to_string()),
            ]
            .into(),
            ..Sources::default()
        };
        let e = load(&s).unwrap_err();
        let keys: Vec<&str> = e.problems.iter().map(|p| p.key.as_str()).collect();
        assert!(keys.contains(&"log.format"), "{e}");
        assert!(keys.contains(&"log.redact_numbers"), "{e}");
        assert!(keys.contains(&"log.level"), "{e}");
        assert!(e.to_string().contains("PHONETREE_LOG_FORMAT"), "{e}");
    }
}
