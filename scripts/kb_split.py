"""The labelled caller queries (tests/data/kb_queries.yaml) in two fixed halves: the knowledge
search's weights are tuned on "tune" (scripts/tune_knowledge.py) and its hit rates are reported on
"report" only (scripts/bench_knowledge.py, tests/test_knowledge.py). Every other query of each
article goes to each half (articles take turns at which half gets their first query), so both
halves cover every article and are the same size within one."""
from __future__ import annotations

from pathlib import Path

import yaml

QUERIES = Path(__file__).resolve().parents[1] / "tests" / "data" / "kb_queries.yaml"


def kb_split(path: Path = QUERIES) -> dict[str, list[dict]]:
    queries = yaml.safe_load(path.read_text())
    seen: dict[str, int] = {}
    order: dict[str, int] = {}
    halves: dict[str, list[dict]] = {"tune": [], "report": []}
    for q in queries:
        j = order.setdefault(q["article"], len(order))
        n = seen[q["article"]] = seen.get(q["article"], -1) + 1
        halves["tune" if (n + j) % 2 == 0 else "report"].append(q)
    return halves


def hit_rates(kb, queries: list[dict]) -> tuple[float, float]:
    """hit@1 and hit@3 of the knowledge base on labelled queries."""
    h1 = h3 = 0
    for q in queries:
        ids = [c.article for c in kb.search(q["query"], 3)]
        h1 += bool(ids) and ids[0] == q["article"]
        h3 += q["article"] in ids
    return h1 / len(queries), h3 / len(queries)
