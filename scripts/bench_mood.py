#!/usr/bin/env python
"""Benchmark the mood model as the live pipeline uses it: one utterance at a time on the CPU,
read with the turns before it.

Prints model load time (the shared encoder and the adapter, with the imports a fresh app pays),
per-utterance latency (batch 1, one thread, median / p95 / max over the caller lines of
tests/data/mood_calls_blind.jsonl with their context, and alone), an embedding through the same
encoder (knowledge search), the cue detector's latency, and memory. Then the same through torch
(the encoder as trained, which runs where the ONNX graph is missing) in the same process, for the
ratio: the figures of one run on one machine compare; absolute ones move with the machine.

    .venv/bin/python scripts/bench_mood.py [--model-dir models/mood] [--n 300] [--no-torch]
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
    ap.add_argument("--no-torch", action="store_true", help="skip the torch comparison")
    args = ap.parse_args()

    rss0 = rss_mb()
    t0 = time.perf_counter()
    from callassist.mood.sentiment import SentimentModel, context_text, utterance_text  # noqa: E402

    model = SentimentModel.load(args.model_dir)
    load_total = time.perf_counter() - t0
    encoder = model._encoder
    blind = ROOT / "tests" / "data" / "mood_calls_blind.jsonl"
    rows = [json.loads(l) for l in blind.read_text().splitlines() if l.strip()]
    rows = [rows[i % len(rows)] for i in range(args.n)]
    texts = [r["text"] for r in rows]
    ctxs = [[(c["speaker"], c["text"]) for c in r.get("context", [])] for r in rows]

    def timed(predict, with_context: bool) -> list[float]:
        for t, c in zip(texts[:20], ctxs):  # warm-up
            predict([t], [c])
        out = []
        for t, c in zip(texts, ctxs):
            s = time.perf_counter()
            predict([t], [c] if with_context else None)
            out.append((time.perf_counter() - s) * 1000)
        return sorted(out)

    def emb_ms(embed) -> float:
        s = time.perf_counter()
        for t in texts[:100]:
            embed([t])
        return (time.perf_counter() - s) * 1000 / 100

    def p95(xs: list[float]) -> float:
        return xs[int(0.95 * (len(xs) - 1))]

    times, alone = timed(model.predict, True), timed(model.predict, False)
    n_tok = [encoder.n_tokens(utterance_text(t), context_text(c)) for t, c in zip(texts, ctxs)]
    from callassist.mood.embeddings import shared_embedder
    emb = shared_embedder()
    assert emb._encoder is encoder, "two encoders in memory"
    graph_emb = emb_ms(emb.encode)

    from callassist.mood.cues import detect_cues

    s = time.perf_counter()
    for t in texts:
        detect_cues(t, texts[:5])
    cue_ms = (time.perf_counter() - s) * 1000 / len(texts)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    loaded = sorted(m for m in ("torch", "transformers", "peft", "onnxruntime") if m in sys.modules)

    print(f"encoder: {type(encoder).__name__} (modules loaded: {', '.join(loaded)}), model {args.model_dir}")
    print(f"load: {model.load_seconds:.2f} s in SentimentModel.load (the shared encoder and the adapter; "
          f"with the imports: {load_total:.2f} s)")
    print(f"latency per utterance with its context, batch 1, one thread, {len(times)} caller lines of "
          f"{min(n_tok)}-{max(n_tok)} tokens (mean {statistics.mean(n_tok):.1f}): median "
          f"{statistics.median(times):.2f} ms, p95 {p95(times):.2f} ms, max {times[-1]:.2f} ms")
    print(f"the same lines alone: median {statistics.median(alone):.2f} ms, p95 {p95(alone):.2f} ms")
    print(f"an embedding through the same encoder (adapter off): {graph_emb:.2f} ms per sentence")
    print(f"cue detection: {cue_ms:.3f} ms per utterance")
    print(f"memory: peak RSS {peak:.0f} MB (process start {rss0:.0f} MB, now {rss_mb():.0f} MB)")
    if args.no_torch or type(encoder).__name__ == "TorchEncoder":
        return

    t0 = time.perf_counter()
    from callassist.mood.encoder import TorchEncoder
    from callassist.mood.threads import torch_threads
    reference = TorchEncoder()
    name = reference.attach(args.model_dir)
    torch_load = time.perf_counter() - t0

    def torch_predict(batch, contexts=None):
        ctx = [context_text(c) for c in contexts] if contexts else [""] * len(batch)
        with torch_threads(1):
            return reference.classify(name, [utterance_text(t) for t in batch], ctx, model.max_length)
    t_times = timed(torch_predict, True)
    t_emb = emb_ms(reference.embed)
    print(f"through torch (transformers + peft), same process: load with the imports "
          f"{torch_load:.2f} s ({torch_load / load_total:.1f}x); per utterance median "
          f"{statistics.median(t_times):.2f} ms, p95 {p95(t_times):.2f} ms "
          f"({statistics.median(t_times) / statistics.median(times):.1f}x the graph's); "
          f"an embedding {t_emb:.2f} ms ({t_emb / graph_emb:.1f}x)")


if __name__ == "__main__":
    main()
