"""Mood tracker unit tests with hand-made sentiment events (the model is tested elsewhere)."""
from dataclasses import dataclass

import pytest

from callassist.core.events import Sentiment, Utterance
from callassist.mood.tracker import MoodTracker, call_scores


@dataclass(frozen=True)
class FakeCue:
    kind: str
    trigger: str
    reason: str
    strength: float = 1.0


def sentiment(i, t, probs, intensity=1.0):
    neg, neu, pos = probs
    return Sentiment(utterance_id=i, speaker="customer", time=t,
                     label=max(zip(probs, ("negative", "neutral", "positive")))[1],
                     score=pos - neg, probs={"negative": neg, "neutral": neu, "positive": pos},
                     intensity=intensity)


def feed(tracker, items, t0=0.0):
    """items: (text, (p_neg, p_neu, p_pos)) or (text, probs, intensity); intensity 1 (mild) if not given."""
    states, t = [], t0
    for i, (text, probs, *heat) in enumerate(items):
        utt = Utterance(id=i + 1, speaker="customer", text=text, start=t, end=t + 3)
        states.append(tracker.update(utt, sentiment(i + 1, t + 3, probs, *heat)))
        t += 5
    return states


ANGRY_TO_CALM = [
    ("this is ridiculous i have waited three weeks for my laptop", (0.9, 0.08, 0.02)),
    ("nobody ever calls me back i am sick of excuses", (0.92, 0.06, 0.02)),
    ("my order number is four seven one two nine", (0.1, 0.85, 0.05)),
    ("tomorrow okay that actually helps", (0.1, 0.4, 0.5)),
    ("oh that is really kind of you thank you", (0.02, 0.08, 0.9)),
    ("thank you so much you have been very helpful", (0.01, 0.04, 0.95)),
]


def test_mood_follows_the_caller_from_negative_to_positive():
    states = feed(MoodTracker(), ANGRY_TO_CALM)
    assert states[0].score < -0.5 and states[0].label in ("upset", "angry")
    assert states[-1].score > 0.3 and states[-1].label in ("calm", "pleased")
    assert states[1].trend in ("steady", "worsening")
    assert states[-1].trend == "improving"
    # a neutral statement (an order number) only pulls gently towards zero
    assert states[2].score < -0.35
    # every state says which utterance moved it and by how much
    assert all(s.utterance_id == i + 1 for i, s in enumerate(states))
    assert states[4].change > 0.2 and "kind of you" in states[4].reason
    assert states[0].confidence < states[2].confidence  # more evidence, more confidence


def test_short_utterances_move_the_mood_less():
    base = [("this is ridiculous i have waited three weeks", (0.9, 0.08, 0.02))]
    short = feed(MoodTracker(), base + [("great", (0.02, 0.08, 0.9))])[-1]
    long = feed(MoodTracker(), base + [("that is great thank you that solves my problem "
                                        "completely", (0.02, 0.08, 0.9))])[-1]
    assert 0 < short.change < long.change


def test_cues_colour_the_label_and_explain():
    def cues(text, history):
        if "manager" in text:
            return [FakeCue("anger", "speak to your manager", "asks for a manager")]
        if "don't understand" in text:
            return [FakeCue("confusion", "don't understand", "does not understand")]
        return []
    states = feed(MoodTracker(cue_detector=cues), [
        ("i want to speak to your manager", (0.7, 0.25, 0.05)),
        ("i don't understand which port", (0.3, 0.6, 0.1)),
    ])
    assert states[0].label == "angry"
    assert states[0].cues[0]["kind"] == "anger"
    assert "asks for a manager" in states[0].reason and "speak to your manager" in states[0].reason
    assert states[1].label in ("confused", "angry")


def test_call_score_per_quarter():
    sents = [Sentiment(i, "customer", t, "x", s, {}) for i, (t, s) in
             enumerate([(5, -0.8), (20, -0.6), (40, 0.0), (55, 0.2), (70, 0.6), (95, 0.9)])]
    sents.append(Sentiment(9, "agent", 50, "x", 0.5, {}))
    scores = {c.speaker: c for c in call_scores(sents, 100.0)}
    cust = scores["customer"]
    assert cust.quarters == pytest.approx((-3.5, 0.0, 2.0, 4.5))
    assert cust.overall == pytest.approx(5 * sum(s.score for s in sents[:6]) / 6, abs=0.01)
    assert scores["agent"].quarters == (None, None, 2.5, None)


def test_the_reason_reads_as_a_person_would_say_it():
    """The words, the number and the sentiment label of the utterance never point different ways:
    a complaint milder than the mood so far lifts the smoothed mood, and the reason says so
    instead of "(negative) moved the mood +0.04"."""
    from callassist.mood.cues import detect_cues
    states = feed(MoodTracker(cue_detector=detect_cues), [
        ("this is ridiculous i have waited three weeks for my laptop", (0.95, 0.04, 0.01)),
        ("the wait is a bit long to be honest", (0.6, 0.3, 0.1)),
        ("oh that is really kind of you thank you", (0.02, 0.08, 0.9)),
    ])
    fed_up, milder, thanks = (s.reason for s in states)
    assert states[1].change > 0  # the mood rose on a negative utterance
    assert milder.startswith("sounds unhappy: −0.5") and "milder than before" in milder
    assert "+" not in milder and "moved the mood" not in milder
    assert fed_up.startswith("sounds fed up: −0.9") and "ridiculous" in fed_up
    assert thanks.startswith("thanks the agent: +0.9") and "−" not in thanks
    assert "kind of you" in thanks  # the utterance is still quoted


def test_intensity_tells_annoyed_from_furious():
    """The same unhappy words at different heat: annoyed, frustrated, angry, furious."""
    probs = (0.6, 0.3, 0.1)  # unhappy, not yet "upset" (a strongly negative calm line is upset)
    labels = [feed(MoodTracker(), [("the parcel still has not come", probs, heat)])[0]
              for heat in (0.3, 1.2, 1.9, 2.8)]
    assert [s.label for s in labels] == ["annoyed", "frustrated", "angry", "furious"]
    assert [s.intensity for s in labels] == [0.3, 1.2, 1.9, 2.8]
    assert labels[3].reason.startswith("sounds furious") and labels[0].reason.startswith("sounds annoyed")
    # heat is smoothed like the score: one calm line does not undo a furious one
    calmer = feed(MoodTracker(), [("this is a joke", probs, 2.9), ("right okay", (0.6, 0.35, 0.05), 0.5)])
    assert 1.0 < calmer[1].intensity < 2.9


def test_preview_reads_the_words_so_far_without_moving_the_mood():
    from callassist.core.events import PartialUtterance

    tracker = MoodTracker()
    feed(tracker, ANGRY_TO_CALM[:2])
    before = (tracker.score, len(tracker.points))
    partial = PartialUtterance("customer", "tomorrow okay that", 10.0, 11.5)
    prov = tracker.preview(partial, sentiment(0, 11.5, (0.1, 0.4, 0.5)))
    assert prov.time == 11.5 and prov.text == "tomorrow okay that" and prov.score > before[0]
    assert (tracker.score, len(tracker.points)) == before
    final = tracker.update(Utterance(id=3, speaker="customer", text="tomorrow okay that",
                                     start=10.0, end=12.0), sentiment(3, 12.0, (0.1, 0.4, 0.5)))
    assert (final.score, final.label) == (prov.score, prov.label)  # the same words, the same mood
