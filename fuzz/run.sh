#!/usr/bin/env bash
# Builds the flow-loader fuzz target with libFuzzer's coverage instrumentation on the stable
# toolchain (the same flags cargo-fuzz passes, minus the nightly-only sanitizer) and runs it for a
# bounded time over the seed corpus (demo flows + test fixtures). Usage: fuzz/run.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-60}"
target="$(rustc -vV | sed -n 's/^host: //p')"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
cargo build --quiet --release --target "$target" --bin flow_loader
corpus=corpus/flow_loader
mkdir -p "$corpus" artifacts
find ../flows ../tests/fixtures -name '*.yaml' -exec cp {} "$corpus"/ \; 2>/dev/null || true
"target/$target/release/flow_loader" "$corpus" -max_total_time="$secs" -max_len=8192 \
  -timeout=10 -rss_limit_mb=2048 -artifact_prefix=artifacts/ -print_final_stats=1 2>&1 | tail -n 25
