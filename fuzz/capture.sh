#!/usr/bin/env bash
# Captures the SIP messages real peers (sipp, baresip, pjsua2, kamailio) exchange with phonetree
# during the interop tests and stores each distinct one as a seed of the SIP fuzz corpus
# (fuzz/seeds/sip/<peer>-<sha>.sip). Run once on a machine with the peers installed
# (.ci/install-deps.sh) and commit the seeds; the fuzz runs do not need the peers.
# Usage: fuzz/capture.sh   (root, or a user allowed to capture on lo with dumpcap)
set -euo pipefail
cd "$(dirname "$0")/.."
out=fuzz/seeds/sip
work=$(mktemp -d)
trap 'kill "$cap" 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$out"
# UDP payloads that start like a SIP message: "SIP/" or a method name (first 4 bytes).
heads=("SIP/" "INVI" "ACK " "BYE " "CANC" "OPTI" "INFO" "REGI" "NOTI" "REFE" "UPDA" "PRAC" "SUBS" "MESS")
filter=""
for h in "${heads[@]}"; do
  hex=$(printf '%s' "$h" | xxd -p)
  filter="${filter:+$filter or }(udp[8:4] = 0x$hex)"
done
dumpcap -q -i lo -f "udp and ($filter)" -w "$work/sip.pcapng" &
cap=$!
sleep 2
PHONETREE_INTEROP=1 cargo test --quiet --test interop -- --test-threads=1 || true
sleep 1
kill "$cap"; wait "$cap" 2>/dev/null || true
tshark -r "$work/sip.pcapng" -T fields -e udp.payload 2>/dev/null | python3 -c '
import sys, hashlib, os, re
out = sys.argv[1]
# Which peer wrote a message: its User-Agent/Server, or sipp'"'"'s From (our scenarios).
# Anything else (phonetree itself, test callers, other processes on lo) is not kept.
def peer(head):
    ua = re.search(r"^(?:User-Agent|Server):(.*)$", head, re.M | re.I)
    ua = ua.group(1).lower() if ua else ""
    for name in ("pjsua2", "baresip", "kamailio", "linphone", "asterisk"):
        if name in ua:
            return name
    if "sipp" in ua or re.search(r"^(?:From|f):.*sip:sipp@.*SIPpTag", head, re.M | re.I):
        return "sipp"
    return None
def shape(data):
    # Messages that differ only in identifiers, ports and lengths are one seed.
    t = re.sub(rb"(branch=|tag=|Call-ID:|i:)[^;\r\n>]*", rb"\1X", data)
    t = re.sub(rb"\d+", b"0", t)
    return hashlib.sha256(t).hexdigest()
seen, kept = set(), 0
for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    data = bytes.fromhex(line.replace(":", ""))
    head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    who = peer(head)
    key = shape(data)
    if who is None or key in seen:
        continue
    seen.add(key)
    path = os.path.join(out, "%s-%s.sip" % (who, key[:12]))
    if not os.path.exists(path):
        open(path, "wb").write(data)
        kept += 1
print("new seeds:", kept)
' "$out"
ls "$out" | sed 's/-.*//' | sort | uniq -c
