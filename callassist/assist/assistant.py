"""The assistant stage: turns the transcript and the caller's mood into help for the agent.

Caller utterances give phrase suggestions, knowledge cards and the caller's points; agent
utterances give coaching tips and mark the caller's points addressed. The rules (assist.rulebook:
the built-in ones and the centre's) run on every utterance: alerts, escalation advice, ticks on
the close-the-call checklist. At the end, the call metrics, the rules decided over the whole call
and the wrap-up (assist.wrapup: the summary, the wrap-up code and the follow-ups); `catch_up`
gives the same summary mid-call, for a transfer. Everything comes out as events.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Sequence

from .coaching import review
from .escalation import EscalationSettings
from ..core.events import (CUSTOMER, CallerPoint, CoachingTip, Event, KnowledgeMatch, MoodState,
                          PhraseSuggestion, Utterance, WrapUp)
from .knowledge import KnowledgeBase
from .metrics import call_metrics
from .phrases import PhraseLibrary, PhraseSuggester
from .points import Point, PointTracker
from .wrapup import FOLLOWUP_REPLIES, prefetch, prefetch_reply, summarize
from .wrapup_codes import WrapUpCodes, default_codes
from ..core.rules import BAD_NEWS, CLOSING, HOLD, NEGATIVE_LABELS  # defined once for every stage

log = logging.getLogger(__name__)
MOOD_SITUATION = {"furious": "angry", "angry": "angry", "upset": "frustrated",
                  "frustrated": "frustrated", "annoyed": "frustrated",
                  "confused": "confused", "worried": "worried"}
UNHAPPY = NEGATIVE_LABELS
TOPIC_BONUS = 0.05


@dataclass
class AssistSettings:
    phrase_count: int = 2
    card_count: int = 3
    context_utterances: int = 2  # caller utterances that make up the knowledge query
    reload_seconds: float = 2.0  # how often the knowledge folder is checked for edited articles
    escalation: EscalationSettings = field(default_factory=EscalationSettings)


class Assistant:
    def __init__(self, knowledge: KnowledgeBase | None, phrases: PhraseLibrary | None,
                 settings: AssistSettings | None = None, embedder=None,
                 codes: WrapUpCodes | None = None, caller: str = CUSTOMER, rules=None):
        self._made_with = (knowledge, phrases, settings, embedder, codes, caller, rules)
        self.settings = settings or AssistSettings()
        self.knowledge = knowledge
        self.phrases = phrases
        self.suggester = PhraseSuggester(phrases, self.settings.phrase_count) if phrases else None
        if embedder is None and knowledge is not None:
            embedder = knowledge.embedder
        self.points = PointTracker(embedder=embedder)
        self._caller_texts: list[str] = []
        self._last_cards: tuple[str, ...] = ()
        self._last_phrases: tuple[str, ...] = ()
        self._last_reload = time.monotonic()
        self.reload_problems: list[str] = []
        self.codes = codes  # None: the shipped list (read once per process)
        self.caller = caller
        self.embedder = embedder
        self._seen: list[Event] = []  # the caller's moods and what this assistant said: the wrap-up's input
        self._known: dict = {}  # what the wrap-up reads, embedded during the call (wrapup.prefetch)
        self._replies_to_read = 0  # agent turns after the caller's last ask, embedded for the wrap-up
        from .rulebook import Rulebook, RuleRunner
        # the rules applied to this call (default: the built-in ones alone)
        self.rules = RuleRunner(rules if rules is not None else Rulebook.builtin(), embedder,
                                caller, self.settings.escalation)

    def fresh(self) -> "Assistant":
        """A new assistant for the same call, with the same knowledge, phrases and rules, that has
        heard nothing yet (the call's roles were the other way round: it is told again)."""
        knowledge, phrases, settings, embedder, codes, caller, rules = self._made_with
        return Assistant(knowledge, phrases, settings, embedder=embedder, codes=codes,
                         caller=caller, rules=rules)

    @property
    def problems(self) -> list[str]:
        return (self.knowledge.problems if self.knowledge else []) + \
               (self.phrases.problems if self.phrases else [])

    def _point_event(self, p: Point, time: float) -> CallerPoint:
        return CallerPoint(id=p.id, time=round(time, 3), utterance_id=p.utterance_id,
                           category=p.category, text=p.text, addressed=p.addressed_by is not None,
                           addressed_by=p.addressed_by)

    def _situation(self, utt: Utterance, mood: MoodState | None) -> tuple[str, str]:
        cues = {c["kind"] for c in (mood.cues if mood else ())}
        label = mood.label if mood else "neutral"
        if CLOSING.find(utt.text) and label not in UNHAPPY:
            return "closing", "the caller is wrapping up"
        if "gratitude" in cues and label not in ("furious", "angry", "upset"):
            return "thanks", "the caller thanked you"
        situation = MOOD_SITUATION.get(label, "neutral")
        why = f"the caller sounds {label}" if mood else "the caller is talking"
        if mood and mood.cues:
            why += " (" + "; ".join(c["reason"] for c in mood.cues) + ")"
        return situation, why

    def on_caller(self, utt: Utterance, mood: MoodState | None) -> list[Event]:
        out, problem, answered = self._on_caller(utt, mood)
        out += self.rules.on_utterance(utt, mood, problem=problem, answered=answered)
        self._seen += ([mood] if mood is not None else []) + out
        try:  # what the wrap-up will read of the caller's turns, ready before the hang-up
            if prefetch(utt, len(self._caller_texts), self.embedder, self._known):
                self._replies_to_read = FOLLOWUP_REPLIES
        except Exception as exc:  # the hang-up embeds it then
            log.warning("could not embed an utterance ahead of the wrap-up: %s", exc)
        return out

    def _on_caller(self, utt: Utterance,
                   mood: MoodState | None) -> tuple[list[Event], bool, bool | None]:
        """(events, whether the caller raised a problem, whether the knowledge base answers it)."""
        out: list[Event] = []
        t = utt.end
        new_points = self.points.caller_said(utt.id, t, utt.text)
        out += [self._point_event(p, t) for p in new_points]

        self._caller_texts.append(utt.text)
        answered = None
        if self.knowledge is not None:
            self._reload_knowledge()
            query = " ".join(self._caller_texts[-self.settings.context_utterances:])
            # the context window and the newest utterance alone, embedded in one batch
            cards, latest = self.knowledge.search_many([query, utt.text],
                                                       self.settings.card_count + 3)
            # A call usually stays on one topic: articles already on screen get a small lift.
            for c in cards:
                if c.article in self._last_cards:
                    c.score = round(c.score + TOPIC_BONUS, 3)
            cards = sorted(cards, key=lambda c: -c.score)[: self.settings.card_count]
            # The newest utterance alone decides whether the caller brought up something the
            # base answers; filler ("okay, what do I do now?") keeps the cards on screen as they are.
            answered = self.knowledge.answers(latest[:1])
            if answered and self.knowledge.answers(cards):
                key = tuple(c.article for c in cards)
                if key != self._last_cards:
                    self._last_cards = key
                    good = [c for c in cards if c.score >= cards[0].score - 0.12]
                    out.append(KnowledgeMatch(time=round(t, 3), utterance_id=utt.id, query=query,
                                              cards=tuple(c.to_dict() for c in good)))

        if self.suggester is not None:
            situation, why = self._situation(utt, mood)
            cues = [c["kind"] for c in (mood.cues if mood else ())]
            chosen = self.suggester.suggest(situation, cues, utt.text)
            texts = tuple(p.text for p in chosen)
            if texts and texts != self._last_phrases:
                self._last_phrases = texts
                out.append(PhraseSuggestion(time=round(t, 3), utterance_id=utt.id,
                                            situation=situation, phrases=texts, reason=why))

        problem = any(p.category in ("issue", "question", "request") for p in new_points)
        return out, problem, answered

    def _reload_knowledge(self) -> None:
        """Pick up articles edited during the call (only changed files are re-indexed)."""
        if time.monotonic() - self._last_reload < self.settings.reload_seconds:
            return
        self._last_reload = time.monotonic()
        try:
            self.knowledge.refresh()
        except Exception as exc:  # the folder went away mid-call: keep the index we have
            self.reload_problems.append(str(exc))
            log.warning("knowledge base not reloaded: %s", exc)

    def on_agent(self, utt: Utterance) -> list[Event]:
        out = self._on_agent(utt)
        out += self.rules.on_utterance(utt)
        self._seen += out
        if self._replies_to_read:
            self._replies_to_read -= 1
            try:  # the reply to the caller's ask, as the wrap-up's follow-ups will read it
                prefetch_reply(utt, self.embedder, self._known)
            except Exception as exc:  # the hang-up embeds it then
                log.warning("could not embed an utterance ahead of the wrap-up: %s", exc)
        return out

    def _on_agent(self, utt: Utterance) -> list[Event]:
        out: list[Event] = []
        t = round(utt.end, 3)
        for category, said, suggestion in review(utt.text):
            out.append(CoachingTip(time=t, utterance_id=utt.id, category=category, said=said,
                                   suggestion=suggestion))
        out += [self._point_event(p, t) for p in self.points.agent_said(utt.id, utt.text)]
        if self.suggester is not None:
            self.suggester.agent_said(utt.text)
            situation = ("waiting" if HOLD.find(utt.text) else "bad_news" if BAD_NEWS.find(utt.text)
                         else None)
            if situation:
                chosen = self.suggester.suggest(situation, [], "")
                texts = tuple(p.text for p in chosen)
                if texts and texts != self._last_phrases:
                    self._last_phrases = texts
                    why = ("you are looking something up or putting the caller on hold"
                           if situation == "waiting" else "you are giving the caller bad news")
                    out.append(PhraseSuggestion(time=t, utterance_id=utt.id, situation=situation,
                                                phrases=texts, reason=why))
        return out

    def finish(self, utterances: Sequence[Utterance], duration: float,
               events: Sequence[Event] | None = None) -> list[Event]:
        """At hang-up: the call metrics and the wrap-up. `events`: the rest of the timeline
        (default: the caller's moods and what this assistant said during the call)."""
        metrics = call_metrics(utterances, duration)
        out: list[Event] = [metrics]
        out += self.rules.finish(duration, metrics)
        wrap = self._summary(utterances, events, final=True)
        return out + ([wrap] if wrap is not None else [])

    def catch_up(self, utterances: Sequence[Utterance],
                 events: Sequence[Event] | None = None) -> WrapUp | None:
        """The summary of the call so far (for a transfer to a senior rep); not an event of the
        timeline unless the caller publishes it."""
        return self._summary(utterances, events, final=False)

    def _summary(self, utterances, events, final: bool) -> WrapUp | None:
        try:
            codes = self.codes if self.codes is not None else default_codes()
            return summarize(utterances, self._seen if events is None else events, codes,
                             self.embedder, caller=self.caller, final=final, known=self._known)
        except Exception as exc:  # a summary never costs the call: the timeline is kept without it
            log.warning("no wrap-up for this call: %s", exc, exc_info=True)
            return None
