//! `GET /api/cluster` (behind the API's auth): every node sharing the database, with its
//! version, flow versions and liveness, every live call on every node, and the flows the live
//! nodes disagree on ([`crate::engine::cluster`]). 503 while the database is unreachable.

use axum::extract::State;
use axum::Json;

use super::{ApiError, HttpState};
use crate::engine::cluster::{self, ClusterView};

/// The cluster as this node sees it now.
pub async fn cluster_view(s: &HttpState) -> Result<ClusterView, ApiError> {
    let rows =
        s.db()?.heartbeats().await.map_err(|e| {
            ApiError::new(axum::http::StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        })?;
    let me = s.dash.node_id.clone();
    let mine = cluster::own_calls(&me, &s.status.calls.snapshot());
    Ok(cluster::view(&rows, &me, mine, crate::db::now_ms()))
}

pub async fn show(State(s): State<HttpState>) -> Result<Json<ClusterView>, ApiError> {
    cluster_view(&s).await.map(Json)
}
