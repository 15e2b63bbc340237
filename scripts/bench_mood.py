#!/usr/bin/env python
"""Benchmark the mood model as the live pipeline uses it: one utterance at a time on the CPU,
read with the turns before it.

Prints model load time (the shared encoder and the adapter, and with the torch/transformers
imports a fresh app pays), per-utterance latency (batch 1, one thread, median / p95 / max over
the caller lines of tests/data/mood_calls_blind.jsonl with their context, and alone), an
embedding through the same encoder (knowledge search), the cue detector's latency, and memory.

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
    from callassist.mood.sentiment import SentimentModel, context_text, utterance_text  # noqa: E402

    model = SentimentModel.load(args.model_dir)
    load_total = time.perf_counter() - t0
    import torch

    torch.set_num_threads(1)  # as the live pipeline reads one utterance (mood.threads)
    blind = ROOT / "tests" / "data" / "mood_calls_blind.jsonl"
    rows = [json.loads(l) for l in blind.read_text().splitlines() if l.strip()]
    rows = [rows[i % len(rows)] for i in range(args.n)]
    texts = [r["text"] for r in rows]
    ctxs = [[(c["speaker"], c["text"]) for c in r.get("context", [])] for r in rows]

    def timed(with_context: bool) -> list[float]:
        for t, c in zip(texts[:20], ctxs):  # warm-up
            model.predict([t], [c])
        out = []
        for t, c in zip(texts, ctxs):
            s = time.perf_counter()
            model.predict([t], [c] if with_context else None)
            out.append((time.perf_counter() - s) * 1000)
        return sorted(out)

    times, alone = timed(True), timed(False)
    tok = model._encoder.mood_tokenizer
    n_tok = [len(tok(utterance_text(t), context_text(c))["input_ids"]) for t, c in zip(texts, ctxs)]
    from callassist.mood.embeddings import shared_embedder
    emb = shared_embedder()
    assert emb._encoder is model._encoder, "two encoders in memory"
    s = time.perf_counter()
    for t in texts[:100]:
        emb.encode([t])
    emb_ms = (time.perf_counter() - s) * 1000 / 100

    from callassist.mood.cues import detect_cues

    s = time.perf_counter()
    for t in texts:
        detect_cues(t, texts[:5])
    cue_ms = (time.perf_counter() - s) * 1000 / len(texts)

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, model {args.model_dir}")
    print(f"load: {model.load_seconds:.2f} s in SentimentModel.load (the shared encoder and the adapter; "
          f"with the torch/transformers/peft imports: {load_total:.2f} s)")
    print(f"latency per utterance with its context, batch 1, one thread, {len(times)} caller lines of "
          f"{min(n_tok)}-{max(n_tok)} tokens (mean {statistics.mean(n_tok):.1f}): median "
          f"{statistics.median(times):.2f} ms, p95 {times[int(0.95 * (len(times) - 1))]:.2f} ms, max {times[-1]:.2f} ms")
    print(f"the same lines alone: median {statistics.median(alone):.2f} ms, p95 {alone[int(0.95 * (len(alone) - 1))]:.2f} ms")
    print(f"an embedding through the same encoder (adapter off): {emb_ms:.2f} ms per sentence")
    print(f"cue detection: {cue_ms:.3f} ms per utterance")
    print(f"memory: peak RSS {peak:.0f} MB (process start {rss0:.0f} MB, now {rss_mb():.0f} MB)")


if __name__ == "__main__":
    main()
