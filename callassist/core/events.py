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
class Transient(Event):
    """Live display only: never kept in a timeline, the library or an export."""

    kind: ClassVar[str] = "transient"


@dataclass(frozen=True)
class PartialUtterance(Transient):
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
    intensity: float = 0.0  # 0 calm, 1 mild, 2 heated, 3 furious (expected value)


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
    intensity: float = 0.0  # smoothed heat of the caller's words: 0 calm .. 3 furious


@dataclass(frozen=True)
class ProvisionalMood(Transient):
    """The caller's mood as it would be if they stopped now, read from the words recognised so
    far of an utterance that has not ended; the final utterance's MoodState confirms or
    corrects it (live display only)."""

    kind: ClassVar[str] = "provisional_mood"
    time: float
    speaker: str
    score: float
    label: str
    intensity: float
    text: str


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


@dataclass(frozen=True)
class Relabelled(Status):
    """The call's two speakers were the other way round (a live call on one microphone whose
    words showed who the agent is): every event before this one except statuses is superseded,
    and what it superseded follows it, said again with the roles right. Whoever keeps events
    (a timeline, the library) drops the superseded ones; a screen clears what it showed."""

    kind: ClassVar[str] = "relabelled"

    @staticmethod
    def keep(events: list) -> list:
        """What is left of `events` (those before a Relabelled) once it has come: statuses."""
        return [e for e in events if isinstance(e, Status)]

    @staticmethod
    def separation(separation: dict) -> dict:
        """How a live call's voices were told apart (the call's "separation"), once relabelled."""
        return {**separation, "agent_by": "words", "confidence": 0.8}


# ---- assist events: help for the agent, derived from the transcript and the mood ---------------

@dataclass(frozen=True)
class PhraseSuggestion(Event):
    """Phrases the agent could say next, for the situation the caller is in."""

    kind: ClassVar[str] = "phrases"
    time: float
    utterance_id: int
    situation: str  # angry, frustrated, confused, worried, waiting, bad_news, thanks, closing, neutral
    phrases: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class KnowledgeMatch(Event):
    """Knowledge-base cards matching what the caller is talking about, best first."""

    kind: ClassVar[str] = "knowledge"
    time: float
    utterance_id: int
    query: str
    cards: tuple[dict[str, Any], ...]  # article, title, product, section, passage, score, why


@dataclass(frozen=True)
class CallerPoint(Event):
    """A point the caller raised (issue, request, question, number); re-sent when addressed."""

    kind: ClassVar[str] = "point"
    id: int
    time: float
    utterance_id: int
    category: str  # issue / request / question / number
    text: str
    addressed: bool = False
    addressed_by: int | None = None  # utterance id of the agent's answer


@dataclass(frozen=True)
class CoachingTip(Event):
    """Negative phrasing in the agent's own speech, with a positive reframe."""

    kind: ClassVar[str] = "coaching"
    time: float
    utterance_id: int
    category: str
    said: str
    suggestion: str


@dataclass(frozen=True)
class EscalationAdvice(Event):
    """Advice to transfer the call to a senior rep, and why."""

    kind: ClassVar[str] = "escalation"
    time: float
    utterance_id: int
    trigger: str  # requested / sustained_negative / furious / no_knowledge
    reason: str


@dataclass(frozen=True)
class ChecklistItem(Event):
    """A close-the-call checklist item ticked by what the agent said."""

    kind: ClassVar[str] = "checklist"
    time: float
    utterance_id: int
    item: str  # resolved / recap / anything_else / thanks
    label: str
    done: bool
    evidence: str = ""


@dataclass(frozen=True)
class CallMetrics(Event):
    """Talk time, talk/listen ratio, silences, overlaps and pace over the call so far."""

    kind: ClassVar[str] = "metrics"
    time: float
    talk_time: dict[str, float]
    talk_listen_ratio: float | None
    non_talk_time: float
    long_silences: tuple[tuple[float, float], ...]
    overlaps: tuple[tuple[float, float], ...]
    interruptions: dict[str, int]
    words_per_minute: dict[str, float]


@dataclass(frozen=True)
class RuleMatch(Event):
    """One of the centre's rules (assist.rulebook) matched: at an utterance (`utterance_id`),
    or over a stretch of the call (a phrase never said in the first minute, too much silence).
    What it does: a live `alert` on the panel (with `severity`), a `category` of the call, a
    flagged moment (`flag` severity 1-3, 0 for none); scorecards read the matches."""

    kind: ClassVar[str] = "rule"
    time: float
    rule: str  # the rule's id
    name: str
    speaker: str | None
    utterance_id: int | None
    evidence: str  # the words that matched, or what was missing ("not said in the first 60 s")
    alert: str = ""  # text of the live alert ("" for none)
    severity: str = "medium"  # of the alert: low / medium / high
    category: str = ""
    flag: int = 0


@dataclass(frozen=True)
class WrapUp(Event):
    """The call summarised at hang-up (`final`), or so far, for a transfer (a catch-up).

    Built from the timeline by rules (assist.wrapup); every fact is a dict whose "utterances"
    lists the ids of the utterances it was read from, so each sentence can be traced:
    reason / actions: {"text", "utterances"}; commitments: {"text", "when", "amount",
    "utterances"} (when and amount as the exact words said, or None); followups: {"text",
    "kind" (commitment / open_issue / unanswered), "utterances"}; mood: {"at" (start / end),
    "label", "score", "utterances"}; topics: {"title", "article", "utterances"}; lines: the
    plain-text rendering for the agent to copy, {"text", "utterances"} per line.
    """

    kind: ClassVar[str] = "wrapup"
    time: float
    final: bool
    code: str
    code_label: str
    code_why: str
    resolved: bool
    resolved_why: str
    code_utterances: tuple[int, ...] = ()
    resolved_utterances: tuple[int, ...] = ()
    reason: tuple[dict[str, Any], ...] = ()
    actions: tuple[dict[str, Any], ...] = ()
    commitments: tuple[dict[str, Any], ...] = ()
    followups: tuple[dict[str, Any], ...] = ()
    mood: tuple[dict[str, Any], ...] = ()
    topics: tuple[dict[str, Any], ...] = ()
    lines: tuple[dict[str, Any], ...] = ()

    @property
    def text(self) -> str:
        """The summary as a few short lines of plain text, for the agent to copy."""
        return "\n".join(line["text"] for line in self.lines)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "WrapUp":
        event = event_from_dict({"type": cls.kind, **data})
        assert isinstance(event, cls)
        return event


def _registry() -> dict[str, type]:
    out = {}
    stack = list(Event.__subclasses__())
    while stack:
        cls = stack.pop()
        out[cls.kind] = cls
        stack += cls.__subclasses__()
    return out


def event_from_dict(data: dict[str, Any]) -> Event:
    """Rebuild an event from `Event.to_dict()` (a stored or exported timeline)."""
    data = dict(data)
    cls = _registry()[data.pop("type")]
    if cls is Utterance:
        data["words"] = tuple(Word(**w) for w in data.get("words", ()))
    for key, value in list(data.items()):
        if isinstance(value, list):
            data[key] = tuple(tuple(v) if isinstance(v, list) else v for v in value)
    return cls(**data)
