"""Wrap-up at hang-up: a structured summary of the call, a wrap-up code and the follow-ups.

No packaged language model writes a good summary, so it is built from the timeline: the facts
read from what was said (assist.callfacts: what the agent did, what the agent may have promised,
with when and how much in the exact words said, whether it was resolved; assist.wrapup_model:
which caller turns say why they called and which of those clauses are promises for after the
call, small learned scorers over the rules' reading, meaning and place in the call), the
caller's mood at the start and the end (MoodState events), the knowledge topics shown
(KnowledgeMatch), the caller's questions and requests no agent turn dealt with (below: the
rules' reading, and a learned scorer over it) and the close-the-call checklist
(ChecklistItem). Every sentence names the utterances it comes from.

The code is chosen from a configurable list (assist.wrapup_codes): by the agent's words where they
settle it (a transfer to a team leader), else by the learned scorer from the caller's keywords,
meaning, mood and what the agent did. The hang-up costs a few small embedding batches of the
call's own words (a long reason's parts, the agent's reply, the turns where the agent did
something; the caller's first turns, their asks and the agent's replies to them are embedded
during the call, `prefetch`), the codes' own embeddings being made once per process. A
mid-call catch-up (for a transfer to a senior rep) is the same summary of the call so far
(`final=False`).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Iterable, Sequence

import numpy as np

from ..core.events import (CUSTOMER, ChecklistItem, Event, KnowledgeMatch, MoodState,
                           Utterance, WrapUp)
from . import callfacts, wrapup_model
from .callfacts import Fact, Turn
from .points import key_words
from .timespans import amounts, shadow, times
from .wrapup_codes import PREPARE_BATCH, WrapUpCodes, default_codes

__all__ = ["WrapUp", "WrapUpCodes", "summarize", "prefetch", "default_codes"]
SHOWN = 3  # facts of a kind on the copyable text; all of them are in the event


def _fact(f: Fact, **extra) -> dict:
    return {"text": f.text, **extra, "utterances": list(f.utterances)}


def summarize(utterances: Sequence[Utterance], events: Iterable[Event] = (),
              codes: WrapUpCodes | None = None, embedder=None, caller: str = CUSTOMER,
              final: bool = True, known: dict[str, np.ndarray] | None = None) -> WrapUp:
    """The wrap-up of a call (or of the call so far, `final=False`) from its utterances and the
    rest of its timeline. `embedder`: the shared sentence encoder (None: the reason and the code
    by the hand-written rules, keywords only); `known`: texts already embedded with it during the
    call (see `prefetch`)."""
    codes = codes if codes is not None else default_codes()
    events = list(events)
    utts = sorted((u for u in utterances if u.text.strip()), key=lambda u: (u.start, u.id))
    turns = [Turn.of(u) for u in utts]

    by_id = {u.id: u for u in utts}
    embed = Embed(embedder, known) if embedder is not None else None
    if embed is not None:
        codes.prepare(embedder)
    weights = wrapup_model.default_weights()
    rules = callfacts.reason(turns, caller, codes.reason_keywords)
    # the learned scorers read meaning; without the encoder (it failed to load) or their weights
    # (unreadable) the hand-written rules do
    learned = embed is not None and weights is not None
    reason = wrapup_model.reason(turns, caller, codes, weights, rules, embed) if learned else rules
    done = callfacts.actions(turns, caller)
    said_later = callfacts.commitments(turns, caller)  # every clause that could be a promise
    promised = said_later if weights is None else \
        wrapup_model.kept_promises(turns, caller, said_later, done, weights)
    moods = [e for e in events if isinstance(e, MoodState) and e.speaker == caller]
    checked = next((e.utterance_id for e in events
                    if isinstance(e, ChecklistItem) and e.item == "resolved"), None)
    end = moods[-1] if moods else None
    said = callfacts.signals(turns, caller)
    agent_turns = [(u.id, u.text) for u in utts if u.speaker != caller]
    before = {u.id: p.text for p, u in zip(utts, utts[1:]) if u.speaker != caller and p.speaker == caller}
    handed = codes.agent_choice(agent_turns, before)  # a code the agent's words settle
    # handed on to a senior rep (a transfer, a callback booked with them): not settled here
    handed_on = callfacts.Resolution(False, f"handed on: {handed.why}", handed.utterances) \
        if handed is not None and handed.code.left_open else None
    # the scorer weighs the same signals with how the call's last utterances read by meaning
    # (below, with the other texts embedded at hang-up); without it, the rules decide
    closing = wrapup_model.closing_text(turns) if learned and weights.resolved is not None and turns \
        else None
    if closing is None:
        settled = callfacts.resolution(turns, caller, said_later, end.label if end else None,
                                       end.utterance_id if end else None, checked, said)
        if handed_on is not None and settled.resolved:
            settled = handed_on

    reason_ids = [i for f in reason for i in f.utterances]
    # the caller's questions and requests after the reason that no agent turn dealt with in words
    unheard = open_asks(turns, caller, set(reason_ids))
    scored = learned and weights.followup is not None
    candidates = ask_candidates(turns, caller, set(reason_ids)) if scored else []
    vectors = {}
    if embed is not None:
        # those asks with the agent turns that replied to them (an answer in other words), and
        # for the scorer every caller turn that asks anything with the agent's first replies
        texts = list(dict.fromkeys([*(x for ask, replies in unheard
                                      for x in (ask.text, *(r.utt.text for r in replies))),
                                    *followup_texts(turns, caller, candidates),
                                    *([closing] if closing is not None else [])]))
        vectors = dict(zip(texts, embed(texts))) if texts else {}
    if closing is not None:
        settled = wrapup_model.resolved(said, moods, handed_on, said_later, done, vectors[closing],
                                        weights, turns[-1].id)
    if learned:
        choice = handed or wrapup_model.choose_code(
            codes, turns, caller, reason_ids, weights, embed,
            wrapup_model.reason_mood(events, reason_ids, caller))
    else:
        reason_turns = [(i, by_id[i].text) for i in reason_ids] or \
                       [(u.id, u.text) for u in utts if u.speaker == caller][:3]
        vector = embed([" ".join(t for _, t in reason_turns)])[0] if embed is not None else None
        choice = handed or codes.choose(reason_turns, vector, embedder)

    followups = [_fact(f, kind="commitment") for f in promised]
    if not settled.resolved:
        followups += [_fact(f, kind="open_issue") for f in reason]
    left = [(ask.turn, ask.text) for ask, replies in unheard
            if not answered_in_meaning(ask, replies, vectors)]
    if scored:
        rules_open = {t.id for t, _ in left}
        rows = followup_features(turns, caller, candidates, rules_open, vectors, done, said_later)
        probs = wrapup_model.sigmoid(rows @ weights.followup) if candidates else []
        left = [(turns[k], _ask_text(turns[k], asks(turns[k]))) for k, p in zip(candidates, probs)
                if p >= weights.raise_at]
    for turn, text in left:
        followups.append({"text": text, "kind": "unanswered", "utterances": [turn.id]})

    mood = []
    for at, m in (("start", moods[0] if moods else None), ("end", end)):
        if m is not None and m.utterance_id in by_id:
            mood.append({"at": at, "label": m.label, "score": round(m.score, 3),
                         "utterances": [m.utterance_id]})
    topics, seen = [], set()
    for e in events:
        if isinstance(e, KnowledgeMatch) and e.cards and e.utterance_id in by_id \
                and e.cards[0].get("article") not in seen:
            seen.add(e.cards[0].get("article"))
            topics.append({"title": e.cards[0].get("title", ""), "article": e.cards[0].get("article"),
                           "utterances": [e.utterance_id]})

    wrap = WrapUp(
        time=round(utts[-1].end, 3) if utts else 0.0, final=final, code=choice.code.code,
        code_label=choice.code.label, code_why=choice.why, resolved=settled.resolved,
        resolved_why=settled.why,
        # with nothing said to point at, the call's first words and its end are the evidence
        code_utterances=tuple(choice.utterances) or tuple(u.id for u in utts[:2]),
        resolved_utterances=tuple(settled.utterances) or tuple(u.id for u in utts[-1:]),
        reason=tuple(_fact(f) for f in reason), actions=tuple(_fact(f) for f in done),
        commitments=tuple(_fact(f, when=f.when, amount=f.amount) for f in promised),
        followups=tuple(followups), mood=tuple(mood), topics=tuple(topics[:3]))
    lines = _lines(wrap) if utts else []  # nothing said: nothing to write, nothing to trace
    return replace(wrap, lines=tuple(lines))


class Embed:
    """The shared encoder for one summary: texts -> unit vectors, each text once, a few at a time
    (larger batches are many times slower on a busy 2-core machine)."""

    def __init__(self, embedder, known: dict[str, np.ndarray] | None = None):
        self.embedder, self.done = embedder, dict(known or {})

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in self.done]
        for i in range(0, len(todo), PREPARE_BATCH):
            batch = todo[i:i + PREPARE_BATCH]
            self.done.update(zip(batch, np.asarray(self.embedder.encode(batch))))
        return np.array([self.done[t] for t in texts])


def prefetch(utt: Utterance, caller_turns: int, embedder, known: dict[str, np.ndarray]) -> bool:
    """During the call: embed a caller utterance the hang-up will read (one of the caller's first
    turns that may give the reason, or what a turn asks for), so the summary need not wait for it.
    True when the turn asks anything: the agent's next replies are read with it (`prefetch_reply`)."""
    if embedder is None:
        return False
    texts = []
    if caller_turns <= wrapup_model.CANDIDATES and callfacts._words_said(utt.text) >= wrapup_model.MIN_WORDS:
        texts.append(utt.text)
    turn = Turn.of(utt)
    found = asks(turn)
    asked = _asks_anything(turn, found)
    if asked:
        texts.append(_ask_text(turn, found))
    texts = [t for t in dict.fromkeys(texts) if t not in known]
    if texts:
        known.update(zip(texts, np.asarray(embedder.encode(texts))))
    return asked


def prefetch_reply(utt: Utterance, embedder, known: dict[str, np.ndarray]) -> None:
    """During the call: embed an agent turn that replies to something the caller asked."""
    if embedder is not None and utt.text.strip() and utt.text not in known:
        known[utt.text] = np.asarray(embedder.encode([utt.text]))[0]


def _ids(*groups) -> list[int]:
    out: list[int] = []
    for g in groups:
        for d in g:
            out += [i for i in d["utterances"] if i not in out]
    return out


def _join(facts: Sequence[dict], shown: int = SHOWN) -> str:
    parts = [f["text"].rstrip(".") for f in facts[:shown]]
    more = len(facts) - shown
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def _promise(c: dict) -> str:
    extra = [x for x in (c.get("when"), c.get("amount")) if x and x.lower() not in c["text"].lower()]
    return c["text"].rstrip(".") + (f" ({', '.join(extra)})" if extra else "")


def _lines(w: WrapUp) -> list[dict]:
    """The plain-text rendering: a few short lines, each with the utterances it comes from."""
    head = "Wrap-up" if w.final else "So far"
    state = ("resolved" if w.resolved else "not resolved") if w.final else \
        ("settled so far" if w.resolved else "still open")
    why = w.resolved_why.split(":")[0].split(";")[0]  # the quotes stay in resolved_why
    lines = [{"text": f"{head}: {w.code} – {w.code_label}; {state} ({why})",
              "utterances": list(dict.fromkeys((*w.code_utterances, *w.resolved_utterances)))}]
    if w.reason:
        lines.append({"text": "Reason: " + _join(w.reason), "utterances": _ids(w.reason)})
    if w.actions:
        lines.append({"text": "Done: " + _join(w.actions), "utterances": _ids(w.actions)})
    if w.commitments:
        shown = w.commitments[:SHOWN]
        lines.append({"text": "Agreed: " + "; ".join(_promise(c) for c in shown),
                      "utterances": _ids(shown)})
    if w.mood:
        lines.append({"text": "Mood: " + " → ".join(f"{m['label']} ({m['at']})" for m in w.mood),
                      "utterances": _ids(w.mood)})
    if w.topics:
        lines.append({"text": "Topics: " + "; ".join(t["title"] for t in w.topics),
                      "utterances": _ids(w.topics)})
    open_items = [f for f in w.followups if f["kind"] != "commitment"]
    if open_items:
        lines.append({"text": "Follow up: " + _join(open_items), "utterances": _ids(open_items)})
    return lines


# ---- follow-ups: what the caller asked that the agent never dealt with ----------------------------
#
# A caller clause asks for something when it opens as a request ("can you…", "could that be
# changed", "what about…", "is there anything…", "I want…") or a question (an auxiliary before
# its subject: "do you do…", "is it…"; a question word not followed by a subject: "how long…",
# "which one…", not "when we opened it"), at the start of a sentence or after a conjunction or a
# comma. In written text a question ends with "?". It was dealt with when an agent turn after it
# is about the same thing (shares its key words, means much the same, gives the time or the
# amount asked for), or when the reply plainly answers or refuses it ("yes", "not while…", "I'm
# afraid…", "I can't…", "that's…"). Whatever is left was ignored, talked over or half answered.

_LEAD = r"(?:and|also|oh|so|but|plus|then|okay|ok|well|um|uh|yeah|yes|right|actually|fine|cool|great)"
_SUBJECT = r"(?:you|i|we|it|that|this|there|they|he|she|someone|somebody|anyone|my|the|your|these|those)"
_AUX = r"(?:can|could|would|will|is|are|was|do|does|did|should|shall|has|have)(?:n't|nt)?"
REQUEST = re.compile(
    r"\b(?:(?:can|could|would|will)\s+you|(?:can|could)\s+(?:that|it|this|those|these)\s+be|"
    r"can\s+i\s+(?:get|have)|is\s+there\s+(?:anything|something)|what\s+about|"
    r"i\s+(?:want|need)\s+you\s+to|i\s+(?:want|would\s+like)|i'd\s+like|id\s+like|please)\b")
QUESTION = re.compile(
    rf"\b(?:{_AUX}\s+{_SUBJECT}|(?:what|how|why|when|where|which|who)(?:'s)?(?!\s+(?:{_SUBJECT}|a|an|"
    r"lovely|great|nice|kind|i'm|i've|i'd|we're|you're|they're|it's)\b))\b")
# checks and pleasantries shaped like questions: nothing to follow up
NOT_ASK = re.compile(
    r"^(?:(?:is|was|does|did|are)(?:n't)?\s+(?:that|this|it)\s+(?:enough|right|okay|ok|alright|"
    r"all\s+right|correct|fine|true|it|all|everything)\b|(?:can|could)\s+you\s+hear\b|"
    r"are\s+you\s+(?:still\s+)?there\b|how\s+(?:are|is)\s+(?:you|it\s+going)\b|"
    r"who\s+am\s+i\s+speaking|please\s+do\b)")
# a reply that answers, refuses or takes up the last thing asked, whatever its words
DIRECT = re.compile(
    r"^\W*(?:(?:oh|well|um|uh|so|i'm\s+sorry|sorry)\W+)*(?:yes|yeah|yep|no|nope|not|sure|of\s+course|"
    r"absolutely|definitely|certainly|unfortunately|i'm\s+afraid|im\s+afraid|either|both|neither|"
    r"correct|that's|that\s+is|thats|it's|its|it\s+is|it|they|there's|theres|there\s+is|"
    r"(?:i|we)\s+(?:can't|cant|cannot|can\s+not|won't|wont|don't|dont|can|do)\b|"
    r"(?:i|we)(?:'ll|\s+will)(?:\s+do)?\s*(?:\||$))")
TIME_ASKED = re.compile(r"\b(?:when|how\s+long|how\s+soon|what\s+time|what\s+day)\b")
MONEY_ASKED = re.compile(r"\bhow\s+much\b")
EMBEDDING = {"if", "whether", "what", "that", "so", "how", "who", "which", "when", "where", "why"}
# an agent reply this close in meaning deals with an ask: a question is answered by any reply on
# its subject, a request only by one that takes it up
SAME_MEANING = {"request": 0.35, "question": 0.2}
REPLIES = 3  # the agent turns after an ask that count as replying to it
FOLLOWUP_REPLIES = 2  # ... of which the follow-up scorer reads the first ones by meaning
MIN_KEY_WORDS = 2  # "are you serious", "what": too little said to follow anything up


@dataclass(frozen=True)
class Ask:
    turn: Turn
    text: str  # the clause that asks, with what led up to it in its sentence
    last: bool  # the turn's last ask: a bare "yes" answers this one
    kind: str  # "request" or "question"


def asks(turn: Turn) -> list[Ask]:
    """The caller's questions and requests in one turn, one clause each."""
    sh, text = turn.sh, turn.utt.text
    written = bool(re.search(r"[.?!,]", text))  # punctuated (Whisper): questions end with "?"
    with_commas = "".join(c if c == "," else x for c, x in zip(text, sh))
    found: list[tuple[int, int, str]] = []  # (clause start, clause end, kind)
    for a, b in turn.sentences:
        start, first = a, True
        asked = text[b:b + 1] == "?" or text[a:b].rstrip().endswith("?")
        openers = [(m, True) for m in REQUEST.finditer(sh, a, b)] + \
            [(m, False) for m in QUESTION.finditer(sh, a, b) if asked or not written]
        for m, request in sorted(openers, key=lambda x: x[0].start()):
            if m.start() < (found[-1][1] if found and not first else start):
                continue  # inside the ask before (found as a request and as a question)
            before = with_commas[start:m.start()].rstrip()
            prev = before.split()[-1] if before.split() else ""
            opened = not before or before.endswith(",") or bool(re.fullmatch(_LEAD, prev)) or (
                request and (m.group().startswith(("i ", "i'd", "id ", "please"))
                             # unpunctuated text runs sentences together: "…my old number can
                             # that be changed"; not "…if you could…", "what can you…"
                             or not written and prev not in EMBEDDING))
            if not opened or NOT_ASK.match(sh[m.start():b].strip()):
                continue
            if not first:
                found[-1] = (found[-1][0], m.start(), found[-1][2])  # the earlier ask ends here
                start = m.start()
            found.append((start, b, "request" if request else "question"))
            first = False
    out = [(text[a:b].strip(" ,.?!"), kind) for a, b, kind in found]
    return [Ask(turn, t, i == len(out) - 1, kind) for i, (t, kind) in enumerate(out)
            if len(key_words(t)) >= MIN_KEY_WORDS]


def _agent_after(turns: Sequence[Turn], k: int, caller: str) -> list[Turn]:
    """The agent turns after turns[k]."""
    return [u for u in turns[k + 1:] if u.utt.speaker != caller]


def open_asks(turns: Sequence[Turn], caller: str, reason: set[int]) -> list[tuple[Ask, list[Turn]]]:
    """The caller's asks after the reason (the turns `reason`; what comes before only sets the
    scene) that no later agent turn dealt with in words, each with the agent turns that replied."""
    out = []
    first = next((k for k, t in enumerate(turns) if t.id in reason), len(turns))
    for k, t in enumerate(turns[first:], first):
        if t.utt.speaker != caller or t.id in reason:
            continue
        later = _agent_after(turns, k, caller)
        out += [(ask, later[:REPLIES]) for ask in asks(t) if not _dealt_with(ask, later)]
    return out


def answered_in_meaning(ask: Ask, replies: Sequence[Turn], vectors: dict[str, np.ndarray]) -> bool:
    """Whether a reply means much the same as the ask (embedded in `vectors`)."""
    v = vectors.get(ask.text)
    return v is not None and any(
        vectors.get(r.utt.text) is not None and float(v @ vectors[r.utt.text]) >= SAME_MEANING[ask.kind]
        for r in replies)


def _dealt_with(ask: Ask, later: Sequence[Turn]) -> bool:
    replies = later[:REPLIES]
    if replies and ask.last and DIRECT.match(replies[0].sh):
        return True
    asked = shadow(ask.text)
    if replies and TIME_ASKED.search(asked) and times(replies[0].utt.text, replies[0].sh):
        return True
    if replies and MONEY_ASKED.search(asked) and amounts(replies[0].utt.text, replies[0].sh):
        return True
    kws = key_words(ask.text)
    need = max(1, math.ceil(0.34 * len(kws)))
    return any(len(kws & key_words(r.utt.text)) >= (need if i < len(replies) else max(2, need))
               for i, r in enumerate(later))


# ---- follow-ups by the learned scorer ------------------------------------------------------------
#
# The rules above find an ask only where a clause opens as one, and call it dealt with on a shared
# word; on calls written apart from them they found a third of the follow-ups, and two in three
# of what they found had been answered (blind6: 0.27/0.33). The scorer (wrapup_model, weights
# trained by scripts/train_wrapup.py) looks at every caller turn after the reason that asks or
# demands anything ("is that money gone too", "I want something for the time this has cost me"),
# and reads how the call went on: a reply that takes it up (its words, its meaning, "yes", the time
# asked for), or one that checks a detail instead ("is this number still right?"), says "I'm not
# sure", only sympathises or transfers; and whether the caller then says "that's not what I asked".

DEMAND = re.compile(
    r"\b(?:i\s+(?:think\s+i\s+|really\s+)?(?:should|ought\s+to|deserve\s+to)\s+(?:get|have|be)|"
    r"(?:something|compensation|credit|goodwill|a\s+discount)\s+for\s+(?:the|my|all|this)|"
    r"for\s+(?:the|my|all\s+the)\s+(?:trouble|hassle|inconvenience)|"
    r"i\s+(?:still\s+)?(?:want|need)\s+(?:something|compensation|to\s+know|an\s+answer|those|that|it|them)|"
    r"what\s+if|and\s+if|or\s+what)\b")
NEW_TOPIC = re.compile(r"\b(?:while\s+you're\s+at\s+it|while\s+youre\s+at\s+it|one\s+more|another\s+thing|"
                       r"oh\s+and|and\s+also|by\s+the\s+way|in\s+the\s+meantime|as\s+well|too)\b")
CHECKS_DETAIL = re.compile(
    r"^\W*(?:(?:and|so|okay|ok|right|now)\W+)*(?:let\s+me\s+(?:just\s+)?(?:check|read|confirm|double|"
    r"give|get|take)|can\s+i\s+(?:just\s+)?(?:check|confirm|take|get|have)|is\s+(?:this|that|the)\s+"
    r"(?:\w+\s+){0,2}(?:number|email|e-mail|address|one)|and\s+is|just\s+to\s+(?:check|confirm)|"
    r"what's\s+the\s+best|whats\s+the\s+best)")
NOT_SURE = re.compile(r"\b(?:i'm\s+not\s+sure|im\s+not\s+sure|i\s+don't\s+know|i\s+dont\s+know|"
                      r"not\s+something\s+i\s+can|can't\s+say|cant\s+say|let's\s+try\s+it|lets\s+try\s+it)\b")
TRANSFER = re.compile(r"\b(?:connecting\s+you|put\s+you\s+through|putting\s+you\s+through|"
                      r"transfer\w*|you're\s+through|youre\s+through)\b")
UNHAPPY = re.compile(r"\b(?:not\s+what\s+i\s+asked|you\s+didn't|you\s+didnt|you\s+haven't|whatever|"
                     r"forget\s+it|never\s+mind|didn't\s+answer|didnt\s+answer)\b")


def ask_candidates(turns: Sequence[Turn], caller: str, reason: set[int]) -> list[int]:
    """Positions of the caller turns after the reason that ask or demand anything: a clause the
    rules read as an ask, a question mark, a question or request opening anywhere, a demand."""
    first = next((k for k, t in enumerate(turns) if t.id in reason), len(turns))
    out = []
    for k, t in enumerate(turns[first:], first):
        if t.utt.speaker != caller or t.id in reason:
            continue
        if _asks_anything(t):
            out.append(k)
    return out


def _asks_anything(t: Turn, found: Sequence[Ask] | None = None) -> bool:
    """Whether a turn asks or demands anything (`found`: its `asks`, when read already)."""
    return bool((asks(t) if found is None else found) or "?" in t.utt.text or DEMAND.search(t.sh) or REQUEST.search(t.sh) or
                (not re.search(r"[.?!,]", t.utt.text) and QUESTION.search(t.sh)))


def _ask_text(turn: Turn, found: Sequence[Ask]) -> str:
    """What a turn asks: its asks' clauses (`found`), or the whole turn (a demand, a bare "?")."""
    return " ".join(a.text for a in found) if found else turn.utt.text


def followup_features(turns: Sequence[Turn], caller: str, cands: Sequence[int], rules_open: set[int],
                      vectors: dict[str, np.ndarray], actions: Sequence[Fact],
                      promises: Sequence[Fact]) -> np.ndarray:
    """One row of wrapup_model.FOLLOWUP_FEATURES per candidate turn (`ask_candidates`);
    `rules_open`: the turn ids the rules left unanswered; `vectors`: embeddings of the candidates'
    ask texts and their replies (`followup_texts`), empty without the encoder; `actions` and
    `promises`: the call's callfacts.actions and callfacts.commitments."""
    rows = []
    # an ask the agent answers by doing something ("I've turned the texts off") or promising it
    done = {i for f in actions for i in f.utterances}
    promised = {i for f in promises for i in f.utterances}
    for k in cands:
        t = turns[k]
        replies = _agent_after(turns, k, caller)[:REPLIES]
        nxt = next((u for u in turns[k + 1:] if u.utt.speaker == caller), None)
        found = asks(t)
        text = _ask_text(t, found)
        kws = key_words(text)
        cover = max((len(kws & key_words(r.utt.text)) / max(len(kws), 1) for r in replies), default=0.0)
        v = vectors.get(text)
        meaning = max((float(v @ vectors[r.utt.text]) for r in replies[:FOLLOWUP_REPLIES]
                       if v is not None and r.utt.text in vectors), default=0.0)
        asked = shadow(text)
        first = replies[0] if replies else None
        values = {
            "bias": 1.0, "strict": bool(found), "rules_open": t.id in rules_open,
            "request": any(a.kind == "request" for a in found) or bool(REQUEST.search(t.sh)),
            "demand": bool(DEMAND.search(t.sh)), "qmark": "?" in t.utt.text,
            "new_topic": bool(NEW_TOPIC.search(t.sh)),
            "log_words": math.log1p(len(t.utt.text.split())) / 4,
            "direct": first is not None and bool(DIRECT.match(first.sh)),
            "cover": cover, "meaning": meaning,
            "time_answered": first is not None and bool(TIME_ASKED.search(asked))
            and bool(times(first.utt.text, first.sh)),
            "money_answered": first is not None and bool(MONEY_ASKED.search(asked))
            and bool(amounts(first.utt.text, first.sh)),
            "reply_checks": first is not None and bool(CHECKS_DETAIL.match(first.sh)),
            "reply_asks": first is not None and (first.utt.text.rstrip().endswith("?") or
                                                  bool(re.match(rf"^{_AUX}\s+{_SUBJECT}\b", first.sh))),
            "not_sure": any(NOT_SURE.search(r.sh) for r in replies[:FOLLOWUP_REPLIES]),
            "sympathy_only": first is not None and bool(wrapup_model.SYMPATHY.search(first.sh))
            and cover < 0.34,
            "transfer": first is not None and bool(TRANSFER.search(first.sh)),
            "unhappy_after": nxt is not None and bool(UNHAPPY.search(nxt.sh)),
            "no_reply": not replies, "late": k / max(len(turns) - 1, 1),
            "reply_done": first is not None and first.id in done,
            "reply_promises": first is not None and first.id in promised,
        }
        rows.append([float(values[n]) for n in wrapup_model.FOLLOWUP_FEATURES])
    return np.array(rows, dtype=float).reshape(len(cands), len(wrapup_model.FOLLOWUP_FEATURES))


def followup_texts(turns: Sequence[Turn], caller: str, cands: Sequence[int]) -> list[str]:
    """The texts `followup_features` reads by meaning: each candidate's ask and the agent's first
    two replies to it."""
    out = []
    for k in cands:
        out.append(_ask_text(turns[k], asks(turns[k])))
        out += [u.utt.text for u in _agent_after(turns, k, caller)[:FOLLOWUP_REPLIES]]
    return list(dict.fromkeys(out))
