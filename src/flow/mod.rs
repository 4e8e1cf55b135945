//! The flow language: everything between a YAML file and a compiled [`program::Program`].
//! No I/O happens below this module except where a function says it reads a file.

pub mod agent;
pub mod ast;
pub mod compile;
pub mod diag;
pub mod digit;
pub mod duration;
pub mod load;
pub mod program;
pub mod schema;
pub mod source;
pub mod template;
