#!/usr/bin/env python3
"""Builds the RTP pcap that sipp's play_pcap_audio sends for each benchmark call.

Usage: mkpcap.py IN.wav OUT.pcap --codec pcmu|opus --seconds S [--dtmf '1@5,1@15']

pcmu: 8 kHz mono mu-law, 20 ms packets (PT 0); the digits are RFC 4733 events (PT 101,
      telephone-event/8000, 160 ms, end packet sent 3 times) replacing the audio, as phones do.
opus: 48 kHz stereo Opus (libopus through ctypes, 20 ms frames, PT 111); no digits.
Addresses and ports in the pcap are dummies: sipp rewrites them per call.
Needs sox (to convert the wav) and libopus.so.0 (Debian libopus0) for opus; numpy.
Adapted from the project's interop peers (wav2rtp_pcap.py).
"""
import argparse
import ctypes
import ctypes.util
import struct
import subprocess

import numpy as np

EVENTS = {**{str(i): i for i in range(10)}, "*": 10, "#": 11}


def lin2ulaw(x):
    """G.711 mu-law encoder (Sun g711.c algorithm)."""
    v = x.astype(np.int32) >> 2
    mask = np.where(v < 0, 0x7F, 0xFF)
    v = np.minimum(np.abs(v), 8159) + 0x21
    seg = np.floor(np.log2(v)).astype(np.int32) - 5
    u = np.where(seg > 7, 0x7F, (np.minimum(seg, 7) << 4) | ((v >> (np.minimum(seg, 7) + 1)) & 0xF))
    return (u ^ mask).astype(np.uint8)


def ip_csum(h):
    s = sum(struct.unpack("!10H", h))
    s = (s & 0xFFFF) + (s >> 16)
    s += s >> 16
    return (~s) & 0xFFFF


def frame(rtp, sport=6000, dport=6002):
    udp = struct.pack("!HHHH", sport, dport, 8 + len(rtp), 0) + rtp
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
    ip = ip[:10] + struct.pack("!H", ip_csum(ip)) + ip[12:]
    return b"\0" * 12 + b"\x08\x00" + ip + udp


def pcm(wav, rate, channels, seconds):
    raw = subprocess.run(["sox", wav, "-t", "s16", "-r", str(rate), "-c", str(channels), "-"],
                         check=True, capture_output=True, timeout=60).stdout
    x = np.frombuffer(raw, dtype="<i2")
    n = int(seconds * rate) * channels
    reps = n // max(1, len(x)) + 1
    return np.tile(x, reps)[:n]


def opus_frames(x, n):
    lib = ctypes.CDLL(ctypes.util.find_library("opus") or "libopus.so.0")
    lib.opus_encoder_create.restype = ctypes.c_void_p
    err = ctypes.c_int()
    enc = lib.opus_encoder_create(48000, 2, 2048, ctypes.byref(err))  # OPUS_APPLICATION_VOIP
    if err.value != 0 or not enc:
        raise SystemExit("opus_encoder_create failed: %d" % err.value)
    lib.opus_encode.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
    out, frames = ctypes.create_string_buffer(1500), []
    for i in range(n):
        chunk = np.ascontiguousarray(x[i * 1920:(i + 1) * 1920], dtype="<i2")
        k = lib.opus_encode(enc, chunk.ctypes.data, 960, out, 1500)
        if k < 0:
            raise SystemExit("opus_encode failed: %d" % k)
        frames.append(out.raw[:k])
    lib.opus_encoder_destroy.argtypes = [ctypes.c_void_p]
    lib.opus_encoder_destroy(enc)
    return frames


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("wav")
    ap.add_argument("pcap")
    ap.add_argument("--codec", choices=["pcmu", "opus"], default="pcmu")
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--dtmf", default="")
    a = ap.parse_args()
    n = int(a.seconds * 50)
    ssrc, seq, t0, out = 0x5EED1234, 1000, 1_000_000.0, []

    def rtp(pt, marker, ts, payload):
        return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF,
                           ts & 0xFFFFFFFF, ssrc) + payload

    if a.codec == "opus":
        for i, f in enumerate(opus_frames(pcm(a.wav, 48000, 2, a.seconds), n)):
            out.append((t0 + i * 0.02, frame(rtp(111, i == 0, i * 960, f))))
            seq += 1
    else:
        ulaw = lin2ulaw(pcm(a.wav, 8000, 1, a.seconds))
        digits = {}
        for item in filter(None, a.dtmf.split(",")):
            d, at = item.split("@")
            digits[int(float(at) * 50)] = d
        i = 0
        while i < n:
            if i in digits:
                ev, ts0 = EVENTS[digits[i]], i * 160
                for k in range(8):  # 8 x 20 ms = 160 ms
                    end = k == 7
                    pl = struct.pack("!BBH", ev, (0x80 if end else 0) | 10, (k + 1) * 160)
                    for _ in range(3 if end else 1):
                        out.append((t0 + (i + k) * 0.02, frame(rtp(101, k == 0, ts0, pl))))
                    seq += 1
                i += 8
                continue
            out.append((t0 + i * 0.02, frame(rtp(0, i == 0, i * 160, ulaw[i * 160:(i + 1) * 160].tobytes()))))
            seq += 1
            i += 1
    with open(a.pcap, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for t, fr in out:
            f.write(struct.pack("<IIII", int(t), int(round((t % 1) * 1e6)) % 1000000, len(fr), len(fr)) + fr)
    print("%s: %s, %d packets, %.0f s, dtmf %s" % (a.pcap, a.codec, len(out), a.seconds, a.dtmf or "none"))


if __name__ == "__main__":
    main()
