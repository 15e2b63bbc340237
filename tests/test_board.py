"""The supervisor's board on a real PostgreSQL library: a desk's live call shows up with the
caller's mood, trend, alerts and escalation advice within 2 s of being said (the server's
notifications), most urgent first; clicking a call follows its transcript; an ended call leaves.
On an SQLite library the same board looks every second."""
import time
from datetime import datetime, timezone

import pytest

from callassist.core.events import EscalationAdvice, MoodState, RuleMatch, Utterance
from callassist.library.service import Library

pytestmark = pytest.mark.slow


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def angry_turn(rec, t: float, uid: int) -> None:
    rec(Utterance(uid, "customer", "This is ridiculous, I want to speak to a manager now",
                  t, t + 2.5))
    rec(MoodState(t + 2.5, "customer", -0.72, "angry", 0.9, "worsening", -0.3, uid,
                  "angry words", (), 2.4))
    rec(EscalationAdvice(t + 2.5, uid, "requested", "caller asked for a manager"))
    rec(RuleMatch(t + 2.5, "manager_request", "Manager requested", "customer", uid,
                  "speak to a manager", alert="Caller asked for a manager", severity="high"))


def test_board_shows_live_calls_within_two_seconds_and_follows_one(qtbot, new_library):
    from callassist.gui.board import SupervisorBoard
    url = new_library()
    desk = Library(url)
    watcher = Library(url)
    win = SupervisorBoard(watcher.store)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: "No live calls" in win.statusBar().currentMessage(), timeout=10000)

    calm = desk.start_call({"id": "calm-1", "started": now()}, agent="ben")
    calm_rec = desk.recorder(calm, flush_seconds=0.2)
    calm_rec(Utterance(1, "customer", "Hi, I would like to check my delivery date", 0.0, 2.0))
    calm_rec(MoodState(2.0, "customer", 0.35, "calm", 0.8, "steady", 0.0, 1, "", (), 0.1))
    angry = desk.start_call({"id": "angry-1", "started": now()}, agent="amy")
    rec = desk.recorder(angry, flush_seconds=0.2)
    written = time.monotonic()
    angry_turn(rec, 0.0, 1)
    qtbot.waitUntil(lambda: any(c.id == "angry-1" and c.escalation for c in win.model.calls)
                    and any(c.id == "calm-1" and c.score for c in win.model.calls),
                    timeout=10000)
    delay = time.monotonic() - written
    assert delay < 2.0, f"the board showed the call {delay:.2f} s after it was said"

    first, second = win.model.calls[:2]
    assert (first.id, second.id) == ("angry-1", "calm-1")  # the one that needs a supervisor first
    texts = [win.model.text(first, c) for c in range(8)]
    assert texts[0] == "amy" and texts[3] == "angry (-0.72)" and texts[4] == "↓ worsening"
    assert texts[5] == "Caller asked for a manager" and texts[6] == "caller asked for a manager"
    assert texts[7].startswith("Caller: This is ridiculous")
    assert first.severity == 3 and second.severity == 0
    assert "1 needs a supervisor" in win.statusBar().currentMessage()

    win._clicked(win.model.index(0, 0))  # follow the angry call
    qtbot.waitUntil(lambda: win.transcript.count() == 1, timeout=5000)
    assert "Caller: This is ridiculous" in win.transcript.item(0).text()
    written = time.monotonic()
    rec(Utterance(2, "agent", "I am sorry, I will bring my supervisor in right away", 3.0, 5.0))
    qtbot.waitUntil(lambda: win.transcript.count() == 2, timeout=5000)
    assert time.monotonic() - written < 2.0
    assert "Agent: I am sorry" in win.transcript.item(1).text()

    desk.finish_call(angry, 5.0)
    qtbot.waitUntil(lambda: [c.id for c in win.model.calls] == ["calm-1"], timeout=5000)
    assert "call ended" in win.follow_title.text()
    desk.finish_call(calm, 2.0)
    qtbot.waitUntil(lambda: not win.model.calls, timeout=5000)
    win.stop()
    desk.close()
    watcher.close()
