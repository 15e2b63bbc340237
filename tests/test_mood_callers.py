"""The mood model on caller lines as a recogniser writes them: the cases tweets do not teach.

Lines written for these tests (none is in the training files; a test checks that), each a case
from the issue: anger with no angry word, "fine, whatever", thanks after bad news, politeness
wrapped round a complaint, questions with no mood, sarcasm, and short answers read with the turn
before them. The blind figures are printed by scripts/eval_mood.py; these guard the cases.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from callassist.mood.sentiment import SentimentModel, normalize_text

pytestmark = pytest.mark.slow  # the real mood model

ROOT = Path(__file__).resolve().parents[1]
AGENT = "agent"


@pytest.fixture(scope="module")
def model() -> SentimentModel:
    return SentimentModel.load()


NEGATIVE = [  # no angry word, polite wrapping, sarcasm: all unhappy
    "i've been sat on hold for forty minutes listening to the same song",
    "that's the third time this month the internet has gone off in the evening",
    "sorry to bother you but the engineer didn't turn up again today and i'd waited in since eight",
    "oh brilliant so now i have to wait another ten days lovely",
    "i was told on friday someone would ring me back and nobody ever did",
    "i'm not being funny but i've paid for next day delivery and it's been a week",
]
NEUTRAL = [  # questions and facts with no mood
    "could you tell me what time the store closes on saturday",
    "my postcode is s w one a two b z",
    "do i need the receipt to bring it back",
    "the account's under my wife's name actually",
]
POSITIVE = [
    "that's brilliant thank you so much you've been really helpful",
    "oh that's a relief i thought i'd lost the money",
]


def test_caller_lines_read_as_a_person_would(model):
    for text in NEGATIVE:
        assert model.predict_one(text).label == "negative", text
    for text in NEUTRAL:
        assert model.predict_one(text).label == "neutral", text
    for text in POSITIVE:
        assert model.predict_one(text).label == "positive", text


def test_fine_whatever_is_not_pleased(model):
    r = model.predict_one("fine whatever just do it then",
                          [(AGENT, "the earliest slot we have is in three weeks")])
    assert r.label != "positive" and r.score < 0


def test_thanks_after_bad_news_is_not_pleasure(model):
    bad = model.predict_one("right okay thanks then", [(AGENT, "i'm afraid the claim has been "
                                                               "declined and there's nothing more i can do")])
    good = model.predict_one("right okay thanks then", [(AGENT, "i've refunded the full amount "
                                                                "it'll be back in your account tomorrow")])
    assert bad.label != "positive" and bad.score < 0
    assert good.score > bad.score + 0.15  # the same words read warmer after good news


def test_short_answers_read_with_the_question_before(model):
    done = model.predict_one("no that's all i needed", [(AGENT, "is there anything else i can "
                                                               "help you with today")])
    assert done.label != "negative"
    # a bare "no" leans further towards unhappy after "has that fixed it?" than after "anything
    # else?" (the model card's limits: bare yes/no answers stay in the neutral band)
    after_fix = model.predict_one("no", [(AGENT, "has the restart fixed it for you")])
    after_else = model.predict_one("no", [(AGENT, "is there anything else i can help you with today")])
    assert after_fix.score < after_else.score - 0.1


def test_intensity_tells_annoyed_from_furious(model):
    annoyed = model.predict_one("it's a bit annoying that it came a day late to be honest")
    furious = model.predict_one("this is an absolute joke i want your manager on the phone right "
                                "now or i'm going to the papers")
    calm = model.predict_one("can i change the delivery address please")
    assert furious.intensity > annoyed.intensity + 0.5
    assert annoyed.intensity > calm.intensity
    assert furious.heat in ("heated", "furious") and calm.heat == "calm"


def test_these_lines_are_not_training_lines():
    train = set()
    for name in ("calls_train_a.jsonl", "calls_train_b.jsonl"):
        for line in (ROOT / "data" / "mood" / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                train.add(normalize_text(json.loads(line)["text"]))
    ours = NEGATIVE + NEUTRAL + POSITIVE + ["fine whatever just do it then", "right okay thanks then",
                                            "no that's all i needed"]
    assert not [t for t in ours if normalize_text(t) in train]
