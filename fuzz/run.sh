#!/usr/bin/env bash
# Builds the fuzz targets with libFuzzer's coverage instrumentation on the stable toolchain (the
# same flags cargo-fuzz passes, minus the nightly-only sanitizer) and runs each over its seed
# corpus (fuzz/seeds/{sip,sdp,rtp,tcp,config,websocket_json}, the flows and fixtures for flow_loader).
#
#   fuzz/run.sh [SECONDS] [TARGET...]       each target for SECONDS (default 25; all targets)
#   fuzz/run.sh --runs N [TARGET...]        each target for N executions (the 10-million run)
#
# Targets: sip_endpoint sdp rtp tcp_framer config flow_loader websocket_json (harnesses: src/fuzzing.rs).
# A crash stops the run with its input in fuzz/artifacts/<target>/; turn it into a named
# regression test in tests/fuzz_regressions.rs. One summary line per target:
#   fuzz: <target>: <runs> runs in <s> s (<runs/s>/s), corpus <n>, crashes 0
set -euo pipefail
cd "$(dirname "$0")"
mode=time
limit=25
if [ "${1:-}" = "--runs" ]; then
  mode=runs; limit="$2"; shift 2
elif [[ "${1:-}" =~ ^[0-9]+$ ]]; then
  limit="$1"; shift
fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(sip_endpoint sdp rtp tcp_framer config flow_loader websocket_json)
triple="$(rustc -vV | sed -n 's/^host: //p')"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
bins=()
for t in "${targets[@]}"; do bins+=(--bin "$t"); done
cargo build --quiet --release --target "$triple" "${bins[@]}"
for t in "${targets[@]}"; do
  corpus="corpus/$t"
  mkdir -p "$corpus" "artifacts/$t"
  if [ "$t" = flow_loader ]; then
    find ../flows ../tests/fixtures -name '*.yaml' -exec cp {} "$corpus"/ \; 2>/dev/null || true
  else
    case "$t" in sip_endpoint) seeds=sip ;; tcp_framer) seeds=tcp ;; *) seeds=$t ;; esac
    cp -n seeds/"$seeds"/* "$corpus"/ 2>/dev/null || true
  fi
  case "$t" in
    sip_endpoint) max_len=16384; dict=(-dict=sip.dict) ;;
    flow_loader|config) max_len=8192; dict=() ;;
    *) max_len=4096; dict=() ;;
  esac
  if [ "$mode" = runs ]; then stop=(-runs="$limit"); else stop=(-max_total_time="$limit"); fi
  log="artifacts/$t/last-run.log"
  start=$(date +%s)
  set +e
  "target/$triple/release/$t" "$corpus" "${stop[@]}" -max_len="$max_len" "${dict[@]}" \
    -timeout=10 -rss_limit_mb=2048 -artifact_prefix="artifacts/$t/" -print_final_stats=1 \
    > "$log" 2>&1
  rc=$?
  set -e
  secs=$(( $(date +%s) - start ))
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  size=$(ls "$corpus" | wc -l)
  if [ "$rc" -ne 0 ]; then
    # The panic message (what went wrong) and the input, so CI's log alone reproduces it.
    sed -n '/panicked at/,/stack backtrace/p' "$log" | head -n 80
    grep -E '^(SUMMARY|MS:|artifact_prefix)' "$log" || tail -n 20 "$log"
    for f in artifacts/"$t"/crash-* artifacts/"$t"/timeout-* artifacts/"$t"/oom-*; do
      [ -f "$f" ] || continue
      echo "input $f (base64; turn it into a test in tests/fuzz_regressions.rs):"
      head -c 16384 "$f" | base64 -w 100
    done
    echo "fuzz: $t: CRASH after ${runs:-?} runs (input in fuzz/artifacts/$t/)"
    exit 1
  fi
  echo "fuzz: $t: ${runs:-0} runs in ${secs} s ($(( ${runs:-0} / (secs > 0 ? secs : 1) ))/s), corpus $size, crashes 0"
done
