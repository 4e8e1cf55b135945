//! Outbound calls over HTTP:
//!
//! | route | does |
//! |---|---|
//! | `POST /api/calls` | queues a job ([`CallRequest`] body), `201 {id, state, run_at}` |
//! | `GET /api/calls/{id}` | the job, its escalation chain, every attempt and its outcome |
//! | `DELETE /api/calls/{id}` | cancels a job still waiting (`409` once it is dialling or done) |
//! | `POST /api/calls/{id}/retry` | a new job with a failed or cancelled job's request ([`super::retry`]) |
//! | `GET /api/calls?status=…` | jobs, filtered (`status`, `number`, `since`, `until`), paged (`before`, `limit`, `next`) |
//! | `GET /api/calls?direction=inbound` | the register's calls in the same shape (see `/api/register`) |
//! | `POST /api/alertmanager` | Alertmanager webhook (v4): jobs created or cancelled, then `200` |
//!
//! `GET /api/calls` without parameters stays the list of live calls ([`super::status`]).
//! Every write is in the database before the answer, so a `201`/`200` means the job survives
//! a crash; the dialler is poked to look at the queue at once.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::Notify;

use super::{ApiError, HttpState};
use crate::alerts::payload::Notification;
use crate::alerts::plan::{plan, Planned};
use crate::alerts::rules::AlertRule;
use crate::config::outbound::OutboundConfig;
use crate::db::jobs::{JobState, NewJob};
use crate::db::outbound::JobFilter;
use crate::db::time::parse_time;
use crate::flow::program::{Mark, NodeKind, Program};
use crate::outbound::job::JobRequest;
use crate::outbound::plan::positions;
use crate::outbound::request::{CallRequest, Content, Until};
use crate::registry::Registry;

/// What the outbound routes need besides the database.
pub struct OutboundApi {
    pub cfg: OutboundConfig,
    pub rules: Vec<AlertRule>,
    pub registry: Arc<Registry>,
    /// Names an `account` may take (username, `username@registrar`, index).
    pub accounts: Vec<Vec<String>>,
    /// Pokes the dialler.
    pub wake: Arc<Notify>,
    /// Pokes the schedules' loop (a schedule was created).
    pub schedules_wake: Arc<Notify>,
}

pub(super) fn api(s: &HttpState) -> Result<&OutboundApi, ApiError> {
    s.outbound.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "outbound calls are not running",
        )
    })
}

pub(super) fn bad_request(problems: Value) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": "invalid request", "problems": problems})),
    )
        .into_response()
}

/// Whether a flow can set `mark` (an `ack` node of that kind).
fn can_mark(p: &Program, mark: Mark) -> bool {
    p.nodes
        .iter()
        .any(|n| matches!(&n.kind, NodeKind::Ack(a) if a.mark == mark || a.mark == Mark::Acknowledged && mark == Mark::Heard))
}

/// A call request checked against the running configuration (allow-list, accounts, flows),
/// or the answer refusing it (`400` listing every problem, `403` for a target not allowed).
pub(super) fn accept(
    api: &OutboundApi,
    value: &Value,
    now: i64,
) -> Result<CallRequest, Box<Response>> {
    let req = match CallRequest::parse(value, &api.cfg.defaults, now) {
        Ok(r) => r,
        Err(problems) => {
            return Err(Box::new(bad_request(
                serde_json::to_value(problems).unwrap_or_default(),
            )))
        }
    };
    let mut problems = Vec::new();
    for (i, to) in req.to.iter().enumerate() {
        if let Err(why) = api.cfg.allow.check(to) {
            return Err(Box::new(
                ApiError::new(StatusCode::FORBIDDEN, format!("to[{i}]: {why}")).into_response(),
            ));
        }
    }
    if let Some(account) = &req.account {
        if !api.accounts.iter().any(|names| names.contains(account)) {
            problems.push(
                json!({"field": "account", "message": format!("no account named `{account}`")}),
            );
        }
    }
    if let Content::Flow { flow } = &req.content {
        let program = api
            .registry
            .snapshot()
            .flows
            .iter()
            .filter_map(|e| e.program.clone())
            .find(|p| p.name == *flow);
        match (program, req.until) {
            (None, _) => problems.push(json!({"field": "flow", "message": format!("no flow named `{flow}` is loaded")})),
            (Some(p), Until::Acknowledged) if !can_mark(&p, Mark::Acknowledged) => problems.push(json!({
                "field": "until",
                "message": format!("flow `{flow}` has no `ack` node, so it can never be acknowledged")
            })),
            (Some(p), Until::Heard) if !can_mark(&p, Mark::Heard) => problems.push(json!({
                "field": "until",
                "message": format!("flow `{flow}` has no `ack` node, so it can never be heard")
            })),
            _ => {}
        }
    }
    if !problems.is_empty() {
        return Err(Box::new(bad_request(Value::Array(problems))));
    }
    Ok(req)
}

/// `POST /api/calls`.
pub async fn create(State(s): State<HttpState>, body: Bytes) -> Result<Response, ApiError> {
    let api = api(&s)?;
    let now = crate::db::now_ms();
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return Ok(bad_request(
                json!([{"field": "", "message": format!("not JSON: {e}")}]),
            ))
        }
    };
    let req = match accept(api, &value, now) {
        Ok(r) => r,
        Err(r) => return Ok(*r),
    };
    let key = value
        .get("idempotency_key")
        .and_then(Value::as_str)
        .map(str::to_string);
    let request = JobRequest::Call(req);
    let job = s
        .db()?
        .create_job(
            &NewJob {
                request: serde_json::to_value(&request).unwrap_or_default(),
                run_at_ms: request.run_at_ms(),
                max_attempts: request.max_attempts(),
                idempotency_key: key,
                schedule_id: None,
                alert_id: None,
            },
            now,
        )
        .await?;
    api.wake.notify_one();
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": job.id, "state": job.state, "run_at": job.run_at_ms})),
    )
        .into_response())
}

/// `GET /api/calls/{id}`.
pub async fn show(
    State(s): State<HttpState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let db = s.db()?;
    let job = db
        .get_job(&id)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no such job"))?;
    let attempts = db.job_attempts(&id).await?;
    let request: Option<JobRequest> = serde_json::from_value(job.request.clone()).ok();
    let chain = match &request {
        Some(JobRequest::Call(c)) => {
            let records: Vec<_> = attempts
                .iter()
                .map(|a| crate::outbound::plan::AttemptRecord {
                    contact: a.contact.clone(),
                    outcome: crate::outbound::plan::AttemptOutcome::parse(
                        a.outcome.as_deref().unwrap_or(""),
                    )
                    .unwrap_or(crate::outbound::plan::AttemptOutcome::Interrupted),
                    ended_ms: a.ended_ms.unwrap_or(0),
                })
                .collect();
            let at = positions(&c.to, &records);
            c.to.iter()
                .enumerate()
                .map(|(i, to)| {
                    let mine: Vec<u32> = attempts
                        .iter()
                        .zip(&at)
                        .filter(|(_, p)| **p == i)
                        .map(|(a, _)| a.attempt)
                        .collect();
                    json!({"position": i, "to": to, "attempts": mine})
                })
                .collect::<Vec<_>>()
        }
        _ => Vec::new(),
    };
    Ok(Json(json!({
        "job": job,
        "chain": chain,
        "attempts": attempts,
    })))
}

/// `DELETE /api/calls/{id}`.
pub async fn cancel(
    State(s): State<HttpState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let db = s.db()?;
    let job = db
        .get_job(&id)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no such job"))?;
    if db.cancel_job(&id, crate::db::now_ms()).await? {
        return Ok(Json(json!({"id": id, "state": "cancelled"})));
    }
    Err(ApiError::new(
        StatusCode::CONFLICT,
        format!(
            "the job is {}: only a queued job can be cancelled",
            job.state.as_str()
        ),
    ))
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    pub status: Option<String>,
    pub direction: Option<String>,
    pub number: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub before: Option<String>,
    pub limit: Option<u32>,
}

impl ListQuery {
    pub fn is_empty(&self) -> bool {
        self.status.is_none()
            && self.direction.is_none()
            && self.number.is_none()
            && self.since.is_none()
            && self.until.is_none()
            && self.before.is_none()
            && self.limit.is_none()
    }
}

/// `GET /api/calls`: the live calls without parameters, else jobs or the register.
pub async fn list_or_live(
    State(s): State<HttpState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    if q.is_empty() {
        return Ok(super::status::calls(State(s)).await);
    }
    list(&s, q).await
}

/// `GET /api/calls` with filters: jobs (outbound) or the register (`direction=inbound`).
pub async fn list(s: &HttpState, q: ListQuery) -> Result<Json<Value>, ApiError> {
    let now = crate::db::now_ms();
    let bad =
        |name: &str, e: String| ApiError::new(StatusCode::BAD_REQUEST, format!("{name}: {e}"));
    let time = |name: &str, v: &Option<String>| {
        v.as_deref()
            .filter(|t| !t.is_empty())
            .map(|t| parse_time(t, now).map_err(|e| bad(name, e)))
            .transpose()
    };
    let limit = q.limit.unwrap_or(50);
    if q.direction.as_deref() == Some("inbound") {
        let rq = super::register::ListQuery {
            direction: Some("inbound".into()),
            number: q.number.clone(),
            since: q.since.clone(),
            until: q.until.clone(),
            before: q.before.clone(),
            limit: q.limit,
            ..Default::default()
        };
        return super::register::list(State(s.clone()), Query(rq)).await;
    }
    if let Some(d) = q.direction.as_deref().filter(|d| *d != "outbound") {
        return Err(bad(
            "direction",
            format!("`{d}` is not inbound or outbound"),
        ));
    }
    let state = match q.status.as_deref().filter(|x| !x.is_empty()) {
        None => None,
        Some(st) => Some(JobState::parse(st).ok_or_else(|| {
            bad(
                "status",
                format!("`{st}` is not queued, running, done, failed or cancelled"),
            )
        })?),
    };
    let f = JobFilter {
        state,
        number: q.number.clone().filter(|n| !n.is_empty()),
        since_ms: time("since", &q.since)?,
        until_ms: time("until", &q.until)?,
        before_id: q.before.clone().filter(|b| !b.is_empty()),
        limit,
    };
    let page = s.db()?.list_jobs_filtered(&f).await?;
    Ok(Json(json!({"calls": page.jobs, "next": page.next})))
}

/// `POST /api/alertmanager`.
pub async fn alertmanager(
    State(s): State<HttpState>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let api = api(&s)?;
    let n = Notification::parse(&body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    let db = s.db()?;
    let now = crate::db::now_ms();
    let mut created = Vec::new();
    let mut cancelled = 0;
    let mut unrouted = Vec::new();
    // Jobs first (each idempotent by its key), the notification record last: a crash in
    // between is repaired by Alertmanager's resend, which finds the jobs already there.
    for step in plan(&n, &api.rules, &api.cfg.defaults, now) {
        match step {
            Planned::Enqueue {
                key,
                alert_id,
                rule,
                request,
            } => {
                let job = db
                    .create_job(
                        &NewJob {
                            request: serde_json::to_value(request.as_ref()).unwrap_or_default(),
                            run_at_ms: request.run_at_ms(),
                            max_attempts: request.max_attempts(),
                            idempotency_key: Some(key),
                            schedule_id: None,
                            alert_id: Some(alert_id),
                        },
                        now,
                    )
                    .await?;
                created.push(json!({"job": job.id, "rule": rule, "state": job.state}));
            }
            Planned::Cancel { alert_id } => {
                cancelled += db.cancel_alert_jobs(&alert_id, now).await?
            }
            Planned::Unrouted { fingerprint } => unrouted.push(fingerprint),
        }
    }
    let actions = json!({"jobs": created, "cancelled": cancelled, "unrouted": unrouted});
    let payload: Value = serde_json::from_slice(&body).unwrap_or_default();
    let stored = db
        .insert_alert(
            "alertmanager",
            Some(&n.group_key),
            n.status.as_str(),
            Some(&n.dedupe_key()),
            &payload,
            now,
        )
        .await?;
    let duplicate = stored.is_none();
    if let Some(a) = stored {
        db.set_alert_actions(&a.id, &actions).await?;
    }
    api.wake.notify_one();
    tracing::info!(
        status = n.status.as_str(),
        alerts = n.alerts.len(),
        duplicate,
        cancelled,
        "Alertmanager notification"
    );
    Ok(Json(json!({"duplicate": duplicate, "actions": actions})))
}
