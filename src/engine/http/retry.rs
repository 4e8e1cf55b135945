//! Retrying a failed or cancelled outbound job: `POST /api/calls/{id}/retry`, and the
//! dashboard's retry button (`POST /outbound/{id}/retry`), which both go through [`retry_job`].
//!
//! A retry is a **new job**: the old one keeps its attempts and outcome (the record of what
//! happened); the new one has the same request, due now, its own attempts (the policy's full
//! `max_attempts` again) and `retry_of` naming the old job in its stored request (shown by
//! `GET /api/calls/{id}` and on its page). The answer is `201 {id, state, run_at, retry_of}`.
//!
//! - Only a `failed` or `cancelled` job is retried: `409` otherwise (a queued or running job
//!   is still trying; a done one reached its `until`).
//! - A job is retried once: its retry carries the idempotency key `retry-of:<id>`, so a second
//!   retry (a double click, a client resending) answers `200` with the retry already made. To
//!   try again after the retry failed, retry the retry.
//! - The request is checked again against the running configuration: a target that
//!   `outbound.allow` no longer admits is refused (`403`), a flow no longer loaded is `409`.
//! - An alert's job stays linked to its alert (its resolution cancels the retry too); a
//!   schedule's does not (the schedule did not create it).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::outbound::api;
use super::{ApiError, HttpState};
use crate::db::jobs::{Job, JobState, NewJob};
use crate::outbound::job::JobRequest;
use crate::outbound::request::Content;

/// The field of a stored request that names the job it retries.
pub const RETRY_OF: &str = "retry_of";

/// A retry made (`created`: now, rather than by an earlier retry of the same job).
#[derive(Debug)]
pub struct Retried {
    pub job: Job,
    pub created: bool,
}

/// Why a job was not retried.
#[derive(Debug)]
pub enum NotRetried {
    /// The job is not failed or cancelled (`409`).
    State(JobState),
    /// A target `outbound.allow` no longer admits (`403`).
    NotAllowed(String),
    /// The flow is not loaded, or the stored request is unreadable (`409`).
    Unusable(String),
    /// No such job, no database, outbound not running.
    Api(ApiError),
}

impl From<ApiError> for NotRetried {
    fn from(e: ApiError) -> NotRetried {
        NotRetried::Api(e)
    }
}

impl From<crate::db::DbError> for NotRetried {
    fn from(e: crate::db::DbError) -> NotRetried {
        NotRetried::Api(e.into())
    }
}

impl From<NotRetried> for ApiError {
    fn from(e: NotRetried) -> ApiError {
        match e {
            NotRetried::State(st) => ApiError::new(
                StatusCode::CONFLICT,
                format!(
                    "the job is {}: only a failed or cancelled job can be retried",
                    st.as_str()
                ),
            ),
            NotRetried::NotAllowed(why) => ApiError::new(StatusCode::FORBIDDEN, why),
            NotRetried::Unusable(why) => ApiError::new(StatusCode::CONFLICT, why),
            NotRetried::Api(e) => e,
        }
    }
}

/// Whether a job in `state` can be retried.
pub fn retryable(state: JobState) -> bool {
    matches!(state, JobState::Failed | JobState::Cancelled)
}

/// The request of a retry of `old` (stored as `old_request`), due at `now_ms`.
pub fn retry_request(old_request: &Value, now_ms: i64) -> Option<JobRequest> {
    let mut r: JobRequest = serde_json::from_value(old_request.clone()).ok()?;
    match &mut r {
        JobRequest::Call(c) => c.run_at_ms = now_ms,
        JobRequest::Sms(s) => s.run_at_ms = now_ms,
    }
    Some(r)
}

/// Makes (or finds) the retry of job `id` (see the module docs).
pub async fn retry_job(s: &HttpState, id: &str) -> Result<Retried, NotRetried> {
    let api = api(s)?;
    let db = s.db()?;
    let old = db
        .get_job(id)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no such job"))?;
    if !retryable(old.state) {
        return Err(NotRetried::State(old.state));
    }
    let now = crate::db::now_ms();
    let request = retry_request(&old.request, now).ok_or_else(|| {
        NotRetried::Unusable("the job's stored request cannot be read by this version".into())
    })?;
    if let JobRequest::Call(c) = &request {
        for (i, to) in c.to.iter().enumerate() {
            if let Err(why) = api.cfg.allow.check(to) {
                return Err(NotRetried::NotAllowed(format!("to[{i}]: {why}")));
            }
        }
        if let Content::Flow { flow } = &c.content {
            let loaded = api
                .registry
                .snapshot()
                .flows
                .iter()
                .any(|e| e.program.as_ref().is_some_and(|p| p.name == *flow));
            if !loaded {
                return Err(NotRetried::Unusable(format!(
                    "no flow named `{flow}` is loaded"
                )));
            }
        }
    }
    let mut stored = serde_json::to_value(&request).unwrap_or_default();
    if let Some(o) = stored.as_object_mut() {
        o.insert(RETRY_OF.into(), Value::String(old.id.clone()));
    }
    let job = db
        .create_job(
            &NewJob {
                request: stored,
                run_at_ms: now,
                max_attempts: request.max_attempts(),
                idempotency_key: Some(format!("retry-of:{}", old.id)),
                schedule_id: None,
                alert_id: old.alert_id.clone(),
            },
            now,
        )
        .await?;
    let created = job.created_ms >= now;
    if created {
        tracing::info!(job = %job.id, retry_of = %old.id, "outbound job retried");
        api.wake.notify_one();
    }
    Ok(Retried { job, created })
}

/// `POST /api/calls/{id}/retry`.
pub async fn retry(
    State(s): State<HttpState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let r = retry_job(&s, &id).await?;
    let status = if r.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(json!({"id": r.job.id, "state": r.job.state, "run_at": r.job.run_at_ms, "retry_of": id})),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_failed_and_cancelled_jobs_are_retried_and_the_retry_is_due_now() {
        let ok: Vec<JobState> = [
            JobState::Queued,
            JobState::Running,
            JobState::Done,
            JobState::Failed,
            JobState::Cancelled,
        ]
        .into_iter()
        .filter(|s| retryable(*s))
        .collect();
        assert_eq!(ok, [JobState::Failed, JobState::Cancelled]);
        let sms = json!({"type": "sms", "to": "+4930111", "text": "Disk full", "run_at_ms": 10,
            "retry": {"max_attempts": 3, "backoff_base_ms": 1000, "backoff_max_ms": 5000}});
        let r = retry_request(&sms, 777).unwrap();
        assert_eq!(r.run_at_ms(), 777);
        assert_eq!(r.max_attempts(), 3);
        assert!(retry_request(&json!({"type": "fax"}), 1).is_none());
    }
}
