"""Escalation advisor: when to suggest a transfer to a senior rep, and why.

Three triggers, each advised once per call: the caller asks for a manager or supervisor; the
caller's mood has stayed negative for longer than a set time; or the caller's problem has found
no match in the knowledge base several times in a row.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..core.text import normalize

ASKS_FOR_SENIOR = re.compile(
    r"\b(speak|talk|put me through|transfer me|escalate( this| it)?|get me|let me speak) (to|with)? ?"
    r"(a |your |the |someone |somebody )?(manager|supervisor|senior|boss|someone (else|senior|in charge)|"
    r"somebody (else|senior)|person in charge|higher up)|\b(manager|supervisor) (please|now)\b|"
    r"\bescalate (this|it|my)\b")


@dataclass
class EscalationSettings:
    negative_seconds: float = 120.0  # mood below the threshold this long -> advise transfer
    negative_threshold: float = -0.3
    unanswered_problems: int = 2  # consecutive caller problems the knowledge base cannot answer


class EscalationAdvisor:
    def __init__(self, settings: EscalationSettings | None = None):
        self.s = settings or EscalationSettings()
        self.advised: set[str] = set()
        self._negative_since: float | None = None
        self._unanswered = 0

    def _once(self, trigger: str, reason: str) -> list[tuple[str, str]]:
        if trigger in self.advised:
            return []
        self.advised.add(trigger)
        return [(trigger, reason)]

    def caller_said(self, text: str, time: float, mood_score: float | None,
                    problem: bool, answered: bool | None) -> list[tuple[str, str]]:
        out = []
        m = ASKS_FOR_SENIOR.search(normalize(text))
        if m:
            out += self._once("requested", f"the caller asked for a senior person (“{m.group(0)}”)")
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
                out += self._once("no_knowledge", f"nothing in the knowledge base matches the last "
                                                  f"{self._unanswered} problems the caller raised")
        return out
