//! `phonetree import siptunes SOUND_DIR [--out flows/siptunes.yaml] [--name siptunes] [--themes a,b]`:
//! writes the flow an importer produced and reports what it could not carry over.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::flow::load::{load_file, LoadOptions};
use crate::import::siptunes;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Turn a siptunes sound/ folder (`dtmf_map_<theme>.json` files) into an equivalent flow.
    Siptunes(SiptunesArgs),
}

#[derive(clap::Args, Debug)]
pub struct SiptunesArgs {
    /// The siptunes sound folder (holding `dtmf_map_<theme>.json`).
    pub sound_dir: PathBuf,
    /// Where to write the flow (`-` for standard output).
    #[arg(long, default_value = "flows/siptunes.yaml")]
    pub out: PathBuf,
    /// The flow's name.
    #[arg(long, default_value = "siptunes")]
    pub name: String,
    /// Theme order, as siptunes' THEMES (comma-separated); default: every map, sorted.
    #[arg(long, value_delimiter = ',')]
    pub themes: Option<Vec<String>>,
    /// Replace the output file if it exists.
    #[arg(long)]
    pub force: bool,
}

pub fn run(c: Command) -> anyhow::Result<ExitCode> {
    match c {
        Command::Siptunes(a) => run_siptunes(a),
    }
}

fn run_siptunes(a: SiptunesArgs) -> anyhow::Result<ExitCode> {
    let opts = siptunes::Options {
        name: a.name,
        themes: a.themes,
    };
    let imported = match siptunes::import(&a.sound_dir, &opts) {
        Ok(i) => i,
        Err(siptunes::ImportError::Io { path, source }) => {
            return Err(source).with_context(|| format!("reading {}", path.display()));
        }
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    for w in &imported.warnings {
        eprintln!("warning: {w}");
    }
    if a.out.as_os_str() == "-" {
        std::io::stdout()
            .write_all(imported.yaml.as_bytes())
            .context("writing to standard output")?;
        return Ok(ExitCode::SUCCESS);
    }
    if a.out.exists() && !a.force {
        anyhow::bail!("{} exists (use --force to replace it)", a.out.display());
    }
    if let Some(parent) = a.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(&a.out, &imported.yaml)
        .with_context(|| format!("writing {}", a.out.display()))?;
    // The written flow goes through the same loader as a hand-written one.
    let compiled = load_file(
        &a.out,
        &LoadOptions {
            sound_dir: Some(a.sound_dir.clone()),
            ..LoadOptions::default()
        },
    );
    for d in &compiled.diagnostics {
        eprintln!("{d}");
    }
    eprintln!(
        "wrote {} ({} themes); prompts resolve under {}: pass `--sound {}` or copy them to sound/",
        a.out.display(),
        compiled
            .program
            .as_ref()
            .map_or(0, |p| p.themes.names.len()),
        a.sound_dir.display(),
        a.sound_dir.display()
    );
    Ok(if compiled.program.is_some() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
