//! Fuzz target: an SDP offer: parse, negotiate, re-parse our answer (phonetree::fuzzing::sdp).
//! The harness lives in the library so seeds and crash regressions run in `cargo test` too.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| phonetree::fuzzing::sdp(data));
