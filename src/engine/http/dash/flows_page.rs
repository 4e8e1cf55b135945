//! The flows pages: `GET /flows` (every file in the flows folder: name, version, when it was
//! loaded, the numbers that route to it, how many problems) and `GET /flows/{file}` (its
//! diagnostics as `validate` reports them, its graph as an SVG drawn by `graph::to_svg`, every
//! edge as a table for screen readers, and the Mermaid source to paste elsewhere).
//!
//! "Numbers" are the flow's `routes`, the accounts whose `flow` names it, and "any other number"
//! for the default flow. A flow whose file has errors shows its diagnostics; its graph is the
//! last good version's while one is running.

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::Extension;
use serde::Serialize;

use super::{render, unix_ms, PageError, PageResult, Viewer};
use crate::engine::http::HttpState;
use crate::flow::program::Program;
use crate::graph::{End, Graph};
use crate::registry::FlowEntry;

#[derive(Debug, Serialize)]
struct Row {
    file: String,
    name: String,
    version: Option<String>,
    loaded_ms: Option<i64>,
    numbers: Vec<String>,
    errors: usize,
    warnings: usize,
}

#[derive(Debug, Serialize)]
struct Diag {
    severity: &'static str,
    code: &'static str,
    file: String,
    line: usize,
    col: usize,
    message: String,
    hint: Option<String>,
}

#[derive(Debug, Serialize)]
struct EdgeRow {
    from: String,
    label: String,
    to: String,
}

fn file_name(e: &FlowEntry) -> String {
    e.path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The numbers (and accounts) that reach a flow.
fn numbers(p: &Program, accounts: &[(String, Option<String>)]) -> Vec<String> {
    let mut out: Vec<String> = p.routes.clone();
    for (account, flow) in accounts {
        if flow.as_deref() == Some(p.name.as_str()) {
            out.push(format!("calls to {account}"));
        }
    }
    if p.default {
        out.push("any other number (default)".into());
    }
    out
}

fn row(e: &FlowEntry, accounts: &[(String, Option<String>)]) -> Row {
    let p = e.program.as_deref();
    let stem = e
        .path
        .file_stem()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    Row {
        file: file_name(e),
        name: p.map_or(stem, |p| p.name.clone()),
        version: p.map(|p| p.short_hash().to_string()),
        loaded_ms: e.loaded_at.map(unix_ms),
        numbers: p.map(|p| numbers(p, accounts)).unwrap_or_default(),
        errors: e.diagnostics.iter().filter(|d| d.is_error()).count(),
        warnings: e.diagnostics.iter().filter(|d| !d.is_error()).count(),
    }
}

pub async fn list(State(s): State<HttpState>, Extension(v): Extension<Viewer>) -> PageResult {
    let snap = s.status.registry.snapshot();
    let flows: Vec<Row> = snap
        .flows
        .iter()
        .map(|e| row(e, &s.dash.accounts))
        .collect();
    render(
        "flows.html",
        ctx! {
            viewer => v, page => "flows", title => "Flows",
            dir => s.status.registry.dir().display().to_string(), flows,
        },
    )
}

fn vertex_name(g: &Graph, end: End) -> String {
    g.vertices
        .iter()
        .find(|v| v.end == end)
        .and_then(|v| v.lines.first().cloned())
        .unwrap_or_default()
}

pub async fn show(
    State(s): State<HttpState>,
    Extension(v): Extension<Viewer>,
    UrlPath(file): UrlPath<String>,
) -> PageResult {
    let snap = s.status.registry.snapshot();
    let e = snap
        .flows
        .iter()
        .find(|e| file_name(e) == file)
        .ok_or_else(|| PageError::new(StatusCode::NOT_FOUND, "No flow file with this name."))?;
    let r = row(e, &s.dash.accounts);
    let diagnostics: Vec<Diag> = e
        .diagnostics
        .iter()
        .map(|d| Diag {
            severity: if d.is_error() { "error" } else { "warning" },
            code: d.code,
            file: d
                .path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
            line: d.line,
            col: d.col,
            message: d.message.clone(),
            hint: d.hint.clone(),
        })
        .collect();
    let (svg, edges, mermaid) = match e.program.as_deref() {
        Some(p) => {
            let g = Graph::of(p);
            let edges: Vec<EdgeRow> = g
                .edges
                .iter()
                .map(|x| EdgeRow {
                    from: vertex_name(&g, x.from),
                    label: x.label.clone(),
                    to: vertex_name(&g, x.to),
                })
                .collect();
            (
                Some(crate::graph::to_svg(p)),
                edges,
                crate::graph::to_mermaid(p),
            )
        }
        None => (None, Vec::new(), String::new()),
    };
    render(
        "flow.html",
        ctx! {
            viewer => v, page => "flows", title => format!("Flow {}", r.name),
            name => r.name, file => r.file, version => r.version, loaded_ms => r.loaded_ms,
            numbers => r.numbers, diagnostics, svg, edges, mermaid,
        },
    )
}
