//! Placing a call from the dashboard: the form on the outbound page posts to `POST /outbound`.
//!
//! The form is turned into the JSON of `POST /api/calls` and handed to that handler
//! (`http::outbound::create`), so a call placed here is checked exactly like one from the API
//! (the request's fields, `outbound.allow`, the account, the flow's `ack` node) and queued the
//! same way. A `201` goes to the new job's page; a refusal shows the outbound page again with
//! the form as it was filled in and every problem listed.
//!
//! Fields: `to` (one target per line; several are an escalation chain, called in order),
//! `message` or `flow`, `at` (the browser's `datetime-local`, read in `tz` or `outbound.tz`),
//! `tz`. Needs the admin role and the session's CSRF token (`check_form`).

use axum::body::Bytes;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::Extension;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::outbound_page::{list_page, JobsQuery};
use super::{check_form, PageResult, Viewer};
use crate::engine::http::HttpState;

/// The form as filled in (shown again when it is refused).
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub struct PlaceForm {
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub flow: String,
    #[serde(default)]
    pub at: String,
    #[serde(default)]
    pub tz: String,
    #[serde(default, skip_serializing)]
    pub csrf: Option<String>,
}

/// The names of the flows that are loaded (what the form's flow list offers).
pub fn loaded_flows(s: &HttpState) -> Vec<String> {
    let mut names: Vec<String> = s
        .status
        .registry
        .snapshot()
        .flows
        .iter()
        .filter_map(|e| e.program.as_ref().map(|p| p.name.clone()))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The `POST /api/calls` body for a filled-in form.
pub fn request_json(f: &PlaceForm) -> Value {
    let mut o = Map::new();
    let to: Vec<&str> =
        f.to.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
    o.insert(
        "to".into(),
        match to.as_slice() {
            [one] => json!(one),
            many => json!(many),
        },
    );
    let message = f.message.trim();
    if !message.is_empty() {
        o.insert("message".into(), json!(message));
    }
    let flow = f.flow.trim();
    if !flow.is_empty() {
        o.insert("flow".into(), json!(flow));
    }
    let at = f.at.trim();
    if !at.is_empty() {
        // `datetime-local` gives `2026-11-30T14:05` (no seconds).
        let at = if at.len() == 16 {
            format!("{at}:00")
        } else {
            at.to_string()
        };
        o.insert("at".into(), json!(at));
    }
    let tz = f.tz.trim();
    if !tz.is_empty() {
        o.insert("tz".into(), json!(tz));
    }
    Value::Object(o)
}

/// The problems of a refused request, one line each (`field: message`).
fn problems_of(answer: &Value) -> Vec<String> {
    let listed: Vec<String> = answer
        .get("problems")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|p| {
                    let message = p.get("message").and_then(Value::as_str).unwrap_or("");
                    match p.get("field").and_then(Value::as_str) {
                        Some(f) if !f.is_empty() => format!("{f}: {message}"),
                        _ => message.to_string(),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    if listed.is_empty() {
        let e = answer.get("error").and_then(Value::as_str);
        vec![e.unwrap_or("the call could not be placed").to_string()]
    } else {
        listed
    }
}

/// `POST /outbound`.
pub async fn place(
    State(s): State<HttpState>,
    Extension(v): Extension<Viewer>,
    Form(f): Form<PlaceForm>,
) -> PageResult {
    check_form(&v, f.csrf.as_deref())?;
    let body = Bytes::from(request_json(&f).to_string());
    let q = JobsQuery::default();
    let (status, answer) = match crate::engine::http::outbound::create(State(s.clone()), body).await
    {
        Ok(r) => {
            let status = r.status();
            let bytes = axum::body::to_bytes(r.into_body(), 1 << 20)
                .await
                .unwrap_or_default();
            (
                status,
                serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            )
        }
        Err(e) => (e.status, json!({ "error": e.message })),
    };
    if status == StatusCode::CREATED {
        if let Some(id) = answer.get("id").and_then(Value::as_str) {
            tracing::info!(job = %id, by = %v.name, "call placed from the dashboard");
            return Ok(Redirect::to(&format!("/outbound/{id}?notice=placed")).into_response());
        }
    }
    let mut page = list_page(&s, v, &q, &f, &problems_of(&answer)).await?;
    *page.status_mut() = if status.is_success() {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        status
    };
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_becomes_the_apis_request() {
        let f = PlaceForm {
            to: " +4930111 \r\n\r\nsip:oncall@pbx.example.com\n".into(),
            message: " Disk full ".into(),
            at: "2026-11-30T14:05".into(),
            tz: "Europe/Berlin".into(),
            ..PlaceForm::default()
        };
        assert_eq!(
            request_json(&f),
            json!({"to": ["+4930111", "sip:oncall@pbx.example.com"], "message": "Disk full",
                   "at": "2026-11-30T14:05:00", "tz": "Europe/Berlin"})
        );
        let one = PlaceForm {
            to: "+4930111".into(),
            flow: "menu".into(),
            ..PlaceForm::default()
        };
        assert_eq!(
            request_json(&one),
            json!({"to": "+4930111", "flow": "menu"})
        );
    }

    #[test]
    fn refusals_read_as_lines() {
        let a = json!({"error": "invalid request", "problems": [
            {"field": "to", "message": "empty"}, {"field": "", "message": "not JSON"}]});
        assert_eq!(problems_of(&a), ["to: empty", "not JSON"]);
        assert_eq!(
            problems_of(&json!({"error": "to[0]: not allowed"})),
            ["to[0]: not allowed"]
        );
        assert_eq!(problems_of(&Value::Null), ["the call could not be placed"]);
    }
}
