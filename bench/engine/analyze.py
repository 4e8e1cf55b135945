#!/usr/bin/env python3
"""Reads one benchmark run's capture and sipp CSVs; prints one JSON object.

Usage: analyze.py --pcap CAP.pcap --ports LOW-HIGH [--rtt-dir DIR] [--thresh-ms 5]

- send lateness: RTP sent by the IVR (UDP source port in LOW-HIGH). Per stream (port, SSRC) and
  talkspurt (a marker bit starts one), a packet is due at the talkspurt's phase plus its RTP
  timestamp offset (timestamp / clock); the phase is the earliest (capture time - offset) in the
  talkspurt, so lateness is measured against the best packet of the talkspurt (a lower bound if
  every packet were equally late). Capture time on lo = send time.
- dtmf -> response: for each RFC 4733 start packet (PT 101, marker) sent to the IVR, the time to
  the next loud G.711 packet the IVR sends on that port (the response prompt is a loud tone, the
  hold prompt quiet noise).
- INVITE -> 200: from the capture (first INVITE sent from --sip-port to the first 200 for it, by
  Call-ID), and sipp's -trace_rtt CSVs (rtd 1, whole milliseconds of sipp's clock) in --rtt-dir.
"""
import argparse
import csv
import glob
import json
import struct
from collections import defaultdict


def ulaw_table():
    t = []
    for u in range(256):
        u = ~u & 0xFF
        sign, exp, mant = u & 0x80, (u >> 4) & 7, u & 0x0F
        s = (((mant << 3) + 0x84) << exp) - 0x84
        t.append(-s if sign else s)
    return t


ULAW = ulaw_table()
CLOCK = {0: 8000, 8: 8000, 111: 48000}


def packets(path):
    """Yields (time, sport, dport, rtp bytes) for UDP/IPv4 frames of a classic pcap."""
    with open(path, "rb") as f:
        hdr = f.read(24)
        if len(hdr) < 24:
            return
        magic = struct.unpack("<I", hdr[:4])[0]
        endian, nano = {0xA1B2C3D4: ("<", False), 0xA1B23C4D: ("<", True),
                        0xD4C3B2A1: (">", False), 0x4D3CB2A1: (">", True)}[magic]
        link = struct.unpack(endian + "I", hdr[20:24])[0]
        off = {1: 14, 113: 16, 0: 4, 101: 0, 228: 0}.get(link, 14)
        while True:
            rh = f.read(16)
            if len(rh) < 16:
                return
            sec, frac, incl, _ = struct.unpack(endian + "IIII", rh)
            data = f.read(incl)
            t = sec + frac / (1e9 if nano else 1e6)
            ip = data[off:]
            if len(ip) < 28 or ip[0] >> 4 != 4 or ip[9] != 17:
                continue
            ihl = (ip[0] & 15) * 4
            sport, dport = struct.unpack("!HH", ip[ihl:ihl + 4])
            yield t, sport, dport, ip[ihl + 8:]


def header(msg, name):
    for line in msg.split(b"\r\n")[1:]:
        if not line:
            break
        k, _, v = line.partition(b":")
        if k.strip().lower() == name:
            return v.strip()
    return b""


def call_id(msg):
    return header(msg, b"call-id") or header(msg, b"i")


def cseq(msg):
    return header(msg, b"cseq")


def pct(v, q):
    if not v:
        return None
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pcap", required=True)
    ap.add_argument("--ports", required=True)
    ap.add_argument("--rtt-dir")
    ap.add_argument("--thresh-ms", type=float, default=5.0)
    ap.add_argument("--sip-port", default="", help="the callers' SIP ports (a,b): INVITE -> 200 from the capture")
    a = ap.parse_args()
    lo, hi = map(int, a.ports.split("-"))
    spurts = defaultdict(list)          # (port, ssrc, n) -> [(t, offset_s)]
    spurt_no = defaultdict(int)
    dtmf_at = defaultdict(list)         # engine port -> [t of RFC 4733 start]
    loud = defaultdict(list)            # engine port -> [t of loud packets]
    invite, ok = {}, {}                 # Call-ID -> first INVITE / first 200 for it
    sip_ports = {int(p) for p in a.sip_port.split(",") if p}
    for t, sport, dport, rtp in packets(a.pcap):
        if sport in sip_ports or dport in sip_ports:
            cid = call_id(rtp)
            if cid and rtp.startswith(b"INVITE ") and sport in sip_ports:
                invite.setdefault(cid, t)
            elif cid and rtp.startswith(b"SIP/2.0 200") and dport in sip_ports and b" INVITE" in cseq(rtp):
                ok.setdefault(cid, t)
            continue
        if len(rtp) < 12 or rtp[0] >> 6 != 2:
            continue
        marker, pt = rtp[1] >> 7, rtp[1] & 0x7F
        if lo <= dport <= hi and pt == 101 and marker:
            dtmf_at[dport].append(t)
            continue
        if not lo <= sport <= hi or pt not in CLOCK:
            continue
        ts, ssrc = struct.unpack("!II", rtp[4:12])
        key = (sport, ssrc)
        if marker:
            spurt_no[key] += 1
        spurts[key + (spurt_no[key],)].append((t, ts, pt))
        if pt in (0,):
            pl = rtp[12:]
            if pl and sum(abs(ULAW[b]) for b in pl[::5]) / len(pl[::5]) > 4000:
                loud[sport].append(t)
    late, n_pkts = [], 0
    for (port, ssrc, _), pk in spurts.items():
        clock = CLOCK[pk[0][2]]
        ts0 = pk[0][1]
        offs = [(t, ((ts - ts0) & 0xFFFFFFFF) / clock) for t, ts, _ in pk]
        phase = min(t - o for t, o in offs)
        for t, o in offs:
            late.append((t - o - phase) * 1000)
        n_pkts += len(pk)
    lat = []
    for port, starts in dtmf_at.items():
        ls = loud.get(port, [])
        j = 0
        for s in starts:
            while j < len(ls) and ls[j] < s:
                j += 1
            if j < len(ls) and ls[j] - s < 5.0:
                lat.append((ls[j] - s) * 1000)
    out = {
        "streams": len({k[:2] for k in spurts}),
        "talkspurts": len(spurts),
        "packets": n_pkts,
        "late_max_ms": round(max(late), 2) if late else None,
        "late_p99_ms": round(pct(late, 0.99), 2) if late else None,
        "late_p999_ms": round(pct(late, 0.999), 2) if late else None,
        "late_over_thresh": sum(x > a.thresh_ms for x in late),
        "late_over_20ms": sum(x > 20 for x in late),
        "dtmf_n": len(lat),
        "dtmf_starts": sum(len(v) for v in dtmf_at.values()),
        "dtmf_p50_ms": round(pct(lat, 0.5), 2) if lat else None,
        "dtmf_p99_ms": round(pct(lat, 0.99), 2) if lat else None,
        "dtmf_max_ms": round(max(lat), 2) if lat else None,
    }
    if sip_ports:
        setup = [(ok[c] - t) * 1000 for c, t in invite.items() if c in ok]
        out.update({"setup_cap_n": len(setup), "invites": len(invite),
                    "setup_cap_p50_ms": round(pct(setup, 0.5), 3) if setup else None,
                    "setup_cap_p99_ms": round(pct(setup, 0.99), 3) if setup else None,
                    "setup_cap_max_ms": round(max(setup), 3) if setup else None})
    if a.rtt_dir:
        setup = []
        for f in glob.glob(a.rtt_dir + "/*_rtt.csv"):
            for row in csv.reader(open(f), delimiter=";"):
                if len(row) >= 3 and row[2].strip() == "1":
                    try:
                        setup.append(float(row[1]))
                    except ValueError:
                        pass
        out.update({"setup_n": len(setup),
                    "setup_p50_ms": pct(setup, 0.5), "setup_p99_ms": pct(setup, 0.99),
                    "setup_max_ms": max(setup) if setup else None})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
