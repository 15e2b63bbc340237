#!/usr/bin/env python
"""Word error rate and cost of the recogniser's final pass with Whisper's encoder reading the
full 30 s window (as faster-whisper does) or only the utterance and some padding (at least
`--least` seconds: WhisperEngine(least_window=...)).

Each turn of the two-speaker mixes of scripts/make_mono_mixes.py is cut from its mix by its true
times (0.2 s before, 0.3 s after) and transcribed by the shipped engine (beam 5, word times,
temperature fallback; one thread). The turns of the "tune" split (the demo dialogues) chose the
window; the "report" split (new dialogues, other voices) is the evidence. 8 kHz mixes are
telephone-band audio brought back to 16 kHz.

    .venv/bin/python scripts/eval_asr_window.py [--split report] [--least 30,15,10]

Prints, per window: WER over all turns (jiwer, after lower-casing and removing punctuation;
numbers said as words count as errors when written as digits, alike for every window), the
pass's p50 / p95 time, and how many turns read differently from the first window given.
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import make_mono_mixes  # noqa: E402


def norm(text: str) -> str:
    text = re.sub(r"[^a-z0-9' ]", " ", text.lower().replace("-", " "))
    return " ".join(text.split())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", default="report", choices=["report", "tune", "blind", "all"])
    ap.add_argument("--mixes", type=Path, default=make_mono_mixes.DEFAULT_OUT)
    ap.add_argument("--least", default="30,15,10",
                    help="windows to compare, seconds (30: the full window)")
    ap.add_argument("--rate", type=int, choices=[8000, 16000], help="only the mixes of this rate")
    args = ap.parse_args()

    import jiwer
    import soundfile as sf
    import soxr

    from callassist.asr.whisper_engine import WhisperEngine

    mixes = args.mixes.expanduser()

    todo = make_mono_mixes.mixes_of(mixes, args.split, rate=args.rate)
    windows = [float(x) for x in args.least.split(",")]
    engines = {w: WhisperEngine(least_window=None if w >= 30 else w, spare_threads=1)
               for w in windows}
    refs: list[str] = []
    hyps: dict[float, list[str]] = {w: [] for w in windows}
    took: dict[float, list[float]] = {w: [] for w in windows}
    for f, truth in todo:
        audio, rate = sf.read(f.with_name(f.name.replace(".truth.json", ".wav")), dtype="float32")
        if audio.ndim > 1:
            audio = audio.mean(axis=1)
        if rate != 16000:
            audio = soxr.resample(audio, rate, 16000).astype(np.float32)
        for turn in truth["turns"]:
            cut = audio[max(0, int((turn["start"] - 0.2) * 16000)):int((turn["end"] + 0.3) * 16000)]
            refs.append(norm(turn["text"]))
            for w, engine in engines.items():
                began = time.perf_counter()
                segments = engine.transcribe(cut)
                took[w].append(time.perf_counter() - began)
                hyps[w].append(norm(" ".join(s.text for s in segments)) or "<nothing>")
    first = windows[0]
    print(f"{len(todo)} {args.split} mixes, {len(refs)} turns")
    for w in windows:
        differ = sum(a != b for a, b in zip(hyps[w], hyps[first]))
        print(f"  window {'30 s (full)' if w >= 30 else f'>= {w:g} s'}: WER "
              f"{100 * jiwer.wer(refs, hyps[w]):.1f}%, pass p50 {np.median(took[w]):.2f} s, "
              f"p95 {np.percentile(took[w], 95):.2f} s; {differ} turns read differently from "
              f"the {first:g} s window")


if __name__ == "__main__":
    main()
