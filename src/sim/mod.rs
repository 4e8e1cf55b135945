//! The offline simulator: runs one call of a compiled flow on virtual time and reports what
//! happens as [`event::Event`]s. Used by `phonetree simulate` (a whole scripted call) and by
//! `phonetree test` (step by step, matching expectations).
//!
//! Owns the virtual clock, mocked integrations ([`mocks`]), scripted caller input ([`script`]),
//! prompt lengths ([`lengths`], real files through `audio`) and the small YAML reader used by
//! mocks and test files ([`yaml`]). It does not compile flows (`flow::load`) and knows nothing of
//! SIP; the call logic itself is the sans-IO [`machine`](crate::machine).

pub mod driver;
pub mod event;
pub mod lengths;
pub mod mocks;
pub mod script;
pub mod yaml;

pub use driver::Sim;
