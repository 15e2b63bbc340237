"""Built-in detectors: the tests a rule names with `detector:` when phrases cannot say it.

The rules file decides what is looked for and what follows (assist.rulebook); a detector is
only the test. Three sorts:

- cue detectors (mood.cues): the caller asks for a manager, threatens to cancel or complain,
  says this is not the first call, sounds fed up, does not understand, asks the same thing
  again, is in a hurry or worried, thanks the agent, says it is solved, is satisfied. A rule
  with one gives that cue to the caller's mood reading (`then: {cue: anger}`).
- call-state detectors, here: the caller furious for several utterances in a row, upset for
  too long, problems the knowledge base cannot answer one after another. Their thresholds are
  the escalation settings of config.toml (defined once, there).
- moment detectors (library.flags): a sharp mood drop, a long negative stretch, anger, an
  escalation, a long silence or hold, talk-over, the agent's negative language, an unresolved
  close. They read a whole call's timeline and grade each moment; a rule with one flags them.

Today's cues, escalation triggers, close-the-call checklist and flags are the default rules of
content/builtin_rules.yaml built from these: one engine runs them and the centre's own rules.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..mood.cues import DETECTORS as CUE_DETECTORS
from .escalation import EscalationSettings, request_reason

STATE_DETECTORS = ("furious_run", "sustained_negative", "no_knowledge")
MOMENT_DETECTORS = ("mood_drop", "negative_mood", "anger", "escalation", "silence",
                    "interruption", "agent_language", "unresolved")


def kind_of(name: str) -> str | None:
    """'cue', 'state' or 'moment' for a detector's name; None for an unknown one."""
    if name in CUE_DETECTORS:
        return "cue"
    if name in STATE_DETECTORS:
        return "state"
    if name in MOMENT_DETECTORS:
        return "moment"
    return None


def known() -> list[str]:
    return list(CUE_DETECTORS) + list(STATE_DETECTORS) + list(MOMENT_DETECTORS)


def cue_reason(name: str, trigger: str) -> str:
    """How a cue detector's match reads as escalation advice or alert evidence."""
    return request_reason(trigger) if name == "asks_for_senior" else trigger


@dataclass
class CallState:
    """What the call-state detectors remember of one call (the caller's side)."""

    settings: EscalationSettings
    negative_since: float | None = None
    unanswered: int = 0
    furious: int = 0

    def caller_said(self, time: float, mood_score: float | None, furious: bool,
                    problem: bool, answered: bool | None) -> dict[str, str]:
        """Each call-state detector that holds after this caller utterance, with why."""
        s, out = self.settings, {}
        self.furious = self.furious + 1 if furious else 0
        if self.furious >= s.furious_utterances:
            out["furious_run"] = (f"the caller has sounded furious for {self.furious} "
                                  f"utterances in a row")
        if mood_score is not None:
            if mood_score <= s.negative_threshold:
                if self.negative_since is None:
                    self.negative_since = time
                elif time - self.negative_since >= s.negative_seconds:
                    mins = (time - self.negative_since) / 60
                    out["sustained_negative"] = f"the caller has been upset for {mins:.1f} minutes"
            else:
                self.negative_since = None
        if problem and answered is not None:
            self.unanswered = 0 if answered else self.unanswered + 1
            if self.unanswered >= s.unanswered_problems:
                # Said of these problems only: cards for an earlier topic may still be on screen.
                out["no_knowledge"] = (f"the knowledge base has no answer to the last "
                                       f"{self.unanswered} problems the caller raised")
        return out
