//! `phonetree graph` (placeholder until its owner lands it).

use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`graph` is not built yet")
}
