"""Caller cues on realistic phone-call lines, written and as a speech recogniser outputs them."""
from __future__ import annotations

import re
import time

import pytest

from callassist.mood.cues import CUE_KINDS, Cue, detect_cues


def asr(text: str) -> str:
    """What a recogniser gives for a written line: lower case, no punctuation (apostrophes kept)."""
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s']", " ", text.lower())).strip()


# (caller line, expected (kind, reason) pairs); lines with an empty set must raise no cue.
CASES = [
    # anger / escalation
    ("I want to speak to your manager right now!", {("anger", "asks for a manager")}),
    ("Can I talk to a supervisor, please?", {("anger", "asks for a manager")}),
    ("Honestly, just put me through to someone in charge.", {("anger", "asks for a manager")}),
    ("I'm so fed up with this, get me a supervisor.", {("anger", "asks for a manager"), ("anger", "sounds fed up")}),
    ("If this isn't fixed by Friday I'm going to cancel my account.", {("anger", "threatens to cancel")}),
    ("I'll be switching to another provider, I've had enough.", {("anger", "threatens to cancel"), ("anger", "sounds fed up")}),
    ("I'm going to file a formal complaint about this.", {("anger", "threatens to complain")}),
    ("You'll be hearing from my lawyer.", {("anger", "threatens to complain")}),
    ("This is the third time I've called about the same bill.", {("anger", "says this is not the first call")}),
    ("I've already called twice this week and nobody called me back.", {("anger", "says this is not the first call")}),
    ("How many times do I have to explain this?", {("anger", "says this is not the first call")}),
    ("This is ridiculous, I've been on hold for an hour.", {("anger", "sounds fed up")}),
    # confusion
    ("Sorry, I don't understand what you mean.", {("confusion", "does not understand")}),
    ("I'm a bit confused, which button do I press?", {("confusion", "does not understand")}),
    ("That doesn't make any sense to me.", {("confusion", "does not understand")}),
    ("Could you walk me through that again?", {("confusion", "does not understand")}),
    # worry / urgency
    ("I need this sorted today, my flight leaves in two hours.", {("worry", "urgent")}),
    ("It's urgent, the payment is due tomorrow.", {("worry", "urgent")}),
    ("I'm really worried I'll lose all my photos.", {("worry", "sounds worried")}),
    ("There's a charge I didn't make, I think my card was stolen.", {("worry", "sounds worried")}),
    # gratitude / satisfaction
    ("Thank you so much, that worked!", {("gratitude", "thanks the agent"), ("gratitude", "says it is solved")}),
    ("Brilliant, you've been really helpful.", {("gratitude", "is satisfied")}),
    ("Great, it's fixed now. Thanks!", {("gratitude", "thanks the agent"), ("gratitude", "says it is solved")}),
    ("I really appreciate your help today.", {("gratitude", "thanks the agent")}),
    # mixed
    ("This is the second time I'm calling and I still don't understand the bill.",
     {("anger", "says this is not the first call"), ("confusion", "does not understand")}),
    # no cue: ordinary call talk, and negated or refused cues
    ("Hi, I'm calling about my bill.", set()),
    ("Yes, my account number is four five six seven eight.", set()),
    ("I'd like to check the status of my order.", set()),
    ("Okay, I'm at the settings page now.", set()),
    ("My address is twelve Oak Street.", set()),
    ("I don't want to cancel my account, I just want to update the card.", set()),
    ("I'm not worried about it.", set()),
    ("No thanks, I'm fine.", set()),
    ("I'm not angry, I just want it fixed.", set()),
    ("Is it fixed yet?", set()),
    ("Can you tell me the opening hours of the store?", set()),
]


def _pairs(cues: list[Cue]) -> set[tuple[str, str]]:
    return {(c.kind, c.reason) for c in cues}


@pytest.mark.parametrize("form", ["written", "asr"])
@pytest.mark.parametrize("line,expected", CASES, ids=[c[0][:40] for c in CASES])
def test_cues_on_caller_lines(line, expected, form):
    text = line if form == "written" else asr(line)
    cues = detect_cues(text)
    assert _pairs(cues) == expected, [(c.kind, c.reason, c.trigger) for c in cues]
    for c in cues:
        assert c.kind in CUE_KINDS
        assert c.trigger and c.trigger in text, "the trigger must be the words as they appear"
        assert 0.0 < c.strength <= 1.0
        assert c.reason


def test_trigger_names_the_words():
    (cue,) = detect_cues("Honestly I want to speak to your manager, now.")
    assert cue.trigger == "speak to your manager"
    cue = next(c for c in detect_cues("this is the third time ive called") if c.kind == "anger")
    assert cue.trigger == "this is the third time ive called"


def test_asks_how_repeatedly_uses_history():
    assert detect_cues("how do i reset the router") == []  # a first question is not confusion
    history = ["how do i get to the settings page", "ok", "what is the admin password"]
    (cue,) = detect_cues("how do i reset the router", history)
    assert (cue.kind, cue.reason) == ("confusion", "asks how / what repeatedly")
    assert cue.trigger.startswith("how do i reset")
    (again,) = detect_cues("so how do i reset it", ["how do i reset the router"])
    assert again.reason == "asks the same thing again"
    assert detect_cues("thanks that's all", history) != [] and all(c.kind == "gratitude" for c in detect_cues("thanks that's all", history))


def test_shouting_makes_anger_stronger():
    calm = next(c for c in detect_cues("this is ridiculous") if c.kind == "anger")
    loud = next(c for c in detect_cues("THIS IS RIDICULOUS!!") if c.kind == "anger")
    assert loud.strength > calm.strength
    assert loud.trigger == "RIDICULOUS"


def test_sarcastic_thanks_is_not_gratitude():
    cues = detect_cues("Well thanks for nothing.")
    assert {c.kind for c in cues} == {"anger"}


def test_empty_and_odd_input():
    assert detect_cues("") == []
    assert detect_cues("   ...  ") == []
    assert detect_cues("\u2019") == []
    assert detect_cues("I don\u2019t understand") and detect_cues("I don\u2019t understand")[0].trigger == "don\u2019t understand"


def test_fast_enough():
    lines = [c[0] for c in CASES]
    t = time.perf_counter()
    for _ in range(20):
        for line in lines:
            detect_cues(line, lines[:6])
    per_line = (time.perf_counter() - t) / (20 * len(lines))
    assert per_line < 0.001  # budget: < 1 ms per line (measured ~0.05 ms)
