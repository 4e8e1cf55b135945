//! The calls pages: `GET /calls` (the register, newest first, with the filters of
//! `/api/register`: number, direction, flow, since, until; paged by `before`), `GET /calls/{id}`
//! (the record, its timeline, a transcript gathered from the timeline, variables, and a player
//! for each recording variable) and `GET /calls/{id}/recording/{var}` (the recording's file).
//!
//! A recording variable is one whose value is an object with a `path` (what `record` saves).
//! Its file is served only when it lies under the recordings folder (`DashState::recordings`,
//! after resolving links) and has an audio extension: a variable's value can come from a
//! webhook's answer, so a path in the database is never trusted on its own.

use std::path::{Path, PathBuf};

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Serialize;
use serde_json::Value;

use super::{render, PageError, PageResult, Viewer};
use crate::db::calls::{CallRecord, TimelineEvent};
use crate::engine::http::register::{filter, ListQuery};
use crate::engine::http::HttpState;

/// Calls per page.
const PAGE: u32 = 50;
/// The largest recording served (a longer file is a mistake, not a voicemail).
const MAX_RECORDING: u64 = 200 * 1024 * 1024;

/// The filter form's values, echoed back into it.
#[derive(Debug, Default, Serialize)]
struct FormValues {
    number: String,
    direction: String,
    flow: String,
    since: String,
    until: String,
}

pub async fn list(
    State(s): State<HttpState>,
    Extension(v): Extension<Viewer>,
    Query(q): Query<ListQuery>,
) -> PageResult {
    let form = FormValues {
        number: q.number.clone().unwrap_or_default(),
        direction: q.direction.clone().unwrap_or_default(),
        flow: q.flow.clone().unwrap_or_default(),
        since: q.since.clone().unwrap_or_default(),
        until: q.until.clone().unwrap_or_default(),
    };
    let flow_names: Vec<String> = s
        .status
        .registry
        .snapshot()
        .flows
        .iter()
        .filter_map(|e| e.program.as_ref().map(|p| p.name.clone()))
        .collect();
    let (calls, error, next) = match filter(&ListQuery {
        limit: Some(q.limit.unwrap_or(PAGE)),
        ..q.clone()
    }) {
        Err(e) => (Vec::new(), Some(e.message), None),
        Ok(f) => {
            let calls = s.db()?.list_calls(&f).await?;
            let next = (calls.len() == f.limit as usize)
                .then(|| calls.last().map(|c| next_query(&q, &c.id)))
                .flatten();
            (calls, None, next)
        }
    };
    render(
        "calls.html",
        ctx! {
            viewer => v, page => "calls", title => "Calls",
            q => form, flow_names, calls, error, next,
        },
    )
}

/// The query string of the next page: the same filters, `before` the last id shown.
fn next_query(q: &ListQuery, last: &str) -> String {
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    for (k, v) in [
        ("direction", &q.direction),
        ("number", &q.number),
        ("flow", &q.flow),
        ("since", &q.since),
        ("until", &q.until),
        ("job", &q.job),
    ] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            pairs.push((k, v));
        }
    }
    pairs.push(("before", last));
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Recording {
    pub var: String,
    pub path: String,
    pub duration_ms: Option<i64>,
    pub playable: bool,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Line {
    pub who: String,
    pub at: String,
    pub text: String,
}

#[derive(Debug, Serialize)]
struct Entry {
    at: String,
    kind: String,
    details: String,
}

#[derive(Debug, Serialize)]
struct Var {
    name: String,
    value: String,
}

/// Seconds from the answer, as the CLI prints them (`-0.003`, `2.104`).
fn at(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    format!("{sign}{}.{:03}", ms / 1000, ms % 1000)
}

/// The recording variables of a call.
pub fn recordings(c: &CallRecord, dir: &Path) -> Vec<Recording> {
    c.vars
        .iter()
        .filter_map(|(name, v)| {
            let path = v.get("path")?.as_str()?;
            Some(Recording {
                var: name.clone(),
                path: path.to_string(),
                duration_ms: v.get("duration_ms").and_then(Value::as_i64),
                playable: servable(dir, path).is_some(),
            })
        })
        .collect()
}

/// The file to serve for a recording `path`: under `dir` once links are resolved, a regular
/// file, with an audio extension. `None` otherwise.
pub fn servable(dir: &Path, path: &str) -> Option<PathBuf> {
    let p = Path::new(path);
    let ext = p.extension()?.to_str()?.to_ascii_lowercase();
    if !matches!(ext.as_str(), "wav" | "ogg" | "opus" | "mp3" | "flac") {
        return None;
    }
    let root = dir.canonicalize().ok()?;
    let real = p.canonicalize().ok()?;
    (real.starts_with(&root) && real.is_file()).then_some(real)
}

/// What was said on the call, in order: the caller's recognized speech, what phonetree said,
/// and any other event carrying a `text` or `transcript` (agents).
pub fn transcript(timeline: &[TimelineEvent]) -> Vec<Line> {
    timeline
        .iter()
        .filter_map(|e| {
            let text = e
                .data
                .get("text")
                .or_else(|| e.data.get("transcript"))?
                .as_str()?;
            let who = match e.kind.as_str() {
                "speech" => "caller".to_string(),
                "say" => "phonetree".to_string(),
                "warn" | "http" | "http_error" => return None,
                other => e
                    .data
                    .get("role")
                    .and_then(Value::as_str)
                    .unwrap_or(other)
                    .to_string(),
            };
            Some(Line {
                who,
                at: at(e.at_ms),
                text: text.to_string(),
            })
        })
        .collect()
}

pub async fn show(
    State(s): State<HttpState>,
    Extension(v): Extension<Viewer>,
    UrlPath(id): UrlPath<String>,
) -> PageResult {
    let db = s.db()?;
    let call = db
        .get_call(&id)
        .await?
        .ok_or_else(|| PageError::new(StatusCode::NOT_FOUND, "No call with this id."))?;
    let timeline = db.call_timeline(&id).await?;
    let entries: Vec<Entry> = timeline
        .iter()
        .map(|e| {
            let mut d = e.data.clone();
            if let Some(o) = d.as_object_mut() {
                o.remove("event");
            }
            Entry {
                at: at(e.at_ms),
                kind: e.kind.clone(),
                details: if d.as_object().is_some_and(|o| o.is_empty()) {
                    String::new()
                } else {
                    d.to_string()
                },
            }
        })
        .collect();
    let vars: Vec<Var> = call
        .vars
        .iter()
        .map(|(k, v)| Var {
            name: k.clone(),
            value: match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            },
        })
        .collect();
    render(
        "call.html",
        ctx! {
            viewer => v, page => "calls", title => format!("Call {id}"),
            recordings => recordings(&call, &s.dash.recordings),
            transcript => transcript(&timeline),
            timeline => entries, vars, call,
        },
    )
}

/// `GET /calls/{id}/recording/{var}`: the recording's bytes.
pub async fn recording(
    State(s): State<HttpState>,
    UrlPath((id, var)): UrlPath<(String, String)>,
) -> Result<Response, PageError> {
    let call = s
        .db()?
        .get_call(&id)
        .await?
        .ok_or_else(|| PageError::new(StatusCode::NOT_FOUND, "No call with this id."))?;
    let not_found = || PageError::new(StatusCode::NOT_FOUND, "No such recording.");
    let path = call
        .vars
        .get(&var)
        .and_then(|v| v.get("path"))
        .and_then(Value::as_str)
        .ok_or_else(not_found)?;
    let file = servable(&s.dash.recordings, path).ok_or_else(not_found)?;
    let len = tokio::fs::metadata(&file)
        .await
        .map_err(|_| not_found())?
        .len();
    if len > MAX_RECORDING {
        return Err(PageError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "The recording is too large to serve.",
        ));
    }
    let bytes = tokio::fs::read(&file).await.map_err(|_| not_found())?;
    let ctype = match file
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("wav") => "audio/wav",
        Some("ogg") | Some("opus") => "audio/ogg",
        Some("mp3") => "audio/mpeg",
        _ => "audio/flac",
    };
    Ok(([(header::CONTENT_TYPE, ctype)], bytes).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(seq: u32, at_ms: i64, data: Value) -> TimelineEvent {
        TimelineEvent {
            seq,
            at_ms,
            kind: data["event"].as_str().unwrap().to_string(),
            data,
        }
    }

    #[test]
    fn a_transcript_is_gathered_from_speech_say_and_agent_events() {
        let t = vec![
            ev(
                1,
                0,
                json!({"event": "say", "node": "ask", "text": "Say yes or no"}),
            ),
            ev(2, 2_500, json!({"event": "speech", "text": "yes please"})),
            ev(
                3,
                2_600,
                json!({"event": "warn", "node": "x", "message": "m", "text": "t"}),
            ),
            ev(
                4,
                3_000,
                json!({"event": "agent_transcript", "role": "agent", "text": "Hello"}),
            ),
            ev(5, 3_100, json!({"event": "dtmf", "digit": "1"})),
        ];
        let lines = transcript(&t);
        let who: Vec<&str> = lines.iter().map(|l| l.who.as_str()).collect();
        assert_eq!(who, ["phonetree", "caller", "agent"]);
        assert_eq!(lines[1].at, "2.500");
        assert_eq!(at(-3), "-0.003");
    }

    #[test]
    fn recordings_are_served_only_from_the_recordings_folder() {
        let dir = tempfile::tempdir().unwrap();
        let rec = dir.path().join("recordings");
        std::fs::create_dir(&rec).unwrap();
        std::fs::write(rec.join("m.wav"), b"RIFF").unwrap();
        std::fs::write(dir.path().join("secret.wav"), b"RIFF").unwrap();
        std::fs::write(rec.join("notes.txt"), b"x").unwrap();
        let inside = rec.join("m.wav");
        let outside = dir.path().join("secret.wav");
        let sneaky = rec.join("../secret.wav");
        assert!(servable(&rec, inside.to_str().unwrap()).is_some());
        assert!(servable(&rec, outside.to_str().unwrap()).is_none());
        assert!(servable(&rec, sneaky.to_str().unwrap()).is_none());
        assert!(servable(&rec, rec.join("notes.txt").to_str().unwrap()).is_none());
        assert!(servable(&rec, "/etc/passwd").is_none());
        let mut c = CallRecord::new(
            "c1".into(),
            "n",
            crate::db::calls::Direction::Inbound,
            "1",
            "2",
            0,
        );
        c.vars.insert(
            "message".into(),
            json!({"path": inside.to_str().unwrap(), "duration_ms": 4200}),
        );
        c.vars
            .insert("evil".into(), json!({"path": outside.to_str().unwrap()}));
        c.vars.insert("answer".into(), json!("yes"));
        let r = recordings(&c, &rec);
        assert_eq!(r.len(), 2);
        let by = |n: &str| r.iter().find(|x| x.var == n).unwrap();
        assert!(by("message").playable);
        assert_eq!(by("message").duration_ms, Some(4200));
        assert!(!by("evil").playable);
    }
}
