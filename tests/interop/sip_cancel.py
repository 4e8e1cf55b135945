#!/usr/bin/env python3
"""CANCEL before answer, as a UAS sees it when the CANCEL crosses its 100 Trying.

Usage: sip_cancel.py HOST:PORT [--user 5000] [--attempts 20]
An IVR answers within a millisecond, so a UAC that waits for the 100 Trying before its CANCEL
(RFC 3261 9.1: sipp and pjsua2 both do) loses the race every time on loopback. This raw UDP UAC
sends the INVITE and its CANCEL back to back (same Via branch), so the CANCEL is queued at the UAS
right behind the INVITE. Either the CANCEL wins (the UAS must send 200 to the CANCEL and 487 to
the INVITE, RFC 3261 9.2; we ACK the 487 with the INVITE's branch) or the answer does (200 to the
INVITE and to the CANCEL; we ACK the 200 and send BYE, as RFC 3261 9.1 asks of a UAC). It repeats
until the CANCEL has won once (at most --attempts times) and prints
{"attempts": [{"outcome": "487"|"answered"|"incomplete", "responses": [[method, status], ...]}]}.
"""
import argparse
import json
import random
import socket
import time


def parse(data):
    text = data.decode(errors="replace")
    head = text.split("\r\n\r\n", 1)[0].split("\r\n")
    headers = {}
    for line in head[1:]:
        k, _, v = line.partition(":")
        headers.setdefault(k.strip().lower(), v.strip())
    return head[0], headers


def attempt(s, dst, target, user, limit=3.0):
    lport = s.getsockname()[1]
    rnd = "%08x" % random.getrandbits(32)
    branch, tag, callid = "z9hG4bK-c" + rnd, "t" + rnd, "cancel-%s@127.0.0.1" % rnd
    ruri = "sip:%s@%s" % (user, target)
    sdp = ("v=0\r\no=raw 1 1 IN IP4 127.0.0.1\r\ns=raw\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           "m=audio %d RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
           "a=fmtp:101 0-15\r\n" % (lport + 2))

    def request(method, uri, cseq, br, body="", to_tag=""):
        hdr = ["%s %s SIP/2.0" % (method, uri),
               "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=%s;rport" % (lport, br),
               "Max-Forwards: 70",
               "From: <sip:raw@127.0.0.1:%d>;tag=%s" % (lport, tag),
               "To: <%s>%s" % (ruri, ";tag=" + to_tag if to_tag else ""),
               "Call-ID: " + callid,
               "CSeq: %d %s" % (cseq, method)]
        if method == "INVITE":
            hdr += ["Contact: <sip:raw@127.0.0.1:%d>" % lport, "Content-Type: application/sdp"]
        hdr.append("Content-Length: %d" % len(body))
        return ("\r\n".join(hdr) + "\r\n\r\n" + body).encode()

    s.sendto(request("INVITE", ruri, 1, branch, sdp), dst)
    s.sendto(request("CANCEL", ruri, 1, branch), dst)
    responses, outcome, end = [], "incomplete", time.monotonic() + limit
    bye_sent = False
    while time.monotonic() < end:
        try:
            data, src = s.recvfrom(65535)
        except socket.timeout:
            continue
        first, h = parse(data)
        if h.get("call-id") != callid or not first.startswith("SIP/2.0"):
            continue
        status, method = int(first.split()[1]), h.get("cseq", "0 ?").split()[-1]
        responses.append([method, status])
        to_tag = h.get("to", "").partition(";tag=")[2].split(";")[0]
        if method == "INVITE" and status == 487:
            s.sendto(request("ACK", ruri, 1, branch, to_tag=to_tag), src)  # same branch: non-2xx ACK
            outcome = "487"
            end = min(end, time.monotonic() + 0.8)  # a 487 retransmission (T1 = 500 ms) shows here
        elif method == "INVITE" and 200 <= status < 300 and not bye_sent:
            contact = h.get("contact", ruri).strip("<>").split(">")[0]
            s.sendto(request("ACK", contact, 1, branch + "a", to_tag=to_tag), src)
            s.sendto(request("BYE", contact, 2, branch + "b", to_tag=to_tag), src)
            bye_sent = True
        elif method == "BYE" and status == 200:
            outcome = "answered"
            break
        elif method == "INVITE" and status >= 300:
            outcome = "rejected %d" % status
            break
    return {"outcome": outcome, "responses": responses}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("target")
    ap.add_argument("--user", default="5000")
    ap.add_argument("--attempts", type=int, default=20)
    a = ap.parse_args()
    host, port = a.target.rsplit(":", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(0.05)
    results = []
    for _ in range(a.attempts):
        results.append(attempt(s, (host, int(port)), a.target, a.user))
        if results[-1]["outcome"] == "487":
            break
    print(json.dumps({"attempts": results}))


if __name__ == "__main__":
    main()
