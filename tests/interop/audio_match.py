#!/usr/bin/env python3
"""Was a source prompt heard in a recording, and where? Cross-correlation, not "not silent".

Usage: audio_match.py RECORDING.wav PROMPT.wav [--after S] [--before S] [--ref-seconds S]
Both files are converted (sox) to 8 kHz mono float. The prompt (its leading silence trimmed,
optionally only its first --ref-seconds, for prompts cut short by barge-in) is located in the
recording window [--after, --before] by normalised FFT cross-correlation. Scores at the best offset:
  wave  waveform correlation coefficient (G.711 keeps it near 0.9),
  spec  correlation of log spectrograms (robust to codecs that do not keep the waveform: Opus),
and per 1 s chunk of the prompt, each located on its own (robust to gaps and jitter-buffer resets);
the chunks that match anchor the prompt (their median offset), so a prompt cut short by barge-in
or by the end of the recording is still located; only the part the recording can hold is scored,
and a chunk counts only where it lies at the anchor (within 0.25 s).
heard = wave >= 0.5 or spec >= 0.75 or at least 70 % (and 2) of the expected chunks match.
Prints one JSON object; offset_s is from the start of the recording. Exit 0 heard, 1 not, 2 error.
"""
import argparse
import json
import subprocess
import sys

import numpy as np

RATE = 8000


def load(path):
    raw = subprocess.run(["sox", path, "-t", "f32", "-r", str(RATE), "-c", "1", "-"],
                         check=True, capture_output=True, timeout=60).stdout
    return np.frombuffer(raw, dtype=np.float32).astype(np.float64)


def xcorr(rec, ref):
    """Normalised cross-correlation of ref at every offset inside rec: (best offset, score)."""
    nfft = 1 << (len(rec) + len(ref) - 1).bit_length()
    c = np.fft.irfft(np.fft.rfft(rec, nfft) * np.conj(np.fft.rfft(ref, nfft)), nfft)
    c = c[:len(rec) - len(ref) + 1]
    cs = np.concatenate(([0.0], np.cumsum(rec ** 2)))
    win = np.sqrt(np.maximum(cs[len(ref):] - cs[:-len(ref)], 1e-12))
    score = c / (win * np.linalg.norm(ref) + 1e-12)
    k = int(np.argmax(score))
    return k, float(score[k])


def logspec(x, n=256, hop=80):
    """Log power spectrogram: 32 ms Hann frames, 10 ms hop, 60-3400 Hz."""
    m = max(0, (len(x) - n) // hop + 1)
    idx = np.arange(n)[None, :] + hop * np.arange(m)[:, None]
    spec = np.abs(np.fft.rfft(x[idx] * np.hanning(n), axis=1))[:, 2:109] ** 2
    return np.log10(spec + 1e-7)


def spec_corr(a, b):
    sa, sb = logspec(a), logspec(b)
    m = min(len(sa), len(sb))
    if m < 3:
        return 0.0
    return float(np.corrcoef(sa[:m].ravel(), sb[:m].ravel())[0, 1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("recording")
    ap.add_argument("prompt")
    ap.add_argument("--after", type=float, default=0.0, help="search from this second")
    ap.add_argument("--before", type=float, default=None, help="the prompt must START before this second")
    ap.add_argument("--ref-seconds", type=float, default=None, help="use only the first N s of the prompt")
    ap.add_argument("--min-wave", type=float, default=0.5)
    ap.add_argument("--min-spec", type=float, default=0.75)
    ap.add_argument("--min-chunks", type=float, default=0.7)
    a = ap.parse_args()
    try:
        rec, ref = load(a.recording), load(a.prompt)
    except (subprocess.SubprocessError, OSError) as e:
        print(json.dumps({"error": str(e)}))
        sys.exit(2)
    loud = np.nonzero(np.abs(ref) > 1e-3)[0]
    if len(loud) == 0:
        print(json.dumps({"error": "the prompt is silent"}))
        sys.exit(2)
    ref = ref[loud[0]:]
    if a.ref_seconds:
        ref = ref[:int(a.ref_seconds * RATE)]
    lo = max(0, int(a.after * RATE))
    hi = len(rec) if a.before is None else min(len(rec), int(a.before * RATE) + len(ref))
    win = rec[lo:hi]
    res = {"recording_s": round(len(rec) / RATE, 2), "prompt_s": round(len(ref) / RATE, 2),
           "window_s": [round(lo / RATE, 2), round(hi / RATE, 2)],
           "rms_db": round(float(20 * np.log10(np.sqrt(np.mean(rec ** 2)) + 1e-9)), 1) if len(rec) else None}
    if len(win) < RATE // 10:
        res.update(heard=False, error="the search window is shorter than 0.1 s")
        print(json.dumps(res))
        sys.exit(1)
    n_win = len(win)
    win = np.concatenate([win - win.mean(), np.zeros(len(ref))])  # the prompt may run past the end
    ref = ref - ref.mean()
    # 1 s chunks of the prompt, each located on its own; their agreeing offset anchors the prompt
    C, found = RATE, []
    for p in range(0, len(ref) - C + 1, C):
        seg = ref[p:p + C]
        if np.sqrt((seg ** 2).mean()) < 0.01:  # silent chunk of the prompt
            continue
        kc, wc = xcorr(win, seg)
        found.append((p, kc, wc, spec_corr(win[kc:kc + C], seg)))
    good = [kc - p for p, kc, wc, sc in found if wc >= a.min_wave or sc >= a.min_spec]
    k, wave = xcorr(win, ref)
    if good:  # partial plays (barge-in, end of recording) still anchor on their chunks
        anchor = int(np.median(good))
        if anchor != k and 0 <= anchor < n_win:
            k = anchor
            wave = float(np.dot(win[k:k + len(ref)], ref)
                         / (np.linalg.norm(win[k:k + len(ref)]) * np.linalg.norm(ref) + 1e-12))
    present = max(0, min(len(ref), n_win - k))  # how much of the prompt the recording can hold
    spec = spec_corr(win[k:k + present], ref[:present])
    chunks = []
    for p, kc, wc, sc in found:
        if k + p + C > n_win:  # past the end of the recording: not expected
            continue
        aligned = abs((kc - p) - k) <= RATE // 4
        chunks.append({"ref_s": round(p / RATE, 2), "at_s": round((lo + kc) / RATE, 3), "wave": round(wc, 3),
                       "spec": round(sc, 3), "ok": bool(aligned and (wc >= a.min_wave or sc >= a.min_spec))})
    ok = sum(c["ok"] for c in chunks)
    heard = wave >= a.min_wave or spec >= a.min_spec or (ok >= 2 and ok >= a.min_chunks * len(chunks))
    if present < min(len(ref), RATE):  # less than 1 s of it could be in the recording
        heard = False
    if a.before is not None and lo + k > int(a.before * RATE):
        heard = False
    res.update(offset_s=round((lo + k) / RATE, 3), wave=round(wave, 3), spec=round(spec, 3),
               heard_s=round(present / RATE, 2), chunks_ok=ok, chunks=len(chunks), heard=bool(heard),
               chunk_detail=chunks)
    print(json.dumps(res))
    sys.exit(0 if heard else 1)


if __name__ == "__main__":
    main()
