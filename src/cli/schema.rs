//! `phonetree schema`: prints the embedded flow schema (`schema/flow.schema.json`) unchanged.

use std::io::Write;
use std::process::ExitCode;

use crate::flow::schema::SCHEMA_TEXT;

pub fn run() -> anyhow::Result<ExitCode> {
    std::io::stdout().lock().write_all(SCHEMA_TEXT.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
