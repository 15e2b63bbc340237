"""Panel polish at 360 px, in both themes: compact knowledge cards, the escalation banner and
the cards agree, the transcript follows unless the user scrolled up, transient messages go, the
clock stops. A real offscreen panel fed the events the pipeline sends (no models needed)."""
import time
from concurrent.futures import Future

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from callassist.assist.rulebook import Rulebook, RuleRunner
from callassist.assist.knowledge import DEFAULT_KB, parse_article
from callassist.core.events import EscalationAdvice, KnowledgeMatch, PhraseSuggestion, Utterance
from callassist.gui.bridge import CallSetup
from callassist.gui.panel import SidePanel
from callassist.gui.settings import PanelSettings
from tests.conftest import DEMO_CALLS


def _card(article: str, section: str, why: str = "words: tv, date; meaning 0.61") -> dict:
    art = parse_article(DEFAULT_KB / f"{article}.md")
    p = next(p for p in art.passages if p.section == section)
    return dict(article=art.id, title=art.title, product=art.product, section=p.section,
                passage=p.text, score=0.7, why=why)


TV_CARD = _card("address-change", "After dispatch")
TV_QUERY = "the TV is out for delivery, can it come on another date instead"


@pytest.fixture(autouse=True)
def no_model_load(monkeypatch):
    """These tests feed events by hand: the panel's background model load is not needed."""
    ready = Future()
    ready.set_result(None)
    monkeypatch.setattr("callassist.core.models.preload", lambda config, progress=None: ready)


@pytest.fixture(params=["light", "dark"])
def panel(qtbot, request):
    p = SidePanel(PanelSettings(theme=request.param), store=None)
    qtbot.addWidget(p)
    p.resize(360, 900)
    p.show()
    qtbot.waitUntil(p.isVisible, timeout=5000)
    yield p
    p.close()


def visible_labels(widget):
    return [l for l in widget.findChildren(QLabel) if l.isVisible() and l.text()]


def test_a_card_is_its_title_and_the_one_sentence_that_answers(qtbot, panel):
    panel.on_event(KnowledgeMatch(time=10.0, utterance_id=3, query=TV_QUERY, cards=(TV_CARD,)))
    qtbot.wait(20)
    (card,) = panel.cards
    shown = [l.text() for l in visible_labels(card)]
    assert len(shown) == 2 and TV_CARD["title"] in shown[0]
    sentence = shown[1]
    # one sentence of the three in the passage: the one about moving a TV delivery's date
    assert sentence == "Two-person TV deliveries can be moved by the agent to another date or " \
                       "to an address within 50 miles."
    assert sentence in TV_CARD["passage"] and len(sentence) < len(TV_CARD["passage"]) / 2
    # the "why" (and product, section) are the tooltip, not a line of the card
    assert not any("why" in t or "meaning" in t for t in shown)
    assert TV_CARD["why"] in card.toolTip() and "After dispatch" in card.toolTip()
    # compact at 360 px: title and sentence in a few lines, not a 6-10 line paragraph
    line = card.fontMetrics().lineSpacing()
    assert card.width() <= 360 and card.height() <= 7 * line, (card.height(), line)
    # the keyboard opens the whole article, like a click
    card.setFocus()
    qtbot.keyClick(card, Qt.Key_Return)
    assert card.expanded and "Moving home" in card.full.text()


def test_escalation_banner_and_cards_do_not_contradict(qtbot, panel):
    rules = RuleRunner(Rulebook.builtin())  # the built-in escalation rules, as live
    rules.on_utterance(Utterance(6, "customer", "my drone fell in the lake", 28, 30),
                       problem=True, answered=False)
    (advice,) = [e for e in rules.on_utterance(
        Utterance(7, "customer", "the drone remote is also broken", 38, 40),
        problem=True, answered=False) if isinstance(e, EscalationAdvice)]
    trigger, reason = advice.trigger, advice.reason
    assert trigger == "no_knowledge" and "nothing" not in reason

    # cards for an earlier topic are on screen when the base has no answer to the new problems
    panel.on_event(KnowledgeMatch(time=10.0, utterance_id=3, query=TV_QUERY, cards=(TV_CARD,)))
    panel.on_event(EscalationAdvice(time=40.0, utterance_id=7, trigger=trigger, reason=reason))
    text = panel.escalation_text.text()
    assert panel.escalation.isVisible() and "senior rep" in text
    assert "nothing in the knowledge base matches" not in text and "earlier topic" in text
    assert panel.cards[0].property("stale") and panel.knowledge_section.extra.text() == "earlier topic"

    # the caller then says something the base answers: that reason is no longer true
    panel.on_event(EscalationAdvice(time=45.0, utterance_id=8, trigger="requested",
                                    reason="the caller asked for a senior person (“a manager”)"))
    panel.on_event(KnowledgeMatch(time=50.0, utterance_id=9, query=TV_QUERY, cards=(TV_CARD,)))
    text = panel.escalation_text.text()
    assert panel.escalation.isVisible() and "asked for a senior person" in text
    assert "knowledge base" not in text and not panel.cards[0].property("stale")
    assert panel.knowledge_section.extra.text() == ""


def test_no_knowledge_advice_without_cards_is_shown_as_is(qtbot, panel):
    panel.on_event(EscalationAdvice(time=40.0, utterance_id=7, trigger="no_knowledge",
                                    reason="the knowledge base has no answer to the last 2 "
                                           "problems the caller raised"))
    assert panel.escalation.isVisible() and "earlier topic" not in panel.escalation_text.text()
    panel.on_event(KnowledgeMatch(time=50.0, utterance_id=9, query=TV_QUERY, cards=(TV_CARD,)))
    assert not panel.escalation.isVisible()  # only reason retired: the banner goes


def _say(panel, i, speaker="customer"):
    panel.on_event(Utterance(id=i, speaker=speaker, text=f"line {i} of the call, about the "
                                                          f"delivery and the order", start=i, end=i + 1))


def test_transcript_follows_new_lines_unless_scrolled_up(qtbot, panel):
    bar = panel.transcript.verticalScrollBar()
    for i in range(40):
        _say(panel, i)
    qtbot.waitUntil(lambda: bar.maximum() > 0 and bar.value() == bar.maximum(), timeout=3000)
    # the transcript gets shorter (partial text below it wraps, the window shrinks): still at
    # the newest line, and still following (QTextEdit alone stops following from here on)
    panel.transcript.setFixedHeight(panel.transcript.height() - 60)
    qtbot.waitUntil(lambda: bar.value() == bar.maximum(), timeout=3000)
    for i in range(40, 45):
        _say(panel, i)
    qtbot.waitUntil(lambda: bar.value() == bar.maximum(), timeout=3000)

    bar.setValue(bar.minimum())  # the user scrolls up to read something
    for i in range(45, 50):
        _say(panel, i, "agent")
    qtbot.wait(50)
    assert bar.value() == bar.minimum() and bar.maximum() > 0  # it stays where they are

    bar.setValue(bar.maximum())  # back at the bottom: following again
    for i in range(50, 60):
        _say(panel, i)
    qtbot.waitUntil(lambda: bar.value() == bar.maximum(), timeout=3000)
    assert "line 59" in panel.transcript.toPlainText()


def test_copied_message_goes_away_and_the_header_does_not_jump(qtbot, panel):
    from PySide6.QtGui import QGuiApplication
    panel.status.setText("Call in progress")
    long = ("I completely understand how frustrating this must be, and I am going to make sure "
            "we sort it out today before we hang up")
    panel.on_event(PhraseSuggestion(time=5.0, utterance_id=2, situation="upset",
                                    phrases=(long, "Thank you for your patience."), reason="x"))
    height, header_y = panel.status.height(), panel.start_button.geometry().y()
    qtbot.keyClick(panel, Qt.Key_1, Qt.ControlModifier)
    assert QGuiApplication.clipboard().text() == long
    assert panel.status.text().startswith("Copied:")
    qtbot.wait(20)
    # one line, elided: the same height, nothing moved, the panel still fits 360 px
    assert panel.status.height() == height and panel.start_button.geometry().y() == header_y
    assert panel.status.elided().endswith("…") and panel.status.toolTip().endswith("hang up")
    # the status asks for no width whatever it says: the header fits 360 px with any message
    assert panel.status.minimumSizeHint().width() == 0 and panel.status.sizeHint().width() <= 60
    qtbot.waitUntil(lambda: panel.status.text() == "Call in progress", timeout=10000)


class _Worker:
    """Stands in for the call worker: stopping takes a while (the recogniser catches up)."""

    def __init__(self):
        self.stopped = False

    def stop(self):
        self.stopped = True


def test_the_clock_stops_when_the_call_ends(qtbot, panel):
    panel.setup = CallSetup(inputs={"customer": None})
    panel.worker = _Worker()
    panel._call_running({})
    panel.call_started -= 65  # a minute into the call
    qtbot.waitUntil(lambda: panel.clock.text() == "01:05", timeout=2000)
    panel.stop_call()  # Stop pressed: the call is over though the worker is still finishing
    stopped_at = panel.clock.text()
    qtbot.wait(1600)  # three ticks of the clock
    assert panel.clock.text() == stopped_at and panel.worker.stopped
    panel.worker = None
    panel._call_finished(None)
    qtbot.wait(1100)
    assert panel.clock.text() == stopped_at


def test_the_clock_stops_at_the_end_of_a_played_recording(qtbot, panel):
    import soundfile
    call = DEMO_CALLS / "satisfied_caller.flac"
    panel.setup = CallSetup(play=str(call), speed=4.0)
    panel.worker = _Worker()
    panel._call_running({})
    panel.call_started = time.monotonic() - 3600  # the recogniser is still catching up
    end = int(soundfile.info(str(call)).duration)
    qtbot.waitUntil(lambda: panel.clock.text() == f"{end // 60:02d}:{end % 60:02d}", timeout=2000)
    qtbot.wait(1100)
    assert panel.clock.text() == f"{end // 60:02d}:{end % 60:02d}"
    panel.worker = None


def test_the_checklist_is_the_rules_and_an_old_call_ticks_its_item(qtbot, panel):
    """The close-the-call boxes are the rules that tick them; a call stored before the checklist
    was rules ("thanks") ticks today's item, and an item only a call had goes with the call."""
    from callassist.core.events import ChecklistItem
    assert list(panel.checks) == [i for i, _ in Rulebook.builtin().checklist()]
    panel.on_event(ChecklistItem(time=5.0, utterance_id=3, item="thanks", label="Thank the caller",
                                 done=True, evidence="thank you for calling"))
    assert panel.checks["checklist_thanks"].isChecked() and "thanks" not in panel.checks
    panel.on_event(ChecklistItem(time=6.0, utterance_id=4, item="reference",
                                 label="Give the reference", done=True, evidence="your reference"))
    assert panel.checks["reference"].isChecked()
    panel._reset_call_view()
    assert "reference" not in panel.checks and not panel.checks["checklist_thanks"].isChecked()
