#!/usr/bin/env bash
# bench/engine/run.sh — load benchmark of `phonetree run` (real SIP/RTP on 127.0.0.1) beside a
# minimal pjsua2 IVR baseline, in one run. Writes bench/ENGINE.md (bench/run.sh appends it to
# BENCHMARKS.md). See bench/engine/README.md. Nothing is installed by this script; it needs:
#   apt-get install sip-tester tshark sox python3-venv libopus0 curl gcc  (dumpcap comes with tshark)
#   apt-get install rt-tests     (optional: cyclictest, the machine's own wake-up latency per window)
#   python3 -m venv ~/.cache/phonetree-bench/venv
#   ~/.cache/phonetree-bench/venv/bin/pip install pjsua2-python numpy    (or set BENCH_PY=.../python)
# Knobs (environment): LEVELS="250 500 1000 1500 2000" (concurrent G.711 calls), SILENT_LEVELS="1000 2000"
# (levels whose bulk callers send no RTP: phonetree's own capacity), ALWAYS_LEVELS (default: the
# last of LEVELS; levels re-run with rtp.inband_dtmf: always, for the auto ÷ always ratio), RATE=100 (calls/s),
# WINDOW=30 (steady seconds measured per level), BASE_N=4 (baseline concurrency, the pjsua2
# wheel's cap; 0 skips the side-by-side), OPUS_N=200 (Opus vs G.711 concurrency; 0 skips it),
# CAPTURE_CALLS=100 (calls captured per level), FLOOR=1 (0 skips the kernel-floor runs).
# Ports: SIP 17000 (phonetree) 17050 (sipp) 17100 (baseline), HTTP 18080, RTP 30000-35999
# (phonetree) 36000-36399 (baseline) 38000 (sipp). Every process is bounded by `timeout`
# and stopped by its PID. Takes ~6 min plus the release build.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
LEVELS=${LEVELS:-250 500 1000 1500 2000}; SILENT_LEVELS=${SILENT_LEVELS-1000 2000}; RATE=${RATE:-100}; WINDOW=${WINDOW:-30}
BASE_N=${BASE_N:-4}; OPUS_N=${OPUS_N:-200}; CAPTURE_CALLS=${CAPTURE_CALLS:-100}
PY=${BENCH_PY:-$HOME/.cache/phonetree-bench/venv/bin/python}
SIP=127.0.0.1:17000; HTTP=127.0.0.1:18080; RTP_LO=30000; RTP_HI=35999
BASE_SIP=127.0.0.1:17100; BASE_RTP=36000; SIPP_PORT=17050; SIPP_MP=38000; BULK_PORT=17051; BULK_MP=38100
HZ=$(getconf CLK_TCK)

die() { echo "bench/engine: $*" >&2; exit 2; }
for t in sipp dumpcap sox curl cargo; do command -v $t >/dev/null || die "missing '$t' (see the header of this script)"; done
"$PY" -c 'import numpy, pjsua2' 2>/dev/null || die "no python with numpy + pjsua2 at $PY (set BENCH_PY; see header)"
ulimit -n 20000 2>/dev/null || true

if [ -n "${PHONETREE_BIN:-}" ]; then BIN=$PHONETREE_BIN   # e.g. a debug build, for a smoke run of this script
else
  echo "== release build"
  cargo build --release --quiet --bin phonetree || die "release build failed"
  BIN=$ROOT/target/release/phonetree
fi

export BENCH_BUILD; BENCH_BUILD=$(basename "$(dirname "$BIN")")
W=$(mktemp -d /tmp/phonetree-bench.XXXXXX)
echo "== work dir $W"
mkdir -p "$W/sound"
sox -n -r 8000 -c 1 -b 16 "$W/sound/hold.wav" synth 120 pinknoise vol 0.02
sox -n -r 8000 -c 1 -b 16 "$W/sound/response.wav" synth 1.0 sine 1000 vol 0.5
RESULTS=$W/results.jsonl; : >"$RESULTS"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; }
trap cleanup EXIT

# ticks(PID) -> utime+stime in clock ticks; rss(PID) -> VmRSS kB
ticks() { awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $5+$6}' /proc/stat; }   # "busy idle" jiffies, whole machine
sticks() { awk '{print $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
rss() { awk '/VmRSS/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

start_phonetree() {   # -> PT_PID (tries 3 times: the previous run's ports may still be closing)
  local try t
  for try in 1 2 3; do
    # All load comes from one address (sipp on 127.0.0.1): no per-source limits.
    PHONETREE_LOG=warn PHONETREE_SIP_RATE_INVITE=0 PHONETREE_SIP_MAX_CALLS_PER_SOURCE=0 \
      timeout 900 "$BIN" run --sip "$SIP" --http "$HTTP" --flows "$ROOT/bench/engine/flows" \
      --sound "$W/sound" --rtp-ports "$RTP_LO-$RTP_HI" >"$W/phonetree.$1.log" 2>&1 &
    t=$!; PIDS+=("$t"); PT_PID=$(child_of $t)
    for _ in $(seq 100); do
      curl -sf "http://$HTTP/healthz" >/dev/null && return 0
      kill -0 "$t" 2>/dev/null || break
      sleep 0.1
    done
    stop "$PT_PID"; sleep 2
  done
  die "phonetree did not come up (log: $W/phonetree.$1.log)"
}
# the process `timeout` runs (what we measure), by the PID of that timeout
child_of() { local c=""; for _ in $(seq 50); do c=$(cat "/proc/$1/task/$1/children" 2>/dev/null | awk '{print $1}'); [ -n "$c" ] && break; sleep 0.1; done; echo "${c:-$1}"; }
stop() {   # SIGTERM (phonetree drains: 503 to new calls), then SIGKILL after 5 s; waits until gone
  kill -TERM "$1" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null
  for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
}

idle() { awk -v n="$1" -v a="$2" -v b="$3" -v hz="$HZ" 'BEGIN{printf "{\"name\":\"%s\",\"cpu_s_per_s\":%.5f}\n", n, (b-a)/hz/5}' | tee -a "$RESULTS"; }

# measure NAME PID TARGET N PCAP PT RTPMAP M EXTRA_JSON [BULK_SCENARIO]
# N calls at RATE (at most N at once), each held ramp+WINDOW+4 s; CPU and RSS of PID are sampled
# over the WINDOW during which all N calls are up. M of them ("measured" calls: sipp playing PCAP,
# with keys, one thread per call) are captured on lo; the other N-M ("bulk" calls: sipp's
# rtp_stream, PCMU only, ~20 calls per thread) only make load, because sipp cannot play 1,000+
# pcaps at once on this machine.
measure() {
  local name=$1 pid=$2 target=$3 n=$4 pcap=$5 pt=$6 rtpmap=$7 m=$8 extra=$9 bulk_sf=${10:-$W/uac_stream.xml}
  local d=$W/$name; mkdir -p "$d/bulk"
  local rate=$RATE; [ "$n" -lt "$rate" ] && rate=$n
  local ramp=$(( (n + rate - 1) / rate + 2 ))
  local hold=$(( ramp + WINDOW + 4 ))
  local bulk=$(( n - m ))
  # one short warm-up call first: the prompt cache encodes the hold prompt once per codec
  ( cd "$d" && timeout 30 sipp "$target" -sf "$ROOT/bench/engine/uac.xml" -key pcap "$pcap" -key pt "$pt" \
      -key rtpmap "$rtpmap" -s bench -i 127.0.0.1 -p $SIPP_PORT -mi 127.0.0.1 -mp $SIPP_MP -m 1 -l 1 -d 2000 \
      -nostdin >/dev/null 2>&1 ) || echo "warm-up call failed ($name)" >&2
  sleep 1
  local rss0; rss0=$(rss "$pid")
  timeout $((hold + 30)) dumpcap -q -i lo -P -f "udp port $SIPP_MP or udp port $SIPP_PORT or udp port $BULK_PORT" \
    -a duration:$((hold + 20)) -w "$d/cap.pcap" >"$d/dumpcap.log" 2>&1 &
  local cap=$!; PIDS+=("$cap"); sleep 1
  ( cd "$d" && timeout $((hold + n / rate + 60)) sipp "$target" -sf "$ROOT/bench/engine/uac.xml" \
      -key pcap "$pcap" -key pt "$pt" -key rtpmap "$rtpmap" -s bench -i 127.0.0.1 -p $SIPP_PORT \
      -mi 127.0.0.1 -mp $SIPP_MP -m "$m" -l "$m" -r "$rate" -d $((hold * 1000)) -nostdin \
      -max_retrans 4 -trace_stat -stf "$d/stat.csv" -fd 1 -trace_rtt -rtt_freq 1 \
      -trace_err -error_file "$d/errors.log" >/dev/null 2>&1 ) &
  local sp=$!; PIDS+=("$sp")
  local bp=""
  if [ "$bulk" -gt 0 ]; then
    sleep $(( (m + rate - 1) / rate ))
    ( cd "$d/bulk" && timeout $((hold + n / rate + 60)) sipp "$target" -sf "$bulk_sf" \
        -key pt 0 -key rtpmap PCMU/8000 -s bench -i 127.0.0.1 -p $BULK_PORT \
        -mi 127.0.0.1 -mp $BULK_MP -m "$bulk" -l "$bulk" -r "$rate" -d $((hold * 1000)) -nostdin \
        -max_retrans 4 -trace_stat -stf "$d/bulk/stat.csv" -fd 1 -trace_err -error_file "$d/bulk/errors.log" \
        >/dev/null 2>&1 ) &
    bp=$!; PIDS+=("$bp")
  fi
  sleep "$ramp"
  local up; up=$(curl -sf "http://$HTTP/healthz" 2>/dev/null | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["calls"])' 2>/dev/null || echo "?")
  local t0 c0 t1 c1 s0 s1 rss1 load
  t0=$(date +%s.%N); c0=$(ticks "$pid"); s0=$(sticks "$pid"); local m0; m0=$(busy)
  local cyc=""
  if command -v cyclictest >/dev/null; then   # the machine's own wake-up latency meanwhile
    timeout $((WINDOW + 10)) cyclictest -m -q -p 95 -i 1000 -t 1 -D "$WINDOW" >"$d/cyclictest.txt" 2>&1 &
    cyc=$!; PIDS+=("$cyc")
  fi
  sleep "$WINDOW"
  [ -n "$cyc" ] && wait "$cyc" 2>/dev/null
  t1=$(date +%s.%N); c1=$(ticks "$pid"); s1=$(sticks "$pid"); rss1=$(rss "$pid"); load=$(cut -d' ' -f1 /proc/loadavg); local m1; m1=$(busy)
  wait "$sp"; local rc=$?
  [ -n "$bp" ] && { wait "$bp" || rc=$((rc ? rc : 1)); }
  sleep 1; kill "$cap" 2>/dev/null; wait "$cap" 2>/dev/null
  "$PY" "$ROOT/bench/engine/analyze.py" --pcap "$d/cap.pcap" --ports "${ENGINE_PORTS:-$RTP_LO-$RTP_HI}" --sip-port $SIPP_PORT,$BULK_PORT \
    --rtt-dir "$d" >"$d/analysis.json" || echo '{}' >"$d/analysis.json"
  "$PY" - "$d" "$name" "$n" "$rc" "$t0" "$t1" "$c0" "$c1" "$HZ" "$rss0" "$rss1" "$load" "$up" "$extra" "$s0" "$s1" "$m0" "$m1" <<'EOF' | tee -a "$RESULTS"
import csv, json, sys
d, name, n, rc, t0, t1, c0, c1, hz, rss0, rss1, load, up, extra, s0, s1, m0, m1 = sys.argv[1:]
(b0, i0), (b1, i1) = [map(int, x.split()) for x in (m0, m1)]
machine_busy = round(100 * (b1 - b0) / max(1, (b1 - b0) + (i1 - i0)), 1)
n = int(n); secs = float(t1) - float(t0); cpu = (int(c1) - int(c0)) / int(hz)
def last_row(f):
    try:
        rows = list(csv.DictReader(open(f), delimiter=";"))
    except OSError:
        rows = []
    return rows[-1] if rows else {}
a, b = last_row(d + "/stat.csv"), last_row(d + "/bulk/stat.csv")
count = lambda k: int(a.get(k, 0) or 0) + int(b.get(k, 0) or 0)
r = dict(name=name, calls=n, sipp_rc=int(rc), up_at_window=up, window_s=round(secs, 1),
         cpu_s=round(cpu, 2), sys_share=round((int(s1) - int(s0)) / max(1, int(c1) - int(c0)), 2), cpu_pct_core_per_call=round(100 * cpu / (n * secs), 5),
         rss_idle_kb=int(rss0), rss_kb=int(rss1), rss_per_call_kb=round((int(rss1) - int(rss0)) / n, 1),
         loadavg=float(load), machine_busy_pct=machine_busy, ok=count("SuccessfulCall(C)"), failed=count("FailedCall(C)"))
r.update(json.load(open(d + "/analysis.json")))
try:
    import re
    m = re.search(r"Avg:\s*(\d+)\s+Max:\s*(\d+)", open(d + "/cyclictest.txt").read())
    if m:
        r.update(wakeup_avg_ms=int(m.group(1)) / 1000, wakeup_max_ms=int(m.group(2)) / 1000)
except OSError:
    pass
r.update(json.loads(extra))
print(json.dumps(r))
EOF
}

echo "== pcaps"
"$PY" bench/engine/mkpcap.py sound/welcome.wav "$W/g711_dtmf.pcap" --codec pcmu --seconds 120 --dtmf "1@5,1@15,1@25,1@35,1@45,1@55,1@65,1@75,1@85,1@95" || die "pcap"
"$PY" bench/engine/mkpcap.py sound/welcome.wav "$W/g711.pcap" --codec pcmu --seconds 120 || die "pcap"
"$PY" bench/engine/mkpcap.py sound/welcome.wav "$W/opus.pcap" --codec opus --seconds 120 || die "pcap"
sox sound/welcome.wav -r 8000 -c 1 -e u-law "$W/bulk.wav"    # the bulk calls' audio (rtp_stream, looped)
sed -e "s|<exec play_pcap_audio=\"\[pcap\]\"/>|<exec rtp_stream=\"$W/bulk.wav,-1,0\"/>|" bench/engine/uac.xml >"$W/uac_stream.xml"
grep -q rtp_stream "$W/uac_stream.xml" || die "could not make the rtp_stream scenario"
# silent bulk calls (SILENT_LEVELS): SIP only, no RTP from the caller, so nearly all the CPU is phonetree's
grep -v "play_pcap_audio" bench/engine/uac.xml >"$W/uac_silent.xml"

if [ "$BASE_N" -gt 0 ]; then
echo "== baseline: pjsua2 IVR at $BASE_N calls"
timeout $((WINDOW + 120)) "$PY" bench/engine/baseline_ivr.py --listen "$BASE_SIP" --rtp-port $BASE_RTP \
  --hold "$W/sound/hold.wav" --response "$W/sound/response.wav" --lifetime $((WINDOW + 100)) >"$W/baseline.log" 2>"$W/baseline.err" &
PIDS+=("$!"); BP=$(child_of $!)
for _ in $(seq 100); do grep -q ready "$W/baseline.log" 2>/dev/null && break; sleep 0.1; done
# the Python process itself: its idle cost (null sound clock, event loop) is part of what it costs
bi0=$(ticks $BP); sleep 5; bi1=$(ticks $BP)
idle baseline_idle "$bi0" "$bi1"
ENGINE_PORTS="$BASE_RTP-$((BASE_RTP + 399))" measure baseline $BP "$BASE_SIP" "$BASE_N" "$W/g711_dtmf.pcap" 0 PCMU/8000 "$BASE_N" '{"engine":"pjsua2"}'
stop $BP

echo "== phonetree at $BASE_N calls (same load as the baseline)"
start_phonetree base
pi0=$(ticks $PT_PID); sleep 5; pi1=$(ticks $PT_PID)
idle phonetree_idle "$pi0" "$pi1"
measure phonetree_base $PT_PID "$SIP" "$BASE_N" "$W/g711_dtmf.pcap" 0 PCMU/8000 "$BASE_N" '{"engine":"phonetree"}'
stop $PT_PID
fi

for n in $LEVELS; do
  echo "== phonetree at $n G.711 calls"
  start_phonetree "g711_$n"
  c=$CAPTURE_CALLS; [ "$c" -gt "$n" ] && c=$n
  measure "phonetree_$n" $PT_PID "$SIP" "$n" "$W/g711_dtmf.pcap" 0 PCMU/8000 "$c" '{"engine":"phonetree","codec":"pcmu"}'
  stop $PT_PID
done

# The same load with in-band DTMF searched in every packet (the old behaviour): auto ÷ always.
for n in ${ALWAYS_LEVELS-$(echo $LEVELS | awk '{print $NF}')}; do
  echo "== phonetree at $n G.711 calls, rtp.inband_dtmf: always"
  PHONETREE_RTP_INBAND_DTMF=always start_phonetree "always_$n"
  c=$CAPTURE_CALLS; [ "$c" -gt "$n" ] && c=$n
  measure "always_$n" $PT_PID "$SIP" "$n" "$W/g711_dtmf.pcap" 0 PCMU/8000 "$c" '{"engine":"phonetree","codec":"pcmu","inband_dtmf":"always"}'
  stop $PT_PID
done

for n in ${SILENT_LEVELS:-}; do
  echo "== phonetree at $n G.711 calls, bulk callers silent (phonetree sends, the bulk callers send nothing)"
  PHONETREE_RTP_TIMEOUT=600s start_phonetree "silent_$n"
  c=$CAPTURE_CALLS; [ "$c" -gt "$n" ] && c=$n
  measure "silent_$n" $PT_PID "$SIP" "$n" "$W/g711_dtmf.pcap" 0 PCMU/8000 "$c" '{"engine":"phonetree","codec":"pcmu","silent_bulk":true}' "$W/uac_silent.xml"
  stop $PT_PID
done

for codec in $([ "$OPUS_N" -gt 0 ] && echo pcmu opus); do
  echo "== phonetree at $OPUS_N $codec calls (no digits)"
  start_phonetree "$codec"
  if [ $codec = opus ]; then pc=$W/opus.pcap pt=111 map=opus/48000/2; else pc=$W/g711.pcap pt=0 map=PCMU/8000; fi
  measure "codec_$codec" $PT_PID "$SIP" "$OPUS_N" "$pc" $pt $map "$OPUS_N" "{\"engine\":\"phonetree\",\"codec\":\"$codec\"}"
  stop $PT_PID
done

# The kernel's price of the same traffic with no engine at all (bench/engine/floor.c): one C
# thread sending (and with --recv also reading) N RTP streams to a peer thread on loopback.
FLOOR_N=$(for n in $LEVELS ${SILENT_LEVELS:-}; do echo "$n"; done | sort -n | tail -1)
if [ "${FLOOR:-1}" = 1 ] && [ -n "$FLOOR_N" ] && command -v gcc >/dev/null; then
  echo "== kernel floor at $FLOOR_N calls (bench/engine/floor.c)"
  gcc -O2 -o "$W/floor" bench/engine/floor.c -lpthread || die "floor.c build"
  # sipp's pcap player opens a raw UDP socket per playing call (CAPTURE_CALLS of them at every
  # level): each gets a clone of every datagram sent to 127.0.0.1, paid by the sender on
  # loopback. The floor the ratios use pays that too (--raw); the clean floor is shown beside it.
  RAW=$CAPTURE_CALLS; [ "$RAW" -gt "$FLOOR_N" ] && RAW=$FLOOR_N
  for mode in send recv send_clean recv_clean; do
    flag=(--raw "$RAW"); case $mode in *clean) flag=() ;; esac
    case $mode in recv*) flag+=(--recv) ;; esac
    timeout $((WINDOW + 30)) "$W/floor" "$FLOOR_N" "$WINDOW" "${flag[@]}" | \
      "$PY" -c 'import json,sys; r=json.load(sys.stdin); r["name"]="floor_'$mode'"; print(json.dumps(r))' | tee -a "$RESULTS"
  done
fi

echo "== report"
"$PY" bench/engine/report.py "$RESULTS" >bench/ENGINE.md || die "report failed (results: $RESULTS)"
cat bench/ENGINE.md
echo "raw results: $RESULTS"
