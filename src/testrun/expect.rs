//! `expect:` steps: what a test waits for, and whether a simulator [`Event`] is it.
//!
//! One kind per expectation: `play` (the file as written in the flow or any path suffix such as
//! `bunny/greeting.wav`, or the URL), `stop`, `say` (exact text), `say_contains`, `http`
//! (`method`, `url`, `body` — a subset match), `theme`, `transfer` (target), `hangup` (reason),
//! `listen` (node), `speech` (text), `record` (node), `agent` (node), `stream` (url), `warn`
//! (text contained in the message), `dtmf` (key). `within:` bounds the virtual time to wait.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::flow::duration::parse_duration;
use crate::sim::event::{Event, EventKind, MediaRef};

/// Virtual time an `expect` waits without `within:`.
pub const DEFAULT_WITHIN: Duration = Duration::from_secs(120);

/// One `expect:` step.
#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    pub what: Expected,
    pub within: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expected {
    Play(String),
    Stop(String),
    Say(String),
    SayContains(String),
    Http(HttpExpect),
    Theme(String),
    Transfer(String),
    Hangup(String),
    Listen(String),
    Speech(String),
    Record(String),
    Agent(String),
    Stream(String),
    Warn(String),
    Dtmf(String),
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpExpect {
    pub method: Option<String>,
    pub url: Option<String>,
    pub body: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    play: Option<String>,
    stop: Option<String>,
    say: Option<String>,
    say_contains: Option<String>,
    http: Option<HttpExpect>,
    theme: Option<String>,
    transfer: Option<String>,
    hangup: Option<String>,
    listen: Option<String>,
    speech: Option<String>,
    record: Option<String>,
    agent: Option<String>,
    stream: Option<String>,
    warn: Option<String>,
    dtmf: Option<String>,
    within: Option<String>,
}

impl Expectation {
    /// From the value of an `expect:` key; the error says what is wrong.
    pub fn from_value(v: Value) -> Result<Expectation, String> {
        let raw: Raw = serde_json::from_value(v).map_err(|e| e.to_string())?;
        let within = raw
            .within
            .as_deref()
            .map(|w| parse_duration(w).map_err(|e| format!("within: {e}")))
            .transpose()?;
        let mut found = Vec::new();
        let mut add = |e: Option<Expected>| found.extend(e);
        add(raw.play.map(Expected::Play));
        add(raw.stop.map(Expected::Stop));
        add(raw.say.map(Expected::Say));
        add(raw.say_contains.map(Expected::SayContains));
        add(raw.http.map(Expected::Http));
        add(raw.theme.map(Expected::Theme));
        add(raw.transfer.map(Expected::Transfer));
        add(raw.hangup.map(Expected::Hangup));
        add(raw.listen.map(Expected::Listen));
        add(raw.speech.map(Expected::Speech));
        add(raw.record.map(Expected::Record));
        add(raw.agent.map(Expected::Agent));
        add(raw.stream.map(Expected::Stream));
        add(raw.warn.map(Expected::Warn));
        add(raw.dtmf.map(Expected::Dtmf));
        match found.len() {
            1 => Ok(Expectation {
                what: found.remove(0),
                within,
            }),
            0 => Err("expect what? e.g. `expect: { play: greeting.wav }`".into()),
            _ => Err("one thing per `expect` (split it into several steps)".into()),
        }
    }

    pub fn within(&self) -> Duration {
        self.within.unwrap_or(DEFAULT_WITHIN)
    }

    /// Whether `event` is what this step waits for.
    pub fn matches(&self, event: &Event) -> bool {
        match (&self.what, &event.kind) {
            (Expected::Play(want), EventKind::Play { media, .. })
            | (Expected::Stop(want), EventKind::Stop { media, .. }) => media_matches(want, media),
            (Expected::Say(want), EventKind::Say { text, .. }) => text == want,
            (Expected::SayContains(want), EventKind::Say { text, .. }) => {
                text.contains(want.as_str())
            }
            (
                Expected::Http(want),
                EventKind::Http {
                    method, url, body, ..
                },
            ) => {
                want.method
                    .as_ref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(method))
                    && want.url.as_ref().is_none_or(|u| u == url)
                    && want
                        .body
                        .as_ref()
                        .is_none_or(|b| body.as_ref().is_some_and(|actual| is_subset(b, actual)))
            }
            (Expected::Theme(want), EventKind::Theme { theme }) => theme == want,
            (Expected::Transfer(want), EventKind::Transfer { target, .. }) => target == want,
            (Expected::Hangup(want), EventKind::Hangup { reason }) => reason == want,
            (Expected::Listen(want), EventKind::Listen { node })
            | (Expected::Record(want), EventKind::Record { node })
            | (Expected::Agent(want), EventKind::Agent { node, .. }) => node == want,
            (Expected::Speech(want), EventKind::Speech { text }) => text == want,
            (Expected::Stream(want), EventKind::Stream { url, .. }) => url == want,
            (Expected::Warn(want), EventKind::Warn { message, .. }) => {
                message.contains(want.as_str())
            }
            (Expected::Dtmf(want), EventKind::Dtmf { digit }) => digit == want,
            _ => false,
        }
    }
}

impl fmt::Display for Expectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (key, value) = match &self.what {
            Expected::Play(s) => ("play", s.clone()),
            Expected::Stop(s) => ("stop", s.clone()),
            Expected::Say(s) => ("say", format!("{s:?}")),
            Expected::SayContains(s) => ("say_contains", format!("{s:?}")),
            Expected::Http(h) => {
                let mut parts = Vec::new();
                if let Some(m) = &h.method {
                    parts.push(format!("method: {m}"));
                }
                if let Some(u) = &h.url {
                    parts.push(format!("url: {u}"));
                }
                if let Some(b) = &h.body {
                    parts.push(format!("body: {b}"));
                }
                ("http", format!("{{ {} }}", parts.join(", ")))
            }
            Expected::Theme(s) => ("theme", s.clone()),
            Expected::Transfer(s) => ("transfer", s.clone()),
            Expected::Hangup(s) => ("hangup", s.clone()),
            Expected::Listen(s) => ("listen", s.clone()),
            Expected::Speech(s) => ("speech", format!("{s:?}")),
            Expected::Record(s) => ("record", s.clone()),
            Expected::Agent(s) => ("agent", s.clone()),
            Expected::Stream(s) => ("stream", s.clone()),
            Expected::Warn(s) => ("warn", format!("{s:?}")),
            Expected::Dtmf(s) => ("dtmf", s.clone()),
        };
        write!(f, "{key}: {value}")
    }
}

/// `greeting.wav` matches `sound/bunny/greeting.wav` (a whole-component suffix); URLs and
/// spoken texts match exactly.
fn media_matches(want: &str, media: &MediaRef) -> bool {
    match media {
        MediaRef::File(path) => {
            path == want
                || path
                    .strip_suffix(want)
                    .is_some_and(|head| head.ends_with('/'))
        }
        MediaRef::Url(url) => url == want,
        MediaRef::Text(text) => text == want,
    }
}

/// Every field of `want` is in `actual` with a matching value (objects recursively; arrays and
/// scalars must be equal).
pub fn is_subset(want: &Value, actual: &Value) -> bool {
    match (want, actual) {
        (Value::Object(w), Value::Object(a)) => w
            .iter()
            .all(|(k, v)| a.get(k).is_some_and(|av| is_subset(v, av))),
        _ => want == actual,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(kind: EventKind) -> Event {
        Event { at_ms: 0, kind }
    }

    fn exp(v: Value) -> Expectation {
        Expectation::from_value(v).unwrap()
    }

    #[test]
    fn play_matches_a_whole_component_suffix() {
        let e = ev(EventKind::Play {
            node: "greet".into(),
            media: MediaRef::File("sound/bunny/greeting.wav".into()),
            duration_ms: 1,
        });
        assert!(exp(json!({"play": "greeting.wav"})).matches(&e));
        assert!(exp(json!({"play": "bunny/greeting.wav"})).matches(&e));
        assert!(!exp(json!({"play": "robot/greeting.wav"})).matches(&e));
        assert!(!exp(json!({"play": "eeting.wav"})).matches(&e));
        assert!(!exp(json!({"say": "greeting.wav"})).matches(&e));
    }

    #[test]
    fn http_is_a_subset_match() {
        let e = ev(EventKind::Http {
            node: "lookup".into(),
            method: "POST".into(),
            url: "https://crm/lookup".into(),
            body: Some(json!({"caller": "+1", "extra": [1]})),
        });
        assert!(exp(json!({"http": {"method": "post", "body": {"caller": "+1"}}})).matches(&e));
        assert!(exp(json!({"http": {"url": "https://crm/lookup"}})).matches(&e));
        assert!(!exp(json!({"http": {"body": {"caller": "+2"}}})).matches(&e));
        assert!(!exp(json!({"http": {"method": "GET"}})).matches(&e));
    }

    #[test]
    fn one_kind_per_expectation_and_within() {
        assert!(Expectation::from_value(json!({})).is_err());
        assert!(Expectation::from_value(json!({"play": "a", "say": "b"})).is_err());
        assert!(Expectation::from_value(json!({"play": "a", "within": "later"})).is_err());
        let e = exp(json!({"say_contains": "35", "within": "30s"}));
        assert_eq!(e.within(), Duration::from_secs(30));
        assert_eq!(e.to_string(), "say_contains: \"35\"");
    }
}
