"""Wrap-up at hang-up: a structured summary of the call, a wrap-up code and the follow-ups.

No packaged language model writes a good summary, so it is built from the timeline: the facts
read by rules from what was said (assist.callfacts: why the customer called, what the agent did,
what the agent promised, with when and how much in the exact words said, whether it was
resolved), the caller's mood at the start and the end (MoodState events), the knowledge topics
shown (KnowledgeMatch), the caller's points left unanswered (CallerPoint) and the close-the-call
checklist (ChecklistItem). Every sentence names the utterances it comes from.

The code is chosen from a configurable list (assist.wrapup_codes) by keywords and by the shared
sentence encoder; the hang-up costs one small embedding batch (the reason for calling), the
codes' own embeddings being made once per process. A mid-call catch-up (for a transfer to a
senior rep) is the same summary of the call so far (`final=False`).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Iterable, Sequence

from ..core.events import (CUSTOMER, CallerPoint, ChecklistItem, Event, KnowledgeMatch, MoodState,
                           Utterance, WrapUp)
from . import callfacts
from .callfacts import Fact, Turn
from .wrapup_codes import WrapUpCodes, default_codes

__all__ = ["WrapUp", "WrapUpCodes", "summarize", "default_codes"]
SHOWN = 3  # facts of a kind on the copyable text; all of them are in the event


def _fact(f: Fact, **extra) -> dict:
    return {"text": f.text, **extra, "utterances": list(f.utterances)}


def _latest_points(events: Iterable[Event]) -> list[CallerPoint]:
    """Each caller point as last sent (a point is re-sent when the agent addresses it)."""
    by_id: dict[int, CallerPoint] = {}
    for e in events:
        if isinstance(e, CallerPoint):
            by_id[e.id] = e
    return sorted(by_id.values(), key=lambda p: p.id)


def summarize(utterances: Sequence[Utterance], events: Iterable[Event] = (),
              codes: WrapUpCodes | None = None, embedder=None, caller: str = CUSTOMER,
              final: bool = True) -> WrapUp:
    """The wrap-up of a call (or of the call so far, `final=False`) from its utterances and the
    rest of its timeline. `embedder`: the shared sentence encoder (None: the code by keywords)."""
    codes = codes if codes is not None else default_codes()
    events = list(events)
    utts = sorted((u for u in utterances if u.text.strip()), key=lambda u: (u.start, u.id))
    turns = [Turn.of(u) for u in utts]

    reason = callfacts.reason(turns, caller, codes.reason_keywords)
    done = callfacts.actions(turns, caller)
    promised = callfacts.commitments(turns, caller)
    moods = [e for e in events if isinstance(e, MoodState) and e.speaker == caller]
    checked = next((e.utterance_id for e in events
                    if isinstance(e, ChecklistItem) and e.item == "resolved"), None)
    end = moods[-1] if moods else None
    settled = callfacts.resolution(turns, caller, promised, end.label if end else None,
                                   end.utterance_id if end else None, checked)

    # the code: from the whole utterances that give the reason, embedded in one small batch
    by_id = {u.id: u for u in utts}
    reason_turns = [(i, by_id[i].text) for f in reason for i in f.utterances] or \
                   [(u.id, u.text) for u in utts if u.speaker == caller][:3]
    agent_turns = [(u.id, u.text) for u in utts if u.speaker != caller]
    vector = None
    if embedder is not None and reason_turns:
        codes.prepare(embedder)
        vector = embedder.encode([" ".join(t for _, t in reason_turns)])[0]
    choice = codes.choose(reason_turns, agent_turns, vector, embedder)

    followups = [_fact(f, kind="commitment") for f in promised]
    if not settled.resolved:
        followups += [_fact(f, kind="open_issue") for f in reason]
    # a question or request of the caller that no agent utterance came after (left hanging at
    # hang-up, or the open question a senior rep takes over in a catch-up)
    reason_ids = {i for f in reason for i in f.utterances}
    last_agent = max((u.start for u in utts if u.speaker != caller), default=-1.0)
    for p in _latest_points(events):
        if (not p.addressed and p.category in ("question", "request")
                and p.utterance_id in by_id and p.utterance_id not in reason_ids
                and by_id[p.utterance_id].start > last_agent):
            followups.append({"text": p.text, "kind": "unanswered", "utterances": [p.utterance_id]})

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
