//! Subcommands of the `phonetree` binary. Each file owns one subcommand: its clap `Args` and a
//! `run` returning the process exit code (0 ok, 1 problems found, 2 usage or I/O failure).
//! This is the outer layer: it may read files, print, and use `anyhow`.

pub mod calls;
pub mod dbopen;
pub mod graph;
pub mod import;
pub mod run;
pub mod schema;
pub mod simulate;
pub mod test;
pub mod token;
pub mod user;
pub mod validate;
pub mod validate_watch;
