#!/usr/bin/env python3
"""baresip (Debian 1.0.0) caller for the interop tests, driven through its ctrl_tcp module.

Usage: baresip_call.py HOST:PORT --dir WORKDIR --record heard.wav [--codec opus|pcmu|pcma]
           [--user 5000] [--dtmf '1@4'] [--duration 10] [--sip-port P --ctrl-port P --rtp-ports A-B]
           [--mediaenc srtp|srtp-mand] [--tls [--cafile ca.pem]]
Offers only --codec (Opus as `opus/48000/2`: a bare `opus` is read as opus/8000/1), sends silence
(aufile source, padded: aufile ends the call at end of file), sends RFC 4733 digits (`sndcode`) at
the given seconds after the answer, hangs up after --duration s, and copies the audio it RECEIVED
(sndfile module's decoder dump, at the codec's rate) to --record. Headless: the player is
aubridge (alsa,null busy-loops a core); `net_interface 127.0.0.1` keeps SDP c= on loopback.
--mediaenc loads baresip's srtp module and sets the account's media encryption (SDES: `srtp` offers
RTP/AVP with a=crypto, `srtp-mand` RTP/SAVP); "error" in the summary holds the last log lines of a
call that was not answered (a 488, say).
--tls dials `sip:USER@HOST:PORT;transport=tls` (HOST:PORT is then phonetree's TLS listener); with
--cafile baresip is given that CA (`sip_cafile`).
Prints one JSON summary; times in it are seconds since the answer. Exit 0 when answered.
"""
import argparse
import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import time


def ctrl(port, command, params=""):
    """One ctrl_tcp command: JSON in a netstring (LEN:{...},)."""
    body = json.dumps({"command": command, "params": params, "token": "t%d" % time.monotonic_ns()})
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(b"%d:%s," % (len(body), body.encode()))
        s.settimeout(1)
        try:
            s.recv(4096)
        except socket.timeout:
            pass


def wait_log(path, words, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        text = open(path, errors="replace").read() if os.path.exists(path) else ""
        for w in words:
            if w in text:
                return w, text
        time.sleep(0.05)
    return None, open(path, errors="replace").read() if os.path.exists(path) else ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("target")
    ap.add_argument("--dir", required=True, help="work dir for config, logs and the raw dumps")
    ap.add_argument("--record", required=True)
    ap.add_argument("--codec", default="opus", choices=["opus", "pcmu", "pcma"])
    ap.add_argument("--user", default="5000")
    ap.add_argument("--dtmf", default="")
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--sip-port", type=int, default=5064)
    ap.add_argument("--ctrl-port", type=int, default=4450)
    ap.add_argument("--rtp-ports", default="47000-47100")
    ap.add_argument("--mediaenc", default="", choices=["", "srtp", "srtp-mand"])
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("--cafile", default="")
    a = ap.parse_args()
    os.makedirs(os.path.join(a.dir, "rec"), exist_ok=True)
    rate, ch = (48000, 2) if a.codec == "opus" else (8000, 1)
    src = os.path.join(a.dir, "silence.wav")
    subprocess.run(["sox", "-n", "-r", str(rate), "-c", str(ch), "-b", "16", src, "trim", "0",
                    str(a.duration + 20)], check=True, timeout=30)
    with open(os.path.join(a.dir, "config"), "w") as f:
        f.write("""poll_method\t\tepoll
sip_listen\t\t127.0.0.1:{sip}
net_interface\t\t127.0.0.1
call_local_timeout\t20
rtp_ports\t\t{rtp}
audio_player\t\taubridge,null
audio_alert\t\taubridge,null
audio_source\t\taufile,{src}
module_path\t\t/usr/lib/baresip/modules
module\t\t\tg711.so
module\t\t\topus.so
module\t\t\taufile.so
module\t\t\taubridge.so
module\t\t\tsndfile.so
{srtp_module}module_tmp\t\taccount.so
module_app\t\tmenu.so
module_app\t\tctrl_tcp.so
ctrl_tcp_listen\t\t127.0.0.1:{ctl}
snd_path\t\t{rec}
opus_bitrate\t\t32000
{cafile}""".format(sip=a.sip_port, rtp=a.rtp_ports, src=src, ctl=a.ctrl_port, rec=os.path.join(a.dir, "rec"),
           srtp_module="module\t\t\tsrtp.so\n" if a.mediaenc else "",
           cafile="sip_cafile\t\t%s\n" % a.cafile if a.cafile else ""))
    codec = {"opus": "opus/48000/2", "pcmu": "PCMU", "pcma": "PCMA"}[a.codec]
    with open(os.path.join(a.dir, "accounts"), "w") as f:
        enc = ";mediaenc=%s" % a.mediaenc if a.mediaenc else ""
        transport = ";transport=tls" if a.tls else ""
        f.write("<sip:caller@127.0.0.1:%d%s>;regint=0;audio_codecs=%s%s\n" % (a.sip_port, transport, codec, enc))
    logp = os.path.join(a.dir, "baresip.log")
    log = open(logp, "w")
    proc = subprocess.Popen(["baresip", "-f", a.dir, "-t", str(int(a.duration + 25))], stdin=subprocess.DEVNULL,
                            stdout=log, stderr=subprocess.STDOUT)
    summary = {"answered": False, "dtmf_sent": [], "codec": None, "record": None}
    try:
        if not wait_log(logp, ["baresip is ready"], 5)[0]:
            raise SystemExit("baresip did not start: see %s" % logp)
        t_dial = time.monotonic()
        ctrl(a.ctrl_port, "dial", "sip:%s@%s%s" % (a.user, a.target, ";transport=tls" if a.tls else ""))
        word, text = wait_log(logp, ["Call established", "terminated", "failed"], 10)
        if word != "Call established":
            summary["error"] = "not answered: " + " | ".join(text.splitlines()[-4:])
            return summary
        t_ans = time.monotonic()
        summary.update(answered=True, setup_s=round(t_ans - t_dial, 3))
        plan = sorted((float(x.split("@")[1]), x.split("@")[0]) for x in a.dtmf.split(",") if x)
        while time.monotonic() - t_ans < a.duration:
            if plan and time.monotonic() - t_ans >= plan[0][0]:
                _, d = plan.pop(0)
                ctrl(a.ctrl_port, "sndcode", d)
                summary["dtmf_sent"].append([d, round(time.monotonic() - t_ans, 3)])
            if "terminated" in open(logp, errors="replace").read():
                break
            time.sleep(0.02)
        text = open(logp, errors="replace").read()
        summary["hung_up_by"] = "remote" if "terminated" in text else "local"
        ctrl(a.ctrl_port, "hangup")
        wait_log(logp, ["terminated"], 3)
        ctrl(a.ctrl_port, "quit")
        proc.wait(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    text = open(logp, errors="replace").read()
    dec = [line.split("Set audio decoder:")[1].strip() for line in text.splitlines() if "Set audio decoder:" in line]
    summary["codec"] = dec[0] if dec else None
    dumps = sorted(glob.glob(os.path.join(a.dir, "rec", "*-dec.wav")))
    if dumps:
        shutil.copy(dumps[0], a.record)
        summary["record"] = a.record
    return summary


if __name__ == "__main__":
    s = main()
    print(json.dumps(s), flush=True)
    sys.exit(0 if s.get("answered") else 1)
