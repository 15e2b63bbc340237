#!/usr/bin/env python3
"""Train the wrap-up's five learned scorers (callassist.assist.wrapup_model: the reason for
calling, the wrap-up code, the promises kept, the caller's asks left open, whether the call was
settled), print their
leave-one-set-out figures next to the hand-written rules', and write models/wrapup/weights.json
(the defaults reproduce the shipped file; about 16 minutes on a 2-core CPU).

    .venv/bin/python scripts/train_wrapup.py [--data tests/data/wrapup_dev.jsonl ...] [--write]
                                             [--also P] [--keep P] [--raise-at P] [--no-mood]
                                             [--details]

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

from callassist.assist import callfacts, wrapup, wrapup_model as wm  # noqa: E402
from callassist.assist.callfacts import Turn  # noqa: E402
from callassist.assist.wrapup import Embed  # noqa: E402
from callassist.assist.wrapup_codes import WrapUpCodes  # noqa: E402
from callassist.core.events import CUSTOMER, MoodState, Utterance  # noqa: E402
from callassist.core.pipeline import Pipeline  # noqa: E402

TRAIN_SETS = ("wrapup_dev", "wrapup_blind", "wrapup_blind2", "wrapup_blind3", "wrapup_blind4",
              "wrapup_blind5a", "wrapup_blind5b", "wrapup_blind6a", "wrapup_blind6b", "wrapup_blind7a",
              "wrapup_blind7b", "wrapup_blind8a", "wrapup_blind8b", "wrapup_blind9a", "wrapup_blind9b",
              "wrapup_blind10a", "wrapup_blind10b", "wrapup_blind11a", "wrapup_blind11b",
              "wrapup_blind12a", "wrapup_blind12b", "wrapup_blind13a", "wrapup_blind13b",
              "wrapup_blind14a", "wrapup_blind14b", "wrapup_blind15a", "wrapup_blind15b",
              "wrapup_blind16a", "wrapup_blind16b", "wrapup_blind17a", "wrapup_blind17b",
              "wrapup_blind18a", "wrapup_blind18b")
# wrapup_dev's `followups` are another fact (the commitments, and an unresolved call's reason):
# it is left out of the follow-up scorer's training and figures
OTHER_FOLLOWUPS = ("wrapup_dev",)
L2_REASON = 1.0
L2_CODE = 0.3
L2_PROMISE = 1.0
L2_FOLLOWUP = 0.3
L2_RESOLVED = 1.0
DETAILS = False


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


def prepare(call: dict, codes: WrapUpCodes, embeds: Embed, embedder, mood_model=None, cues=None) -> dict:
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
    promised = callfacts.commitments(turns, CUSTOMER)
    done = callfacts.actions(turns, CUSTOMER)
    P = wm.promise_features(turns, CUSTOMER, promised, done)
    gold_promise = {c["turn"] for c in call.get("commitments", [])}
    # the labelled reason as the reason model can give it (among its candidates), else as labelled
    reason_ids = {turns[k].id for k in cands if turns[k].id - 1 in gold} or {i + 1 for i in gold}
    asks = wrapup.ask_candidates(turns, CUSTOMER, reason_ids)
    unheard = wrapup.open_asks(turns, CUSTOMER, reason_ids)
    texts = list(dict.fromkeys([*wrapup.followup_texts(turns, CUSTOMER, asks),
                                *(x for ask, replies in unheard
                                  for x in (ask.text, *(r.utt.text for r in replies)))]))
    vectors = dict(zip(texts, embeds(texts))) if texts else {}
    rules_open = {ask.turn.id for ask, replies in unheard
                  if not wrapup.answered_in_meaning(ask, replies, vectors)}
    gold_followup = set(call.get("followups", []))
    events = moods_of(utts, mood_model, cues)
    moods = [e for e in events if isinstance(e, MoodState) and e.speaker == CUSTOMER]
    said = callfacts.signals(turns, CUSTOMER)
    handed = callfacts.Resolution(False, f"handed on: {settled.why}", settled.utterances) \
        if settled is not None and settled.code.left_open else None
    end = moods[-1] if moods else None
    rules_settled = callfacts.resolution(turns, CUSTOMER, promised, end.label if end else None,
                                         end.utterance_id if end else None, None, said)
    # the labelled reason embedded, as the code's `taught` feature reads it (the caller's first
    # turn where none is labelled)
    told = [t.utt.text for t in turns if t.id - 1 in gold] or \
        [t.utt.text for t in turns if t.utt.speaker == CUSTOMER][:1]
    return {"id": call["id"], "turns": turns, "events": events,
            "reason_vector": wm.mean_vector(embeds, told).astype(np.float32),
            "cands": cands, "X": X, "y": y, "rule": rule, "gold_reason": gold, "code": call["code"],
            "settled": settled.code.code if settled else None, "promised": promised, "P": P,
            "py": np.array([f.utterances[0] - 1 in gold_promise for f in promised], dtype=float),
            "gold_promise": gold_promise, "asks": asks,
            "F": wrapup.followup_features(turns, CUSTOMER, asks, rules_open, vectors, done, promised),
            "fy": np.array([turns[k].id - 1 in gold_followup for k in asks], dtype=float),
            "rules_followup": {i - 1 for i in rules_open}, "gold_followup": gold_followup,
            # resolved: the signals, the closing embedded, the rules' answer (a hand-on to a senior
            # rep overrides it, as in the wrap-up), the label
            "resolved_args": (said, moods, handed, promised, done, turns[-1].id),
            "closing": embeds([wm.closing_text(turns)])[0],
            "rules_resolved": rules_settled.resolved and handed is None,
            "resolved": bool(call["resolved"])}


def fit_logistic(X: np.ndarray, y: np.ndarray, l2: float) -> np.ndarray:
    """L2-regularised logistic regression (the first column is the bias, not regularised)."""
    def loss(w):
        p = wm.sigmoid(X @ w)
        nll = -np.sum(y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12))
        return nll + l2 * (w[1:] @ w[1:]) / 2, X.T @ (p - y) + l2 * np.r_[0.0, w[1:]]

    return minimize(loss, np.zeros(X.shape[1]), jac=True, method="L-BFGS-B").x


def fit_reason(data: list[dict]) -> np.ndarray:
    return fit_logistic(np.concatenate([d["X"] for d in data]), np.concatenate([d["y"] for d in data]),
                        L2_REASON)


def fit_promise(data: list[dict]) -> np.ndarray:
    return fit_logistic(np.concatenate([d["P"] for d in data]), np.concatenate([d["py"] for d in data]),
                        L2_PROMISE)


def fit_followup(data: list[dict]) -> np.ndarray:
    data = [d for d in data if d["F"] is not None]
    return fit_logistic(np.concatenate([d["F"] for d in data]), np.concatenate([d["fy"] for d in data]),
                        L2_FOLLOWUP)


def followups_raised(d: dict, w: np.ndarray, raise_at: float) -> set[int]:
    """0-based turns the follow-up scorer raises."""
    probs = wm.sigmoid(d["F"] @ w) if len(d["F"]) else []
    return {d["turns"][k].id - 1 for k, p in zip(d["asks"], probs) if p >= raise_at}


def promises_kept(d: dict, w: np.ndarray, keep: float) -> set[int]:
    """0-based turns of the promises the filter keeps."""
    probs = wm.sigmoid(d["P"] @ w) if len(d["P"]) else []
    return {f.utterances[0] - 1 for f, p in zip(d["promised"], probs) if p >= keep}


def reasons(d: dict, w: np.ndarray, also: float) -> list[int]:
    """Turn ids (1-based) of the predicted reason."""
    if not d["cands"]:
        return []
    probs = wm.sigmoid(d["X"] @ w)
    picked = [d["turns"][d["cands"][j]] for j in wm.pick_reason(probs, also)]
    return [t.id for t in picked if callfacts._words_said(t.utt.text) >= wm.MIN_WORDS]


def code_rows(d: dict, reason_ids: list[int], codes: WrapUpCodes, embeds: Embed, embedder,
              taught: dict[str, np.ndarray] | None = None):
    return wm.code_features(codes, d["turns"], CUSTOMER, reason_ids, embeds,
                            wm.reason_mood(d["events"], reason_ids, CUSTOMER), taught)


def taught_by(data: list[dict], caller_codes: list[str]) -> dict[str, np.ndarray]:
    """Per code the caller's words can give: the labelled reasons of the calls given it, embedded."""
    out: dict[str, list] = {}
    for d in data:
        if d["code"] in caller_codes:
            out.setdefault(d["code"], []).append(d["reason_vector"])
    return {code: np.array(v, dtype=np.float32) for code, v in out.items()}


def without(taught: dict[str, np.ndarray], d: dict, hidden: str | None = None) -> dict[str, np.ndarray]:
    """What the other calls taught (a call is not its own neighbour), and none of the code
    `hidden`: a code no labelled call was given, as a centre's own code is."""
    out = {code: v for code, v in taught.items() if code != hidden}
    if d["code"] in out:
        mine = out[d["code"]]
        out[d["code"]] = mine[~np.all(mine == d["reason_vector"], axis=1)]
    return out


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


def settled_direction(data: list[dict]) -> np.ndarray:
    """The direction from the close of open calls to that of settled ones (their mean embeddings)."""
    closing = np.array([d["closing"] for d in data])
    settled = np.array([d["resolved"] for d in data])
    return (closing[settled].mean(0) - closing[~settled].mean(0)).astype(np.float32)


def resolved_row(d: dict, direction: np.ndarray) -> np.ndarray:
    said, moods, handed, promised, done, _ = d["resolved_args"]
    return wm.resolved_features(said, moods, handed is not None, promised, done, d["closing"], direction)


def fit_resolved(data: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    direction = settled_direction(data)
    X = np.array([resolved_row(d, direction) for d in data])
    return fit_logistic(X, np.array([d["resolved"] for d in data], dtype=float), L2_RESOLVED), direction


def resolved_by_scorer(d: dict, w: np.ndarray, direction: np.ndarray) -> bool:
    return wm.settles(resolved_row(d, direction), w, d["resolved_args"][0])


def train(data, codes, embeds, embedder, also):
    w_reason = fit_reason(data)
    mask = wm.caller_only(codes)
    names = [c.code for c in codes.codes]
    caller_codes = [c for c, m in zip(names, mask) if m]
    taught = taught_by(data, caller_codes)
    rng = np.random.default_rng(0)
    rows = []
    for d in data:
        if d["code"] in names and mask[names.index(d["code"])]:
            ids, g = reasons(d, w_reason, also), caller_codes.index(d["code"])
            rows.append((code_rows(d, ids, codes, embeds, embedder, without(taught, d)), g))
            # the same call with one code no labelled call was given (a centre's own code): the
            # code's description and examples stand in, and the `untaught` weight learns how far
            hidden = caller_codes[rng.integers(len(caller_codes))]
            rows.append((code_rows(d, ids, codes, embeds, embedder, without(taught, d, hidden)), g))
    return w_reason, fit_code(rows, mask), fit_promise(data), fit_followup(data), fit_resolved(data), taught


def score(data, w_reason, w_code, codes, embeds, embedder, also, use_rules=False,
          w_promise=None, keep=0.5, w_followup=None, raise_at=0.5, w_resolved=None, taught=None):
    tp = fp = fn = ok = settled_ok = 0
    ptp = pfp = pfn = 0
    ftp = ffp = ffn = 0
    mask = wm.caller_only(codes)
    for d in data:
        if d["F"] is not None:
            raised = d["rules_followup"] if use_rules else followups_raised(d, w_followup, raise_at)
            ftp += len(raised & d["gold_followup"])
            ffp += len(raised - d["gold_followup"])
            ffn += len(d["gold_followup"] - raised)
            if DETAILS and not use_rules and raised != d["gold_followup"]:
                print(f"   {d['id']}: follow-ups {sorted(raised)} want {sorted(d['gold_followup'])}")
        kept = {f.utterances[0] - 1 for f in d["promised"]} if use_rules else \
            promises_kept(d, w_promise, keep)
        ptp += len(kept & d["gold_promise"])
        pfp += len(kept - d["gold_promise"])
        pfn += len(d["gold_promise"] - kept)
        settled = d["rules_resolved"] if use_rules else resolved_by_scorer(d, *w_resolved)
        settled_ok += settled == d["resolved"]
        if DETAILS and not use_rules and settled != d["resolved"]:
            print(f"   {d['id']}: resolved {settled} want {d['resolved']}")
        got = d["rule"] if use_rules else set(reasons(d, w_reason, also))
        got = {i - 1 for i in got}
        tp += len(got & d["gold_reason"])
        fp += len(got - d["gold_reason"])
        fn += len(d["gold_reason"] - got)
        if not use_rules:
            X = code_rows(d, sorted(i + 1 for i in got), codes, embeds, embedder, taught)
            code = predict_code(X, w_code, mask, codes, d["settled"])
            ok += code == d["code"]
            if DETAILS and code != d["code"]:
                print(f"   {d['id']}: code {code} want {d['code']}")
        if DETAILS and not use_rules and got != d["gold_reason"]:
            print(f"   {d['id']}: reason {sorted(got)} want {sorted(d['gold_reason'])}")
    return tp, fp, fn, ok, ptp, pfp, pfn, ftp, ffp, ffn, settled_ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, nargs="*",
                    default=[ROOT / "tests" / "data" / f"{s}.jsonl" for s in TRAIN_SETS])
    ap.add_argument("--also", type=float, default=0.5,
                    help="a second reason turn when at least this likely")
    ap.add_argument("--keep", type=float, default=0.45, help="a promise is kept when at least this likely")
    ap.add_argument("--raise-at", type=float, default=0.3,
                    help="a follow-up is raised when at least this likely")
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
    embeds = Embed(embedder)
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
    for name in OTHER_FOLLOWUPS:
        for d in sets.get(name, []):
            d["F"] = None
    n = sum(len(v) for v in sets.values())
    print(f"{n} calls from {len(sets)} sets prepared in {time.perf_counter() - t0:.0f} s")

    print(f"\nleave-one-set-out (a second reason turn at p >= {args.also:.2f}, a promise kept at "
          f"p >= {args.keep:.2f}, a follow-up raised at p >= {args.raise_at:.2f}; the rules' in brackets):")
    print(f"{'held out':<16} {'n':>3}  {'reason P/R':>10} {'(rules)':>11}  {'code':>5}  "
          f"{'promises P/R':>12} {'(rules)':>11}  {'follow-ups P/R':>14} {'(rules)':>11}  "
          f"{'resolved':>8} {'(rules)':>7}")
    totals = np.zeros(21)
    fmt = lambda tp, fp, fn: f"{tp / max(tp + fp, 1):.2f} / {tp / max(tp + fn, 1):.2f}"  # noqa: E731
    for name, held in sets.items():
        train_data = [d for k, v in sets.items() if k != name for d in v]
        w_r, w_c, w_p, w_f, w_s, taught = train(train_data, codes, embeds, embedder, args.also)
        rule = score(held, w_r, w_c, codes, embeds, embedder, args.also, use_rules=True)
        got = score(held, w_r, w_c, codes, embeds, embedder, args.also, w_promise=w_p, keep=args.keep,
                    w_followup=w_f, raise_at=args.raise_at, w_resolved=w_s, taught=taught)
        # learned: reason 0-2, code 3, promises 4-6, follow-ups 7-9, resolved 10; rules: reason
        # 11-13, promises 14-16, follow-ups 17-19, resolved 20
        row = np.array([*got, *rule[:3], *rule[4:]])
        totals += row
        fu = f"{fmt(*row[7:10]):>14} ({fmt(*row[17:20])})" if name not in OTHER_FOLLOWUPS else " " * 28
        print(f"{name:<16} {len(held):>3}  {fmt(*row[:3])} ({fmt(*row[11:14])})  {row[3] / len(held):5.2f}  "
              f"{fmt(*row[4:7]):>12} ({fmt(*row[14:17])})  {fu}  {row[10] / len(held):8.2f} "
              f"({row[20] / len(held):.2f})")
    print(f"{'all':<16} {n:>3}  {fmt(*totals[:3])} ({fmt(*totals[11:14])})  {totals[3] / n:5.2f}  "
          f"{fmt(*totals[4:7]):>12} ({fmt(*totals[14:17])})  {fmt(*totals[7:10]):>14} "
          f"({fmt(*totals[17:20])})  {totals[10] / n:8.2f} ({totals[20] / n:.2f})")

    w_r, w_c, w_p, w_f, (w_s, direction), taught = train([d for v in sets.values() for d in v], codes,
                                                         embeds, embedder, args.also)
    print("\nweights on all sets:")
    print("  reason: " + ", ".join(f"{k} {v:+.2f}" for k, v in zip(wm.REASON_FEATURES, w_r)))
    print("  code:   " + ", ".join(f"{k} {v:+.2f}" for k, v in zip(wm.CODE_FEATURES, w_c)))
    print("  promise: " + ", ".join(f"{k} {v:+.2f}" for k, v in zip(wm.PROMISE_FEATURES, w_p)))
    print("  follow-up: " + ", ".join(f"{k} {v:+.2f}" for k, v in zip(wm.FOLLOWUP_FEATURES, w_f)))
    print("  resolved: " + ", ".join(f"{k} {v:+.2f}" for k, v in zip(wm.RESOLVED_FEATURES, w_s)))
    if args.write:
        out = {"trained_on": sorted(sets), "calls": n, "also": args.also, "keep": args.keep,
               "reason": dict(zip(wm.REASON_FEATURES, np.round(w_r, 4).tolist())),
               "code": dict(zip(wm.CODE_FEATURES, np.round(w_c, 4).tolist())),
               "promise": dict(zip(wm.PROMISE_FEATURES, np.round(w_p, 4).tolist())),
               "raise_at": args.raise_at,
               "followup": dict(zip(wm.FOLLOWUP_FEATURES, np.round(w_f, 4).tolist())),
               "resolved": dict(zip(wm.RESOLVED_FEATURES, np.round(w_s, 4).tolist())),
               "settled_direction": np.round(direction, 5).tolist(),
               "taught": wm.pack_taught(taught)}
        wm.WEIGHTS.parent.mkdir(parents=True, exist_ok=True)
        wm.WEIGHTS.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {wm.WEIGHTS}")


if __name__ == "__main__":
    main()
