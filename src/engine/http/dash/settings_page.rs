//! The settings page (`GET /settings`): the effective configuration from
//! `config::effective`: each setting, its value with secrets masked, and where it came from.
//! Read-only: the configuration changes with a restart (flows reload by themselves).

use axum::extract::State;
use axum::Extension;

use super::{render, PageResult, Viewer};
use crate::engine::http::HttpState;

pub async fn show(State(s): State<HttpState>, Extension(v): Extension<Viewer>) -> PageResult {
    render(
        "settings.html",
        ctx! {
            viewer => v, page => "settings", title => "Settings",
            settings => s.dash.settings.clone(),
        },
    )
}
