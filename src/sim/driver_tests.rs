//! Driver tests on hand-built programs (the YAML-based scenarios live in tests/scenarios.rs).
