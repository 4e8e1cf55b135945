//! Fuzz target: a SIP TCP stream framed in uneven chunks (phonetree::fuzzing::tcp_framer).
//! The harness lives in the library so seeds and crash regressions run in `cargo test` too.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| phonetree::fuzzing::tcp_framer(data));
