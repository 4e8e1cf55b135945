//! `phonetree token`: API tokens for automation (`Authorization: Bearer …`). `add NAME` prints
//! a new token once (only its SHA-256 is stored); `list` shows names and last use; `remove NAME`
//! revokes one.

use std::process::ExitCode;

use super::dbopen::{self, ConfigArg};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Create a token and print it (once: it cannot be shown again).
    Add { name: String },
    /// List tokens (names, creation, last use; never the tokens).
    List,
    /// Revoke a token.
    Remove { name: String },
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let o = dbopen::open(&args.config)?;
    match args.command {
        Command::Add { name } => {
            if name.trim().is_empty() || name.len() > 64 {
                anyhow::bail!("a token name is 1 to 64 characters");
            }
            let token = crate::auth::token::generate();
            let hash = crate::auth::token::hash(&token);
            match o
                .rt
                .block_on(o.db.create_token(&name, &hash, crate::db::now_ms()))
            {
                Ok(_) => {
                    println!("{token}");
                    eprintln!("token `{name}` created; it is shown only now");
                    Ok(ExitCode::SUCCESS)
                }
                Err(crate::db::DbError::Query(_)) => {
                    eprintln!("a token named `{name}` exists (remove it first)");
                    Ok(ExitCode::from(1))
                }
                Err(e) => Err(e.into()),
            }
        }
        Command::List => {
            for t in o.rt.block_on(o.db.list_tokens())? {
                println!(
                    "{}  created {}  last used {}",
                    t.name,
                    dbopen::rfc3339(t.created_ms),
                    t.last_used_ms
                        .map_or_else(|| "never".into(), dbopen::rfc3339)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Remove { name } => {
            if o.rt.block_on(o.db.delete_token(&name))? {
                eprintln!("token `{name}` revoked");
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("no token named `{name}`");
                Ok(ExitCode::from(1))
            }
        }
    }
}
