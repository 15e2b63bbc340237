"""The mood tracker: per-utterance sentiment and cues -> the caller's mood over the call.

Each final caller utterance moves a smoothed score (-1..+1). Long, confident utterances move it
more than a short "okay"; neutral statements (an order number) pull it only gently towards zero.
The state carries a label a person recognises, a confidence, a trend over the last few
utterances, and the reason for the latest change (which utterance, by how much, which cue).
At the end of a call, the contact-centre style -5..+5 score per quarter of the call.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Sequence

from ..core.events import CallScore, MoodState, ProvisionalMood, Sentiment, Utterance
# The mood bands (negative <= NEGATIVE < neutral < POSITIVE <= positive) and the change that counts
# as a trend are shared with the report and the call library: defined once, in core.rules.
from ..core.rules import NEGATIVE, POSITIVE, mood_change

_TREND = {"better": "improving", "worse": "worsening", "same": "steady"}
# How heated the caller's words are (the mood model's intensity, smoothed): the negative labels
# tell an annoyed caller from a furious one.
FURIOUS, ANGRY, ANNOYED_BELOW = 2.3, 1.6, 0.9


@dataclass
class _Point:
    time: float
    score: float  # raw utterance score
    smoothed: float
    max_prob: float
    heat: float = 0.0  # smoothed intensity


def _short(text: str, n: int = 48) -> str:
    return text if len(text) <= n else text[: n - 1].rsplit(" ", 1)[0] + "…"


# What a cue says about the caller, and which way it points (+1 warmer, -1 cooler).
_CUE_SIGN = {"gratitude": 1, "anger": -1, "worry": -1, "confusion": -1}
_PLAIN = {"negative": "sounds unhappy", "positive": "sounds pleased", "neutral": "neutral"}


def _plain(sent: Sentiment) -> str:
    if sent.label == "negative":
        if sent.intensity >= FURIOUS:
            return "sounds furious"
        if sent.intensity >= ANGRY:
            return "sounds angry"
        if sent.intensity < ANNOYED_BELOW:
            return "sounds annoyed"
    return _PLAIN.get(sent.label, sent.label)


def _signed(x: float) -> str:
    """+0.6 / −0.3 (a real minus sign); two decimals only for small values."""
    text = f"{x:+.1f}" if abs(x) >= 0.1 else f"{x:+.2f}"
    return text.replace("-", "\u2212")


def _reason(text: str, sent: Sentiment, cues: list, change: float) -> str:
    """The reason for a mood change in words a person reads: what the caller did and the score
    of what they said ("thanks the agent: +0.6"). The words, the sign of the number and the
    sentiment label never point different ways; where the smoothed mood moved against the
    utterance (a complaint milder than the mood so far), that is said in so many words."""
    sign = {"negative": -1, "positive": 1}.get(sent.label, 0)
    fitting = [c for c in cues if _CUE_SIGN.get(c.kind, 0) == sign] if sign else []
    what = fitting[0].reason if fitting else _plain(sent)
    head = f"{what}: {_signed(sent.score)}" if sign else what
    if sign < 0 and change > 0.02:
        head += ", milder than before"
    elif sign > 0 and change < -0.02:
        head += ", less warm than before"
    elif not sign and abs(change) > 0.02:
        head += ", the mood eases towards neutral"
    shown = _short(text)
    reason = f"{head} — “{shown}”"
    # every cue keeps its reason and the words that raised it (those not already quoted above)
    for c in cues:
        if fitting and c is fitting[0]:
            if c.trigger not in shown:
                reason += f" (“{c.trigger}”)"
            continue
        reason += f"; {c.reason}: “{c.trigger}”"
    return reason


@dataclass
class MoodTracker:
    speaker: str = "customer"
    window: int = 3  # utterances over which the trend is judged
    cue_detector: Callable[[str, Sequence[str]], list] | None = None
    cue_memory: int = 2  # a cue colours the label for this many utterances
    points: list[_Point] = field(default_factory=list)

    def __post_init__(self):
        self._history: list[str] = []
        self._recent_cues: deque[list] = deque(maxlen=self.cue_memory)

    @property
    def score(self) -> float:
        return self.points[-1].smoothed if self.points else 0.0

    def _weight(self, utt: Utterance, sent: Sentiment) -> float:
        n_words = len(utt.text.split())
        alpha = 0.35 + 0.25 * min(1.0, n_words / 12)
        polar = 1.0 - sent.probs.get("neutral", 0.0)
        return alpha * (0.5 + 0.5 * polar)

    def _label(self, score: float, cues: list, heat: float = 1.0) -> str:
        kinds = {c.kind for cs in self._recent_cues for c in cs} | {c.kind for c in cues}
        if score <= NEGATIVE and heat >= FURIOUS:
            return "furious"
        if score <= NEGATIVE and ("anger" in kinds or heat >= ANGRY):
            return "angry"
        if "confusion" in {c.kind for c in cues} and score < 0.45:
            return "confused"
        if "worry" in {c.kind for c in cues} and score < 0.2:
            return "worried"
        if score <= -0.55:
            return "upset"
        if score <= NEGATIVE:
            return "annoyed" if heat < ANNOYED_BELOW else "frustrated"
        if score < POSITIVE:
            return "pleased" if "gratitude" in kinds and score > 0 else "neutral"
        if score < 0.45:
            return "pleased" if "gratitude" in kinds else "calm"
        return "pleased"

    def _next(self, utt: Utterance, sent: Sentiment) -> tuple[float, float]:
        """(smoothed score, smoothed heat) after this utterance."""
        if not self.points:
            return sent.score * (0.6 + 0.4 * (1.0 - sent.probs.get("neutral", 0.0))), sent.intensity
        w = self._weight(utt, sent)
        return ((1 - w) * self.score + w * sent.score,
                (1 - w) * self.points[-1].heat + w * sent.intensity)

    def preview(self, utt: Utterance, sent: Sentiment) -> ProvisionalMood:
        """The mood if the caller stopped after the words so far (`utt` holds a partial text);
        changes nothing."""
        cues = list(self.cue_detector(utt.text, tuple(self._history))) if self.cue_detector else []
        smoothed, heat = self._next(utt, sent)
        return ProvisionalMood(time=round(utt.end, 3), speaker=self.speaker, score=round(smoothed, 3),
                               label=self._label(smoothed, cues, heat), intensity=round(heat, 2),
                               text=utt.text)

    def update(self, utt: Utterance, sent: Sentiment) -> MoodState:
        cues = list(self.cue_detector(utt.text, tuple(self._history))) if self.cue_detector else []
        self._history.append(utt.text)
        prev = self.score
        smoothed, heat = self._next(utt, sent)
        max_prob = max(sent.probs.values()) if sent.probs else 0.5
        self.points.append(_Point(utt.end, sent.score, smoothed, max_prob, heat))
        label = self._label(smoothed, cues, heat)
        self._recent_cues.append(cues)

        recent = self.points[-self.window:]
        confidence = min(1.0, len(self.points) / self.window) * sum(p.max_prob for p in recent) / len(recent)
        base = self.points[-self.window - 1].smoothed if len(self.points) > self.window else self.points[0].smoothed
        trend = _TREND[mood_change(base, smoothed)] if len(self.points) > 1 else "steady"

        change = smoothed - prev if len(self.points) > 1 else smoothed
        reason = _reason(utt.text, sent, cues, change)
        return MoodState(time=round(utt.end, 3), speaker=self.speaker, score=round(smoothed, 3),
                         label=label, confidence=round(confidence, 3), trend=trend,
                         change=round(change, 3), utterance_id=utt.id, reason=reason,
                         cues=tuple({"kind": c.kind, "trigger": c.trigger, "reason": c.reason,
                                     "strength": round(c.strength, 3)} for c in cues),
                         intensity=round(heat, 2))


def call_scores(sentiments: Sequence[Sentiment], duration: float) -> list[CallScore]:
    """Per speaker: the -5..+5 score over the whole call and for each quarter of its duration."""
    out = []
    for speaker in sorted({s.speaker for s in sentiments}):
        mine = [s for s in sentiments if s.speaker == speaker]
        quarters: list[float | None] = []
        for q in range(4):
            lo, hi = duration * q / 4, duration * (q + 1) / 4
            qs = [s.score for s in mine if lo <= s.time < hi or (q == 3 and s.time >= hi)]
            quarters.append(round(5 * sum(qs) / len(qs), 2) if qs else None)
        overall = round(5 * sum(s.score for s in mine) / len(mine), 2)
        out.append(CallScore(time=round(duration, 3), speaker=speaker, overall=overall,
                             quarters=tuple(quarters)))
    return out
