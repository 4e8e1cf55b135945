//! `phonetree validate [PATH ...]`: compiles every flow under the paths and prints every
//! diagnostic (text or JSON) and a summary. Exit 0 without errors, 1 with errors, 2 when a path
//! cannot be read.
//!
//! The flows are also checked against the server that would run them from this folder (the
//! `site` checks: `phonetree.yaml`, the environment and `.env`), with the same codes `run`
//! logs. `validate phonetree.yaml` checks only the configuration (no flows folder needed).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use crate::config::environment::Environment;
use crate::config::{self, Flags, Sources};
use crate::flow::diag::Severity;
use crate::flow::load::{self, FlowSet, LoadOptions};
use crate::site::Site;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Flow files or folders (default: `flows/`).
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Sound folder prompts resolve under (default: `sound/` beside each flow's folder).
    #[arg(long, value_name = "DIR")]
    pub sound: Option<PathBuf>,
    /// Keep running and check again on every save (Ctrl-C to stop).
    #[arg(long)]
    pub watch: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    // `phonetree.yaml` (the `run` configuration) is checked too: when named, or when present
    // in the current folder and no paths are given.
    let (configs, flow_paths): (Vec<PathBuf>, Vec<PathBuf>) = args
        .paths
        .iter()
        .cloned()
        .partition(|p| p.file_name().is_some_and(|n| n == "phonetree.yaml"));
    let only_config = !configs.is_empty() && flow_paths.is_empty();
    let configs = if args.paths.is_empty() && std::path::Path::new("phonetree.yaml").is_file() {
        vec![PathBuf::from("phonetree.yaml")]
    } else {
        configs
    };
    // The server the flows will run on, as `run` would see it from here: the configuration,
    // the environment and `.env` (unset `env:` names, nodes it cannot run, unrouted flows).
    let sources = super::run::sources(configs.first().cloned(), Flags::default())?;
    let cfg = config::load(&sources).ok();
    let site = match &cfg {
        Some(c) => Site::of(c),
        // A broken configuration is reported below; check the flows against its environment.
        None => {
            let mut c = config::load(&Sources::default())
                .map_err(|e| anyhow::anyhow!("the default configuration: {e}"))?;
            c.env = Environment::new(sources.env.clone());
            Site::of(&c)
        }
    };
    // `validate phonetree.yaml` checks just that file: no flows folder is needed.
    let paths = if only_config {
        Vec::new()
    } else if flow_paths.is_empty() {
        vec![cfg
            .as_ref()
            .map_or_else(|| PathBuf::from("flows"), |c| c.flows.clone())]
    } else {
        flow_paths
    };
    if let Err(e) = load::flow_files(&paths) {
        eprintln!("error: {e}");
        return Ok(ExitCode::from(2));
    }
    let opts = LoadOptions {
        sound_dir: args.sound.clone(),
        site: Some(Arc::new(site)),
    };
    if args.watch {
        return super::validate_watch::run(&paths, &opts, args.format);
    }
    let mut set = load::load_paths(&paths, &opts);
    if crate::config::security::transfer_allow_configured(&configs) {
        // Templated transfer targets are checked against the list at run time.
        set.diagnostics
            .retain(|d| d.code != crate::policy::transfer::TEMPLATE_WARNING);
    }
    for c in &configs {
        set.diagnostics.extend(crate::config::check_file(c));
    }
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Text => write!(out, "{}", render_text(&set))?,
        Format::Json => writeln!(out, "{}", render_json(&set))?,
    }
    out.flush()?;
    Ok(ExitCode::from(if set.has_errors() { 1 } else { 0 }))
}

/// Every diagnostic, then a summary line.
pub fn render_text(set: &FlowSet) -> String {
    let mut s = String::new();
    for d in &set.diagnostics {
        s.push_str(&d.to_string());
        s.push('\n');
    }
    s.push_str(&summary(set));
    s.push('\n');
    s
}

/// `{"files": N, "errors": N, "warnings": N, "diagnostics": [...]}`.
pub fn render_json(set: &FlowSet) -> String {
    let (errors, warnings) = counts(set);
    serde_json::json!({
        "files": set.flows.len(),
        "errors": errors,
        "warnings": warnings,
        "diagnostics": set.diagnostics,
    })
    .to_string()
}

fn counts(set: &FlowSet) -> (usize, usize) {
    let errors = set
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    (errors, set.diagnostics.len() - errors)
}

fn summary(set: &FlowSet) -> String {
    let (errors, warnings) = counts(set);
    let files = set.flows.len();
    let plural = |n: usize, w: &str| {
        if n == 1 {
            format!("{n} {w}")
        } else {
            format!("{n} {w}s")
        }
    };
    let ok = set.flows.iter().filter(|(_, p)| p.is_some()).count();
    format!(
        "{}: {}, {} ({} of {} compiled)",
        if errors == 0 { "ok" } else { "failed" },
        plural(errors, "error"),
        plural(warnings, "warning"),
        ok,
        plural(files, "flow")
    )
}
