//! `phonetree test [PATH ...]` (default `flows/`): runs every `*.test.yaml` and reports like a
//! test runner — one `test FILE::CASE ... ok|FAILED` line per case, the failures with expected
//! vs. actual events, and `N passed, N failed`. Exit 0 when all pass, 1 on any failure, 2 when a
//! path or test file cannot be read or parsed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::flow::load::LoadOptions;
use crate::sim::lengths::FileLengths;
use crate::testrun::{find_test_files, run_file, CaseReport, FileProblem};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Test files or folders (default: `flows/`).
    pub paths: Vec<PathBuf>,
    /// Sound folder prompts resolve under (default: `sound/` beside each flow's folder).
    #[arg(long, value_name = "DIR")]
    pub sound: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from("flows")]
    } else {
        args.paths
    };
    let files = match find_test_files(&paths) {
        Ok(f) => f,
        Err((path, e)) => {
            eprintln!("error: {}: {e}", path.display());
            return Ok(ExitCode::from(2));
        }
    };
    let opts = LoadOptions {
        sound_dir: args.sound,
        ..LoadOptions::default()
    };
    let mut lengths = FileLengths::default();
    let (mut passed, mut failed, mut broken) = (0usize, 0usize, 0usize);
    let mut failures = Vec::new();
    let mut out = std::io::stdout().lock();
    for path in &files {
        let label = short_name(path);
        let result = run_file(path, &opts, &mut lengths, |case: &CaseReport| {
            let status = if case.result.is_ok() { "ok" } else { "FAILED" };
            let _ = writeln!(out, "test {label}::{} ... {status}", case.name);
        });
        match result {
            Ok(reports) => {
                for r in reports {
                    match r.result {
                        Ok(()) => passed += 1,
                        Err(f) => {
                            failed += 1;
                            failures.push((format!("{label}::{}", r.name), f.render()));
                        }
                    }
                }
            }
            Err(FileProblem::TestFile(e)) => {
                broken += 1;
                eprintln!("error: {e}");
            }
            Err(FileProblem::Flow {
                flow,
                diagnostics,
                cases,
            }) => {
                for d in &diagnostics {
                    eprintln!("{d}");
                }
                for name in cases {
                    writeln!(out, "test {label}::{name} ... FAILED")?;
                    failed += 1;
                    let why = format!("  the flow {} has errors (see above)\n", flow.display());
                    failures.push((format!("{label}::{name}"), why));
                }
            }
        }
    }
    if !failures.is_empty() {
        writeln!(out, "\nfailures:")?;
        for (name, text) in &failures {
            writeln!(out, "\n---- {name} ----\n{text}")?;
        }
    }
    writeln!(out)?;
    writeln!(out, "{passed} passed, {failed} failed")?;
    if broken > 0 {
        writeln!(out, "{broken} test file(s) could not be run")?;
        return Ok(ExitCode::from(2));
    }
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn short_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}
