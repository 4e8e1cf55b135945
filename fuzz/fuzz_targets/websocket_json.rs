//! Fuzz target: one websocket text frame (Twilio, bot, OpenAI Realtime) (phonetree::fuzzing::websocket_json).
//! The harness lives in the library so seeds and crash regressions run in `cargo test` too.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| phonetree::fuzzing::websocket_json(data));
