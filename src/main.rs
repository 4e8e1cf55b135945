//! The `phonetree` command line: parses arguments and hands each subcommand to `phonetree::cli`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use phonetree::cli;

#[derive(Parser)]
#[command(
    name = "phonetree",
    version,
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
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
