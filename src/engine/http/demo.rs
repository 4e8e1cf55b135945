//! `POST /demo/crm/lookup`: the demo flows' built-in CRM (the answers are
//! [`crate::engine::demo_crm`]'s). Open without a token: the demo flow's webhook calls it from
//! this process and sends none, and it returns made-up data only. The body is read up to
//! [`demo_crm::MAX_BODY`]; anything larger or unreadable gets 400.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::engine::demo_crm;

pub async fn lookup(body: Body) -> Response {
    let Ok(bytes) = axum::body::to_bytes(body, demo_crm::MAX_BODY).await else {
        return bad("body too large");
    };
    match demo_crm::lookup(&bytes) {
        Some(account) => Json(account).into_response(),
        None => bad("send a JSON object with `caller`"),
    }
}

fn bad(msg: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": msg }))).into_response()
}
