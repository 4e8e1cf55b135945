//! The offline engine: PocketSphinx 5, compiled from the vendored C sources
//! (`vendor/pocketsphinx`, `build/pocketsphinx.rs`) and called through a small hand-written
//! binding ([`ffi`], [`decoder`]).
//!
//! Why PocketSphinx 5 and why this way (ARCHITECTURE.md has the long form): it is the only
//! recognizer whose model ships inside a registry package (PyPI `pocketsphinx` 5.1.1 carries the
//! US-English model), it runs on one core faster than real time, and with a grammar it is
//! accurate on menu words. No Rust crate binds version 5 (the `pocketsphinx` crate binds 0.8,
//! which scores 0/5 here), and whisper/sherpa/ort-based crates need models downloaded at build
//! or run time.
//!
//! [`pool`] runs decoders on a fixed set of threads so decoding never blocks the async runtime
//! and the CPU it takes is bounded.

pub mod decoder;
mod ffi;
pub mod model;
pub mod pool;

pub use decoder::{Decoder, DecoderError};
pub use model::{Model, ModelError};

#[cfg(test)]
mod tests;
