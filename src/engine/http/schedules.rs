//! Recurring schedules over HTTP (each run creates one outbound job, see
//! `outbound::scheduler`):
//!
//! | route | does |
//! |---|---|
//! | `POST /api/schedules` | `{name, cron, tz, request}` → `201 {id, name, cron, tz, next_run, next_run_ms}` |
//! | `GET /api/schedules` | `{schedules: [...]}` with each one's next and last run |
//! | `DELETE /api/schedules/{name}` | removes it (jobs it already created stay; cancel them at `/api/calls/{id}`) |
//!
//! `request` is a `POST /api/calls` body without `at` (each run's time is the occurrence),
//! checked now exactly as `POST /api/calls` checks it (allow-list, accounts, flows). `cron`
//! is five fields or six with seconds first; `tz` an IANA zone (default `outbound.tz`).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde_json::{json, Value};

use super::outbound::{accept, api, bad_request};
use super::{ApiError, HttpState};
use crate::db::ops::Schedule;
use crate::outbound::cron::Cron;
use crate::outbound::schedule::first_run;

/// Most schedules stored (the table an API client can grow).
pub const MAX_SCHEDULES: usize = 1000;
/// Longest name.
pub const MAX_NAME: usize = 64;

const FIELDS: &[&str] = &["name", "cron", "tz", "request"];

fn rfc3339(ms: Option<i64>) -> Value {
    ms.and_then(|m| Timestamp::from_millisecond(m).ok())
        .map_or(Value::Null, |t| Value::String(t.to_string()))
}

fn shown(s: &Schedule) -> Value {
    json!({
        "id": s.id,
        "name": s.name,
        "cron": s.cron,
        "tz": s.tz,
        "request": s.request,
        "enabled": s.enabled,
        "next_run": rfc3339(s.next_run_ms),
        "next_run_ms": s.next_run_ms,
        "last_run": rfc3339(s.last_run_ms),
        "last_run_ms": s.last_run_ms,
        "created_ms": s.created_ms,
    })
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= MAX_NAME
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// `POST /api/schedules`.
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
    let Some(obj) = value.as_object() else {
        return Ok(bad_request(
            json!([{"field": "", "message": "the body must be a JSON object"}]),
        ));
    };
    let mut problems = Vec::new();
    let mut problem = |field: &str, message: String| {
        problems.push(json!({"field": field, "message": message}));
    };
    for k in obj.keys().filter(|k| !FIELDS.contains(&k.as_str())) {
        problem(
            k,
            format!("unknown field (expected one of {})", FIELDS.join(", ")),
        );
    }
    let name = obj.get("name").and_then(Value::as_str).unwrap_or_default();
    if !valid_name(name) {
        problem(
            "name",
            format!("expected 1 to {MAX_NAME} letters, digits, `.`, `_` or `-`"),
        );
    }
    let cron = match obj.get("cron").and_then(Value::as_str) {
        Some(c) => Cron::parse(c)
            .map_err(|e| problem("cron", e.to_string()))
            .ok(),
        None => {
            problem(
                "cron",
                "required: a cron expression such as `0 9 * * mon-fri`".into(),
            );
            None
        }
    };
    let tz = match obj.get("tz") {
        None | Some(Value::Null) => match api.cfg.defaults.tz.iana_name() {
            Some(n) => Some((n.to_string(), api.cfg.defaults.tz.clone())),
            None => {
                problem(
                    "tz",
                    "required (outbound.tz names no zone): an IANA name such as Europe/Berlin"
                        .into(),
                );
                None
            }
        },
        Some(Value::String(n)) => match TimeZone::get(n) {
            Ok(z) => Some((n.clone(), z)),
            Err(_) => {
                problem(
                    "tz",
                    format!("unknown time zone `{n}` (an IANA name such as Europe/Berlin)"),
                );
                None
            }
        },
        Some(_) => {
            problem("tz", "expected a string".into());
            None
        }
    };
    let request = obj.get("request").cloned().unwrap_or(Value::Null);
    if !request.is_object() {
        problem(
            "request",
            "required: a POST /api/calls body (to, message or flow, …)".into(),
        );
    } else if request.get("at").is_some() {
        problem(
            "request.at",
            "a schedule's runs are its cron times; leave `at` out".into(),
        );
    }
    if !problems.is_empty() {
        return Ok(bad_request(Value::Array(problems)));
    }
    if let Err(r) = accept(api, &request, now) {
        return Ok(*r);
    }
    let (Some(cron), Some((tz_name, tz))) = (cron, tz) else {
        return Ok(bad_request(Value::Array(vec![])));
    };
    let db = s.db()?;
    let existing = db.list_schedules().await?;
    if existing.iter().any(|x| x.name == name) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("a schedule named `{name}` exists; delete it first"),
        ));
    }
    if existing.len() >= MAX_SCHEDULES {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("{MAX_SCHEDULES} schedules exist already"),
        ));
    }
    let next = first_run(&cron, &tz, now);
    let id = db
        .create_schedule(name, &cron.to_string(), &tz_name, &request, next, now)
        .await?;
    api.schedules_wake.notify_one();
    tracing::info!(schedule = %name, cron = %cron, tz = %tz_name, "schedule created");
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": id,
            "name": name,
            "cron": cron.to_string(),
            "tz": tz_name,
            "next_run": rfc3339(next),
            "next_run_ms": next,
        })),
    )
        .into_response())
}

/// `GET /api/schedules`.
pub async fn list(State(s): State<HttpState>) -> Result<Json<Value>, ApiError> {
    let rows = s.db()?.list_schedules().await?;
    Ok(Json(
        json!({"schedules": rows.iter().map(shown).collect::<Vec<_>>()}),
    ))
}

/// `DELETE /api/schedules/{name}`.
pub async fn delete(
    State(s): State<HttpState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if s.db()?.delete_schedule(&name).await? {
        tracing::info!(schedule = %name, "schedule deleted");
        return Ok(Json(json!({"name": name, "deleted": true})));
    }
    Err(ApiError::new(StatusCode::NOT_FOUND, "no such schedule"))
}
