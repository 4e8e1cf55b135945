//! The outbound pages and the alerts page.
//!
//! - `GET /outbound`: the job queue (newest first, by state, with the count in each state),
//!   each job's target, what it plays, attempts, next run and outcome; a cancel button on queued
//!   jobs. `GET /outbound/{id}`: one job, every attempt (contact, outcome, SIP status, the
//!   attempt's call) and the request as stored. `POST /outbound/{id}/cancel` cancels a queued
//!   job (`Db::cancel_job`; a running or finished job is left alone and the page says so).
//!   `POST /outbound/{id}/retry` (a button on failed and cancelled jobs) makes a new job with
//!   the same request through the API's `http::retry::retry_job` and goes to its page; a job
//!   that cannot be retried stays on its page with the reason.
//! - `GET /alerts`: the notifications received (`alert_notifications`), the alerts in each
//!   and what they triggered (jobs link to their page).
//!
//! The job request is the outbound API's JSON; this page reads it loosely (`to`, `content.flow`
//! or `content.text`, or the request fields `flow`/`message`), so a field it does not know is
//! shown in the request block rather than breaking the page.

use axum::extract::{Form, Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::Extension;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::place::{loaded_flows, PlaceForm};
use super::{check_form, render, PageError, PageResult, Viewer};
use crate::db::jobs::{Job, JobState};
use crate::engine::http::retry::{retry_job, NotRetried};
use crate::engine::http::HttpState;

/// Jobs per page.
const PAGE: u32 = 50;
/// Alert notifications shown.
const ALERTS: u32 = 200;

#[derive(Debug, Default, Deserialize)]
pub struct JobsQuery {
    pub state: Option<String>,
    pub before: Option<String>,
    pub notice: Option<String>,
}

#[derive(Debug, Serialize)]
struct JobRow {
    id: String,
    to: String,
    what: String,
    state: &'static str,
    attempts: u32,
    max_attempts: u32,
    run_at_ms: i64,
    outcome: Option<String>,
    acknowledged_ms: Option<i64>,
    heard_ms: Option<i64>,
}

fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

/// The contacts of a job request, joined.
pub fn targets(req: &Value) -> String {
    match req.get("to") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" → "),
        _ => String::new(),
    }
}

/// What a job plays: `flow NAME` or `message "…"`.
pub fn what(req: &Value) -> String {
    let c = req.get("content").unwrap_or(req);
    if let Some(f) = c.get("flow").and_then(Value::as_str) {
        return format!("flow {f}");
    }
    if let Some(t) = c
        .get("text")
        .or_else(|| c.get("message"))
        .and_then(Value::as_str)
    {
        return format!("message “{}”", cut(t, 60));
    }
    if let Some(t) = req
        .get("sms")
        .or_else(|| req.get("body"))
        .and_then(Value::as_str)
    {
        return format!("SMS “{}”", cut(t, 60));
    }
    String::new()
}

fn job_row(j: &Job) -> JobRow {
    JobRow {
        id: j.id.clone(),
        to: targets(&j.request),
        what: what(&j.request),
        state: j.state.as_str(),
        attempts: j.attempts,
        max_attempts: j.max_attempts,
        run_at_ms: j.run_at_ms,
        outcome: j.outcome.clone(),
        acknowledged_ms: j.acknowledged_ms,
        heard_ms: j.heard_ms,
    }
}

#[derive(Debug, Serialize)]
struct Count {
    state: &'static str,
    n: u64,
}

const STATES: [JobState; 5] = [
    JobState::Queued,
    JobState::Running,
    JobState::Done,
    JobState::Failed,
    JobState::Cancelled,
];

fn notice_text(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "cancelled" => "The job was cancelled.",
        "placed" => "The call is queued: it is dialled at its time (reload to follow it).",
        "not_cancelled" => {
            "The job was not cancelled: it is no longer queued (it is dialling or finished)."
        }
        "retried" => "This job retries the one it names: it is dialled now.",
        "not_retried" => {
            "The job was not retried: only a failed or cancelled job can be (see its state)."
        }
        "retry_refused" => {
            "The job was not retried: its target is no longer allowed (outbound.allow) or its flow is not loaded."
        }
        _ => return None,
    })
}

pub async fn list(
    State(s): State<HttpState>,
    Extension(v): Extension<Viewer>,
    Query(q): Query<JobsQuery>,
) -> PageResult {
    list_page(&s, v, &q, &PlaceForm::default(), &[]).await
}

/// The queue page, with the place-a-call form holding `form` and its `problems` (if any).
pub async fn list_page(
    s: &HttpState,
    v: Viewer,
    q: &JobsQuery,
    form: &PlaceForm,
    problems: &[String],
) -> PageResult {
    let db = s.db()?;
    let state = q.state.as_deref().filter(|x| !x.is_empty());
    let filter = match state {
        None => None,
        Some(x) => Some(JobState::parse(x).ok_or_else(|| {
            PageError::new(
                StatusCode::BAD_REQUEST,
                &format!("Unknown job state `{x}`."),
            )
        })?),
    };
    let jobs = db
        .list_jobs(filter, q.before.as_deref().filter(|b| !b.is_empty()), PAGE)
        .await?;
    let mut counts = Vec::new();
    for st in STATES {
        counts.push(Count {
            state: st.as_str(),
            n: db.count_jobs(st).await?,
        });
    }
    let next = (jobs.len() == PAGE as usize)
        .then(|| jobs.last())
        .flatten()
        .map(|j| {
            let mut p = vec![("before", j.id.as_str())];
            if let Some(st) = state {
                p.push(("state", st));
            }
            serde_urlencoded::to_string(p).unwrap_or_default()
        });
    let rows: Vec<JobRow> = jobs.iter().map(job_row).collect();
    render(
        "outbound.html",
        ctx! {
            viewer => v, page => "outbound", title => "Outbound",
            jobs => rows, counts, state => state.unwrap_or(""), next,
            notice => notice_text(q.notice.as_deref()),
            form, problems, flows => loaded_flows(s),
        },
    )
}

pub async fn show(
    State(s): State<HttpState>,
    Extension(v): Extension<Viewer>,
    UrlPath(id): UrlPath<String>,
    Query(q): Query<JobsQuery>,
) -> PageResult {
    let db = s.db()?;
    let job = db
        .get_job(&id)
        .await?
        .ok_or_else(|| PageError::new(StatusCode::NOT_FOUND, "No job with this id."))?;
    let attempts = db.job_attempts(&id).await?;
    let request = serde_json::to_string_pretty(&job.request).unwrap_or_default();
    render(
        "job.html",
        ctx! {
            viewer => v, page => "outbound", title => format!("Job {id}"),
            job, attempts, request, notice => notice_text(q.notice.as_deref()),
        },
    )
}

/// A form that only carries the CSRF token.
#[derive(Debug, Default, Deserialize)]
pub struct CsrfForm {
    pub csrf: Option<String>,
}

pub async fn cancel(
    State(s): State<HttpState>,
    Extension(v): Extension<Viewer>,
    UrlPath(id): UrlPath<String>,
    Form(f): Form<CsrfForm>,
) -> PageResult {
    check_form(&v, f.csrf.as_deref())?;
    let db = s.db()?;
    let done = db.cancel_job(&id, crate::db::now_ms()).await?;
    if done {
        tracing::info!(job = %id, by = %v.name, "job cancelled from the dashboard");
    }
    let notice = if done { "cancelled" } else { "not_cancelled" };
    Ok(Redirect::to(&format!("/outbound/{id}?notice={notice}")).into_response())
}

/// `POST /outbound/{id}/retry`.
pub async fn retry(
    State(s): State<HttpState>,
    Extension(v): Extension<Viewer>,
    UrlPath(id): UrlPath<String>,
    Form(f): Form<CsrfForm>,
) -> PageResult {
    check_form(&v, f.csrf.as_deref())?;
    match retry_job(&s, &id).await {
        Ok(r) => {
            tracing::info!(job = %id, retry = %r.job.id, by = %v.name, "job retried from the dashboard");
            Ok(Redirect::to(&format!("/outbound/{}?notice=retried", r.job.id)).into_response())
        }
        Err(NotRetried::State(_)) => {
            Ok(Redirect::to(&format!("/outbound/{id}?notice=not_retried")).into_response())
        }
        Err(NotRetried::NotAllowed(why) | NotRetried::Unusable(why)) => {
            tracing::info!(job = %id, why = %why, "dashboard retry refused");
            Ok(Redirect::to(&format!("/outbound/{id}?notice=retry_refused")).into_response())
        }
        Err(NotRetried::Api(e)) => Err(PageError::new(e.status, &e.message)),
    }
}

#[derive(Debug, Serialize)]
struct AlertName {
    name: String,
    summary: Option<String>,
}

#[derive(Debug, Serialize)]
struct AlertRow {
    id: String,
    received_ms: i64,
    source: String,
    status: String,
    group_key: Option<String>,
    names: Vec<AlertName>,
    jobs: Vec<String>,
    other: Vec<String>,
}

/// The alerts in a notification: `alertname` and the summary (or description).
fn alert_names(payload: &Value) -> Vec<AlertName> {
    payload
        .get("alerts")
        .and_then(Value::as_array)
        .map(|alerts| {
            alerts
                .iter()
                .take(20)
                .map(|a| AlertName {
                    name: a
                        .pointer("/labels/alertname")
                        .and_then(Value::as_str)
                        .unwrap_or("(unnamed)")
                        .to_string(),
                    summary: a
                        .pointer("/annotations/summary")
                        .or_else(|| a.pointer("/annotations/description"))
                        .and_then(Value::as_str)
                        .map(|s| cut(s, 120)),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// What a notification triggered: job ids (linked), and anything else as text.
fn actions(a: &Value) -> (Vec<String>, Vec<String>) {
    let mut jobs = Vec::new();
    let mut other = Vec::new();
    let mut visit = |v: &Value| match v {
        Value::String(s) => other.push(s.clone()),
        Value::Object(o) => {
            if let Some(id) = o
                .get("job")
                .or_else(|| o.get("job_id"))
                .and_then(Value::as_str)
            {
                jobs.push(id.to_string());
            } else {
                other.push(Value::Object(o.clone()).to_string());
            }
        }
        Value::Null => {}
        x => other.push(x.to_string()),
    };
    match a {
        Value::Array(items) => items.iter().for_each(&mut visit),
        Value::Object(o) => {
            if let Some(ids) = o.get("jobs").and_then(Value::as_array) {
                jobs.extend(ids.iter().filter_map(Value::as_str).map(str::to_string));
            }
            for (k, v) in o.iter().filter(|(k, _)| *k != "jobs") {
                other.push(format!(
                    "{k}: {}",
                    v.as_str().map_or_else(|| v.to_string(), str::to_string)
                ));
            }
        }
        x => visit(x),
    }
    (jobs, other)
}

pub async fn alerts(State(s): State<HttpState>, Extension(v): Extension<Viewer>) -> PageResult {
    let list = s.db()?.list_alerts(ALERTS).await?;
    let rows: Vec<AlertRow> = list
        .into_iter()
        .map(|a| {
            let (jobs, other) = actions(&a.actions);
            AlertRow {
                names: alert_names(&a.payload),
                id: a.id,
                received_ms: a.received_ms,
                source: a.source,
                status: a.status,
                group_key: a.group_key,
                jobs,
                other,
            }
        })
        .collect();
    render(
        "alerts.html",
        ctx! { viewer => v, page => "alerts", title => "Alerts", alerts => rows },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn job_requests_are_read_loosely() {
        let api = json!({"to": ["+4930111", "+4930222"], "content": {"kind": "message",
            "text": "Disk full on db1", "ack_key": "1", "repeat": 2}});
        assert_eq!(targets(&api), "+4930111 → +4930222");
        assert_eq!(what(&api), "message “Disk full on db1”");
        let raw = json!({"to": "1001", "flow": "reminder"});
        assert_eq!(
            (targets(&raw), what(&raw)),
            ("1001".into(), "flow reminder".into())
        );
        assert_eq!(what(&json!({})), "");
    }

    #[test]
    fn alert_actions_name_their_jobs() {
        let (jobs, other) = actions(&json!({"jobs": ["J1", "J2"], "sms": "sent"}));
        assert_eq!(jobs, ["J1", "J2"]);
        assert_eq!(other, ["sms: sent"]);
        let (jobs, other) = actions(&json!([{"job": "J3"}, "deduplicated"]));
        assert_eq!(
            (jobs, other),
            (vec!["J3".to_string()], vec!["deduplicated".to_string()])
        );
        let names = alert_names(&json!({"alerts": [{"labels": {"alertname": "DiskFull"},
            "annotations": {"summary": "db1 is full"}}]}));
        assert_eq!(names[0].name, "DiskFull");
        assert_eq!(names[0].summary.as_deref(), Some("db1 is full"));
    }
}
