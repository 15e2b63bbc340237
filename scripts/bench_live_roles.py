#!/usr/bin/env python
"""Roles of a live call on one microphone (a speakerphone) without the agent's voice profile, by
the words: the whole pipeline (the shipped Whisper, no mood model) over the live separator
(audio.separated.LiveSeparatedSource) on the mono mixes of scripts/make_mono_mixes.py, as fast as
it goes. The separator takes the first voice heard for the agent's; the pipeline swaps the roles
when what each side says shows them the other way round (core.pipeline.RoleTally). Prints
figures, judges nothing.

Each mix runs once with the swap off; the swap is then replayed on its utterances in the order
they came (their text does not depend on it) for each rule of --rules, LEAD:OPENING (the shipped
rule, core.pipeline.RoleTally, with that lead over the call and each side's first OPENING
seconds read as a recording's are; "none": no opening rule). --cache DIR keeps each mix's
utterances (and reads them back: only for trying rules on code that has not changed).

Per mix: the share of the truth's words (spread evenly over their turn) that fall in a final
utterance of their role, of those that fall in one at all ("heard", 0.3 s of slack either
side), first-voice roles / each rule; and at which utterance the swap came (- none).

    .venv/bin/python scripts/bench_live_roles.py [--split tune|report|blind|all] [--rules 2:12,2:none]
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import make_mono_mixes  # noqa: E402
from bench_diarize import words_of  # noqa: E402


def swapped_at(utts, lead: int, opening: float | None) -> int | None:
    """After how many utterances the shipped rule swaps the roles with this lead and opening
    (None: never)."""
    from callassist.core.pipeline import RoleTally
    tally = RoleTally(lead=lead, opening=opening)
    for n, u in enumerate(utts, 1):
        tally.add(u)
        if tally.wrong():
            return n
    return None


def right(truth: dict, utts) -> tuple[int, int]:
    """(words in an utterance of their role, words in an utterance at all)."""
    ok = heard = 0
    for when, role in words_of(truth):
        u = next((u for u in utts if u.start - 0.3 <= when <= u.end + 0.3), None)
        if u is not None:
            heard += 1
            ok += u.speaker == role
    return ok, heard


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", default="report", choices=["report", "tune", "blind", "all"])
    ap.add_argument("--mixes", type=Path, default=make_mono_mixes.DEFAULT_OUT)
    ap.add_argument("--only", default="", help="only the mixes whose name holds this")
    ap.add_argument("--rules", default="2:12,2:none,1:none",
                    help="LEAD:OPENING rules to compare (the shipped one: core.pipeline's "
                         "ROLE_LEAD:OPENING_SECONDS)")
    ap.add_argument("--cache", type=Path, help="keep (and read back) each mix's utterances here")
    args = ap.parse_args()
    todo = make_mono_mixes.mixes_of(args.mixes.expanduser(), args.split, args.only)
    from callassist.asr.whisper_engine import WhisperEngine
    from callassist.audio.separated import LiveSeparatedSource
    from callassist.audio.sources import FileSource
    from callassist.core import pipeline as P

    from callassist.core.events import Utterance, event_from_dict

    rules = [(int(lead), None if op == "none" else float(op))
             for lead, op in (r.split(":") for r in args.rules.split(","))]
    engine = None
    print(f"{len(todo)} {args.split} mixes, no agent profile; shipped rule "
          f"{P.ROLE_LEAD}:{P.OPENING_SECONDS:g}")
    def label(rule) -> str:
        return f"{rule[0]}:{'none' if rule[1] is None else f'{rule[1]:g}'}"
    print(f"{'mix':34} {'heard':>6} {'first':>6} " + " ".join(f"{label(r):>12}" for r in rules))
    tot = {k: [] for k in ["first", *rules]}
    for f, truth in todo:
        name = f.name.removesuffix(".truth.json")
        kept = args.cache.expanduser() / f"{name}.json" if args.cache else None
        if kept is not None and kept.exists():
            utts = [event_from_dict(e) for e in json.loads(kept.read_text())]
        else:
            engine = engine or WhisperEngine(spare_threads=1)
            pipe = P.Pipeline(engine, None, partials=False)
            pipe.ROLE_LEAD, pipe.OPENING_SECONDS = 10 ** 6, None  # off: replayed below
            tl = pipe.run(LiveSeparatedSource(FileSource(f.with_name(name + ".wav"),
                                                         channels="customer")))
            utts = tl.utterances
            if kept is not None:
                kept.parent.mkdir(parents=True, exist_ok=True)
                kept.write_text(json.dumps([u.to_dict() for u in utts]))
        assert all(isinstance(u, Utterance) for u in utts)
        ok, heard = right(truth, utts)
        tot["first"].append(ok / max(1, heard))
        cells = []
        for k in rules:
            n = swapped_at(utts, *k)
            if n is None:
                share = ok / max(1, heard)
            else:
                other = {"agent": "customer", "customer": "agent"}
                share = right(truth, [replace(u, speaker=other[u.speaker]) for u in utts])[0] \
                    / max(1, heard)
            tot[k].append(share)
            cells.append(f"{100 * share:5.1f}% @{'-' if n is None else n:>3}")
        print(f"{name:34} {100 * heard / max(1, len(words_of(truth))):5.1f}% "
              f"{100 * ok / max(1, heard):5.1f}% " + " ".join(f"{c:>12}" for c in cells),
              flush=True)
    print("words in an utterance of their role (mean of mixes; worst):")
    for k, shares in tot.items():
        print(f"  {'first voice = agent' if k == 'first' else 'by the words, rule ' + label(k):28} "
              f"{100 * np.mean(shares):5.1f}%  worst {100 * min(shares):5.1f}%")


if __name__ == "__main__":
    main()
