#!/usr/bin/env python3
"""A stand-in for a Vosk websocket server (the protocol of alphacep/vosk-server's
websocket/asr_server.py), recognising with PocketSphinx 5 (the PyPI wheel's US-English model).

Protocol as the reference server speaks it: a text {"config": {...}} message sets sample_rate and
phrase_list (and gets no reply); every binary message (16-bit LE PCM) gets one reply,
{"partial": "..."}; the text {"eof" : 1} (that exact string) gets the final {"text": "...",
"result": []} and the server closes. A phrase_list becomes a JSGF grammar (without "[unk]").
Anything else is a protocol violation: logged and the socket closed with 1002.

Prints "PORT <n>" when listening on 127.0.0.1. Appends one JSON line per connection to --log.
"""
import argparse, asyncio, json

import websockets
from pocketsphinx import Decoder

EOF_MSG = '{"eof" : 1}'


def make_decoder(rate, phrases):
    if phrases:
        words = [p for p in phrases if p != "[unk]"]
        dec = Decoder(samprate=int(rate), lm=None)
        dec.add_jsgf_string("menu", "#JSGF V1.0;\ngrammar menu;\npublic <c> = " + " | ".join(words) + ";\n")
        dec.activate_search("menu")
    else:
        dec = Decoder(samprate=int(rate))
    dec.start_utt()
    return dec


async def session(ws, log):
    record = {"config": None, "binary": 0, "violations": []}
    rate, phrases, dec = 8000.0, None, None
    try:
        async for msg in ws:
            if isinstance(msg, str) and msg == EOF_MSG:
                if dec is None:
                    dec = make_decoder(rate, phrases)
                dec.end_utt()
                text = dec.hyp().hypstr if dec.hyp() is not None else ""
                record["transcript"] = text
                await ws.send(json.dumps({"result": [], "text": text}))
                break
            if isinstance(msg, str) and "config" in msg:
                cfg = json.loads(msg)["config"]
                record["config"] = cfg
                rate = float(cfg.get("sample_rate", rate))
                phrases = cfg.get("phrase_list", phrases)
                continue
            if isinstance(msg, bytes):
                if dec is None:
                    dec = make_decoder(rate, phrases)
                record["binary"] += 1
                dec.process_raw(msg, False, False)
                hyp = dec.hyp().hypstr if dec.hyp() is not None else ""
                await ws.send(json.dumps({"partial": hyp}))
                continue
            record["violations"].append(msg[:100])
            await ws.close(1002, "unexpected message")
            break
    finally:
        if log:
            with open(log, "a") as f:
                f.write(json.dumps(record) + "\n")


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--log")
    a = ap.parse_args()
    async with websockets.serve(lambda ws: session(ws, a.log), "127.0.0.1", a.port) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(f"PORT {port}", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main())
