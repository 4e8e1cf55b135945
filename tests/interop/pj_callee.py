#!/usr/bin/env python3
"""pjsua2 callee for the outbound interop tests: waits for calls, answers each (or refuses it
with --status), sends DTMF at given offsets after the answer (RFC 4733), and waits for the far
end to hang up. With --register it first registers with a registrar (digest) so that calls
reach it through the proxy.

Usage: pj_callee.py --port 5090 [--register 127.0.0.1:5070 --user 1001 --password secret]
           [--dtmf '1@9'] [--status 486] [--calls 1] [--life 60] [--rtp-port 46000]
Prints one JSON summary on stdout: calls (each with answered, dtmf_sent, hung_up_by, from,
request_uri), registered. Exit 0 when the expected number of calls arrived.
"""
import argparse
import json
import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pjsua2 as pj  # noqa: E402
from pjpeer import account_config, audio_media, make_endpoint, poll  # noqa: E402

T0 = time.monotonic()


def log(msg):
    print("[%6.3f] %s" % (time.monotonic() - T0, msg), file=sys.stderr, flush=True)


class Callee(pj.Call):
    def __init__(self, acc, call_id, summary):
        pj.Call.__init__(self, acc, call_id)
        self.summary = summary
        self.t_answer = self.t_end = None
        self.silence = None

    def onCallState(self, prm):
        ci = self.getInfo()
        log("state %s %d %s" % (ci.stateText, ci.lastStatusCode, ci.lastReason))
        if ci.state == pj.PJSIP_INV_STATE_CONFIRMED and self.t_answer is None:
            self.t_answer = time.monotonic()
            self.summary["answered"] = True
        if ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.t_end = time.monotonic()

    def onCallMediaState(self, prm):
        am = audio_media(self)
        if am is not None and self.silence is None:
            # Keep sending RTP (silence) so the far end sees a live caller.
            self.silence = pj.ToneGenerator()
            self.silence.createToneGenerator(8000, 1)
            self.silence.startTransmit(am)


class Acc(pj.Account):
    def __init__(self, status):
        pj.Account.__init__(self)
        self.status = status
        self.incoming = []
        self.reg_code = 0

    def onRegState(self, prm):
        self.reg_code = prm.code
        log("registration %d %s" % (prm.code, prm.reason))

    def onIncomingCall(self, prm):
        summary = {"answered": False, "dtmf_sent": [], "hung_up_by": None}
        call = Callee(self, prm.callId, summary)
        ci = call.getInfo()
        summary["from"] = ci.remoteUri
        summary["request_uri"] = ci.localUri
        log("incoming call from %s" % ci.remoteUri)
        op = pj.CallOpParam()
        op.statusCode = self.status
        call.answer(op)
        self.incoming.append(call)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--register", help="registrar HOST:PORT")
    ap.add_argument("--user", default="1001")
    ap.add_argument("--password", default="secret")
    ap.add_argument("--dtmf", default="", help="digit@seconds-after-answer,...")
    ap.add_argument("--status", type=int, default=200, help="answer with this status (486 refuses)")
    ap.add_argument("--calls", type=int, default=1, help="how many calls to take before exiting")
    ap.add_argument("--life", type=float, default=60)
    ap.add_argument("--rtp-port", type=int, default=46000)
    ap.add_argument("--log-level", type=int, default=1)
    a = ap.parse_args()
    plan = []
    for item in filter(None, a.dtmf.split(",")):
        digit, _, at = item.partition("@")
        plan.append((float(at), digit))
    plan.sort()

    ep = make_endpoint(["PCMU", "PCMA"], sip_port=a.port, log_level=a.log_level)
    acc = Acc(a.status)
    if a.register:
        cfg = account_config("sip:%s@%s" % (a.user, a.register.split(":")[0]), a.rtp_port)
        cfg.regConfig.registrarUri = "sip:%s" % a.register
        cred = pj.AuthCredInfo("digest", "*", a.user, 0, a.password)
        cfg.sipConfig.authCreds.append(cred)
    else:
        cfg = account_config("sip:%s@127.0.0.1:%d" % (a.user, a.port), a.rtp_port)
    acc.create(cfg)
    if a.register:
        poll(ep, 10, lambda: acc.reg_code != 0)
        print(json.dumps({"event": "registered", "code": acc.reg_code}), flush=True)
    else:
        print(json.dumps({"event": "listening", "port": a.port}), flush=True)

    end = time.monotonic() + a.life
    pending = {}  # call index -> remaining DTMF plan
    done = []
    while time.monotonic() < end:
        ep.libHandleEvents(5)
        for i, call in enumerate(acc.incoming):
            if call.t_answer is None or call.t_end is not None:
                continue
            todo = pending.setdefault(i, list(plan))
            while todo and time.monotonic() - call.t_answer >= todo[0][0]:
                _, digit = todo.pop(0)
                try:
                    p = pj.CallSendDtmfParam()
                    p.method, p.digits, p.duration = pj.PJSUA_DTMF_METHOD_RFC2833, digit, 160
                    call.sendDtmf(p)
                    at = round(time.monotonic() - call.t_answer, 3)
                    call.summary["dtmf_sent"].append([digit, at])
                    log("sent DTMF %s at %.3f s" % (digit, at))
                except pj.Error as e:
                    log("DTMF %s failed: %s" % (digit, e.info()))
        done = [c for c in acc.incoming if c.t_end is not None]
        if len(done) >= a.calls:
            break
    call = None
    for call in acc.incoming:
        if call.t_end is None:
            call.summary["hung_up_by"] = "local"
            try:
                call.hangup(pj.CallOpParam())
            except pj.Error:
                pass
        elif call.summary["hung_up_by"] is None:
            call.summary["hung_up_by"] = "remote"
    poll(ep, 1)
    result = {"calls": [c.summary for c in acc.incoming], "registered": acc.reg_code}
    for c in acc.incoming:
        c.silence = None
    del done, call
    acc.incoming = []
    print(json.dumps(result), flush=True)
    sys.stderr.flush()
    # pjsua2 asserts when Python frees an incoming call's object late; nothing is left to
    # clean up that the OS does not, so leave without running destructors.
    os._exit(0 if len(result["calls"]) >= a.calls else 1)


if __name__ == "__main__":
    main()
