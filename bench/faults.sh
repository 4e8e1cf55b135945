#!/usr/bin/env bash
# bench/faults.sh — the full-size reload storm of issue 10: 100 flow reloads (half of them broken
# files) while 500 calls are held; every new call must get the newest valid version and no call
# may drop. CI runs the same test smaller (tests/run_faults.rs, 20 reloads, 20 calls).
# Knobs: RELOADS=100 CALLS=500. Prints the test's `figures:` line (for docs/security.md).
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n 20000 2>/dev/null || true
PHONETREE_FAULT_RELOADS=${RELOADS:-100} PHONETREE_FAULT_CALLS=${CALLS:-500} \
  cargo test --release --test run_faults -- --exact \
  a_reload_storm_while_calls_run_drops_no_call_and_new_calls_get_the_newest_valid_version \
  --nocapture 2>&1 | grep -E '^figures:|test result|panicked|assert'
