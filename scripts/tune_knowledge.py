#!/usr/bin/env python3
"""Choose the knowledge search's weights (callassist/assist/knowledge.py: SEMANTIC_WEIGHT,
TAG_WEIGHT, BM25_SCALE, PRODUCT_BONUS) on the "tune" half of the labelled queries, and print the
hit rates of the chosen weights on the "report" half, which took no part in choosing them.

    .venv/bin/python scripts/tune_knowledge.py
"""
from __future__ import annotations

import itertools
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kb_split import hit_rates, kb_split  # noqa: E402

from callassist.assist import knowledge as K  # noqa: E402

GRID = {"SEMANTIC_WEIGHT": (0.5, 0.6, 0.7, 0.8), "TAG_WEIGHT": (0.0, 0.15, 0.3, 0.45),
        "BM25_SCALE": (4.0, 8.0, 16.0), "PRODUCT_BONUS": (0.0, 0.04, 0.08)}


def main() -> None:
    halves = kb_split()
    kb = K.KnowledgeBase()
    shipped = {name: getattr(K, name) for name in GRID}
    best = None
    for values in itertools.product(*GRID.values()):
        for name, v in zip(GRID, values):
            setattr(K, name, v)
        h1, h3 = hit_rates(kb, halves["tune"])
        key = (h1 + h3, h1, -abs(values[0] - shipped["SEMANTIC_WEIGHT"]))
        if best is None or key > best[0]:
            best = (key, dict(zip(GRID, values)), h1, h3)
    _, chosen, t1, t3 = best
    for name, v in chosen.items():
        setattr(K, name, v)
    r1, r3 = hit_rates(kb, halves["report"])
    print(f"tuned on {len(halves['tune'])} queries: {chosen}  hit@1 {t1:.3f} hit@3 {t3:.3f}")
    print(f"report half ({len(halves['report'])} queries, not used to choose): "
          f"hit@1 {r1:.3f} hit@3 {r3:.3f}")
    for name, v in shipped.items():
        setattr(K, name, v)
    s1, s3 = hit_rates(kb, halves["report"])
    print(f"shipped weights {shipped} on the report half: hit@1 {s1:.3f} hit@3 {s3:.3f}")


if __name__ == "__main__":
    main()
