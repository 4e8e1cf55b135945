//! `phonetree schema` (placeholder until its owner lands it).

use std::process::ExitCode;

pub fn run() -> anyhow::Result<ExitCode> {
    anyhow::bail!("`schema` is not built yet")
}
