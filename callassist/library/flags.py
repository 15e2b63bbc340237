"""Flagged moments: the parts of a call a coach or QA reviewer should look at, from its timeline.

Computed from the events every call already has (utterances, the caller's mood with its cues,
escalation advice, coaching tips, the checklist and the caller's points), so live calls,
recovered calls and imported recordings are flagged the same way, and re-flagged when the
thresholds change. Each flag has a time (where to start listening), an end, a severity
(1 low, 2 medium, 3 high) and a reason a person can read.

Each kind is a built-in rule with a moment detector (content/builtin_rules.yaml), run here by
name: a centre switches a kind off in its rules file (or in the rules editor) like any rule.
Rules of the centre's own with a `flag` flag their matches too (kind "rule").

Kinds:
  mood_drop       the caller's mood fell sharply from one utterance to the next
  negative_mood   the caller's mood stayed negative for a long stretch
  anger           anger cues (fed up, threats, repeat calls) in what the caller said
  escalation      the caller asked for a manager, or the assistant advised a transfer
  silence         a long silence or hold (nobody speaking)
  interruption    one speaker talked over the other
  agent_language  negative phrasing by the agent (“calm down”, “that's our policy”)
  unresolved      the call ended with the caller still unhappy or their problem not dealt with
"""
from __future__ import annotations

import bisect
from dataclasses import asdict, dataclass, fields
from typing import Any, Iterable, Sequence

from ..errors import ConfigError
from ..assist.escalation import request_reason
from ..core.events import (AGENT, CUSTOMER, CallerPoint, ChecklistItem, CoachingTip, EscalationAdvice,
                     MoodState, RuleMatch, Utterance)
from ..assist.metrics import speech_intervals
from ..core.rules import ASKS_FOR_SENIOR, HOLD, NEGATIVE, POSITIVE, VERY_NEGATIVE
from ..core.timeline import Timeline

KINDS: dict[str, str] = {
    "escalation": "Escalation",
    "anger": "Anger",
    "negative_mood": "Sustained negative mood",
    "mood_drop": "Sharp mood drop",
    "unresolved": "Unresolved close",
    "agent_language": "Agent negative language",
    "silence": "Long silence / hold",
    "interruption": "Interruption",
    "rule": "Centre rule",  # a rule of content/rules.yaml with a flag (its name is the title)
}
_RANK = {kind: len(KINDS) - i for i, kind in enumerate(KINDS)}  # tie-break for the worst moment
SEVERITY = {1: "low", 2: "medium", 3: "high"}
SEVERITY_COLOURS = {1: "#f9a825", 2: "#ef6c00", 3: "#c62828"}  # amber, orange, red


@dataclass(frozen=True)
class Flag:
    kind: str
    time: float  # where the moment starts (seek here to hear it)
    end: float
    severity: int  # 1 low, 2 medium, 3 high
    reason: str
    speaker: str | None = None
    utterance_id: int | None = None
    label: str = ""  # a rule's flag: the rule's name

    @property
    def title(self) -> str:
        return self.label or KINDS.get(self.kind, self.kind)

    @property
    def severity_name(self) -> str:
        return SEVERITY.get(self.severity, str(self.severity))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Flag:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class FlagSettings:
    """Thresholds; set them in config.toml under [flags], e.g. `silence_seconds = 15`."""

    mood_drop: float = 0.45  # fall of the caller's mood score between two utterances
    negative_mood: float = NEGATIVE  # mood at or below this counts as negative
    negative_seconds: float = 30.0  # ... for at least this long -> negative_mood flag
    anger_strength: float = 0.6  # weakest anger cue that is flagged
    silence_seconds: float = 8.0  # nobody speaking this long -> silence/hold flag
    interruption_seconds: float = 0.8  # overlap that counts as talking over someone
    resolved_mood: float = POSITIVE  # a call ending at or above this mood counts as resolved
    kinds: tuple[str, ...] = tuple(KINDS)  # which kinds to flag

    def __post_init__(self):
        self.kinds = tuple(self.kinds)
        unknown = sorted(set(self.kinds) - set(KINDS))
        if unknown:
            raise ConfigError(f"unknown flag kind(s) {', '.join(unknown)} in the flag settings; "
                              f"known: {', '.join(KINDS)}")
        for name in ("negative_seconds", "silence_seconds", "interruption_seconds", "mood_drop",
                     "anger_strength"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value <= 0:
                raise ConfigError(f"flag setting {name} must be a positive number (got {value!r})")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> FlagSettings:
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown flag setting(s) {', '.join(unknown)} in [flags]; "
                              f"known: {', '.join(sorted(known))}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["kinds"] = list(self.kinds)
        return d


def _utt_index(utts: Sequence[Utterance]) -> dict[int, Utterance]:
    return {u.id: u for u in utts}


def _short(text: str, n: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def _mood_flags(moods: Sequence[MoodState], utts: dict[int, Utterance], s: FlagSettings,
                duration: float) -> list[Flag]:
    out: list[Flag] = []
    start = lambda m: utts[m.utterance_id].start if m.utterance_id in utts else m.time  # noqa: E731
    for prev, cur in zip(moods, moods[1:]):
        drop = prev.score - cur.score
        if drop >= s.mood_drop:
            sev = 3 if drop >= 2 * s.mood_drop else 2
            said = utts.get(cur.utterance_id)
            out.append(Flag("mood_drop", start(cur), cur.time, sev,
                            f"caller's mood fell {prev.score:+.2f} → {cur.score:+.2f}"
                            + (f" after “{_short(said.text)}”" if said else ""),
                            cur.speaker, cur.utterance_id))
    run: list[MoodState] = []
    for m in list(moods) + [None]:
        if m is not None and m.score <= s.negative_mood:
            run.append(m)
            continue
        if run:
            t0 = start(run[0])
            t1 = run[-1].time if m is not None else max(run[-1].time, duration)
            if t1 - t0 >= s.negative_seconds:
                worst = min(x.score for x in run)
                ended = m is None
                sev = 3 if ended or t1 - t0 >= 3 * s.negative_seconds else 2
                out.append(Flag("negative_mood", t0, t1, sev,
                                f"caller negative for {t1 - t0:.0f} s (lowest {worst:+.2f})"
                                + ("; still negative at the end of the call" if ended else ""),
                                run[0].speaker, run[0].utterance_id))
            run = []
    return out


def _anger_flags(moods: Sequence[MoodState], escalations: Sequence[EscalationAdvice],
                 utts: dict[int, Utterance], s: FlagSettings, requests: bool = True) -> list[Flag]:
    """`requests`: whether a caller's request for a manager is looked for (the rule that
    advises a transfer for it is on)."""
    out: list[Flag] = []
    escalated = {}
    for e in escalations:
        u = utts.get(e.utterance_id)
        sev = 3 if e.trigger == "requested" else 2
        escalated[e.utterance_id] = sev
        out.append(Flag("escalation", u.start if u else e.time, u.end if u else e.time, sev,
                        e.reason, u.speaker if u else None, e.utterance_id))
    if requests and not any(e.trigger == "requested" for e in escalations):
        # No advice for a request (a call analysed before the rule knew this phrasing): the flag
        # follows the rule, not the advice recorded then, so re-flagging the call finds it.
        for u in sorted(utts.values(), key=lambda u: u.start):
            asked = u.speaker == CUSTOMER and u.id not in escalated and ASKS_FOR_SENIOR.find(u.text)
            if asked:
                escalated[u.id] = 3
                out.append(Flag("escalation", u.start, u.end, 3, request_reason(asked), u.speaker, u.id))
                break
    for m in moods:
        cues = [c for c in m.cues if c.get("kind") == "anger"
                and float(c.get("strength", 0)) >= s.anger_strength]
        if m.utterance_id in escalated:  # the request for a manager is the escalation flag
            cues = [c for c in cues if not ASKS_FOR_SENIOR.find(str(c.get("trigger")))]
        if not cues:
            continue
        u = utts.get(m.utterance_id)
        strongest = max(float(c.get("strength", 0)) for c in cues)
        sev = 3 if strongest >= 0.85 else 2 if strongest >= 0.7 or m.score <= VERY_NEGATIVE else 1
        why = "; ".join(f"{c.get('reason', 'anger')}: “{c.get('trigger', '')}”" for c in cues)
        out.append(Flag("anger", u.start if u else m.time, m.time, sev, why, m.speaker,
                        m.utterance_id))
    return out


def _silence_flags(utts: Sequence[Utterance], s: FlagSettings, duration: float) -> list[Flag]:
    spans = sorted(speech_intervals(utts))
    merged: list[list[float]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    out = []
    for (_, gap_start), (gap_end, _) in zip(merged, merged[1:]):
        gap = gap_end - gap_start
        if gap < s.silence_seconds:
            continue
        before = [u for u in utts if u.end <= gap_start + 0.05 and u.end >= gap_start - 15]
        hold = any(u.speaker == AGENT and HOLD.find(u.text) for u in before)
        sev = 3 if gap >= 6 * s.silence_seconds else 2 if gap >= 2 * s.silence_seconds else 1
        what = "hold" if hold else "silence"
        out.append(Flag("silence", round(gap_start, 3), round(gap_end, 3), sev,
                        f"{gap:.0f} s {what}" + (" after the agent put the caller on hold"
                                                 if hold else " with nobody speaking")))
    return out


def _interruption_flags(utts: Sequence[Utterance], s: FlagSettings) -> list[Flag]:
    by: dict[str, list[Utterance]] = {}
    for u in utts:
        by.setdefault(u.speaker, []).append(u)
    out = []
    speakers = sorted(by)
    for a in speakers:
        for b in speakers:
            if a == b:
                continue
            starts = [u.start for u in by[b]]  # sorted: utts come in start order
            for ua in by[a]:  # b starts while a is talking and they overlap long enough
                lo, hi = bisect.bisect_right(starts, ua.start), bisect.bisect_left(starts, ua.end)
                for ub in by[b][lo:hi]:
                    overlap = min(ua.end, ub.end) - ub.start
                    spans_a = speech_intervals([ua])
                    spans_b = speech_intervals([ub])
                    talk_over = sum(max(0.0, min(e1, e2) - max(s1, s2))
                                    for s1, e1 in spans_a for s2, e2 in spans_b)
                    if overlap < s.interruption_seconds or talk_over < s.interruption_seconds:
                        continue
                    sev = 2 if b == AGENT else 1
                    who = "the agent" if b == AGENT else "the caller" if b == CUSTOMER else b
                    whom = "the caller" if a == CUSTOMER else "the agent" if a == AGENT else a
                    out.append(Flag("interruption", round(ub.start, 3), round(min(ua.end, ub.end), 3),
                                    sev, f"{who} talked over {whom} for {talk_over:.1f} s: "
                                         f"“{_short(ub.text, 40)}”", b, ub.id))
    return out


def _language_flags(tips: Sequence[CoachingTip], utts: dict[int, Utterance]) -> list[Flag]:
    out = []
    for tip in tips:
        u = utts.get(tip.utterance_id)
        sev = 2 if tip.category in ("calm down", "blame", "not my job", "nothing I can do") else 1
        out.append(Flag("agent_language", u.start if u else tip.time, u.end if u else tip.time, sev,
                        f"agent said “{tip.said}” ({tip.category}): {tip.suggestion}",
                        AGENT, tip.utterance_id))
    return out


def _rule_flags(matches: Sequence[RuleMatch], utts: dict[int, Utterance]) -> list[Flag]:
    out = []
    for m in matches:
        if not m.flag:
            continue
        u = utts.get(m.utterance_id) if m.utterance_id is not None else None
        out.append(Flag("rule", u.start if u else m.time, u.end if u else m.time, m.flag,
                        f"{m.name}: “{_short(m.evidence)}”" if u else f"{m.name}: {m.evidence}",
                        m.speaker, m.utterance_id, label=m.name))
    return out


def _unresolved_flag(tl: Timeline, moods: Sequence[MoodState], s: FlagSettings,
                     duration: float) -> list[Flag]:
    caller = [u for u in tl.utterances if u.speaker == CUSTOMER]
    if not caller:
        return []
    final = moods[-1].score if moods else None
    points: dict[int, CallerPoint] = {}
    for p in tl.of(CallerPoint):
        points[p.id] = p  # re-sent when addressed: the last one counts
    open_points = [p for p in points.values() if not p.addressed and p.category in ("issue", "request")]
    resolved = any(c.item == "resolved" and c.done for c in tl.of(ChecklistItem))
    if final is not None and final >= s.resolved_mood:
        return []
    reasons = []
    if final is not None and final <= s.negative_mood:
        sev = 3
        reasons.append(f"the caller was still negative at the end ({final:+.2f})")
    else:
        if not open_points and resolved:
            return []
        sev = 2 if open_points else 1
        if final is not None:
            reasons.append(f"the caller was not positive at the end ({final:+.2f})")
    if open_points:
        reasons.append(f"{len(open_points)} of the caller's points were not addressed "
                       f"(“{_short(open_points[0].text, 40)}”)")
    if not resolved:
        reasons.append("the agent did not confirm the problem was solved")
    last = caller[-1]
    return [Flag("unresolved", last.start, round(max(duration, last.end), 3), sev,
                 "; ".join(reasons), CUSTOMER, last.id)]


def compute_flags(timeline: Timeline, settings: FlagSettings | None = None,
                  rules=None) -> list[Flag]:
    """Every flagged moment of a call, in time order: the moments of the kinds the active rules
    flag (`rules`, an assist.rulebook.Rulebook; default the built-in rules, where each kind is a
    rule with a moment detector) and the settings keep, and the moments the centre's own rules
    flagged in the call."""
    s = settings or FlagSettings()
    if rules is None:
        from ..assist.rulebook import Rulebook
        rules = Rulebook.builtin()
    on = (set(rules.moment_kinds()) | {"rule"}) & set(s.kinds)
    utts = sorted(timeline.utterances, key=lambda u: u.start)
    by_id = _utt_index(utts)
    moods = [m for m in timeline.moods if m.speaker == CUSTOMER] or timeline.moods
    duration = float(timeline.call.get("duration") or (max((u.end for u in utts), default=0.0)))
    flags: list[Flag] = []
    flags += _mood_flags(moods, by_id, s, duration)
    requests = any(r.item.detector == "asks_for_senior" and r.item.then.escalate
                   for r in rules.active)
    flags += _anger_flags(moods, timeline.of(EscalationAdvice), by_id, s, requests)
    flags += _silence_flags(utts, s, duration)
    flags += _interruption_flags(utts, s)
    flags += _language_flags(timeline.of(CoachingTip), by_id)
    flags += _unresolved_flag(timeline, moods, s, duration)
    flags += _rule_flags(timeline.of(RuleMatch), by_id)
    flags = [f for f in flags if f.kind in on]
    return sorted(flags, key=lambda f: (f.time, -f.severity, f.kind))


def worst_moment(flags: Iterable[Flag]) -> Flag | None:
    """The flag to open a call at: the most severe, then the most serious kind, then the earliest."""
    return max(flags, key=lambda f: (f.severity, _RANK.get(f.kind, 0), -f.time), default=None)


def flag_counts(flags: Iterable[Flag]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for f in flags:
        counts[f.kind] = counts.get(f.kind, 0) + 1
    return counts
