//! The flow language: everything between a YAML file and a compiled [`program::Program`].
//! No I/O happens below this module except where a function says it reads a file.

pub mod digit;
pub mod program;
pub mod template;
pub mod diag;
pub mod duration;
pub mod source;
pub mod schema;
