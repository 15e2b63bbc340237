"""Assist stages on lines from the demo dialogues and other realistic call lines: coaching,
the close-the-call checklist, escalation, the caller's points and the call metrics."""
import pytest

from callassist.assist.coaching import review
from callassist.assist.escalation import EscalationSettings
from callassist.assist.rulebook import Rulebook, RuleRunner
from callassist.core.events import (ChecklistItem, EscalationAdvice, MoodState, RuleMatch,
                                    Utterance, Word)
from callassist.assist.metrics import call_metrics
from callassist.assist.points import PointTracker
from callassist.core.text import spoken_numbers


# ---- positive-language coaching ---------------------------------------------------------------

@pytest.mark.parametrize("line, category", [
    ("You have to give me the order number first.", "you have to"),
    ("Okay, I see one order. I can't see a second payment on our side.", "can't"),
    ("Okay, calm down please. That is not our policy.", "calm down"),
    ("Okay, calm down please. That is not our policy.", "policy"),
    ("I don't know what a supervisor would do differently.", "don't know"),
    ("You need to wait five working days.", "you have to"),
    ("as i said the refund takes five days", "as I said"),
    ("that's not my department sorry", "not my job"),
    ("you didn't enter the promo code at checkout", "blame"),
    ("there's nothing i can do about it", "nothing I can do"),
    ("just check the ssid on the sticker", "jargon"),
    ("no problem at all", "no problem"),
])
def test_negative_phrasing_is_caught_with_a_reframe(line, category):
    tips = review(line)
    assert category in [c for c, _, _ in tips], tips
    said, suggestion = next((s, g) for c, s, g in tips if c == category)
    assert said.lower() in line.lower().replace(",", "").replace(".", "") and suggestion


@pytest.mark.parametrize("line", [
    "I completely understand. Let me look into this right now.",
    "You don't have to do anything else, the label is in your email.",
    "I can see your laptop was held at our warehouse because of an address problem.",
    "What I can do is send you a free return label today.",
    "I can't wait for you to try the new headphones.",
    "Is there anything else I can help you with today?",
])
def test_good_agent_lines_get_no_coaching(line):
    assert review(line) == []


# ---- close-the-call checklist (built-in rules of the rules engine) ----------------------------

class Checklist:
    """The built-in checklist rules run on agent lines, as the assistant runs them live."""

    def __init__(self):
        self.runner = RuleRunner(Rulebook.builtin())
        self.done: set[str] = set()

    def agent_said(self, i: int, line: str) -> list[ChecklistItem]:
        out = [e for e in self.runner.on_utterance(Utterance(i + 1, "agent", line, i, i + 0.5))
               if isinstance(e, ChecklistItem)]
        self.done |= {c.item for c in out}
        return out

    @property
    def missing(self) -> set[str]:
        return {label for item, label in Rulebook.builtin().checklist() if item not in self.done}


def test_checklist_ticks_from_the_angry_call_agent():
    c = Checklist()
    lines = [
        "Thank you for calling Brightwave Electronics, my name is Sam. How can I help you today?",
        "I have corrected the address and upgraded you to free express delivery. It will arrive tomorrow before noon.",
        "Is there anything else I can help you with today?",
        "Does that solve the problem for you?",
        "You are welcome. Thank you for calling Brightwave, and have a great day.",
    ]
    ticked = [(i, t.item) for i, line in enumerate(lines) for t in c.agent_said(i, line)]
    assert ticked == [(1, "recap"), (2, "anything_else"), (3, "resolved"), (4, "checklist_thanks")]
    assert c.missing == set()


def test_checklist_stays_open_when_the_agent_skips_steps():
    c = Checklist()
    c.agent_said(1, "Billing department, this is Tom speaking.")
    c.agent_said(2, "Fine. Please hold the line while I transfer you.")
    assert c.missing == {"Confirm the issue is resolved", "Recap the next steps",
                         "Ask if there is anything else", "Thank the caller"}


def test_a_checklist_item_is_a_rule_the_centre_can_change(tmp_path):
    """The checklist is rules: a centre's rule with a built-in's id takes its place (here: the
    recap needs the words "to recap"), and a rule of its own adds an item."""
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n"
                    "  - {id: recap, name: Recap, speaker: agent, said: [to recap],\n"
                    "     then: {checklist: Recap the next steps}}\n"
                    "  - {id: reference, name: Gives a reference, speaker: agent,\n"
                    "     said: [your reference is], then: {checklist: Give the reference}}\n")
    book = Rulebook.for_centre(path)
    assert [i for i, _ in book.checklist()] == ["resolved", "recap", "anything_else",
                                                "checklist_thanks", "reference"]
    runner = RuleRunner(book)
    said = lambda n, text: [e.item for e in runner.on_utterance(  # noqa: E731
        Utterance(n, "agent", text, n, n + 1)) if isinstance(e, ChecklistItem)]
    assert said(1, "I have sent the label to your email.") == []  # the built-in recap would tick
    assert said(2, "To recap, the label is in your email. Your reference is 4 4 1.") == [
        "recap", "reference"]


# ---- escalation (built-in rules: the caller's request, mood, the knowledge base) ---------------

class EscalationAdvisor:
    """The built-in escalation rules run on caller lines with a mood score, as live."""

    def __init__(self, settings: EscalationSettings | None = None):
        self.runner = RuleRunner(Rulebook.builtin(), escalation=settings)
        self.n = 0

    def caller_said(self, line, t, score, problem, answered, label="upset"):
        self.n += 1
        mood = MoodState(time=t, speaker="customer", utterance_id=self.n, score=score,
                         label=label, trend="steady", confidence=1.0, change=0.0, reason="")
        out = self.runner.on_utterance(Utterance(self.n, "customer", line, t - 1, t), mood,
                                       problem=problem, answered=answered)
        return [(e.trigger, e.reason) for e in out if isinstance(e, EscalationAdvice)]


@pytest.mark.parametrize("line", [
    "I want to speak to a supervisor right now.",
    "Please put me through to your supervisor.",
    "let me talk to your manager",
    "can i speak with someone senior please",
    "i want this escalated escalate it now",
])
def test_escalation_when_the_caller_asks_for_someone_senior(line):
    adv = EscalationAdvisor()
    out = adv.caller_said(line, 30.0, -0.6, False, None)
    assert [t for t, _ in out] == ["requested"] and "senior" in out[0][1]
    assert adv.caller_said(line, 40.0, -0.6, False, None) == []  # advised once


def test_escalation_after_sustained_negative_mood():
    adv = EscalationAdvisor(EscalationSettings(negative_seconds=60))
    said = []
    for t, score in [(10, -0.5), (30, -0.6), (50, -0.4), (65, -0.7), (80, -0.6)]:
        said += [(t, trig) for trig, _ in adv.caller_said("it still does not work", t, score, False, None)]
    assert said == [(80, "sustained_negative")]
    adv2 = EscalationAdvisor(EscalationSettings(negative_seconds=60))
    for t, score in [(10, -0.5), (40, 0.1), (65, -0.7), (100, -0.6)]:  # mood recovered in between
        assert adv2.caller_said("hmm", t, score, False, None) == []


def test_escalation_when_the_caller_stays_furious():
    adv = EscalationAdvisor()
    assert adv.caller_said("this is a joke", 5, -0.8, False, None, label="furious") == []
    out = adv.caller_said("an absolute joke", 9, -0.8, False, None, label="furious")
    assert [t for t, _ in out] == ["furious"] and "2 utterances" in out[0][1]
    adv = EscalationAdvisor()
    adv.caller_said("this is a joke", 5, -0.8, False, None, label="furious")
    adv.caller_said("well okay", 9, -0.3, False, None, label="annoyed")
    assert adv.caller_said("no this is a joke", 12, -0.8, False, None, label="furious") == []


def test_escalation_when_the_knowledge_base_has_no_answer():
    adv = EscalationAdvisor()
    assert adv.caller_said("my drone fell in the lake", 5, 0.0, True, False) == []
    assert adv.caller_said("my neighbour's wifi", 9, 0.0, False, None) == []  # not a problem: no count
    out = adv.caller_said("the drone remote is also broken", 12, 0.0, True, False)
    assert [t for t, _ in out] == ["no_knowledge"]
    adv = EscalationAdvisor()
    adv.caller_said("my drone fell in the lake", 5, 0.0, True, False)
    assert adv.caller_said("i want a refund", 9, 0.0, True, True) == []  # answered: reset


def test_a_centre_switches_a_built_in_escalation_off_and_adds_its_own(tmp_path):
    """Escalation advice is rules: off with `enabled: false` under the built-in's id; a
    centre's phrase rule can advise a transfer too, and its match is a RuleMatch as well."""
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n"
                    "  - {id: asks_manager, name: Asks for a manager, enabled: false, detector: asks_for_senior}\n"
                    "  - {id: legal, name: Legal threat, speaker: customer,\n"
                    "     said: [my solicitor], then: {escalate: legal, severity: high}}\n")
    runner = RuleRunner(Rulebook.for_centre(path))
    out = runner.on_utterance(Utterance(1, "customer", "I want your manager. My solicitor "
                                        "will hear about this.", 0, 4))
    assert [(e.trigger, e.reason) for e in out if isinstance(e, EscalationAdvice)] == [
        ("legal", "Legal threat (“my solicitor”)")]
    assert [e.rule for e in out if isinstance(e, RuleMatch)] == ["legal"]


# ---- the caller's points ----------------------------------------------------------------------

def test_points_from_the_angry_call_and_their_answers():
    t = PointTracker()  # keyword matching only here; the pipeline test adds the encoder
    pts = t.caller_said(2, 18.3, "Finally, I have been on hold for twenty minutes. This is "
                        "ridiculous. I ordered a laptop three weeks ago and it still has not arrived.")
    pts += t.caller_said(4, 37.7, "It is four seven one two nine. If this is not fixed today I want "
                         "to speak to your manager and cancel the whole order.")
    cats = {p.category: p for p in pts}
    assert "laptop" in cats["issue"].text and "arrived" in cats["issue"].text
    assert cats["number"].number == "47129"
    assert "cancel" in cats["request"].text
    got = t.agent_said(7, "I can see your laptop was held at our warehouse because of an address problem.")
    got += t.agent_said(9, "It will arrive tomorrow before noon.")
    assert cats["issue"] in got and cats["issue"].addressed_by == 9
    assert cats["request"].addressed_by is None


def test_points_questions_and_no_points_in_small_talk():
    t = PointTracker()
    assert t.caller_said(1, 3, "Yes, that's right. Okay.") == []
    q = t.caller_said(2, 9, "There is a green light and an orange light. What does the orange light mean?")
    assert [p.category for p in q] == ["question"]
    assert t.agent_said(3, "The orange light means the router is not connected to the internet yet.")


def test_spoken_numbers():
    assert spoken_numbers("it is four seven one two nine") == [("47129", "four seven one two nine")]
    assert spoken_numbers("order 55038 please")[0][0] == "55038"
    assert spoken_numbers("double five oh three eight")[0][0] == "55038"
    assert spoken_numbers("i waited two weeks for it to arrive") == []
    assert spoken_numbers("go to four") == []


# ---- metrics ----------------------------------------------------------------------------------

def _utt(i, speaker, start, end, n_words):
    step = (end - start) / n_words
    words = tuple(Word(f"w{k}", start + k * step, start + (k + 0.8) * step, 0.9) for k in range(n_words))
    return Utterance(i, speaker, " ".join(w.text for w in words), start, end, words)


def test_metrics_talk_silence_overlap_pace():
    utts = [_utt(1, "agent", 0.5, 5.5, 12), _utt(2, "customer", 6.0, 16.0, 30),
            _utt(3, "agent", 15.0, 20.0, 10),  # starts 1 s before the customer stops: interrupts
            _utt(4, "customer", 25.0, 28.0, 6)]  # after a 5 s silence
    m = call_metrics(utts, 30.0)
    assert m.talk_time["agent"] == pytest.approx(10.0, abs=0.3)
    assert m.talk_time["customer"] == pytest.approx(13.0, abs=0.3)
    assert m.talk_listen_ratio == pytest.approx(10 / 13, abs=0.05)
    assert len(m.long_silences) == 1 and m.long_silences[0] == pytest.approx((20.0, 25.0), abs=0.15)
    assert len(m.overlaps) == 1 and m.overlaps[0][0] == pytest.approx(15.0, abs=0.1)
    assert m.interruptions == {"agent": 1, "customer": 0}
    assert m.words_per_minute["customer"] == pytest.approx(36 / 13 * 60, rel=0.05)
    assert m.non_talk_time == pytest.approx(30 - 10 - 13 + 1, abs=0.5)
