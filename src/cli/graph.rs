//! `phonetree graph FLOW [--format dot|mermaid] [--sound DIR]`: compiles one flow and prints its
//! graph on standard output. Diagnostics go to standard error; a flow with errors draws nothing.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::flow::load::{load_file, LoadOptions};
use crate::graph::{to_dot, to_mermaid};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The flow file.
    pub flow: PathBuf,
    /// Output syntax.
    #[arg(long, value_enum, default_value_t = Format::Dot)]
    pub format: Format,
    /// The sound folder (default: `sound/` beside the flow's folder).
    #[arg(long)]
    pub sound: Option<PathBuf>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Graphviz DOT (`| dot -Tsvg`).
    Dot,
    /// A Mermaid flowchart (for Markdown).
    Mermaid,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    if !a.flow.is_file() {
        anyhow::bail!("{}: no such flow file", a.flow.display());
    }
    let compiled = load_file(
        &a.flow,
        &LoadOptions {
            sound_dir: a.sound.clone(),
            ..LoadOptions::default()
        },
    );
    for d in &compiled.diagnostics {
        eprintln!("{d}");
    }
    let Some(program) = compiled.program else {
        return Ok(ExitCode::from(1));
    };
    let text = match a.format {
        Format::Dot => to_dot(&program),
        Format::Mermaid => to_mermaid(&program),
    };
    // Through `?`, not `print!`: a closed pipe (`| head`, no graphviz) is an error value that
    // `main` turns into a quiet exit 0, never a panic.
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
