"""Escalation advisor: when to suggest a transfer to a senior rep, and why.

Three triggers, each advised once per call: the caller asks for a manager or supervisor; the
caller's mood has stayed negative for longer than a set time; or the caller's problem has found
no match in the knowledge base several times in a row.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..core.rules import ASKS_FOR_SENIOR, ESCALATE_MOOD

# ASKS_FOR_SENIOR lives in core.rules: the anger cue and the escalation flag read the same pattern,
# so a caller who asks for a manager gets the cue, this advice and the flag, or none of them.


def request_reason(asked: str) -> str:
    """Why a transfer is advised when the caller asked for someone senior (``asked``: their words)."""
    return f"the caller asked for a senior person (“{asked}”)"


@dataclass
class EscalationSettings:
    negative_seconds: float = 120.0  # mood below the threshold this long -> advise transfer
    negative_threshold: float = ESCALATE_MOOD  # mood at or below this counts as upset
    unanswered_problems: int = 2  # consecutive caller problems the knowledge base cannot answer
    furious_utterances: int = 2  # caller utterances in a row read as furious -> advise transfer


class EscalationAdvisor:
    def __init__(self, settings: EscalationSettings | None = None):
        self.s = settings or EscalationSettings()
        self.advised: set[str] = set()
        self._negative_since: float | None = None
        self._unanswered = 0
        self._furious = 0

    def _once(self, trigger: str, reason: str) -> list[tuple[str, str]]:
        if trigger in self.advised:
            return []
        self.advised.add(trigger)
        return [(trigger, reason)]

    def caller_said(self, text: str, time: float, mood_score: float | None,
                    problem: bool, answered: bool | None,
                    furious: bool = False) -> list[tuple[str, str]]:
        out = []
        asked = ASKS_FOR_SENIOR.find(text)
        if asked:
            out += self._once("requested", request_reason(asked))
        self._furious = self._furious + 1 if furious else 0
        if self._furious >= self.s.furious_utterances:
            out += self._once("furious", f"the caller has sounded furious for "
                                         f"{self._furious} utterances in a row")
        if mood_score is not None:
            if mood_score <= self.s.negative_threshold:
                if self._negative_since is None:
                    self._negative_since = time
                elif time - self._negative_since >= self.s.negative_seconds:
                    mins = (time - self._negative_since) / 60
                    out += self._once("sustained_negative",
                                      f"the caller has been upset for {mins:.1f} minutes")
            else:
                self._negative_since = None
        if problem and answered is not None:
            self._unanswered = 0 if answered else self._unanswered + 1
            if self._unanswered >= self.s.unanswered_problems:
                # Said of these problems only: cards for an earlier topic may still be on screen.
                out += self._once("no_knowledge", f"the knowledge base has no answer to the last "
                                                  f"{self._unanswered} problems the caller raised")
        return out
