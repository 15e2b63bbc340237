#!/usr/bin/env python3
"""Benchmark the wrap-up at hang-up (callassist.assist.wrapup) on labelled calls and print its
figures: precision and recall of each fact type (reason, actions, commitments, follow-ups, by
turn), the exact-match accuracy of a commitment's `when` and `amount` on the commitment turns
found, resolved accuracy, wrap-up code accuracy, and the time from hang-up to summary
(p50 / p95 / max: the assistant's `finish`, as the app calls it).

Each call goes through the live path: its turns become Utterances (id = index + 1) fed to the
pipeline's assistant (caller points, checklist, escalation) with the real mood model and tracker
(cheap: about a third of a second a call; --no-mood leaves them out), then the hang-up (the
assistant's `finish`: metrics, the rules' end-of-call checks and `summarize` with the real shared
sentence encoder) is timed alone.

    .venv/bin/python scripts/bench_wrapup.py [--data tests/data/wrapup_blind.jsonl] [--no-mood]
                                             [--as-vosk] [--details]

The data is JSONL, one call per line: {"id", "code", "resolved": bool, "turns": [{"speaker":
"agent"|"customer", "start", "end", "text"}], "reason": [turn indices], "actions": [turn
indices], "commitments": [{"turn", "what", "when": str|null, "amount": str|null}],
"followups": [turn indices]}. tests/data/wrapup_dev.jsonl is the set the rules were tuned on;
the default, tests/data/wrapup_blind.jsonl, is the blind set they were never looked at against.
`--details` prints each call's misses (for the tuning set: it shows the blind set's contents).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from callassist.assist.assistant import Assistant  # noqa: E402
from callassist.assist.wrapup import summarize  # noqa: E402
from callassist.assist.wrapup_codes import WrapUpCodes  # noqa: E402
from callassist.core.events import Utterance, WrapUp  # noqa: E402
from callassist.core.pipeline import Pipeline  # noqa: E402
from callassist.core.timeline import Timeline  # noqa: E402

FACTS = ("reason", "actions", "commitments", "followups")


def norm(s: str | None) -> str | None:
    """Exact words, compared without case, outer punctuation or doubled spaces."""
    if s is None:
        return None
    s = s.lower().replace("\u2019", "'")
    s = re.sub(r"\s+", " ", s).strip().strip(".,;:!?\"'()").strip()
    return s or None


def vosk_text(s: str | None) -> str | None:
    """Text as a recogniser without punctuation writes it (digits and amounts' points kept)."""
    if s is None:
        return None
    s = re.sub(r"(?<=\d)[.,:](?=\d)", "\x00", s.lower().replace("\u2019", "'"))
    s = re.sub(r"[^\w\s'\x00£$€%]", " ", s).replace("\x00", ".")
    return re.sub(r"\s+", " ", s).strip()


def as_vosk(call: dict) -> dict:
    call = json.loads(json.dumps(call))
    for t in call["turns"]:
        t["text"] = vosk_text(t["text"])
    for c in call.get("commitments", []):
        c["when"], c["amount"] = vosk_text(c.get("when")), vosk_text(c.get("amount"))
    return call


def load(path: Path) -> list[dict]:
    calls = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                calls.append(json.loads(line))
            except json.JSONDecodeError as exc:
                sys.exit(f"{path} line {n}: not JSON ({exc.msg})")
    return calls


def run_call(call: dict, codes, embedder, mood_model, cues):
    """(utterances, timeline events) as the live pipeline makes them, then the timed summary."""
    utts = [Utterance(i + 1, t["speaker"], t["text"], float(t["start"]), float(t["end"]))
            for i, t in enumerate(call["turns"])]
    assistant = Assistant(None, None, embedder=embedder, codes=codes)
    pipe = Pipeline(None, mood_model, cue_detector=cues, assistant=assistant)
    timeline = Timeline()
    pipe.subscribe(timeline)
    for u in utts:
        pipe._handle([u])  # what a recogniser's final utterance goes through, live
    # the hang-up as the app does it: the call's metrics, the rules' end-of-call checks and the
    # summary, with what the assistant embedded of the caller's first turns during the call
    t0 = time.perf_counter()
    out = assistant.finish(utts, utts[-1].end if utts else 0.0, timeline.events)
    dt = time.perf_counter() - t0
    wrap = next((e for e in out if isinstance(e, WrapUp)), None)
    if wrap is None:
        wrap = summarize(utts, timeline.events, codes, embedder)  # what the app would have logged
    return wrap, dt


def turns_of(facts) -> set[int]:
    return {i - 1 for f in facts for i in f["utterances"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT / "tests" / "data" / "wrapup_blind.jsonl")
    ap.add_argument("--codes", type=Path, default=None, help="wrap-up code file (default: shipped)")
    ap.add_argument("--no-mood", action="store_true", help="leave the mood model out (no mood "
                    "events: the summary has no mood, resolved goes by the words only)")
    ap.add_argument("--no-encoder", action="store_true", help="choose the code by keywords only")
    ap.add_argument("--details", action="store_true", help="print each call's misses")
    ap.add_argument("--as-vosk", action="store_true",
                    help="lower-case every text and drop its punctuation first, as Vosk writes")
    args = ap.parse_args()
    if not args.data.is_file():
        sys.exit(f"no such data file: {args.data} (give one with --data)")
    calls = load(args.data)
    if args.as_vosk:
        calls = [as_vosk(c) for c in calls]
    codes = WrapUpCodes.load(args.codes)
    embedder = None
    if not args.no_encoder:
        from callassist.mood.embeddings import shared_embedder
        embedder = shared_embedder()
        t0 = time.perf_counter()
        codes.prepare(embedder)  # once per process, at load time (core.models)
        print(f"code embeddings prepared once: {1000 * (time.perf_counter() - t0):.0f} ms")
    mood_model = cues = None
    if not args.no_mood:
        try:
            from callassist.mood.cues import detect_cues
            from callassist.mood.sentiment import SentimentModel
            mood_model, cues = SentimentModel.load(), detect_cues
        except Exception as exc:  # the wrap-up does without: say so, and go on
            print(f"mood model not loaded ({exc}): no mood events")

    tp, fp, fn = Counter(), Counter(), Counter()
    when_ok = amount_ok = matched = resolved_ok = code_ok = 0
    confusion = Counter()
    seconds = []
    for call in calls:
        wrap, dt = run_call(call, codes, embedder, mood_model, cues)
        seconds.append(dt)
        gold_commit, got_commit = {}, {}  # turn -> its promises (a turn can make two)
        for c in call.get("commitments", []):
            gold_commit.setdefault(c["turn"], []).append(c)
        for c in wrap.commitments:
            for i in c["utterances"]:
                got_commit.setdefault(i - 1, []).append(c)
        got = {"reason": turns_of(wrap.reason), "actions": turns_of(wrap.actions),
               "commitments": set(got_commit),
               # the labels' follow-ups are the caller's requests left unanswered: the wrap-up's
               # "unanswered" kind (its commitment and open-issue follow-ups are other facts)
               "followups": turns_of([f for f in wrap.followups if f["kind"] == "unanswered"])}
        gold = {"reason": set(call.get("reason", [])), "actions": set(call.get("actions", [])),
                "commitments": set(gold_commit), "followups": set(call.get("followups", []))}
        misses = []
        for k in FACTS:
            tp[k] += len(got[k] & gold[k])
            fp[k] += len(got[k] - gold[k])
            fn[k] += len(gold[k] - got[k])
            if got[k] != gold[k]:
                misses.append(f"{k}: got {sorted(got[k])} want {sorted(gold[k])}")
        for turn in sorted(set(got_commit) & set(gold_commit)):
            # each labelled promise of the turn against the found promise of that turn that
            # agrees with it best (when and amount)
            for g in gold_commit[turn]:
                matched += 1
                same = lambda c, key: norm(g.get(key)) == norm(c.get(key))  # noqa: E731
                c = max(got_commit[turn], key=lambda c: same(c, "when") + same(c, "amount"))
                when_ok += same(c, "when")
                amount_ok += same(c, "amount")
                for key in ("when", "amount"):
                    if not same(c, key):
                        misses.append(f"{key} of turn {turn}: got {c.get(key)!r} want {g.get(key)!r}")
        resolved_ok += wrap.resolved == bool(call["resolved"])
        code_ok += wrap.code == call["code"]
        confusion[(call["code"], wrap.code)] += 1
        if wrap.resolved != bool(call["resolved"]):
            misses.append(f"resolved: got {wrap.resolved} ({wrap.resolved_why}) want {call['resolved']}")
        if wrap.code != call["code"]:
            misses.append(f"code: got {wrap.code} ({wrap.code_why}) want {call['code']}")
        if args.details and misses:
            print(f"-- {call.get('id')}")
            for m in misses:
                print("   " + m)

    n = len(calls)
    print(f"\n{n} calls from {args.data}" + (" (mood model on)" if mood_model else " (no mood)")
          + (" as Vosk writes them" if args.as_vosk else ""))
    print(f"{'fact':<12} {'precision':>9} {'recall':>7}   (by turn: tp / fp / fn)")
    for k in FACTS:
        p = tp[k] / (tp[k] + fp[k]) if tp[k] + fp[k] else 1.0
        r = tp[k] / (tp[k] + fn[k]) if tp[k] + fn[k] else 1.0
        print(f"{k:<12} {p:9.2f} {r:7.2f}   {tp[k]} / {fp[k]} / {fn[k]}")
    if matched:
        print(f"commitment when   exact {when_ok / matched:.2f}  ({when_ok}/{matched} labelled promises "
              f"in matched turns)")
        print(f"commitment amount exact {amount_ok / matched:.2f}  ({amount_ok}/{matched})")
    print(f"resolved accuracy       {resolved_ok / n:.2f}  ({resolved_ok}/{n})")
    print(f"wrap-up code accuracy   {code_ok / n:.2f}  ({code_ok}/{n})")
    wrong = [f"{g}->{p} x{c}" for (g, p), c in sorted(confusion.items()) if g != p]
    if wrong:
        print("code mistakes: " + ", ".join(wrong))
    seconds.sort()
    pct = lambda q: seconds[min(len(seconds) - 1, int(round(q * (len(seconds) - 1))))]  # noqa: E731
    print(f"hang-up to summary      p50 {1000 * pct(0.5):.0f} ms, p95 {1000 * pct(0.95):.0f} ms, "
          f"max {1000 * seconds[-1]:.0f} ms")


if __name__ == "__main__":
    main()
