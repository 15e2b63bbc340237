#!/usr/bin/env python3
"""Train the wrap-up's two learned scorers (callassist.assist.wrapup_model: the reason for
calling, the wrap-up code) on labelled calls, print their leave-one-set-out figures next to the
hand-written rules', and write models/wrapup/weights.json.

    .venv/bin/python scripts/train_wrapup.py [--data tests/data/wrapup_dev.jsonl ...] [--write]

Each data file is one "set" (written by one writer at one time); each set in turn is held out,
the models are trained on the others and scored on it, so every figure is on calls the weights
never saw. Only sets that are no longer blind belong here: a blind set is measured with
scripts/bench_wrapup.py, once, and never trained on.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from callassist.assist import callfacts, wrapup_model as wm  # noqa: E402
from callassist.assist.callfacts import Turn  # noqa: E402
from callassist.assist.wrapup_codes import PREPARE_BATCH, WrapUpCodes  # noqa: E402
from callassist.core.events import CUSTOMER, Utterance  # noqa: E402
from callassist.core.pipeline import Pipeline  # noqa: E402

TRAIN_SETS = ("wrapup_dev", "wrapup_blind", "wrapup_blind2", "wrapup_blind3", "wrapup_blind4")
L2_REASON = 1.0
L2_CODE = 0.3
DETAILS = False


class Embeds:
    """The shared encoder's embeddings, each text once."""

    def __init__(self, embedder):
        self.embedder, self.cache = embedder, {}

    def __call__(self, texts: list[str]) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in self.cache]
        for i in range(0, len(todo), PREPARE_BATCH):
            for t, v in zip(todo[i:i + PREPARE_BATCH], self.embedder.encode(todo[i:i + PREPARE_BATCH])):
                self.cache[t] = np.asarray(v)
        return np.array([self.cache[t] for t in texts])


def moods_of(utts: list[Utterance], mood_model, cues) -> list:
    """The caller's MoodState events as the live pipeline makes them."""
    if mood_model is None:
        return []
    events = []
    pipe = Pipeline(None, mood_model, cue_detector=cues)
    pipe.subscribe(events.append)
    for u in utts:
        pipe._handle([u])
    return events


def prepare(call: dict, codes: WrapUpCodes, embeds: Embeds, embedder, mood_model=None, cues=None) -> dict:
    utts = [Utterance(i + 1, t["speaker"], t["text"], float(t["start"]), float(t["end"]))
            for i, t in enumerate(call["turns"])]
    utts = sorted((u for u in utts if u.text.strip()), key=lambda u: (u.start, u.id))
    turns = [Turn.of(u) for u in utts]
    rule = {i for f in callfacts.reason(turns, CUSTOMER, codes.reason_keywords) for i in f.utterances}
    cands, X = wm.reason_matrix(turns, CUSTOMER, codes, rule, embeds)
    gold = set(call.get("reason", []))
    y = np.array([turns[k].id - 1 in gold for k in cands], dtype=float)
    agent = [(t.id, t.utt.text) for t in turns if t.utt.speaker != CUSTOMER]
    before = {u.id: p.text for p, u in zip(utts, utts[1:]) if u.speaker != CUSTOMER and p.speaker == CUSTOMER}
    settled = codes.agent_choice(agent, before)
    return {"id": call["id"], "turns": turns, "events": moods_of(utts, mood_model, cues), "cands": cands, "X": X, "y": y, "rule": rule,
            "gold_reason": gold, "code": call["code"],
            "settled": settled.code.code if settled else None}


def fit_reason(data: list[dict]) -> np.ndarray:
    X = np.concatenate([d["X"] for d in data])
    y = np.concatenate([d["y"] for d in data])

    def loss(w):
        z = X @ w
        p = wm.sigmoid(z)
        nll = -np.sum(y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12))
        grad = X.T @ (p - y)
        reg = L2_REASON * (w[1:] @ w[1:]) / 2
        g = grad + L2_REASON * np.r_[0.0, w[1:]]
        return nll + reg, g

    return minimize(loss, np.zeros(X.shape[1]), jac=True, method="L-BFGS-B").x


def reasons(d: dict, w: np.ndarray, also: float) -> list[int]:
    """Turn ids (1-based) of the predicted reason."""
    if not d["cands"]:
        return []
    probs = wm.sigmoid(d["X"] @ w)
    picked = [d["turns"][d["cands"][j]] for j in wm.pick_reason(probs, also)]
    return [t.id for t in picked if callfacts._words_said(t.utt.text) >= wm.MIN_WORDS]


def code_rows(d: dict, reason_ids: list[int], codes: WrapUpCodes, embeds: Embeds, embedder):
    return wm.code_features(codes, d["turns"], CUSTOMER, reason_ids, embeds,
                            wm.reason_mood(d["events"], reason_ids, CUSTOMER))


def fit_code(rows: list[tuple[np.ndarray, int]], mask: np.ndarray) -> np.ndarray:
    def loss(w):
        total, grad = 0.0, np.zeros_like(w)
        for X, g in rows:
            z = X[mask] @ w
            z -= z.max()
            p = np.exp(z) / np.exp(z).sum()
            total -= np.log(p[g] + 1e-12)
            grad += X[mask].T @ p - X[mask][g]
        return total + L2_CODE * w @ w / 2, grad + L2_CODE * w

    return minimize(loss, np.zeros(len(wm.CODE_FEATURES)), jac=True, method="L-BFGS-B").x


def predict_code(X: np.ndarray, w: np.ndarray, mask: np.ndarray, codes: WrapUpCodes,
                 settled: str | None) -> str:
    if settled:
        return settled
    scores = X @ w
    scores[~mask] = -np.inf
    return codes.codes[int(np.argmax(scores))].code


def train(data, codes, embeds, embedder, also):
    w_reason = fit_reason(data)
    mask = wm.caller_only(codes)
    names = [c.code for c in codes.codes]
    rows = []
    for d in data:
        if d["code"] in names and mask[names.index(d["code"])]:
            X = code_rows(d, reasons(d, w_reason, also), codes, embeds, embedder)
            rows.append((X, int(np.flatnonzero(mask).tolist().index(names.index(d["code"])))))
    return w_reason, fit_code(rows, mask)


def score(data, w_reason, w_code, codes, embeds, embedder, also, use_rules=False):
    tp = fp = fn = ok = 0
    mask = wm.caller_only(codes)
    for d in data:
        got = d["rule"] if use_rules else set(reasons(d, w_reason, also))
        got = {i - 1 for i in got}
        tp += len(got & d["gold_reason"])
        fp += len(got - d["gold_reason"])
        fn += len(d["gold_reason"] - got)
        if not use_rules:
            X = code_rows(d, sorted(i + 1 for i in got), codes, embeds, embedder)
            code = predict_code(X, w_code, mask, codes, d["settled"])
            ok += code == d["code"]
            if DETAILS and code != d["code"]:
                print(f"   {d['id']}: code {code} want {d['code']}")
        if DETAILS and not use_rules and got != d["gold_reason"]:
            print(f"   {d['id']}: reason {sorted(got)} want {sorted(d['gold_reason'])}")
    return tp, fp, fn, ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, nargs="*",
                    default=[ROOT / "tests" / "data" / f"{s}.jsonl" for s in TRAIN_SETS])
    ap.add_argument("--also", type=float, default=0.5,
                    help="a second reason turn when at least this likely")
    ap.add_argument("--write", action="store_true", help="write models/wrapup/weights.json")
    ap.add_argument("--no-mood", action="store_true", help="without the mood model")
    ap.add_argument("--details", action="store_true", help="print the held-out calls' misses")
    args = ap.parse_args()
    global DETAILS
    DETAILS = args.details
    from callassist.mood.embeddings import shared_embedder

    embedder = shared_embedder()
    codes = WrapUpCodes.load()
    codes.prepare(embedder)
    embeds = Embeds(embedder)
    mood_model = cues = None
    if not args.no_mood:
        from callassist.mood.cues import detect_cues
        from callassist.mood.sentiment import SentimentModel
        mood_model, cues = SentimentModel.load(), detect_cues
    t0 = time.perf_counter()
    sets = {}
    for path in args.data:
        calls = [json.loads(l) for l in path.read_text(encoding="utf-8").splitlines() if l.strip()]
        sets[path.stem] = [prepare(c, codes, embeds, embedder, mood_model, cues) for c in calls]
    n = sum(len(v) for v in sets.values())
    print(f"{n} calls from {len(sets)} sets prepared in {time.perf_counter() - t0:.0f} s")

    print(f"\nleave-one-set-out ({'second reason turn at p >= %.2f' % args.also}):")
    print(f"{'held out':<16} {'n':>3}  {'reason P/R (rules)':>19}  {'reason P/R (learned)':>21}  {'code':>5}")
    totals = np.zeros(7)
    for name, held in sets.items():
        train_data = [d for k, v in sets.items() if k != name for d in v]
        w_r, w_c = train(train_data, codes, embeds, embedder, args.also)
        rtp, rfp, rfn, _ = score(held, w_r, w_c, codes, embeds, embedder, args.also, use_rules=True)
        tp, fp, fn, ok = score(held, w_r, w_c, codes, embeds, embedder, args.also)
        totals += [rtp, rfp, rfn, tp, fp, fn, ok]
        print(f"{name:<16} {len(held):>3}  {rtp / max(rtp + rfp, 1):9.2f} / {rtp / max(rtp + rfn, 1):.2f}"
              f"  {tp / max(tp + fp, 1):11.2f} / {tp / max(tp + fn, 1):.2f}  {ok / len(held):5.2f}")
    rtp, rfp, rfn, tp, fp, fn, ok = totals
    print(f"{'all':<16} {n:>3}  {rtp / (rtp + rfp):9.2f} / {rtp / (rtp + rfn):.2f}"
          f"  {tp / (tp + fp):11.2f} / {tp / (tp + fn):.2f}  {ok / n:5.2f}")

    w_r, w_c = train([d for v in sets.values() for d in v], codes, embeds, embedder, args.also)
    print("\nweights on all sets:")
    print("  reason: " + ", ".join(f"{k} {v:+.2f}" for k, v in zip(wm.REASON_FEATURES, w_r)))
    print("  code:   " + ", ".join(f"{k} {v:+.2f}" for k, v in zip(wm.CODE_FEATURES, w_c)))
    if args.write:
        out = {"trained_on": sorted(sets), "calls": n, "also": args.also,
               "reason": dict(zip(wm.REASON_FEATURES, np.round(w_r, 4).tolist())),
               "code": dict(zip(wm.CODE_FEATURES, np.round(w_c, 4).tolist()))}
        wm.WEIGHTS.parent.mkdir(parents=True, exist_ok=True)
        wm.WEIGHTS.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {wm.WEIGHTS}")


if __name__ == "__main__":
    main()
