//! The call register over HTTP: `GET /api/register` (filters `direction`, `number`, `flow`,
//! `since`, `until`, `job`, `before`, `limit`; newest first; `next` is the cursor for the next
//! page) and `GET /api/register/{id}` (the record and its timeline). 503 while the database
//! is unreachable.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{ApiError, HttpState};
use crate::db::calls::{CallFilter, Direction, MAX_PAGE};
use crate::db::time::parse_time;

/// Default page size.
const PAGE: u32 = 50;

#[derive(Debug, Default, Clone, Deserialize)]
pub struct ListQuery {
    pub direction: Option<String>,
    pub number: Option<String>,
    pub flow: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub job: Option<String>,
    pub before: Option<String>,
    pub limit: Option<u32>,
}

/// The filter a query asks for, or a 400 naming the bad parameter.
pub(crate) fn filter(q: &ListQuery) -> Result<CallFilter, ApiError> {
    let now = crate::db::now_ms();
    let bad =
        |name: &str, e: String| ApiError::new(StatusCode::BAD_REQUEST, format!("{name}: {e}"));
    let time = |name: &str, v: &Option<String>| {
        v.as_deref()
            .map(|t| parse_time(t, now).map_err(|e| bad(name, e)))
            .transpose()
    };
    let direction = match q.direction.as_deref().filter(|d| !d.is_empty()) {
        None => None,
        Some(d) => Some(
            Direction::parse(d)
                .ok_or_else(|| bad("direction", format!("`{d}` is not inbound or outbound")))?,
        ),
    };
    let nonempty = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    Ok(CallFilter {
        direction,
        number: nonempty(&q.number),
        flow: nonempty(&q.flow),
        since_ms: time("since", &q.since)?,
        until_ms: time("until", &q.until)?,
        before_id: nonempty(&q.before),
        job_id: nonempty(&q.job),
        limit: q.limit.unwrap_or(PAGE).clamp(1, MAX_PAGE),
    })
}

pub async fn list(
    State(s): State<HttpState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let f = filter(&q)?;
    let calls = s.db()?.list_calls(&f).await?;
    let next = (calls.len() == f.limit as usize)
        .then(|| calls.last().map(|c| c.id.clone()))
        .flatten();
    Ok(Json(json!({ "calls": calls, "next": next })))
}

pub async fn show(
    State(s): State<HttpState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let db = s.db()?;
    let call = db
        .get_call(&id)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no such call"))?;
    let timeline = db.call_timeline(&id).await?;
    Ok(Json(json!({ "call": call, "timeline": timeline })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_become_filters_or_name_the_bad_parameter() {
        let f = filter(&ListQuery {
            direction: Some("outbound".into()),
            number: Some("".into()),
            since: Some("2025-01-02".into()),
            limit: Some(5000),
            ..ListQuery::default()
        })
        .unwrap();
        assert_eq!(f.direction, Some(Direction::Outbound));
        assert_eq!(f.number, None);
        assert_eq!(f.since_ms, Some(1_735_776_000_000));
        assert_eq!(f.limit, MAX_PAGE);
        let r = filter(&ListQuery {
            since: Some("soon".into()),
            ..ListQuery::default()
        })
        .unwrap_err();
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
    }
}
