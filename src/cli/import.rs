//! `phonetree import` (placeholder until its owner lands it).

use std::process::ExitCode;

#[derive(clap::Subcommand, Debug)]
pub enum Command {}

pub fn run(c: Command) -> anyhow::Result<ExitCode> {
    match c {}
}
