#!/usr/bin/env python3
"""Baseline for bench/engine: the minimal pjsua2 (Python) IVR the seed projects are built on.

It answers every call (200 at once), loops HOLD to the caller, and on any RFC 4733 digit
stops HOLD, plays RESPONSE once (its length, then HOLD again) -- the same behaviour as
bench/engine/flows/bench.yaml in phonetree.

Usage: baseline_ivr.py --listen 127.0.0.1:17100 --rtp-port 36000 --hold H.wav --response R.wav
                       [--lifetime 120]
Needs: python3 -m venv V && V/bin/pip install pjsua2-python  (the manylinux wheel; cp311).
Note: that wheel caps concurrent calls at 4 (486 Busy beyond), whatever maxCalls says.
Prints one JSON line per event on stdout; exits after --lifetime seconds.
"""
import argparse
import json
import os
import sys
import time
import wave

import pjsua2 as pj

T0 = time.monotonic()


def emit(ev, **kw):
    print(json.dumps(dict(t=round(time.monotonic() - T0, 3), ev=ev, **kw)), flush=True)


class Call(pj.Call):
    def __init__(self, acc, cid, app):
        pj.Call.__init__(self, acc, cid)
        self.app, self.am, self.hold, self.resp, self.resp_until, self.done = app, None, None, None, 0, False

    def onCallState(self, prm):
        if self.getInfo().state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.done = True

    def onCallMediaState(self, prm):
        ci = self.getInfo()                   # keep it referenced while reading its media (SWIG)
        for mi in ci.media:
            if mi.type == pj.PJMEDIA_TYPE_AUDIO and mi.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                self.am = self.getAudioMedia(mi.index)
        if self.am is not None and self.hold is None:
            self.hold = pj.AudioMediaPlayer()
            self.hold.createPlayer(self.app.hold, 0)          # loop
            self.hold.startTransmit(self.am)

    def onDtmfDigit(self, prm):                               # first RFC 4733 packet of a key
        emit("dtmf", digit=prm.digit)
        if self.am is None or self.resp is not None:
            return
        self.hold.stopTransmit(self.am)
        self.resp = pj.AudioMediaPlayer()
        self.resp.createPlayer(self.app.response, pj.PJMEDIA_FILE_NO_LOOP)
        self.resp.startTransmit(self.am)
        self.resp_until = time.monotonic() + self.app.response_s

    def tick(self, now):
        if self.resp is not None and now >= self.resp_until and not self.done:
            self.resp.stopTransmit(self.am)
            self.resp = None
            self.hold.startTransmit(self.am)


class Account(pj.Account):
    def __init__(self, app):
        pj.Account.__init__(self)
        self.app, self.calls = app, []

    def onIncomingCall(self, prm):
        c = Call(self, prm.callId, self.app)
        self.calls.append(c)
        op = pj.CallOpParam()
        op.statusCode = 200
        c.answer(op)


class _Log(pj.LogWriter):
    def write(self, entry):
        sys.stderr.write(entry.msg if entry.msg.endswith("\n") else entry.msg + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", default="127.0.0.1:17100")
    ap.add_argument("--rtp-port", type=int, default=36000)
    ap.add_argument("--hold", required=True)
    ap.add_argument("--response", required=True)
    ap.add_argument("--lifetime", type=float, default=120)
    a = ap.parse_args()
    with wave.open(a.response) as w:
        a.response_s = w.getnframes() / w.getframerate()
    host, port = a.listen.rsplit(":", 1)
    log = _Log()
    ep = pj.Endpoint()
    out = os.dup(1)
    os.dup2(2, 1)                                             # keep pjlib's banner off stdout
    try:
        ep.libCreate()
    finally:
        os.dup2(out, 1)
        os.close(out)
    ec = pj.EpConfig()
    ec.uaConfig.maxCalls = 4                                 # the wheel's cap
    ec.uaConfig.threadCnt = 0
    ec.uaConfig.mainThreadOnly = True
    ec.logConfig.level = 1
    ec.logConfig.consoleLevel = 1
    ec.logConfig.writer = log
    ec.medConfig.clockRate = 8000
    ec.medConfig.sndClockRate = 8000
    ec.medConfig.noVad = True
    ec.medConfig.ecTailLen = 0
    ep.libInit(ec)
    tc = pj.TransportConfig()
    tc.port = int(port)
    tc.boundAddress = host
    tc.publicAddress = host
    ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tc)
    ep.libStart()
    ep.audDevManager().setNullDev()
    for ci in ep.codecEnum2():
        ep.codecSetPriority(ci.codecId, 0)
    ep.codecSetPriority("PCMU/8000/1", 255)
    acfg = pj.AccountConfig()
    acfg.idUri = "sip:ivr@%s" % a.listen
    t = acfg.mediaConfig.transportConfig
    t.port, t.portRange, t.boundAddress, t.publicAddress = a.rtp_port, 200, host, host
    acfg.natConfig.iceEnabled = False
    acc = Account(a)
    acc.create(acfg)
    emit("ready", listen=a.listen, pid=os.getpid())
    end = time.monotonic() + a.lifetime
    while time.monotonic() < end:
        ep.libHandleEvents(5)
        now = time.monotonic()
        for c in acc.calls:
            c.tick(now)
        for c in [c for c in acc.calls if c.done]:
            c.hold = c.resp = None
            acc.calls.remove(c)
    emit("exit")
    ep.hangupAllCalls()
    for _ in range(100):
        ep.libHandleEvents(10)
    sys.stdout.flush()
    os._exit(0)                       # pjsua2's teardown asserts on this wheel; nothing to save


if __name__ == "__main__":
    main()
