#!/usr/bin/env python3
"""pjsua2 caller for the interop tests: dials a UAS, sends DTMF at given offsets after the answer
(RFC 4733, SIP INFO, or in-band tones mixed into the audio it sends), records what it HEARS to a
wav, hangs up after --duration seconds. A REFER from the far end is accepted (pjsua2 handles it
natively: 202, a new call to the Refer-To target, NOTIFY sipfrag back to the transferor).

Usage: pj_caller.py HOST:PORT --record heard.wav [--user 5000] [--codec PCMU|PCMA]
           [--dtmf '1@3,#@8/info,2@12/inband'] [--method rfc2833|info|inband] [--duration 12]
           [--transport udp|tcp|tls] [--hold-at 2 --resume-at 4]
Prints one JSON summary on stdout (answered, codec, dtmf_sent, dtmf_received (keys the far end sent,
RFC 4733), media_states after each offer/answer,
transfer, hung_up_by, record). Times in it are seconds since the recording started.
Exit 0 when the call was answered, 1 otherwise.
"""
import argparse
import json
import os
import sys
import time
import wave

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pjsua2 as pj  # noqa: E402
from pjpeer import account_config, audio_media, make_endpoint, negotiated_codec, poll  # noqa: E402

T0 = time.monotonic()
MEDIA_STATUS = {
    pj.PJSUA_CALL_MEDIA_NONE: "none",
    pj.PJSUA_CALL_MEDIA_ACTIVE: "active",
    pj.PJSUA_CALL_MEDIA_LOCAL_HOLD: "local_hold",
    pj.PJSUA_CALL_MEDIA_REMOTE_HOLD: "remote_hold",
    pj.PJSUA_CALL_MEDIA_ERROR: "error",
}
METHODS = {"rfc2833": pj.PJSUA_DTMF_METHOD_RFC2833, "info": pj.PJSUA_DTMF_METHOD_SIP_INFO}


def log(msg):
    print("[%6.3f] %s" % (time.monotonic() - T0, msg), file=sys.stderr, flush=True)


class Caller(pj.Call):
    def __init__(self, acc, record, wav):
        pj.Call.__init__(self, acc)
        self.record, self.wav = record, wav
        self.t_answer = self.t_end = self.t_rec = None
        self.code, self.reason = 0, ""
        self.rec = self.player = self.tones = self.clock = None
        self.codec = None
        self.media_states = []  # audio media status after each offer/answer: active, local_hold, ...
        self.transfer = None  # {"to": uri, "answered": bool, "code": last status of the new call}
        self.new_call = None
        self.dtmf_received = []  # [digit, monotonic time] of every key the far end sent

    def onDtmfDigit(self, prm):
        self.dtmf_received.append([prm.digit, time.monotonic()])
        log("received DTMF %s" % prm.digit)

    def onCallState(self, prm):
        ci = self.getInfo()
        self.code, self.reason = ci.lastStatusCode, ci.lastReason
        log("state %s %d %s" % (ci.stateText, ci.lastStatusCode, ci.lastReason))
        if ci.state == pj.PJSIP_INV_STATE_CONFIRMED and self.t_answer is None:
            self.t_answer = time.monotonic()
        if ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.t_end = time.monotonic()

    def onCallMediaState(self, prm):
        try:
            self._media_up()
        except Exception as e:  # an exception would vanish inside the SWIG director
            log("onCallMediaState failed: %r" % e)
            raise

    def _media_up(self):
        ci = self.getInfo()
        for mi in ci.media:
            if mi.type == pj.PJMEDIA_TYPE_AUDIO:
                self.media_states.append(MEDIA_STATUS.get(mi.status, str(mi.status)))
        am = audio_media(self)
        if am is None:
            return
        if self.rec is None:
            self.codec = negotiated_codec(self)
            log("media active, codec %s" % self.codec)
            self.rec = pj.AudioMediaRecorder()
            self.rec.createRecorder(self.record)
            # A looping silent source keeps the recorder clocked while the call's audio is
            # disconnected (hold, re-INVITE), so the recording stays on the wall clock.
            silence = self.record + ".silence.wav"
            with wave.open(silence, "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(8000)
                w.writeframes(b"\0\0" * 8000)
            self.clock = pj.AudioMediaPlayer()
            self.clock.createPlayer(silence, 0)
            self.clock.startTransmit(self.rec)
            self.t_rec = time.monotonic()
            if self.wav:
                self.player = pj.AudioMediaPlayer()
                self.player.createPlayer(self.wav, pj.PJMEDIA_FILE_NO_LOOP)
            self.tones = pj.ToneGenerator()  # in-band DTMF, mixed into what we send
            self.tones.createToneGenerator(8000, 1)
        am.startTransmit(self.rec)  # what we hear -> wav (again after every new offer/answer)
        if self.player:
            self.player.startTransmit(am)  # what we say -> RTP
        self.tones.startTransmit(am)

    def onCallTransferRequest(self, prm):
        log("REFER to %s" % prm.dstUri)
        self.transfer = {"to": prm.dstUri, "answered": False, "code": 0, "ended": False}
        self.new_call = TransferredCall(ACC, self.transfer)
        prm.newCall = self.new_call  # pjsua2 places the new call and NOTIFYs the transferor

    def settled(self):
        """The call is over and so is any call it was transferred to."""
        return self.t_end is not None and (not self.transfer or self.transfer["answered"] or self.transfer["ended"])


class TransferredCall(pj.Call):
    """The call pjsua2 places to the Refer-To target; its progress goes into `state`."""

    def __init__(self, acc, state):
        pj.Call.__init__(self, acc)
        self.state = state

    def onCallState(self, prm):
        ci = self.getInfo()
        log("transferred call: %s %d %s" % (ci.stateText, ci.lastStatusCode, ci.lastReason))
        self.state["code"] = ci.lastStatusCode
        if ci.state == pj.PJSIP_INV_STATE_CONFIRMED:
            self.state["answered"] = True
        if ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.state["ended"] = True


ACC = None


def main():
    global ACC
    ap = argparse.ArgumentParser()
    ap.add_argument("target")
    ap.add_argument("--user", default="5000", help="request-URI user part")
    ap.add_argument("--record", required=True)
    ap.add_argument("--wav", help="8 kHz mono wav the caller sends (default: silence)")
    ap.add_argument("--codec", default="PCMU", choices=["PCMU", "PCMA"])
    ap.add_argument("--dtmf", default="", help="digit@seconds-after-answer[/method],...")
    ap.add_argument("--method", default="rfc2833", choices=["rfc2833", "info", "inband"])
    ap.add_argument("--dtmf-ms", type=int, default=160)
    ap.add_argument("--duration", type=float, default=12, help="hang up N s after answer")
    ap.add_argument("--ring-timeout", type=float, default=10)
    ap.add_argument("--rtp-port", type=int, default=44000)
    ap.add_argument("--transport", default="udp", choices=["udp", "tcp", "tls"])
    ap.add_argument("--hold-at", type=float, help="put the call on hold (re-INVITE, sendonly) N s after answer")
    ap.add_argument("--resume-at", type=float, help="take it off hold (re-INVITE, sendrecv) N s after answer")
    ap.add_argument("--log-level", type=int, default=1)
    a = ap.parse_args()
    plan = []
    for item in filter(None, a.dtmf.split(",")):
        spec, _, method = item.partition("/")
        digit, _, at = spec.partition("@")
        plan.append((float(at), digit, method or a.method))
    if a.hold_at is not None:
        plan.append((a.hold_at, "hold", ""))
    if a.resume_at is not None:
        plan.append((a.resume_at, "resume", ""))
    plan.sort()

    ep = make_endpoint([a.codec], log_level=a.log_level, transport=a.transport)
    ACC = pj.Account()
    ACC.create(account_config("sip:caller@127.0.0.1", a.rtp_port))
    os.makedirs(os.path.dirname(os.path.abspath(a.record)), exist_ok=True)
    call = Caller(ACC, a.record, a.wav)
    uri = "sip:%s@%s" % (a.user, a.target) + ("" if a.transport == "udp" else ";transport=" + a.transport)
    t_dial = time.monotonic()
    log("dialing " + uri)
    call.makeCall(uri, pj.CallOpParam(True))
    poll(ep, a.ring_timeout, lambda: call.t_answer or call.t_end)
    sent = []
    if call.t_answer and not call.t_end:
        log("answered after %.3f s" % (call.t_answer - t_dial))
        while not call.settled() and time.monotonic() - call.t_answer < a.duration:
            ep.libHandleEvents(5)
            while plan and time.monotonic() - call.t_answer >= plan[0][0]:
                _, digit, method = plan.pop(0)
                if digit in ("hold", "resume"):
                    op = pj.CallOpParam(True)
                    try:
                        if digit == "hold":
                            call.setHold(op)
                        else:
                            op.opt.flag = pj.PJSUA_CALL_UNHOLD
                            call.reinvite(op)
                        log("sent %s re-INVITE" % digit)
                    except pj.Error as e:
                        log("%s failed: %s" % (digit, e.info()))
                    continue
                at = time.monotonic() - (call.t_rec or call.t_answer)
                try:
                    if method == "inband":
                        td = pj.ToneDigit()
                        td.digit, td.on_msec, td.off_msec, td.volume = digit, a.dtmf_ms, 60, 0
                        v = pj.ToneDigitVector()
                        v.append(td)
                        call.tones.playDigits(v)
                    else:
                        p = pj.CallSendDtmfParam()
                        p.method, p.digits, p.duration = METHODS[method], digit, a.dtmf_ms
                        call.sendDtmf(p)
                    sent.append([digit, round(at, 3), method])
                    log("sent DTMF %s (%s) at %.3f s" % (digit, method, at))
                except pj.Error as e:
                    log("DTMF %s (%s) failed: %s" % (digit, method, e.info()))
    hung_up_by = "remote" if call.t_end else "local"
    if not call.t_end:
        try:
            call.hangup(pj.CallOpParam())
        except pj.Error:
            pass
        poll(ep, 3, lambda: call.t_end)
    if call.new_call is not None and not call.transfer["ended"]:
        try:
            call.new_call.hangup(pj.CallOpParam())
        except pj.Error:
            pass
        poll(ep, 3, lambda: call.transfer["ended"])
    rec_t0 = call.t_rec or call.t_answer or t_dial
    summary = {
        "answered": bool(call.t_answer),
        "setup_s": round(call.t_answer - t_dial, 3) if call.t_answer else None,
        "codec": call.codec,
        "final_code": call.code,
        "reason": call.reason,
        "hung_up_by": hung_up_by,
        "ended_at": round(call.t_end - rec_t0, 3) if call.t_end else None,
        "dtmf_sent": sent,
        "dtmf_received": [[d, round(t - rec_t0, 3)] for d, t in call.dtmf_received],
        "media_states": call.media_states,
        "transfer": call.transfer,
        "record": a.record if call.rec else None,
    }
    call.player = call.rec = call.tones = call.clock = call.new_call = None  # closes the wav
    poll(ep, 0.2)
    print(json.dumps(summary), flush=True)
    del call
    ep.libDestroy()
    sys.exit(0 if summary["answered"] else 1)


if __name__ == "__main__":
    main()
