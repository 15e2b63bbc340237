"""A call as one ordered record of events: what analyze writes, what the panel and reviews read."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..paths import write_private
from .events import (CallScore, Event, MoodState, Relabelled, Sentiment, Status, Transient,
                     Utterance)


@dataclass
class Timeline:
    call: dict[str, Any] = field(default_factory=dict)  # id, source, engine, speakers, duration…
    events: list[Event] = field(default_factory=list)

    def __call__(self, event: Event) -> None:
        """Subscriber: keep every event except transient partial text, and those a Relabelled
        supersedes (they are said again after it)."""
        if isinstance(event, Relabelled):
            self.events = Relabelled.keep(self.events)
        if not isinstance(event, Transient):
            self.events.append(event)

    @classmethod
    def of_events(cls, call: dict[str, Any], events) -> "Timeline":
        """A timeline of stored or exported events, superseded ones left out as they come."""
        timeline = cls(call=call)
        for event in events:
            timeline(event)
        return timeline

    def of(self, cls):
        return [e for e in self.events if isinstance(e, cls)]

    @property
    def utterances(self) -> list[Utterance]:
        return self.of(Utterance)

    @property
    def sentiments(self) -> list[Sentiment]:
        return self.of(Sentiment)

    @property
    def moods(self) -> list[MoodState]:
        return self.of(MoodState)

    @property
    def call_scores(self) -> list[CallScore]:
        return self.of(CallScore)

    @property
    def statuses(self) -> list[Status]:
        return self.of(Status)

    def to_dict(self) -> dict[str, Any]:
        return {"call": self.call, "events": [e.to_dict() for e in self.events]}

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def save(self, path: str | Path) -> None:
        """Written atomically (never half a timeline) and readable by its owner only."""
        write_private(path, self.to_json())
