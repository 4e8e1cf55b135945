//! The logs page: `GET /logs?level=info` shows the tail's recent lines at that level or above
//! (`engine::logtail`), and `GET /logs/events?level=info` streams new ones over SSE: one `log`
//! event per line (the line's JSON, as `--log-format json` writes it), a `skipped` event with a
//! count when the page fell behind the bounded channel.

use std::convert::Infallible;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use futures_util::stream::{self, Stream};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;

use super::{render, PageError, PageResult, Viewer};
use crate::engine::http::HttpState;
use crate::engine::logtail::{LogLine, Severity};

#[derive(Debug, Default, Deserialize)]
pub struct LevelQuery {
    pub level: Option<String>,
}

fn level_of(q: &LevelQuery) -> Severity {
    q.level
        .as_deref()
        .and_then(Severity::parse)
        .unwrap_or(Severity::Info)
}

/// One line as the page's table shows it.
#[derive(Debug, Serialize, PartialEq)]
pub struct Shown {
    pub time: String,
    pub level: &'static str,
    pub message: String,
    /// Every other field, as compact JSON.
    pub fields: String,
}

/// A tail line split for the table (a line that is not JSON shows whole as the message). The
/// other fields keep their order (`shift_remove`: serde_json keeps insertion order here).
pub fn shown(l: &LogLine) -> Shown {
    let Ok(Value::Object(mut o)) = serde_json::from_str::<Value>(&l.json) else {
        return Shown {
            time: String::new(),
            level: l.severity.as_str(),
            message: l.json.clone(),
            fields: String::new(),
        };
    };
    let time = o
        .shift_remove("timestamp")
        .and_then(|t| t.as_str().map(str::to_string))
        .unwrap_or_default();
    // 2025-11-30T09:12:31.412345Z → 2025-11-30 09:12:31Z
    let time = match time.split_once('.') {
        Some((head, _)) => format!("{}Z", head.replacen('T', " ", 1)),
        None => time.replacen('T', " ", 1),
    };
    o.shift_remove("level");
    let message = o
        .shift_remove("message")
        .and_then(|m| m.as_str().map(str::to_string))
        .unwrap_or_default();
    Shown {
        time,
        level: l.severity.as_str(),
        message,
        fields: if o.is_empty() {
            String::new()
        } else {
            Value::Object(o).to_string()
        },
    }
}

pub async fn page(
    State(s): State<HttpState>,
    Extension(v): Extension<Viewer>,
    Query(q): Query<LevelQuery>,
) -> PageResult {
    let level = level_of(&q);
    let lines: Vec<Shown> = s.dash.logs.recent(level).iter().map(|l| shown(l)).collect();
    let levels: Vec<&str> = Severity::ALL.iter().map(|l| l.as_str()).collect();
    render(
        "logs.html",
        ctx! {
            viewer => v, page => "logs", title => "Logs",
            level => level.as_str(), levels, lines, live => true,
        },
    )
}

/// `GET /logs/events`: SSE of new lines at the level asked or above.
pub async fn events(State(s): State<HttpState>, Query(q): Query<LevelQuery>) -> Response {
    let Ok(permit) = s.dash.streams.clone().try_acquire_owned() else {
        return PageError::new(StatusCode::SERVICE_UNAVAILABLE, "too many live pages open")
            .into_response();
    };
    let rx = s.dash.logs.subscribe();
    Sse::new(log_stream(rx, level_of(&q), permit))
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn log_stream(
    rx: tokio::sync::broadcast::Receiver<std::sync::Arc<LogLine>>,
    min: Severity,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold((rx, permit), move |(mut rx, permit)| async move {
        loop {
            match rx.recv().await {
                Ok(line) if line.severity >= min => {
                    let ev = Event::default()
                        .event("log")
                        .id(line.seq.to_string())
                        .data(line.json.clone());
                    return Some((Ok(ev), (rx, permit)));
                }
                Ok(_) => {}
                Err(RecvError::Lagged(n)) => {
                    let ev = Event::default().event("skipped").data(n.to_string());
                    return Some((Ok(ev), (rx, permit)));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use std::sync::Arc;

    use crate::engine::logtail::LogTail;

    #[test]
    fn a_json_line_is_split_into_time_level_message_and_fields() {
        let l = LogLine {
            seq: 1,
            severity: Severity::Warn,
            json: r#"{"timestamp":"2025-11-30T09:12:31.412345Z","level":"WARN","message":"webhook failed","status":503,"target":"phonetree::engine"}"#.into(),
        };
        let s = shown(&l);
        assert_eq!(s.time, "2025-11-30 09:12:31Z");
        assert_eq!(s.level, "warn");
        assert_eq!(s.message, "webhook failed");
        assert_eq!(s.fields, r#"{"status":503,"target":"phonetree::engine"}"#);
        let raw = shown(&LogLine {
            seq: 2,
            severity: Severity::Info,
            json: "not json".into(),
        });
        assert_eq!(raw.message, "not json");
    }

    #[tokio::test]
    async fn the_stream_filters_by_level_and_reports_skipped_lines() {
        let tail = Arc::new(LogTail::default());
        let sem = Arc::new(tokio::sync::Semaphore::new(1));
        let permit = sem.clone().try_acquire_owned().unwrap();
        let mut st = Box::pin(log_stream(tail.subscribe(), Severity::Warn, permit));
        tail.push(Severity::Info, r#"{"message":"quiet"}"#);
        tail.push(Severity::Error, r#"{"message":"loud"}"#);
        let first = st.next().await.unwrap().unwrap();
        let text = format!("{first:?}");
        assert!(text.contains("loud") && !text.contains("quiet"), "{text}");
        assert_eq!(sem.available_permits(), 0, "the stream holds its permit");
        for _ in 0..2000 {
            tail.push(Severity::Error, r#"{"message":"flood"}"#);
        }
        let next = format!("{:?}", st.next().await.unwrap().unwrap());
        assert!(next.contains("skipped"), "{next}");
        drop(st);
        assert_eq!(
            sem.available_permits(),
            1,
            "a closed stream gives its permit back"
        );
    }
}
