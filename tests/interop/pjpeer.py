"""pjsua2 set-up shared by the interop peers (pjsua2-python 2.15 wheel, Debian 12 CPython).

Headless: the null sound device clocks the conference bridge, so players and recorders work
without a sound card. Everything binds 127.0.0.1. All callbacks run in the main thread
(threadCnt=0, mainThreadOnly) while `poll` pumps `libHandleEvents`, so Python never sees
pjsip's worker threads. Pitfalls met: keep every Call/player/recorder object referenced (pjsua2
frees what Python drops); a recorder's wav is complete only once the recorder is released.
"""
import os
import sys
import time

import pjsua2 as pj

CODECS = {"PCMU": "PCMU/8000/1", "PCMA": "PCMA/8000/1"}


class _StderrLog(pj.LogWriter):
    """pjsua logs to stdout by default; stdout is kept for the JSON result."""

    def write(self, entry):
        sys.stderr.write(entry.msg if entry.msg.endswith("\n") else entry.msg + "\n")


_LOG = _StderrLog()  # must outlive the endpoint


def make_endpoint(codecs, sip_port=0, log_level=1, transport="udp"):
    ep = pj.Endpoint()
    out = os.dup(1)
    os.dup2(2, 1)  # pjlib's banner (printed before logConfig applies) goes to stderr
    try:
        ep.libCreate()
    finally:
        os.dup2(out, 1)
        os.close(out)
    ec = pj.EpConfig()
    ec.uaConfig.threadCnt = 0
    ec.uaConfig.mainThreadOnly = True
    ec.uaConfig.userAgent = "phonetree-interop-pjsua2"
    ec.logConfig.level = log_level
    ec.logConfig.consoleLevel = log_level
    ec.logConfig.writer = _LOG
    ec.medConfig.clockRate = 8000  # bridge at 8 kHz: recordings are 8 kHz mono wav
    ec.medConfig.sndClockRate = 8000
    ec.medConfig.noVad = True  # keep sending RTP during silence
    ec.medConfig.ecTailLen = 0
    ep.libInit(ec)
    tc = pj.TransportConfig()
    tc.port = sip_port
    tc.boundAddress = "127.0.0.1"
    tc.publicAddress = "127.0.0.1"
    # TLS: pjsua2's client does not verify the server by default (phonetree's self-signed demo).
    kind = {"udp": pj.PJSIP_TRANSPORT_UDP, "tcp": pj.PJSIP_TRANSPORT_TCP,
            "tls": pj.PJSIP_TRANSPORT_TLS}[transport]
    ep.transportCreate(kind, tc)
    ep.libStart()
    ep.audDevManager().setNullDev()
    for ci in ep.codecEnum2():  # priority 0 disables a codec: offer only the wanted ones
        ep.codecSetPriority(ci.codecId, 0)
    for i, c in enumerate(codecs):
        ep.codecSetPriority(CODECS.get(c, c), 255 - i)
    return ep


def account_config(id_uri, rtp_port):
    acfg = pj.AccountConfig()
    acfg.idUri = id_uri
    t = acfg.mediaConfig.transportConfig
    t.port = rtp_port
    t.portRange = 40
    t.boundAddress = "127.0.0.1"
    t.publicAddress = "127.0.0.1"
    acfg.natConfig.iceEnabled = False
    acfg.natConfig.sipStunUse = pj.PJSUA_STUN_USE_DISABLED
    acfg.natConfig.mediaStunUse = pj.PJSUA_STUN_USE_DISABLED
    return acfg


def audio_media(call):
    """The first active audio media of a call, or None."""
    ci = call.getInfo()  # keep it referenced: ci.media is a view into it
    for mi in ci.media:
        if mi.type == pj.PJMEDIA_TYPE_AUDIO and mi.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
            return call.getAudioMedia(mi.index)
    return None


def negotiated_codec(call):
    try:
        ci = call.getInfo()
        for mi in ci.media:
            if mi.type == pj.PJMEDIA_TYPE_AUDIO:
                si = call.getStreamInfo(mi.index)
                return "%s/%d" % (si.codecName, si.codecClockRate)
    except pj.Error:
        pass
    return None


def poll(ep, seconds, until=lambda: False, step_ms=5):
    """Pump pjsip events for at most `seconds`, or until until() is true."""
    end = time.monotonic() + seconds
    while time.monotonic() < end and not until():
        ep.libHandleEvents(step_ms)
