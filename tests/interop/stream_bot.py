#!/usr/bin/env python3
"""A voice bot for the interop tests of the `stream` node: a websocket server that speaks the
Ringover streamer protocol (phonetree is the media server: a JSON metadata frame, then binary
16-bit PCM; replies play/streamAudio/break/digits/transfer/end) or Twilio Media Streams (phonetree
is Twilio: connected/start/media/dtmf/mark/stop; replies media/mark/clear), and follows a plan.

Usage: stream_bot.py --port P --protocol ringover|twilio --plan plan.json [--serve-port Q --serve FILE]
The plan is a JSON list of steps, run in order once the stream has started:
  {"audio": "x.wav", "kind": "raw|wav|mp3|ogg", "rate": 8000}   ringover streamAudio (raw: sox converts
                                                                 x.wav to L16 at rate; others: x's bytes)
  {"play": "http://..."}  {"break": true}  {"digits": 123}  {"transfer": "sip:..."}  {"end": {...}}
  {"media": "x.wav"}  {"mark": "name"}  {"clear": true}          twilio
  {"sleep": 1.5}  {"wait_event": "dtmf", "timeout": 10}  {"close": "reason text"}
--serve FILE serves that file over HTTP on --serve-port (for `play`).
Prints one JSON summary on stdout when the connection ends: the path and headers of the request,
the first text frames, binary frame sizes, events, and each mark's echo delay. Exit 0.
"""
import argparse
import asyncio
import base64
import http.server
import json
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
from websockets.asyncio.server import serve  # noqa: E402

T0 = time.monotonic()
SUMMARY = {"path": None, "auth": None, "texts": [], "binary_sizes": {}, "binary_frames": 0,
           "events": [], "echoes": {}, "echo_frames": {}, "media_frames": 0, "errors": []}


def log(msg):
    print("[%6.3f] %s" % (time.monotonic() - T0, msg), file=sys.stderr, flush=True)


def sox_raw(path, rate, encoding):
    args = ["sox", path, "-t", "raw", "-r", str(rate), "-c", "1"] + encoding + ["-"]
    return subprocess.run(args, check=True, capture_output=True, timeout=30).stdout


async def run_plan(ws, protocol, plan, stream_sid, marks):
    for step in plan:
        log("step %s" % json.dumps(step)[:100])
        if "sleep" in step:
            await asyncio.sleep(step["sleep"])
        elif "wait_event" in step:
            want, deadline = step["wait_event"], time.monotonic() + step.get("timeout", 10)
            while want not in [e["event"] for e in SUMMARY["events"]] and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        elif "audio" in step:
            kind = step.get("kind", "raw")
            if kind == "raw":
                data = sox_raw(step["audio"], step.get("rate", 8000), ["-e", "signed", "-b", "16", "-L"])
            else:
                data = open(step["audio"], "rb").read()
            msg = {"type": "streamAudio", "data": {"audioDataType": kind, "audioData": base64.b64encode(data).decode()}}
            if "rate" in step:
                msg["data"]["sampleRate"] = step["rate"]
            await ws.send(json.dumps(msg))
        elif "play" in step:
            await ws.send(json.dumps({"event": "play", "file": step["play"]}))
        elif "break" in step:
            await ws.send(json.dumps({"event": "break"}))
        elif "digits" in step:
            await ws.send(json.dumps({"event": "digits", "data": step["digits"]}))
        elif "transfer" in step:
            await ws.send(json.dumps({"event": "transfer", "data": step["transfer"]}))
        elif "end" in step:
            await ws.send(json.dumps({"event": "end", "data": step["end"]}))
        elif "media" in step:
            mulaw = sox_raw(step["media"], 8000, ["-e", "u-law", "-b", "8"])
            await ws.send(json.dumps({"event": "media", "streamSid": stream_sid(),
                                      "media": {"payload": base64.b64encode(mulaw).decode()}}))
        elif "mark" in step:
            # The caller's media frames seen so far: the echo's distance from here in frames tells
            # "echoed once played" from "echoed on arrival" without trusting a clock under load.
            marks[step["mark"]] = (time.monotonic(), SUMMARY["media_frames"])
            SUMMARY["echoes"][step["mark"]] = None
            await ws.send(json.dumps({"event": "mark", "streamSid": stream_sid(), "mark": {"name": step["mark"]}}))
        elif "clear" in step:
            await ws.send(json.dumps({"event": "clear", "streamSid": stream_sid()}))
        elif "close" in step:
            await ws.close(code=1000, reason=step["close"])
            return



async def handler(ws, args, plan, done):
    SUMMARY["path"] = ws.request.path
    SUMMARY["auth"] = ws.request.headers.get("Authorization")
    sid = {"value": None}
    started = asyncio.Event()
    marks = {}

    async def reader():
        try:
            async for msg in ws:
                t = round(time.monotonic() - T0, 3)
                if isinstance(msg, bytes):
                    SUMMARY["binary_frames"] += 1
                    n = str(len(msg))
                    SUMMARY["binary_sizes"][n] = SUMMARY["binary_sizes"].get(n, 0) + 1
                    continue
                v = json.loads(msg)
                ev = v.get("event")
                if ev == "media":
                    SUMMARY["media_frames"] += 1
                if len(SUMMARY["texts"]) < 3:
                    SUMMARY["texts"].append(v)
                if ev == "start":
                    sid["value"] = v.get("streamSid") or v.get("start", {}).get("streamSid")
                    started.set()
                elif args.protocol == "ringover" and not started.is_set():
                    started.set()
                if ev == "mark":
                    name = v["mark"]["name"]
                    if name in marks:
                        sent_at, frames_at = marks[name]
                        SUMMARY["echoes"][name] = round(time.monotonic() - sent_at, 3)
                        SUMMARY["echo_frames"][name] = SUMMARY["media_frames"] - frames_at
                if ev not in (None, "media"):
                    SUMMARY["events"].append({"event": ev, "t": t, "detail": v.get("dtmf") or v.get("mark")})
        except Exception as e:  # the connection closed under us
            SUMMARY["errors"].append(str(e))

    read = asyncio.create_task(reader())
    await asyncio.wait_for(started.wait(), 10)
    await run_plan(ws, args.protocol, plan, lambda: sid["value"], marks)
    try:
        await asyncio.wait_for(read, args.linger)
    except asyncio.TimeoutError:
        pass
    done.set()


def serve_file(port, path):
    body = open(path, "rb").read()

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "audio/wav")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", port), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--protocol", choices=["ringover", "twilio"], required=True)
    ap.add_argument("--plan", required=True)
    ap.add_argument("--serve-port", type=int)
    ap.add_argument("--serve")
    ap.add_argument("--linger", type=float, default=30, help="seconds to keep reading after the plan")
    ap.add_argument("--lifetime", type=float, default=90)
    args = ap.parse_args()
    plan = json.load(open(args.plan))
    if args.serve:
        serve_file(args.serve_port, args.serve)
    done = asyncio.Event()
    async with serve(lambda ws: handler(ws, args, plan, done), "127.0.0.1", args.port, max_size=None):
        print(json.dumps({"listening": args.port}), file=sys.stderr, flush=True)
        try:
            await asyncio.wait_for(done.wait(), args.lifetime)
        except asyncio.TimeoutError:
            SUMMARY["errors"].append("lifetime over")
    print(json.dumps(SUMMARY))


if __name__ == "__main__":
    asyncio.run(main())
