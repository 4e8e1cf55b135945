//! Fuzz target: any bytes given to the flow loader (YAML front end, schema, compiler checks) must
//! produce diagnostics or a program, never a panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use phonetree::flow::compile::{compile, NoSubflows, SoundIndex};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let sounds = SoundIndex::new(
        "/nonexistent/sound",
        ["greeting.wav".to_string(), "bunny/menu.wav".to_string()],
    );
    let out = compile(&text, Path::new("fuzz.yaml"), &sounds, &NoSubflows);
    // A program exists exactly when there are no errors.
    assert_eq!(
        out.program.is_some(),
        !phonetree::flow::diag::has_errors(&out.diagnostics)
    );
});
