//! Fuzz target: RTP, RFC 4733 and garbage datagrams into one call's media core (phonetree::fuzzing::rtp).
//! The harness lives in the library so seeds and crash regressions run in `cargo test` too.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| phonetree::fuzzing::rtp(data));
