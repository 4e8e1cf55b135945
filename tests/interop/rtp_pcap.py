#!/usr/bin/env python3
"""RTP <-> pcap for the sipp peer, which plays RTP from a pcap but cannot record what it hears.

  rtp_pcap.py build IN.wav OUT.pcap [--codec PCMU|PCMA] [--dtmf '1@3,#@6'] [--seconds 12]
      One 20 ms G.711 stream from the wav (sox: 8 kHz mono, padded/cut to --seconds) with RFC 4733
      telephone-event packets (PT 101) at the given seconds; during a digit the event packets
      replace the audio, as phones do; the end packet goes out 3 times with one seq (RFC 4733 2.5.1.4).
      Addresses in the pcap are dummies: sipp rewrites them per call.
  rtp_pcap.py record CAPTURE.pcap --dst-port P -o OUT.wav
      The G.711 RTP sent TO port P in a capture (dumpcap -i lo -P, Ethernet or Linux cooked) as an
      8 kHz wav placed by RTP timestamp (gaps filled with silence), plus the RFC 4733 events seen.
      Prints a JSON summary.
"""
import argparse
import json
import struct
import subprocess
import wave

import numpy as np

EVENTS = "0123456789*#ABCD"


def ulaw_decode_table():
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, 0x84 - t, t - 0x84).astype(np.int16)


def alaw_decode_table():
    a = np.arange(256, dtype=np.int32) ^ 0x55
    seg = (a & 0x70) >> 4
    t = np.where(seg == 0, ((a & 0x0F) << 4) + 8, (((a & 0x0F) << 4) + 0x108) << np.maximum(seg - 1, 0))
    return np.where(a & 0x80, t, -t).astype(np.int16)


def encode_table(decode):
    """Nearest-code encoder for 16-bit PCM, built from the decode table (exact for G.711)."""
    order = np.argsort(decode)
    values = decode[order].astype(np.int32)
    grid = np.arange(-32768, 32768, dtype=np.int32)
    i = np.clip(np.searchsorted(values, grid), 1, len(values) - 1)
    nearest = np.where(grid - values[i - 1] <= values[i] - grid, i - 1, i)
    return order[nearest].astype(np.uint8)


CODECS = {"PCMU": (0, ulaw_decode_table()), "PCMA": (8, alaw_decode_table())}


def frame(rtp, sport=6000, dport=6002):
    udp = struct.pack("!HHHH", sport, dport, 8 + len(rtp), 0) + rtp
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, bytes([127, 0, 0, 1]),
                     bytes([127, 0, 0, 1]))
    s = sum(struct.unpack("!10H", ip))
    s = (s & 0xFFFF) + (s >> 16)
    s = ~(s + (s >> 16)) & 0xFFFF
    ip = ip[:10] + struct.pack("!H", s) + ip[12:]
    return b"\0" * 12 + b"\x08\x00" + ip + udp


def build(a):
    raw = subprocess.run(["sox", a.wav, "-t", "s16", "-r", "8000", "-c", "1", "-"], check=True,
                         capture_output=True, timeout=60).stdout
    pcm = np.frombuffer(raw, dtype="<i2")
    n = int(a.seconds * 50)
    pcm = np.concatenate([pcm, np.zeros(max(0, n * 160 - len(pcm)), dtype="<i2")])[:n * 160]
    pt, table = CODECS[a.codec]
    coded = encode_table(table)[pcm.astype(np.int32) + 32768]
    digits = {}
    for item in filter(None, a.dtmf.split(",")):
        d, at = item.split("@")
        digits[int(float(at) * 50)] = d
    ev_pkts = max(1, a.dtmf_ms // 20)
    ssrc, seq, out, i, t0 = 0x5EED1234, 1000, [], 0, 1_000_000.0

    def rtp(ptype, marker, ts, payload):
        return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | ptype, seq & 0xFFFF, ts & 0xFFFFFFFF,
                           ssrc) + payload

    while i < n:
        if i in digits:
            ev, ts0 = EVENTS.index(digits[i].upper()), i * 160
            for k in range(ev_pkts):
                end = k == ev_pkts - 1
                pl = struct.pack("!BBH", ev, (0x80 if end else 0) | 10, (k + 1) * 160)
                for _ in range(3 if end else 1):
                    out.append((t0 + (i + k) * 0.02, frame(rtp(101, k == 0, ts0, pl))))
                seq += 1
            i += ev_pkts
            continue
        out.append((t0 + i * 0.02, frame(rtp(pt, i == 0, i * 160, coded[i * 160:(i + 1) * 160].tobytes()))))
        seq += 1
        i += 1
    with open(a.pcap, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for t, fr in out:
            f.write(struct.pack("<IIII", int(t), int(round((t % 1) * 1e6)) % 1000000, len(fr), len(fr)) + fr)
    print(json.dumps({"pcap": a.pcap, "packets": len(out), "seconds": n / 50, "dtmf": a.dtmf}))


def udp_packets(path):
    """(time, dst_port, payload) of every IPv4 UDP packet in a classic pcap file."""
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    end = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    nano = magic in (0xA1B23C4D, 0x4D3CB2A1)
    link = struct.unpack(end + "I", data[20:24])[0]
    l2 = {1: 14, 113: 16, 0: 4, 101: 0, 276: 20}.get(link)
    if l2 is None:
        raise SystemExit("unsupported link type %d" % link)
    pos = 24
    while pos + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack(end + "IIII", data[pos:pos + 16])
        pkt = data[pos + 16:pos + 16 + incl]
        pos += 16 + incl
        ip = pkt[l2:]
        if len(ip) < 28 or ip[0] >> 4 != 4 or ip[9] != 17:
            continue
        ihl = (ip[0] & 0x0F) * 4
        dport = struct.unpack("!H", ip[ihl + 2:ihl + 4])[0]
        yield sec + frac / (1e9 if nano else 1e6), dport, ip[ihl + 8:]


def record(a):
    streams, events, t_first = {}, [], None
    for t, dport, rtp in udp_packets(a.capture):
        if dport != a.dst_port or len(rtp) < 12 or rtp[0] >> 6 != 2:
            continue
        t_first = t if t_first is None else t_first
        cc, pt = rtp[0] & 0x0F, rtp[1] & 0x7F
        seq, ts, ssrc = struct.unpack("!HII", rtp[2:12])
        body = rtp[12 + 4 * cc:]
        if rtp[0] & 0x10 and len(body) >= 4:  # header extension
            body = body[4 + 4 * struct.unpack("!H", body[2:4])[0]:]
        if rtp[0] & 0x20 and body:  # padding
            body = body[:-body[-1]]
        if pt in (0, 8):
            streams.setdefault(ssrc, []).append((seq, ts, pt, body))
        elif len(body) >= 4 and pt >= 96:
            events.append((round(t - t_first, 3), ts, EVENTS[body[0] & 0x0F], bool(body[1] & 0x80)))
    pcm = np.zeros(0, dtype=np.int16)
    if streams:
        tables = {0: CODECS["PCMU"][1], 8: CODECS["PCMA"][1]}
        stream = max(streams.values(), key=len)  # the main stream
        ts0 = stream[0][1]
        total = max(((ts - ts0) & 0xFFFFFFFF) + len(pl) for _, ts, _, pl in stream)
        pcm = np.zeros(min(total, 8000 * 600), dtype=np.int16)
        for _, ts, pt, pl in stream:
            off = (ts - ts0) & 0xFFFFFFFF
            seg = tables[pt][np.frombuffer(pl, dtype=np.uint8)][:max(0, len(pcm) - off)]
            pcm[off:off + len(seg)] = seg
    with wave.open(a.out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(pcm.tobytes())
    seen, digits = set(), []
    for t, ts, d, _ in events:
        if ts not in seen:
            seen.add(ts)
            digits.append([d, t])
    print(json.dumps({"out": a.out, "seconds": round(len(pcm) / 8000, 2), "streams": len(streams),
                      "packets": sum(len(s) for s in streams.values()), "dtmf_received": digits}))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("wav")
    b.add_argument("pcap")
    b.add_argument("--codec", default="PCMU", choices=sorted(CODECS))
    b.add_argument("--dtmf", default="")
    b.add_argument("--dtmf-ms", type=int, default=160)
    b.add_argument("--seconds", type=float, default=12)
    r = sub.add_parser("record")
    r.add_argument("capture")
    r.add_argument("--dst-port", type=int, required=True)
    r.add_argument("-o", "--out", required=True)
    a = ap.parse_args()
    build(a) if a.cmd == "build" else record(a)


if __name__ == "__main__":
    main()
