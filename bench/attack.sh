#!/usr/bin/env bash
# bench/attack.sh — the scanner run of issue 10 at full size: svmap, svwar, svcrack (PyPI
# sipvicious) and a sipp INVITE flood (300/s) for SECS seconds while CALLS live calls play audio
# (tests/run_scanners.rs; CI runs it with 20 calls for 10 s). Needs sipp and sipvicious
# (bash .ci/install-deps.sh). Knobs: CALLS=200 SECS=60. Prints the `figures:` line: live
# calls' packets and gaps, flood calls answered, what the scanners found, RSS before/after.
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n 20000 2>/dev/null || true
PHONETREE_INTEROP=1 PHONETREE_ATTACK_CALLS=${CALLS:-200} PHONETREE_ATTACK_SECS=${SECS:-60} \
  cargo test --release --test run_scanners -- --nocapture 2>&1 \
  | grep -E '^figures:|test result|panicked|assert'
