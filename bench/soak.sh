#!/usr/bin/env bash
# bench/soak.sh — the soak of issue 10: CALLS concurrent calls for DURATION seconds against a
# release `phonetree run` (bench/engine/flows/bench.yaml: a hold prompt, key 1 → a tone), keys
# pressed all along, calls churning (each lasts CALL_SECS, then the next one starts). Reports
# RSS slope, late-packet growth and leaks (descriptors, threads, UDP sockets: before the load
# and after every call has ended). Not a test: nothing asserts; the figures go to
# docs/security.md. Needs sipp, sox and curl.
#
# Callers (sipp on 127.0.0.1, one source: per-source limits off): PCAP_CALLS of them play a
# G.711 pcap with an RFC 4733 key `1` every 10 s (bench/engine/mkpcap.py; one sipp thread per
# call, so few); the rest stream G.711 with sipp's rtp_stream and press `1` by SIP INFO every
# 20 s. Every INTERVAL seconds one line goes to $W/samples.tsv: time, RSS, descriptors, threads,
# live calls, RTP packets sent and sent late (from /metrics).
#
# Knobs: CALLS=1000 DURATION=3600 CALL_SECS=120 PCAP_CALLS=50 INTERVAL=60 RATE=50.
# A quick check of this script: CALLS=40 DURATION=120 CALL_SECS=30 INTERVAL=10 bench/soak.sh
# Ports: SIP 17200, HTTP 18280, RTP 40000-45999, sipp 17250/17251 (media 48000/48100).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CALLS=${CALLS:-1000}; DURATION=${DURATION:-3600}; CALL_SECS=${CALL_SECS:-120}
PCAP_CALLS=${PCAP_CALLS:-50}; INTERVAL=${INTERVAL:-60}; RATE=${RATE:-50}
PY=${BENCH_PY:-/opt/phonetree-interop/venv/bin/python}
SIP=127.0.0.1:17200; HTTP=127.0.0.1:18280
die() { echo "bench/soak: $*" >&2; exit 2; }
for t in sipp sox curl cargo; do command -v $t >/dev/null || die "missing '$t'"; done
[ "$PCAP_CALLS" -lt "$CALLS" ] || PCAP_CALLS=$((CALLS / 2))
ulimit -n 20000 2>/dev/null || true

if [ -n "${PHONETREE_BIN:-}" ]; then BIN=$PHONETREE_BIN
else
  cargo build --release --quiet --bin phonetree || die "release build failed"
  BIN=$ROOT/target/release/phonetree
fi
W=$(mktemp -d /tmp/phonetree-soak.XXXXXX)
echo "== work dir $W"
mkdir -p "$W/sound" "$W/pcap" "$W/bulk"
sox -n -r 8000 -c 1 -b 16 "$W/sound/hold.wav" synth 120 pinknoise vol 0.02
sox -n -r 8000 -c 1 -b 16 "$W/sound/response.wav" synth 1.0 sine 1000 vol 0.5
sox sound/welcome.wav -r 8000 -c 1 -e u-law "$W/bulk.wav"
keys=$(seq 5 10 $((CALL_SECS - 5)) | sed 's/^/1@/' | paste -sd,)
"$PY" bench/engine/mkpcap.py sound/welcome.wav "$W/keys.pcap" --codec pcmu --seconds "$CALL_SECS" \
  --dtmf "$keys" || die "pcap (needs numpy: set BENCH_PY)"

# The bulk callers' scenario: uac.xml with rtp_stream instead of the pcap, and a key by SIP INFO
# every 20 s while the call is held (the pause is split around the INFOs).
infos=$(( (CALL_SECS - 1) / 20 ))
"$PY" - "$ROOT/bench/engine/uac.xml" "$W/uac_bulk.xml" "$W/bulk.wav" "$infos" "$CALL_SECS" <<'EOF'
import sys
src, dst, wav, infos, secs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
x = open(src).read()
x = x.replace('<exec play_pcap_audio="[pcap]"/>', f'<exec rtp_stream="{wav},-1,0"/>')
info = '''  <send retrans="500">
    <![CDATA[
      INFO [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "sipp" <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: [cseq] INFO
      Contact: <sip:sipp@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Content-Type: application/dtmf-relay
      Content-Length: [len]

      Signal=1
      Duration=160
    ]]>
  </send>
  <recv response="200"/>
'''
body = "".join(f'  <pause milliseconds="20000"/>\n{info}' for _ in range(infos))
rest = max(1000, (secs - 20 * infos) * 1000)
x = x.replace('<pause/>  <!-- -d milliseconds -->', body + f'  <pause milliseconds="{rest}"/>')
x = x.replace("CSeq: 2 BYE", "CSeq: [cseq] BYE")
open(dst, "w").write(x)
EOF
grep -q 'dtmf-relay' "$W/uac_bulk.xml" || die "bulk scenario"

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; }
trap cleanup EXIT
PHONETREE_LOG=warn PHONETREE_SIP_RATE_INVITE=0 PHONETREE_SIP_MAX_CALLS_PER_SOURCE=0 \
  timeout $((DURATION + CALL_SECS + 300)) "$BIN" run --sip "$SIP" --http "$HTTP" \
  --flows "$ROOT/bench/engine/flows" --sound "$W/sound" --rtp-ports 40000-45999 \
  >"$W/phonetree.log" 2>&1 &
PIDS+=("$!")
PT=""
for _ in $(seq 100); do
  PT=$(cat "/proc/${PIDS[0]}/task/${PIDS[0]}/children" 2>/dev/null | awk '{print $1}')
  [ -n "$PT" ] && curl -sf "http://$HTTP/healthz" >/dev/null && break
  sleep 0.1
done
[ -n "$PT" ] || die "phonetree did not start ($W/phonetree.log)"

rss() { awk '/VmRSS/{print $2}' "/proc/$PT/status"; }
fds() { ls "/proc/$PT/fd" | wc -l; }
threads() { awk '/Threads/{print $2}' "/proc/$PT/status"; }
live() { curl -sf "http://$HTTP/healthz" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["calls"])' 2>/dev/null || echo "?"; }
rtp() { curl -sf "http://$HTTP/metrics" | awk -v k="$1" '$0 ~ "^phonetree_rtp_packets_total\\{kind=\""k"\"\\}" {print $2}' | tail -1; }
sample() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date +%s)" "$(rss)" "$(fds)" "$(threads)" "$(live)" "$(rtp sent)" "$(rtp late)"; }

before="$(rss) $(fds) $(threads)"
echo "== before the load: RSS $(rss) KiB, $(fds) descriptors, $(threads) threads"
printf 't\trss_kib\tfds\tthreads\tcalls\tsent\tlate\n' >"$W/samples.tsv"
total=$(( CALLS * DURATION / CALL_SECS ))   # calls started in all (each CALL_SECS long)
pcap_total=$(( PCAP_CALLS * DURATION / CALL_SECS )); bulk=$((CALLS - PCAP_CALLS)); bulk_total=$((total - pcap_total))
( cd "$W/pcap" && timeout $((DURATION + CALL_SECS + 120)) sipp "$SIP" -sf "$ROOT/bench/engine/uac.xml" \
    -key pcap "$W/keys.pcap" -key pt 0 -key rtpmap PCMU/8000 -s bench -i 127.0.0.1 -p 17250 \
    -mi 127.0.0.1 -mp 48000 -l "$PCAP_CALLS" -m "$pcap_total" -r "$RATE" -d $((CALL_SECS * 1000)) \
    -nostdin -max_retrans 4 -trace_stat -stf stat.csv -fd 10 >/dev/null 2>&1 ) &
PIDS+=("$!"); SP=$!
( cd "$W/bulk" && timeout $((DURATION + CALL_SECS + 120)) sipp "$SIP" -sf "$W/uac_bulk.xml" \
    -key pt 0 -key rtpmap PCMU/8000 -s bench -i 127.0.0.1 -p 17251 -mi 127.0.0.1 -mp 48100 \
    -l "$bulk" -m "$bulk_total" -r "$RATE" -nostdin -max_retrans 4 -trace_stat -stf stat.csv -fd 10 \
    >/dev/null 2>&1 ) &
PIDS+=("$!"); BP=$!
end=$(( $(date +%s) + DURATION ))
while [ "$(date +%s)" -lt "$end" ]; do
  sleep "$INTERVAL"
  sample | tee -a "$W/samples.tsv"
done
echo "== load stops; waiting for every call to end"
wait "$SP"; wait "$BP"
for _ in $(seq 120); do [ "$(live)" = 0 ] && break; sleep 1; done
sleep 2
after="$(rss) $(fds) $(threads)"
last_row() { tail -n1 "$1" 2>/dev/null; }
"$PY" - "$W/samples.tsv" "$before" "$after" "$W/pcap/stat.csv" "$W/bulk/stat.csv" "$CALLS" "$DURATION" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
b, a = [list(map(int, s.split())) for s in sys.argv[2:4]]
def sipp(f):
    try:
        r = list(csv.DictReader(open(f), delimiter=";"))[-1]
        return int(r["SuccessfulCall(C)"]), int(r["FailedCall(C)"])
    except (OSError, IndexError, KeyError, ValueError):
        return 0, 0
ok = [x + y for x, y in zip(sipp(sys.argv[4]), sipp(sys.argv[5]))]
# RSS slope over the steady part (after the first quarter), least squares, KiB per hour.
rows = [r for r in rows if r["rss_kib"].isdigit()]
steady = rows[len(rows) // 4:]
slope = 0.0
if len(steady) >= 2:
    t = [int(r["t"]) for r in steady]; y = [int(r["rss_kib"]) for r in steady]
    mt, my = sum(t) / len(t), sum(y) / len(y)
    den = sum((x - mt) ** 2 for x in t) or 1
    slope = sum((x - mt) * (v - my) for x, v in zip(t, y)) / den * 3600
def late_share(part):
    if len(part) < 2:
        return float("nan")
    f = lambda r, k: float(r[k] or 0)
    sent = f(part[-1], "sent") - f(part[0], "sent")
    return 100 * (f(part[-1], "late") - f(part[0], "late")) / max(1, sent)
q = max(2, len(rows) // 4)
busy = [r for r in steady if r["calls"].isdigit() and int(r["calls"]) > 0] or steady
span = lambda k: f"{min(int(r[k]) for r in busy)}–{max(int(r[k]) for r in busy)}" if busy else "?"
print(f"figures: soak {sys.argv[6]} calls for {sys.argv[7]} s: calls ok {ok[0]}, failed {ok[1]}; "
      f"RSS {rows[0]['rss_kib'] if rows else '?'} → {rows[-1]['rss_kib'] if rows else '?'} KiB under load, "
      f"slope {slope:+.0f} KiB/h over the last three quarters; late packets {late_share(rows[:q]):.3f} % "
      f"in the first quarter, {late_share(rows[-q:]):.3f} % in the last; under load (steady part) "
      f"descriptors {span('fds')}, threads {span('threads')}; before/after the load (the first "
      f"calls start the media workers and pools once): "
      f"RSS {b[0]} → {a[0]} KiB, descriptors {b[1]} → {a[1]}, threads {b[2]} → {a[2]}")
EOF
echo "samples: $W/samples.tsv"
