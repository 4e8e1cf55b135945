//! Checks of flows against the server that runs them: a flow can be correct on its own and
//! still not work *here*. One function per check, all pure (the [`Site`] is data), all warnings,
//! run by `phonetree validate` and by `phonetree run` at start and on every reload (through
//! [`crate::flow::load::LoadOptions::site`]), so both report the same problem with the same code:
//!
//! - `flow.env_unset`: an `env:` name that is neither set (process environment or `.env`) nor
//!   given a default; did-you-mean among the variables that are set.
//! - `flow.unavailable_node`: a node whose kind this server cannot execute (see
//!   [`Capabilities`]), with the reason and what a live call does instead.
//! - `flow.unrouted`: a flow no number reaches (no `routes`, not `default: true`, no account's
//!   `flow:` names it, not used as a subflow).
//! - `flows.empty`: a flows folder without a single flow file.
//!
//! Not here: checks of one file on its own (the compiler) and between flows (`flow::load`).

use std::path::{Path, PathBuf};

use crate::config::capabilities::Capabilities;
use crate::config::environment::Environment;
use crate::config::Config;
use crate::flow::compile::normalize_path;
use crate::flow::diag::{did_you_mean, Diagnostic, Pos};
use crate::flow::load::Claims;

pub const ENV_UNSET: &str = "flow.env_unset";
pub const UNAVAILABLE_NODE: &str = "flow.unavailable_node";
pub const UNROUTED: &str = "flow.unrouted";
pub const EMPTY_FOLDER: &str = "flows.empty";

/// What the flows are checked against: the server's environment, what it can execute, and the
/// flows its accounts send calls to.
#[derive(Debug, Clone)]
pub struct Site {
    pub env: Environment,
    pub caps: Capabilities,
    /// The `flow:` of every configured account.
    pub account_flows: Vec<String>,
}

impl Site {
    /// The site a configuration describes (probing the PATH for external programs).
    pub fn of(cfg: &Config) -> Site {
        Site {
            env: cfg.env.clone(),
            caps: Capabilities::detect(cfg),
            account_flows: cfg.accounts.iter().filter_map(|a| a.flow.clone()).collect(),
        }
    }
}

/// The checks of one flow file against the site: unset `env:` names and nodes this server
/// cannot run.
pub fn check_flow(path: &Path, claims: &Claims, site: &Site) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (name, pos, has_default) in &claims.env {
        if *has_default || site.env.contains(name) {
            continue;
        }
        let hint = match did_you_mean(name, site.env.names()) {
            Some(s) => format!("did you mean `{s}`, which is set? Otherwise set `{name}` in the environment or in .env"),
            None => format!(
                "set it in the environment or in .env, or give it a default: `env: {{ {name}: \"...\" }}`"
            ),
        };
        out.push(
            Diagnostic::warning(
                path,
                *pos,
                ENV_UNSET,
                format!(
                    "`{name}` (in `env:`) is not set: a template reading `env.{name}` fails on a call"
                ),
            )
            .with_hint(hint),
        );
    }
    for need in &claims.needs {
        let Some(cap) = site.caps.for_node(need.kind, need.provider.as_deref()) else {
            continue;
        };
        let Some(reason) = cap.reason() else { continue };
        out.push(
            Diagnostic::warning(
                &need.path,
                need.pos,
                UNAVAILABLE_NODE,
                format!(
                    "node `{}` (`{}`) cannot run on this server: {reason}",
                    need.node, need.kind
                ),
            )
            .with_hint("the flow still loads; give the node an error branch the caller can live with, or configure what it needs (docs/config.md)"),
        );
    }
    out
}

/// Flows no number reaches, among all the flows of a folder (`flows` holds each file's path and
/// claims). A file another flow inlines as a subflow is not a flow of its own.
pub fn check_routing(flows: &[(PathBuf, Claims)], site: &Site) -> Vec<Diagnostic> {
    let subflows: Vec<PathBuf> = flows
        .iter()
        .flat_map(|(_, c)| c.subflows.iter().cloned())
        .collect();
    let mut out = Vec::new();
    for (path, c) in flows {
        let reached = !c.routes.is_empty()
            || c.default.is_some()
            || site.account_flows.contains(&c.name)
            || subflows.contains(&normalize_path(path));
        if reached || c.name.is_empty() {
            continue;
        }
        out.push(
            Diagnostic::warning(
                path,
                c.name_pos,
                UNROUTED,
                format!(
                    "no number reaches flow `{}`: it has no `routes`, is not `default: true`, and no account's `flow:` names it",
                    c.name
                ),
            )
            .with_hint("add `routes: [\"5003\"]` (the dialled numbers) or `default: true`, or name it in an account's `flow:`"),
        );
    }
    out
}

/// A flows folder with no flow file in it.
pub fn empty_folder(dir: &Path) -> Diagnostic {
    Diagnostic::warning(
        dir,
        Pos::START,
        EMPTY_FOLDER,
        format!("no flow files in {}", dir.display()),
    )
    .with_hint("add a `*.yaml` flow (docs/flows.md), or point `--flows` (or `flows:`) at the folder that has them")
}

#[cfg(test)]
mod tests;
