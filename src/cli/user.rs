//! `phonetree user`: dashboard users. `add NAME [--role admin|viewer]`, `passwd NAME`,
//! `disable NAME`, `enable NAME`, `list`. The password comes from `PHONETREE_USER_PASSWORD`,
//! or one line on standard input with `--password-stdin`, else a random one is generated and
//! printed once. Passwords are stored as argon2id hashes.

use std::io::BufRead;
use std::process::ExitCode;

use super::dbopen::{self, ConfigArg};
use crate::auth::password;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Add a user.
    Add {
        name: String,
        /// `admin` (everything) or `viewer` (read only).
        #[arg(long, default_value = "admin")]
        role: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a user's password (their sessions end).
    Passwd {
        name: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable a user (their sessions end).
    Disable { name: String },
    /// Enable a disabled user.
    Enable { name: String },
    /// List users.
    List,
}

/// The password to set and whether it was generated (then it is printed).
fn password(stdin: bool) -> anyhow::Result<(String, bool)> {
    if stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        return Ok((line.trim_end_matches(['\r', '\n']).to_string(), false));
    }
    if let Ok(p) = std::env::var("PHONETREE_USER_PASSWORD") {
        return Ok((p, false));
    }
    Ok((crate::auth::token::random_password(), true))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let o = dbopen::open(&args.config)?;
    match args.command {
        Command::Add {
            name,
            role,
            password_stdin,
        } => {
            if !matches!(role.as_str(), "admin" | "viewer") {
                anyhow::bail!("--role must be admin or viewer");
            }
            if name.trim().is_empty() || name.len() > 64 || name.chars().any(char::is_whitespace) {
                anyhow::bail!("a user name is 1 to 64 characters without spaces");
            }
            let (pw, generated) = password(password_stdin)?;
            let hash = password::hash(&pw)?;
            match o
                .rt
                .block_on(o.db.create_user(&name, &hash, &role, crate::db::now_ms()))
            {
                Ok(_) => {
                    if generated {
                        println!("{pw}");
                        eprintln!("user `{name}` ({role}) created with the password above; it is shown only now");
                    } else {
                        eprintln!("user `{name}` ({role}) created");
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(crate::db::DbError::Query(_)) => {
                    eprintln!("a user named `{name}` exists");
                    Ok(ExitCode::from(1))
                }
                Err(e) => Err(e.into()),
            }
        }
        Command::Passwd {
            name,
            password_stdin,
        } => {
            let (pw, generated) = password(password_stdin)?;
            let hash = password::hash(&pw)?;
            if !o.rt.block_on(o.db.set_password(&name, &hash))? {
                eprintln!("no user `{name}`");
                return Ok(ExitCode::from(1));
            }
            if generated {
                println!("{pw}");
            }
            eprintln!("password of `{name}` changed; their sessions ended");
            Ok(ExitCode::SUCCESS)
        }
        Command::Disable { name } => set_disabled(&o, &name, true),
        Command::Enable { name } => set_disabled(&o, &name, false),
        Command::List => {
            for u in o.rt.block_on(o.db.list_users())? {
                println!(
                    "{}  {}{}  created {}  last login {}",
                    u.name,
                    u.role,
                    if u.disabled { " (disabled)" } else { "" },
                    dbopen::rfc3339(u.created_ms),
                    u.last_login_ms
                        .map_or_else(|| "never".into(), dbopen::rfc3339)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn set_disabled(o: &dbopen::Opened, name: &str, disabled: bool) -> anyhow::Result<ExitCode> {
    if !o.rt.block_on(o.db.set_user_disabled(name, disabled))? {
        eprintln!("no user `{name}`");
        return Ok(ExitCode::from(1));
    }
    eprintln!(
        "user `{name}` {}",
        if disabled {
            "disabled; their sessions ended"
        } else {
            "enabled"
        }
    );
    Ok(ExitCode::SUCCESS)
}
