//! `alerts.rules`: which alerts reach whom, and how.
//!
//! ```yaml
//! alerts:
//!   rules:
//!     - name: db-critical
//!       match: { severity: critical, team: db }     # label equality
//!       match_re: { instance: "db[0-9]+:.*" }       # anchored regular expressions
//!       to: ["+4930111", "+4930222"]                # an escalation chain for calls; every
//!                                                   # number gets the SMS
//!       strategy: sms_then_call                     # call | sms | sms_then_call | call_and_sms
//!       sms_wait: 2m                                # sms_then_call: call if not acknowledged
//!       message: "{{ labels.alertname }} on {{ labels.instance }}: {{ annotations.summary }}"
//!       resolved: sms                               # none (default) | sms | call
//!       account: trunk
//! ```
//!
//! The first rule whose matchers all hold takes the alert (a rule without matchers takes
//! everything, so put it last). Templates are minijinja over the alert: `labels`,
//! `annotations`, `status`, `startsAt`, `endsAt`, `fingerprint`, `generatorURL`, plus
//! `receiver` and `externalURL` of the notification; a missing label renders empty. Rules come
//! from the configuration (trusted); alert values are only ever data in them.

use std::collections::BTreeMap;
use std::time::Duration;

use minijinja::{Environment, UndefinedBehavior};
use regex::Regex;
use serde_json::Value;

use crate::flow::duration::parse_duration;
use crate::outbound::request::is_contact;

/// What happens for a firing alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    Call,
    Sms,
    /// SMS now, the call after `sms_wait` unless the alert was resolved (or the job cancelled).
    SmsThenCall,
    CallAndSms,
}

impl Strategy {
    fn parse(s: &str) -> Option<Strategy> {
        Some(match s {
            "call" => Strategy::Call,
            "sms" => Strategy::Sms,
            "sms_then_call" => Strategy::SmsThenCall,
            "call_and_sms" => Strategy::CallAndSms,
            _ => return None,
        })
    }

    pub fn calls(self) -> bool {
        !matches!(self, Strategy::Sms)
    }

    pub fn texts(self) -> bool {
        !matches!(self, Strategy::Call)
    }
}

/// How a resolution is announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnResolved {
    /// Pending jobs are cancelled; nobody is told.
    #[default]
    None,
    Sms,
    Call,
}

/// One label condition.
#[derive(Debug, Clone)]
pub enum Matcher {
    Equal(String, String),
    Regex(String, Regex),
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Matcher) -> bool {
        match (self, other) {
            (Matcher::Equal(a, x), Matcher::Equal(b, y)) => a == b && x == y,
            (Matcher::Regex(a, x), Matcher::Regex(b, y)) => a == b && x.as_str() == y.as_str(),
            _ => false,
        }
    }
}

impl Matcher {
    fn holds(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = |k: &str| labels.get(k).map(String::as_str).unwrap_or("");
        match self {
            Matcher::Equal(k, v) => value(k) == v,
            Matcher::Regex(k, re) => re.is_match(value(k)),
        }
    }
}

/// One rule.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRule {
    pub name: String,
    pub matchers: Vec<Matcher>,
    pub to: Vec<String>,
    pub strategy: Strategy,
    pub sms_wait: Duration,
    pub on_resolved: OnResolved,
    pub account: Option<String>,
    /// The message template's source (checked to compile).
    pub message: String,
}

/// The default spoken/SMS text.
pub const DEFAULT_MESSAGE: &str = "{% if status == 'resolved' %}Resolved: {% endif %}\
{{ labels.alertname }}{% if labels.instance %} on {{ labels.instance }}{% endif %}. \
{{ annotations.summary or annotations.description }}";

/// Longest rendered text (TTS and SMS both stay readable; Twilio takes 1600).
pub const MAX_TEXT: usize = 600;

impl AlertRule {
    /// Whether this rule takes an alert with `labels`.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matchers.iter().all(|m| m.holds(labels))
    }
}

/// Parses `alerts.rules` (a list); every problem as `(path, message)`.
pub fn parse_rules(v: &Value) -> Result<Vec<AlertRule>, Vec<(String, String)>> {
    let mut errs = Vec::new();
    let Some(list) = v.as_array() else {
        return Err(vec![(
            "alerts.rules".into(),
            "expected a list of rules".into(),
        )]);
    };
    let mut rules = Vec::new();
    for (i, r) in list.iter().enumerate() {
        let at = |f: &str| format!("alerts.rules.{i}.{f}");
        let Some(obj) = r.as_object() else {
            errs.push((format!("alerts.rules.{i}"), "expected a mapping".into()));
            continue;
        };
        for k in obj.keys() {
            let known = [
                "name", "match", "match_re", "to", "strategy", "sms_wait", "message", "resolved",
                "account",
            ];
            if !known.contains(&k.as_str()) {
                errs.push((at(k), "unknown setting".into()));
            }
        }
        let text = |k: &str, errs: &mut Vec<(String, String)>| match obj.get(k) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                errs.push((at(k), "expected text".into()));
                None
            }
        };
        let mut matchers = Vec::new();
        for (key, regex) in [("match", false), ("match_re", true)] {
            match obj.get(key) {
                None | Some(Value::Null) => {}
                Some(Value::Object(m)) => {
                    for (label, want) in m {
                        let want = match want {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        if regex {
                            match Regex::new(&format!("^(?:{want})$")) {
                                Ok(re) => matchers.push(Matcher::Regex(label.clone(), re)),
                                Err(e) => errs.push((at(&format!("{key}.{label}")), e.to_string())),
                            }
                        } else {
                            matchers.push(Matcher::Equal(label.clone(), want));
                        }
                    }
                }
                Some(_) => errs.push((at(key), "expected a mapping of label: value".into())),
            }
        }
        let to: Vec<String> = match obj.get("to") {
            Some(Value::String(s)) => s.split(',').map(|x| x.trim().to_string()).collect(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| x.as_str().unwrap_or("").trim().to_string())
                .collect(),
            _ => Vec::new(),
        };
        if to.is_empty() || to.iter().any(|c| !is_contact(c)) {
            errs.push((at("to"), "expected a list of numbers or sip: URIs".into()));
        }
        let strategy = match text("strategy", &mut errs) {
            None => Strategy::Call,
            Some(s) => Strategy::parse(&s).unwrap_or_else(|| {
                errs.push((
                    at("strategy"),
                    "expected call, sms, sms_then_call or call_and_sms".into(),
                ));
                Strategy::Call
            }),
        };
        let sms_wait = match text("sms_wait", &mut errs) {
            None => Duration::from_secs(120),
            Some(s) => parse_duration(&s).unwrap_or_else(|_| {
                errs.push((at("sms_wait"), "expected a duration such as 2m".into()));
                Duration::from_secs(120)
            }),
        };
        let on_resolved = match text("resolved", &mut errs).as_deref() {
            None | Some("none") => OnResolved::None,
            Some("sms") => OnResolved::Sms,
            Some("call") => OnResolved::Call,
            Some(_) => {
                errs.push((at("resolved"), "expected none, sms or call".into()));
                OnResolved::None
            }
        };
        let message = text("message", &mut errs).unwrap_or_else(|| DEFAULT_MESSAGE.to_string());
        if let Err(e) = environment().template_from_str(&message) {
            errs.push((at("message"), format!("template: {e}")));
        }
        rules.push(AlertRule {
            name: text("name", &mut errs).unwrap_or_else(|| format!("rule{i}")),
            matchers,
            to,
            strategy,
            sms_wait,
            on_resolved,
            account: text("account", &mut errs),
            message,
        });
    }
    if errs.is_empty() {
        Ok(rules)
    } else {
        Err(errs)
    }
}

/// The template environment for alert texts (missing values render empty).
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rules_parse_with_defaults_and_match_in_order() {
        let rules = parse_rules(&json!([
            {"name": "db", "match": {"team": "db"}, "match_re": {"instance": "db[0-9]+:.*"},
             "to": ["+4930111", "+4930222"], "strategy": "sms_then_call", "sms_wait": "5m",
             "resolved": "sms"},
            {"to": "1001, sip:ops@pbx.example.com"}
        ]))
        .expect("valid");
        assert_eq!(rules[0].strategy, Strategy::SmsThenCall);
        assert_eq!(rules[0].sms_wait, Duration::from_secs(300));
        assert_eq!(rules[0].on_resolved, OnResolved::Sms);
        assert_eq!(rules[1].name, "rule1");
        assert_eq!(rules[1].to, ["1001", "sip:ops@pbx.example.com"]);
        assert_eq!(rules[1].strategy, Strategy::Call);
        let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(rules[0].matches(&labels(&[("team", "db"), ("instance", "db1:9100")])));
        assert!(
            !rules[0].matches(&labels(&[("team", "db"), ("instance", "xdb1:9100")])),
            "anchored"
        );
        assert!(!rules[0].matches(&labels(&[("instance", "db1:9100")])));
        assert!(rules[1].matches(&labels(&[])));
    }

    #[test]
    fn every_problem_is_reported() {
        let errs = parse_rules(&json!([
            {"to": [], "strategy": "pager", "sms_wait": "soon", "resolved": "maybe",
             "match_re": {"x": "("}, "message": "{{ unclosed", "colour": 1},
            "not a rule"
        ]))
        .expect_err("invalid");
        let paths: Vec<&str> = errs.iter().map(|(p, _)| p.as_str()).collect();
        for p in [
            "alerts.rules.0.to",
            "alerts.rules.0.strategy",
            "alerts.rules.0.sms_wait",
            "alerts.rules.0.resolved",
            "alerts.rules.0.match_re.x",
            "alerts.rules.0.message",
            "alerts.rules.0.colour",
            "alerts.rules.1",
        ] {
            assert!(paths.contains(&p), "{p} missing in {paths:?}");
        }
        assert!(parse_rules(&json!({"to": "1"})).is_err());
    }
}
