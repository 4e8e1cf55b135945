//! From one Alertmanager notification to the jobs it creates or cancels (pure).
//!
//! For each alert, the first matching rule decides: firing alerts get a call job (the rule's
//! `to` as the escalation chain, the built-in message flow with the rendered text) and/or one
//! SMS job per number, per the strategy (`sms_then_call` delays the call by `sms_wait`);
//! resolved alerts cancel whatever their episode still has queued and, if the rule says so,
//! announce the resolution. Every job carries the episode as `alert_id` and an idempotency key
//! derived from episode + rule + role, so a resend, a repeat or an HA duplicate never creates
//! a second job (the database keeps the first).

use std::time::Duration;

use minijinja::Value as Jinja;
use serde::Serialize;
use serde_json::Map;

use super::payload::{Alert, Notification, Status};
use super::rules::{environment, AlertRule, OnResolved, MAX_TEXT};
use crate::outbound::job::{JobRequest, SmsRequest};
use crate::outbound::request::{CallRequest, Content, Defaults, Until};

/// Something to do for a notification.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Planned {
    /// Create the job unless one with `key` exists.
    Enqueue {
        key: String,
        alert_id: String,
        rule: String,
        request: Box<JobRequest>,
    },
    /// Cancel the episode's queued jobs.
    Cancel { alert_id: String },
    /// No rule takes this alert.
    Unrouted { fingerprint: String },
}

/// The plan for `n` at `now_ms`.
pub fn plan(
    n: &Notification,
    rules: &[AlertRule],
    defaults: &Defaults,
    now_ms: i64,
) -> Vec<Planned> {
    let mut out = Vec::new();
    for alert in &n.alerts {
        let episode = alert.episode_key();
        let Some(rule) = rules.iter().find(|r| r.matches(&alert.labels)) else {
            out.push(Planned::Unrouted {
                fingerprint: alert.fingerprint.clone(),
            });
            continue;
        };
        let text = render(rule, alert, n);
        let key = |role: &str| format!("{episode}:{}:{role}", rule.name);
        let mut enqueue = |role: String, request: JobRequest| {
            out.push(Planned::Enqueue {
                key: role,
                alert_id: episode.clone(),
                rule: rule.name.clone(),
                request: Box::new(request),
            })
        };
        match alert.status {
            Status::Firing => {
                if rule.strategy.texts() {
                    for (i, to) in rule.to.iter().enumerate() {
                        enqueue(key(&format!("sms{i}")), sms(to, &text, defaults, now_ms));
                    }
                }
                if rule.strategy.calls() {
                    let wait = match rule.strategy {
                        super::rules::Strategy::SmsThenCall => rule.sms_wait,
                        _ => Duration::ZERO,
                    };
                    let at = now_ms.saturating_add(wait.as_millis() as i64);
                    enqueue(key("call"), call(rule, &text, defaults, at));
                }
            }
            Status::Resolved => {
                out.push(Planned::Cancel {
                    alert_id: episode.clone(),
                });
                // Re-borrow after the push above.
                let mut enqueue = |role: String, request: JobRequest| {
                    out.push(Planned::Enqueue {
                        key: role,
                        alert_id: format!("{episode}:resolved"),
                        rule: rule.name.clone(),
                        request: Box::new(request),
                    })
                };
                match rule.on_resolved {
                    OnResolved::None => {}
                    OnResolved::Sms => {
                        for (i, to) in rule.to.iter().enumerate() {
                            enqueue(
                                key(&format!("resolved-sms{i}")),
                                sms(to, &text, defaults, now_ms),
                            );
                        }
                    }
                    OnResolved::Call => {
                        let mut req = call(rule, &text, defaults, now_ms);
                        if let JobRequest::Call(c) = &mut req {
                            c.until = Until::Answered;
                        }
                        enqueue(key("resolved-call"), req);
                    }
                }
            }
        }
    }
    out
}

fn sms(to: &str, text: &str, defaults: &Defaults, at: i64) -> JobRequest {
    JobRequest::Sms(SmsRequest {
        to: to.to_string(),
        text: text.to_string(),
        run_at_ms: at,
        retry: defaults.retry,
    })
}

fn call(rule: &AlertRule, text: &str, defaults: &Defaults, at: i64) -> JobRequest {
    JobRequest::Call(CallRequest {
        to: rule.to.clone(),
        content: Content::Message {
            text: text.to_string(),
            ack_key: '1',
            repeat: 2,
        },
        from: None,
        account: rule.account.clone(),
        vars: Map::new(),
        run_at_ms: at,
        retry: defaults.retry,
        until: Until::Acknowledged,
        ring_timeout_ms: defaults.ring_timeout.as_millis() as u64,
    })
}

/// The rule's text for one alert (whitespace collapsed, capped at [`MAX_TEXT`]).
pub fn render(rule: &AlertRule, alert: &Alert, n: &Notification) -> String {
    let ctx = Jinja::from(minijinja::value::Serde(serde_json::json!({
        "labels": alert.labels,
        "annotations": alert.annotations,
        "status": alert.status.as_str(),
        "startsAt": alert.starts_at,
        "endsAt": alert.ends_at,
        "fingerprint": alert.fingerprint,
        "generatorURL": alert.generator_url,
        "receiver": n.receiver,
        "externalURL": n.external_url,
    })));
    let env = environment();
    let text = env
        .render_str(&rule.message, ctx)
        .unwrap_or_else(|_| alert.labels.get("alertname").cloned().unwrap_or_default());
    let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut t: String = text.chars().take(MAX_TEXT).collect();
    if t.trim().is_empty() {
        t = "An alert fired.".into();
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::rules::parse_rules;
    use serde_json::json;

    const FIRING: &str = include_str!("testdata/alertmanager_firing.json");
    const NOW: i64 = 1_000_000;

    fn rules(strategy: &str, resolved: &str) -> Vec<AlertRule> {
        parse_rules(&json!([
            {"name": "db", "match": {"team": "db"}, "to": ["+4930111", "+4930222"],
             "strategy": strategy, "sms_wait": "2m", "resolved": resolved},
            {"name": "web", "match": {"team": "web"}, "to": ["1001"]}
        ]))
        .expect("rules")
    }

    fn firing() -> Notification {
        Notification::parse(FIRING.as_bytes()).expect("payload")
    }

    fn summary(p: &[Planned]) -> Vec<String> {
        p.iter()
            .map(|x| match x {
                Planned::Enqueue { key, request, .. } => {
                    let role = key.rsplit(':').next().unwrap_or("");
                    match request.as_ref() {
                        JobRequest::Call(c) => {
                            format!("{role} call {:?} at+{}", c.to, c.run_at_ms - NOW)
                        }
                        JobRequest::Sms(s) => {
                            format!("{role} sms {} at+{}", s.to, s.run_at_ms - NOW)
                        }
                    }
                }
                Planned::Cancel { .. } => "cancel".into(),
                Planned::Unrouted { fingerprint } => format!("unrouted {fingerprint}"),
            })
            .collect()
    }

    #[test]
    fn strategies() {
        let n = firing();
        let d = Defaults::default();
        let calls = summary(&plan(&n, &rules("call", "none"), &d, NOW));
        assert_eq!(calls, [r#"call call ["+4930111", "+4930222"] at+0"#; 2]);
        let sms = summary(&plan(&n, &rules("sms", "none"), &d, NOW));
        assert_eq!(
            sms[..2],
            ["sms0 sms +4930111 at+0", "sms1 sms +4930222 at+0"]
        );
        assert_eq!(sms.len(), 4);
        let then = summary(&plan(&n, &rules("sms_then_call", "none"), &d, NOW));
        assert_eq!(
            then[..3],
            [
                "sms0 sms +4930111 at+0",
                "sms1 sms +4930222 at+0",
                r#"call call ["+4930111", "+4930222"] at+120000"#
            ]
        );
        let both = summary(&plan(&n, &rules("call_and_sms", "none"), &d, NOW));
        assert_eq!(both[2], r#"call call ["+4930111", "+4930222"] at+0"#);
    }

    #[test]
    fn keys_are_per_episode_and_rule_and_stable_across_resends() {
        let n = firing();
        let d = Defaults::default();
        let a = plan(&n, &rules("call", "none"), &d, NOW);
        let b = plan(&n, &rules("call", "none"), &d, NOW + 60_000);
        let keys = |p: &[Planned]| -> Vec<String> {
            p.iter()
                .filter_map(|x| match x {
                    Planned::Enqueue { key, .. } => Some(key.clone()),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(keys(&a), keys(&b), "a resend maps to the same jobs");
        assert_ne!(keys(&a)[0], keys(&a)[1], "two alerts, two episodes");
    }

    #[test]
    fn resolved_cancels_and_optionally_announces() {
        let mut n = firing();
        n.status = Status::Resolved;
        for a in &mut n.alerts {
            a.status = Status::Resolved;
        }
        let d = Defaults::default();
        assert_eq!(
            summary(&plan(&n, &rules("call", "none"), &d, NOW)),
            ["cancel", "cancel"]
        );
        let p = plan(&n, &rules("call", "sms"), &d, NOW);
        assert_eq!(
            summary(&p)[..3],
            [
                "cancel",
                "resolved-sms0 sms +4930111 at+0",
                "resolved-sms1 sms +4930222 at+0"
            ]
        );
        let Planned::Enqueue { request, .. } = &p[1] else {
            panic!("enqueue")
        };
        let JobRequest::Sms(s) = request.as_ref() else {
            panic!("sms")
        };
        assert!(
            s.text.starts_with("Resolved: DiskFull on db1:9100."),
            "{}",
            s.text
        );
    }

    #[test]
    fn unrouted_alerts_are_reported() {
        let n = firing();
        let rules = parse_rules(&json!([{"match": {"team": "web"}, "to": ["1"]}])).expect("rules");
        assert_eq!(
            summary(&plan(&n, &rules, &Defaults::default(), NOW)),
            ["unrouted c2a7f3b1d4e5f601", "unrouted 7e19a0c4b2d3e8f9"]
        );
    }

    #[test]
    fn text_is_the_template_over_the_alert_capped_and_never_empty() {
        let n = firing();
        let r = &rules("call", "none")[0];
        assert_eq!(
            render(r, &n.alerts[0], &n),
            "DiskFull on db1:9100. Disk almost full on db1"
        );
        let mut long = n.alerts[0].clone();
        long.annotations.insert("summary".into(), "x ".repeat(2000));
        assert_eq!(render(r, &long, &n).chars().count(), MAX_TEXT);
        let custom =
            parse_rules(&json!([{"to": ["1"], "message": "{{ labels.nope }}"}])).expect("r");
        assert_eq!(render(&custom[0], &n.alerts[0], &n), "An alert fired.");
        // Alert values are data: template syntax inside them is spoken, not run.
        let mut evil = n.alerts[0].clone();
        evil.annotations
            .insert("summary".into(), "{{ 7 * 7 }}".into());
        assert!(render(r, &evil, &n).ends_with("{{ 7 * 7 }}"));
    }
}
