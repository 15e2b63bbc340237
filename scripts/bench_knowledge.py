#!/usr/bin/env python3
"""Benchmark the knowledge search over the demo knowledge base and print its figures:
index build time (cold: every passage embedded; warm: from the embedding cache), re-index time
after one article changes, search latency (median, p95) over the labelled caller queries, and
hit@1 / hit@3 on them.

    .venv/bin/python scripts/bench_knowledge.py [--kb content/knowledge]
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kb_split import hit_rates, kb_split  # noqa: E402

from callassist.mood.embeddings import shared_embedder  # noqa: E402
from callassist.assist.knowledge import DEFAULT_KB, KnowledgeBase  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kb", type=Path, default=DEFAULT_KB)
    ap.add_argument("--queries", type=Path, default=ROOT / "tests" / "data" / "kb_queries.yaml")
    args = ap.parse_args()
    emb = shared_embedder()
    print(f"encoder load {emb.load_seconds:.2f} s")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "kb"
        shutil.copytree(args.kb, folder)
        t0 = time.perf_counter(); kb = KnowledgeBase(folder, embedder=emb, cache=False)
        cold = time.perf_counter() - t0
        n_pass = sum(len(a.passages) for a in kb.articles.values())
        print(f"index cold  {cold:6.2f} s  ({len(kb.articles)} articles, {n_pass} passages)")
        t0 = time.perf_counter(); kb.refresh(); print(f"refresh, nothing changed {1000 * (time.perf_counter() - t0):6.1f} ms")
        f = sorted(folder.glob("*.md"))[0]
        f.write_text(f.read_text() + "\n## Added\nA new paragraph about something else entirely.\n")
        t0 = time.perf_counter(); kb.refresh(); print(f"re-index after one article changed {1000 * (time.perf_counter() - t0):6.1f} ms")
    t0 = time.perf_counter(); KnowledgeBase(args.kb, embedder=emb)
    print(f"index warm (embedding cache) {time.perf_counter() - t0:6.2f} s")
    kb = KnowledgeBase(args.kb, embedder=emb)
    queries = yaml.safe_load(args.queries.read_text())
    lat = []
    for q in queries:
        t0 = time.perf_counter(); kb.search(q["query"], 3); lat.append(time.perf_counter() - t0)
    lat.sort()
    p95 = lat[int(round(0.95 * (len(lat) - 1)))]
    print(f"search latency over {len(lat)} queries: median {1000 * statistics.median(lat):.1f} ms, "
          f"p95 {1000 * p95:.1f} ms, max {1000 * lat[-1]:.1f} ms")
    report = kb_split(args.queries)["report"]  # the weights were tuned on the other half
    h1, h3 = hit_rates(kb, report)
    print(f"hit@1 {h1:.3f}  hit@3 {h3:.3f} on the {len(report)} held-out queries")


if __name__ == "__main__":
    main()
