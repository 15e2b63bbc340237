"""Call metrics contact-centre tools report: talk time per speaker, talk/listen ratio, non-talk
time and silences over 3 s, overlaps and interruptions, speaking pace."""
from __future__ import annotations

from typing import Sequence

from ..core.events import AGENT, CUSTOMER, CallMetrics, Utterance

WORD_GAP = 0.5  # pauses shorter than this inside speech count as talking
LONG_SILENCE = 3.0
MIN_OVERLAP = 0.3


def speech_intervals(utts: Sequence[Utterance]) -> list[tuple[float, float]]:
    spans: list[tuple[float, float]] = []
    for u in utts:
        parts = [(w.start, w.end) for w in u.words] or [(u.start, u.end)]
        for s, e in parts:
            if spans and s - spans[-1][1] < WORD_GAP:
                spans[-1] = (spans[-1][0], max(spans[-1][1], e))
            else:
                spans.append((s, e))
    return spans


def _union(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for s, e in sorted(spans):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def call_metrics(utterances: Sequence[Utterance], duration: float, time: float | None = None) -> CallMetrics:
    by: dict[str, list[Utterance]] = {}
    for u in sorted(utterances, key=lambda u: u.start):
        by.setdefault(u.speaker, []).append(u)
    spans = {sp: speech_intervals(us) for sp, us in by.items()}
    talk = {sp: round(sum(e - s for s, e in iv), 2) for sp, iv in spans.items()}
    allspeech = _union([x for iv in spans.values() for x in iv])
    non_talk = max(0.0, duration - sum(e - s for s, e in allspeech))
    silences = tuple((round(a[1], 2), round(b[0], 2)) for a, b in zip(allspeech, allspeech[1:])
                     if b[0] - a[1] >= LONG_SILENCE)
    overlaps, interruptions = [], {sp: 0 for sp in spans}
    speakers = sorted(spans)
    for i, a in enumerate(speakers):
        for b in speakers[i + 1:]:
            for s1, e1 in spans[a]:
                for s2, e2 in spans[b]:
                    lo, hi = max(s1, s2), min(e1, e2)
                    if hi - lo >= MIN_OVERLAP:
                        overlaps.append((round(lo, 2), round(hi, 2)))
                        interruptions[b if s2 > s1 else a] += 1
    wpm = {sp: round(sum(len(u.words) or len(u.text.split()) for u in by[sp]) / (talk[sp] / 60), 1)
           for sp in by if talk[sp] > 0}
    agent, cust = talk.get(AGENT), talk.get(CUSTOMER)
    ratio = round(agent / cust, 2) if agent is not None and cust else None
    return CallMetrics(time=round(duration if time is None else time, 3), talk_time=talk,
                       talk_listen_ratio=ratio, non_talk_time=round(non_talk, 2),
                       long_silences=silences, overlaps=tuple(sorted(overlaps)),
                       interruptions=interruptions, words_per_minute=wpm)
