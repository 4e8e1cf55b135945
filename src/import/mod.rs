//! Importers: turn another tool's content into a phonetree flow (YAML text).
//!
//! Each importer reads its source (the only I/O here), builds a plain model, and emits flow YAML
//! that `phonetree validate` accepts. Importers never write files themselves (`cli::import`
//! does) and never compile: the emitted text goes through the same loader as a hand-written flow.

pub mod siptunes;
mod yaml;
