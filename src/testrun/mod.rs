//! `phonetree test`: scripted callers from `*.test.yaml` files run against their flows on the
//! simulator, with expectations on the events.
//!
//! [`file`] parses a test file (every problem positioned, never a panic), [`expect`] matches one
//! `expect:` against events, [`runner`] drives one case on a [`Sim`](crate::sim::Sim). This
//! module finds the files and runs them; printing is `cli::test`'s.

pub mod expect;
pub mod file;
pub mod runner;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::flow::diag::Diagnostic;
use crate::flow::load::{load_file, LoadOptions};
use crate::sim::lengths::FileLengths;
use crate::testrun::file::TestFileError;
use crate::testrun::runner::{run_case, Failure};

/// The outcome of one case.
#[derive(Debug)]
pub struct CaseReport {
    pub name: String,
    pub result: Result<(), Box<Failure>>,
}

/// Why a test file's cases could not run.
#[derive(Debug)]
pub enum FileProblem {
    /// The test file is unreadable or malformed, or its flow file is missing.
    TestFile(TestFileError),
    /// The flow under test does not compile (its diagnostics).
    Flow {
        flow: PathBuf,
        diagnostics: Vec<Diagnostic>,
        cases: Vec<String>,
    },
}

/// Whether a path names a test file.
pub fn is_test_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".test.yaml") || n.ends_with(".test.yml"))
}

/// The test files under `paths` (files as given, folders searched recursively), sorted.
pub fn find_test_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, (PathBuf, std::io::Error)> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| (p.clone(), e))?;
        if meta.is_dir() {
            walk(p, &mut out)?;
        } else {
            out.push(p.clone());
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), (PathBuf, std::io::Error)> {
    let entries = std::fs::read_dir(dir).map_err(|e| (dir.to_owned(), e))?;
    for entry in entries {
        let path = entry.map_err(|e| (dir.to_owned(), e))?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if is_test_file(&path) {
            out.push(path);
        }
    }
    Ok(())
}

/// Runs every case of one test file, calling `on_case` as each finishes.
pub fn run_file(
    path: &Path,
    opts: &LoadOptions,
    lengths: &mut FileLengths,
    mut on_case: impl FnMut(&CaseReport),
) -> Result<Vec<CaseReport>, FileProblem> {
    let file = file::load(path).map_err(FileProblem::TestFile)?;
    if !file.flow.is_file() {
        return Err(FileProblem::TestFile(TestFileError {
            path: path.to_owned(),
            pos: file.flow_pos,
            message: format!("the flow file {} does not exist", file.flow.display()),
        }));
    }
    let compiled = load_file(&file.flow, opts);
    let Some(program) = compiled.program else {
        return Err(FileProblem::Flow {
            flow: file.flow.clone(),
            diagnostics: compiled.diagnostics,
            cases: file.cases.iter().map(|c| c.name.clone()).collect(),
        });
    };
    let program = Arc::new(program);
    let mut reports = Vec::with_capacity(file.cases.len());
    for case in &file.cases {
        let report = CaseReport {
            name: case.name.clone(),
            result: run_case(&program, &file, case, &mut *lengths),
        };
        on_case(&report);
        reports.push(report);
    }
    Ok(reports)
}
