//! The `phonetree` command line: parses arguments and hands each subcommand to `phonetree::cli`.
//!
//! Output written into a closed pipe (`phonetree graph flow.yaml | head`) ends the command
//! quietly with exit 0, as `cat` does: every subcommand writes through `?`, and a broken pipe
//! anywhere in the error chain is not an error.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use phonetree::cli;

#[derive(Parser)]
#[command(
    name = "phonetree",
    version = phonetree::VERSION,
    about = "IVR engine: YAML call flows on SIP"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check flow files and report every problem.
    Validate(cli::validate::Args),
    /// Print the JSON schema of a flow file.
    Schema,
    /// Run one call through a flow on virtual time and print its events as JSON lines.
    Simulate(cli::simulate::Args),
    /// Run the scripted callers in `*.test.yaml` files.
    Test(cli::test::Args),
    /// Draw a flow's compiled graph (Graphviz dot or Mermaid).
    Graph(cli::graph::Args),
    /// Answer real calls over SIP/RTP (see docs/config.md).
    Run(cli::run::Args),
    /// Turn another tool's content into a flow.
    #[command(subcommand)]
    Import(cli::import::Command),
    /// The call register: list, show, export (see docs/operations.md).
    Calls(cli::calls::Args),
    /// API tokens: add, list, remove.
    Token(cli::token::Args),
    /// Dashboard users: add, passwd, disable, enable, list.
    User(cli::user::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate(a) => cli::validate::run(a),
        Command::Schema => cli::schema::run(),
        Command::Simulate(a) => cli::simulate::run(a),
        Command::Test(a) => cli::test::run(a),
        Command::Graph(a) => cli::graph::run(a),
        Command::Import(c) => cli::import::run(c),
        Command::Run(a) => cli::run::run(a),
        Command::Calls(a) => cli::calls::run(a),
        Command::Token(a) => cli::token::run(a),
        Command::User(a) => cli::user::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Whether the error is (or was caused by) writing into a pipe whose reader has gone.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
