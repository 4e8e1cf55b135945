//! `phonetree validate` and `phonetree schema` end to end: every check has a failing fixture in
//! tests/fixtures/invalid/ and is asserted here by code, position and severity; valid fixtures
//! compile with no diagnostic; the binary's output formats and exit codes.
//!
//! This file holds the helpers that read a fixture's diagnostics; the tests are in
//! `tests/validate/`, one module a concept: `checks`, `compile` and `cli`.

use std::path::{Path, PathBuf};
use std::process::Command;

use phonetree::flow::diag::{Diagnostic, Severity};
use phonetree::flow::load::{load_file, load_paths, LoadOptions};
use phonetree::flow::program::{NodeKind, Target};

#[path = "validate/checks.rs"]
mod checks;
#[path = "validate/cli.rs"]
mod cli;
#[path = "validate/compile.rs"]
mod compile;
const INVALID: &str = "tests/fixtures/invalid";

fn diags_of(file: &str) -> Vec<Diagnostic> {
    load_file(&Path::new(INVALID).join(file), &LoadOptions::default()).diagnostics
}

/// (code, line, col, severity) of every diagnostic, in order.
fn summary(diags: &[Diagnostic]) -> Vec<(&'static str, usize, usize, Severity)> {
    diags
        .iter()
        .map(|d| (d.code, d.line, d.col, d.severity))
        .collect()
}

fn err(code: &'static str, line: usize, col: usize) -> (&'static str, usize, usize, Severity) {
    (code, line, col, Severity::Error)
}

fn warn(code: &'static str, line: usize, col: usize) -> (&'static str, usize, usize, Severity) {
    (code, line, col, Severity::Warning)
}

fn assert_exactly(file: &str, expected: &[(&'static str, usize, usize, Severity)]) {
    let d = diags_of(file);
    assert_eq!(
        summary(&d),
        expected,
        "{file}:\n{}",
        d.iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
    let c = load_file(&Path::new(INVALID).join(file), &LoadOptions::default());
    assert_eq!(
        c.program.is_some(),
        expected.iter().all(|e| e.3 == Severity::Warning),
        "{file}: program iff no errors"
    );
}
