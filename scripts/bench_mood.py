#!/usr/bin/env python
"""Benchmark the mood model as the live pipeline uses it: one utterance at a time on the CPU.

Prints model load time (including the torch import, as a fresh app pays it), per-utterance
latency (batch 1, median / p95 / max over caller-like lines of varied length), the cue detector's
latency, and peak memory (RSS) of the process.

    .venv/bin/python scripts/bench_mood.py [--model-dir models/mood] [--n 300]
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", type=Path, default=ROOT / "models" / "mood")
    ap.add_argument("--n", type=int, default=300, help="utterances to time")
    args = ap.parse_args()

    rss0 = rss_mb()
    t0 = time.perf_counter()
    from callassist.mood.sentiment import SentimentModel, normalize_text  # noqa: E402

    model = SentimentModel.load(args.model_dir)
    load_total = time.perf_counter() - t0
    import torch

    heldout = ROOT / "tests" / "data" / "mood_heldout.jsonl"
    lines = [json.loads(l)["text"] for l in heldout.read_text().splitlines() if l.strip()]
    lines += [
        "i want to speak to your manager right now",
        "thank you so much you've been really helpful",
        "hi i'm calling about my bill",
        "this is the third time i've called about the same problem and nobody has fixed it and "
        "i'm really starting to lose my patience with your company because it has been three weeks",
    ]
    texts = [lines[i % len(lines)] for i in range(args.n)]
    for t in texts[:20]:  # warm-up
        model.predict([t])
    times = []
    for t in texts:
        s = time.perf_counter()
        model.predict([t])
        times.append((time.perf_counter() - s) * 1000)
    times.sort()
    n_tok = [len(model._tok.encode(normalize_text(t)).ids) for t in texts]

    from callassist.mood.cues import detect_cues

    s = time.perf_counter()
    for t in texts:
        detect_cues(t, texts[:5])
    cue_ms = (time.perf_counter() - s) * 1000 / len(texts)

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, model {args.model_dir}")
    print(f"load: {model.load_seconds:.2f} s in SentimentModel.load (torch import included: {load_total:.2f} s)")
    print(f"latency per utterance, batch 1, {len(times)} utterances of {min(n_tok)}-{max(n_tok)} tokens "
          f"(mean {statistics.mean(n_tok):.1f}): median {statistics.median(times):.2f} ms, "
          f"p95 {times[int(0.95 * (len(times) - 1))]:.2f} ms, max {times[-1]:.2f} ms")
    print(f"cue detection: {cue_ms:.3f} ms per utterance")
    print(f"memory: peak RSS {peak:.0f} MB (process start {rss0:.0f} MB, now {rss_mb():.0f} MB)")


if __name__ == "__main__":
    main()
