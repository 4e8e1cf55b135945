//! Fuzz target: a flow file: YAML front end, schema, compiler checks (phonetree::fuzzing::flow_loader).
//! The harness lives in the library so seeds and crash regressions run in `cargo test` too.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| phonetree::fuzzing::flow_loader(data));
