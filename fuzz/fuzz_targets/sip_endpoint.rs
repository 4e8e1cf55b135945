//! Fuzz target: SIP messages from four sources into an endpoint with limits and a policy (phonetree::fuzzing::sip_endpoint).
//! The harness lives in the library so seeds and crash regressions run in `cargo test` too.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| phonetree::fuzzing::sip_endpoint(data));
