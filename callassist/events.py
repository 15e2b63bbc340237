"""Typed events that flow through the pipeline and make up a call's timeline.

Every stage turns events into other events; the timeline, the command line and the GUI all
read the same objects. Times are seconds from the start of the call.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

AGENT = "agent"
CUSTOMER = "customer"


@dataclass(frozen=True)
class Word:
    text: str
    start: float
    end: float
    conf: float


@dataclass(frozen=True)
class Event:
    kind: ClassVar[str] = "event"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {"type": self.kind, **d}


@dataclass(frozen=True)
class PartialUtterance(Event):
    """Text recognised so far in an utterance that has not ended (live display only)."""

    kind: ClassVar[str] = "partial"
    speaker: str
    text: str
    start: float
    end: float


@dataclass(frozen=True)
class Utterance(Event):
    """A finished utterance of one speaker."""

    kind: ClassVar[str] = "utterance"
    id: int
    speaker: str
    text: str
    start: float
    end: float
    words: tuple[Word, ...] = ()
    engine: str = ""

    @property
    def confidence(self) -> float:
        return sum(w.conf for w in self.words) / len(self.words) if self.words else 0.0


@dataclass(frozen=True)
class Sentiment(Event):
    """Sentiment of one final utterance: score = p(positive) - p(negative), in [-1, 1]."""

    kind: ClassVar[str] = "sentiment"
    utterance_id: int
    speaker: str
    time: float
    label: str
    score: float
    probs: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class MoodState(Event):
    """The caller's mood after an utterance: smoothed score, label, trend and why it moved."""

    kind: ClassVar[str] = "mood"
    time: float
    speaker: str
    score: float
    label: str
    confidence: float
    trend: str  # improving / steady / worsening
    change: float  # how much this utterance moved the smoothed score
    utterance_id: int
    reason: str
    cues: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class CallScore(Event):
    """Contact-centre style -5..+5 sentiment score per quarter of the call, per speaker."""

    kind: ClassVar[str] = "call_score"
    time: float
    speaker: str
    overall: float
    quarters: tuple[float | None, ...]


@dataclass(frozen=True)
class Status(Event):
    """Progress and health of the pipeline (engine chosen, falling behind, finished)."""

    kind: ClassVar[str] = "status"
    time: float
    message: str
    level: str = "info"
