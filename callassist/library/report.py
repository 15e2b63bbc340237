"""Call reports for coaches and QA reviewers: one call as a self-contained HTML page (the PDF is
made from the same HTML by `callassist.gui.pdf`), the mood curve as SVG, the library as CSV.

Everything here is plain Python (no Qt): the report is built from what the call library holds
for a call (its record with the flagged moments, its timeline and the coach's notes).
Every piece of text that comes from a call (transcript, titles, notes) is user data and is
escaped; the HTML loads nothing from outside (no links, scripts, fonts or images).
"""
from __future__ import annotations

import csv
import html
import io
import logging
import math
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..errors import CallAssistError
from ..paths import write_private
from ..core.events import (AGENT, CUSTOMER, CallerPoint, CallMetrics, CallScore, ChecklistItem, MoodState,
                     Utterance, WrapUp)
from .flags import KINDS, SEVERITY_COLOURS, Flag, compute_flags, worst_moment
from ..assist.metrics import call_metrics
from ..core.rules import NEGATIVE, POSITIVE, mood_band  # the caller's mood bands, shared with the tracker
from .service import CallRecord, Library
from ..core.timeline import Timeline

log = logging.getLogger(__name__)

SEVERITY_TINTS = {1: "#fff8e0", 2: "#fff0e0", 3: "#fde8e8"}
NOTE_COLOUR = "#2f6fdb"
CURVE_COLOUR = "#1f4e8c"
FONT = "DejaVu Sans, Arial, Helvetica, sans-serif"


# ---- the data of one report -------------------------------------------------------------------

@dataclass
class ReportData:
    record: CallRecord
    timeline: Timeline
    flags: list[Flag]
    notes: list[dict]
    scorecard: object | None = None  # assist.scorecard.CardResult, with the reviewers' answers
    rules: object | None = None  # assist.rulebook.Rulebook of the library (its checklist)

    def checklist(self, ticks) -> list[tuple[str, str, object]]:
        from ..assist.rulebook import Rulebook
        return (self.rules or Rulebook.builtin()).checklist_ticks(ticks)

    @classmethod
    def from_store(cls, store: Library, call_id: str) -> ReportData:
        record = store.get_call(call_id)
        timeline = store.load_timeline(call_id)
        flags = record.flags
        if flags is None:  # a call still live (or never finished): flag what there is
            flags = compute_flags(timeline, store.flag_settings, store.flag_rules())
        try:
            card = store.scorecard(call_id)
        except CallAssistError as exc:  # a broken form: the report says so, the rest is shown
            log.warning("scorecard left out of the report: %s", exc)
            card = None
        return cls(record=record, timeline=timeline, flags=list(flags),
                   notes=list(store.notes(call_id)), scorecard=card, rules=store.flag_rules())

    # -- derived values
    @property
    def title(self) -> str:
        src = self.source
        return (self.record.title or (Path(src).stem if src else "") or f"Call {self.record.id}")

    @property
    def source(self) -> str:
        return str(self.record.audio_path or self.record.source
                   or self.timeline.call.get("source") or "")

    @property
    def duration(self) -> float:
        d = self.record.duration or float(self.timeline.call.get("duration") or 0.0)
        ends = [u.end for u in self.timeline.utterances]
        return max(float(d or 0.0), max(ends, default=0.0))

    @property
    def utterances(self) -> list[Utterance]:
        return sorted(self.timeline.utterances, key=lambda u: (u.start, u.id))

    @property
    def moods(self) -> list[MoodState]:
        """The caller's mood over the call (all moods when no speaker is the customer)."""
        moods = self.timeline.moods
        return sorted([m for m in moods if m.speaker == CUSTOMER] or moods, key=lambda m: m.time)

    @property
    def metrics(self) -> CallMetrics | None:
        """The call's metrics: the last ones the pipeline sent, else computed from the words."""
        found = self.timeline.of(CallMetrics)
        if found:
            return max(found, key=lambda m: m.time)
        utts = self.timeline.utterances
        return call_metrics(utts, self.duration) if utts else None

    @property
    def scores(self) -> dict[str, CallScore]:
        out: dict[str, CallScore] = {}
        for s in sorted(self.timeline.call_scores, key=lambda s: s.time):
            out[s.speaker] = s  # the last score per speaker is the call's
        return out

    @property
    def numbered_flags(self) -> list[tuple[int, Flag]]:
        return list(enumerate(sorted(self.flags, key=lambda f: (f.time, -f.severity, f.kind)), 1))


# ---- small helpers ----------------------------------------------------------------------------

def fmt_time(seconds: float | None) -> str:
    """m:ss (h:mm:ss from an hour on)."""
    if seconds is None or not math.isfinite(seconds):
        return ""
    s = int(max(0.0, seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _fmt_started(started: str) -> str:
    try:
        dt = datetime.fromisoformat(started)
    except (TypeError, ValueError):
        return started or ""
    text = dt.strftime("%Y-%m-%d %H:%M")
    if dt.tzinfo is not None:
        off = dt.utcoffset()
        text += " UTC" if not off else " " + dt.strftime("%z")
    return text


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _speaker(name: str | None) -> str:
    return {AGENT: "Agent", CUSTOMER: "Caller"}.get(name or "", (name or "").capitalize())


def _mood_name(score: float | None) -> str:
    return mood_band(score) or ""


def _fmt_mood(score: float | None) -> str:
    return "–" if score is None else f"{score:+.2f} ({_mood_name(score)})"


def _utterance_at(utts: Sequence[Utterance], t: float) -> Utterance | None:
    """The utterance being spoken at `t`, else the last one started before it, else the first."""
    inside = [u for u in utts if u.start - 0.05 <= t <= u.end + 0.05]
    if inside:
        return inside[0]
    before = [u for u in utts if u.start <= t]
    return before[-1] if before else (utts[0] if utts else None)


def _mood_at(moods: Sequence[MoodState], t: float) -> float:
    """The mood curve's value at `t` (straight lines between points, flat beyond the ends)."""
    if not moods:
        return 0.0
    if t <= moods[0].time:
        return moods[0].score
    for a, b in zip(moods, moods[1:]):
        if a.time <= t <= b.time:
            if b.time == a.time:
                return b.score
            return a.score + (b.score - a.score) * (t - a.time) / (b.time - a.time)
    return moods[-1].score


# ---- the mood curve ---------------------------------------------------------------------------

def _tick_step(duration: float, width: float) -> float:
    most = max(2, int(width // 70))
    for step in (5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1800, 3600):
        if duration / step <= most:
            return step
    return 7200


def mood_svg(data: ReportData, width: int = 800, height: int = 220) -> str:
    """The caller's mood over the call as an SVG document: time across (m:ss), mood -1..+1 up,
    with the flagged moments (triangles; circles for low severity, coloured by severity) on the
    curve and the coach's notes as small squares on the time axis."""
    width, height = int(width), int(height)
    left, right, top, bottom = 66, 14, 12, 30
    pw, ph = max(10, width - left - right), max(10, height - top - bottom)
    duration = max(data.duration, 1.0)
    moods = data.moods

    def x(t: float) -> float:
        return round(left + pw * min(max(t, 0.0), duration) / duration, 2)

    def y(v: float) -> float:
        v = max(-1.08, min(1.08, v)) / 1.08  # a little room above +1 and below -1
        return round(top + ph * (1 - (v + 1) / 2), 2)

    font = f'font-family="{FONT}"'
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="Caller mood over the call">',
           '<title>Caller mood over the call</title>',
           f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>']
    # the bands: negative, neutral, positive
    bands = ((1.08, POSITIVE, "#e6f4ea", "positive", "#2e7d32"),
             (POSITIVE, NEGATIVE, "#f3f4f6", "neutral", "#555555"),
             (NEGATIVE, -1.08, "#fdecec", "negative", "#b3261e"))
    for hi, lo, fill, name, ink in bands:
        out.append(f'<rect class="band" x="{left}" y="{y(hi)}" width="{pw}" '
                   f'height="{round(y(lo) - y(hi), 2)}" fill="{fill}"/>')
        out.append(f'<text x="{left - 6}" y="{round((y(hi) + y(lo)) / 2 + 4, 2)}" '
                   f'text-anchor="end" font-size="11" fill="{ink}" {font}>{name}</text>')
    # the time axis
    step = _tick_step(duration, pw)
    t = 0.0
    while t <= duration + 1e-6:
        out.append(f'<line x1="{x(t)}" y1="{top}" x2="{x(t)}" y2="{top + ph}" stroke="#ffffff" '
                   f'stroke-width="1"/>')
        out.append(f'<line x1="{x(t)}" y1="{top + ph}" x2="{x(t)}" y2="{top + ph + 4}" '
                   f'stroke="#666666" stroke-width="1"/>')
        out.append(f'<text x="{x(t)}" y="{top + ph + 16}" text-anchor="middle" font-size="10" '
                   f'fill="#444444" {font}>{fmt_time(t)}</text>')
        t += step
    out.append(f'<line x1="{left}" y1="{y(0)}" x2="{left + pw}" y2="{y(0)}" stroke="#bbbbbb" '
               f'stroke-width="1" stroke-dasharray="3,3"/>')
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" '
               f'stroke="#999999" stroke-width="1"/>')
    # the caller's mood
    if moods:
        pts = [(x(m.time), y(m.score)) for m in moods]
        if moods[-1].time < duration:  # the mood stays where it was until the call ends
            out.append(f'<line x1="{pts[-1][0]}" y1="{pts[-1][1]}" x2="{x(duration)}" '
                       f'y2="{pts[-1][1]}" stroke="{CURVE_COLOUR}" stroke-width="1.5" '
                       f'stroke-dasharray="4,3"/>')
        if len(pts) > 1:
            out.append('<polyline class="mood" fill="none" stroke="' + CURVE_COLOUR + '" '
                       'stroke-width="2.2" stroke-linejoin="round" points="'
                       + " ".join(f"{a},{b}" for a, b in pts) + '"/>')
        for m, (a, b) in zip(moods, pts):
            out.append(f'<circle class="mood-point" cx="{a}" cy="{b}" r="2.6" '
                       f'fill="{CURVE_COLOUR}"><title>{fmt_time(m.time)} {_e(m.label)} '
                       f'{m.score:+.2f}</title></circle>')
    else:
        out.append(f'<text x="{left + pw / 2}" y="{y(0) - 8}" text-anchor="middle" font-size="12" '
                   f'fill="#666666" {font}>no mood measured for the caller</text>')
    # the flagged moments, on the curve (stacked upwards where they meet)
    placed: list[tuple[float, float]] = []
    for n, f in data.numbered_flags:
        cx, cy = x(f.time), y(_mood_at(moods, f.time))
        while any(abs(cx - px) < 9 and abs(cy - py) < 11 for px, py in placed):
            cy -= 12
        cy = max(cy, top + 6.0)
        placed.append((cx, cy))
        colour = SEVERITY_COLOURS.get(f.severity, SEVERITY_COLOURS[3])
        tip = f"#{n} {fmt_time(f.time)} {f.title} ({f.severity_name}): {f.reason}"
        attrs = (f'class="flag-marker" data-kind="{_e(f.kind)}" data-severity="{f.severity}" '
                 f'fill="{colour}" stroke="#ffffff" stroke-width="1"')
        if f.severity <= 1:
            shape = f'<circle {attrs} cx="{cx}" cy="{cy}" r="5">'
            end = "</circle>"
        else:
            r = 7 if f.severity >= 3 else 6
            shape = (f'<polygon {attrs} points="{cx},{round(cy - r, 2)} {round(cx + r * 0.9, 2)},'
                     f'{round(cy + r * 0.7, 2)} {round(cx - r * 0.9, 2)},{round(cy + r * 0.7, 2)}">')
            end = "</polygon>"
        out.append(f"{shape}<title>{_e(tip)}</title>{end}")
        out.append(f'<text class="flag-number" x="{round(cx + 6, 2)}" y="{round(cy - 2, 2)}" '
                   f'font-size="9" font-weight="bold" fill="{colour}" {font}>{n}</text>')
    # the coach's notes, on the time axis
    for i, note in enumerate(data.notes, 1):
        nx, ny = x(float(note.get("time") or 0.0)), top + ph
        out.append(f'<rect class="note-marker" x="{round(nx - 3.5, 2)}" y="{round(ny - 3.5, 2)}" '
                   f'width="7" height="7" fill="{NOTE_COLOUR}" stroke="#ffffff" stroke-width="1">'
                   f'<title>{_e("note %d at %s: %s" % (i, fmt_time(note.get("time")), note.get("text")))}'
                   f'</title></rect>')
    out.append("</svg>")
    return "\n".join(out)


# ---- the HTML report --------------------------------------------------------------------------

# CSS that Qt's rich-text engine (QTextDocument) understands: simple selectors, colours, fonts
_CSS_BASIC = f"""
body {{ font-family: {FONT}; font-size: 10pt; color: #1d1d1f; }}
h1 {{ font-size: 17pt; font-weight: bold; margin-bottom: 2px; }}
h2 {{ font-size: 12.5pt; font-weight: bold; color: #1f4e8c; margin-top: 16px; margin-bottom: 5px; }}
table.grid {{ border-collapse: collapse; border-color: #c3ccd8; border-style: solid; }}
th {{ background-color: #e8edf3; text-align: left; font-weight: bold; }}
td, th {{ vertical-align: top; }}
.muted {{ color: #666666; }}
.small {{ font-size: 8.5pt; }}
.key {{ color: #555555; }}
.num {{ text-align: right; }}
.sev1 {{ color: #9a6b00; font-weight: bold; }}
.warn {{ color: #9a6b00; }}
.sev2 {{ color: #c05a00; font-weight: bold; }}
.sev3 {{ color: #b3261e; font-weight: bold; }}
.note {{ color: {NOTE_COLOUR}; font-weight: bold; }}
.redacted {{ color: #7a4d00; background-color: #fff3cd; }}
.done {{ color: #2e7d32; font-weight: bold; }}
.missing {{ color: #b3261e; font-weight: bold; }}
"""
# and what a browser adds on top
_CSS_BROWSER = """
body { max-width: 60em; margin: 1.5em auto; padding: 0 1em; line-height: 1.35; }
table { margin: 0.2em 0 0.6em 0; }
table.grid td, table.grid th { border: 1px solid #d5dbe3; padding: 3px 7px; }
table.meta td { padding: 1px 14px 1px 0; }
svg { max-width: 100%; height: auto; display: block; }
tr.marked td { background-color: #fff8e6; }
.legend span { margin-right: 1.2em; }
@media print { body { max-width: none; margin: 0; } h2 { page-break-after: avoid; } }
"""


def _table(headers: Sequence[str], rows: Iterable[tuple[Sequence[str], str | None]],
           widths: Sequence[str] | None = None, css: str = "grid") -> str:
    """A table; cells are HTML already escaped. rows: (cells, row background or None)."""
    out = [f'<table class="{css}" width="100%" border="1" cellspacing="0" cellpadding="4">',
           "<thead><tr>"]
    for i, h in enumerate(headers):
        w = f' width="{widths[i]}"' if widths and widths[i] else ""
        out.append(f"<th{w}>{h}</th>")
    out.append("</tr></thead><tbody>")
    for cells, bg in rows:
        attr = f' bgcolor="{bg}" class="marked"' if bg else ""
        out.append(f"<tr{attr}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _kv_table(pairs: Sequence[tuple[str, str]]) -> str:
    rows = "".join(f'<tr><td class="key">{_e(k)}</td><td>{v}</td></tr>' for k, v in pairs)
    return f'<table class="meta" border="0" cellspacing="0" cellpadding="2">{rows}</table>'


def _sev_html(f: Flag) -> str:
    return f'<span class="sev{min(max(f.severity, 1), 3)}">{_e(f.severity_name)}</span>'


def _header(data: ReportData) -> list[str]:
    rec, call = data.record, data.timeline.call
    engine = call.get("engine_description") or call.get("engine") or ""
    src = data.source
    pairs = [("Started", _e(_fmt_started(rec.started or call.get("started") or ""))),
             ("Duration", _e(fmt_time(data.duration))),
             ("Agent", _e(rec.agent or call.get("agent") or "–")),
             ("Source file", _e(Path(src).name if src else "–")),
             ("Speech engine", _e(engine or "–")),
             ("Call id", _e(rec.id))]
    if rec.status and rec.status != "done":
        pairs.append(("Status", _e(rec.status)))
    if call.get("separation"):  # a mono recording: whose words are whose was worked out
        from ..audio.separated import describe
        level, line = describe(call["separation"])
        pairs.append(("Speakers", f'<span class="{"warn" if level == "warning" else ""}">'
                                  f'{_e(line[0].upper() + line[1:])}</span>'))
    out = [f"<h1>{_e(data.title)}</h1>",
           '<p class="muted small">CallAssist call report</p>', _kv_table(pairs)]
    if rec.redacted:
        out.append('<p class="redacted">&nbsp;Personal data redacted: card, account and phone '
                   'numbers, e-mail addresses and spoken digit sequences were removed from this '
                   'call before it was stored.&nbsp;</p>')
    if call.get("unreadable_events"):
        out.append(f'<p class="muted">{int(call["unreadable_events"])} stored events could not be '
                   f'read by this version and are left out.</p>')
    return out


def _metrics(data: ReportData) -> list[str]:
    m, scores = data.metrics, data.scores
    out = ["<h2>Call metrics</h2>"]
    speakers = sorted(set((m.talk_time if m else {})) | set(scores),
                      key=lambda s: (s != AGENT, s != CUSTOMER, s))
    if speakers:
        rows = []
        for sp in speakers:
            sc = scores.get(sp)
            q = (" ".join("–" if v is None else f"{v:+.1f}" for v in sc.quarters) if sc else "")
            rows.append(([
                _e(_speaker(sp)),
                _e(f"{m.talk_time[sp]:.0f} s" if m and sp in m.talk_time else "–"),
                _e(f"{m.words_per_minute[sp]:.0f}" if m and sp in m.words_per_minute else "–"),
                _e(str(m.interruptions.get(sp, 0)) if m else "–"),
                _e(f"{sc.overall:+.1f}" if sc else "–"),
                f'<span class="small">{_e(q)}</span>'], None))
        out.append(_table(["Speaker", "Talk time", "Words / min", "Interruptions",
                           "Call score", "Score by quarter"], rows,
                          ["14%", "13%", "14%", "16%", "15%", "28%"]))
        out.append('<p class="small muted">Call score: the sentiment of what each speaker said, '
                   'from −5 (very negative) to +5 (very positive), over the call and by quarter.'
                   '</p>')
    pairs = []
    if m is not None:
        pairs += [("Talk / listen ratio (agent : caller)",
                   _e(f"{m.talk_listen_ratio:.2f}" if m.talk_listen_ratio is not None else "–")),
                  ("Non-talk time", _e(f"{m.non_talk_time:.0f} s "
                                       f"({m.non_talk_time / max(data.duration, 1e-9):.0%} of the call)")),
                  ("Long silences (3 s or more)",
                   _e(f"{len(m.long_silences)}" + (": " + ", ".join(
                       f"{fmt_time(a)}–{fmt_time(b)}" for a, b in m.long_silences[:8])
                       + (" …" if len(m.long_silences) > 8 else "") if m.long_silences else ""))),
                  ("Overlapping speech", _e(f"{len(m.overlaps)} times"))]
    moods = data.moods
    start = data.record.mood_start if data.record.mood_start is not None else (
        moods[0].score if moods else None)
    end = data.record.mood_end if data.record.mood_end is not None else (
        moods[-1].score if moods else None)
    low = data.record.mood_min if data.record.mood_min is not None else (
        min(x.score for x in moods) if moods else None)
    low_at = min(moods, key=lambda x: x.score).time if moods else None
    pairs += [("Caller mood at the start", _e(_fmt_mood(start))),
              ("Caller mood at the end", _e(_fmt_mood(end))),
              ("Caller mood at its lowest", _e(_fmt_mood(low) + (f" at {fmt_time(low_at)}"
                                                                 if low_at is not None else "")))]
    out.append(_kv_table(pairs))
    return out


def _curve(data: ReportData, image_src: str | None, image_width: int | None) -> list[str]:
    out = ["<h2>Caller mood over the call</h2>"]
    if image_src is None:
        out.append(mood_svg(data))
    else:
        w = f' width="{int(image_width)}"' if image_width else ' width="680"'
        out.append(f'<p><img src="{_e(image_src)}"{w} alt="Caller mood over the call"/></p>')
    legend = "".join(
        f'<span class="sev{s}">{"●" if s == 1 else "▲"} {name}</span>&nbsp;&nbsp;&nbsp; '
        for s, name in ((3, "high"), (2, "medium"), (1, "low")))
    out.append(f'<p class="small legend">Flagged moments: {legend}<span class="note">■ coach '
               f'note</span>&nbsp;&nbsp;&nbsp; <span class="muted">Bands: negative ≤ {NEGATIVE:+.2f} '
               f'&lt; neutral &lt; {POSITIVE:+.2f} ≤ positive</span></p>')
    return out


def _flags_section(data: ReportData) -> list[str]:
    out = ["<h2>Flagged moments</h2>"]
    flags = data.numbered_flags
    if not flags:
        out.append('<p class="muted">Nothing flagged in this call.</p>')
        return out
    worst = worst_moment(data.flags)
    if worst is not None:
        out.append(f"<p>Start listening at <b>{_e(fmt_time(worst.time))}</b>: {_e(worst.title)} "
                   f"({_sev_html(worst)}).</p>")
    rows = [([_e(n), _e(f"{fmt_time(f.time)}–{fmt_time(f.end)}" if f.end - f.time >= 1 else
                         fmt_time(f.time)), _e(f.title), _sev_html(f), _e(f.reason)],
             SEVERITY_TINTS.get(f.severity) if f.severity >= 3 else None)
            for n, f in flags]
    out.append(_table(["#", "Time", "Moment", "Severity", "Why"], rows,
                      ["4%", "12%", "18%", "11%", "55%"]))
    return out


def _wrapup_section(data: ReportData) -> list[str]:
    """The wrap-up written at hang-up: each line with the moments of the call it was read from."""
    wraps = [w for w in data.timeline.of(WrapUp) if w.final]
    if not wraps:
        return []
    wrap = max(wraps, key=lambda w: w.time)
    at = {u.id: u.start for u in data.utterances}
    rows = []
    for line in wrap.lines:
        ids = [i for i in line.get("utterances", ()) if i in at]
        rows.append(([_e(line["text"]), _e(", ".join(fmt_time(at[i]) for i in ids) or "–")], None))
    out = [f"<h2>Wrap-up: {_e(wrap.code_label)} ({'resolved' if wrap.resolved else 'not resolved'})</h2>"]
    out.append(_table(["Summary", "Said at"], rows, ["80%", "20%"]))
    return out


def _scorecard_section(data: ReportData) -> list[str]:
    """The QA scorecard: each answer, whether a reviewer gave it, and the lines it rests on."""
    card = data.scorecard
    if card is None:
        return []
    score = card.score
    out = [f"<h2>QA scorecard: {_e(card.card.name)} — "
           f"{'–' if score is None else f'{score:.0f} %'}</h2>"]
    rows = []
    for a in card.answers:
        answer = "to review" if a.answer is None else str(a.answer)
        if a.review is not None:
            answer += f" (reviewer {a.review['reviewer']}" + \
                (f": {a.review['why']}" if a.review.get("why") else "") + \
                (f"; automatic: {a.auto}" if a.auto is not None and a.auto != a.answer else "") + ")"
        evidence = "; ".join(
            (f"{fmt_time(e['time'])} " if e.get("time") is not None else "") +
            (f"{_speaker(e['speaker'])}: " if e.get("speaker") else "") + f"“{e['text']}”"
            if e.get("utterance_id") is not None else e["text"] for e in a.evidence[:2])
        rows.append(([_e(a.section), _e(a.question.text), _e(answer), _e(evidence or "–")],
                     None))
    out.append(_table(["Section", "Question", "Answer", "Evidence"], rows,
                      ["14%", "30%", "18%", "38%"]))
    return out


def _notes_section(data: ReportData) -> list[str]:
    out = ["<h2>Coach notes</h2>"]
    if not data.notes:
        out.append('<p class="muted">No notes on this call.</p>')
        return out
    rows = [([_e(f"N{i}"), _e(fmt_time(n.get("time"))), _e(n.get("text")).replace("\n", "<br/>"),
              _e(n.get("author") or "–")], None) for i, n in enumerate(data.notes, 1)]
    out.append(_table(["#", "Time", "Note", "By"], rows, ["5%", "9%", "68%", "18%"]))
    return out


def _checklist_section(data: ReportData) -> list[str]:
    tl = data.timeline
    ticks = tl.of(ChecklistItem)
    points: dict[int, CallerPoint] = {}
    for p in sorted(tl.of(CallerPoint), key=lambda p: p.time):
        points[p.id] = p  # re-sent when addressed: the last state counts
    if not ticks and not points:
        return []
    out = ["<h2>Close-the-call checklist and the caller's points</h2>"]
    rows = []
    for _item, label, c in data.checklist(ticks):
        state = ('<span class="done">✓ done</span>' if c else '<span class="missing">✗ not done'
                 '</span>')
        rows.append(([state, _e(label), _e(f"{fmt_time(c.time)} “{c.evidence}”" if c else "")],
                     None))
    out.append(_table(["", "Checklist item", "When (what the agent said)"], rows,
                      ["14%", "40%", "46%"]))
    if points:
        utts = {u.id: u for u in tl.utterances}
        prows = []
        def said_at(p: CallerPoint) -> float:
            u = utts.get(p.utterance_id)
            return u.start if u else p.time

        for p in sorted(points.values(), key=lambda p: (said_at(p), p.id)):
            u = utts.get(p.utterance_id)
            by = utts.get(p.addressed_by) if p.addressed_by is not None else None
            state = ('<span class="done">addressed' + (f" at {_e(fmt_time(by.start))}" if by else "")
                     + "</span>") if p.addressed else '<span class="missing">open</span>'
            prows.append(([_e(fmt_time(u.start if u else p.time)), _e(p.category), _e(p.text),
                           state], None))
        out.append(_table(["Time", "Kind", "The caller's point", "Answered"], prows,
                          ["9%", "11%", "60%", "20%"]))
    return out


def _transcript(data: ReportData) -> list[str]:
    out = ["<h2>Transcript</h2>"]
    utts = data.utterances
    if not utts:
        out.append('<p class="muted">No speech was recognised in this call.</p>')
        return out
    marks: dict[int, list[str]] = {}
    worst: dict[int, int] = {}
    for n, f in data.numbered_flags:
        u = next((x for x in utts if x.id == f.utterance_id), None) \
            if f.utterance_id is not None else None
        u = u or _utterance_at(utts, f.time)
        if u is None:
            continue
        marks.setdefault(u.id, []).append(
            f'<span class="sev{min(max(f.severity, 1), 3)}">{"●" if f.severity <= 1 else "▲"}{n}'
            f'</span>')
        worst[u.id] = max(worst.get(u.id, 0), f.severity)
    noted: set[int] = set()
    for i, note in enumerate(data.notes, 1):
        u = _utterance_at(utts, float(note.get("time") or 0.0))
        if u is not None:
            marks.setdefault(u.id, []).append(f'<span class="note">■N{i}</span>')
            noted.add(u.id)
    mood_of = {m.utterance_id: m for m in data.timeline.moods}
    rows = []
    for u in utts:
        m = mood_of.get(u.id) if u.speaker == CUSTOMER else None
        mood = (f'<span class="small muted">{_e(m.label)} {m.score:+.2f}</span>' if m else "")
        text = _e(u.text)
        bg = None
        if u.id in worst:
            bg = SEVERITY_TINTS.get(worst[u.id], SEVERITY_TINTS[3])
        elif u.id in noted:
            bg = "#eaf1fd"
        speaker = _e(_speaker(u.speaker))
        if u.speaker == CUSTOMER:
            speaker = f"<b>{speaker}</b>"
        rows.append(([_e(fmt_time(u.start)), speaker, text, mood, " ".join(marks.get(u.id, []))],
                     bg))
    out.append(_table(["Time", "Speaker", "What was said", "Caller mood", "Marks"], rows,
                      ["7%", "11%", "57%", "13%", "12%"]))
    out.append('<p class="small muted">Marks: ▲/● flagged moment (number as in the table of '
               'flagged moments, coloured by severity), ■N coach note.</p>')
    return out


def html_report(data: ReportData, *, image_src: str | None = None,
                image_width: int | None = None) -> str:
    """The call's report as one self-contained HTML document (see the module's docstring).

    With `image_src` the mood curve is an <img> (`image_width` pixels wide) rather than inline
    SVG, and the styles are only those Qt's rich-text engine renders (for the PDF)."""
    css = _CSS_BASIC + ("" if image_src is not None else _CSS_BROWSER)
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8"/>',
             '<meta name="generator" content="CallAssist"/>',
             f"<title>{_e(data.title)} – call report</title>", f"<style>{css}</style>", "</head>",
             "<body>"]
    parts += _header(data)
    parts += _metrics(data)
    parts += _wrapup_section(data)
    parts += _curve(data, image_src, image_width)
    parts += _flags_section(data)
    parts += _scorecard_section(data)
    parts += _notes_section(data)
    parts += _checklist_section(data)
    parts += _transcript(data)
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"


# ---- writing files ----------------------------------------------------------------------------

def _write_error(path: Path, what: str, exc: OSError) -> CallAssistError:
    folder = path.parent
    if path.is_dir():
        example = path / ("report." + what.split()[0].lower())
        return CallAssistError(f"cannot write the {what} to {path}: it is a folder; give a file "
                               f"name, e.g. {example}")
    if not folder.exists():
        return CallAssistError(f"cannot write the {what} to {path}: the folder {folder} does not "
                               f"exist; create it or choose another file")
    if isinstance(exc, PermissionError):
        return CallAssistError(f"cannot write the {what} to {path} (permission denied): choose "
                               f"a folder you can write to")
    return CallAssistError(f"cannot write the {what} to {path} ({exc.strerror or exc}): "
                           f"choose another file")


def write_bytes_atomic(path: str | os.PathLike, data: bytes, what: str = "report") -> None:
    """Write `data` to `path` through a temporary file in the same folder, so a failed write
    never leaves half a file; the file is readable by its owner only (a report holds what the
    caller said), also when it replaces a wider one. A path the user cannot write is a
    CallAssistError."""
    path = Path(path).expanduser()
    try:
        if path.is_dir():
            raise IsADirectoryError(21, "is a folder")
        write_private(path, data)
    except OSError as exc:
        raise _write_error(path, what, exc) from None


def write_html(data: ReportData, path) -> None:
    """The HTML report, written atomically (utf-8)."""
    write_bytes_atomic(path, html_report(data).encode("utf-8"), "HTML report")


# ---- the library as CSV -----------------------------------------------------------------------

CSV_COLUMNS = ["id", "started", "title", "agent", "source", "audio_path", "status", "duration_s",
               "utterances", "mood_start", "mood_end", "mood_min", "flags",
               *[f"flags_{kind}" for kind in KINDS],
               "worst_time", "worst_kind", "worst_severity", "worst_reason"]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _safe(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _num(value: float | None, digits: int) -> Any:
    return "" if value is None else round(float(value), digits)


def csv_row(rec: CallRecord) -> list[Any]:
    flags = rec.flags
    counts = rec.flag_counts
    worst = rec.worst
    row: list[Any] = [
        _safe(rec.id), _safe(rec.started or ""), _safe(rec.title or ""), _safe(rec.agent or ""),
        _safe(rec.source or ""), _safe(rec.audio_path or ""), _safe(rec.status or ""),
        _num(rec.duration, 1), int(rec.utterances or 0), _num(rec.mood_start, 2),
        _num(rec.mood_end, 2), _num(rec.mood_min, 2),
        "" if flags is None else len(flags),
        *["" if flags is None else counts.get(kind, 0) for kind in KINDS],
        _num(worst.time, 1) if worst else "", _safe(worst.kind) if worst else "",
        worst.severity if worst else "", _safe(worst.reason) if worst else ""]
    return row


def write_csv(records: Iterable[CallRecord], path, card=None,
              reviewed: dict[str, dict] | None = None) -> None:
    """One row per call (columns: CSV_COLUMNS), utf-8 with a header row, written atomically.
    Flag kinds that are not known here are counted in `flags` only. With the QA `card`
    (assist.scorecard.Scorecard) and the reviewers' answers (call id -> {question: answer}):
    the call's QA score and each question's answer too (the reviewer's where there is one);
    empty for a call stored without its card."""
    from ..assist.scorecard import result_from_answers
    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    questions = card.questions if card is not None else []
    w.writerow(CSV_COLUMNS + (["qa_score"] + [f"qa_{q.id}" for q in questions] if card else []))
    for rec in records:
        row = csv_row(rec)
        if card is not None:
            stored = rec.scorecard if rec.scorecard and rec.scorecard.get("card") == card.name \
                else None
            if stored is None:
                row += [""] * (1 + len(questions))
            else:
                result = result_from_answers(card, stored["auto"], (reviewed or {}).get(rec.id))
                score = result.score
                row += ["" if score is None else score] + [
                    "" if a.answer is None else a.answer for a in result.answers]
        w.writerow(row)
    write_bytes_atomic(path, buf.getvalue().encode("utf-8"), "CSV file")
