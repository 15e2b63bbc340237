"""A rule is defined once (callassist.core.rules): every stage that reads it gives the same answer.

A caller who asks for a manager gets the anger cue, the escalation advice and the escalation flag,
or none of the three; a call ending at a given mood is in the same band in the tracker, the flags,
the report and the QA list.
"""
import pytest

from callassist.assist.assistant import Assistant
from callassist.core import rules
from callassist.core.events import CUSTOMER, EscalationAdvice, Sentiment, Utterance, Word
from callassist.core.timeline import Timeline
from callassist.library.flags import compute_flags
from callassist.mood.cues import detect_cues
from callassist.mood.tracker import MoodTracker

ASKS = [
    "I want a manager",
    "I demand a supervisor!",
    "Put me through to a team leader.",
    "Can I speak to someone senior?",
    "Get me your boss.",
]
HARMLESS = [
    "My manager told me to call you about the invoice.",
    "I am the team leader for our office.",
    "How do I turn off the supervisor mode on the router?",
    "I don't want a manager, I just want it fixed.",
]


def recogniser(text):
    """How a speech recogniser writes a line: lower case, no punctuation, no apostrophes."""
    return rules.plain_text(text)


def _utterance(i, text, start):
    ws = text.split()
    words = tuple(Word(w, start + k * 0.3, start + k * 0.3 + 0.25, 0.9) for k, w in enumerate(ws))
    return Utterance(id=i, speaker=CUSTOMER, text=text, start=start, end=start + 0.3 * len(ws),
                     words=words)


def _sentiment(utt, score):
    neg = (1 - score) / 2
    return Sentiment(utterance_id=utt.id, speaker=CUSTOMER, time=utt.end,
                     label="negative" if score < 0 else "positive", score=score,
                     probs={"negative": neg, "neutral": 0.0, "positive": 1 - neg})


def run_call(lines, scores=None):
    """The caller's lines through the real mood tracker (with the cue detector) and assistant:
    the call's timeline, as the pipeline records it."""
    tracker = MoodTracker(cue_detector=detect_cues)
    assistant = Assistant(None, None)
    tl = Timeline(call={"id": "t"}, events=[])
    for i, line in enumerate(lines, 1):
        utt = _utterance(i, line, 10.0 * i)
        mood = tracker.update(utt, _sentiment(utt, (scores or {}).get(i, -0.1)))
        for ev in [utt, mood, *assistant.on_caller(utt, mood)]:
            tl(ev)
    tl.call["duration"] = 10.0 * (len(lines) + 1)
    return tl


def verdicts(line):
    """(anger cue for a manager?, escalation advised?, escalation flag?) for one caller line."""
    tl = run_call(["Hello, I'm calling about my order.", line])
    cue = any(c["reason"] == rules.ASKS_FOR_SENIOR.name for m in tl.moods for c in m.cues)
    advised = any(e.trigger == "requested" for e in tl.of(EscalationAdvice))
    flagged = any(f.kind == "escalation" for f in compute_flags(tl))
    return cue, advised, flagged


@pytest.mark.parametrize("line", ASKS + [recogniser(x) for x in ASKS])
def test_asking_for_someone_senior_gives_cue_advice_and_flag(line):
    assert verdicts(line) == (True, True, True)


@pytest.mark.parametrize("line", HARMLESS + [recogniser(x) for x in HARMLESS])
def test_harmless_mentions_of_a_manager_give_none_of_the_three(line):
    assert verdicts(line) == (False, False, False)


def test_the_request_is_one_escalation_flag_not_also_an_anger_flag():
    tl = run_call(["Hello, I'm calling about my order.", "I want a manager"], {2: -0.7})
    flags = compute_flags(tl)
    assert [f.kind for f in flags if f.kind in ("escalation", "anger")] == ["escalation"]
    assert "want a manager" in next(f for f in flags if f.kind == "escalation").reason


def test_a_call_recorded_without_the_advice_is_flagged_when_reflagged():
    """A timeline analysed before the rule knew a phrasing has no advice; re-flagging finds it."""
    tl = run_call(["Hello, I'm calling about my order.", "i demand a supervisor"])
    old = Timeline(call=tl.call, events=[e for e in tl.events if not isinstance(e, EscalationAdvice)])
    (flag,) = [f for f in compute_flags(old) if f.kind == "escalation"]
    assert flag.utterance_id == 2 and flag.severity == 3 and "demand a supervisor" in flag.reason


@pytest.mark.parametrize("line, rule, hit", [
    ("let me check that, one moment please", rules.HOLD, "let me check"),
    ("could you hold for me", rules.HOLD, "could you hold"),
    ("I can't see a second payment on our side.", rules.HOLD, None),
    ("I'm afraid that isn't covered.", rules.BAD_NEWS, "im afraid"),
    ("im afraid that isnt covered", rules.BAD_NEWS, "im afraid"),
    ("No, that's all, thanks. Bye!", rules.CLOSING, "no thats"),
    ("I'm going to cancel my account.", rules.CANCEL_THREAT, "going to cancel"),
    ("I don't want to cancel my account.", rules.CANCEL_THREAT, None),
])
def test_phrases_match_written_and_recognised_text_alike(line, rule, hit):
    assert rule.find(line) == hit
    assert rule.find(recogniser(line)) == hit


def _ended_at(score):
    """A call whose caller mood ends at `score`: its timeline, through the real tracker."""
    return run_call(["Hello, I'm calling about my order.", "It still does not work."],
                    {1: score, 2: score})


@pytest.mark.parametrize("end, band", [(-0.25, "negative"), (0.0, "neutral"), (0.18, "positive")])
def test_tracker_flags_report_and_qa_list_agree_on_the_band_a_call_ends_in(qapp, end, band):
    from PySide6.QtCore import Qt

    from callassist.gui.library_view import COLUMNS, CallFilter, CallTableModel
    from callassist.library import report
    from callassist.library.service import CallRecord

    tl = _ended_at(end)
    final = tl.moods[-1]
    assert final.score == pytest.approx(end)
    # the tracker labels it
    tracker_band = ("negative" if final.label in rules.NEGATIVE_LABELS
                    else "positive" if final.label in ("calm", "pleased") else "neutral")
    # the flags call it still negative at the end (or not)
    unresolved = [f for f in compute_flags(tl) if f.kind == "unresolved"]
    flags_negative = bool(unresolved) and "still negative at the end" in unresolved[0].reason
    # the report names it
    report_band = report._mood_name(final.score)
    # the QA list filters and colours it
    rec = CallRecord(id="c", source="t", started="2024-05-01T10:00:00+00:00", status="done",
                     duration=30.0, audio_path=None, title="t", agent=None,
                     mood_start=tl.moods[0].score, mood_end=final.score, mood_min=final.score, flags=[])
    model = CallTableModel()
    model.set_records([rec])
    proxy = CallFilter()
    proxy.setSourceModel(model)
    shown = {}
    for name in ("ended_negative", "ended_positive"):
        proxy.set_filters(mood=name)
        shown[name] = proxy.rowCount() == 1
    colour = model.data(model.index(0, COLUMNS.index("Mood end")), Qt.ForegroundRole)
    colour = colour.color().name() if colour is not None else None
    qa_band = ("negative" if shown["ended_negative"] else "positive" if shown["ended_positive"]
               else "neutral")

    assert tracker_band == report_band == qa_band == rules.mood_band(end) == band
    assert flags_negative == (band == "negative")
    assert colour == {"negative": "#c62828", "positive": "#2e7d32", "neutral": None}[band]
