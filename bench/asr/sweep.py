#!/usr/bin/env python3
"""Offline what-if for the ASR benchmark's grammar rows: decodes the benchmark speech
(target/asr-bench/{piper,espeak}/NN.wav, made by make_speech.py) with PyPI pocketsphinx 5.1.1
(the same C and model the engine uses) and prints the correct routes per voice, so PocketSphinx
parameters, the front end or the upsampling can be tried in seconds without a cargo build.

It reproduces the bench's grammar rows (same grammars, same mu-law decode, same 2x linear
upsampling, the front end reset per utterance, 600 ms / 1.5 s of silence around the phrase) but
decodes the whole padded file, without the listen core's VAD: on 2026-12-01 both gave the same
routes for all 106 utterances, so the VAD/endpointing is not what loses espeak-ng's phrases.

    /opt/phonetree-interop/venv/bin/python bench/asr/sweep.py espeak [key=value ...]

key=value: any PocketSphinx option (lw=10.0, beam=1e-80, remove_noise=no, ...; front-end
options are set after init because the model's feat.params overrides them at init), and
wip=/wipd= (menu / digits word insertion penalty, default 0.65 / 0.05 as the engine),
up=lin|zoh|stuff|ideal (8 → 16 kHz), gain=X, full=1 (batch CMN), only=digits|menu|yesno,
misses=1 (print what was misheard).
"""
import os, sys

import numpy as np
from pocketsphinx import Decoder, get_model_path

HERE = os.path.dirname(os.path.abspath(__file__))
AUDIO = os.path.join(HERE, "../../target/asr-bench")
PHRASES = [tuple(f.strip() for f in l.split("|"))
           for l in open(os.path.join(HERE, "phrases.txt")) if l.strip() and not l.startswith("#")]
DIGITS = {"zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
          "six": "6", "seven": "7", "eight": "8", "nine": "9"}
FRONT_END = ("remove_noise", "cmn", "dither", "nfilt", "upperf", "lowerf", "agc", "cmninit")
OURS = ("wip", "wipd", "up", "gain", "full", "only", "misses")


def ulaw(b):
    u = ~np.frombuffer(b, dtype=np.uint8).astype(np.int32) & 0xFF
    sign, exp, man = u & 0x80, (u >> 4) & 7, u & 0xF
    s = (((man << 3) + 0x84) << exp) - 0x84
    return np.where(sign, -s, s).astype(np.float64)


def load(voice, i):
    b = open(os.path.join(AUDIO, voice, f"{i:02}.wav"), "rb").read()
    return ulaw(b[b.find(b"data") + 8:])


def upsample(x, how):
    if how == "lin":  # what src/asr/pcm.rs does
        prev = np.concatenate([[x[0]], x[:-1]])
        y = np.empty(2 * len(x))
        y[0::2], y[1::2] = prev, np.floor((prev + x) / 2)
    elif how == "zoh":
        y = np.repeat(x, 2)
    elif how == "stuff":
        y = np.zeros(2 * len(x))
        y[0::2] = 2 * x
    else:  # ideal band limit
        X = np.fft.rfft(x)
        Y = np.zeros(len(x) + 1, complex)
        Y[:len(X)] = X
        y = np.fft.irfft(Y, 2 * len(x)) * 2
    return np.clip(y, -32768, 32767).astype(np.int16)


def grammar(cat):
    if cat == "digits":
        return ("#JSGF V1.0;\ngrammar digits;\n<digit> = " + " | ".join(DIGITS)
                + ";\npublic <digits> = <digit>+;\n")
    alts = []
    for c, _, t in PHRASES:
        if c == cat and t not in alts:
            alts.append(t)
    return "#JSGF V1.0;\ngrammar menu;\npublic <choice> = %s;\n" % " | ".join(alts)


def value(v):
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return {"yes": True, "no": False}.get(v, v)


def main():
    voice = sys.argv[1]
    opts = dict(a.split("=", 1) for a in sys.argv[2:])
    model = get_model_path()
    decoders = {}
    ok, miss = 0, []
    for i, (cat, route, text) in enumerate(PHRASES):
        if opts.get("only", cat) != cat:
            continue
        if cat not in decoders:
            kw = dict(hmm=os.path.join(model, "en-us/en-us"), lm=None, loglevel="FATAL",
                      dict=os.path.join(model, "en-us/cmudict-en-us.dict"), samprate=16000)
            kw["wip"] = float(opts.get("wipd", 0.05) if cat == "digits" else opts.get("wip", 0.65))
            kw.update({k: value(v) for k, v in opts.items() if k not in OURS + FRONT_END})
            d = Decoder(**kw)
            for k in FRONT_END:
                if k in opts:
                    d.config[k] = value(opts[k])
            d.add_jsgf_string("g", grammar(cat))
            d.activate_search("g")
            decoders[cat] = d
        d = decoders[cat]
        x = load(voice, i) * float(opts.get("gain", 1))
        pcm = np.concatenate([np.zeros(600 * 8), x, np.zeros(1500 * 8)])
        d.reinit_feat()  # the engine's Decoder::start does the same
        d.start_utt()
        d.process_raw(upsample(pcm, opts.get("up", "lin")).tobytes(), full_utt=opts.get("full") == "1")
        d.end_utt()
        hyp = d.hyp().hypstr if d.hyp() else ""
        if cat == "digits":
            words = hyp.split()
            good = bool(words) and "".join(DIGITS.get(w, "?") for w in words) == route
        else:
            good = {t: r for c, r, t in PHRASES if c == cat}.get(hyp) == route
        ok += good
        if not good:
            miss.append(f"{text!r} -> {hyp!r}")
    print(f"{voice} {opts} {ok}")
    if opts.get("misses") == "1":
        print("; ".join(miss))


if __name__ == "__main__":
    main()
