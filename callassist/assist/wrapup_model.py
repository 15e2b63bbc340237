"""Five small learned scorers of the wrap-up: which caller turns give the reason for calling,
which wrap-up code fits the call, which of the agent's future-tense clauses are promises for
after the call, which of the caller's asks were left open (its features are read in
assist.wrapup, beside the rules' own reading of asks), and whether the call was settled.

The hand-written rules (callfacts.reason, WrapUpCodes.choose, callfacts.commitments) scored 0.95
on the calls they were written against and about 0.6 on calls written apart from them: each new
call found a preamble ("can you hear me, I'm in the car", "my English is not so good"), a story
or a recap the rules had not seen. Here the rules' readings become features, with what the turn
says by meaning (the shared sentence encoder against each code's description and examples),
where it stands in the call and how the agent answered it ("go ahead" after a preamble, "sorry to
hear that, the order number?" after a reason); the weights are learned from labelled calls
(scripts/train_wrapup.py, figures and data in models/wrapup/MODEL_CARD.md).

All five are linear and tiny (a few dozen weights in models/wrapup/weights.json); at hang-up
they cost the embedding of a few caller turns. The code model scores each code of the list with
the SAME weights on features of that code (its keywords heard, its meaning's closeness, its
mood), so a centre's own code list works with it unchanged. One feature is learned by code: how
close the reason comes to the reasons of the labelled calls given that code (`Weights.taught`).
A code no labelled call was given (a centre's own, or one renamed) stands in with its own
description and examples, and a feature says so; it was trained for, by hiding one code's calls
at a time.
"""
from __future__ import annotations

import base64
import json
import logging
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from ..core.events import MoodState
from ..core.rules import NEGATIVE_LABELS, plain_text
from ..errors import ConfigError
from ..resources import shipped
from . import callfacts
from .callfacts import Fact, Turn
from .wrapup_codes import Choice, WrapUpCodes

log = logging.getLogger(__name__)
WEIGHTS = shipped("models", "wrapup", "weights.json")
CANDIDATES = 6  # the caller's first turns that may give the reason
MIN_WORDS = 4  # words (not a number read out) a reason has at least
SYMPATHY = re.compile(r"\b(?:sorry|oh no|oh dear|apolog\w*|not good|not great|frustrating|"
                      r"annoying|i understand|i can imagine|that's not|thats not|not what you)\b")

REASON_FEATURES = (
    "bias", "pos0", "pos1", "pos2", "pos3up", "signal2", "signal1", "keywords", "similarity",
    "best_similarity", "best_keywords", "log_words", "longest", "phatic", "vague", "readout",
    "question", "prev_invites", "prev_details", "prev_caller", "next_invites", "next_details",
    "next_sympathy", "rule")
CODE_FEATURES = (
    "similarity", "similarity_chunk", "similarity_agent", "keywords_reason", "keywords_caller",
    "keywords_agent", "similarity_caller", "is_fallback", "fallback_weak", "mood_fit", "best_chunk",
    "best_keywords", "similarity_done", "similarity_first", "keywords_first", "item_fit",
    "similarity_calls", "untaught")
TOP_CALLS = 3  # the reason's closeness to a code's labelled calls: the mean of its best matches'
# (the code's description and examples where no labelled call was given it)
UNTAUGHT = ("similarity_calls", "untaught")  # weights written before them: these weigh nothing
RESOLVED_FEATURES = (
    "bias", "transfer", "handed_on", "open_work", "open_work_late", "pending", "cannot", "waiting",
    "last_content", "last_unhappy", "before_content", "before_unhappy", "mood_end_negative",
    "mood_end", "mood_start", "mood_low", "amount_promised", "actions", "promises", "closing_meaning")
FOLLOWUP_FEATURES = (
    "bias", "strict", "rules_open", "request", "demand", "qmark", "new_topic", "log_words", "direct",
    "cover", "meaning", "time_answered", "money_answered", "reply_checks", "reply_asks",
    "not_sure", "sympathy_only", "transfer", "unhappy_after", "no_reply", "late", "reply_done",
    "reply_promises")


def _feature_row(names: Sequence[str], values: dict[str, float]) -> list[float]:
    return [float(values.get(n, 0.0)) for n in names]


@dataclass(frozen=True)
class Weights:
    reason: np.ndarray  # over REASON_FEATURES
    also: float  # a second reason turn when its probability is at least this
    code: np.ndarray  # over CODE_FEATURES
    promise: np.ndarray  # over PROMISE_FEATURES
    keep: float  # a promise is kept when its probability is at least this
    followup: np.ndarray | None = None  # over FOLLOWUP_FEATURES (None: the rules find follow-ups)
    raise_at: float = 0.5  # a follow-up is raised when its probability is at least this
    resolved: np.ndarray | None = None  # over RESOLVED_FEATURES (None: the rules decide)
    settled_direction: np.ndarray | None = None  # in the encoder's space: settled calls' close minus open ones'
    # per code: the labelled calls' reasons given that code, embedded (None: none were written)
    taught: dict[str, np.ndarray] | None = None

    @classmethod
    def load(cls, path: str | Path | None = None) -> "Weights":
        """The weights of a file written by scripts/train_wrapup.py; anything missing or unreadable
        is one ConfigError line."""
        path = Path(path or WEIGHTS)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(np.array([float(data["reason"][n]) for n in REASON_FEATURES]), float(data["also"]),
                       np.array([float(data["code"][n] if n not in UNTAUGHT else
                                       data["code"].get(n, 0.0)) for n in CODE_FEATURES]),
                       np.array([float(data["promise"][n]) for n in PROMISE_FEATURES]),
                       float(data["keep"]),
                       # weights written before the follow-up scorer: the rules find follow-ups
                       np.array([float(data["followup"][n]) for n in FOLLOWUP_FEATURES])
                       if "followup" in data else None, float(data.get("raise_at", 0.5)),
                       # weights written before the resolved scorer: the rules decide
                       np.array([float(data["resolved"][n]) for n in RESOLVED_FEATURES])
                       if "resolved" in data else None,
                       np.array(data["settled_direction"], dtype=np.float32)
                       if "resolved" in data else None,
                       unpack_taught(data["taught"]) if "taught" in data else None)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read the wrap-up weights ({exc}); reinstall, or "
                              f"write them with scripts/train_wrapup.py --write") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{path}: no usable weight {exc} in the wrap-up weights; write them "
                              f"again with scripts/train_wrapup.py --write") from None


def pack_taught(taught: dict[str, np.ndarray]) -> dict:
    """The labelled calls' reason vectors for the weights file: per code, 16-bit floats (3
    decimals are plenty for a cosine) in base64, a few hundred kilobytes instead of megabytes."""
    dim = {v.shape[1] for v in taught.values()}
    return {"dim": dim.pop() if dim else 0, "float16": {
        code: base64.b64encode(np.round(v, 3).astype("<f2").tobytes()).decode("ascii")
        for code, v in sorted(taught.items())}}


def unpack_taught(data: dict) -> dict[str, np.ndarray]:
    dim = int(data["dim"])
    return {code: np.frombuffer(base64.b64decode(text), dtype="<f2").astype(np.float32).reshape(-1, dim)
            for code, text in data["float16"].items()}


@lru_cache(maxsize=1)
def default_weights() -> Weights | None:
    """The shipped weights, or None (said once in the log) when they cannot be read: the wrap-up
    then uses the hand-written rules alone."""
    try:
        return Weights.load()
    except ConfigError as exc:
        log.warning("%s", exc)
        return None


# ---- the reason -------------------------------------------------------------------------------

def _keyword_weight(pattern: re.Pattern | None, text: str) -> float:
    """Keywords of a code heard in a text: a phrase of several words counts twice, at most 3."""
    if pattern is None:
        return 0.0
    hits = {m.group() for m in pattern.finditer(plain_text(text))}
    return float(min(sum(2 if " " in h else 1 for h in hits), 3))


def reason_candidates(turns: Sequence[Turn], caller: str) -> list[int]:
    """Indices (into `turns`) of the caller turns that may give the reason."""
    return [k for k, t in enumerate(turns) if t.utt.speaker == caller][:CANDIDATES]


def reason_features(turns: Sequence[Turn], caller: str, codes: WrapUpCodes,
                    sims: np.ndarray | None, rule: set[int]) -> np.ndarray:
    """One row of REASON_FEATURES per candidate turn. `sims`: each candidate's best similarity to
    any code (None: no encoder); `rule`: the turn ids the hand-written rules take as the reason."""
    cands = reason_candidates(turns, caller)
    kw = codes.reason_keywords
    words = [callfacts._words_said(turns[k].utt.text) for k in cands]
    keys = [_keyword_weight(kw, turns[k].utt.text) for k in cands]
    sims = np.zeros(len(cands)) if sims is None else np.asarray(sims, dtype=float)
    rows = []
    for j, k in enumerate(cands):
        t = turns[k]
        prev = turns[k - 1] if k > 0 else None
        nxt = next((u for u in turns[k + 1:] if u.utt.speaker != caller), None)
        signal = callfacts._signal(t.utt.text)
        agent_prev = prev is not None and prev.utt.speaker != caller
        v = {
            "bias": 1.0, "pos0": j == 0, "pos1": j == 1, "pos2": j == 2, "pos3up": j >= 3,
            "signal2": signal == 2, "signal1": signal == 1, "keywords": keys[j] / 3,
            "similarity": sims[j], "best_similarity": sims[j] >= sims.max() - 1e-9 and sims.max() > 0,
            "best_keywords": keys[j] > 0 and keys[j] >= max(keys),
            "log_words": math.log1p(words[j]) / 4, "longest": words[j] >= max(words),
            "phatic": bool(callfacts.PHATIC.search(t.sh)), "vague": bool(callfacts.VAGUE.search(t.sh)),
            "readout": words[j] < 4, "question": "?" in t.utt.text,
            "prev_invites": agent_prev and callfacts._invites(prev),
            "prev_details": agent_prev and bool(callfacts.DETAILS.search(prev.sh)),
            "prev_caller": prev is not None and prev.utt.speaker == caller,
            "next_invites": nxt is not None and callfacts._invites(nxt),
            "next_details": nxt is not None and bool(callfacts.DETAILS.search(nxt.sh)),
            "next_sympathy": nxt is not None and bool(SYMPATHY.search(nxt.sh)),
            "rule": t.id in rule,
        }
        rows.append(_feature_row(REASON_FEATURES, v))
    return np.array(rows, dtype=float).reshape(len(cands), len(REASON_FEATURES))


def pick_reason(probs: np.ndarray, also: float) -> list[int]:
    """Positions (into the candidates) of the reason: the likeliest turn, and any other at least
    `also` likely (a problem told over two turns)."""
    if not len(probs):
        return []
    best = int(np.argmax(probs))
    return sorted({best, *(j for j, p in enumerate(probs) if p >= also)})


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))


# ---- the code ---------------------------------------------------------------------------------

def chunks(turn: Turn, size: int = 14, step: int = 9) -> list[str]:
    """A turn's sentences, a long one (a recogniser's run-on) cut in overlapping runs of words: a
    caller who tells a story says what it is about in one part of it."""
    text = turn.utt.text
    out = []
    for a, b in turn.sentences:
        words = text[a:b].split()
        if len(words) <= size + 4:
            out.append(" ".join(words))
        else:
            out += [" ".join(words[i:i + size]) for i in range(0, len(words) - 4, step)]
    return [c for c in out if len(c.split()) >= 3]


def code_features(codes: WrapUpCodes, turns: Sequence[Turn], caller: str, reason_ids: Sequence[int],
                  embed=None, mood: float | None = None,
                  taught: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """One row of CODE_FEATURES per code of the list, for a call whose reason is the turns
    `reason_ids`. `embed`: texts -> unit vectors with the encoder `codes` was prepared with
    (None: keywords only); `mood`: the caller's mood score (-1..1) when they gave the reason
    (None: not known); `taught`: per code, the reasons of labelled calls given it, embedded
    (Weights.taught)."""
    by_id = {t.id: t for t in turns}
    said = [t for t in turns if t.utt.speaker == caller]
    reason = [by_id[i] for i in reason_ids if i in by_id] or said[:1]
    reason_text = " ".join(t.utt.text for t in reason)
    caller_text = " ".join(t.utt.text for t in said[:4])
    after = [t for t in turns if t.utt.speaker != caller
             and (not reason or t.utt.start >= reason[0].utt.start)]
    agent_text = " ".join(t.utt.text for t in turns if t.utt.speaker != caller)
    n = len(codes.codes)
    sims = sims_caller = sims_chunk = sims_agent = sims_done = sims_first = sims_calls = np.zeros(n)
    untaught = np.zeros(n)
    # what the agent did ("I've issued the refund", "I've booked the replacement")
    done = [by_id[i] for f in callfacts.actions(turns, caller) for i in f.utterances[:1] if i in by_id]
    if embed is not None and reason_text:
        # the turns' own vectors (embedded for the reason already): the mean of unit vectors
        # stands for the turns together; only a long turn's parts and the agent's reply are new
        def mean(ts: Sequence[Turn]) -> np.ndarray:
            return mean_vector(embed, [t.utt.text for t in ts])
        wordy = [t for t in said[:4] if callfacts._words_said(t.utt.text) >= MIN_WORDS] or said[:1]
        reason_vector = mean(reason)
        sims = codes.code_similarities(reason_vector)
        sims_caller = codes.code_similarities(mean(wordy))
        parts = [chunks(t) for t in reason]
        pieces = [c for p in parts if len(p) > 1 for c in p]
        sims_chunk = np.max([sims, *(codes.code_similarities(v) for v in embed(pieces))], axis=0) \
            if pieces else sims
        replies = " ".join(t.utt.text for t in after[:3])
        sims_agent = codes.code_similarities(embed([replies])[0]) if replies else np.zeros(n)
        sims_done = codes.code_similarities(mean(done)) if done else np.zeros(n)
        sims_first = codes.code_similarities(mean(reason[:1]))
        sims_calls, untaught = calls_similarity(codes, reason_vector, taught)
    kw_reason = [_keyword_weight(c.keywords, reason_text) for c in codes.codes]
    # the best among the codes the caller's words can give ("tell their manager"
    # is not an escalation: the agent's words settle that one)
    mask = caller_only(codes)
    top, top_chunk = float(sims[mask].max()), float(sims_chunk[mask].max())
    top_kw = max(k for k, m in zip(kw_reason, mask) if m)
    item = callfacts.item_state(reason_text)
    rows = []
    for i, c in enumerate(codes.codes):
        fallback = c.code == codes.fallback
        v = {
            "similarity": sims[i], "similarity_chunk": sims_chunk[i],
            "similarity_agent": sims_agent[i], "similarity_done": sims_done[i],
            "keywords_reason": kw_reason[i] / 3,
            "best_chunk": mask[i] and sims_chunk[i] >= top_chunk - 1e-9 and top_chunk > 0,
            "best_keywords": mask[i] and kw_reason[i] > 0 and kw_reason[i] >= top_kw,
            "keywords_caller": _keyword_weight(c.keywords, caller_text) / 3,
            "keywords_agent": _keyword_weight(c.keywords, agent_text) / 3,
            "similarity_caller": sims_caller[i], "is_fallback": fallback,
            # the first reason turn alone: a second one ("and while I've got you…") is a side issue
            "similarity_first": sims_first[i],
            "keywords_first": _keyword_weight(c.keywords, reason[0].utt.text) / 3 if reason else 0.0,
            "fallback_weak": fallback * (1.0 - max(top, 0.0)),
            # a good mood points to a compliment; a bad one says little against it (the story of
            # what went wrong often comes first)
            "mood_fit": max(0.0, (mood or 0.0) * {"positive": 1.0, "negative": -1.0}.get(c.mood, 0.0)),
            # a fault on an item just delivered or never used is a damaged one (the code list's
            # `item`); on one that worked before, a technical fault
            "item_fit": item * {"new": 1.0, "used": -1.0}.get(c.item, 0.0),
            "similarity_calls": sims_calls[i], "untaught": untaught[i],
        }
        rows.append(_feature_row(CODE_FEATURES, v))
    return np.array(rows, dtype=float)


def mean_vector(embed, texts: Sequence[str]) -> np.ndarray:
    """Texts together, as one unit vector: the mean of their unit vectors, made unit again."""
    v = embed(texts).mean(axis=0)
    return v / max(float(np.linalg.norm(v)), 1e-9)


def calls_similarity(codes: WrapUpCodes, vector: np.ndarray,
                     taught: dict[str, np.ndarray] | None) -> tuple[np.ndarray, np.ndarray]:
    """Per code, how close a reason (a unit vector) comes to the reasons of the labelled calls
    given that code (the mean of its TOP_CALLS best), and 1.0 where no labelled call was given
    it and its own description and examples stand in."""
    sims, untaught = np.zeros(len(codes.codes)), np.zeros(len(codes.codes))
    for i, c in enumerate(codes.codes):
        known = (taught or {}).get(c.code)
        if known is None or not len(known):
            known, untaught[i] = codes.own_vectors(i), 1.0
        sims[i] = float(np.sort(known @ vector)[-TOP_CALLS:].mean())
    return sims, untaught


def caller_only(codes: WrapUpCodes) -> np.ndarray:
    """Codes the caller's words can give (an agent-only code, ESCALATED, is settled by the agent)."""
    return np.array([not (c.agent_keywords is not None and c.keywords is None) for c in codes.codes])


# ---- at hang-up -------------------------------------------------------------------------------

def reason_matrix(turns: Sequence[Turn], caller: str, codes: WrapUpCodes, rule: set[int],
                  embed=None) -> tuple[list[int], np.ndarray]:
    """The candidate turns (indices into `turns`) and their features; `rule`: the ids the
    hand-written rules take as the reason; `embed`: texts -> unit vectors (None: no meaning)."""
    cands = reason_candidates(turns, caller)
    sims = None
    if embed is not None and cands:
        # a name or a number read out is not embedded: it is never the reason
        mask = caller_only(codes)
        wordy = [k for k in cands if callfacts._words_said(turns[k].utt.text) >= MIN_WORDS]
        vectors = dict(zip(wordy, embed([turns[k].utt.text for k in wordy]))) if wordy else {}
        sims = np.array([codes.code_similarities(vectors[k])[mask].max() if k in vectors else 0.0
                         for k in cands])
    return cands, reason_features(turns, caller, codes, sims, rule)


def reason(turns: Sequence[Turn], caller: str, codes: WrapUpCodes, weights: Weights,
           rules: Sequence[Fact], embed=None) -> list[Fact]:
    """The caller turns that give the reason for calling, each as a Fact; `rules`: the
    hand-written rules' reading (callfacts.reason), one of the features; `embed`: texts -> unit
    vectors (None: without meaning)."""
    cands, X = reason_matrix(turns, caller, codes, {i for f in rules for i in f.utterances}, embed)
    if not cands:
        return []
    names = callfacts._agent_names(turns, caller)
    picked = [turns[cands[j]] for j in pick_reason(sigmoid(X @ weights.reason), weights.also)]
    # a name or a number read out is never the reason, however it scores
    return [Fact(callfacts._reason_text(t, names), (t.id,)) for t in picked
            if callfacts._words_said(t.utt.text) >= MIN_WORDS]


def reason_mood(events, reason_ids: Sequence[int], caller: str) -> float | None:
    """The caller's mood score over the reason's turns (MoodState events), None if none."""
    scores = [e.score for e in events if isinstance(e, MoodState) and e.speaker == caller
              and e.utterance_id in set(reason_ids)]
    return sum(scores) / len(scores) if scores else None


def choose_code(codes: WrapUpCodes, turns: Sequence[Turn], caller: str, reason_ids: Sequence[int],
                weights: Weights, embed=None, mood: float | None = None) -> Choice:
    """The code the caller's words fit best (the agent-settled codes aside: WrapUpCodes.agent_choice),
    with why: the keywords heard and the closeness in meaning."""
    X = code_features(codes, turns, caller, reason_ids, embed, mood, weights.taught)
    scores = X @ weights.code
    scores[~caller_only(codes)] = -np.inf
    best = int(np.argmax(scores))
    code = codes.codes[best]
    by_id = {t.id: t for t in turns}
    said = [t for t in turns if t.utt.speaker == caller]
    ids = tuple(i for i in reason_ids if i in by_id) or tuple(t.id for t in said[:1])
    heard = []
    if code.keywords is not None:
        for t in [by_id[i] for i in ids] + said[:4]:
            heard += [m.group() for m in code.keywords.finditer(plain_text(t.utt.text))]
    heard = list(dict.fromkeys(heard))
    why = []
    if heard:
        why.append("the caller said " + ", ".join(f"“{h}”" for h in heard[:3]))
    sim = X[best, CODE_FEATURES.index("similarity_chunk")]
    if embed is not None and sim > 0:
        why.append(f"meaning {sim:.2f} like “{code.description}”")
    if code.code == codes.fallback and not heard:
        why = ["nothing the caller said fits another code"]
    return Choice(code, "; ".join(why) or "the closest code", ids, float(scores[best]))


# ---- what the agent promised ------------------------------------------------------------------
#
# callfacts.commitments finds every future-tense clause of the agent that could be a promise;
# about 4 in 10 were not one in calls written apart from the rules (a recap of a promise made
# earlier, what happens next on the call, how a process usually goes, what the caller should see
# on a screen). The filter keeps those this scorer finds likely.

PROMISE_FEATURES = (
    "bias", "has_when", "has_amount", "first_person", "you_will", "third_person", "should",
    "booked", "log_words", "late", "last_agent", "recap", "repeat", "during_call", "generic",
    "conditional", "sensory", "hedge", "thanks_after", "several", "action_turn", "hear_from",
    "same_when", "promised_before", "closing", "not_promised", "question", "present", "remedy",
    "on_the_call", "feeling", "they_remedy")
# (plain text: "we'd send" is "wed send", "you'd still get" "youd still get")
_FIRST = re.compile(r"^(?:i|we)(?:'ll|\s+will|'re\s+going|\s+are\s+going|'m\s+going|\s+am\s+going|ll|d|\s+would)\b")
_YOU = re.compile(r"^you(?:'ll|\s+will|\s+should|'re\s+going|ll|d|\s+would)\b")
RECAP = re.compile(r"\b(?:to\s+sum\s+up|to\s+recap|recap|to\s+confirm|just\s+to\s+confirm|so\s+just\s+to|"
                   r"summary|in\s+short|so\s+that's|so\s+thats|as\s+i\s+said|like\s+i\s+said)\b")
DURING = re.compile(r"\b(?:moment|hold|on\s+the\s+line|bear\s+with|one\s+sec|a\s+sec|second|brief|"
                    r"while\s+you\s+wait|let\s+it\s+ring|transfer\w*|put\s+you\s+through|stay\s+on)\b")
# what the agent does before the call ends ("I'll give you the reference", "I'll explain it to them
# first", "I'll put you through"), and how someone will feel ("she'll love it")
ON_THE_CALL = re.compile(r"\b(?:give\s+you\s+(?:the|a|your|my)\s+(?:reference|number|case|details|ref)|explain|"
                         r"tell\s+them|read\s+(?:you|out)|spell|put\s+you\s+(?:through|on\s+hold)|pop\s+you|"
                         r"transfer\s+you|stay\s+on\s+the\s+line|take\s+(?:your|some)\s+details|grab\s+(?:your|the))\b")
FEELING = re.compile(r"\b(?:love|loves|like\s+it|enjoy|touched|make\s+(?:their|his|her|your|my)\s+day|"
                     r"be\s+(?:so\s+|really\s+|very\s+)?(?:happy|pleased|thrilled|delighted|chuffed|fine|okay|ok))\b")
GENERIC = re.compile(r"\b(?:usually|normally|generally|typically|always|any\s+time|anytime|tend\s+to|"
                     r"every\s+time|in\s+general)\b")
SENSORY = re.compile(r"\bshould\s+(?:now\s+)?(?:see|hear|notice|go|light|flash|show|come\s+up|appear|"
                     r"turn|pop|start|say|be\s+able)\b")
HEDGE = re.compile(r"\b(?:hopefully|probably|might|may|maybe|perhaps|likely|i\s+(?:think|reckon|expect|imagine))\b")
HEAR = re.compile(r"\b(?:you'll|you will|youll|you should|you'd|you would)\s+(?:\w+\s+)?hear\b")
CLOSING = re.compile(r"^\s*(?:so|then|great|lovely|perfect|brilliant|right|alright|okay|ok|and)\b")
NOT_PROMISED = re.compile(r"\b(?:can't|cant|cannot|can not)\s+(?:promise|guarantee|say)|\bno\s+guarantee|"
                          r"\bup\s+to\s+them\b|\bnot\s+up\s+to\s+me\b|\btheir\s+decision\b|"
                          r"\b(?:that's|thats)\s+something\b")
ASKING = re.compile(r"^\s*(?:and\s+)?(?:will|can|could|would|do|does|is|are|shall)\s+"
                    r"(?:someone|somebody|anyone|anybody|you|they|he|she|it)\b")
FUTURE = re.compile(r"'ll\b|\bwill\b|\bgoing\s+to\b|\bgonna\b|\bshall\b|\b(?:i|we|you|they|he|she|it|that)ll\b|"
                    r"\bwould\b|\b(?:we|you|they|he|she|it)'d\b")
WHEN_WORDS = re.compile(r"\b(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|today|tonight|tomorrow|"
                        r"morning|afternoon|evening|week|\d+(?:st|nd|rd|th)?|one|two|three|four|five|six|"
                        r"seven|eight|nine|ten|hours?|days?|minutes?)\b")
REMEDY = re.compile(r"^(?:i|we)(?:'ll|\s+will|ll|d|\s+would|'re\s+going\s+to|\s+are\s+going\s+to|'m\s+going\s+to)\s+"
                    r"(?:\w+\s+)?"
                    r"(?:refund|credit|knock|take|waive|cover|reimburse|pay|send|replace|post|email|e\s+mail|"
                    r"book|arrange|collect|give|put|add|issue|pass|update|call|ring|phone|text|chase|tell|"
                    r"let\s+you\s+know|get\s+back|contact|follow\s+up)\b")
THEY_REMEDY = re.compile(r"^(?:(?:the|a|an|our|your|my)\s+(?:\w+\s+)?\w+|they|he|she|somebody|"
                         r"someone(?:\s+from\s+(?:our|the)\s+\w+(?:\s+team)?)?)\s*"
                         r"(?:ll|will|are\s+going\s+to|is\s+going\s+to)\s+(?:(?!not\b|never\b)\w+\s+)?"
                         r"(?:refund|credit|send|replace|collect|pick|deliver|bring|fit|install|swap|"
                         r"call|ring|phone|text|email|e\s+mail|contact|get\s+back|come\s+(?:out|round|and))\b")
ACCEPT = re.compile(r"\b(?:thank|thanks|cheers|great|perfect|lovely|brilliant|okay|ok|fine|good|"
                    r"that's\s+great|appreciate)\b")


def promise_features(turns: Sequence[Turn], caller: str, promised: Sequence[Fact],
                     done: Sequence[Fact]) -> np.ndarray:
    """One row of PROMISE_FEATURES per promise callfacts.commitments found."""
    index = {t.id: k for k, t in enumerate(turns)}
    agent = [t.id for t in turns if t.utt.speaker != caller]
    acted = {i for f in done for i in f.utterances}
    per_turn: dict[int, int] = {}
    for f in promised:
        per_turn[f.utterances[0]] = per_turn.get(f.utterances[0], 0) + 1
    said: list[set[str]] = []  # the words of the promises before
    whens: list[set[str]] = []  # the time words of the promises of earlier turns
    plains = [plain_text(f.text) for f in promised]
    during = [bool(DURING.search(p)) for p in plains]
    on_call = [bool(ON_THE_CALL.search(p)) for p in plains]
    rows = []
    for n, f in enumerate(promised):
        uid = f.utterances[0]
        k = index[uid]
        t = turns[k]
        plain = plains[n]
        nxt = next((u for u in turns[k + 1:] if u.utt.speaker == caller), None)
        words = set(plain.split())
        pos = max(t.utt.text.lower().find(f.text.lower()), 0)  # the clause is capitalised
        a, b = t.sentence_at(pos)
        own = t.sh[a:b]
        when_words = set(WHEN_WORDS.findall((f.when or "").lower()))
        earlier = [w for w, g in zip(whens, promised) if g.utterances[0] != uid]
        # an earlier promise for after the call (not "I'll just be a moment")
        after = any(not (during[j] or on_call[j]) for j in range(n) if promised[j].utterances[0] != uid)
        v = {
            "bias": 1.0, "has_when": f.when is not None, "has_amount": f.amount is not None,
            "first_person": bool(_FIRST.match(plain)), "you_will": bool(_YOU.match(plain)),
            "third_person": not _FIRST.match(plain) and not _YOU.match(plain),
            "should": " should " in f" {plain} ", "booked": bool(callfacts.BOOKED.search(plain)),
            "log_words": math.log1p(len(t.utt.text.split())) / 4, "late": k / max(len(turns) - 1, 1),
            # in the agent's last two turns after other promises: likely their recap (the one
            # promise of a short call is no recap)
            "last_agent": uid in agent[-2:] and bool(earlier), "recap": bool(RECAP.search(own)),
            # said again (a recap): most of its words were in an earlier promise
            "repeat": any(len(words & w) >= 0.6 * len(words) for w in said),
            "during_call": during[n], "generic": bool(GENERIC.search(own)),
            "conditional": bool(re.search(r"\b(?:if|unless|once)\b", own)),
            "sensory": bool(SENSORY.search(plain)), "hedge": bool(HEDGE.search(plain)),
            "thanks_after": nxt is not None and bool(ACCEPT.search(nxt.sh)),
            "several": per_turn[uid] > 1, "action_turn": uid in acted,
            # a promise said again at the close ("so you'll hear from me on Friday") is no new one;
            # said first, after the work is done ("I've opened a trace and you'll hear from us by
            # Thursday"), it is the promise
            "hear_from": bool(HEAR.search(plain)) and after,
            "same_when": bool(when_words) and any(when_words & w for w in earlier),
            "promised_before": bool(earlier), "closing": bool(CLOSING.match(own)),
            # what is not the agent's to promise, a question, a process in the present tense
            "not_promised": bool(NOT_PROMISED.search(own)),
            "question": "?" in t.utt.text[a:b + 1] or bool(ASKING.match(own)),
            "present": not FUTURE.search(f.text.lower()),
            # the agent's own remedy for after the call ("we'll knock 10% off your next bill")
            "remedy": bool(REMEDY.match(plain)),
            "on_the_call": on_call[n], "feeling": bool(FEELING.search(plain)),
            # someone else's remedy ("the courier will collect the damaged one", "they'll text you")
            "they_remedy": bool(THEY_REMEDY.search(plain)),
        }
        said.append(words)
        whens.append(when_words)
        rows.append(_feature_row(PROMISE_FEATURES, v))
    return np.array(rows, dtype=float).reshape(len(promised), len(PROMISE_FEATURES))


def kept_promises(turns: Sequence[Turn], caller: str, promised: Sequence[Fact], done: Sequence[Fact],
                  weights: Weights) -> list[Fact]:
    """The promises (callfacts.commitments) the scorer finds likely enough to be real ones."""
    if not promised:
        return []
    probs = sigmoid(promise_features(turns, caller, promised, done) @ weights.promise)
    return [f for f, p in zip(promised, probs) if p >= weights.keep]


# ---- resolved? --------------------------------------------------------------------------------
#
# The rules (callfacts.resolution) weigh the words of the call's end; about one call in five
# written apart from them ended with a polite goodbye ("okay cheers chloe") on an issue left open,
# or with work still to do ("they'll come back to us with the date") on one that was settled. The
# scorer reads the same signals with the mood, what was done and agreed, and how the call's last
# utterances read by meaning: their embedding against the direction from the close of open calls
# to that of settled ones in the training data.

SETTLING = {"last_content", "before_content", "actions", "amount_promised", "mood_end", "mood_start",
            "mood_low", "closing_meaning"}
OPENING = {"transfer", "handed_on", "pending", "open_work", "cannot", "waiting", "last_unhappy", "before_unhappy",
           "mood_end_negative", "mood_end", "mood_start", "mood_low", "closing_meaning"}
CLOSING_TURNS = 4  # the call's last utterances (both speakers) read by meaning
MEANING_SCALE = 10.0  # the projection on settled_direction, to the other features' scale


def closing_text(turns: Sequence[Turn]) -> str:
    return " ".join(t.utt.text for t in turns[-CLOSING_TURNS:])


def resolved_features(said: callfacts.Signals, moods: Sequence[MoodState], handed: bool,
                      promised: Sequence[Fact], done: Sequence[Fact], closing: np.ndarray | None,
                      direction: np.ndarray | None) -> np.ndarray:
    """One row over RESOLVED_FEATURES; `closing`: closing_text embedded, `direction`: the
    weights' settled_direction (either None: no meaning feature)."""
    (before_pos, before_neg), (last_pos, last_neg) = \
        ([(0, 0)] * 2 + [(pos, neg) for _, pos, neg in said.closing])[-2:]
    scores = [m.score for m in moods]
    v = {"bias": 1, "transfer": said.transfer is not None, "handed_on": handed,
         "open_work": said.open_work is not None, "open_work_late": said.open_work_late,
         "pending": said.pending is not None,
         "cannot": said.cannot is not None, "waiting": said.waiting is not None,
         "last_content": min(last_pos, 1), "last_unhappy": min(last_neg, 1),
         "before_content": min(before_pos, 1), "before_unhappy": min(before_neg, 1),
         "mood_end_negative": bool(moods) and moods[-1].label in NEGATIVE_LABELS,
         "mood_end": scores[-1] if scores else 0.0, "mood_start": scores[0] if scores else 0.0,
         "mood_low": min(scores, default=0.0), "amount_promised": any(f.amount for f in promised),
         "actions": math.log1p(len(done)), "promises": math.log1p(len(promised)),
         "closing_meaning": MEANING_SCALE * float(closing @ direction)
         if closing is not None and direction is not None else 0.0}
    return np.array(_feature_row(RESOLVED_FEATURES, v), dtype=float)


def settles(row: np.ndarray, w: np.ndarray, said: callfacts.Signals) -> bool:
    """The scorer's answer: an answer or outcome someone still has to give leaves the call open
    whatever else it shows (the label rules); the score decides the rest."""
    return bool(sigmoid(row @ w) >= 0.5) and said.pending is None


def resolved(said: callfacts.Signals, moods: Sequence[MoodState], handed: callfacts.Resolution | None,
             promised: Sequence[Fact], done: Sequence[Fact], closing: np.ndarray | None,
             weights: Weights, last_id: int) -> callfacts.Resolution:
    """Whether the call was settled, by the scorer, with the two signals that weighed most for
    its answer as the why (each pointing at the utterance that said it). `handed`: the rules'
    hand-on to a senior rep (a transfer or callback booked with a team leader), or None."""
    row = resolved_features(said, moods, handed is not None, promised, done, closing,
                            weights.settled_direction)
    parts = row * weights.resolved
    settled = settles(row, weights.resolved, said)
    quote = lambda hit: f"“{hit[1]}”"  # noqa: E731
    end = moods[-1] if moods else None
    told = {  # feature: (what it says, its utterances)
        "transfer": (f"transferred ({quote(said.transfer)})", (said.transfer[0].id,)) if said.transfer else None,
        "handed_on": (handed.why, handed.utterances) if handed else None,
        "open_work": (f"still to do: {quote(said.open_work)}", (said.open_work[0].id,))
        if said.open_work else None,
        "pending": (f"an answer still to come: {quote(said.pending)}", (said.pending[0].id,))
        if said.pending else None,
        "cannot": (f"the agent said {quote(said.cannot)}", (said.cannot[0].id,)) if said.cannot else None,
        "waiting": (f"the caller left it open: {quote(said.waiting)}", (said.waiting[0].id,))
        if said.waiting else None,
        "mood_end": (f"mood at the end: {end.label}", (end.utterance_id,)) if end else None,
        "actions": (f"done on the call: {done[-1].text}", done[-1].utterances) if done else None,
        "closing_meaning": ("the call's close reads " + ("settled" if settled else "still open"),
                            (last_id,)),
    }
    for name in ("last_content", "last_unhappy", "before_content", "before_unhappy"):
        k = -1 if name.startswith("last") else -2
        if len(said.closing) >= -k:
            t = said.closing[k][0]
            told[name] = (("the caller ended unhappy" if name.endswith("unhappy") else
                           "the caller ended content") + f": “{callfacts._short(t.utt.text)}”", (t.id,))
    if moods:
        low = min(moods, key=lambda m: m.score)
        told["mood_end_negative"] = told["mood_end"]
        told["mood_start"] = (f"mood from {moods[0].label} at the start to {moods[-1].label} at the end",
                              (moods[0].utterance_id, moods[-1].utterance_id))
        told["mood_low"] = (f"mood at its lowest: {low.label}", (low.utterance_id,))
    priced = next((f for f in promised if f.amount), None)
    told["amount_promised"] = (f"agreed: {priced.text}", priced.utterances) if priced else None
    sign = 1 if settled else -1
    # the why quotes a signal only for the answer it stands for (a learned "I can't" that nudges
    # towards settled is no reason to say so); the mood and the close's meaning go either way
    side = SETTLING if settled else OPENING
    ranked = sorted((sign * parts[i], n) for i, n in enumerate(RESOLVED_FEATURES)
                    if n in side and row[i] and told.get(n))
    if said.pending is not None:  # what decided it comes first
        ranked = [r for r in ranked if r[1] not in ("pending", "open_work")] + [(np.inf, "pending")]
    why, ids = [], []
    for weight, n in reversed(ranked):
        if weight <= 0 or len(why) == 2:
            break
        text, utts = told[n]
        if text not in why:
            why.append(text)
            ids += list(utts)
    return callfacts.Resolution(settled, "; ".join(why) or "nothing was left open",
                                tuple(dict.fromkeys(i for i in ids if i)))
