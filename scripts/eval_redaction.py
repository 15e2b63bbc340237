#!/usr/bin/env python
"""Evaluate personal-data redaction (callassist.library.redact) on the test set tests/data/redaction.yaml.

Prints recall over the personal-data items (overall and per category), how often the tag names
the labelled category, the over-redaction rate on harmless utterances, and every miss.

An item is recalled when every identifying token of its span (a digit word, a numeral or a token
with a digit, a spelled letter; for an e-mail every part except "at"/"dot") lies inside a span that
find_personal_data returned. Over-redaction rate = harmless utterances changed / harmless ones.

    .venv/bin/python scripts/eval_redaction.py [path/to/redaction.yaml]
"""
from __future__ import annotations

import re
import sys
from collections import defaultdict
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from callassist.library.redact import find_personal_data, redact_text  # noqa: E402

DATA = ROOT / "tests" / "data" / "redaction.yaml"

_NUMBER_WORDS = {
    "zero", "oh", "o", "one", "two", "to", "too", "three", "four", "for", "five", "six", "seven",
    "eight", "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
    "seventeen", "eighteen", "nineteen", "twenty", "thirty", "forty", "fifty", "sixty", "seventy",
    "eighty", "ninety", "hundred"}
_TOKEN = re.compile(r"[A-Za-z0-9]+(?:'[A-Za-z]+)?")


def identifying_tokens(span: str, category: str) -> list[tuple[int, int]]:
    """(start, end) offsets, within span, of the tokens that must not survive redaction."""
    out = []
    for m in _TOKEN.finditer(span):
        tok = m.group().lower()
        if category == "email":
            keep = tok not in ("at", "dot")
        else:
            keep = any(c.isdigit() for c in tok) or tok in _NUMBER_WORDS or (len(tok) == 1 and tok.isalpha())
        if keep:
            out.append(m.span())
    return out


def load(path: Path = DATA) -> tuple[list[dict], list[str]]:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    personal = []
    for case in data["personal"]:
        items = []
        for entry in case["pii"]:
            (category, span), = entry.items()
            start = case["text"].find(span)
            if start < 0:
                raise ValueError(f"span {span!r} not in {case['text']!r}")
            items.append({"category": category, "span": span, "start": start})
        personal.append({"text": case["text"], "pii": items})
    return personal, list(data["harmless"])


def evaluate(path: Path = DATA) -> dict:
    """Recall (overall, per category), tag accuracy, over-redaction rate, misses, false alarms."""
    personal, harmless = load(path)
    hits: dict[str, list[int]] = defaultdict(list)
    tagged: dict[str, list[int]] = defaultdict(list)
    misses = []
    for case in personal:
        found = find_personal_data(case["text"])
        for item in case["pii"]:
            at = item["start"]
            need = [(at + a, at + b) for a, b in identifying_tokens(item["span"], item["category"])]
            cover = [r for r in found if r.end > at and r.start < at + len(item["span"])]
            ok = all(any(r.start <= a and b <= r.end for r in found) for a, b in need)
            hits[item["category"]].append(int(ok))
            tagged[item["category"]].append(int(ok and all(r.category == item["category"] for r in cover)))
            if not ok:
                misses.append((item["category"], item["span"], case["text"], redact_text(case["text"])))
    changed = [(t, redact_text(t)) for t in harmless]
    false_alarms = [(t, r) for t, r in changed if r != t]
    everything = [h for v in hits.values() for h in v]
    return {
        "items": len(everything),
        "recall": sum(everything) / len(everything),
        "per_category": {c: {"items": len(v), "recall": sum(v) / len(v),
                             "tag_accuracy": sum(tagged[c]) / len(v)} for c, v in sorted(hits.items())},
        "harmless": len(harmless),
        "over_redaction": len(false_alarms) / len(harmless),
        "misses": misses,
        "false_alarms": false_alarms,
    }


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DATA
    r = evaluate(path)
    print(f"personal-data items: {r['items']}   recall: {r['recall']:.3f}")
    for cat, f in r["per_category"].items():
        print(f"  {cat:8s} {f['items']:3d} items   recall {f['recall']:.3f}   right tag {f['tag_accuracy']:.3f}")
    print(f"harmless utterances: {r['harmless']}   over-redaction rate: {r['over_redaction']:.3f}")
    if r["misses"]:
        print("\nmisses (category, span, text -> redacted):")
        for cat, span, text, red in r["misses"]:
            print(f"  [{cat}] {span!r}\n      {text}\n   -> {red}")
    if r["false_alarms"]:
        print("\nharmless utterances changed:")
        for text, red in r["false_alarms"]:
            print(f"  {text}\n   -> {red}")


if __name__ == "__main__":
    main()
