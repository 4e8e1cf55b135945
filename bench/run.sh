#!/usr/bin/env bash
# Runs the benchmarks in release mode and rewrites the flow-language section of BENCHMARKS.md.
# Usage: bench/run.sh   (takes a release build, ~5 min cold on 2 cores, then ~10 s)
#        ENGINE=1 bench/run.sh   also re-measures the SIP/RTP engine first (bench/engine/run.sh,
#        ~8 min, needs sipp, dumpcap, sox and a pjsua2 venv: see bench/engine/README.md);
#        without it the last bench/ENGINE.md is kept.
#        ASR=1 bench/run.sh   also re-measures speech recognition (bench/asr, needs the interop venv
#        with pocketsphinx and piper: .ci/install-deps.sh) into bench/ASR.md; otherwise it is kept.
#        AGENT=1 also re-measures the voice agents (bench/agent.rs, ~2 min), else the last
#        bench/AGENT.md is kept.
#        TWILIO=1 also re-measures websocket media (bench/twilio.rs: Twilio-leg and bot-stream
#        latency and CPU, concurrent Twilio-leg calls; ~4 min), else the last bench/TWILIO.md is kept.
#        OPS=1 also re-measures operations (bench/ops.py, ~4 min, needs sipp: origination rate
#        to a sipp UAS, call-record write cost with the register on vs off) into bench/OPS.md,
#        else the last bench/OPS.md is kept.
#        CLAIMS=1 also re-measures outbound claims per second, SQLite vs PostgreSQL (bench/claims.rs,
#        ~1 min, needs the Debian postgresql package) into bench/CLAIMS.md, else it is kept.
#        CLUSTER=1 also re-measures scale-out (bench/cluster.sh: 1, 2, 3 nodes behind Kamailio,
#        calls/s, concurrent calls, CPU per call per node and for Kamailio, failover; ~3 min,
#        needs kamailio and sipp) into bench/CLUSTER.md, else the last bench/CLUSTER.md is kept.
#        bench/ENDPOINT.md (SIP endpoint cost per message vs calls up) is written by hand from
#        `cargo bench --bench endpoint -- --markdown` run beside the same bench built against an
#        older commit (its "before" table); it is kept as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${CLUSTER:-0}" = 1 ]; then bench/cluster.sh; fi
if [ "${ENGINE:-0}" = 1 ]; then bench/engine/run.sh; fi
if [ "${AGENT:-0}" = 1 ]; then cargo bench --quiet --bench agent -- --markdown > bench/AGENT.md; fi
if [ "${TWILIO:-0}" = 1 ]; then cargo bench --quiet --bench twilio -- --markdown > bench/TWILIO.md; fi
if [ "${OPS:-0}" = 1 ]; then
  cargo build --release --quiet --bin phonetree
  bench/ops.py > bench/OPS.md.new && mv bench/OPS.md.new bench/OPS.md
fi
if [ "${CLAIMS:-0}" = 1 ]; then
  claims=$(cargo bench --quiet --bench claims -- --jobs 2000)
  {
    echo "## Outbound claims (\`bench/claims.rs\`)"
    echo
    echo "Measured on $(date -u +%Y-%m-%d), $(nproc) cores, release build, one node; see the module doc for the method."
    echo
    echo "$claims"
  } > bench/CLAIMS.md
fi
if [ "${ASR:-0}" = 1 ]; then
  asr=$(cargo bench --quiet --bench asr)
  {
    echo "## Speech recognition (\`bench/asr\`)"
    echo
    echo "Measured on $(date -u +%Y-%m-%d), $(nproc) cores, \`cargo bench --bench asr\` (see its module doc for the method)."
    echo
    echo "$asr"
  } > bench/ASR.md
fi
out=$(cargo bench --quiet --bench flow -- --nodes 1000 --calls 10000)
echo "$out"
dash=$(cargo bench --quiet --bench dashboard -- --requests 2000)
echo "$dash"
{
  echo "# Benchmarks"
  echo
  echo "Measured with \`bench/run.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), release build."
  echo "Every figure is measured beside its baseline in the same run; the ratio column is measured ÷ baseline time."
  echo "Benchmarks are not tests: nothing asserts on these numbers."
  echo
  echo "## Flow language (\`bench/flow.rs\`)"
  echo
  echo "$out"
  echo
  echo "- *validate + compile*: \`flow::compile::compile\` on a generated flow (menus, plays, templated say, set, switch, pause): YAML with spans → JSON Schema → typed structs → checks (references, reachability, endless loops, templates, prompts) → \`Program\`. Baseline: only scanning the same text with saphyr-parser."
  echo "- *simulate*: whole calls of \`flows/characters.yaml\` on virtual time (5 keys incl. theme switches, then hang-up) through \`sim::Sim\`, one thread. Baseline: the same calls also rendering every event as the JSON line \`phonetree simulate\` prints."
  echo
  echo "## Dashboard (\`bench/dashboard.rs\`)"
  echo
  echo "$dash"
  echo
  echo "- The status page (\`GET /\` through the whole HTTP router: gate, template, headers) with 1,000 live calls, requested one after another, timed to the body's last byte. Measured: a SQLite database open and the call register's writer busy with what 1,000 live calls send it (~1,100 items/s). Baseline: the same page with no database and no writer. Alternating rounds in one run. The *live event* is the first \`live\` event of \`GET /status/events\` (the SSE stream the page's script opens: the same 1,000 calls as JSON), timed to its bytes."
  if [ -f bench/ENGINE.md ]; then echo; cat bench/ENGINE.md; fi
  if [ -f bench/AGENT.md ]; then echo; cat bench/AGENT.md; fi
  if [ -f bench/ASR.md ]; then echo; cat bench/ASR.md; fi
  if [ -f bench/TWILIO.md ]; then echo; cat bench/TWILIO.md; fi
  if [ -f bench/OPS.md ]; then echo; cat bench/OPS.md; fi
  if [ -f bench/CLAIMS.md ]; then echo; cat bench/CLAIMS.md; fi
  if [ -f bench/CLUSTER.md ]; then echo; cat bench/CLUSTER.md; fi
  if [ -f bench/ENDPOINT.md ]; then echo; cat bench/ENDPOINT.md; fi
} > BENCHMARKS.md
echo "wrote BENCHMARKS.md"
