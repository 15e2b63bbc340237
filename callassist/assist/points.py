"""Listening aid: the points the caller raised, each marked addressed once the agent answers it.

A point is a clause of a caller utterance that states an issue ("it still has not arrived"),
makes a request ("I want a refund"), asks a question ("what does the orange light mean") or
gives a number (an order number, spoken or written). An agent utterance addresses a point when
it shares its key words or means much the same (MiniLM similarity), or, for a number, refers to
it or to what it identifies.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from ..core.text import normalize, spoken_numbers, words

ISSUE = re.compile(
    r"\b(not (arrived|working|work|received|turn|charging|connect\w*)|has ?n[o']t|hasn't|have ?n[o']t|"
    r"haven't|does ?n[o']t|doesn't|won't|will not|can't|cannot|can not|stopped|broken|broke|"
    r"damaged|missing|wrong|never|late|problem|issue|error|charged (twice|two times|double)|"
    r"keeps|dropp\w+|cutting out|no (internet|signal|sound|power))\b")
REQUEST = re.compile(
    r"\b(i (want|would like|need|d like)|i'd like|can you|could you|please|i'm asking|"
    r"refund|cancel|exchange|replace|return|speak to|send me)\b")
QUESTION = re.compile(r"^(how|what|why|when|where|which|who|can i|do i|is there|is it|does|are)\b|\?$")
NUMBER_NOUNS = ("order", "account", "reference", "ticket", "case", "tracking", "invoice", "serial",
                "number", "card", "phone")
STOP = set("""a an the and or but so to of in on at for with my me i you your it is are was were be been
this that these those have has had do does did not no yes just really very am im i'm it's its
from about what how why when where which who there their they we our us can could would should
will shall may might any some all one get got ok okay oh well um uh yeah hi hello please
two three four five ago still then whole want need like also even ever every time thing
something anything make made know think say said tell told look see today now right just""".split())


@dataclass
class Point:
    id: int
    utterance_id: int
    time: float
    category: str
    text: str
    keywords: set[str]
    number: str | None = None
    embedding: np.ndarray | None = None
    addressed_by: int | None = None
    covered: set[str] = field(default_factory=set)  # key words the agent has answered so far
    replies: int = 0  # agent utterances since the point was raised


def _clauses(text: str) -> list[str]:
    parts = re.split(r"(?<=[.?!])\s+|\s+(?:but|and then|and also|also)\s+", text.strip())
    return [p.strip() for p in parts if len(p.split()) >= 3 or spoken_numbers(p)]


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer
    return Stemmer.Stemmer("english")


def _stem(w: str) -> str:
    return _stemmer().stemWord(w)


def key_words(text: str) -> set[str]:
    return {_stem(w) for w in words(text) if w not in STOP and len(w) > 2 and not w.isdigit()}


@dataclass
class PointTracker:
    embedder: object | None = None
    similarity: float = 0.6  # agent utterance this close in meaning addresses the point
    points: list[Point] = field(default_factory=list)

    def caller_said(self, utt_id: int, time: float, text: str) -> list[Point]:
        new: list[Point] = []
        for clause in _clauses(text):
            norm = normalize(clause)
            nums = spoken_numbers(clause)
            if nums:
                digits, _ = nums[0]
                noun = next((n for n in NUMBER_NOUNS if n in norm.split()), "number")
                label = f"{noun} number {digits}" if noun != "number" else f"number {digits}"
                if not any(p.number == digits for p in self.points):
                    new.append(Point(0, utt_id, time, "number", label, {noun}, number=digits))
                clause_wo = clause
                for _, spoken in nums:
                    clause_wo = re.sub(re.escape(spoken), " ", clause_wo, flags=re.I)
                if len(key_words(clause_wo)) < 2:
                    continue
            category = ("question" if QUESTION.search(norm) or clause.rstrip().endswith("?") else
                        "request" if REQUEST.search(norm) else "issue" if ISSUE.search(norm) else None)
            if category is None:
                continue
            kws = key_words(clause)
            if not kws or any(p.keywords == kws for p in self.points):
                continue
            new.append(Point(0, utt_id, time, category, clause.strip().rstrip(".,"), kws))
        if new and self.embedder is not None:
            embs = self.embedder.encode([p.text for p in new])
            for p, e in zip(new, embs):
                p.embedding = e
        for p in new:
            p.id = len(self.points) + 1
            self.points.append(p)
        return new

    def agent_said(self, utt_id: int, text: str) -> list[Point]:
        """Points this agent utterance addresses (each point is addressed once)."""
        open_points = [p for p in self.points if p.addressed_by is None]
        if not open_points:
            return []
        agent_kw = key_words(text)
        agent_norm = " " + normalize(text) + " "
        agent_digits = {d for d, _ in spoken_numbers(text)}
        emb = None
        if self.embedder is not None and any(p.embedding is not None for p in open_points):
            emb = self.embedder.encode([text])[0]
        done = []
        for p in open_points:
            if p.category == "number":
                hit = p.number in agent_digits or any(f" {n} " in agent_norm for n in p.keywords)
            elif p.category == "question" and not p.replies:
                # the agent's first reply to a question answers it if it is on the subject
                p.covered |= p.keywords & agent_kw
                hit = bool(p.covered) or (emb is not None and p.embedding is not None
                                          and float(p.embedding @ emb) >= self.similarity - 0.15)
            else:
                # key words count over the agent's replies: "I can see your laptop…" then
                # "it will arrive tomorrow" together answer "my laptop has not arrived"
                p.covered |= p.keywords & agent_kw
                hit = len(p.covered) >= max(1, math.ceil(0.34 * len(p.keywords)))
                if not hit and emb is not None and p.embedding is not None:
                    hit = float(p.embedding @ emb) >= self.similarity
            p.replies += 1
            if hit:
                p.addressed_by = utt_id
                done.append(p)
        return done
